/* test_hooks.c — host tests of the x86_64 port's liballoc hooks over the shared PMM (52-bit, frames above 4 GiB) and the 4-level VMM with a fake physical memory, and kmalloc on top. */
/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE  /* MAP_ANONYMOUS, MAP_NORESERVE */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "liballoc.h"
#include "x86_64_cpu.h"
#include "x86_64_port.h"

/*
 * Physical memory: FRAMES frames at PHYS_BASE, above 4 GiB (so every frame and
 * table address needs the 64-bit formats), backed by phys_mem; the tables are
 * written there through table_ptr. The heap's virtual range is real host memory,
 * so the hooks can zero it and kmalloc can use it; the page tables record what
 * the MMU would see. The range starts 4 pages below a 2 MiB boundary, so runs
 * can be made to need a new page table mid-way.
 */
#define FRAMES 2048u
#define PHYS_BASE 0x0000000500000000ull
#define HEAP_PAGES 3072u
#define PAGE 4096u
#define REGION (2u << 20)

static unsigned char phys_mem[FRAMES * PAGE] __attribute__((aligned(4096)));
static uint32_t *pmm_bits;
static size_t pmm_words;
static uint32_t heap_bits[X86_64_HEAP_STORAGE_WORDS(HEAP_PAGES)];
static struct x86_pmm pmm;
static struct x86_64_vmm vmm;
static struct x86_64_mm mm = {&pmm, &vmm, true};
static struct x86_64_heap_ops heap_ops;
static uintptr_t heap_base;
static size_t free_at_start;
static unsigned invalidations, maps;
static uintptr_t last_invalidated;

/* ---- simulated CPU (one, index 0; cli would fault in user mode) ------------------ */

static unsigned long sim_rflags = 0x2 | X86_64_RFLAGS_IF;

unsigned long x86_64_rflags(void) { return sim_rflags; }

unsigned long x86_64_irq_save(void)
{
	unsigned long f = sim_rflags;
	sim_rflags &= ~X86_64_RFLAGS_IF;
	return f;
}

void x86_64_irq_restore(unsigned long rflags) { sim_rflags = rflags; }
unsigned x86_64_cpu_index(void) { return 0; }
void x86_64_invlpg(uintptr_t va) { (void)va; }
void x86_64_flush_tlb(void) {}
void x86_64_pause(void) {}
uint64_t x86_64_rdtsc(void) { return 0x123456789ull; }

static unsigned reported;

void x86_64_liballoc_report(int error, void *ptr)
{
	(void)error;
	(void)ptr;
	reported++;
}

/* ---- the shootdown op: records each call, and the PMM's free count then --------- */

#define SHOTS 16
static struct {
	uintptr_t va;
	size_t pages, pmm_free;  /* free frames when it ran: the range's are not back yet */
} shots[SHOTS];
static unsigned n_shots;

static void shootdown(void *ctx, uintptr_t va, size_t pages)
{
	assert_ptr_equal(ctx, &mm);
	if (n_shots < SHOTS) {
		shots[n_shots].va = va;
		shots[n_shots].pages = pages;
		shots[n_shots].pmm_free = x86_pmm_free_frames(&pmm);
	}
	n_shots++;
}

/* ---- fixture ------------------------------------------------------------------------ */

static uint64_t table_alloc(void *ctx) { return x86_pmm_alloc(((struct x86_64_mm *)ctx)->pmm); }

static uint64_t *table_ptr(void *ctx, uint64_t pa)
{
	(void)ctx;
	assert_true(pa >= PHYS_BASE && pa < PHYS_BASE + FRAMES * PAGE);
	return (uint64_t *)(void *)(phys_mem + (pa - PHYS_BASE));
}

static void invalidate(void *ctx, uintptr_t va)
{
	(void)ctx;
	last_invalidated = va;
	invalidations++;
}

static int (*glue_map)(void *, uintptr_t, uint64_t);

static int counting_map(void *ctx, uintptr_t va, uint64_t pa)
{
	maps++;
	return glue_map(ctx, va, pa);
}

