/* glue.c — the x86_64 heap hooks' ops implemented with the shared PMM, the 4-level VMM and the TLB shootdown (see x86_64_port.h). */
/* SPDX-License-Identifier: MIT */
#include "x86_64_port.h"

static uint64_t frame_alloc(void *ctx) { return x86_pmm_alloc(((struct x86_64_mm *)ctx)->pmm); }

static int frame_free(void *ctx, uint64_t pa) { return x86_pmm_free(((struct x86_64_mm *)ctx)->pmm, pa, 1); }

static int map(void *ctx, uintptr_t va, uint64_t pa)
{
	return x86_64_vmm_map(((struct x86_64_mm *)ctx)->vmm, va, pa, X86_64_PTE_WRITE | X86_64_PTE_NX);
}

static int unmap(void *ctx, uintptr_t va, uint64_t *pa) { return x86_64_vmm_unmap(((struct x86_64_mm *)ctx)->vmm, va, pa); }

static void shootdown(void *ctx, uintptr_t va, size_t pages)
{
	(void)ctx;
	x86_64_tlb_shootdown(va, pages);
}

static size_t frames_free(void *ctx) { return x86_pmm_free_frames(((struct x86_64_mm *)ctx)->pmm); }

void x86_64_heap_ops_init(struct x86_64_heap_ops *ops, struct x86_64_mm *mm)
{
	ops->frame_alloc = frame_alloc;
	ops->frame_free = frame_free;
	ops->map = map;
	ops->unmap = unmap;
	ops->shootdown = mm->smp ? shootdown : 0;
	ops->frames_free = frames_free;
	ops->ctx = mm;
}
