/* test_hooks.c — host tests of the x86 port's liballoc hooks over the real PMM and VMM with a fake physical memory, and kmalloc on top. */
/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE  /* MAP_32BIT, MAP_ANONYMOUS */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "liballoc.h"
#include "x86_cpu.h"
#include "x86_port.h"

/*
 * Physical memory: FRAMES frames at 1 MiB, backed by phys_mem (page tables are
 * written there through table_ptr). The heap's virtual range is real host
 * memory below 4 GiB, so the hooks can zero it and kmalloc can use it; the
 * page tables record what the MMU would see. The range starts 4 pages below a
 * 4 MiB boundary, so runs can be made to need a new page table mid-way.
 */
#define FRAMES 2048u
#define PHYS_BASE 0x100000u
#define HEAP_PAGES 3072u
#define PAGE 4096u
#define REGION (4u << 20)

static unsigned char phys_mem[FRAMES * PAGE] __attribute__((aligned(4096)));
static uint32_t pmm_bits[X86_PMM_STORAGE_WORDS(FRAMES + 256)];
static uint32_t heap_bits[X86_HEAP_STORAGE_WORDS(HEAP_PAGES)];
static struct x86_pmm pmm;
static struct x86_vmm vmm;
static struct x86_mm mm = {&pmm, &vmm};
static struct x86_heap_ops heap_ops;
static uintptr_t heap_base;
static size_t free_at_start;
static uint32_t last_invalidated;
static unsigned invalidations;

/* ---- simulated CPU (cli would fault in user mode) ---------------------------- */

static uint32_t sim_eflags = 0x2 | X86_EFLAGS_IF;

uint32_t x86_eflags(void) { return sim_eflags; }

uint32_t x86_irq_save(void)
{
	uint32_t f = sim_eflags;
	sim_eflags &= ~X86_EFLAGS_IF;
	return f;
}

void x86_irq_restore(uint32_t eflags) { sim_eflags = eflags; }

uint64_t x86_rdtsc(void) { return 0x123456789ull; }

static unsigned reported;

void x86_liballoc_report(int error, void *ptr)
{
	(void)error;
	(void)ptr;
	reported++;
}

/* ---- fixture ------------------------------------------------------------------ */

static uint32_t table_alloc(void *ctx) { return x86_pmm_alloc(((struct x86_mm *)ctx)->pmm); }

static uint32_t *table_ptr(void *ctx, uint32_t pa)
{
	(void)ctx;
	assert_true(pa >= PHYS_BASE && pa < PHYS_BASE + FRAMES * PAGE);
	return (uint32_t *)(void *)(phys_mem + (pa - PHYS_BASE));
}

static void invalidate(void *ctx, uint32_t va)
{
	(void)ctx;
	last_invalidated = va;
	invalidations++;
}

static int setup(void **state)
{
	(void)state;
	struct multiboot_mmap_entry map[2] = {
		{20, 0, 0x9FC00, MULTIBOOT_MEMORY_AVAILABLE},
		{20, PHYS_BASE, FRAMES * PAGE, MULTIBOOT_MEMORY_AVAILABLE},
	};
	assert_int_equal(x86_pmm_init_mmap(&pmm, map, sizeof map, pmm_bits, sizeof pmm_bits / 4), FRAMES);
	const struct x86_vmm_ops ops = {table_alloc, table_ptr, invalidate, &mm};
	assert_int_equal(x86_vmm_init(&vmm, x86_pmm_alloc(&pmm), &ops), X86_VMM_OK);
	if (!heap_base) {
		size_t len = HEAP_PAGES * PAGE + 2 * REGION;
		void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_32BIT,
			       -1, 0);
		assert_true(m != MAP_FAILED);
		heap_base = (((uintptr_t)m + REGION - 1) & ~(uintptr_t)(REGION - 1)) + REGION - 4 * PAGE;
		assert_true(heap_base + HEAP_PAGES * PAGE <= (uintptr_t)m + len && heap_base + HEAP_PAGES * PAGE < 0xFFFFFFFFu);
	}
	memset((void *)heap_base, 0xAB, HEAP_PAGES * PAGE);  /* stale data the hooks must clear */
	x86_heap_ops_init(&heap_ops, &mm);
	assert_int_equal(x86_heap_init(&heap_ops, heap_base, HEAP_PAGES, heap_bits), 0);
	free_at_start = x86_pmm_free_frames(&pmm);
	invalidations = 0;
	return 0;
}

