/* test_pmm.c — host tests of the x86 port's PMM: memory-map parsing, Multiboot reservations, runs, limits, exhaustion, bad frees. */
/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "x86_pmm.h"

#define KiB 1024u
#define MiB (1024u * 1024u)
#define F X86_FRAME_SIZE

static uint32_t storage[X86_PMM_STORAGE_WORDS(X86_PMM_MAX_FRAMES)];

/* ---- building memory maps ------------------------------------------------- */

static unsigned char map[1024];
static uint32_t map_len;

static void map_reset(void) { map_len = 0; }

/* Append an entry with `extra` bytes of vendor fields after the standard ones. */
static void add_x(uint64_t addr, uint64_t len, uint32_t type, uint32_t extra)
{
	struct multiboot_mmap_entry e = {20 + extra, addr, len, type};
	memcpy(map + map_len, &e, sizeof e);
	memset(map + map_len + sizeof e, 0xEE, extra);
	map_len += (uint32_t)sizeof e + extra;
}

static void add(uint64_t addr, uint64_t len, uint32_t type) { add_x(addr, len, type, 0); }

static size_t init(struct x86_pmm *pmm)
{
	return x86_pmm_init_mmap(pmm, map, map_len, storage, sizeof storage / sizeof storage[0]);
}

/* Allocate every free frame one by one; fill out[] (if given); return the count. */
static size_t drain(struct x86_pmm *pmm, uint32_t *out, size_t max)
{
	size_t n = 0;
	for (uint32_t f; (f = x86_pmm_alloc(pmm)) != 0; n++) {
		assert_true(n < max);
		if (out)
			out[n] = f;
	}
	return n;
}

static bool all_free(struct x86_pmm *pmm, uint32_t from, uint32_t to)
{
	for (uint32_t a = from; a < to; a += F)
		if (!(pmm->frames.avail[(a / F) / 32] >> ((a / F) % 32) & 1))
			return false;
	return true;
}

static bool none_free(struct x86_pmm *pmm, uint32_t from, uint32_t to)
{
	for (uint32_t a = from; a < to; a += F)
		if (a / F < pmm->frames.pages && (pmm->frames.avail[(a / F) / 32] >> ((a / F) % 32) & 1))
			return false;
	return true;
}

/* The map QEMU gives a 32 MiB guest. */
static void qemu_map(void)
{
	map_reset();
	add(0, 0x9FC00, MULTIBOOT_MEMORY_AVAILABLE);
	add(0x9FC00, 0x400, MULTIBOOT_MEMORY_RESERVED);
	add(0xF0000, 0x10000, MULTIBOOT_MEMORY_RESERVED);
	add(0x100000, 0x1EE0000, MULTIBOOT_MEMORY_AVAILABLE);
	add(0x1FE0000, 0x20000, MULTIBOOT_MEMORY_RESERVED);
	add(0xFFFC0000, 0x40000, MULTIBOOT_MEMORY_RESERVED);
}

/* ---- memory map parsing --------------------------------------------------- */

static void test_qemu_map(void **state)
{
	(void)state;
	struct x86_pmm pmm;
	qemu_map();
	assert_int_equal(x86_mmap_top(map, map_len), 0x1FE0000);
	size_t n = init(&pmm);
	/* Frames 0x100000..0x1FE0000: low memory is always reserved. */
	assert_int_equal(n, (0x1FE0000 - 0x100000) / F);
	assert_int_equal(pmm.usable, 0x9F + (0x1FE0000 - 0x100000) / F);
	assert_int_equal(pmm.frames.pages, 0x1FE0000 / F);
	assert_int_equal(pmm.ignored, 0);
	assert_true(none_free(&pmm, 0, 0x100000));
	assert_true(all_free(&pmm, 0x100000, 0x1FE0000));
}

static void test_overlapping_available(void **state)
{
	(void)state;
	struct x86_pmm pmm;
	map_reset();
	add(0x100000, 0x300000, MULTIBOOT_MEMORY_AVAILABLE);  /* 1..4 MiB */
	add(0x200000, 0x300000, MULTIBOOT_MEMORY_AVAILABLE);  /* 2..5 MiB, overlaps */
	add(0x100000, 0x100000, MULTIBOOT_MEMORY_AVAILABLE);  /* duplicate */
	assert_int_equal(init(&pmm), 4 * MiB / F);            /* the union, counted once */
	assert_true(all_free(&pmm, 0x100000, 0x500000));
}

