/* test_port.h — the unit tests' port: a fixed arena with failure injection and hook counters. */
/* SPDX-License-Identifier: MIT */
#ifndef TEST_PORT_H
#define TEST_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "liballoc.h"

#define TEST_ARENA_BYTES ((size_t)64 << 20)

/* A block size above the thread caches' range (blocks up to 20 720 bytes) in the
 * builds that have them: tests of what the heap does itself (merging, in-place
 * growth, neighbour checks, its free lists, the lock) use it, so they hold in
 * builds with thread caches too. Without, a smaller one, which fits the chunks of
 * the page256 build. */
#ifdef LIBALLOC_THREAD_LOCAL
#define TEST_BIG 21000
#else
#define TEST_BIG 5400
#endif

/* What the hooks saw and what they are told to do. Counters only grow; tests
 * compare before/after values. */
struct test_port {
	/* counters */
	size_t alloc_calls, free_calls, lock_calls, unlock_calls;
	int lock_depth;             /* 1 inside the allocator */
	int max_lock_depth;         /* must stay 1: the core never nests the lock */
	bool hook_outside_lock;     /* a page hook was called without the lock */
	/* failure injection: the next alloc_page call number `fail_alloc_at` fails
	 * (counted from the moment it is set, 1 = the next call); fail_alloc_every
	 * fails every k-th call; fail_alloc_all fails all. Same for free_page and lock. */
	size_t fail_alloc_at, fail_alloc_every, fail_free_at, fail_free_every;
	bool fail_alloc_all, fail_free_all, fail_lock, fail_unlock;
	size_t alloc_seen, free_seen;  /* calls since the last injection was armed */
	bool misalign_next;         /* the next alloc_page returns its run 40 bytes off (a broken port) */
	void *misaligned;           /* that address, which free_page then takes back */
	size_t alloc_refused, free_refused;  /* calls that returned NULL / non-zero (injected or arena full) */
	/* the error handler's record */
	size_t errors;
	int last_error;
	void *last_ptr;
	int last_errno;
};

extern struct test_port tp;

/* Reset the counters and injections (not the heap, which lives as long as the process). */
void test_port_reset(void);
/* The payload of the block physically after the block of payload p (white-box:
 * the size word of liballoc's 16-byte header, flags in its low 4 bits). */
static inline unsigned char *test_next_block(void *p)
{
	uint32_t size;
	__builtin_memcpy(&size, (unsigned char *)p - 12, sizeof size);
	return (unsigned char *)p + (size & ~15u);
}

/* Pages of the arena currently handed to the heap. */
size_t test_port_pages_out(void);
/* Does the arena contain [p, p + n)? */
bool test_port_in_arena(const void *p, size_t n);

#endif
