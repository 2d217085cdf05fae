/* test_port.c — the unit tests' port: liballoc's four hooks over a static arena, with injection and counters. */
/* SPDX-License-Identifier: MIT */
#include "test_port.h"

#include <errno.h>
#include <string.h>

#include "flat_pages.h"

struct test_port tp;

static _Alignas(LIBALLOC_PAGE_SIZE) unsigned char arena[TEST_ARENA_BYTES];
static uint32_t bitmap[2 * (TEST_ARENA_BYTES / LIBALLOC_PAGE_SIZE / 32 + 1)];
static struct flat_pages pages;
static bool ready;

static void setup(void)
{
	if (ready)
		return;
	flat_pages_init(&pages, (uintptr_t)arena, TEST_ARENA_BYTES / LIBALLOC_PAGE_SIZE,
			(unsigned)__builtin_ctz(LIBALLOC_PAGE_SIZE), bitmap);
	flat_pages_release(&pages, (uintptr_t)arena, TEST_ARENA_BYTES);
	ready = true;
}

void test_port_reset(void)
{
	memset(&tp, 0, sizeof tp);
}

size_t test_port_pages_out(void)
{
	setup();
	return pages.pages - pages.free;
}

bool test_port_in_arena(const void *p, size_t n)
{
	return (const unsigned char *)p >= arena && (const unsigned char *)p + n <= arena + sizeof arena;
}

static bool inject(size_t *seen, size_t at, size_t every, bool all)
{
	++*seen;
	return all || (at && *seen == at) || (every && *seen % every == 0);
}

void *liballoc_alloc_page(size_t n)
{
	setup();
	tp.alloc_calls++;
	if (tp.lock_depth != 1)
		tp.hook_outside_lock = true;
	void *p = NULL;
	if (!inject(&tp.alloc_seen, tp.fail_alloc_at, tp.fail_alloc_every, tp.fail_alloc_all))
		p = flat_pages_alloc(&pages, n, UINTPTR_MAX);
	if (p && tp.misalign_next) {
		tp.misalign_next = false;
		tp.misaligned = (unsigned char *)p + 40;
		return tp.misaligned;
	}
	if (!p) {
		tp.alloc_refused++;
	} else {
		/* Honour LIBALLOC_PAGES_ZEROED; otherwise hand out garbage so code that
		 * wrongly relies on zeroed pages fails. */
		memset(p, LIBALLOC_PAGES_ZEROED ? 0 : 0xc3, n * LIBALLOC_PAGE_SIZE);
	}
	return p;
}

int liballoc_free_page(void *addr, size_t n)
{
	int saved = errno;
	tp.free_calls++;
	if (tp.lock_depth != 1)
		tp.hook_outside_lock = true;
	if (inject(&tp.free_seen, tp.fail_free_at, tp.fail_free_every, tp.fail_free_all)) {
		tp.free_refused++;
		return -1;
	}
	if (addr && addr == tp.misaligned) {  /* the broken run, handed back: take it whole */
		tp.misaligned = NULL;
		addr = (unsigned char *)addr - 40;
	}
	/* A contract violation (a page not handed out) is a test failure: make it loud. */
	if (flat_pages_free(&pages, addr, n) != 0)
		__builtin_trap();
	memset(addr, 0xa7, n * LIBALLOC_PAGE_SIZE);  /* stale data for the next user */
	errno = saved;
	return 0;
}

int liballoc_lock(void)
{
	if (tp.fail_lock)
		return -1;
	tp.lock_calls++;
	if (++tp.lock_depth > tp.max_lock_depth)
		tp.max_lock_depth = tp.lock_depth;
	return 0;
}

int liballoc_unlock(void)
{
	tp.unlock_calls++;
	tp.lock_depth--;
	return tp.fail_unlock ? -1 : 0;
}

void test_port_set_errno(int e)
{
	errno = e;
}

void test_port_on_error(int error, void *ptr)
{
	tp.errors++;
	tp.last_error = error;
	tp.last_ptr = ptr;
	tp.last_errno = errno;
}