static uint32_t va(const void *p, size_t page) { return (uint32_t)((uintptr_t)p + page * PAGE); }

/* Is virtual page p mapped, and to which frame? 0 if not. */
static uint32_t frame_of(uint32_t v)
{
	uint32_t pa;
	return x86_vmm_query(&vmm, v, &pa, NULL) == X86_VMM_OK ? pa : 0;
}

static size_t tables_and_dir(void) { return vmm.tables + 1; }

/* ---- tests --------------------------------------------------------------------- */

static void test_init_rejects_bad_arguments(void **state)
{
	(void)state;
	struct x86_heap_ops bad = heap_ops;
	assert_int_equal(x86_heap_init(NULL, heap_base, 16, heap_bits), -1);
	assert_int_equal(x86_heap_init(&heap_ops, heap_base + 8, 16, heap_bits), -1);
	assert_int_equal(x86_heap_init(&heap_ops, heap_base, 0, heap_bits), -1);
	assert_int_equal(x86_heap_init(&heap_ops, 0xFFFF0000u, 17, heap_bits), -1);  /* past 4 GiB */
	assert_int_equal(x86_heap_init(&heap_ops, heap_base, 16, NULL), -1);
	bad.unmap = NULL;
	assert_int_equal(x86_heap_init(&bad, heap_base, 16, heap_bits), -1);
	assert_int_equal(x86_heap_init(&heap_ops, 0xFFFF0000u, 16, heap_bits), 0);   /* up to 4 GiB exactly */
}

static void test_alloc_maps_zeroed_frames(void **state)
{
	(void)state;
	unsigned char *p = liballoc_alloc_page(6);
	assert_ptr_equal(p, (void *)heap_base);
	assert_int_equal(x86_heap_pages(), 6);
	/* 6 distinct frames, each handed out by the PMM; one new page table for
	 * the two pages past the 4 MiB boundary (and one for the first four). */
	uint32_t frames[6];
	for (size_t i = 0; i < 6; i++) {
		frames[i] = frame_of(va(p, i));
		assert_true(frames[i] != 0 && x86_pmm_allocated(&pmm, frames[i]));
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(frames[i], frames[j]);
	}
	assert_int_equal(vmm.tables, 2);
	assert_int_equal(x86_pmm_free_frames(&pmm), free_at_start - 6 - 2);
	for (size_t i = 0; i < 6 * PAGE; i++)
		assert_int_equal(p[i], 0);
	assert_int_equal(frame_of(va(p, 6)), 0);
	/* The next run follows. */
	void *q = liballoc_alloc_page(1);
	assert_ptr_equal(q, p + 6 * PAGE);
	assert_int_equal(liballoc_free_page(q, 1), 0);
	assert_int_equal(liballoc_free_page(p, 6), 0);
	assert_int_equal(x86_heap_pages(), 0);
	assert_int_equal(x86_pmm_free_frames(&pmm), free_at_start - 2);  /* the tables stay */
	assert_int_equal(x86_heap_errors(), 0);
}

static void test_free_any_sub_range(void **state)
{
	(void)state;
	unsigned char *p = liballoc_alloc_page(8);
	size_t after = x86_pmm_free_frames(&pmm);
	uint32_t f3 = frame_of(va(p, 3));
	/* Middle, then head, then tail, as the core trims aligned runs. */
	assert_int_equal(liballoc_free_page(p + 3 * PAGE, 2), 0);
	assert_int_equal(frame_of(va(p, 3)) | frame_of(va(p, 4)), 0);
	assert_false(x86_pmm_allocated(&pmm, f3));
	assert_int_equal(invalidations, 2);
	assert_int_equal(last_invalidated, va(p, 4));
	assert_int_equal(x86_pmm_free_frames(&pmm), after + 2);
	assert_int_equal(liballoc_free_page(p, 3), 0);
	assert_int_equal(x86_heap_pages(), 3);
	assert_true(frame_of(va(p, 5)) && frame_of(va(p, 7)));
	assert_int_equal(liballoc_free_page(p + 5 * PAGE, 3), 0);
	assert_int_equal(invalidations, 8);
	assert_int_equal(x86_heap_pages(), 0);
	assert_int_equal(x86_pmm_free_frames(&pmm), free_at_start - (tables_and_dir() - 1));
}