static void test_reserved_wins_any_order(void **state)
{
	(void)state;
	struct x86_pmm pmm;
	/* Reserved listed before and after the available range containing it, with
	 * unaligned edges: reserved rounds outwards. */
	map_reset();
	add(0x180800, 0x1000, MULTIBOOT_MEMORY_RESERVED);     /* touches 0x180000 and 0x181000 */
	add(0x100000, 0x400000, MULTIBOOT_MEMORY_AVAILABLE);
	add(0x300000, 0x10000, MULTIBOOT_MEMORY_ACPI);
	add(0x3FF000, 0x1, MULTIBOOT_MEMORY_NVS);
	add(0x200000, 0x2000, MULTIBOOT_MEMORY_BADRAM);
	add(0x250000, 0x3000, 99);                            /* unknown type: unusable */
	size_t n = init(&pmm);
	assert_int_equal(n, 0x400 - 2 - 16 - 1 - 2 - 3);
	assert_true(none_free(&pmm, 0x180000, 0x182000));
	assert_true(all_free(&pmm, 0x17F000, 0x180000) && all_free(&pmm, 0x182000, 0x183000));
	assert_true(none_free(&pmm, 0x300000, 0x310000) && none_free(&pmm, 0x3FF000, 0x400000));
	assert_true(none_free(&pmm, 0x200000, 0x202000) && none_free(&pmm, 0x250000, 0x253000));
	/* Whatever we allocate, never a reserved frame. */
	uint32_t got[1024];
	size_t k = drain(&pmm, got, 1024);
	assert_int_equal(k, n);
	for (size_t i = 0; i < k; i++) {
		assert_false(got[i] >= 0x180000 && got[i] < 0x182000);
		assert_false(got[i] >= 0x300000 && got[i] < 0x310000);
		assert_true(got[i] >= 0x100000 && got[i] < 0x500000);
	}
}

static void test_available_rounds_inwards(void **state)
{
	(void)state;
	struct x86_pmm pmm;
	map_reset();
	add(0x100800, 0x3000, MULTIBOOT_MEMORY_AVAILABLE);    /* only 0x101000..0x103000 is whole */
	assert_int_equal(init(&pmm), 2);
	assert_true(all_free(&pmm, 0x101000, 0x103000));
	assert_true(none_free(&pmm, 0x100000, 0x101000) && none_free(&pmm, 0x103000, 0x104000));
}

static void test_low_memory_never_handed_out(void **state)
{
	(void)state;
	struct x86_pmm pmm;
	map_reset();
	add(0, 0x200000, MULTIBOOT_MEMORY_AVAILABLE);         /* claims 0..2 MiB usable */
	assert_int_equal(init(&pmm), 0x100000 / F);
	assert_int_equal(pmm.usable, 0x200000 / F);           /* what the map offered */
	uint32_t f = x86_pmm_alloc(&pmm);
	assert_int_equal(f, 0x100000);
	assert_int_equal(x86_pmm_free(&pmm, 0, 1), -1);       /* frame 0: never */
	assert_int_equal(x86_pmm_free(&pmm, 0x1000, 1), -1);
	assert_int_equal(x86_pmm_alloc_below(&pmm, 1, 0x100000), 0);
}

static void test_above_4gib(void **state)
{
	(void)state;
	struct x86_pmm pmm;
	map_reset();
	add(0x100000, 0x100000, MULTIBOOT_MEMORY_AVAILABLE);
	add(0xFFF00000ull, 0x200000, MULTIBOOT_MEMORY_AVAILABLE);   /* crosses 4 GiB */
	add(0x100000000ull, 0x40000000, MULTIBOOT_MEMORY_AVAILABLE); /* above: no PAE here */
	assert_int_equal(x86_mmap_top(map, map_len), 0x100000000ull);
	size_t n = init(&pmm);
	/* The PMM stops one frame below 4 GiB (X86_PMM_MAX_FRAMES). */
	assert_int_equal(pmm.frames.pages, X86_PMM_MAX_FRAMES);
	assert_int_equal(n, 0x100 + 0xFF);
	assert_int_equal(pmm.ignored, 0x1000 + 0x100000 + 0x40000000ull);
	/* Runs at the very top of the 32-bit space honour limits there too. */
	assert_int_equal(x86_pmm_alloc_run(&pmm, 0x100), 0x100000);
	assert_int_equal(x86_pmm_alloc_below(&pmm, 0xFF, 0xFFFFEFFFu), 0);
	assert_int_equal(x86_pmm_alloc_below(&pmm, 0xFF, 0x100000000ull), 0xFFF00000u);
	assert_int_equal(x86_pmm_free_frames(&pmm), 0);
	assert_int_equal(x86_pmm_free(&pmm, 0xFFF00000u, 0xFF), 0);
}

