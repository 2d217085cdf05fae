/* test_pmm.c — host tests of the shared x86 PMM built for the x86_64 port (X86_PMM_PHYS_BITS=52): memory above 4 GiB, the 2^52 limit, bitmap capacity. */
/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "x86_pmm.h"

#define MiB (1024ull * 1024ull)
#define GiB (1024ull * MiB)
#define F X86_FRAME_SIZE

_Static_assert(sizeof(x86_paddr) == 8, "52-bit build: 64-bit physical addresses");
_Static_assert(X86_PMM_PHYS_LIMIT == 1ull << 52, "the architectural limit");

static unsigned char map[512];
static uint32_t map_len;

static void add(uint64_t addr, uint64_t len, uint32_t type)
{
	struct multiboot_mmap_entry e = {20, addr, len, type};
	memcpy(map + map_len, &e, sizeof e);
	map_len += (uint32_t)sizeof e;
}

static int reset(void **state)
{
	(void)state;
	map_len = 0;
	return 0;
}

/* A machine with 3.5 GiB below the PCI hole and 4 GiB above 4 GiB. */
static void test_memory_above_4gib(void **state)
{
	(void)state;
	add(0, 0x9FC00, MULTIBOOT_MEMORY_AVAILABLE);
	add(MiB, 0xDFF00000ull, MULTIBOOT_MEMORY_AVAILABLE);             /* to 3.5 GiB */
	add(0xFEC00000ull, 0x01400000ull, MULTIBOOT_MEMORY_RESERVED);    /* APICs, BIOS */
	add(4 * GiB, 4 * GiB, MULTIBOOT_MEMORY_AVAILABLE);
	uint64_t top = x86_mmap_top(map, map_len);
	assert_true(top == 8 * GiB);
	size_t words = x86_pmm_storage_words(top);
	assert_int_equal(words, 2 * (8 * GiB / F) / 32);
	uint32_t *storage = calloc(words, 4);
	assert_non_null(storage);
	struct x86_pmm pmm;
	size_t free0 = x86_pmm_init_mmap(&pmm, map, map_len, storage, words);
	assert_int_equal(free0, (0xDFF00000ull + 4 * GiB) / F);
	assert_true(pmm.ignored == 0);
	/* A 3.75 GiB run fits only above 4 GiB (first fit skips the smaller range). */
	x86_paddr high = x86_pmm_alloc_run(&pmm, (size_t)(15 * GiB / 4 / F));
	assert_true(high == 4 * GiB);
	assert_true(x86_pmm_allocated(&pmm, high + 15 * GiB / 4 - F));
	assert_false(x86_pmm_allocated(&pmm, high + 15 * GiB / 4));
	assert_true(x86_pmm_alloc_run(&pmm, (size_t)(0xDFF00000ull / F) + 1) == 0);
	/* Below a limit: a DMA32 run stays under 4 GiB; none ends below 1 MiB. */
	x86_paddr low = x86_pmm_alloc_below(&pmm, 16, 4 * GiB);
	assert_true(low == MiB);
	assert_true(x86_pmm_alloc_below(&pmm, 1, MiB) == 0);
	/* Frees above 4 GiB, in pieces; a double free is refused. */
	assert_int_equal(x86_pmm_free(&pmm, high + 4 * F, 4), 0);
	assert_int_equal(x86_pmm_free(&pmm, high + 4 * F, 1), -1);
	assert_false(x86_pmm_allocated(&pmm, high + 5 * F));
	x86_paddr again = x86_pmm_alloc_below(&pmm, 4, 8 * GiB);
	assert_true(again == 0x100000ull + 16 * F);  /* the lowest free run comes first */
	assert_int_equal(x86_pmm_free(&pmm, again, 4), 0);
	assert_int_equal(x86_pmm_free(&pmm, high, 4), 0);
	assert_int_equal(x86_pmm_free(&pmm, high + 8 * F, 15 * GiB / 4 / F - 8), 0);
	assert_int_equal(x86_pmm_free(&pmm, low, 16), 0);
	assert_int_equal(x86_pmm_free_frames(&pmm), free0);
	/* Reservations above 4 GiB work too (an initrd, ACPI tables found later). */
	x86_pmm_reserve(&pmm, 5 * GiB + 100, 2 * F);  /* 3 frames touched */
	assert_int_equal(x86_pmm_free_frames(&pmm), free0 - 3);
	free(storage);
}

/* What the PMM cannot manage is counted, never handed out: beyond 2^52, and
 * beyond the bitmap the caller gave it. */
static void test_limits(void **state)
{
	(void)state;
	static uint32_t storage[X86_PMM_STORAGE_WORDS(64 * 1024)];  /* 256 MiB worth */
	add(MiB, 255 * MiB, MULTIBOOT_MEMORY_AVAILABLE);
	add(8 * GiB, GiB, MULTIBOOT_MEMORY_AVAILABLE);                  /* beyond the bitmap */
	add(X86_PMM_PHYS_LIMIT, GiB, MULTIBOOT_MEMORY_AVAILABLE);       /* beyond 2^52 */
	assert_true(x86_mmap_top(map, map_len) == 9 * GiB);           /* 2^52 and up do not count */
	struct x86_pmm pmm;
	size_t free0 = x86_pmm_init_mmap(&pmm, map, map_len, storage, sizeof storage / 4);
	assert_int_equal(free0, 255 * MiB / F);
	assert_true(pmm.ignored == 2 * GiB);
	assert_int_equal(x86_pmm_storage_words(UINT64_MAX), 2 * ((X86_PMM_MAX_FRAMES + 31) / 32));
	for (size_t i = 0; i < free0; i++) {
		x86_paddr f = x86_pmm_alloc(&pmm);
		assert_true(f >= MiB && f < 256 * MiB);
	}
	assert_true(x86_pmm_alloc(&pmm) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_memory_above_4gib, reset),
		cmocka_unit_test_setup(test_limits, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
