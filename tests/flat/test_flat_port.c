/* test_flat_port.c — cmocka tests of the flat port's hooks over a static array: bounds, exhaustion, reuse, fragmentation, sub-ranges, misuse, lock. */
/* SPDX-License-Identifier: MIT */
/*
 * Built once per page size and lock variant (meson.build). The port is global,
 * so every test starts from liballoc_flat_init over the arena and the teardown
 * hands back whatever a failed test left out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "flat_pages.h"
#include "flat_port.h"

#define PAGE ((size_t)LIBALLOC_PAGE_SIZE)
#define ARENA_PAGES 66
#define REGION_PAGES 64  /* the default region: the first 64 pages of the arena */

static _Alignas(LIBALLOC_PAGE_SIZE) unsigned char arena[ARENA_PAGES * LIBALLOC_PAGE_SIZE];

/* ---- lock primitives of the IRQ variant, simulated -------------------------------- */

#if LIBALLOC_FLAT_IRQ_HOOKS
static uint32_t primask;  /* 1: "interrupts" masked */
static unsigned restores;

uint32_t liballoc_flat_irq_save(void)
{
	uint32_t old = primask;
	primask = 1;
	return old;
}

void liballoc_flat_irq_restore(uint32_t state)
{
	primask = state;
	restores++;
}
#endif

/* ---- helpers ----------------------------------------------------------------------- */

static struct liballoc_flat_stats stats(void)
{
	struct liballoc_flat_stats s;
	liballoc_flat_stats(&s);
	return s;
}

static unsigned char *page(size_t i) { return (unsigned char *)stats().base + i * PAGE; }

static int setup(void **state)
{
	(void)state;
	assert_int_equal(liballoc_flat_init(arena, REGION_PAGES * PAGE), 0);
	return 0;
}

/* Return every page a failed test left out, so the next init succeeds. */
static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARENA_PAGES; i++)
		liballoc_free_page(arena + i * PAGE, 1);
	assert_int_equal(liballoc_flat_pages_given(), 0);
	assert_int_equal(liballoc_flat_lock_depth(), 0);
#if LIBALLOC_FLAT_IRQ_HOOKS
	assert_int_equal(primask, 0);
#endif
	return 0;
}

/* A run the port handed out: page-aligned, inside its pages, writable. */
static void assert_run(const unsigned char *p, size_t n)
{
	struct liballoc_flat_stats s = stats();
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % PAGE, 0);
	assert_true((uintptr_t)p >= s.base && (uintptr_t)p + n * PAGE <= s.base + s.pages * PAGE);
	memset((void *)p, 0x5a, n * PAGE);
}

/* ---- region bounds ------------------------------------------------------------------- */

static void test_init_carves_map_from_aligned_start(void **state)
{
	(void)state;
	struct liballoc_flat_stats s = stats();
	/* 64 pages need 2 * 2 bitmap words (16 bytes): they take the first page. */
	assert_int_equal(s.map_bytes, flat_pages_words(REGION_PAGES - 1) * 4);
	assert_ptr_equal((void *)s.base, arena + PAGE);
	assert_int_equal(s.pages, REGION_PAGES - 1);
	assert_int_equal(s.free_pages, s.pages);
	assert_int_equal(s.given_pages, 0);
	assert_int_equal(s.largest_free, s.pages);
}

static void test_init_unaligned_bounds(void **state)
{
	(void)state;
	/* Start 13 bytes in: the map goes to the next word (arena + 16), in the slack
	 * before the first page boundary, so every whole page is usable. */
	assert_int_equal(liballoc_flat_init(arena + 13, REGION_PAGES * PAGE - 13), 0);
	struct liballoc_flat_stats s = stats();
	assert_ptr_equal((void *)s.base, arena + PAGE);
	assert_int_equal(s.pages, REGION_PAGES - 1);
	assert_true(s.map_bytes > 0 && s.map_bytes <= PAGE - 16);
	/* An unaligned end loses the partial last page. */
	assert_int_equal(liballoc_flat_init(arena + 13, REGION_PAGES * PAGE - 13 - 7), 0);
	s = stats();
	assert_ptr_equal((void *)s.base, arena + PAGE);
	assert_int_equal(s.pages, REGION_PAGES - 2);
	/* Every page is usable and the last one ends inside the region. */
	unsigned char *p = liballoc_alloc_page(s.pages);
	assert_run(p, s.pages);
	assert_true(p + s.pages * PAGE <= arena + REGION_PAGES * PAGE - 7);
	assert_null(liballoc_alloc_page(1));
	assert_int_equal(liballoc_free_page(p, s.pages), 0);
	/* The bitmap bytes survived the writes to every page. */
	assert_int_equal(stats().free_pages, s.pages);
	assert_int_equal(stats().largest_free, s.pages);
}

