/* test_vmm.c — host tests of the x86 port's VMM logic over a fake physical memory: indices, on-demand tables, map/unmap/query. */
/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "x86_vmm.h"

/* Fake physical memory: FRAMES frames at physical PHYS_BASE, handed out as
 * page tables in order; table_alloc can be made to fail. */
#define PHYS_BASE 0x00200000u
#define FRAMES 64
static uint32_t phys[FRAMES][1024];
static unsigned next_frame, allocs_left;
static uint32_t invalidated[64];
static unsigned n_invalidated;

static uint32_t table_alloc(void *ctx)
{
	assert_ptr_equal(ctx, phys);
	if (allocs_left == 0 || next_frame == FRAMES)
		return 0;
	allocs_left--;
	/* A recycled frame is full of garbage: the VMM must clear it. */
	memset(phys[next_frame], 0xFF, sizeof phys[0]);
	return PHYS_BASE + next_frame++ * X86_PAGE_SIZE;
}

static uint32_t *table_ptr(void *ctx, uint32_t pa)
{
	(void)ctx;
	assert_true(pa >= PHYS_BASE && pa < PHYS_BASE + FRAMES * X86_PAGE_SIZE && pa % X86_PAGE_SIZE == 0);
	return phys[(pa - PHYS_BASE) / X86_PAGE_SIZE];
}

static void invalidate(void *ctx, uint32_t va)
{
	(void)ctx;
	assert_true(n_invalidated < 64);
	invalidated[n_invalidated++] = va;
}

static const struct x86_vmm_ops ops = {table_alloc, table_ptr, invalidate, phys};

/* A VMM with its directory in frame 0 of the fake memory. */
static int setup(void **state)
{
	static struct x86_vmm vmm;
	next_frame = 0;
	allocs_left = 1;
	n_invalidated = 0;
	uint32_t dir = table_alloc(phys);
	assert_int_equal(x86_vmm_init(&vmm, dir, &ops), X86_VMM_OK);
	allocs_left = 1000;
	*state = &vmm;
	return 0;
}

static void test_indices(void **state)
{
	(void)state;
	assert_int_equal(x86_pd_index(0), 0);
	assert_int_equal(x86_pt_index(0), 0);
	assert_int_equal(x86_pd_index(0xC0001000u), 768);
	assert_int_equal(x86_pt_index(0xC0001000u), 1);
	assert_int_equal(x86_pd_index(0x003FFFFFu), 0);
	assert_int_equal(x86_pt_index(0x003FFFFFu), 1023);
	assert_int_equal(x86_pd_index(0x00400000u), 1);
	assert_int_equal(x86_pt_index(0x00400000u), 0);
	assert_int_equal(x86_pd_index(0xFFFFF000u), 1023);
	assert_int_equal(x86_pt_index(0xFFFFFFFFu), 1023);
	assert_int_equal(x86_va(768, 1), 0xC0001000u);
	assert_int_equal(x86_va(1023, 1023), 0xFFFFF000u);
	for (uint32_t va = 0; va < 0xFFFFF000u; va += 0x1235000u)
		assert_int_equal(x86_va(x86_pd_index(va), x86_pt_index(va)), va & ~0xFFFu);
}

static void test_init(void **state)
{
	struct x86_vmm *vmm = *state;
	assert_int_equal(vmm->dir_phys, PHYS_BASE);
	assert_ptr_equal(vmm->dir, phys[0]);
	for (unsigned i = 0; i < 1024; i++)
		assert_int_equal(vmm->dir[i], 0);  /* garbage cleared */
	assert_int_equal(vmm->tables, 0);
	struct x86_vmm other;
	assert_int_equal(x86_vmm_init(&other, PHYS_BASE + 8, &ops), X86_VMM_EINVAL);
	assert_int_equal(x86_vmm_init(&other, 0, &ops), X86_VMM_EINVAL);
}

