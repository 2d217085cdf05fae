/* hooks.c — liballoc's hooks for a paged i686 kernel: frames mapped into a heap virtual range, cli as the lock (see x86_heap.h). */
/* SPDX-License-Identifier: MIT */
#include "x86_heap.h"

#include <stdbool.h>

#include "liballoc.h"
#include "x86_cpu.h"

#define PAGE 4096u

/* The kernel heap's space: the one the four global hooks use. */
static struct x86_heap_space kernel_space;

int x86_heap_space_init(struct x86_heap_space *s, const struct x86_heap_ops *ops, uintptr_t base, size_t pages,
			uint32_t *storage)
{
	if (!s || !ops || !ops->frame_alloc || !ops->frame_free || !ops->map || !ops->unmap || !storage || pages == 0 ||
	    (base & (PAGE - 1)) || (uint64_t)base + (uint64_t)pages * PAGE > (uint64_t)1 << 32)
		return -1;
	s->ops = *ops;
	flat_pages_init(&s->virt, base, pages, 12, storage);
	flat_pages_release(&s->virt, base, (uint64_t)pages * PAGE);
	s->pages = 0;
	s->errors = 0;
	s->depth = 0;
	s->saved = 0;
	s->ready = true;
	return 0;
}

size_t x86_heap_space_pages(const struct x86_heap_space *s) { return s->pages; }
size_t x86_heap_space_errors(const struct x86_heap_space *s) { return s->errors; }
unsigned x86_heap_space_lock_depth(const struct x86_heap_space *s) { return s->depth; }

/* Unmap the first `mapped` pages at va and return their frames. */
static void release(struct x86_heap_space *s, uint32_t va, size_t mapped)
{
	for (size_t i = 0; i < mapped; i++) {
		uint32_t pa;
		if (s->ops.unmap(s->ops.ctx, va + (uint32_t)i * PAGE, &pa) != 0 || s->ops.frame_free(s->ops.ctx, pa) != 0)
			s->errors++;
	}
}

static void *space_alloc(void *ctx, size_t pages)
{
	struct x86_heap_space *s = ctx;
	if (!s->ready)
		return NULL;
	void *run = flat_pages_alloc(&s->virt, pages, UINTPTR_MAX);
	if (!run)
		return NULL;
	uint32_t va = (uint32_t)(uintptr_t)run;
	size_t i;
	for (i = 0; i < pages; i++) {
		uint32_t pa = s->ops.frame_alloc(s->ops.ctx);
		if (pa == 0)
			break;
		if (s->ops.map(s->ops.ctx, va + (uint32_t)i * PAGE, pa) != 0) {
			if (s->ops.frame_free(s->ops.ctx, pa) != 0)
				s->errors++;
			break;
		}
	}
	if (i < pages) {
		/* Out of frames or page tables: undo, so a failure leaks nothing. */
		release(s, va, i);
		if (flat_pages_free(&s->virt, run, pages) != 0)
			s->errors++;
		return NULL;
	}
	/* Zero the pages (LIBALLOC_PAGES_ZEROED: calloc skips clearing them): a frame
	 * must not carry a previous owner's data into the heap. */
	__builtin_memset(run, 0, pages * PAGE);
	s->pages += pages;
	return run;
}

static int space_free(void *ctx, void *addr, size_t pages)
{
	struct x86_heap_space *s = ctx;
	/* flat_pages_free validates the whole range first (every page handed out,
	 * aligned, inside the range) and changes nothing if it is not. */
	if (!s->ready || flat_pages_free(&s->virt, addr, pages) != 0)
		return -1;
	release(s, (uint32_t)(uintptr_t)addr, pages);
	s->pages -= pages;
	return 0;
}

/* Interrupts stay off from the outermost lock to the outermost unlock; only
 * that unlock restores the EFLAGS saved by that lock. An interrupt between
 * pushf and cli that takes the lock itself leaves depth as it found it. */
static int space_lock(void *ctx)
{
	struct x86_heap_space *s = ctx;
	uint32_t flags = x86_irq_save();
	if (s->depth++ == 0)
		s->saved = flags;
	return 0;
}

static int space_unlock(void *ctx)
{
	struct x86_heap_space *s = ctx;
	if (s->depth == 0)
		return -1;  /* unlock without lock: refuse rather than enable interrupts */
	if (--s->depth == 0)
		x86_irq_restore(s->saved);
	return 0;
}

struct liballoc_port x86_heap_space_port(struct x86_heap_space *s)
{
	struct liballoc_port port = {s, space_alloc, space_free, space_lock, space_unlock};
	return port;
}

/* ---- the kernel heap: the four global hooks over kernel_space ---------------- */

int x86_heap_init(const struct x86_heap_ops *ops, uintptr_t base, size_t pages, uint32_t *storage)
{
	return x86_heap_space_init(&kernel_space, ops, base, pages, storage);
}

size_t x86_heap_pages(void) { return kernel_space.pages; }
size_t x86_heap_errors(void) { return kernel_space.errors; }
unsigned x86_heap_lock_depth(void) { return kernel_space.depth; }

void *liballoc_alloc_page(size_t pages) { return space_alloc(&kernel_space, pages); }
int liballoc_free_page(void *addr, size_t pages) { return space_free(&kernel_space, addr, pages); }
int liballoc_lock(void) { return space_lock(&kernel_space); }
int liballoc_unlock(void) { return space_unlock(&kernel_space); }

uint64_t x86_liballoc_entropy(void)
{
	/* The TSC at first use: enough to make the header check key differ per boot. */
	uint64_t t = x86_rdtsc();
	return t * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)&kernel_space;
}