static void test_malformed_and_extended_entries(void **state)
{
	(void)state;
	struct x86_pmm pmm;
	/* An entry with vendor fields (size 24) is stepped over by its size. */
	map_reset();
	add_x(0x100000, 0x100000, MULTIBOOT_MEMORY_AVAILABLE, 4);
	add(0x300000, 0x100000, MULTIBOOT_MEMORY_AVAILABLE);
	assert_int_equal(init(&pmm), 0x200);
	/* A malformed entry (size < 20) ends the walk: nothing after it is trusted. */
	map_reset();
	add(0x100000, 0x100000, MULTIBOOT_MEMORY_AVAILABLE);
	add(0x300000, 0x100000, MULTIBOOT_MEMORY_AVAILABLE);
	((struct multiboot_mmap_entry *)(void *)(map + 24))->size = 8;
	assert_int_equal(init(&pmm), 0x100);
	/* An entry claiming to run past the map's length is not read. */
	map_reset();
	add(0x100000, 0x100000, MULTIBOOT_MEMORY_AVAILABLE);
	((struct multiboot_mmap_entry *)(void *)map)->size = 0xFFFFFFF0u;
	assert_int_equal(init(&pmm), 0);
	/* A truncated map (length not a whole entry) reads only whole entries. */
	map_reset();
	add(0x100000, 0x100000, MULTIBOOT_MEMORY_AVAILABLE);
	add(0x300000, 0x100000, MULTIBOOT_MEMORY_AVAILABLE);
	assert_int_equal(x86_pmm_init_mmap(&pmm, map, map_len - 1, storage, sizeof storage / 4), 0x100);
	/* No usable memory at all. */
	map_reset();
	add(0x100000, 0x100000, MULTIBOOT_MEMORY_RESERVED);
	assert_int_equal(init(&pmm), 0);
	assert_int_equal(x86_pmm_alloc(&pmm), 0);
}

static void test_storage_capacity(void **state)
{
	(void)state;
	struct x86_pmm pmm;
	uint32_t small[2 * 32];  /* 1024 frames: 4 MiB */
	map_reset();
	add(0x100000, 0x700000, MULTIBOOT_MEMORY_AVAILABLE);  /* 1..8 MiB */
	assert_int_equal(x86_pmm_storage_words(8 * MiB), 2 * 64);
	assert_int_equal(x86_pmm_storage_words(8 * MiB + 1), 2 * 65);
	assert_int_equal(x86_pmm_storage_words((uint64_t)1 << 40), X86_PMM_STORAGE_WORDS(X86_PMM_MAX_FRAMES));
	size_t n = x86_pmm_init_mmap(&pmm, map, map_len, small, 64);
	assert_int_equal(pmm.frames.pages, 1024);
	assert_int_equal(n, 3 * MiB / F);
	assert_int_equal(pmm.ignored, 4 * MiB);
}

/* ---- allocation ----------------------------------------------------------- */

static void test_single_frames_and_exhaustion(void **state)
{
	(void)state;
	struct x86_pmm pmm;
	static uint32_t got[8192];
	qemu_map();
	size_t n = init(&pmm);
	size_t k = drain(&pmm, got, 8192);
	assert_int_equal(k, n);
	assert_int_equal(x86_pmm_free_frames(&pmm), 0);
	assert_int_equal(x86_pmm_alloc(&pmm), 0);
	assert_int_equal(x86_pmm_alloc_run(&pmm, 1), 0);
	for (size_t i = 0; i < k; i++) {
		assert_true(got[i] % F == 0 && got[i] >= 0x100000 && got[i] < 0x1FE0000);
		assert_true(i == 0 || got[i] > got[i - 1]);  /* first fit, distinct */
		assert_true(x86_pmm_allocated(&pmm, got[i]));
	}
	/* Free in a scattered order; every frame comes back exactly once. */
	for (size_t i = 0; i < k; i += 2)
		assert_int_equal(x86_pmm_free(&pmm, got[i], 1), 0);
	for (size_t i = 1; i < k; i += 2)
		assert_int_equal(x86_pmm_free(&pmm, got[i], 1), 0);
	assert_int_equal(x86_pmm_free_frames(&pmm), n);
	/* And the PMM works as new afterwards. */
	assert_int_equal(drain(&pmm, NULL, 8192), n);
}