static void test_map_allocates_tables_on_demand(void **state)
{
	struct x86_vmm *vmm = *state;
	uint32_t pa, flags;
	assert_int_equal(x86_vmm_map(vmm, 0xC0000000u, 0x00500000u, X86_PTE_WRITE), X86_VMM_OK);
	assert_int_equal(vmm->tables, 1);
	assert_int_equal(next_frame, 2);
	/* The directory entry points to the new table, present and writable. */
	assert_int_equal(vmm->dir[768], (PHYS_BASE + X86_PAGE_SIZE) | X86_PTE_PRESENT | X86_PTE_WRITE);
	uint32_t *pt = phys[1];
	assert_int_equal(pt[0], 0x00500000u | X86_PTE_PRESENT | X86_PTE_WRITE);
	for (unsigned i = 1; i < 1024; i++)
		assert_int_equal(pt[i], 0);  /* the table was cleared */
	/* Same 4 MiB region: no new table. The last page of the region too. */
	assert_int_equal(x86_vmm_map(vmm, 0xC0001000u, 0x00501000u, X86_PTE_WRITE), X86_VMM_OK);
	assert_int_equal(x86_vmm_map(vmm, 0xC03FF000u, 0x00502000u, 0), X86_VMM_OK);
	assert_int_equal(vmm->tables, 1);
	assert_int_equal(pt[1023], 0x00502000u | X86_PTE_PRESENT);
	/* Next region: a second table. */
	assert_int_equal(x86_vmm_map(vmm, 0xC0400000u, 0x00503000u, X86_PTE_WRITE), X86_VMM_OK);
	assert_int_equal(vmm->tables, 2);
	assert_int_equal(x86_vmm_query(vmm, 0xC0400123u, &pa, &flags), X86_VMM_OK);
	assert_int_equal(pa, 0x00503123u);
	assert_int_equal(flags, X86_PTE_PRESENT | X86_PTE_WRITE);
	assert_int_equal(x86_vmm_query(vmm, 0xC03FFFFFu, &pa, &flags), X86_VMM_OK);
	assert_int_equal(pa, 0x00502FFFu);
	assert_int_equal(flags, X86_PTE_PRESENT);
	/* Nothing was invalidated: mapping a not-present page needs no flush. */
	assert_int_equal(n_invalidated, 0);
}

static void test_map_refusals_change_nothing(void **state)
{
	struct x86_vmm *vmm = *state;
	uint32_t pa;
	assert_int_equal(x86_vmm_map(vmm, 0x40000000u, 0x00600000u, X86_PTE_WRITE), X86_VMM_OK);
	/* Already mapped. */
	assert_int_equal(x86_vmm_map(vmm, 0x40000000u, 0x00700000u, X86_PTE_WRITE), X86_VMM_EEXIST);
	assert_int_equal(x86_vmm_query(vmm, 0x40000000u, &pa, NULL), X86_VMM_OK);
	assert_int_equal(pa, 0x00600000u);
	/* Misaligned addresses. */
	assert_int_equal(x86_vmm_map(vmm, 0x40001004u, 0x00700000u, 0), X86_VMM_EINVAL);
	assert_int_equal(x86_vmm_map(vmm, 0x40001000u, 0x00700010u, 0), X86_VMM_EINVAL);
	assert_int_equal(x86_vmm_query(vmm, 0x40001000u, NULL, NULL), X86_VMM_ENOENT);
	/* No frame for a new table. */
	allocs_left = 0;
	size_t tables = vmm->tables;
	assert_int_equal(x86_vmm_map(vmm, 0x80000000u, 0x00700000u, X86_PTE_WRITE), X86_VMM_ENOMEM);
	assert_int_equal(vmm->tables, tables);
	assert_int_equal(vmm->dir[x86_pd_index(0x80000000u)], 0);
	assert_int_equal(x86_vmm_query(vmm, 0x80000000u, NULL, NULL), X86_VMM_ENOENT);
	/* ... while the region that has a table still maps. */
	assert_int_equal(x86_vmm_map(vmm, 0x40001000u, 0x00700000u, X86_PTE_WRITE), X86_VMM_OK);
	allocs_left = 1;
	assert_int_equal(x86_vmm_map(vmm, 0x80000000u, 0x00700000u, X86_PTE_WRITE), X86_VMM_OK);
}

static void test_unmap_invalidates(void **state)
{
	struct x86_vmm *vmm = *state;
	uint32_t pa = 0;
	assert_int_equal(x86_vmm_map(vmm, 0xC0005000u, 0x00800000u, X86_PTE_WRITE), X86_VMM_OK);
	assert_int_equal(x86_vmm_map(vmm, 0xC0006000u, 0x00801000u, X86_PTE_WRITE), X86_VMM_OK);
	assert_int_equal(x86_vmm_unmap(vmm, 0xC0005000u, &pa), X86_VMM_OK);
	assert_int_equal(pa, 0x00800000u);
	assert_int_equal(n_invalidated, 1);
	assert_int_equal(invalidated[0], 0xC0005000u);
	assert_int_equal(x86_vmm_query(vmm, 0xC0005000u, NULL, NULL), X86_VMM_ENOENT);
	assert_int_equal(x86_vmm_query(vmm, 0xC0006000u, &pa, NULL), X86_VMM_OK);  /* the neighbour stays */
	assert_int_equal(pa, 0x00801000u);
	/* Twice, never mapped, no table, misaligned: refused, nothing invalidated. */
	assert_int_equal(x86_vmm_unmap(vmm, 0xC0005000u, &pa), X86_VMM_ENOENT);
	assert_int_equal(x86_vmm_unmap(vmm, 0xC0007000u, NULL), X86_VMM_ENOENT);
	assert_int_equal(x86_vmm_unmap(vmm, 0x10000000u, NULL), X86_VMM_ENOENT);
	assert_int_equal(x86_vmm_unmap(vmm, 0xC0006800u, NULL), X86_VMM_EINVAL);
	assert_int_equal(n_invalidated, 1);
	/* The table stays after its last page goes: remapping allocates nothing. */
	assert_int_equal(x86_vmm_unmap(vmm, 0xC0006000u, NULL), X86_VMM_OK);
	size_t tables = vmm->tables;
	allocs_left = 0;
	assert_int_equal(x86_vmm_map(vmm, 0xC0005000u, 0x00802000u, X86_PTE_WRITE), X86_VMM_OK);
	assert_int_equal(vmm->tables, tables);
	assert_int_equal(invalidated[1], 0xC0006000u);
}