static void test_bad_frees_change_nothing(void **state)
{
	(void)state;
	unsigned char *p = liballoc_alloc_page(4);
	size_t frames = x86_pmm_free_frames(&pmm);
	assert_int_equal(liballoc_free_page(p, 1), 0);
	invalidations = 0;
	assert_int_equal(liballoc_free_page(p, 1), -1);                 /* double free */
	assert_int_equal(liballoc_free_page(p, 2), -1);                 /* overlaps a freed page */
	assert_int_equal(liballoc_free_page(p + 4 * PAGE, 1), -1);      /* never handed out */
	assert_int_equal(liballoc_free_page(p + PAGE + 16, 1), -1);     /* misaligned */
	assert_int_equal(liballoc_free_page(p + PAGE, 4), -1);          /* runs past the run */
	assert_int_equal(liballoc_free_page((void *)(heap_base - PAGE), 1), -1);  /* below the range */
	assert_int_equal(liballoc_free_page(NULL, 1), -1);
	assert_int_equal(liballoc_free_page(p + PAGE, 0), -1);
	assert_int_equal(invalidations, 0);
	assert_int_equal(x86_heap_pages(), 3);
	assert_int_equal(x86_pmm_free_frames(&pmm), frames + 1);
	assert_true(frame_of(va(p, 1)) && frame_of(va(p, 3)));
	assert_int_equal(liballoc_free_page(p + PAGE, 3), 0);
	assert_int_equal(x86_heap_errors(), 0);
}

/* Take frames from the PMM until `leave` are free; returns how many were taken
 * (a run starting at *first). */
static size_t hog(size_t leave, uint32_t *first)
{
	size_t n = x86_pmm_free_frames(&pmm) - leave;
	*first = x86_pmm_alloc_run(&pmm, n);
	assert_true(*first != 0);
	return n;
}

static void test_frames_run_out_mid_run(void **state)
{
	(void)state;
	/* Create the page tables of both regions first. */
	assert_int_equal(liballoc_free_page(liballoc_alloc_page(6), 6), 0);
	uint32_t hogged;
	size_t n = hog(10, &hogged);
	invalidations = 0;
	assert_null(liballoc_alloc_page(11));
	/* Undone: every frame back, nothing mapped, the range free again. */
	assert_int_equal(x86_pmm_free_frames(&pmm), 10);
	for (size_t i = 0; i < 11; i++)
		assert_int_equal(frame_of(va((void *)heap_base, i)), 0);
	assert_int_equal(invalidations, 10);
	assert_int_equal(x86_heap_pages(), 0);
	void *p = liballoc_alloc_page(10);
	assert_ptr_equal(p, (void *)heap_base);
	assert_int_equal(x86_pmm_free_frames(&pmm), 0);
	assert_null(liballoc_alloc_page(1));
	assert_int_equal(liballoc_free_page(p, 10), 0);
	assert_int_equal(x86_pmm_free(&pmm, hogged, n), 0);
	assert_int_equal(x86_heap_errors(), 0);
}

static void test_page_tables_run_out_mid_run(void **state)
{
	(void)state;
	/* Only the first region has a table; 5 frames left: pages 0..3 map, page 4
	 * takes the last frame and then finds no frame for the second table. */
	assert_int_equal(liballoc_free_page(liballoc_alloc_page(1), 1), 0);
	assert_int_equal(vmm.tables, 1);
	uint32_t hogged;
	size_t n = hog(5, &hogged);
	assert_null(liballoc_alloc_page(5));
	assert_int_equal(x86_pmm_free_frames(&pmm), 5);
	assert_int_equal(vmm.tables, 1);
	assert_int_equal(vmm.dir[x86_pd_index(va((void *)heap_base, 4))], 0);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(frame_of(va((void *)heap_base, i)), 0);
	/* Four pages fit in the region that has a table. */
	void *p = liballoc_alloc_page(4);
	assert_ptr_equal(p, (void *)heap_base);
	assert_int_equal(liballoc_free_page(p, 4), 0);
	assert_int_equal(x86_pmm_free(&pmm, hogged, n), 0);
	assert_int_equal(x86_heap_pages(), 0);
	assert_int_equal(x86_heap_errors(), 0);
}

