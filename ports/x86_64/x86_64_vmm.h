/* x86_64_vmm.h — virtual memory manager of the x86_64 port: 4-level page tables (PML4, PDPT, PD, PT) with 4 KiB pages. */
/* SPDX-License-Identifier: MIT */
/*
 * A 48-bit virtual address is split 9/9/9/9/12 (Intel SDM vol. 3A, 4.5): the
 * PML4 entry points to a page-directory-pointer table, its entry to a page
 * directory, its entry to a page table, whose entry maps one 4 KiB page. The
 * three lower levels are allocated on demand through the ops (so the VMM owns
 * no memory and the logic runs on a host over a fake physical memory) and are
 * kept once created (a table costs 4 KiB; the next map in its range reuses it).
 *
 * Units: virtual addresses are uintptr_t BYTES and must be canonical (bits 63..47
 * all equal: the low half up to 0x00007FFFFFFFFFFF, the high half from
 * 0xFFFF800000000000); physical addresses are uint64_t BYTES below 2^52. Entries
 * are Intel's format: frame address | flags, with NX in bit 63.
 *
 * The VMM creates only 4 KiB mappings. It reads 2 MiB and 1 GiB pages (PS bit
 * in a PD or PDPT entry) made by someone else — a boot loader's tables — in
 * query, and refuses to map or unmap inside them.
 *
 * TLB: unmap drops the entry from THIS CPU's TLB (ops.invalidate, invlpg). On a
 * multiprocessor the other CPUs may still hold it: whoever unmaps memory other
 * CPUs touched must also shoot the range down on them (x86_64_tlb.h) before
 * reusing its frames. Mapping needs no flush: a CPU never caches a not-present
 * entry.
 *
 * Thread-safety: none; callers serialise (the heap hooks run under the heap
 * lock). The VMM never allocates except through ops.table_alloc.
 */
#ifndef X86_64_VMM_H
#define X86_64_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define X86_64_PAGE_SIZE 4096u
#define X86_64_PTE_PRESENT  0x001ull
#define X86_64_PTE_WRITE    0x002ull
#define X86_64_PTE_USER     0x004ull
#define X86_64_PTE_PWT      0x008ull
#define X86_64_PTE_PCD      0x010ull
#define X86_64_PTE_ACCESSED 0x020ull
#define X86_64_PTE_DIRTY    0x040ull
#define X86_64_PTE_LARGE    0x080ull  /* PS: a 2 MiB (PD) or 1 GiB (PDPT) page; never created here */
#define X86_64_PTE_GLOBAL   0x100ull
#define X86_64_PTE_NX       (1ull << 63)  /* no execute (needs EFER.NXE) */
#define X86_64_PTE_FRAME    0x000FFFFFFFFFF000ull
/* The flag bits map() accepts and stores in a page table entry. */
#define X86_64_PTE_FLAGS    (0xFFFull | X86_64_PTE_NX)
#define X86_64_PHYS_LIMIT   (1ull << 52)

/* Results of map / unmap / query. */
enum {
	X86_64_VMM_OK = 0,
	X86_64_VMM_ENOMEM = -1,   /* no frame for a table: nothing mapped (tables made on the way stay, empty) */
	X86_64_VMM_EINVAL = -2,   /* misaligned or non-canonical address, physical address >= 2^52,
	                             or a 2 MiB / 1 GiB page covers va */
	X86_64_VMM_EEXIST = -3,   /* va is already mapped (nothing changed) */
	X86_64_VMM_ENOENT = -4,   /* va is not mapped */
};

/* Table indices of a virtual address: level 4 (PML4, bits 47..39), 3 (PDPT,
 * 38..30), 2 (PD, 29..21), 1 (PT, 20..12). O(1). */
static inline unsigned x86_64_index(uintptr_t va, unsigned level)
{
	return (unsigned)(va >> (12 + 9 * (level - 1))) & 511u;
}

/* The canonical virtual address of the page at indices (l4, l3, l2, l1): bit 47
 * copied into bits 63..48. O(1). */