static void test_user_flag_and_attributes(void **state)
{
	struct x86_vmm *vmm = *state;
	uint32_t flags;
	/* A supervisor page first, then a user page in the same table: the
	 * directory entry must then allow user access. */
	assert_int_equal(x86_vmm_map(vmm, 0x08000000u, 0x00900000u, X86_PTE_WRITE), X86_VMM_OK);
	assert_int_equal(vmm->dir[x86_pd_index(0x08000000u)] & X86_PTE_USER, 0);
	assert_int_equal(x86_vmm_map(vmm, 0x08001000u, 0x00901000u, X86_PTE_USER | X86_PTE_PCD), X86_VMM_OK);
	assert_int_equal(vmm->dir[x86_pd_index(0x08000000u)] & X86_PTE_USER, X86_PTE_USER);
	assert_int_equal(x86_vmm_query(vmm, 0x08001000u, NULL, &flags), X86_VMM_OK);
	assert_int_equal(flags, X86_PTE_PRESENT | X86_PTE_USER | X86_PTE_PCD);
	assert_int_equal(x86_vmm_query(vmm, 0x08000000u, NULL, &flags), X86_VMM_OK);
	assert_int_equal(flags, X86_PTE_PRESENT | X86_PTE_WRITE);  /* the PTE keeps it supervisor */
}

static void test_large_pages_made_elsewhere(void **state)
{
	struct x86_vmm *vmm = *state;
	uint32_t pa, flags;
	/* A 4 MiB page put in the directory by someone else (e.g. boot code). */
	vmm->dir[1] = 0x01000000u | X86_PTE_PRESENT | X86_PTE_WRITE | X86_PDE_LARGE;
	assert_int_equal(x86_vmm_query(vmm, 0x00512345u, &pa, &flags), X86_VMM_OK);
	assert_int_equal(pa, 0x01112345u);
	assert_int_equal(flags & X86_PDE_LARGE, X86_PDE_LARGE);
	assert_int_equal(x86_vmm_map(vmm, 0x00400000u, 0x00900000u, 0), X86_VMM_EINVAL);
	assert_int_equal(x86_vmm_unmap(vmm, 0x00400000u, NULL), X86_VMM_EINVAL);
	assert_int_equal(vmm->tables, 0);
	assert_int_equal(n_invalidated, 0);
}

static void test_many_pages(void **state)
{
	struct x86_vmm *vmm = *state;
	/* 5000 pages over [0xBFE00000, 0xC1188000): directory slots 767..772. */
	const uint32_t base = 0xBFE00000u;
	for (uint32_t i = 0; i < 5000; i++)
		assert_int_equal(x86_vmm_map(vmm, base + i * X86_PAGE_SIZE, 0x10000000u + i * X86_PAGE_SIZE, X86_PTE_WRITE),
				 X86_VMM_OK);
	assert_int_equal(vmm->tables, 6);
	for (uint32_t i = 0; i < 5000; i++) {
		uint32_t pa;
		assert_int_equal(x86_vmm_query(vmm, base + i * X86_PAGE_SIZE + 7, &pa, NULL), X86_VMM_OK);
		assert_int_equal(pa, 0x10000000u + i * X86_PAGE_SIZE + 7);
	}
	assert_int_equal(x86_vmm_query(vmm, base - 1, NULL, NULL), X86_VMM_ENOENT);
	assert_int_equal(x86_vmm_query(vmm, base + 5000 * X86_PAGE_SIZE, NULL, NULL), X86_VMM_ENOENT);
	/* The top page of the address space. */
	assert_int_equal(x86_vmm_map(vmm, 0xFFFFF000u, 0xFFFFF000u, 0), X86_VMM_OK);
	assert_int_equal(x86_vmm_unmap(vmm, 0xFFFFF000u, NULL), X86_VMM_OK);
	assert_int_equal(invalidated[n_invalidated - 1], 0xFFFFF000u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_indices),
		cmocka_unit_test_setup(test_init, setup),
		cmocka_unit_test_setup(test_map_allocates_tables_on_demand, setup),
		cmocka_unit_test_setup(test_map_refusals_change_nothing, setup),
		cmocka_unit_test_setup(test_unmap_invalidates, setup),
		cmocka_unit_test_setup(test_user_flag_and_attributes, setup),
		cmocka_unit_test_setup(test_large_pages_made_elsewhere, setup),
		cmocka_unit_test_setup(test_many_pages, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
