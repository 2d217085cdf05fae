/* flat_pages.h — page-run allocator over one region: the flat port's page supply, reused by the x86 PMM. */
/* SPDX-License-Identifier: MIT */
/*
 * Manages `pages` pages of (1 << shift) bytes starting at `base` with two bitmaps:
 * `avail` (page is free) and `given` (page was handed out). A page in neither is
 * reserved: outside usable memory, or kept by its owner (bitmaps, kernel image).
 * Free runs need no merging step: adjacent free pages are simply adjacent clear bits.
 *
 * Allocation is first fit from the lowest address, optionally bounded by an upper
 * address (for DMA-style needs): O(pages / 32) word scans in the worst case, as the
 * region's size bounds it. Freeing is O(n / 32) and rejects any page that is not
 * currently handed out (double free, never allocated, outside the region) without
 * changing anything. No function allocates; none is thread-safe on its own (the
 * liballoc hooks run under the heap lock; other users must serialise).
 */
#ifndef FLAT_PAGES_H
#define FLAT_PAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct flat_pages {
	uintptr_t base;    /* address of page 0 */
	size_t pages;      /* pages managed */
	size_t free;       /* pages currently free */
	size_t hint;       /* no free page below this index */
	unsigned shift;    /* log2 of the page size in bytes */
	uint32_t *avail;   /* bit i: page i is free */
	uint32_t *given;   /* bit i: page i is handed out */
};

/* 32-bit words of bitmap storage flat_pages_init needs for `pages` pages. */
static inline size_t flat_pages_words(size_t pages) { return 2 * ((pages + 31) / 32); }

/* Start managing [base, base + (pages << shift)), all pages reserved. `base` must
 * be aligned to the page size; `storage` holds flat_pages_words(pages) words. */
void flat_pages_init(struct flat_pages *fp, uintptr_t base, size_t pages, unsigned shift, uint32_t *storage);

/* Mark the whole pages inside [addr, addr + bytes) free (rounds inwards; the part
 * outside the region is ignored). Pages currently handed out are left alone. */
void flat_pages_release(struct flat_pages *fp, uintptr_t addr, uint64_t bytes);

/* Mark every page touching [addr, addr + bytes) reserved (rounds outwards). Pages
 * currently handed out are left alone. */
void flat_pages_reserve(struct flat_pages *fp, uintptr_t addr, uint64_t bytes);

/* Hand out n >= 1 contiguous pages, the lowest run that ends at or below `limit`
 * (pass UINTPTR_MAX for no limit). Returns the address, or NULL when no free run
 * is long enough. The content is not touched. */
void *flat_pages_alloc(struct flat_pages *fp, size_t n, uintptr_t limit);

/* Take back n pages at addr (any sub-range of handed-out runs, in any order).
 * Returns 0, or -1 without changing anything if addr is not page-aligned, the range
 * leaves the region, or any page in it is not handed out. */
int flat_pages_free(struct flat_pages *fp, void *addr, size_t n);

/* Is the page containing addr handed out? */
bool flat_pages_given(const struct flat_pages *fp, uintptr_t addr);

/* Pages in the longest free run: the largest n for which flat_pages_alloc(fp, n,
 * UINTPTR_MAX) succeeds now. O(pages / 32 + free runs). */
size_t flat_pages_largest(const struct flat_pages *fp);

#endif /* FLAT_PAGES_H */
