/* flat_pages.c — page-run allocator over one region with free/handed-out bitmaps (see flat_pages.h). */
/* SPDX-License-Identifier: MIT */
#include "flat_pages.h"

static inline bool bit(const uint32_t *map, size_t i) { return map[i / 32] >> (i % 32) & 1; }

/* Set (on) or clear bits [i, i + n) of map, a word at a time where possible. */
static void set_bits(uint32_t *map, size_t i, size_t n, bool on)
{
	while (n) {
		size_t b = i % 32, span = 32 - b < n ? 32 - b : n;
		uint32_t mask = (span == 32 ? ~0u : ((1u << span) - 1)) << b;
		map[i / 32] = on ? map[i / 32] | mask : map[i / 32] & ~mask;
		i += span;
		n -= span;
	}
}

/* Index of the first bit of map equal to `want` in [i, end), or end. */
static size_t scan(const uint32_t *map, size_t i, size_t end, bool want)
{
	while (i < end) {
		uint32_t w = want ? map[i / 32] : ~map[i / 32];
		w &= ~0u << (i % 32);
		if (w) {
			size_t j = (i & ~(size_t)31) + (size_t)__builtin_ctz(w);
			return j < end ? j : end;
		}
		i = (i & ~(size_t)31) + 32;
	}
	return end;
}

void flat_pages_init(struct flat_pages *fp, uintptr_t base, size_t pages, unsigned shift, uint32_t *storage)
{
	size_t words = (pages + 31) / 32;
	fp->base = base;
	fp->pages = pages;
	fp->free = 0;
	fp->hint = pages;
	fp->shift = shift;
	fp->avail = storage;
	fp->given = storage + words;
	for (size_t i = 0; i < 2 * words; i++)
		storage[i] = 0;
}

/* The page indices [*first, *end) of [addr, addr + bytes) within the region,
 * rounded inwards (outward = false) or outwards. false if they do not meet.
 * Measured from base, so neither end wraps around the address space. */
static bool page_range(const struct flat_pages *fp, uintptr_t addr, uint64_t bytes, bool outward, size_t *first,
		       size_t *end)
{
	uint64_t size = (uint64_t)fp->pages << fp->shift, lo, hi, mask = ((uint64_t)1 << fp->shift) - 1;
	if (addr >= fp->base) {
		lo = (uint64_t)(addr - fp->base);
		if (lo >= size)
			return false;
		hi = bytes > size - lo ? size : lo + bytes;
	} else {
		uint64_t before = (uint64_t)(fp->base - addr);
		if (bytes <= before)
			return false;
		lo = 0;
		hi = bytes - before > size ? size : bytes - before;
	}
	lo = outward ? lo & ~mask : (lo + mask) & ~mask;
	hi = outward ? (hi + mask) & ~mask : hi & ~mask;
	if (lo >= hi || lo >= size)
		return false;
	*first = (size_t)(lo >> fp->shift);
	*end = (size_t)(hi >> fp->shift);
	return true;
}

void flat_pages_release(struct flat_pages *fp, uintptr_t addr, uint64_t bytes)
{
	size_t i, end;
	if (!page_range(fp, addr, bytes, false, &i, &end))
		return;
	for (; i < end; i++)
		if (!bit(fp->avail, i) && !bit(fp->given, i)) {
			set_bits(fp->avail, i, 1, true);
			fp->free++;
			if (i < fp->hint)
				fp->hint = i;
		}
}

void flat_pages_reserve(struct flat_pages *fp, uintptr_t addr, uint64_t bytes)
{
	size_t i, end;
	if (!page_range(fp, addr, bytes, true, &i, &end))
		return;
	for (; i < end; i++)
		if (bit(fp->avail, i)) {
			set_bits(fp->avail, i, 1, false);
			fp->free--;
		}
}

void *flat_pages_alloc(struct flat_pages *fp, size_t n, uintptr_t limit)
{
	size_t end = fp->pages;
	if (n == 0 || n > fp->free)
		return NULL;
	if (limit < fp->base)
		return NULL;
	/* Runs must end at or below limit (UINTPTR_MAX: anywhere). Measured from
	 * base, so a region that ends at the top of the address space does not wrap. */
	if (limit != UINTPTR_MAX && (limit - fp->base) >> fp->shift < fp->pages)
		end = (size_t)((limit - fp->base) >> fp->shift);
	for (size_t i = scan(fp->avail, fp->hint, end, true); i < end;) {
		size_t stop = scan(fp->avail, i, end, false);
		if (stop - i >= n) {
			set_bits(fp->avail, i, n, false);
			set_bits(fp->given, i, n, true);
			fp->free -= n;
			if (i == fp->hint)
				fp->hint = scan(fp->avail, i + n, fp->pages, true);
			return (void *)(fp->base + ((uintptr_t)i << fp->shift));
		}
		i = scan(fp->avail, stop, end, true);
	}
	return NULL;
}

int flat_pages_free(struct flat_pages *fp, void *addr, size_t n)
{
	uintptr_t a = (uintptr_t)addr;
	if (a < fp->base || ((a - fp->base) & (((uintptr_t)1 << fp->shift) - 1)) || n == 0)
		return -1;
	size_t i = (size_t)((a - fp->base) >> fp->shift);
	if (i >= fp->pages || n > fp->pages - i || scan(fp->given, i, i + n, false) != i + n)
		return -1;
	set_bits(fp->given, i, n, false);
	set_bits(fp->avail, i, n, true);
	fp->free += n;
	if (i < fp->hint)
		fp->hint = i;
	return 0;
}

bool flat_pages_given(const struct flat_pages *fp, uintptr_t addr)
{
	if (addr < fp->base)
		return false;
	size_t i = (size_t)((addr - fp->base) >> fp->shift);
	return i < fp->pages && bit(fp->given, i);
}

size_t flat_pages_largest(const struct flat_pages *fp)
{
	size_t best = 0;
	for (size_t i = scan(fp->avail, fp->hint, fp->pages, true); i < fp->pages;) {
		size_t stop = scan(fp->avail, i, fp->pages, false);
		if (stop - i > best)
			best = stop - i;
		i = scan(fp->avail, stop, fp->pages, true);
	}
	return best;
}
