/* selftest.h — the freestanding allocator self-test shared by the x86 kernel and the Cortex-M firmware. */
/* SPDX-License-Identifier: MIT */
/*
 * Build selftest.c with the same liballoc configuration as the core it tests (the
 * same LIBALLOC_CONFIG_HEADER / LIBALLOC_PREFIX), in freestanding mode. It uses
 * only the liballoc API and the callbacks below; no libc.
 */
#ifndef SELFTEST_H
#define SELFTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct selftest_env {
	/* Write a NUL-terminated string to the console. */
	void (*write)(const char *s);
	/* Roughly how many bytes the port can hand to the heap; sizes the blocks of the
	 * exhaustion test so that it ends in a few thousand allocations. */
	size_t heap_bytes;
	/* Pages the port has handed to liballoc right now (alloc_page minus free_page):
	 * checked against liballoc_stats().obtained and for full return after trim.
	 * NULL when the default heap is one region (liballoc_init_region): the trim
	 * phase is skipped, and the region must be one free block after the frees. */
	size_t (*port_pages)(void);
	/* MMU ports: read addr and report whether it faulted (the page is unmapped).
	 * NULL when there is no MMU; the trim test then only checks port_pages. */
	bool (*touch_faults)(volatile unsigned char *addr);
	/* Seed of the randomized phase. */
	uint64_t seed;
	/* Operations in the randomized phase (a few thousand keeps QEMU runs short). */
	unsigned ops;
};

/* Run every phase — randomized malloc/calloc/realloc/free/aligned allocations with
 * pattern checks and liballoc_check; exhaustion, full return and recovery; trim
 * returning pages (and unmapping them, with an MMU) — then print the allocator
 * stats and, last, "liballoc-selftest: PASS <n> checks" or
 * "liballoc-selftest: FAIL <reason>". Returns true on PASS. */
bool selftest_run(const struct selftest_env *env);

#endif
