/* test_vmm.c — host tests of the x86_64 port's 4-level VMM over a fake physical memory: indices, tables on demand, map/unmap/query, large pages. */
/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "x86_64_vmm.h"

/* Fake physical memory: FRAMES frames at physical PHYS_BASE (above 4 GiB, so
 * every table address needs the 64-bit entry format), handed out as tables in
 * order, each full of garbage the VMM must clear; table_alloc can be made to
 * fail after a number of allocations. */
#define PHYS_BASE 0x0000012340000000ull
#define FRAMES 64
static uint64_t phys[FRAMES][512];
static unsigned next_frame, allocs_left;
static uintptr_t invalidated[64];
static unsigned n_invalidated;

static uint64_t table_alloc(void *ctx)
{
	assert_ptr_equal(ctx, phys);
	if (allocs_left == 0 || next_frame == FRAMES)
		return 0;
	allocs_left--;
	memset(phys[next_frame], 0xFF, sizeof phys[0]);
	return PHYS_BASE + (uint64_t)next_frame++ * X86_64_PAGE_SIZE;
}

static uint64_t *table_ptr(void *ctx, uint64_t pa)
{
	(void)ctx;
	assert_true(pa >= PHYS_BASE && pa < PHYS_BASE + FRAMES * X86_64_PAGE_SIZE && pa % X86_64_PAGE_SIZE == 0);
	return phys[(pa - PHYS_BASE) / X86_64_PAGE_SIZE];
}

static void invalidate(void *ctx, uintptr_t va)
{
	(void)ctx;
	assert_true(n_invalidated < 64);
	invalidated[n_invalidated++] = va;
}

static const struct x86_64_vmm_ops ops = {table_alloc, table_ptr, invalidate, phys};

/* A VMM with its PML4 in frame 0 of the fake memory. */
static int setup(void **state)
{
	static struct x86_64_vmm vmm;
	next_frame = 0;
	allocs_left = 1;
	n_invalidated = 0;
	uint64_t root = table_alloc(phys);
	assert_int_equal(x86_64_vmm_init(&vmm, root, &ops), X86_64_VMM_OK);
	allocs_left = 1000;
	*state = &vmm;
	return 0;
}

/* The MMU's walk, written independently of vmm.c: the final entry for va, or 0
 * when a level is not present. */
static uint64_t mmu_entry(const struct x86_64_vmm *vmm, uintptr_t va)
{
	uint64_t e = vmm->pml4_phys | X86_64_PTE_PRESENT;
	for (int shift = 39; shift >= 12; shift -= 9) {
		if (!(e & X86_64_PTE_PRESENT))
			return 0;
		e = table_ptr(NULL, e & X86_64_PTE_FRAME)[(va >> shift) & 511];
	}
	return e;
}

static void test_indices(void **state)
{
	(void)state;
	uintptr_t va = 0xFFFF8000DEADB000ull;
	assert_int_equal(x86_64_index(va, 4), 256);
	assert_int_equal(x86_64_index(va, 3), 3);
	assert_int_equal(x86_64_index(va, 2), 0x0F5);
	assert_int_equal(x86_64_index(va, 1), 0x0DB);
	assert_int_equal(x86_64_index(0x00007FFFFFFFF000ull, 4), 255);
	assert_int_equal(x86_64_index(0xFFFFFFFF80000000ull, 4), 511);
	assert_int_equal(x86_64_index(0xFFFFFFFF80000000ull, 3), 510);
	assert_true(x86_64_va(256, 3, 0x0F5, 0x0DB) == va);
	assert_true(x86_64_va(255, 511, 511, 511) == 0x00007FFFFFFFF000ull);
	assert_true(x86_64_va(511, 510, 0, 0) == 0xFFFFFFFF80000000ull);
	assert_true(x86_64_va(0, 0, 0, 1) == 0x1000);
	for (uint64_t v = 0x1000; v < (1ull << 47); v = v * 3 + 0x5000)
		assert_true(x86_64_va(x86_64_index(v, 4), x86_64_index(v, 3), x86_64_index(v, 2), x86_64_index(v, 1)) ==
			    (v & ~0xFFFull));
	assert_true(x86_64_canonical(0) && x86_64_canonical(0x00007FFFFFFFFFFFull));
	assert_true(x86_64_canonical(0xFFFF800000000000ull) && x86_64_canonical(UINTPTR_MAX));
	assert_false(x86_64_canonical(0x0000800000000000ull) || x86_64_canonical(0xFFFF7FFFFFFFFFFFull));
	assert_false(x86_64_canonical(0x8000000000000000ull));
}

