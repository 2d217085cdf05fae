/* x86_vmm.h — virtual memory manager of the x86 port: 32-bit two-level page tables with 4 KiB pages. */
/* SPDX-License-Identifier: MIT */
/*
 * One page directory of 1024 entries, each pointing to a page table of 1024
 * entries, each mapping one 4 KiB page (Intel SDM vol. 3A, 4.3). Page tables are
 * allocated on demand through the ops (so the VMM itself owns no memory and the
 * logic runs on a host with a fake physical memory), kept once created (a table
 * costs 4 KiB and saves reallocating on the next map in its 4 MiB).
 *
 * Units: virtual and physical addresses are uint32_t BYTES, 4 KiB aligned where
 * the function says so. Entries are Intel's format: frame address | flags.
 *
 * Thread-safety: none; callers serialise (the heap hooks run with interrupts
 * off). The VMM never allocates except through ops.table_alloc.
 */
#ifndef X86_VMM_H
#define X86_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define X86_PAGE_SIZE 4096u
#define X86_PTE_PRESENT  0x001u
#define X86_PTE_WRITE    0x002u
#define X86_PTE_USER     0x004u
#define X86_PTE_PWT      0x008u
#define X86_PTE_PCD      0x010u
#define X86_PTE_ACCESSED 0x020u
#define X86_PTE_DIRTY    0x040u
#define X86_PDE_LARGE    0x080u  /* 4 MiB page in a directory entry (PSE): never created here */
#define X86_PTE_GLOBAL   0x100u
#define X86_PTE_FLAGS    0xFFFu
#define X86_PTE_FRAME    0xFFFFF000u

/* Results of map / unmap / query. */
enum {
	X86_VMM_OK = 0,
	X86_VMM_ENOMEM = -1,   /* no frame for a new page table (nothing changed) */
	X86_VMM_EINVAL = -2,   /* an address is not 4 KiB aligned, or a 4 MiB page covers va */
	X86_VMM_EEXIST = -3,   /* va is already mapped (nothing changed) */
	X86_VMM_ENOENT = -4,   /* va is not mapped */
};

/* Directory index (bits 31..22) and table index (bits 21..12) of a virtual
 * address, and the inverse. O(1). */
static inline unsigned x86_pd_index(uint32_t va) { return va >> 22; }
static inline unsigned x86_pt_index(uint32_t va) { return (va >> 12) & 0x3FFu; }
static inline uint32_t x86_va(unsigned pdi, unsigned pti) { return (uint32_t)pdi << 22 | (uint32_t)pti << 12; }

/* What the VMM needs from the kernel. All are called with the caller's
 * serialisation held and must not call back into the VMM. */
struct x86_vmm_ops {
	/* Physical address of a free 4 KiB frame for a page table, or 0 if none.
	 * It must be reachable through table_ptr. */
	uint32_t (*table_alloc)(void *ctx);
	/* A pointer through which the kernel reads and writes the 4 KiB frame at
	 * physical `phys` (identity map, a direct map, a test buffer). */
	uint32_t *(*table_ptr)(void *ctx, uint32_t phys);
	/* Drop the TLB entry of virtual page `va` (invlpg). */
	void (*invalidate)(void *ctx, uint32_t va);
	void *ctx;
};

struct x86_vmm {
	uint32_t *dir;             /* the page directory, through ops.table_ptr */
	uint32_t dir_phys;         /* its physical address: what CR3 gets */
	struct x86_vmm_ops ops;
	size_t tables;             /* page tables allocated (the directory not included) */
};

/* Start a VMM on the 4 KiB frame at physical `dir_phys` (aligned), which it
 * clears: nothing mapped. Returns X86_VMM_OK or X86_VMM_EINVAL (misaligned).
 * O(1024). */
int x86_vmm_init(struct x86_vmm *vmm, uint32_t dir_phys, const struct x86_vmm_ops *ops);

/* Map the page at `va` to the frame at `pa` (both 4 KiB aligned) with `flags`
 * (X86_PTE_*; PRESENT is implied), allocating and clearing the page table if
 * the 4 MiB region has none. The directory entry gets PRESENT|WRITE, plus USER
 * when flags has it (the page table entry then decides). No TLB flush is needed:
 * the CPU never caches a not-present entry. Returns X86_VMM_OK, X86_VMM_EINVAL,
 * X86_VMM_EEXIST or X86_VMM_ENOMEM, the last three changing nothing. O(1), plus
 * O(1024) to clear a new table. */
int x86_vmm_map(struct x86_vmm *vmm, uint32_t va, uint32_t pa, uint32_t flags);

/* Unmap the page at `va` (4 KiB aligned) and invalidate its TLB entry; stores
 * the frame it mapped in *pa if pa is not NULL. The page table stays. Returns
 * X86_VMM_OK, X86_VMM_EINVAL or X86_VMM_ENOENT (nothing changed). O(1). */
int x86_vmm_unmap(struct x86_vmm *vmm, uint32_t va, uint32_t *pa);

/* Look up `va` (any byte address): stores the physical byte address it maps to
 * in *pa and the entry's flags in *flags (either may be NULL). Understands 4 MiB
 * directory entries made by someone else. Returns X86_VMM_OK or X86_VMM_ENOENT.
 * O(1). */
int x86_vmm_query(const struct x86_vmm *vmm, uint32_t va, uint32_t *pa, uint32_t *flags);

#endif
