/* flat_port.c — liballoc's four hooks over one RAM region (flat_pages) with a nestable interrupt lock (see flat_port.h). */
/* SPDX-License-Identifier: MIT */
#include "flat_port.h"

#include <stdbool.h>

#include "flat_pages.h"

#define PAGE ((uintptr_t)LIBALLOC_PAGE_SIZE)
#define SHIFT ((unsigned)__builtin_ctz(LIBALLOC_PAGE_SIZE))

_Static_assert(LIBALLOC_PAGE_SIZE >= 256 && (LIBALLOC_PAGE_SIZE & (LIBALLOC_PAGE_SIZE - 1)) == 0,
	       "LIBALLOC_PAGE_SIZE must be a power of two >= 256");

static struct flat_pages fp;
static bool ready;
static size_t map_bytes, alloc_calls, alloc_failures, free_calls, free_rejects;

/* ---- lock ------------------------------------------------------------------ */

static unsigned depth;   /* nesting of liballoc_lock; written only with interrupts off */

#if LIBALLOC_FLAT_LOCK == LIBALLOC_FLAT_LOCK_IRQ
static uint32_t saved;   /* interrupt state before the outermost lock */

#if LIBALLOC_FLAT_IRQ_HOOKS
#define irq_save liballoc_flat_irq_save
#define irq_restore liballoc_flat_irq_restore
#else
/* PRIMASK is 1 while interrupts are masked. The "memory" clobbers keep heap
 * accesses inside the critical section. cpsid takes effect at once (ARMv7-M). */
static inline uint32_t irq_save(void)
{
	uint32_t m;
	__asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(m) : : "memory");
	return m;
}

static inline void irq_restore(uint32_t m)
{
	__asm__ volatile("msr primask, %0" : : "r"(m) : "memory");
}
#endif

int liballoc_lock(void)
{
	uint32_t s = irq_save();
	if (depth == ~0u) {
		irq_restore(s);
		return -1;
	}
	if (depth++ == 0)
		saved = s;
	return 0;
}

int liballoc_unlock(void)
{
	if (depth == 0)
		return -1;  /* unbalanced: leave the interrupt state alone */
	if (--depth == 0)
		irq_restore(saved);
	return 0;
}

#elif LIBALLOC_FLAT_LOCK == LIBALLOC_FLAT_LOCK_NONE

int liballoc_lock(void)
{
	if (depth == ~0u)
		return -1;
	depth++;
	return 0;
}

int liballoc_unlock(void)
{
	if (depth == 0)
		return -1;
	depth--;
	return 0;
}

#else
#error "LIBALLOC_FLAT_LOCK must be LIBALLOC_FLAT_LOCK_NONE or LIBALLOC_FLAT_LOCK_IRQ"
#endif

unsigned liballoc_flat_lock_depth(void) { return depth; }

/* ---- region ------------------------------------------------------------------ */

/* Set up [start, end) with the bitmap at `map` (carved: map == NULL). Lock held. */
static int setup(uintptr_t start, uintptr_t end, uint32_t *map, size_t map_words)
{
	/* The port reserves no page, so every page not free is handed out. */
	if (ready && fp.pages - fp.free != 0)
		return -1;  /* pages are out: re-initialising would lose them */
	if (start == 0)
		start = 1;  /* NULL means failure: page 0 is never handed out */
	uintptr_t first = (start + PAGE - 1) & ~(PAGE - 1), last = end & ~(PAGE - 1);
	if (first < start || first >= last)
		return -1;
	size_t pages = (size_t)((last - first) / PAGE), carved = 0;
	if (!map) {
		/* The map for `pages` pages at the (word-aligned) start; the pages it
		 * overlaps are lost, which only shrinks the map it needs. */
		uintptr_t at = (start + 3) & ~(uintptr_t)3;
		carved = flat_pages_words(pages) * sizeof(uint32_t);
		if (at < start || at > last || carved > last - at)
			return -1;
		uintptr_t after = (at + carved + PAGE - 1) & ~(PAGE - 1);
		if (after >= last)
			return -1;
		if (after > first) {
			first = after;
			pages = (size_t)((last - first) / PAGE);
		}
		map = (uint32_t *)at;
		carved = flat_pages_words(pages) * sizeof(uint32_t);
	} else if (map_words < flat_pages_words(pages)) {
		return -1;
	}
	flat_pages_init(&fp, first, pages, SHIFT, map);
	flat_pages_release(&fp, first, (uint64_t)pages << SHIFT);
	map_bytes = carved;
	ready = true;
	return 0;
}

static int init(void *base, size_t bytes, uint32_t *map, size_t map_words)
{
	uintptr_t start = (uintptr_t)base;
	if (bytes > UINTPTR_MAX - start)
		return -1;
	if (liballoc_lock() != 0)
		return -1;
	int r = setup(start, start + bytes, map, map_words);
	liballoc_unlock();
	return r;
}

int liballoc_flat_init(void *base, size_t bytes) { return init(base, bytes, NULL, 0); }

int liballoc_flat_init_map(void *base, size_t bytes, uint32_t *map, size_t map_words)
{
	return map ? init(base, bytes, map, map_words) : -1;
}

#if LIBALLOC_FLAT_HEAP_SYMBOLS
extern char __heap_start[], __heap_end[];

int liballoc_flat_init_linker(void)
{
	return init(__heap_start, (size_t)(__heap_end - __heap_start), NULL, 0);
}
#endif

/* Lock held. With the linker symbols, the first use initialises the port. */
static bool ensure_ready(void)
{
#if LIBALLOC_FLAT_HEAP_SYMBOLS
	if (!ready)
		setup((uintptr_t)__heap_start, (uintptr_t)__heap_end, NULL, 0);
#endif
	return ready;
}

/* ---- hooks (called by the core with the lock held) ------------------------------ */

void *liballoc_alloc_page(size_t pages)
{
	alloc_calls++;
	void *p = ensure_ready() ? flat_pages_alloc(&fp, pages, UINTPTR_MAX) : NULL;
	if (!p)
		alloc_failures++;
	return p;
}

int liballoc_free_page(void *addr, size_t pages)
{
	free_calls++;
	if (!ready || flat_pages_free(&fp, addr, pages) != 0) {
		free_rejects++;
		return -1;
	}
	return 0;
}

/* ---- introspection ------------------------------------------------------------- */

void liballoc_flat_stats(struct liballoc_flat_stats *out)
{
	*out = (struct liballoc_flat_stats){0};
	if (liballoc_lock() != 0)
		return;
	if (ensure_ready()) {
		out->base = fp.base;
		out->pages = fp.pages;
		out->free_pages = fp.free;
		out->given_pages = fp.pages - fp.free;
		out->largest_free = flat_pages_largest(&fp);
		out->map_bytes = map_bytes;
	}
	out->alloc_calls = alloc_calls;
	out->alloc_failures = alloc_failures;
	out->free_calls = free_calls;
	out->free_rejects = free_rejects;
	liballoc_unlock();
}

size_t liballoc_flat_pages_given(void)
{
	if (liballoc_lock() != 0)
		return 0;
	size_t n = ensure_ready() ? fp.pages - fp.free : 0;
	liballoc_unlock();
	return n;
}