static void test_init(void **state)
{
	struct x86_64_vmm *vmm = *state, other;
	for (unsigned i = 0; i < 512; i++)
		assert_true(vmm->pml4[i] == 0);
	assert_int_equal(vmm->tables, 0);
	assert_int_equal(x86_64_vmm_init(&other, PHYS_BASE + 8, &ops), X86_64_VMM_EINVAL);
	assert_int_equal(x86_64_vmm_init(&other, 0, &ops), X86_64_VMM_EINVAL);
	assert_int_equal(x86_64_vmm_init(&other, X86_64_PHYS_LIMIT, &ops), X86_64_VMM_EINVAL);
}

static void test_tables_on_demand(void **state)
{
	struct x86_64_vmm *vmm = *state;
	uintptr_t va = 0xFFFFC00000000000ull;
	uint64_t pa = 0x0000000FEDC00000ull;
	assert_int_equal(x86_64_vmm_map(vmm, va, pa, X86_64_PTE_WRITE | X86_64_PTE_NX), X86_64_VMM_OK);
	assert_int_equal(vmm->tables, 3);  /* PDPT, PD, PT */
	assert_true(mmu_entry(vmm, va) == (pa | X86_64_PTE_PRESENT | X86_64_PTE_WRITE | X86_64_PTE_NX));
	/* Upper levels: present and writable, no user, no NX (the last level decides). */
	uint64_t e4 = vmm->pml4[x86_64_index(va, 4)];
	assert_true((e4 & ~X86_64_PTE_FRAME) == (X86_64_PTE_PRESENT | X86_64_PTE_WRITE));
	/* The fresh tables were cleared: the other 511 entries of each are empty. */
	assert_true(mmu_entry(vmm, va + 0x1000) == 0);
	assert_true(mmu_entry(vmm, va + (1ull << 21)) == 0);
	/* Same page table: no new table. */
	assert_int_equal(x86_64_vmm_map(vmm, va + 511 * 0x1000ull, pa + 0x1000, X86_64_PTE_WRITE), X86_64_VMM_OK);
	assert_int_equal(vmm->tables, 3);
	/* Next 2 MiB: a new PT. Next 1 GiB: a PD and a PT. Next 512 GiB: all three. */
	assert_int_equal(x86_64_vmm_map(vmm, va + (1ull << 21), pa, 0), X86_64_VMM_OK);
	assert_int_equal(vmm->tables, 4);
	assert_int_equal(x86_64_vmm_map(vmm, va + (1ull << 30), pa, 0), X86_64_VMM_OK);
	assert_int_equal(vmm->tables, 6);
	assert_int_equal(x86_64_vmm_map(vmm, va + (1ull << 39), pa, 0), X86_64_VMM_OK);
	assert_int_equal(vmm->tables, 9);
	/* The low half works the same. */
	assert_int_equal(x86_64_vmm_map(vmm, 0x1000, 0x2000, X86_64_PTE_WRITE), X86_64_VMM_OK);
	assert_int_equal(vmm->tables, 12);
	assert_true(mmu_entry(vmm, 0x1000) == (0x2000 | X86_64_PTE_PRESENT | X86_64_PTE_WRITE));
	assert_int_equal(n_invalidated, 0);  /* mapping needs no flush */
}

static void test_map_refusals(void **state)
{
	struct x86_64_vmm *vmm = *state;
	uintptr_t va = 0xFFFF900000000000ull;
	assert_int_equal(x86_64_vmm_map(vmm, va + 8, 0x1000, 0), X86_64_VMM_EINVAL);
	assert_int_equal(x86_64_vmm_map(vmm, va, 0x1008, 0), X86_64_VMM_EINVAL);
	assert_int_equal(x86_64_vmm_map(vmm, 0x0000800000000000ull, 0x1000, 0), X86_64_VMM_EINVAL);
	assert_int_equal(x86_64_vmm_map(vmm, va, X86_64_PHYS_LIMIT, 0), X86_64_VMM_EINVAL);
	assert_int_equal(vmm->tables, 0);
	assert_int_equal(x86_64_vmm_map(vmm, va, 0x5000, X86_64_PTE_WRITE), X86_64_VMM_OK);
	assert_int_equal(x86_64_vmm_map(vmm, va, 0x6000, 0), X86_64_VMM_EEXIST);
	assert_true(mmu_entry(vmm, va) == (0x5000 | X86_64_PTE_PRESENT | X86_64_PTE_WRITE));
	/* The large-page flag never makes it into a 4 KiB entry. */
	assert_int_equal(x86_64_vmm_map(vmm, va + 0x1000, 0x7000, X86_64_PTE_LARGE | X86_64_PTE_WRITE), X86_64_VMM_OK);
	assert_true(mmu_entry(vmm, va + 0x1000) == (0x7000 | X86_64_PTE_PRESENT | X86_64_PTE_WRITE));
}

