/* fuzz_port.c — liballoc's four hooks over an 8 MiB arena, with failure, short supply and placement on demand. */
/* SPDX-License-Identifier: MIT */
#define _DEFAULT_SOURCE  /* MAP_FIXED_NOREPLACE */
#include "fuzz_port.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "flat_pages.h"

struct fuzz_port fp;

/*
 * The arena sits at a fixed address, half below and half above 0x7e0000000000, a
 * boundary of every page map level: runs there need two nodes at each level (so
 * node allocation fails mid-run too), and the fuzzer and the replay driver see the
 * same addresses, so a crash replays identically. If that address is taken, a
 * static arena serves (replays may then differ in page map node placement).
 */
#define ARENA_AT ((uintptr_t)0x7e0000000000ull - FUZZ_ARENA_BYTES / 2)
static _Alignas(LIBALLOC_PAGE_SIZE) unsigned char fallback[FUZZ_ARENA_BYTES];
static unsigned char *arena;
static uint32_t bitmap[2 * (FUZZ_PAGES / 32 + 1)];
static struct flat_pages pages;

static void arena_init(void)
{
	void *p = MAP_FAILED;
#if UINTPTR_MAX > 0xffffffffu && defined(MAP_FIXED_NOREPLACE)
	p = mmap((void *)ARENA_AT, FUZZ_ARENA_BYTES, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != MAP_FAILED && p != (void *)ARENA_AT) {
		munmap(p, FUZZ_ARENA_BYTES);
		p = MAP_FAILED;
	}
#endif
	if (p == MAP_FAILED)
		fprintf(stderr, "fuzz port: arena not at %#lx; using a static one\n", (unsigned long)ARENA_AT);
	arena = p == MAP_FAILED ? fallback : p;
}

void fuzz_port_reset(void)
{
	if (!arena)
		arena_init();
	fuzz_core_reset();
	memset(&fp, 0, sizeof fp);
	flat_pages_init(&pages, (uintptr_t)arena, FUZZ_PAGES, (unsigned)__builtin_ctz(LIBALLOC_PAGE_SIZE), bitmap);
	flat_pages_release(&pages, (uintptr_t)arena, FUZZ_ARENA_BYTES);
}

bool fuzz_port_given(const void *a)
{
	return flat_pages_given(&pages, (uintptr_t)a);
}

unsigned char *fuzz_port_arena(void)
{
	return arena;
}

static bool due(size_t *next, size_t every, size_t call)
{
	if (*next) {
		--*next;
		return true;
	}
	return every && call % every == 0;
}

/* First fit from page `place`, wrapping to the start: lets the harness put runs
 * next to each other, far apart, or in the holes other runs left. */
static void *take(size_t n)
{
	uintptr_t mark = (uintptr_t)arena + (fp.place % FUZZ_PAGES) * LIBALLOC_PAGE_SIZE;
	void *p = NULL;
	if (mark != (uintptr_t)arena) {
		flat_pages_reserve(&pages, (uintptr_t)arena, mark - (uintptr_t)arena);
		p = flat_pages_alloc(&pages, n, UINTPTR_MAX);
		flat_pages_release(&pages, (uintptr_t)arena, mark - (uintptr_t)arena);
	}
	return p ? p : flat_pages_alloc(&pages, n, UINTPTR_MAX);
}

void *liballoc_alloc_page(size_t n)
{
	fp.alloc_calls++;
	if (fp.lock_depth != 1)
		fp.hook_outside_lock = true;
	void *p = NULL;
	if (!due(&fp.fail_alloc_next, fp.fail_alloc_every, fp.alloc_calls) && n <= FUZZ_PAGES &&
	    (!fp.page_limit || fp.pages_out + n <= fp.page_limit))
		p = take(n);
	if (!p) {
		fp.alloc_refused++;
		return NULL;
	}
	fp.pages_out += n;
	/* Honour LIBALLOC_PAGES_ZEROED; otherwise garbage, so reliance on zero fails. */
	memset(p, LIBALLOC_PAGES_ZEROED ? 0 : 0xc3, n * LIBALLOC_PAGE_SIZE);
	return p;
}

int liballoc_free_page(void *addr, size_t n)
{
	int saved = errno;
	fp.free_calls++;
	if (fp.lock_depth != 1)
		fp.hook_outside_lock = true;
	if (due(&fp.fail_free_next, fp.fail_free_every, fp.free_calls)) {
		fp.free_refused++;
		return -1;
	}
	/* Pages not handed out, or handed back twice: the core broke the contract. */
	if (flat_pages_free(&pages, addr, n) != 0) {
		fprintf(stderr, "fuzz port: free_page(%p, %zu) of pages not handed out\n", addr, n);
		abort();
	}
	fp.pages_out -= n;
	memset(addr, 0xa7, n * LIBALLOC_PAGE_SIZE);  /* stale data for the next user */
	errno = saved;
	return 0;
}

int liballoc_lock(void)
{
	if (++fp.lock_depth > fp.max_lock_depth)
		fp.max_lock_depth = fp.lock_depth;
	return 0;
}

int liballoc_unlock(void)
{
	fp.lock_depth--;
	return 0;
}

void fuzz_port_set_errno(int e)
{
	errno = e;
}

void fuzz_port_on_error(int error, void *ptr)
{
	fp.errors++;
	fp.last_error = error;
	fp.last_ptr = ptr;
}
