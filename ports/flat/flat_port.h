/* flat_port.h — liballoc's bare-metal flat-memory port: page runs from one RAM region, an interrupt-masking lock. */
/* SPDX-License-Identifier: MIT */
/*
 * For systems without an MMU (microcontrollers, early boot, flat-model kernels):
 * the heap gets one region of RAM, and this port implements liballoc's four hooks
 * over it (liballoc.h, section 2). Sources: flat_port.c, flat_pages.c/.h, plus the
 * core (liballoc.c/.h). Units: BYTES unless a name says pages; a page is
 * LIBALLOC_PAGE_SIZE bytes (any power of two >= 256: 4096 by default, 256 to 1024
 * for small MCUs).
 *
 * The region
 *   liballoc_flat_init(base, bytes) hands the port [base, base + bytes). Its start
 *   and end need not be aligned: the page bitmap (2 bits per page, i.e. 1/(4 *
 *   LIBALLOC_PAGE_SIZE) of the region, rounded up to 8 bytes) is carved from the
 *   start — into the slack before the first page boundary when it fits — and the
 *   pages are the whole pages that remain. liballoc_flat_init_map() takes a
 *   caller-provided bitmap instead, leaving every whole page to the heap.
 *   With LIBALLOC_FLAT_HEAP_SYMBOLS 1 the region defaults to the linker symbols
 *   [__heap_start, __heap_end): the first liballoc_alloc_page call initialises the
 *   port from them if no init call was made, so firmware needs no code at all.
 *
 * The pages
 *   liballoc_alloc_page(n) is first fit over a bitmap: the lowest run of n free
 *   pages, or NULL when no free run is long enough (even if enough pages are free in
 *   total). liballoc_free_page takes back a whole run or any page-aligned sub-range
 *   (the core trims runs); freed pages are reused at once, and adjacent free runs
 *   are one run, since a run is just consecutive free bits. A page that is not
 *   currently handed out (double free, foreign or misaligned address) is rejected
 *   with -1 and nothing changes; the core then keeps the pages.
 *   Complexity: alloc is O(P / 32 + R) word operations, where P is the region's
 *   page count and R the number of free runs below the one chosen (both bounded by
 *   the region size, independent of the heap's blocks); free is O(n / 32 + 1).
 *   Example: a 4 MiB region of 1 KiB pages: a scan covers at most 128 words.
 *
 * The lock (choose with LIBALLOC_FLAT_LOCK, e.g. in the LIBALLOC_CONFIG_HEADER)
 *   LIBALLOC_FLAT_LOCK_IRQ   (default on Cortex-M) a nestable critical section:
 *       the outermost liballoc_lock saves the interrupt mask and disables
 *       interrupts (Cortex-M: mrs PRIMASK; cpsid i), inner ones only count, and the
 *       matching outermost liballoc_unlock restores the saved mask (msr PRIMASK) —
 *       so interrupts stay off if the caller had them off. Safe against interrupt
 *       handlers that allocate on a single core; NMI and HardFault are not masked
 *       and must not allocate; not enough for multi-core. On other CPUs, or with
 *       LIBALLOC_FLAT_IRQ_EXTERNAL 1 (e.g. to mask with BASEPRI under an RTOS), the
 *       port calls two functions you supply:
 *           uint32_t liballoc_flat_irq_save(void);    disable, return the old state
 *           void liballoc_flat_irq_restore(uint32_t);  restore that state
 *   LIBALLOC_FLAT_LOCK_NONE  single-threaded builds without allocating interrupt
 *       handlers: no masking at all; only a nesting depth is kept so that an
 *       unbalanced liballoc_unlock returns -1 (reported by the core).
 *   Elsewhere than Cortex-M there is no default: pick one explicitly.
 *
 * Vendoring: copy liballoc.c/.h, flat_pages.c/.h, flat_port.c/.h; compile all with
 * the same liballoc configuration; call liballoc_flat_init (or define
 * LIBALLOC_FLAT_HEAP_SYMBOLS 1 and give the linker script __heap_start and
 * __heap_end); then use the API. The port needs nothing the core does not
 * (memcpy, memset).
 * Small regions: set LIBALLOC_CHUNK_MAX to a small fraction of the region (the
 * Cortex-M example: 256 KiB of 4 MiB). The core grows chunks geometrically; when
 * no free run fits the next chunk it falls back to the smallest run the request
 * needs, but chunks as large as the default 4 MiB cap still leave a small region
 * few runs long enough for huge blocks.
 *
 * Every function here but liballoc_flat_lock_depth takes liballoc_lock, so it is
 * safe to call from threads or interrupt handlers exactly as the allocator is.
 */