static void test_init_caller_map(void **state)
{
	(void)state;
	static uint32_t map[LIBALLOC_FLAT_MAP_WORDS(REGION_PAGES * LIBALLOC_PAGE_SIZE)];
	assert_int_equal(liballoc_flat_init_map(arena, REGION_PAGES * PAGE, map, sizeof map / 4), 0);
	struct liballoc_flat_stats s = stats();
	assert_ptr_equal((void *)s.base, arena);
	assert_int_equal(s.pages, REGION_PAGES);
	assert_int_equal(s.map_bytes, 0);
	unsigned char *p = liballoc_alloc_page(REGION_PAGES);
	assert_run(p, REGION_PAGES);
	assert_int_equal(liballoc_free_page(p, REGION_PAGES), 0);
	/* Too small a map, or none, is refused. */
	assert_int_equal(liballoc_flat_init_map(arena, REGION_PAGES * PAGE, map, sizeof map / 4 - 1), -1);
	assert_int_equal(liballoc_flat_init_map(arena, REGION_PAGES * PAGE, NULL, 100), -1);
	assert_int_equal(stats().pages, REGION_PAGES);
}

static void test_init_refuses_bad_regions(void **state)
{
	(void)state;
	struct liballoc_flat_stats before = stats();
	assert_int_equal(liballoc_flat_init(arena, PAGE - 1), -1);               /* no whole page */
	assert_int_equal(liballoc_flat_init(arena, PAGE), -1);                   /* the map takes it */
	assert_int_equal(liballoc_flat_init(arena + 1, 2 * PAGE - 2), -1);       /* no whole page */
	assert_int_equal(liballoc_flat_init((void *)(UINTPTR_MAX - 64), 128), -1); /* wraps */
	assert_int_equal(stats().pages, before.pages);
	/* The smallest region: two pages, one for the map. */
	assert_int_equal(liballoc_flat_init(arena, 2 * PAGE), 0);
	assert_int_equal(stats().pages, 1);
	assert_ptr_equal((void *)stats().base, arena + PAGE);
}

static void test_reinit_refused_while_pages_are_out(void **state)
{
	(void)state;
	unsigned char *p = liballoc_alloc_page(3);
	assert_run(p, 3);
	assert_int_equal(liballoc_flat_init(arena + 2 * PAGE, 10 * PAGE), -1);
	assert_int_equal(stats().pages, REGION_PAGES - 1);  /* unchanged */
	assert_int_equal(liballoc_free_page(p, 3), 0);
	assert_int_equal(liballoc_flat_init(arena + 2 * PAGE, 10 * PAGE), 0);
	assert_int_equal(stats().pages, 9);
}

/* ---- exhaustion, reuse, fragmentation ------------------------------------------------ */

static void test_exhaustion_and_recovery(void **state)
{
	(void)state;
	size_t n = stats().pages, calls = stats().alloc_calls, failures = stats().alloc_failures;
	unsigned char *run[REGION_PAGES];
	for (size_t i = 0; i < n; i++) {
		run[i] = liballoc_alloc_page(1);
		assert_run(run[i], 1);
		assert_ptr_equal(run[i], page(i));  /* first fit: lowest free page */
	}
	assert_int_equal(stats().free_pages, 0);
	assert_int_equal(stats().largest_free, 0);
	assert_null(liballoc_alloc_page(1));
	assert_int_equal(stats().alloc_calls, calls + n + 1);
	assert_int_equal(stats().alloc_failures, failures + 1);
	/* One page back: exactly that page is handed out again. */
	assert_int_equal(liballoc_free_page(run[17], 1), 0);
	assert_ptr_equal(liballoc_alloc_page(1), run[17]);
	assert_null(liballoc_alloc_page(1));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(liballoc_free_page(run[i], 1), 0);
	/* Everything came back and merged into one run. */
	assert_int_equal(stats().given_pages, 0);
	assert_int_equal(stats().largest_free, n);
	assert_null(liballoc_alloc_page(n + 1));
	unsigned char *all = liballoc_alloc_page(n);
	assert_ptr_equal(all, page(0));
	assert_run(all, n);
	assert_int_equal(liballoc_free_page(all, n), 0);
}

