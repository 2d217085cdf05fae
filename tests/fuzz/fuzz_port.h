/* fuzz_port.h — the fuzzers' port: a small arena whose page hooks fail, run short or place runs on demand. */
/* SPDX-License-Identifier: MIT */
#ifndef FUZZ_PORT_H
#define FUZZ_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "liballoc.h"

#define FUZZ_ARENA_BYTES ((size_t)8 << 20)
#define FUZZ_PAGES (FUZZ_ARENA_BYTES / LIBALLOC_PAGE_SIZE)

/* Injections (set by the harness) and what the hooks saw (since fuzz_port_reset). */
struct fuzz_port {
	size_t fail_alloc_next;   /* refuse the next N alloc_page calls */
	size_t fail_alloc_every;  /* refuse every k-th alloc_page call */
	size_t fail_free_next;    /* fail the next N free_page calls */
	size_t fail_free_every;   /* fail every k-th free_page call */
	size_t page_limit;        /* never more than this many pages out; 0: the arena */
	size_t place;             /* search for a run from this page index (then wrap) */
	size_t alloc_calls, alloc_refused, free_calls, free_refused, pages_out;
	int lock_depth, max_lock_depth;
	bool hook_outside_lock;
	/* the error handler's record */
	size_t errors;
	int last_error;
	void *last_ptr;
};

extern struct fuzz_port fp;

/* Forget the heap (every block, chunk and page map node) and start afresh, so
 * each input runs from the same state and a crash replays alone. */
void fuzz_port_reset(void);
/* Is the page holding `a` handed out to the heap? */
bool fuzz_port_given(const void *a);
/* The arena, for pointers "inside the heap's memory but not a block". */
unsigned char *fuzz_port_arena(void);
/* Provided by fuzz_core.c, which compiles the core itself. */
void fuzz_core_reset(void);

#endif