static void test_range_runs_out(void **state)
{
	(void)state;
	static uint32_t small_bits[X86_HEAP_STORAGE_WORDS(16)];
	assert_int_equal(x86_heap_init(&heap_ops, heap_base, 16, small_bits), 0);
	size_t frames = x86_pmm_free_frames(&pmm);
	assert_null(liballoc_alloc_page(17));
	void *p = liballoc_alloc_page(10), *q = liballoc_alloc_page(6);
	assert_non_null(p);
	assert_non_null(q);
	size_t used = frames - x86_pmm_free_frames(&pmm);
	assert_null(liballoc_alloc_page(1));
	assert_int_equal(frames - x86_pmm_free_frames(&pmm), used);  /* the failure took no frame */
	assert_int_equal(liballoc_free_page(p, 10), 0);
	assert_null(liballoc_alloc_page(11));                          /* fragmented: 10 free + 6 used */
	assert_int_equal(liballoc_free_page(q, 6), 0);
	assert_int_equal(x86_heap_pages(), 0);
}

static void test_lock_nests_and_restores(void **state)
{
	(void)state;
	sim_eflags = 0x2 | X86_EFLAGS_IF | 0x1;  /* interrupts on, carry set */
	assert_int_equal(liballoc_lock(), 0);
	assert_false(sim_eflags & X86_EFLAGS_IF);
	assert_int_equal(liballoc_lock(), 0);
	assert_int_equal(x86_heap_lock_depth(), 2);
	assert_int_equal(liballoc_unlock(), 0);
	assert_false(sim_eflags & X86_EFLAGS_IF);  /* inner unlock: still off */
	assert_int_equal(liballoc_unlock(), 0);
	assert_int_equal(sim_eflags, 0x2 | X86_EFLAGS_IF | 0x1);  /* outermost: EFLAGS restored */
	assert_int_equal(liballoc_unlock(), -1);                   /* unbalanced: refused */
	assert_int_equal(sim_eflags, 0x2 | X86_EFLAGS_IF | 0x1);
	/* Interrupts already off: they stay off. */
	sim_eflags = 0x2;
	assert_int_equal(liballoc_lock(), 0);
	assert_int_equal(liballoc_unlock(), 0);
	assert_int_equal(sim_eflags, 0x2);
	sim_eflags = 0x2 | X86_EFLAGS_IF;
}

/* kmalloc over the hooks: exhaust the frames, give everything back, again. */
static void test_kmalloc_on_top(void **state)
{
	(void)state;
	static void *blocks[4096];
	for (int round = 0; round < 2; round++) {
		size_t n = 0;
		while (n < 4096 && (blocks[n] = kmalloc(1000 + (n % 13) * 3000 + (n % 50 == 0 ? 400000 : 0))) != NULL) {
			memset(blocks[n], (int)n, 1000);
			n++;
		}
		struct liballoc_stats st;
		liballoc_stats(&st);
		assert_true(n > 100 && n < 4096);
		assert_true(st.alloc_page_failures > 0);  /* ended by the PMM running dry */
		assert_int_equal(liballoc_check(), LIBALLOC_OK);
		unsigned char *z = kcalloc(1, 100);  /* calloc relies on the hooks' zeroing */
		if (z) {
			for (int i = 0; i < 100; i++)
				assert_int_equal(z[i], 0);
			kfree(z);
		}
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(((unsigned char *)blocks[i])[999], (unsigned char)i);
			kfree(blocks[i]);
		}
		liballoc_trim();
		liballoc_stats(&st);
		assert_int_equal(st.obtained, x86_heap_pages() * PAGE);
		assert_int_equal(st.obtained, st.metadata);
		assert_int_equal(x86_pmm_free_frames(&pmm) + x86_heap_pages() + vmm.tables + 1, FRAMES);
		assert_int_equal(liballoc_check(), LIBALLOC_OK);
	}
	assert_int_equal(reported, 0);
	assert_int_equal(x86_heap_errors(), 0);
	assert_int_equal(x86_heap_lock_depth(), 0);
}

/* A heap instance over a space of its own (a process heap): its pages come from
 * the same PMM through the same hooks, mapped in its own range; destroy hands
 * every page back and every frame returns to the PMM, whatever was live. (The
 * kernel heap is left alone: setup forgets its pages, which only the first test
 * that uses kmalloc may do.) */
#define PROC_PAGES 1024u
static uint32_t proc_bits[X86_HEAP_STORAGE_WORDS(PROC_PAGES)];