static void test_reuse_first_fit(void **state)
{
	(void)state;
	unsigned char *a = liballoc_alloc_page(4), *b = liballoc_alloc_page(4), *c = liballoc_alloc_page(2);
	assert_ptr_equal(a, page(0));
	assert_ptr_equal(b, page(4));
	assert_ptr_equal(c, page(8));
	assert_int_equal(liballoc_free_page(a, 4), 0);
	assert_ptr_equal(liballoc_alloc_page(4), a);      /* freed run reused */
	assert_int_equal(liballoc_free_page(a, 4), 0);
	assert_ptr_equal(liballoc_alloc_page(2), a);      /* lowest hole first */
	assert_ptr_equal(liballoc_alloc_page(3), page(10)); /* the 2-page rest is too short */
	assert_ptr_equal(liballoc_alloc_page(2), page(2));
	assert_int_equal(stats().given_pages, 4 + 4 + 2 + 3);
	assert_int_equal(liballoc_free_page(page(0), 13), 0);  /* spans four runs */
	assert_int_equal(stats().given_pages, 0);
}

static void test_fragmentation_and_merging(void **state)
{
	(void)state;
	size_t n = stats().pages;
	assert_non_null(liballoc_alloc_page(n));
	/* Free every other page: half the region is free, in 1-page holes. */
	for (size_t i = 0; i < n; i += 2)
		assert_int_equal(liballoc_free_page(page(i), 1), 0);
	size_t holes = (n + 1) / 2;
	assert_int_equal(stats().free_pages, holes);
	assert_int_equal(stats().largest_free, 1);
	assert_null(liballoc_alloc_page(2));
	assert_null(liballoc_alloc_page(8));
	/* Free the neighbours 21, 23, 25, 27: pages 20..28 merge into one 9-page run. */
	for (size_t i = 21; i < 28; i += 2)
		assert_int_equal(liballoc_free_page(page(i), 1), 0);
	assert_int_equal(stats().largest_free, 9);
	assert_null(liballoc_alloc_page(10));
	unsigned char *big = liballoc_alloc_page(8);
	assert_ptr_equal(big, page(20));
	assert_run(big, 8);
	/* Small requests still fill the holes from the bottom. */
	assert_ptr_equal(liballoc_alloc_page(1), page(0));
	assert_ptr_equal(liballoc_alloc_page(1), page(2));
	assert_int_equal(liballoc_free_page(page(0), 1), 0);
	assert_int_equal(liballoc_free_page(page(2), 1), 0);
	assert_int_equal(liballoc_free_page(big, 8), 0);
	/* Free the remaining odd pages: the whole region is one run again. */
	for (size_t i = 1; i < n; i += 2)
		if (i < 21 || i > 27)
			assert_int_equal(liballoc_free_page(page(i), 1), 0);
	assert_int_equal(stats().free_pages, n);
	assert_int_equal(stats().largest_free, n);
}

/* The core frees any page-aligned sub-range of a run, in any order. */
static void test_sub_range_frees(void **state)
{
	(void)state;
	unsigned char *r = liballoc_alloc_page(8);
	assert_run(r, 8);
	assert_int_equal(liballoc_free_page(r + 3 * PAGE, 2), 0);      /* middle */
	assert_int_equal(stats().given_pages, 6);
	assert_int_equal(liballoc_free_page(r + 3 * PAGE, 1), -1);     /* again: double free */
	assert_int_equal(liballoc_free_page(r + 2 * PAGE, 2), -1);     /* straddles a freed page */
	assert_int_equal(stats().given_pages, 6);                      /* nothing changed */
	assert_ptr_equal(liballoc_alloc_page(2), r + 3 * PAGE);        /* the hole is reused */
	assert_int_equal(liballoc_free_page(r + 3 * PAGE, 2), 0);
	assert_int_equal(liballoc_free_page(r + 7 * PAGE, 1), 0);      /* tail */
	assert_int_equal(liballoc_free_page(r, 3), 0);                 /* head */
	assert_int_equal(liballoc_free_page(r + 5 * PAGE, 2), 0);      /* the rest */
	assert_int_equal(stats().given_pages, 0);
	assert_int_equal(stats().largest_free, stats().pages);
}

static void test_foreign_and_misaligned_frees(void **state)
{
	(void)state;
	unsigned char *r = liballoc_alloc_page(2);
	size_t rejects = stats().free_rejects;
	static unsigned char outside[64];
	assert_int_equal(liballoc_free_page(outside, 1), -1);                  /* foreign */
	assert_int_equal(liballoc_free_page(arena, 1), -1);                    /* the bitmap's page */
	assert_int_equal(liballoc_free_page(r + 1, 1), -1);                    /* misaligned */
	assert_int_equal(liballoc_free_page(r + PAGE / 2, 1), -1);
	assert_int_equal(liballoc_free_page(r, 0), -1);                        /* empty */
	assert_int_equal(liballoc_free_page(r, 3), -1);                        /* runs past the run */
	assert_int_equal(liballoc_free_page(r, SIZE_MAX), -1);                 /* past the region */
	assert_int_equal(liballoc_free_page(page(stats().pages - 1), 1), -1);  /* never handed out */
	assert_int_equal(liballoc_free_page(arena + REGION_PAGES * PAGE, 1), -1); /* past the end */
	assert_int_equal(liballoc_free_page(NULL, 1), -1);
	assert_int_equal(stats().free_rejects, rejects + 10);
	assert_int_equal(stats().given_pages, 2);
	assert_int_equal(liballoc_free_page(r, 2), 0);
	assert_int_equal(liballoc_free_page(r, 2), -1);                        /* double free */
	assert_null(liballoc_alloc_page(0));
	assert_null(liballoc_alloc_page(SIZE_MAX));
}

