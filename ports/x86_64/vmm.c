/* vmm.c — the x86_64 port's 4-level page table management (see x86_64_vmm.h). */
/* SPDX-License-Identifier: MIT */
#include "x86_64_vmm.h"

#define ALIGNED(x) (((x) & (X86_64_PAGE_SIZE - 1)) == 0)
#define UPPER (X86_64_PTE_PRESENT | X86_64_PTE_WRITE)
#define LARGE_1G_FRAME 0x000FFFFFC0000000ull
#define LARGE_2M_FRAME 0x000FFFFFFFE00000ull

/* Entries are published with release stores: a table is cleared before the entry
 * pointing to it becomes visible to another CPU's page walker. */
static inline void set_entry(uint64_t *e, uint64_t v) { __atomic_store_n(e, v, __ATOMIC_RELEASE); }

static uint64_t *table_at(const struct x86_64_vmm *vmm, uint64_t entry)
{
	return vmm->ops.table_ptr(vmm->ops.ctx, entry & X86_64_PTE_FRAME);
}

int x86_64_vmm_init(struct x86_64_vmm *vmm, uint64_t pml4_phys, const struct x86_64_vmm_ops *ops)
{
	if (!ALIGNED(pml4_phys) || pml4_phys == 0 || pml4_phys >= X86_64_PHYS_LIMIT)
		return X86_64_VMM_EINVAL;
	vmm->ops = *ops;
	vmm->pml4_phys = pml4_phys;
	vmm->pml4 = ops->table_ptr(ops->ctx, pml4_phys);
	vmm->tables = 0;
	for (unsigned i = 0; i < 512; i++)
		vmm->pml4[i] = 0;
	return X86_64_VMM_OK;
}

/* Walk from the PML4 towards va's page table entry, without creating anything.
 * Stops at the first level whose entry is not present or is a large page:
 * returns that entry and stores its level (4..2) in *level; else returns the
 * page table entry (present or not) with *level = 1. */
static uint64_t *walk(const struct x86_64_vmm *vmm, uintptr_t va, unsigned *level)
{
	uint64_t *table = vmm->pml4;
	for (unsigned l = 4; l > 1; l--) {
		uint64_t *e = &table[x86_64_index(va, l)];
		if (!(*e & X86_64_PTE_PRESENT) || (l < 4 && (*e & X86_64_PTE_LARGE))) {
			*level = l;
			return e;
		}
		table = table_at(vmm, *e);
	}
	*level = 1;
	return &table[x86_64_index(va, 1)];
}

static bool is_large(uint64_t e, unsigned level) { return level < 4 && level > 1 && (e & X86_64_PTE_PRESENT) && (e & X86_64_PTE_LARGE); }

int x86_64_vmm_map(struct x86_64_vmm *vmm, uintptr_t va, uint64_t pa, uint64_t flags)
{
	unsigned level;
	if (!ALIGNED(va) || !ALIGNED(pa) || !x86_64_canonical(va) || pa >= X86_64_PHYS_LIMIT)
		return X86_64_VMM_EINVAL;
	uint64_t *e = walk(vmm, va, &level);
	if (is_large(*e, level))
		return X86_64_VMM_EINVAL;
	if (level == 1 && (*e & X86_64_PTE_PRESENT))
		return X86_64_VMM_EEXIST;
	/* Create the missing tables top down. The USER bit goes on the upper
	 * entries only once the page is mapped, so a failure changes no permission. */
	uint64_t *upper[3], *table = vmm->pml4;
	for (unsigned l = 4; l > 1; l--) {
		uint64_t *u = &table[x86_64_index(va, l)];
		if (!(*u & X86_64_PTE_PRESENT)) {
			uint64_t t = vmm->ops.table_alloc(vmm->ops.ctx);
			if (t == 0 || !ALIGNED(t) || t >= X86_64_PHYS_LIMIT)
				return X86_64_VMM_ENOMEM;
			uint64_t *fresh = vmm->ops.table_ptr(vmm->ops.ctx, t);
			for (unsigned i = 0; i < 512; i++)
				fresh[i] = 0;
			vmm->tables++;
			set_entry(u, t | UPPER);
		}
		upper[4 - l] = u;
		table = table_at(vmm, *u);
	}
	set_entry(&table[x86_64_index(va, 1)],
		  pa | (flags & X86_64_PTE_FLAGS & ~X86_64_PTE_LARGE) | X86_64_PTE_PRESENT);
	if (flags & X86_64_PTE_USER)
		for (unsigned i = 0; i < 3; i++)
			set_entry(upper[i], *upper[i] | X86_64_PTE_USER);
	return X86_64_VMM_OK;
}

int x86_64_vmm_unmap(struct x86_64_vmm *vmm, uintptr_t va, uint64_t *pa)
{
	unsigned level;
	if (!ALIGNED(va) || !x86_64_canonical(va))
		return X86_64_VMM_EINVAL;
	uint64_t *e = walk(vmm, va, &level);
	if (is_large(*e, level))
		return X86_64_VMM_EINVAL;
	if (level != 1 || !(*e & X86_64_PTE_PRESENT))
		return X86_64_VMM_ENOENT;
	if (pa)
		*pa = *e & X86_64_PTE_FRAME;
	set_entry(e, 0);
	vmm->ops.invalidate(vmm->ops.ctx, va);
	return X86_64_VMM_OK;
}

int x86_64_vmm_query(const struct x86_64_vmm *vmm, uintptr_t va, uint64_t *pa, uint64_t *flags)
{
	unsigned level;
	if (!x86_64_canonical(va))
		return X86_64_VMM_EINVAL;
	uint64_t *ep = walk(vmm, va, &level), e = *ep, at;
	if (!(e & X86_64_PTE_PRESENT))
		return X86_64_VMM_ENOENT;
	if (level == 3)
		at = (e & LARGE_1G_FRAME) | (va & ((1ull << 30) - 1));
	else if (level == 2)
		at = (e & LARGE_2M_FRAME) | (va & ((1ull << 21) - 1));
	else
		at = (e & X86_64_PTE_FRAME) | (va & (X86_64_PAGE_SIZE - 1));
	if (pa)
		*pa = at;
	if (flags)
		*flags = e & X86_64_PTE_FLAGS;
	return X86_64_VMM_OK;
}