/* Out of table frames at each level: nothing mapped, no permission changed,
 * the tables made on the way stay (counted) and serve the next map. */
static void test_enomem(void **state)
{
	struct x86_64_vmm *vmm = *state;
	uintptr_t va = 0xFFFFA00000000000ull;
	for (unsigned budget = 0; budget < 3; budget++) {
		allocs_left = budget;
		assert_int_equal(x86_64_vmm_map(vmm, va, 0x9000, X86_64_PTE_USER | X86_64_PTE_WRITE), X86_64_VMM_ENOMEM);
		assert_int_equal(vmm->tables, budget);
		assert_true(mmu_entry(vmm, va) == 0);
		assert_false(vmm->pml4[x86_64_index(va, 4)] & X86_64_PTE_USER);
		assert_int_equal(x86_64_vmm_query(vmm, va, NULL, NULL), X86_64_VMM_ENOENT);
		/* Restart from an empty slot each time, so each budget fails one level deeper. */
		vmm->pml4[x86_64_index(va, 4)] = 0;
		vmm->tables = 0;
	}
	allocs_left = 2;
	assert_int_equal(x86_64_vmm_map(vmm, va, 0x9000, 0), X86_64_VMM_ENOMEM);
	allocs_left = 1;  /* the PDPT and PD stay: one more table completes the walk */
	assert_int_equal(x86_64_vmm_map(vmm, va, 0x9000, X86_64_PTE_USER), X86_64_VMM_OK);
	assert_int_equal(vmm->tables, 3);
	/* USER reaches every level once the page is mapped. */
	uint64_t e = vmm->pml4[x86_64_index(va, 4)];
	for (unsigned l = 3; l >= 1; l--) {
		assert_true(e & X86_64_PTE_USER);
		e = table_ptr(NULL, e & X86_64_PTE_FRAME)[x86_64_index(va, l)];
	}
	assert_true(e == (0x9000 | X86_64_PTE_PRESENT | X86_64_PTE_USER));
}

static void test_unmap(void **state)
{
	struct x86_64_vmm *vmm = *state;
	uintptr_t va = 0xFFFFFFFF80200000ull;
	uint64_t pa = 0x000FFFFFFFFFF000ull;  /* the highest frame below 2^52 */
	assert_int_equal(x86_64_vmm_map(vmm, va, pa, X86_64_PTE_WRITE | X86_64_PTE_NX), X86_64_VMM_OK);
	size_t tables = vmm->tables;
	uint64_t got = 0;
	assert_int_equal(x86_64_vmm_unmap(vmm, va, &got), X86_64_VMM_OK);
	assert_true(got == pa);
	assert_int_equal(n_invalidated, 1);
	assert_true(invalidated[0] == va);
	assert_true(mmu_entry(vmm, va) == 0);
	assert_int_equal(vmm->tables, tables);  /* tables stay */
	assert_int_equal(x86_64_vmm_unmap(vmm, va, &got), X86_64_VMM_ENOENT);
	assert_int_equal(x86_64_vmm_unmap(vmm, va + 0x1000, NULL), X86_64_VMM_ENOENT);
	assert_int_equal(x86_64_vmm_unmap(vmm, 0x0000700000000000ull, NULL), X86_64_VMM_ENOENT);
	assert_int_equal(x86_64_vmm_unmap(vmm, va + 4, NULL), X86_64_VMM_EINVAL);
	assert_int_equal(x86_64_vmm_unmap(vmm, 0x0000800000000000ull, NULL), X86_64_VMM_EINVAL);
	assert_int_equal(n_invalidated, 1);
	/* Mapped again in the same tables. */
	assert_int_equal(x86_64_vmm_map(vmm, va, 0x3000, 0), X86_64_VMM_OK);
	assert_int_equal(vmm->tables, tables);
	assert_int_equal(x86_64_vmm_unmap(vmm, va, NULL), X86_64_VMM_OK);
}

