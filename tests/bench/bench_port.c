/* bench_port.c — the latency benchmark's port: pages from mmap (pre-faulted), no-op lock, hook time counted. */
/* SPDX-License-Identifier: MIT */
/*
 * Single-threaded, so the lock hooks do nothing. alloc_page populates its pages
 * (MAP_POPULATE) so the page faults of fresh memory happen inside the hook, where
 * they are counted and subtracted, instead of at the core's first write.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "bench_timer.h"
#include "liballoc.h"

volatile uint64_t bench_hook_ticks;
volatile uint64_t bench_hook_calls;

void *liballoc_alloc_page(size_t pages)
{
	uint64_t t0 = tick_start();
	void *p = mmap(NULL, pages * (size_t)LIBALLOC_PAGE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	bench_hook_ticks += tick_stop() - t0;
	bench_hook_calls++;
	return p == MAP_FAILED ? NULL : p;
}

int liballoc_free_page(void *addr, size_t pages)
{
	uint64_t t0 = tick_start();
	int r = munmap(addr, pages * (size_t)LIBALLOC_PAGE_SIZE);
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