static void test_contiguous_runs(void **state)
{
	(void)state;
	struct x86_pmm pmm;
	qemu_map();
	size_t n = init(&pmm);
	uint32_t a = x86_pmm_alloc_run(&pmm, 16), b = x86_pmm_alloc_run(&pmm, 100);
	assert_int_equal(a, 0x100000);
	assert_int_equal(b, 0x110000);
	/* A hole of 16 frames: a run of 17 goes after b, a run of 16 fills it. */
	assert_int_equal(x86_pmm_free(&pmm, a, 16), 0);
	assert_int_equal(x86_pmm_alloc_run(&pmm, 17), b + 100 * F);
	assert_int_equal(x86_pmm_alloc_run(&pmm, 16), a);
	/* Runs go back in pieces, in any order. */
	assert_int_equal(x86_pmm_free(&pmm, b + 50 * F, 50), 0);
	assert_int_equal(x86_pmm_free(&pmm, b, 25), 0);
	assert_int_equal(x86_pmm_free(&pmm, b + 25 * F, 25), 0);
	assert_int_equal(x86_pmm_free(&pmm, b + 100 * F, 17), 0);
	assert_int_equal(x86_pmm_free(&pmm, a, 16), 0);
	assert_int_equal(x86_pmm_free_frames(&pmm), n);
	/* Larger than anything free: 0; the whole range: fine; count 0: 0. */
	assert_int_equal(x86_pmm_alloc_run(&pmm, n + 1), 0);
	assert_int_equal(x86_pmm_alloc_run(&pmm, 0), 0);
	assert_int_equal(x86_pmm_alloc_run(&pmm, n), 0x100000);
	assert_int_equal(x86_pmm_free(&pmm, 0x100000, n), 0);
}

static void test_runs_below_a_limit(void **state)
{
	(void)state;
	struct x86_pmm pmm;
	qemu_map();
	size_t n = init(&pmm);
	/* Fill everything below 16 MiB except one 8-frame hole at 12 MiB. */
	uint32_t low = x86_pmm_alloc_below(&pmm, (16 * MiB - 0x100000) / F, 16 * MiB);
	assert_int_equal(low, 0x100000);
	assert_int_equal(x86_pmm_free(&pmm, 12 * MiB, 8), 0);
	/* A run of 8 ending at or below 16 MiB: the hole. Of 9: none below. */
	assert_int_equal(x86_pmm_alloc_below(&pmm, 9, 16 * MiB), 0);
	assert_int_equal(x86_pmm_alloc_below(&pmm, 8, 12 * MiB + 8 * F - 1), 0);  /* would end past the limit */
	uint32_t dma = x86_pmm_alloc_below(&pmm, 8, 12 * MiB + 8 * F);
	assert_int_equal(dma, 12 * MiB);
	/* Without the limit a 9-frame run comes from above 16 MiB. */
	assert_int_equal(x86_pmm_alloc_run(&pmm, 9), 16 * MiB);
	assert_int_equal(x86_pmm_alloc_below(&pmm, 1, 0), 0);
	assert_int_equal(x86_pmm_alloc_below(&pmm, 1, 0x100000), 0);
	/* A limit above everything is no limit. */
	assert_int_equal(x86_pmm_alloc_below(&pmm, 1, (uint64_t)1 << 40), 16 * MiB + 9 * F);
	assert_int_equal(x86_pmm_free(&pmm, 16 * MiB, 10), 0);
	assert_int_equal(x86_pmm_free(&pmm, dma, 8), 0);
	assert_int_equal(x86_pmm_free(&pmm, low, (16 * MiB - 0x100000) / F), -1);  /* the hole is free */
	assert_int_equal(x86_pmm_free(&pmm, low, (12 * MiB - 0x100000) / F), 0);
	assert_int_equal(x86_pmm_free(&pmm, 12 * MiB + 8 * F, (4 * MiB - 8 * F) / F), 0);
	assert_int_equal(x86_pmm_free_frames(&pmm), n);
}

