/* bench_port.c — the latency benchmark's port: page runs from a pre-faulted pool (the flat port's page-run allocator), no-op lock, hook time counted. */
/* SPDX-License-Identifier: MIT */
/*
 * Single-threaded, so the lock hooks do nothing. The page hooks behave as a
 * kernel port's do: they hand out runs of one region that is mapped and backed
 * already, through the flat port's page-run allocator (ports/flat/flat_pages.h,
 * first fit), and make no system call. The first alloc_page call (in the
 * benchmark's untimed warm-up) maps the pool and writes every page of it once;
 * each run is zeroed inside alloc_page (LIBALLOC_PAGES_ZEROED, as the kernel
 * zeroes fresh anonymous pages). So neither a page fault nor a system call's after
 * effects land in the core's timing. Both did with mmap(MAP_POPULATE) per hook
 * call on one VM (an AMD EPYC guest with page-table isolation on and no PCID, so
 * every system call flushes the TLB): a page's first write after MAP_POPULATE
 * still cost 5 000-20 000 cycles there (the host backed it only then), and the
 * core's malloc maximum was 18-31 times what it is over the pool (the README's
 * real-time bullet has the figures of runs alternating the two ports).
 *
 * The pool is POOL_BYTES; the benchmark's heap took at most 25 MiB of it (31 MiB in
 * the thread-cache configuration) over 10^7 operations. When it runs out,
 * alloc_page says so on stderr and fails, and the benchmark stops at the failed
 * malloc.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench_timer.h"
#include "flat_pages.h"
#include "liballoc.h"

#define POOL_BYTES ((size_t)256 << 20)
#define POOL_PAGES (POOL_BYTES / (size_t)LIBALLOC_PAGE_SIZE)

volatile uint64_t bench_hook_ticks;
volatile uint64_t bench_hook_calls;

static struct flat_pages pool;

/* Map the pool and its bitmaps, and write every page of the pool once, so it is
 * backed from now on. */
static int pool_init(void)
{
	size_t bits = flat_pages_words(POOL_PAGES) * sizeof(uint32_t);
	unsigned char *p = mmap(NULL, POOL_BYTES + bits, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED) {
		perror("bench_port: mmap of the page pool");
		return -1;
	}
	for (size_t i = 0; i < POOL_PAGES; i++)
		((volatile unsigned char *)p)[i * (size_t)LIBALLOC_PAGE_SIZE] = 0;
	flat_pages_init(&pool, (uintptr_t)p, POOL_PAGES, (unsigned)__builtin_ctzll(LIBALLOC_PAGE_SIZE),
			(uint32_t *)(p + POOL_BYTES));
	flat_pages_release(&pool, (uintptr_t)p, POOL_BYTES);
	return 0;
}

void *liballoc_alloc_page(size_t pages)
{
	uint64_t t0 = tick_start();
	void *p = pool.pages || pool_init() == 0 ? flat_pages_alloc(&pool, pages, UINTPTR_MAX) : NULL;
	if (p)
		memset(p, 0, pages * (size_t)LIBALLOC_PAGE_SIZE);
	else if (pool.pages)
		fprintf(stderr, "bench_port: no run of %zu pages left in the %zu MiB pool\n", pages, POOL_BYTES >> 20);
	bench_hook_ticks += tick_stop() - t0;
	bench_hook_calls++;
	return p;
}

int liballoc_free_page(void *addr, size_t pages)
{
	uint64_t t0 = tick_start();
	int r = flat_pages_free(&pool, addr, pages);
	bench_hook_ticks += tick_stop() - t0;
	bench_hook_calls++;
	return r;
}

int liballoc_lock(void)
{
	return 0;
}

int liballoc_unlock(void)
{
	return 0;
}

void bench_port_on_error(int error, void *ptr)
{
	fprintf(stderr, "bench_latency: liballoc reported %s at %p\n", liballoc_strerror(error), ptr);
	abort();
}
