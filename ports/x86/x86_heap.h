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
 * The same hooks serve heap instances over ranges of their own (struct
 * x86_heap_space, at the end of this header).
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flat_pages.h"
#include "liballoc.h"

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

/*
 * More heaps over the same primitives (liballoc.h section 4). A space is a range
 * of kernel virtual pages with hooks that work exactly as the four above (the
 * kernel heap is one space), handed to liballoc_heap_create as a struct
 * liballoc_port whose ctx is the space. A kernel gives each process a heap over a
 * space of its own and drops it whole at exit: liballoc_heap_destroy returns
 * every page, which the hooks unmap, giving each frame back through ops.frame_free.
 * Page tables made for the range stay (the VMM keeps them for the next process).
 *
 *     static struct x86_heap_space space;            // lives as long as the heap
 *     static uint32_t bits[X86_HEAP_STORAGE_WORDS(PROC_PAGES)];
 *     x86_heap_space_init(&space, &ops, PROC_BASE, PROC_PAGES, bits);
 *     struct liballoc_port port = x86_heap_space_port(&space);
 *     liballoc_heap *heap = liballoc_heap_create(&port);
 *     ... liballoc_heap_malloc(heap, n) ...
 *     liballoc_heap_destroy(heap);                   // x86_heap_space_pages(&space) == 0
 *
 * Each space has its own lock depth; its lock is interrupts off, as above. The
 * fields are the hooks' own: read them through the functions below.
 */
struct x86_heap_space {
	struct x86_heap_ops ops;
	struct flat_pages virt;   /* the range's pages: free / handed to liballoc */
	size_t pages;             /* handed out now */
	size_t errors;            /* unmap or frame_free failures met and survived */
	unsigned depth;           /* lock nesting */
	uint32_t saved;           /* EFLAGS before the outermost lock */
	bool ready;
};

/* Set up space s over [base, base + pages * 4096) (base 4 KiB aligned, ending at or
 * below 4 GiB, used by nothing else) with X86_HEAP_STORAGE_WORDS(pages) words of
 * `storage` (both must outlive the space's heap). Returns 0, or -1 on bad
 * arguments. O(pages / 32). Not thread-safe. */
int x86_heap_space_init(struct x86_heap_space *s, const struct x86_heap_ops *ops, uintptr_t base, size_t pages,
			uint32_t *storage);

/* The port for liballoc_heap_create: s's alloc_page, free_page, lock and unlock,
 * with ctx = s. O(1). */
struct liballoc_port x86_heap_space_port(struct x86_heap_space *s);

/* Pages of s handed out now; failures survived; lock depth. O(1). */
size_t x86_heap_space_pages(const struct x86_heap_space *s);
size_t x86_heap_space_errors(const struct x86_heap_space *s);
unsigned x86_heap_space_lock_depth(const struct x86_heap_space *s);

#endif