static void test_bad_frees(void **state)
{
	(void)state;
	struct x86_pmm pmm;
	qemu_map();
	size_t n = init(&pmm);
	uint32_t a = x86_pmm_alloc_run(&pmm, 4);
	/* Double free: the first succeeds, the second is refused. */
	assert_int_equal(x86_pmm_free(&pmm, a, 1), 0);
	assert_int_equal(x86_pmm_free(&pmm, a, 1), -1);
	/* A range containing one frame not handed out is refused as a whole. */
	assert_int_equal(x86_pmm_free(&pmm, a, 4), -1);
	assert_true(x86_pmm_allocated(&pmm, a + F) && x86_pmm_allocated(&pmm, a + 3 * F));
	/* Never handed out: a free frame, a reserved frame, low memory, beyond the end. */
	assert_int_equal(x86_pmm_free(&pmm, 0x800000, 1), -1);
	assert_int_equal(x86_pmm_free(&pmm, 0x1FE0000, 1), -1);
	assert_int_equal(x86_pmm_free(&pmm, 0x9F000, 1), -1);
	assert_int_equal(x86_pmm_free(&pmm, 0xFFFC0000u, 1), -1);
	/* Misaligned, count 0, count running off the end. */
	assert_int_equal(x86_pmm_free(&pmm, a + F + 1, 1), -1);
	assert_int_equal(x86_pmm_free(&pmm, a + F, 0), -1);
	assert_int_equal(x86_pmm_free(&pmm, a + F, SIZE_MAX), -1);
	/* Nothing above changed anything. */
	assert_int_equal(x86_pmm_free_frames(&pmm), n - 3);
	assert_int_equal(x86_pmm_free(&pmm, a + F, 3), 0);
	assert_int_equal(x86_pmm_free_frames(&pmm), n);
	/* Reserving a handed-out frame leaves it handed out (and freeable). */
	uint32_t b = x86_pmm_alloc(&pmm);
	x86_pmm_reserve(&pmm, b, F);
	assert_true(x86_pmm_allocated(&pmm, b));
	assert_int_equal(x86_pmm_free(&pmm, b, 1), 0);
	x86_pmm_reserve(&pmm, b, 1);
	assert_int_equal(x86_pmm_free_frames(&pmm), n - 1);
	assert_int_not_equal(x86_pmm_alloc(&pmm), b);
}

/* ---- Multiboot information -------------------------------------------------- */

/* A fake physical memory holding the boot structures, at physical PHYS_BASE:
 * in usable memory, as loaders place them, so the PMM must reserve each. */
#define PHYS_BASE 0x800000u
static unsigned char phys_mem[64 * 1024];

static const void *reader(uint32_t pa)
{
	assert_true(pa >= PHYS_BASE && pa < PHYS_BASE + sizeof phys_mem);
	return phys_mem + (pa - PHYS_BASE);
}

static uint32_t put(uint32_t offset, const void *data, size_t len)
{
	memcpy(phys_mem + offset, data, len);
	return PHYS_BASE + offset;
}

