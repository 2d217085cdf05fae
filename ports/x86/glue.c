/* glue.c — the heap hooks' ops implemented with the port's own PMM and VMM (see x86_port.h). */
/* SPDX-License-Identifier: MIT */
#include "x86_port.h"

static uint32_t frame_alloc(void *ctx) { return x86_pmm_alloc(((struct x86_mm *)ctx)->pmm); }

static int frame_free(void *ctx, uint32_t pa) { return x86_pmm_free(((struct x86_mm *)ctx)->pmm, pa, 1); }

static int map(void *ctx, uint32_t va, uint32_t pa)
{
	return x86_vmm_map(((struct x86_mm *)ctx)->vmm, va, pa, X86_PTE_PRESENT | X86_PTE_WRITE);
}

static int unmap(void *ctx, uint32_t va, uint32_t *pa) { return x86_vmm_unmap(((struct x86_mm *)ctx)->vmm, va, pa); }

void x86_heap_ops_init(struct x86_heap_ops *ops, struct x86_mm *mm)
{
	ops->frame_alloc = frame_alloc;
	ops->frame_free = frame_free;
	ops->map = map;
	ops->unmap = unmap;
	ops->ctx = mm;
}