static int setup(void **state)
{
	(void)state;
	struct multiboot_mmap_entry map[2] = {
		{20, 0, 0x9FC00, MULTIBOOT_MEMORY_AVAILABLE},
		{20, PHYS_BASE, FRAMES * PAGE, MULTIBOOT_MEMORY_AVAILABLE},
	};
	if (!pmm_bits) {
		pmm_words = x86_pmm_storage_words(x86_mmap_top(map, sizeof map));
		pmm_bits = mmap(NULL, pmm_words * 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		assert_true(pmm_bits != MAP_FAILED);
	}
	assert_int_equal(x86_pmm_init_mmap(&pmm, map, sizeof map, pmm_bits, pmm_words), FRAMES);
	const struct x86_64_vmm_ops ops = {table_alloc, table_ptr, invalidate, &mm};
	assert_int_equal(x86_64_vmm_init(&vmm, x86_pmm_alloc(&pmm), &ops), X86_64_VMM_OK);
	if (!heap_base) {
		size_t len = HEAP_PAGES * PAGE + 2 * REGION;
		void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		assert_true(m != MAP_FAILED);
		heap_base = (((uintptr_t)m + REGION - 1) & ~(uintptr_t)(REGION - 1)) + REGION - 4 * PAGE;
	}
	memset((void *)heap_base, 0xAB, HEAP_PAGES * PAGE);  /* stale data the hooks must clear */
	x86_64_heap_ops_init(&heap_ops, &mm);
	assert_non_null(heap_ops.shootdown);                  /* mm.smp: glue.c shoots down with tlb.c */
	assert_non_null(heap_ops.frames_free);
	glue_map = heap_ops.map;
	heap_ops.map = counting_map;
	heap_ops.shootdown = shootdown;                       /* observe it instead */
	assert_int_equal(x86_64_heap_init(&heap_ops, heap_base, HEAP_PAGES, heap_bits), 0);
	free_at_start = x86_pmm_free_frames(&pmm);
	invalidations = maps = n_shots = 0;
	sim_rflags = 0x2 | X86_64_RFLAGS_IF;
	return 0;
}

static uintptr_t va(const void *p, size_t page) { return (uintptr_t)p + page * PAGE; }

/* The frame page va maps to, or 0. */
static uint64_t frame_of(uintptr_t v)
{
	uint64_t pa;
	return x86_64_vmm_query(&vmm, v, &pa, NULL) == X86_64_VMM_OK ? pa : 0;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_init_rejects_bad_arguments(void **state)
{
	(void)state;
	struct x86_64_heap_ops bad = heap_ops;
	assert_int_equal(x86_64_heap_init(NULL, heap_base, 16, heap_bits), -1);
	assert_int_equal(x86_64_heap_init(&heap_ops, heap_base + 8, 16, heap_bits), -1);
	assert_int_equal(x86_64_heap_init(&heap_ops, heap_base, 0, heap_bits), -1);
	assert_int_equal(x86_64_heap_init(&heap_ops, heap_base, 16, NULL), -1);
	bad.unmap = NULL;
	assert_int_equal(x86_64_heap_init(&bad, heap_base, 16, heap_bits), -1);
	/* Non-canonical, crossing the hole, wrapping past 2^64. */
	assert_int_equal(x86_64_heap_init(&heap_ops, 0x0000800000000000ull, 16, heap_bits), -1);
	assert_int_equal(x86_64_heap_init(&heap_ops, 0x00007FFFFFFF0000ull, 17, heap_bits), -1);
	assert_int_equal(x86_64_heap_init(&heap_ops, 0xFFFFFFFFFFFF0000ull, 17, heap_bits), -1);
	/* Up to the end of the low half, or of the address space, exactly. */
	assert_int_equal(x86_64_heap_init(&heap_ops, 0x00007FFFFFFF0000ull, 16, heap_bits), 0);
	assert_int_equal(x86_64_heap_init(&heap_ops, 0xFFFFFFFFFFFF0000ull, 16, heap_bits), 0);
	assert_int_equal(x86_64_heap_init(&heap_ops, 0xFFFFC00000000000ull, 16, heap_bits), 0);
}

static void test_alloc_maps_zeroed_frames_above_4gib(void **state)
{
	(void)state;
	unsigned char *p = liballoc_alloc_page(6);
	assert_ptr_equal(p, (void *)heap_base);
	assert_int_equal(x86_64_heap_pages(), 6);
	/* 6 distinct frames above 4 GiB, each handed out by the PMM; tables: the
	 * first map takes a PDPT, a PD and a PT, the two pages past the 2 MiB
	 * boundary a second PT. */
	uint64_t frames[6];
	for (size_t i = 0; i < 6; i++) {
		frames[i] = frame_of(va(p, i));
		assert_true(frames[i] >= PHYS_BASE && x86_pmm_allocated(&pmm, frames[i]));
		for (size_t j = 0; j < i; j++)
			assert_true(frames[i] != frames[j]);
	}
	assert_int_equal(vmm.tables, 4);
	assert_int_equal(x86_pmm_free_frames(&pmm), free_at_start - 6 - 4);
	for (size_t i = 0; i < 6 * PAGE; i++)
		assert_int_equal(p[i], 0);
	uint64_t flags;
	assert_int_equal(x86_64_vmm_query(&vmm, va(p, 0), NULL, &flags), X86_64_VMM_OK);
	assert_true(flags == (X86_64_PTE_PRESENT | X86_64_PTE_WRITE | X86_64_PTE_NX));  /* supervisor, no execute */
	assert_true(frame_of(va(p, 6)) == 0);
	void *q = liballoc_alloc_page(1);
	assert_ptr_equal(q, p + 6 * PAGE);
	assert_int_equal(liballoc_free_page(q, 1), 0);
	assert_int_equal(liballoc_free_page(p, 6), 0);
	assert_int_equal(x86_64_heap_pages(), 0);
	assert_int_equal(x86_pmm_free_frames(&pmm), free_at_start - 4);  /* the tables stay */
	assert_int_equal(x86_64_heap_errors(), 0);
}

static void test_free_shoots_down_before_frames_go_back(void **state)
{
	(void)state;
	unsigned char *p = liballoc_alloc_page(8);
	size_t after = x86_pmm_free_frames(&pmm);
	uint64_t f3 = frame_of(va(p, 3));
	/* Middle, then head, then tail, as the core trims aligned runs. Each time
	 * the other CPUs are asked while the range's frames are still out. */
	assert_int_equal(liballoc_free_page(p + 3 * PAGE, 2), 0);
	assert_int_equal(n_shots, 1);
	assert_true(shots[0].va == va(p, 3) && shots[0].pages == 2 && shots[0].pmm_free == after);
	assert_true((frame_of(va(p, 3)) | frame_of(va(p, 4))) == 0);
	assert_false(x86_pmm_allocated(&pmm, f3));
	assert_int_equal(invalidations, 2);  /* and each page dropped locally */
	assert_true(last_invalidated == va(p, 4));
	assert_int_equal(x86_pmm_free_frames(&pmm), after + 2);
	assert_int_equal(liballoc_free_page(p, 3), 0);
	assert_true(shots[1].va == va(p, 0) && shots[1].pages == 3 && shots[1].pmm_free == after + 2);
	assert_int_equal(x86_64_heap_pages(), 3);
	assert_int_equal(liballoc_free_page(p + 5 * PAGE, 3), 0);
	assert_int_equal(n_shots, 3);
	assert_true(shots[2].va == va(p, 5) && shots[2].pages == 3 && shots[2].pmm_free == after + 5);
	assert_int_equal(invalidations, 8);
	assert_int_equal(x86_64_heap_pages(), 0);
	assert_int_equal(x86_pmm_free_frames(&pmm), after + 8);
}

/* A long run goes back in batches: one shootdown per X86_64_HEAP_BATCH pages,
 * each before its own batch's frames go back. */
static void test_free_in_batches(void **state)
{
	(void)state;
	size_t n = 2 * X86_64_HEAP_BATCH + 76;
	unsigned char *p = liballoc_alloc_page(n);
	assert_non_null(p);
	size_t before = x86_pmm_free_frames(&pmm);
	assert_int_equal(liballoc_free_page(p, n), 0);
	assert_int_equal(n_shots, 3);
	assert_true(shots[0].va == va(p, 0) && shots[0].pages == X86_64_HEAP_BATCH && shots[0].pmm_free == before);
	assert_true(shots[1].va == va(p, X86_64_HEAP_BATCH) && shots[1].pages == X86_64_HEAP_BATCH &&
		    shots[1].pmm_free == before + X86_64_HEAP_BATCH);
	assert_true(shots[2].va == va(p, 2 * X86_64_HEAP_BATCH) && shots[2].pages == 76 &&
		    shots[2].pmm_free == before + 2 * X86_64_HEAP_BATCH);
	assert_int_equal(x86_64_heap_pages(), 0);
	assert_int_equal(x86_pmm_free_frames(&pmm), free_at_start - vmm.tables);
}

static void test_bad_frees_change_nothing(void **state)
{
	(void)state;
	unsigned char *p = liballoc_alloc_page(4);
	size_t frames = x86_pmm_free_frames(&pmm);
	assert_int_equal(liballoc_free_page(p, 1), 0);
	invalidations = n_shots = 0;
	assert_int_equal(liballoc_free_page(p, 1), -1);                 /* double free */
	assert_int_equal(liballoc_free_page(p, 2), -1);                 /* overlaps a freed page */
	assert_int_equal(liballoc_free_page(p + 4 * PAGE, 1), -1);      /* never handed out */
	assert_int_equal(liballoc_free_page(p + PAGE + 16, 1), -1);     /* misaligned */
	assert_int_equal(liballoc_free_page(p + PAGE, 4), -1);          /* runs past the run */
	assert_int_equal(liballoc_free_page((void *)(heap_base - PAGE), 1), -1);  /* below the range */
	assert_int_equal(liballoc_free_page(NULL, 1), -1);
	assert_int_equal(liballoc_free_page(p + PAGE, 0), -1);
	assert_int_equal(invalidations, 0);
	assert_int_equal(n_shots, 0);
	assert_int_equal(x86_64_heap_pages(), 3);
	assert_int_equal(x86_pmm_free_frames(&pmm), frames + 1);
	assert_true(frame_of(va(p, 1)) && frame_of(va(p, 3)));
	assert_int_equal(liballoc_free_page(p + PAGE, 3), 0);
	assert_int_equal(x86_64_heap_errors(), 0);
}

/* Take frames from the PMM until `leave` are free; returns how many were taken
 * (a run starting at *first). */
static size_t hog(size_t leave, x86_paddr *first)
{
	size_t n = x86_pmm_free_frames(&pmm) - leave;
	*first = x86_pmm_alloc_run(&pmm, n);
	assert_true(*first != 0);
	return n;
}

/* With the PMM's free count, a request it cannot back fails before any map. */
static void test_too_few_frames_fails_at_once(void **state)
{
	(void)state;
	assert_int_equal(liballoc_free_page(liballoc_alloc_page(6), 6), 0);  /* tables for both regions */
	x86_paddr hogged;
	size_t n = hog(10, &hogged);
	maps = n_shots = invalidations = 0;
	assert_null(liballoc_alloc_page(11));
	assert_int_equal(maps, 0);
	assert_int_equal(n_shots, 0);
	assert_int_equal(x86_pmm_free_frames(&pmm), 10);
	void *p = liballoc_alloc_page(10);
	assert_ptr_equal(p, (void *)heap_base);
	assert_int_equal(x86_pmm_free_frames(&pmm), 0);
	assert_null(liballoc_alloc_page(1));
	assert_int_equal(liballoc_free_page(p, 10), 0);
	assert_int_equal(x86_pmm_free(&pmm, hogged, n), 0);
	assert_int_equal(x86_64_heap_errors(), 0);
}

/* Without it (a kernel's PMM that cannot tell), the hooks map what they can and
 * undo it: unmapped, shot down, every frame back, the range free again. */
static void test_frames_run_out_mid_run(void **state)
{
	(void)state;
	heap_ops.frames_free = NULL;
	assert_int_equal(x86_64_heap_init(&heap_ops, heap_base, HEAP_PAGES, heap_bits), 0);
	assert_int_equal(liballoc_free_page(liballoc_alloc_page(6), 6), 0);
	x86_paddr hogged;
	size_t n = hog(10, &hogged);
	invalidations = n_shots = 0;
	assert_null(liballoc_alloc_page(11));
	assert_int_equal(x86_pmm_free_frames(&pmm), 10);
	for (size_t i = 0; i < 11; i++)
		assert_true(frame_of(va((void *)heap_base, i)) == 0);
	assert_int_equal(invalidations, 10);
	assert_int_equal(n_shots, 1);
	assert_true(shots[0].va == heap_base && shots[0].pages == 10 && shots[0].pmm_free == 0);  /* all still out */
	assert_int_equal(x86_64_heap_pages(), 0);
	void *p = liballoc_alloc_page(10);
	assert_ptr_equal(p, (void *)heap_base);
	assert_int_equal(liballoc_free_page(p, 10), 0);
	assert_int_equal(x86_pmm_free(&pmm, hogged, n), 0);
	assert_int_equal(x86_64_heap_errors(), 0);
}

static void test_page_tables_run_out_mid_run(void **state)
{
	(void)state;
	/* Only the first 2 MiB region has a page table; 5 frames left: pages 0..3
	 * map, page 4 takes the last frame and then finds no frame for its table.
	 * The free count (5 >= 5) lets the attempt start. */
	assert_int_equal(liballoc_free_page(liballoc_alloc_page(1), 1), 0);
	assert_int_equal(vmm.tables, 3);
	x86_paddr hogged;
	size_t n = hog(5, &hogged);
	n_shots = 0;
	assert_null(liballoc_alloc_page(5));
	assert_int_equal(x86_pmm_free_frames(&pmm), 5);
	assert_int_equal(vmm.tables, 3);
	assert_int_equal(n_shots, 1);
	/* Page 4's frame went straight back (never mapped); pages 0..3's after. */
	assert_true(shots[0].va == heap_base && shots[0].pages == 4 && shots[0].pmm_free == 1);
	for (size_t i = 0; i < 5; i++)
		assert_true(frame_of(va((void *)heap_base, i)) == 0);
	void *p = liballoc_alloc_page(4);  /* four pages fit where the table is */
	assert_ptr_equal(p, (void *)heap_base);
	assert_int_equal(liballoc_free_page(p, 4), 0);
	assert_int_equal(x86_pmm_free(&pmm, hogged, n), 0);
	assert_int_equal(x86_64_heap_pages(), 0);
	assert_int_equal(x86_64_heap_errors(), 0);
}

static void test_range_runs_out(void **state)
{
	(void)state;
	static uint32_t small_bits[X86_64_HEAP_STORAGE_WORDS(16)];
	assert_int_equal(x86_64_heap_init(&heap_ops, heap_base, 16, small_bits), 0);
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
	assert_int_equal(x86_64_heap_pages(), 0);
}

static void test_lock_nests_and_restores(void **state)
{
	(void)state;
	sim_rflags = 0x2 | X86_64_RFLAGS_IF | 0x1;  /* interrupts on, carry set */
	assert_int_equal(liballoc_lock(), 0);
	assert_false(sim_rflags & X86_64_RFLAGS_IF);
	assert_int_equal(liballoc_lock(), 0);
	assert_int_equal(x86_64_heap_lock_depth(), 2);
	assert_int_equal(liballoc_unlock(), 0);
	assert_false(sim_rflags & X86_64_RFLAGS_IF);  /* inner unlock: still off */
	assert_int_equal(liballoc_unlock(), 0);
	assert_int_equal(sim_rflags, 0x2 | X86_64_RFLAGS_IF | 0x1);  /* outermost: RFLAGS restored */
	assert_int_equal(liballoc_unlock(), -1);                      /* unbalanced: refused */
	assert_int_equal(sim_rflags, 0x2 | X86_64_RFLAGS_IF | 0x1);
	sim_rflags = 0x2;
	assert_int_equal(liballoc_lock(), 0);
	assert_int_equal(liballoc_unlock(), 0);
	assert_int_equal(sim_rflags, 0x2);  /* interrupts were off: they stay off */
	sim_rflags = 0x2 | X86_64_RFLAGS_IF;
	assert_true(x86_64_heap_lock()->acquired >= 2);
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
		assert_int_equal(st.obtained, x86_64_heap_pages() * PAGE);
		assert_int_equal(st.obtained, st.metadata);
		assert_int_equal(x86_pmm_free_frames(&pmm) + x86_64_heap_pages() + vmm.tables + 1, FRAMES);
		assert_int_equal(liballoc_check(), LIBALLOC_OK);
	}
	assert_true(n_shots > 0);
	assert_int_equal(reported, 0);
	assert_int_equal(x86_64_heap_errors(), 0);
	assert_int_equal(x86_64_heap_lock_depth(), 0);
	assert_true(sim_rflags & X86_64_RFLAGS_IF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_init_rejects_bad_arguments, setup),
		cmocka_unit_test_setup(test_alloc_maps_zeroed_frames_above_4gib, setup),
		cmocka_unit_test_setup(test_free_shoots_down_before_frames_go_back, setup),
		cmocka_unit_test_setup(test_free_in_batches, setup),
		cmocka_unit_test_setup(test_bad_frees_change_nothing, setup),
		cmocka_unit_test_setup(test_too_few_frames_fails_at_once, setup),
		cmocka_unit_test_setup(test_frames_run_out_mid_run, setup),
		cmocka_unit_test_setup(test_page_tables_run_out_mid_run, setup),
		cmocka_unit_test_setup(test_range_runs_out, setup),
		cmocka_unit_test_setup(test_lock_nests_and_restores, setup),
		/* Last: the core's heap state outlives one fixture. */
		cmocka_unit_test_setup(test_kmalloc_on_top, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