#ifndef LIBALLOC_FLAT_PORT_H
#define LIBALLOC_FLAT_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "liballoc.h"

#define LIBALLOC_FLAT_LOCK_NONE 0
#define LIBALLOC_FLAT_LOCK_IRQ 1

#ifndef LIBALLOC_FLAT_LOCK
#if defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M'
#define LIBALLOC_FLAT_LOCK LIBALLOC_FLAT_LOCK_IRQ
#else
#error "define LIBALLOC_FLAT_LOCK as LIBALLOC_FLAT_LOCK_NONE (single-threaded) or LIBALLOC_FLAT_LOCK_IRQ (see flat_port.h)"
#endif
#endif

#ifndef LIBALLOC_FLAT_HEAP_SYMBOLS
#define LIBALLOC_FLAT_HEAP_SYMBOLS 0
#endif

#ifndef LIBALLOC_FLAT_IRQ_EXTERNAL
#define LIBALLOC_FLAT_IRQ_EXTERNAL 0
#endif

#if LIBALLOC_FLAT_LOCK == LIBALLOC_FLAT_LOCK_IRQ && \
	(LIBALLOC_FLAT_IRQ_EXTERNAL || !(defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M'))
#define LIBALLOC_FLAT_IRQ_HOOKS 1
/* Supplied by the user of an IRQ lock off Cortex-M: see the lock section above. */
uint32_t liballoc_flat_irq_save(void);
void liballoc_flat_irq_restore(uint32_t state);
#else
#define LIBALLOC_FLAT_IRQ_HOOKS 0
#endif

/* Bitmap words (uint32_t) liballoc_flat_init_map needs for a region of `bytes`. */
#define LIBALLOC_FLAT_MAP_WORDS(bytes) (2 * (((bytes) / LIBALLOC_PAGE_SIZE + 31) / 32))

/* Give the port the region [base, base + bytes), bitmap carved from its start
 * (see above). Call before the first allocation; calling again re-initialises
 * the port only while no page is handed out.
 * Returns 0, or -1 (port unchanged) when the region wraps around the address
 * space, holds no whole page after the bitmap, or pages are handed out.
 * O(pages) (each page is marked free once). Takes the lock. */
int liballoc_flat_init(void *base, size_t bytes);

/* As liballoc_flat_init, with the bitmap in map[0 .. map_words) (uint32_t-aligned
 * by its type, outside the region): every whole page of the region is managed.
 * -1 also when map_words < LIBALLOC_FLAT_MAP_WORDS(bytes). */
int liballoc_flat_init_map(void *base, size_t bytes, uint32_t *map, size_t map_words);

#if LIBALLOC_FLAT_HEAP_SYMBOLS
/* liballoc_flat_init(__heap_start, __heap_end - __heap_start): both symbols come
 * from the linker script. Same returns. Also done implicitly by the first
 * liballoc_alloc_page if no init call came first. */
int liballoc_flat_init_linker(void);
#endif

/* The port's state, all in pages except where it says bytes. */
struct liballoc_flat_stats {
	uintptr_t base;        /* address of page 0 (page-aligned); 0 before init */
	size_t pages;          /* pages managed */
	size_t free_pages;     /* pages free now */
	size_t given_pages;    /* pages handed to liballoc now (alloc_page minus free_page) */
	size_t largest_free;   /* longest free run: the largest alloc_page that succeeds now */
	size_t map_bytes;      /* bytes of the region used by the bitmap (0 with _init_map) */
	size_t alloc_calls;    /* liballoc_alloc_page calls */
	size_t alloc_failures; /* ... that returned NULL */
	size_t free_calls;     /* liballoc_free_page calls */
	size_t free_rejects;   /* ... refused (page not handed out, misaligned, outside) */
};

/* Copy the port's state into *out (zeroed before init; with
 * LIBALLOC_FLAT_HEAP_SYMBOLS this initialises the port from the linker symbols
 * first, as the first allocation would). O(pages / 32 + R) for largest_free (as
 * an alloc), the rest O(1). Takes the lock. */
void liballoc_flat_stats(struct liballoc_flat_stats *out);

/* Pages handed to liballoc right now (stats.given_pages). O(1). Takes the lock. */
size_t liballoc_flat_pages_given(void);

/* Current nesting depth of liballoc_lock (0 outside the allocator). O(1). Reads
 * without the lock (it would change the answer). */
unsigned liballoc_flat_lock_depth(void);

#endif /* LIBALLOC_FLAT_PORT_H */