static void test_query(void **state)
{
	struct x86_64_vmm *vmm = *state;
	uintptr_t va = 0xFFFF800000000000ull + 0x123456000ull;
	uint64_t pa, flags;
	assert_int_equal(x86_64_vmm_query(vmm, va, &pa, &flags), X86_64_VMM_ENOENT);
	assert_int_equal(x86_64_vmm_map(vmm, va, 0x0000004000000000ull, X86_64_PTE_WRITE | X86_64_PTE_NX | X86_64_PTE_PCD),
			 X86_64_VMM_OK);
	assert_int_equal(x86_64_vmm_query(vmm, va + 0xABC, &pa, &flags), X86_64_VMM_OK);
	assert_true(pa == 0x0000004000000ABCull);
	assert_true(flags == (X86_64_PTE_PRESENT | X86_64_PTE_WRITE | X86_64_PTE_NX | X86_64_PTE_PCD));
	assert_int_equal(x86_64_vmm_query(vmm, va + 0xFFF, NULL, NULL), X86_64_VMM_OK);
	assert_int_equal(x86_64_vmm_query(vmm, va + 0x1000, &pa, NULL), X86_64_VMM_ENOENT);
	assert_int_equal(x86_64_vmm_query(vmm, 0x0000800000000000ull, &pa, NULL), X86_64_VMM_EINVAL);
}

/* 2 MiB and 1 GiB pages made by someone else (a boot loader): query reads them,
 * map and unmap inside them are refused. */
static void test_large_pages(void **state)
{
	struct x86_64_vmm *vmm = *state;
	uintptr_t base = 0xFFFFFFFF80000000ull;
	assert_int_equal(x86_64_vmm_map(vmm, base + (2ull << 20), 0x1000, 0), X86_64_VMM_OK);  /* PDPT, PD, PT */
	uint64_t *pdpt = table_ptr(NULL, vmm->pml4[511] & X86_64_PTE_FRAME);
	uint64_t *pd = table_ptr(NULL, pdpt[510] & X86_64_PTE_FRAME);
	pd[0] = 0x0000000200000000ull | X86_64_PTE_PRESENT | X86_64_PTE_WRITE | X86_64_PTE_LARGE;  /* 2 MiB at 8 GiB */
	pdpt[511] = 0x0000000040000000ull | X86_64_PTE_PRESENT | X86_64_PTE_LARGE | X86_64_PTE_NX;  /* 1 GiB at 1 GiB */
	uint64_t pa, flags;
	assert_int_equal(x86_64_vmm_query(vmm, base + 0x12345, &pa, &flags), X86_64_VMM_OK);
	assert_true(pa == 0x0000000200012345ull);
	assert_true(flags == (X86_64_PTE_PRESENT | X86_64_PTE_WRITE | X86_64_PTE_LARGE));
	assert_int_equal(x86_64_vmm_query(vmm, 0xFFFFFFFFC0000000ull + 0x3FFFFFFF, &pa, &flags), X86_64_VMM_OK);
	assert_true(pa == 0x000000007FFFFFFFull);
	assert_true(flags & X86_64_PTE_NX);
	assert_int_equal(x86_64_vmm_map(vmm, base + 0x1000, 0x1000, 0), X86_64_VMM_EINVAL);
	assert_int_equal(x86_64_vmm_unmap(vmm, base + 0x1000, NULL), X86_64_VMM_EINVAL);
	assert_int_equal(x86_64_vmm_map(vmm, 0xFFFFFFFFC0200000ull, 0x1000, 0), X86_64_VMM_EINVAL);
	assert_int_equal(x86_64_vmm_unmap(vmm, 0xFFFFFFFFC0200000ull, NULL), X86_64_VMM_EINVAL);
	/* The 4 KiB page next to them is unaffected. */
	assert_int_equal(x86_64_vmm_query(vmm, base + (2ull << 20), &pa, NULL), X86_64_VMM_OK);
	assert_true(pa == 0x1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_indices),
		cmocka_unit_test_setup(test_init, setup),
		cmocka_unit_test_setup(test_tables_on_demand, setup),
		cmocka_unit_test_setup(test_map_refusals, setup),
		cmocka_unit_test_setup(test_enomem, setup),
		cmocka_unit_test_setup(test_unmap, setup),
		cmocka_unit_test_setup(test_query, setup),
		cmocka_unit_test_setup(test_large_pages, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