static void test_multiboot_reservations(void **state)
{
	(void)state;
	struct x86_pmm pmm;
	memset(phys_mem, 0, sizeof phys_mem);
	map_reset();
	add(0, 0x9FC00, MULTIBOOT_MEMORY_AVAILABLE);
	add(0x100000, 0x1F00000, MULTIBOOT_MEMORY_AVAILABLE);  /* 1..32 MiB */
	struct multiboot_module mods[2] = {
		{0x400000, 0x412345, PHYS_BASE + 0x3000, 0},         /* 0x13 frames, with a string */
		{0x500000, 0x500001, 0, 0},                          /* 1 byte, no string */
	};
	struct multiboot_info mbi = {0};
	mbi.flags = MULTIBOOT_INFO_MEMORY | MULTIBOOT_INFO_MMAP | MULTIBOOT_INFO_CMDLINE | MULTIBOOT_INFO_MODS |
		    MULTIBOOT_INFO_LOADER | MULTIBOOT_INFO_ELF;
	mbi.mem_lower = 639;
	mbi.mem_upper = 31 * 1024;
	mbi.mmap_addr = put(0x1000, map, map_len);
	mbi.mmap_length = map_len;
	mbi.cmdline = put(0x2000, "kernel.elf seed=1", 18);
	put(0x3000, "initrd", 7);
	mbi.mods_addr = put(0x4000, mods, sizeof mods);
	mbi.mods_count = 2;
	mbi.boot_loader_name = put(0x5000, "qemu", 5);
	mbi.syms[0] = 10;  /* 10 ELF section headers of 40 bytes at 0x600000 */
	mbi.syms[1] = 40;
	mbi.syms[2] = 0x600000;
	uint32_t mbi_phys = put(0x6000, &mbi, sizeof mbi);
	size_t n = x86_pmm_init_multiboot(&pmm, mbi_phys, reader, 0x100000, 0x180000, storage,
					  sizeof storage / sizeof storage[0]);
	/* Reserved: the kernel (0x80 frames), the modules (0x13 + 1), the section
	 * headers (1), and one frame each for the map, command line, module string,
	 * module list, loader name and the information structure (6). */
	assert_int_equal(n, (0x2000000 - 0x100000) / F - 0x80 - 0x13 - 1 - 1 - 6);
	assert_true(none_free(&pmm, 0x100000, 0x180000));
	assert_true(none_free(&pmm, 0x400000, 0x413000) && all_free(&pmm, 0x413000, 0x414000));
	assert_true(none_free(&pmm, 0x500000, 0x501000) && all_free(&pmm, 0x501000, 0x502000));
	assert_true(none_free(&pmm, 0x600000, 0x601000));
	assert_true(all_free(&pmm, 0x180000, 0x400000));
	assert_true(all_free(&pmm, PHYS_BASE, PHYS_BASE + 0x1000));
	assert_true(none_free(&pmm, PHYS_BASE + 0x1000, PHYS_BASE + 0x7000));
	assert_true(all_free(&pmm, PHYS_BASE + 0x7000, PHYS_BASE + 0x8000));
	assert_int_equal(x86_pmm_free(&pmm, 0x100000, 1), -1);  /* the kernel image */
	assert_int_equal(x86_pmm_free(&pmm, 0x400000, 1), -1);  /* a module */
	/* A command line without NUL reserves at most a page past its start. */
	memset(phys_mem + 0x2000, 'x', 0x1000);  /* runs into the module string's page */
	put(0x6000, &mbi, sizeof mbi);
	x86_pmm_init_multiboot(&pmm, mbi_phys, reader, 0x100000, 0x180000, storage, sizeof storage / sizeof storage[0]);
	assert_true(none_free(&pmm, PHYS_BASE + 0x2000, PHYS_BASE + 0x4000));
}

static void test_multiboot_fallbacks(void **state)
{
	(void)state;
	struct x86_pmm pmm;
	/* No memory map: mem_lower / mem_upper. */
	struct multiboot_info mbi = {0};
	mbi.flags = MULTIBOOT_INFO_MEMORY;
	mbi.mem_lower = 639;
	mbi.mem_upper = 15 * 1024;  /* 1..16 MiB */
	uint32_t mbi_phys = put(0x3000, &mbi, sizeof mbi);
	size_t n = x86_pmm_init_multiboot(&pmm, mbi_phys, reader, 0x100000, 0x110000, storage,
					  sizeof storage / sizeof storage[0]);
	assert_int_equal(n, 15 * MiB / F - 0x10 - 1);  /* kernel, information structure */
	assert_int_equal(x86_pmm_alloc(&pmm), 0x110000);
	/* No memory information at all: nothing to manage. */
	mbi.flags = MULTIBOOT_INFO_CMDLINE;
	mbi.cmdline = put(0x2000, "x", 2);
	put(0x3000, &mbi, sizeof mbi);
	assert_int_equal(x86_pmm_init_multiboot(&pmm, mbi_phys, reader, 0x100000, 0x110000, storage,
						sizeof storage / sizeof storage[0]),
			 0);
	assert_int_equal(x86_pmm_alloc(&pmm), 0);
	assert_int_equal(x86_pmm_free(&pmm, 0x110000, 1), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qemu_map),
		cmocka_unit_test(test_overlapping_available),
		cmocka_unit_test(test_reserved_wins_any_order),
		cmocka_unit_test(test_available_rounds_inwards),
		cmocka_unit_test(test_low_memory_never_handed_out),
		cmocka_unit_test(test_above_4gib),
		cmocka_unit_test(test_malformed_and_extended_entries),
		cmocka_unit_test(test_storage_capacity),
		cmocka_unit_test(test_single_frames_and_exhaustion),
		cmocka_unit_test(test_contiguous_runs),
		cmocka_unit_test(test_runs_below_a_limit),
		cmocka_unit_test(test_bad_frees),
		cmocka_unit_test(test_multiboot_reservations),
		cmocka_unit_test(test_multiboot_fallbacks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