static void test_process_heap_over_a_space(void **state)
{
	(void)state;
	static struct x86_heap_space space;
	static uintptr_t proc_base;
	if (!proc_base) {
		void *m = mmap(NULL, PROC_PAGES * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_32BIT, -1, 0);
		assert_true(m != MAP_FAILED);
		proc_base = (uintptr_t)m;
	}
	assert_int_equal(x86_heap_space_init(NULL, &heap_ops, proc_base, PROC_PAGES, proc_bits), -1);
	assert_int_equal(x86_heap_space_init(&space, &heap_ops, proc_base + 8, PROC_PAGES, proc_bits), -1);
	size_t kernel_pages = x86_heap_pages(), frames0 = x86_pmm_free_frames(&pmm), tables0 = vmm.tables;
	for (int run = 0; run < 2; run++) {  /* a second process over the same range */
		assert_int_equal(x86_heap_space_init(&space, &heap_ops, proc_base, PROC_PAGES, proc_bits), 0);
		struct liballoc_port port = x86_heap_space_port(&space);
		liballoc_heap *h = liballoc_heap_create(&port);
		assert_non_null(h);
		unsigned char *small[200], *big = liballoc_heap_malloc(h, 300000), *z = liballoc_heap_calloc(h, 1, 5000);
		unsigned char *al = liballoc_heap_memalign(h, 16384, 20000);
		assert_non_null(big);
		assert_non_null(z);
		assert_non_null(al);
		assert_int_equal((uintptr_t)al % 16384, 0);
		for (int i = 0; i < 5000; i++)
			assert_int_equal(z[i], 0);
		for (int i = 0; i < 200; i++) {
			small[i] = liballoc_heap_malloc(h, 24 + (size_t)i * 10);
			assert_true((uintptr_t)small[i] >= proc_base && (uintptr_t)small[i] < proc_base + PROC_PAGES * PAGE);
			assert_int_not_equal(frame_of(va(small[i], 0) & ~(PAGE - 1)), 0);  /* mapped */
			memset(small[i], i, 24);
		}
		memset(big, 1, 300000);
		assert_int_equal(liballoc_heap_check(h), LIBALLOC_OK);
		struct liballoc_stats st;
		liballoc_heap_stats(h, &st);
		assert_int_equal(st.obtained, x86_heap_space_pages(&space) * PAGE);
		assert_int_equal(x86_pmm_free_frames(&pmm) + x86_heap_space_pages(&space) + (vmm.tables - tables0), frames0);
		unsigned before = reported;
		liballoc_heap_free(h, small[3] + 8);  /* an interior pointer: reported, nothing changes */
		assert_int_equal(reported, before + 1);
		assert_int_equal(liballoc_heap_check(h), LIBALLOC_OK);
		uint32_t page = va(big, 0) & ~(PAGE - 1);
		liballoc_heap_destroy(h);  /* the process exits with everything live */
		assert_int_equal(x86_heap_space_pages(&space), 0);
		assert_int_equal(x86_heap_space_errors(&space), 0);
		assert_int_equal(x86_heap_space_lock_depth(&space), 0);
		assert_int_equal(frame_of(page), 0);  /* unmapped */
		/* every frame back, but the page tables the range needed (the VMM keeps them) */
		assert_int_equal(x86_pmm_free_frames(&pmm) + (vmm.tables - tables0), frames0);
		if (run)
			assert_int_equal(x86_pmm_free_frames(&pmm), frames0 - (vmm.tables - tables0));
	}
	assert_true(x86_eflags() & X86_EFLAGS_IF);
	assert_int_equal(x86_heap_pages(), kernel_pages);  /* the kernel heap was not involved */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_init_rejects_bad_arguments, setup),
		cmocka_unit_test_setup(test_alloc_maps_zeroed_frames, setup),
		cmocka_unit_test_setup(test_free_any_sub_range, setup),
		cmocka_unit_test_setup(test_bad_frees_change_nothing, setup),
		cmocka_unit_test_setup(test_frames_run_out_mid_run, setup),
		cmocka_unit_test_setup(test_page_tables_run_out_mid_run, setup),
		cmocka_unit_test_setup(test_range_runs_out, setup),
		cmocka_unit_test_setup(test_lock_nests_and_restores, setup),
		/* Last: the core's heap state outlives one fixture. */
		cmocka_unit_test_setup(test_kmalloc_on_top, setup),
		cmocka_unit_test_setup(test_process_heap_over_a_space, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
