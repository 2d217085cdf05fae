/* x86_heap.h — the liballoc hooks of the x86 port: frames mapped into a kernel-heap virtual range, interrupts off as the lock. */
/* SPDX-License-Identifier: MIT */
/*
 * hooks.c implements liballoc's four hooks for a paged i686 kernel:
 *
 *   liballoc_alloc_page(n)  reserves n contiguous pages of the heap's virtual
 *                           range, takes n frames (one at a time: they need not
 *                           be contiguous), maps each and zeroes the run; if
 *                           frames, page tables or the range run out it undoes
 *                           everything it did and returns NULL.
 *   liballoc_free_page(p,n) accepts any page-aligned sub-range of pages it handed
 *                           out: unmaps each page (invlpg), returns its frame,
 *                           releases the range. Anything else returns -1 and
 *                           changes nothing.
 *   liballoc_lock/unlock    save EFLAGS and cli / restore EFLAGS. Nesting is
 *                           counted: only the outermost unlock restores, so a
 *                           kernel may hold the lock around allocator calls.
 *
 * It reaches the PMM and VMM only through struct x86_heap_ops, and keeps which
 * heap pages are handed out in a flat_pages bitmap (ports/flat/flat_pages.c).
 *
 * Keeping only the hooks (a hobby OS with its own PMM and VMM)
 * ------------------------------------------------------------
 * Copy hooks.c, x86_heap.h, x86_cpu.h, liballoc_x86.h and ports/flat/flat_pages.{c,h}
 * next to liballoc.{c,h}; drop pmm.c, vmm.c and glue.c. Then write four small
 * functions over your own managers and hand them over once, before the first
 * kmalloc:
 *
 *     static uint32_t frame_alloc(void *c) { return my_pmm_alloc_frame(); }   // 0 = none
 *     static int frame_free(void *c, uint32_t pa) { return my_pmm_free_frame(pa); }
 *     static int map(void *c, uint32_t va, uint32_t pa) { return my_vmm_map(va, pa, PRESENT | WRITE); }
 *     static int unmap(void *c, uint32_t va, uint32_t *pa) { return my_vmm_unmap(va, pa); } // + invlpg
 *     static const struct x86_heap_ops ops = {frame_alloc, frame_free, map, unmap, 0};
 *     static uint32_t bits[X86_HEAP_STORAGE_WORDS(HEAP_PAGES)];
 *     x86_heap_init(&ops, 0xC0000000, HEAP_PAGES, bits);  // a virtual range nothing else uses
 *
 * Compile liballoc.c, hooks.c and flat_pages.c with
 * -DLIBALLOC_CONFIG_HEADER='"liballoc_x86.h"' and define x86_liballoc_report
 * (print one line on your console). Your map must allocate page tables itself
 * and fail (non-zero) rather than panic; it runs with interrupts off, so it must
 * not sleep or take a lock an interrupt handler may hold. If your VMM hands out
 * kernel virtual ranges already, reserve one range for the heap from it.
 */
#ifndef X86_HEAP_H
#define X86_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "flat_pages.h"

/* Words of storage x86_heap_init needs for a range of `pages` pages (a
 * constant expression, for static arrays): 1 bit per page, twice. */
#define X86_HEAP_STORAGE_WORDS(pages) (2 * (((pages) + 31) / 32))

/* The kernel's frame and mapping primitives, as the hooks use them. Called with
 * interrupts off (the heap lock held); must not call kmalloc/kfree. */
struct x86_heap_ops {
	/* One free frame: its physical address (4 KiB aligned), 0 when none. */
	uint32_t (*frame_alloc)(void *ctx);
	/* Return a frame from frame_alloc. 0, or non-zero if it was not handed out. */
	int (*frame_free)(void *ctx, uint32_t pa);
	/* Map page `va` to frame `pa`, supervisor read/write, allocating a page
	 * table if needed. 0, or non-zero (no frame for a table) changing nothing. */
	int (*map)(void *ctx, uint32_t va, uint32_t pa);
	/* Unmap page `va`, invlpg it, store its frame in *pa. 0, or non-zero if
	 * `va` was not mapped. */
	int (*unmap)(void *ctx, uint32_t va, uint32_t *pa);
	void *ctx;
};

/* Give the hooks their primitives and the heap's virtual range [base, base +
 * pages * 4096) (base 4 KiB aligned, ending at or below 4 GiB, used by nothing
 * else), with X86_HEAP_STORAGE_WORDS(pages) words of `storage`. Call once
 * before the first allocation; until then alloc_page returns NULL. Calling it
 * again forgets the pages handed out (for tests). Returns 0, or -1 on bad
 * arguments. O(pages / 32). Not thread-safe. */
int x86_heap_init(const struct x86_heap_ops *ops, uintptr_t base, size_t pages, uint32_t *storage);

/* Pages handed to liballoc right now (alloc_page minus free_page). O(1). */
size_t x86_heap_pages(void);

/* Inconsistencies the hooks met and survived: a frame_free or unmap that
 * failed on a page the hooks had mapped. 0 in a correct kernel. O(1). */
size_t x86_heap_errors(void);

/* Current nesting depth of liballoc_lock (0 outside the allocator). O(1). */
unsigned x86_heap_lock_depth(void);

#endif