static inline uintptr_t x86_64_va(unsigned l4, unsigned l3, unsigned l2, unsigned l1)
{
	uint64_t va = (uint64_t)l4 << 39 | (uint64_t)l3 << 30 | (uint64_t)l2 << 21 | (uint64_t)l1 << 12;
	return (uintptr_t)(va & (1ull << 47) ? va | 0xFFFF000000000000ull : va);
}

/* Is va canonical (bits 63..47 all zero or all one)? O(1). */
static inline bool x86_64_canonical(uintptr_t va)
{
	uint64_t top = (uint64_t)va >> 47;
	return top == 0 || top == 0x1FFFF;
}

/* What the VMM needs from the kernel. Called with the caller's serialisation
 * held; they must not call back into the VMM. */
struct x86_64_vmm_ops {
	/* Physical address of a free 4 KiB frame for a table (any content: the VMM
	 * clears it), or 0 if none. It must be reachable through table_ptr. */
	uint64_t (*table_alloc)(void *ctx);
	/* A pointer through which the kernel reads and writes the 4 KiB frame at
	 * physical `phys` (a direct map of physical memory, a test buffer). */
	uint64_t *(*table_ptr)(void *ctx, uint64_t phys);
	/* Drop this CPU's TLB entry of virtual page `va` (invlpg). */
	void (*invalidate)(void *ctx, uintptr_t va);
	void *ctx;
};

struct x86_64_vmm {
	uint64_t *pml4;            /* the PML4, through ops.table_ptr */
	uint64_t pml4_phys;        /* its physical address: what CR3 gets */
	struct x86_64_vmm_ops ops;
	size_t tables;             /* PDPTs, PDs and PTs allocated (the PML4 not included) */
};

/* Start a VMM on the 4 KiB frame at physical `pml4_phys` (aligned, non-zero),
 * which it clears: nothing mapped. Returns X86_64_VMM_OK or X86_64_VMM_EINVAL.
 * O(512). */
int x86_64_vmm_init(struct x86_64_vmm *vmm, uint64_t pml4_phys, const struct x86_64_vmm_ops *ops);

/* Map the page at `va` to the frame at `pa` (both 4 KiB aligned) with `flags`
 * (X86_64_PTE_*; PRESENT is implied, LARGE is ignored), allocating and clearing
 * the PDPT, PD and PT on the way if missing. Upper-level entries get
 * PRESENT|WRITE, plus USER when flags has it (the page table entry then
 * decides; NX is left to the last level). Returns X86_64_VMM_OK, or
 * X86_64_VMM_EINVAL / X86_64_VMM_EEXIST / X86_64_VMM_ENOMEM with nothing mapped
 * (after ENOMEM, tables allocated on the way stay linked and empty, counted in
 * vmm->tables, and serve the next map). O(1), plus O(512) per new table. */
int x86_64_vmm_map(struct x86_64_vmm *vmm, uintptr_t va, uint64_t pa, uint64_t flags);

/* Unmap the page at `va` (4 KiB aligned, canonical), drop it from this CPU's TLB
 * (ops.invalidate) and store the frame it mapped in *pa if pa is not NULL. The
 * tables stay. Returns X86_64_VMM_OK, X86_64_VMM_EINVAL or X86_64_VMM_ENOENT
 * (nothing changed). O(1). Other CPUs: see the top of this file. */
int x86_64_vmm_unmap(struct x86_64_vmm *vmm, uintptr_t va, uint64_t *pa);

/* Look up `va` (any byte address): stores the physical byte address it maps to
 * in *pa and the last-level entry's flags (X86_64_PTE_FLAGS bits) in *flags;
 * either may be NULL. Understands 2 MiB and 1 GiB pages. Returns X86_64_VMM_OK,
 * X86_64_VMM_ENOENT (not mapped) or X86_64_VMM_EINVAL (non-canonical). O(1). */
int x86_64_vmm_query(const struct x86_64_vmm *vmm, uintptr_t va, uint64_t *pa, uint64_t *flags);

#endif
