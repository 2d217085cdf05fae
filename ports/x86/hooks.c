/* hooks.c — liballoc's four hooks for a paged i686 kernel: frames mapped into a heap virtual range, cli as the lock (see x86_heap.h). */
/* SPDX-License-Identifier: MIT */
#include "x86_heap.h"

#include <stdbool.h>

#include "liballoc.h"
#include "x86_cpu.h"

#define PAGE 4096u

static struct {
	struct x86_heap_ops ops;
	struct flat_pages virt;   /* heap pages: free / handed to liballoc */
	size_t pages;             /* handed out now */
	size_t errors;
	unsigned depth;           /* lock nesting */
	uint32_t saved;           /* EFLAGS before the outermost lock */
	bool ready;
} heap;

int x86_heap_init(const struct x86_heap_ops *ops, uintptr_t base, size_t pages, uint32_t *storage)
{
	if (!ops || !ops->frame_alloc || !ops->frame_free || !ops->map || !ops->unmap || !storage || pages == 0 ||
	    (base & (PAGE - 1)) || (uint64_t)base + (uint64_t)pages * PAGE > (uint64_t)1 << 32)
		return -1;
	heap.ops = *ops;
	flat_pages_init(&heap.virt, base, pages, 12, storage);
	flat_pages_release(&heap.virt, base, (uint64_t)pages * PAGE);
	heap.pages = 0;
	heap.errors = 0;
	heap.ready = true;
	return 0;
}

size_t x86_heap_pages(void) { return heap.pages; }
size_t x86_heap_errors(void) { return heap.errors; }
unsigned x86_heap_lock_depth(void) { return heap.depth; }

/* Unmap the first `mapped` pages at va and return their frames. */
static void release(uint32_t va, size_t mapped)
{
	for (size_t i = 0; i < mapped; i++) {
		uint32_t pa;
		if (heap.ops.unmap(heap.ops.ctx, va + (uint32_t)i * PAGE, &pa) != 0 ||
		    heap.ops.frame_free(heap.ops.ctx, pa) != 0)
			heap.errors++;
	}
}

void *liballoc_alloc_page(size_t pages)
{
	if (!heap.ready)
		return NULL;
	void *run = flat_pages_alloc(&heap.virt, pages, UINTPTR_MAX);
	if (!run)
		return NULL;
	uint32_t va = (uint32_t)(uintptr_t)run;
	size_t i;
	for (i = 0; i < pages; i++) {
		uint32_t pa = heap.ops.frame_alloc(heap.ops.ctx);
		if (pa == 0)
			break;
		if (heap.ops.map(heap.ops.ctx, va + (uint32_t)i * PAGE, pa) != 0) {
			if (heap.ops.frame_free(heap.ops.ctx, pa) != 0)
				heap.errors++;
			break;
		}
	}
	if (i < pages) {
		/* Out of frames or page tables: undo, so a failure leaks nothing. */
		release(va, i);
		if (flat_pages_free(&heap.virt, run, pages) != 0)
			heap.errors++;
		return NULL;
	}
	/* Zero the pages (LIBALLOC_PAGES_ZEROED: calloc skips clearing them): a frame
	 * must not carry a previous owner's data into the heap. */
	__builtin_memset(run, 0, pages * PAGE);
	heap.pages += pages;
	return run;
}

int liballoc_free_page(void *addr, size_t pages)
{
	/* flat_pages_free validates the whole range first (every page handed out,
	 * aligned, inside the heap) and changes nothing if it is not. */
	if (!heap.ready || flat_pages_free(&heap.virt, addr, pages) != 0)
		return -1;
	release((uint32_t)(uintptr_t)addr, pages);
	heap.pages -= pages;
	return 0;
}

/* Interrupts stay off from the outermost lock to the outermost unlock; only
 * that unlock restores the EFLAGS saved by that lock. An interrupt between
 * pushf and cli that takes the lock itself leaves depth as it found it. */
int liballoc_lock(void)
{
	uint32_t flags = x86_irq_save();
	if (heap.depth++ == 0)
		heap.saved = flags;
	return 0;
}

int liballoc_unlock(void)
{
	if (heap.depth == 0)
		return -1;  /* unlock without lock: refuse rather than enable interrupts */
	if (--heap.depth == 0)
		x86_irq_restore(heap.saved);
	return 0;
}

uint64_t x86_liballoc_entropy(void)
{
	/* The TSC at first use: enough to make the header check key differ per boot. */
	uint64_t t = x86_rdtsc();
	return t * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)&heap;
}
