/* vmm.c — the x86 port's page directory and page table management (see x86_vmm.h). */
/* SPDX-License-Identifier: MIT */
#include "x86_vmm.h"

#define ALIGNED(x) (((x) & (X86_PAGE_SIZE - 1)) == 0)

int x86_vmm_init(struct x86_vmm *vmm, uint32_t dir_phys, const struct x86_vmm_ops *ops)
{
	if (!ALIGNED(dir_phys) || dir_phys == 0)
		return X86_VMM_EINVAL;
	vmm->ops = *ops;
	vmm->dir_phys = dir_phys;
	vmm->dir = ops->table_ptr(ops->ctx, dir_phys);
	vmm->tables = 0;
	for (unsigned i = 0; i < 1024; i++)
		vmm->dir[i] = 0;
	return X86_VMM_OK;
}

/* The page table covering va, or NULL (none, or a 4 MiB page: *large set). */
static uint32_t *table_of(const struct x86_vmm *vmm, uint32_t va, bool *large)
{
	uint32_t pde = vmm->dir[x86_pd_index(va)];
	*large = (pde & (X86_PTE_PRESENT | X86_PDE_LARGE)) == (X86_PTE_PRESENT | X86_PDE_LARGE);
	if (!(pde & X86_PTE_PRESENT) || *large)
		return NULL;
	return vmm->ops.table_ptr(vmm->ops.ctx, pde & X86_PTE_FRAME);
}

int x86_vmm_map(struct x86_vmm *vmm, uint32_t va, uint32_t pa, uint32_t flags)
{
	bool large;
	if (!ALIGNED(va) || !ALIGNED(pa))
		return X86_VMM_EINVAL;
	uint32_t *pt = table_of(vmm, va, &large), *pde = &vmm->dir[x86_pd_index(va)];
	if (large)
		return X86_VMM_EINVAL;
	if (pt && (pt[x86_pt_index(va)] & X86_PTE_PRESENT))
		return X86_VMM_EEXIST;
	if (!pt) {
		uint32_t t = vmm->ops.table_alloc(vmm->ops.ctx);
		if (t == 0 || !ALIGNED(t))
			return X86_VMM_ENOMEM;
		pt = vmm->ops.table_ptr(vmm->ops.ctx, t);
		for (unsigned i = 0; i < 1024; i++)
			pt[i] = 0;
		vmm->tables++;
		*pde = t | X86_PTE_PRESENT | X86_PTE_WRITE;
	}
	/* Permissions are the AND of both levels: the directory entry must not be
	 * the one that denies user access. */
	*pde |= flags & X86_PTE_USER;
	pt[x86_pt_index(va)] = pa | (flags & X86_PTE_FLAGS & ~X86_PDE_LARGE) | X86_PTE_PRESENT;
	return X86_VMM_OK;
}

int x86_vmm_unmap(struct x86_vmm *vmm, uint32_t va, uint32_t *pa)
{
	bool large;
	if (!ALIGNED(va))
		return X86_VMM_EINVAL;
	uint32_t *pt = table_of(vmm, va, &large);
	if (large)
		return X86_VMM_EINVAL;
	if (!pt || !(pt[x86_pt_index(va)] & X86_PTE_PRESENT))
		return X86_VMM_ENOENT;
	if (pa)
		*pa = pt[x86_pt_index(va)] & X86_PTE_FRAME;
	pt[x86_pt_index(va)] = 0;
	vmm->ops.invalidate(vmm->ops.ctx, va);
	return X86_VMM_OK;
}

int x86_vmm_query(const struct x86_vmm *vmm, uint32_t va, uint32_t *pa, uint32_t *flags)
{
	bool large;
	uint32_t *pt = table_of(vmm, va, &large), e;
	if (large) {
		e = vmm->dir[x86_pd_index(va)];
		if (pa)
			*pa = (e & 0xFFC00000u) | (va & 0x3FFFFFu);
	} else {
		if (!pt || !((e = pt[x86_pt_index(va)]) & X86_PTE_PRESENT))
			return X86_VMM_ENOENT;
		if (pa)
			*pa = (e & X86_PTE_FRAME) | (va & (X86_PAGE_SIZE - 1));
	}
	if (flags)
		*flags = e & X86_PTE_FLAGS;
	return X86_VMM_OK;
}