/* flat_pages_alloc's upper limit for a region that ends at the top of the
 * address space (flat_pages manages addresses; it never touches the pages). */
static void test_limit_at_top_of_address_space(void **state)
{
	(void)state;
	struct flat_pages fp;
	uint32_t map[4];  /* flat_pages_words(16) */
	unsigned shift = (unsigned)__builtin_ctz(LIBALLOC_PAGE_SIZE);
	uintptr_t base = (uintptr_t)0 - 16 * PAGE;
	flat_pages_init(&fp, base, 16, shift, map);
	flat_pages_release(&fp, base, (uint64_t)16 * PAGE);
	assert_int_equal(flat_pages_largest(&fp), 16);
	assert_null(flat_pages_alloc(&fp, 5, base + 4 * PAGE));
	assert_int_equal((uintptr_t)flat_pages_alloc(&fp, 4, base + 4 * PAGE), base);
	assert_null(flat_pages_alloc(&fp, 1, base + 4 * PAGE));
	assert_int_equal((uintptr_t)flat_pages_alloc(&fp, 12, UINTPTR_MAX), base + 4 * PAGE);
	assert_int_equal(flat_pages_largest(&fp), 0);
}

/* ---- lock ------------------------------------------------------------------------------ */

static void test_lock_nesting(void **state)
{
	(void)state;
	assert_int_equal(liballoc_flat_lock_depth(), 0);
	assert_int_equal(liballoc_lock(), 0);
#if LIBALLOC_FLAT_IRQ_HOOKS
	assert_int_equal(primask, 1);
#endif
	assert_int_equal(liballoc_lock(), 0);
	assert_int_equal(liballoc_lock(), 0);
	assert_int_equal(liballoc_flat_lock_depth(), 3);
	/* Port calls nest inside a held lock. */
	assert_int_equal(liballoc_flat_pages_given(), 0);
	assert_int_equal(liballoc_flat_lock_depth(), 3);
	assert_int_equal(liballoc_unlock(), 0);
	assert_int_equal(liballoc_unlock(), 0);
#if LIBALLOC_FLAT_IRQ_HOOKS
	assert_int_equal(primask, 1);  /* still inside the outermost lock */
#endif
	assert_int_equal(liballoc_unlock(), 0);
	assert_int_equal(liballoc_flat_lock_depth(), 0);
#if LIBALLOC_FLAT_IRQ_HOOKS
	assert_int_equal(primask, 0);
#endif
	/* An unbalanced unlock is refused and changes nothing. */
	assert_int_equal(liballoc_unlock(), -1);
	assert_int_equal(liballoc_flat_lock_depth(), 0);
}

#if LIBALLOC_FLAT_IRQ_HOOKS
static void test_irq_lock_keeps_callers_mask(void **state)
{
	(void)state;
	primask = 1;  /* the caller masked interrupts itself */
	assert_int_equal(liballoc_lock(), 0);
	assert_int_equal(liballoc_lock(), 0);
	assert_int_equal(liballoc_unlock(), 0);
	assert_int_equal(liballoc_unlock(), 0);
	assert_int_equal(primask, 1);
	primask = 0;
	unsigned r = restores;
	assert_int_equal(liballoc_unlock(), -1);
	assert_int_equal(restores, r);  /* the unbalanced unlock did not touch the mask */
	/* Every port call leaves the mask as it found it. */
	struct liballoc_flat_stats s;
	liballoc_flat_stats(&s);
	void *p = liballoc_alloc_page(1);
	assert_int_equal(primask, 0);
	assert_int_equal(liballoc_free_page(p, 1), 0);
	assert_int_equal(primask, 0);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_carves_map_from_aligned_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_unaligned_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_caller_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_refuses_bad_regions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reinit_refused_while_pages_are_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exhaustion_and_recovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reuse_first_fit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fragmentation_and_merging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sub_range_frees, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_and_misaligned_frees, setup, teardown),
		cmocka_unit_test(test_limit_at_top_of_address_space),
		cmocka_unit_test_setup_teardown(test_lock_nesting, setup, teardown),
#if LIBALLOC_FLAT_IRQ_HOOKS
		cmocka_unit_test_setup_teardown(test_irq_lock_keeps_callers_mask, setup, teardown),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
