/* hooks.c — liballoc's four hooks for an SMP x86_64 kernel: frames mapped into a higher-half range, a ticket spinlock, shootdown before frames go back (see x86_64_heap.h). */
/* SPDX-License-Identifier: MIT */
#include "x86_64_heap.h"

#include <stdbool.h>

#include "liballoc.h"
#include "x86_64_cpu.h"

#define PAGE 4096u

static struct {
	struct x86_64_heap_ops ops;
	struct flat_pages virt;   /* heap pages: free / handed to liballoc */
	size_t pages;             /* handed out now */
	size_t errors;
	bool ready;
} heap;

static struct x86_64_spinlock heap_lock = X86_64_SPINLOCK_INIT;

int x86_64_heap_init(const struct x86_64_heap_ops *ops, uintptr_t base, size_t pages, uint32_t *storage)
{
	if (!ops || !ops->frame_alloc || !ops->frame_free || !ops->map || !ops->unmap || !storage || pages == 0 ||
	    (base & (PAGE - 1)) || pages - 1 > (UINTPTR_MAX - base) / PAGE)
		return -1;
	/* Canonical, and in one half: bits 63..47 of the first and the last byte
	 * equal and all zero or all one. */
	uint64_t first = (uint64_t)base >> 47, last = ((uint64_t)base + (uint64_t)(pages - 1) * PAGE + PAGE - 1) >> 47;
	if (first != last || (first != 0 && first != 0x1FFFF))
		return -1;
	heap.ops = *ops;
	flat_pages_init(&heap.virt, base, pages, 12, storage);
	flat_pages_release(&heap.virt, base, (uint64_t)pages * PAGE);
	heap.pages = 0;
	heap.errors = 0;
	heap.ready = true;
	return 0;
}

size_t x86_64_heap_pages(void) { return heap.pages; }
size_t x86_64_heap_errors(void) { return heap.errors; }
unsigned x86_64_heap_lock_depth(void) { return x86_64_spin_depth(&heap_lock); }
const struct x86_64_spinlock *x86_64_heap_lock(void) { return &heap_lock; }

/* Unmap the first `mapped` pages at va and return their frames: a batch at a
 * time, each batch shot down on the other CPUs before its frames go back. The
 * frames wait in a static buffer: release runs under the heap lock only. */
static void release(uintptr_t va, size_t mapped)
{
	static uint64_t frames[X86_64_HEAP_BATCH];
	for (size_t done = 0; done < mapped;) {
		size_t n = mapped - done < X86_64_HEAP_BATCH ? mapped - done : X86_64_HEAP_BATCH, got = 0;
		for (size_t i = 0; i < n; i++) {
			if (heap.ops.unmap(heap.ops.ctx, va + (done + i) * PAGE, &frames[got]) == 0)
				got++;
			else
				heap.errors++;
		}
		if (heap.ops.shootdown)
			heap.ops.shootdown(heap.ops.ctx, va + done * PAGE, n);
		for (size_t i = 0; i < got; i++)
			if (heap.ops.frame_free(heap.ops.ctx, frames[i]) != 0)
				heap.errors++;
		done += n;
	}
}

void *liballoc_alloc_page(size_t pages)
{
	if (!heap.ready || (heap.ops.frames_free && heap.ops.frames_free(heap.ops.ctx) < pages))
		return NULL;
	void *run = flat_pages_alloc(&heap.virt, pages, UINTPTR_MAX);
	if (!run)
		return NULL;
	uintptr_t va = (uintptr_t)run;
	size_t i;
	for (i = 0; i < pages; i++) {
		uint64_t pa = heap.ops.frame_alloc(heap.ops.ctx);
		if (pa == 0)
			break;
		if (heap.ops.map(heap.ops.ctx, va + i * PAGE, pa) != 0) {
			if (heap.ops.frame_free(heap.ops.ctx, pa) != 0)
				heap.errors++;
			break;
		}
	}
	if (i < pages) {
		/* Out of frames or page tables: undo, so a failure leaks nothing. No
		 * other CPU was given these addresses, but one may have cached a
		 * translation speculatively: release shoots them down all the same. */
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
	 * aligned, inside the heap) and changes nothing if it is not. The range
	 * cannot be handed out again before release returns: we hold the lock. */
	if (!heap.ready || flat_pages_free(&heap.virt, addr, pages) != 0)
		return -1;
	release((uintptr_t)addr, pages);
	heap.pages -= pages;
	return 0;
}

int liballoc_lock(void)
{
	x86_64_spin_lock(&heap_lock);
	return 0;
}

int liballoc_unlock(void) { return x86_64_spin_unlock(&heap_lock); }

uint64_t x86_64_liballoc_entropy(void)
{
	/* The TSC at first use: enough to make the header check key differ per boot. */
	uint64_t t = x86_64_rdtsc();
	return t * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)&heap;
}
