/* x86_64_heap.h — the liballoc hooks of the x86_64 port: frames mapped into a higher-half heap range, a ticket spinlock, TLB shootdown on unmap. */
/* SPDX-License-Identifier: MIT */
/*
 * hooks.c implements liballoc's four hooks for an SMP x86_64 kernel:
 *
 *   liballoc_alloc_page(n)  reserves n contiguous pages of the heap's virtual
 *                           range, takes n frames one at a time (they need not
 *                           be contiguous), maps each and zeroes the run; if
 *                           frames, page tables or the range run out it undoes
 *                           everything (unmap, shootdown, frames back, range
 *                           back) and returns NULL.
 *   liballoc_free_page(p,n) accepts any page-aligned sub-range of pages it handed
 *                           out: unmaps the pages in batches of
 *                           X86_64_HEAP_BATCH, shoots each batch down on the
 *                           other CPUs, and only then returns its frames (a
 *                           frame must not be reused while some CPU can still
 *                           reach it). Anything else returns -1, changes nothing.
 *   liballoc_lock/unlock    the heap's x86_64_spinlock: ticket order, interrupts
 *                           saved and disabled (interrupt handlers may kmalloc),
 *                           nesting counted on the holding CPU.
 *
 * It reaches the PMM, VMM and the other CPUs only through struct
 * x86_64_heap_ops, and keeps which heap pages are handed out in a flat_pages
 * bitmap (ports/flat/flat_pages.c).
 *
 * Hook cost (the part of liballoc's bound that is the port's): alloc_page(n) is
 * O(n) maps and zeroes n pages; free_page(n) is O(n) unmaps plus ceil(n / 512)
 * shootdowns, each waiting for every other online CPU to answer (see
 * x86_64_tlb.h); the range search is O(range pages / 32) worst case.
 *
 * Keeping only the hooks (your OS already has a PMM, a VMM and IPIs)
 * ------------------------------------------------------------------
 * Copy hooks.c, spinlock.c, tlb.c, their headers, x86_64_cpu.h,
 * liballoc_x86_64.h and ports/flat/flat_pages.{c,h} next to liballoc.{c,h};
 * leave out vmm.c, glue.c and ports/x86/pmm.c. Then:
 *
 *     static uint64_t frame_alloc(void *c) { return my_pmm_alloc_frame(); }    // 0 = none
 *     static int frame_free(void *c, uint64_t pa) { return my_pmm_free_frame(pa); }
 *     static int map(void *c, uintptr_t va, uint64_t pa) { return my_map(va, pa, PRESENT | WRITE | NX); }
 *     static int unmap(void *c, uintptr_t va, uint64_t *pa) { return my_unmap(va, pa); }   // + invlpg
 *     static void shoot(void *c, uintptr_t va, size_t n) { x86_64_tlb_shootdown(va, n); }
 *     static const struct x86_64_heap_ops ops = {frame_alloc, frame_free, map, unmap, shoot, 0, 0};
 *     static uint32_t bits[X86_64_HEAP_STORAGE_WORDS(HEAP_PAGES)];
 *     x86_64_heap_init(&ops, 0xFFFFC00000000000, HEAP_PAGES, bits);
 *
 * and give tlb.c your IPI sender (x86_64_tlb_init), call x86_64_tlb_ipi() from
 * that vector's handler, x86_64_tlb_cpu_online() on each CPU as it starts, and
 * point each CPU's GS base at its struct x86_64_cpu_local. With your own
 * shootdown, put it in ops.shootdown instead (it must not deadlock against a
 * CPU spinning on the heap lock with interrupts off: see x86_64_tlb.h).
 */
#ifndef X86_64_HEAP_H
#define X86_64_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "flat_pages.h"
#include "x86_64_spinlock.h"

/* Words of storage x86_64_heap_init needs for a range of `pages` pages (a
 * constant expression, for static arrays): 1 bit per page, twice. */
#define X86_64_HEAP_STORAGE_WORDS(pages) (2 * (((pages) + 31) / 32))

/* Pages unmapped per shootdown by free_page (2 MiB; their frames wait in a
 * static buffer of 4 KiB). */
#define X86_64_HEAP_BATCH 512u

/* The kernel's frame, mapping and shootdown primitives, as the hooks use them.
 * Called under the heap lock (interrupts off); must not call kmalloc/kfree. */
struct x86_64_heap_ops {
	/* One free frame: its physical address (4 KiB aligned), 0 when none. */
	uint64_t (*frame_alloc)(void *ctx);
	/* Return a frame from frame_alloc. 0, or non-zero if it was not handed out. */
	int (*frame_free)(void *ctx, uint64_t pa);
	/* Map page `va` to frame `pa`, supervisor read/write (no execute), allocating
	 * page tables if needed. 0, or non-zero (no frame for a table) mapping nothing. */
	int (*map)(void *ctx, uintptr_t va, uint64_t pa);
	/* Unmap page `va`, invlpg it on this CPU, store its frame in *pa. 0, or
	 * non-zero if `va` was not mapped. */
	int (*unmap)(void *ctx, uintptr_t va, uint64_t *pa);
	/* Make every OTHER CPU drop [va, va + pages * 4096) from its TLB and return
	 * when all have (glue.c calls x86_64_tlb_shootdown). NULL on a
	 * uniprocessor kernel. */
	void (*shootdown)(void *ctx, uintptr_t va, size_t pages);
	/* Optional (NULL: not asked): frames frame_alloc can hand out now. When
	 * fewer than a request needs, alloc_page fails at once instead of mapping
	 * what there is and undoing it (an unmap and a shootdown per batch) — the
	 * heap asks for big runs first near exhaustion. */
	size_t (*frames_free)(void *ctx);
	void *ctx;
};

/* Give the hooks their primitives and the heap's virtual range [base, base +
 * pages * 4096): base 4 KiB aligned, the whole range canonical and in one half
 * of the address space, used by nothing else; X86_64_HEAP_STORAGE_WORDS(pages)
 * words of `storage`. Call once before the first allocation, on one CPU; until
 * then alloc_page returns NULL. Calling it again forgets the pages handed out
 * (for tests). Returns 0, or -1 on bad arguments. O(pages / 32). */
int x86_64_heap_init(const struct x86_64_heap_ops *ops, uintptr_t base, size_t pages, uint32_t *storage);

/* Pages handed to liballoc right now (alloc_page minus free_page). O(1). Read
 * without the lock: exact while no CPU is inside the allocator. */
size_t x86_64_heap_pages(void);

/* Inconsistencies the hooks met and survived: an unmap or frame_free that failed
 * on a page the hooks had mapped. 0 in a correct kernel. O(1), as above. */
size_t x86_64_heap_errors(void);

/* Nesting depth of the heap lock on the calling CPU (0: this CPU does not hold
 * it). O(1). */
unsigned x86_64_heap_lock_depth(void);

/* The heap lock itself, for its counters (acquired, contended). */
const struct x86_64_spinlock *x86_64_heap_lock(void);

#endif
