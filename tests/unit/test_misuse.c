/* test_misuse.c — cmocka tests that every misuse is reported with its pointer and leaves the heap intact. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "unit_test.h"

#define THRESHOLD LIBALLOC_HUGE_THRESHOLD

static char static_buf[64] __attribute__((aligned(16)));

/* Run `op` on ptr and require exactly one report of `code` naming `ptr`, with
 * the heap's counters and structure unchanged. */
static void test_double_free(void **state)
{
	(void)state;
	/* alone, merged with the next block, merged with the previous one, huge */
	void *a = liballoc_malloc(100), *b = liballoc_malloc(100), *c = liballoc_malloc(100), *keep = liballoc_malloc(8);
	liballoc_free(b);
	EXPECT_CLEAN_REPORT(LIBALLOC_E_DOUBLE_FREE, b, liballoc_free(b));
	liballoc_free(a);  /* a absorbs b */
	EXPECT_CLEAN_REPORT(LIBALLOC_E_DOUBLE_FREE, a, liballoc_free(a));
	EXPECT_CLEAN_REPORT(LIBALLOC_E_DOUBLE_FREE, b, liballoc_free(b));
	liballoc_free(c);  /* merged into its predecessor: its header is gone */
	EXPECT_CLEAN_REPORT(LIBALLOC_E_DOUBLE_FREE, c, liballoc_free(c));
	void *h = liballoc_malloc(THRESHOLD * 2), *h2 = liballoc_malloc(THRESHOLD * 2);
	liballoc_free(h);
	EXPECT_CLEAN_REPORT(LIBALLOC_E_FOREIGN_POINTER, h, liballoc_free(h));  /* its pages went back to the port */
	liballoc_free(h2);
	liballoc_free(keep);
}

static void test_invalid_pointers(void **state)
{
	(void)state;
	char stack_buf[64] __attribute__((aligned(16)));
	char *p = liballoc_malloc(200), *h = liballoc_malloc(THRESHOLD * 3);
	EXPECT_CLEAN_REPORT(LIBALLOC_E_FOREIGN_POINTER, stack_buf, liballoc_free(stack_buf));
	EXPECT_CLEAN_REPORT(LIBALLOC_E_FOREIGN_POINTER, static_buf, liballoc_free(static_buf));
	EXPECT_CLEAN_REPORT(LIBALLOC_E_FOREIGN_POINTER, (void *)16, liballoc_free((void *)16));
	EXPECT_CLEAN_REPORT(LIBALLOC_E_FOREIGN_POINTER, (void *)UINTPTR_MAX, liballoc_free((void *)UINTPTR_MAX));
	EXPECT_CLEAN_REPORT(LIBALLOC_E_INTERIOR_POINTER, p + 16, liballoc_free(p + 16));
	EXPECT_CLEAN_REPORT(LIBALLOC_E_INTERIOR_POINTER, p + 1, liballoc_free(p + 1));
	EXPECT_CLEAN_REPORT(LIBALLOC_E_INTERIOR_POINTER, p + 96, liballoc_free(p + 96));
	EXPECT_CLEAN_REPORT(LIBALLOC_E_INTERIOR_POINTER, h + 4096, liballoc_free(h + 4096));
	EXPECT_CLEAN_REPORT(LIBALLOC_E_INTERIOR_POINTER, h + 48, liballoc_free(h + 48));
	EXPECT_CLEAN_REPORT(LIBALLOC_E_INTERIOR_POINTER, p + 16, liballoc_realloc(p + 16, 10));
	EXPECT_CLEAN_REPORT(LIBALLOC_E_FOREIGN_POINTER, stack_buf, assert_int_equal(liballoc_malloc_usable_size(stack_buf), 0));
	/* the blocks themselves are untouched and still free normally */
	liballoc_free(p);
	liballoc_free(h);
}

static void test_realloc_of_freed(void **state)
{
	(void)state;
	void *a = liballoc_malloc(64), *b = liballoc_malloc(64);
	liballoc_free(a);
	errno = 0;
	EXPECT_CLEAN_REPORT(LIBALLOC_E_REALLOC_FREED, a, assert_null(liballoc_realloc(a, 128)));
	assert_int_equal(errno, EINVAL);
	liballoc_free(b);
}

static void test_overwritten_header(void **state)
{
	(void)state;
	/* A write before the block (underflow) breaks its check word: reported as an
	 * overwritten header, and the block is left alone rather than trusted. */
	unsigned char *a = liballoc_malloc(TEST_BIG), *b = liballoc_malloc(TEST_BIG), *c = liballoc_malloc(TEST_BIG);
	unsigned char saved[16];
	memcpy(saved, b - 16, 16);
	b[-12] ^= 0x40;  /* the size word */
	size_t errors = tp.errors, live = stats().live_blocks;
	liballoc_free(b);
	assert_int_equal(tp.errors, errors + 1);
	assert_int_equal(tp.last_error, LIBALLOC_E_HEADER);
	assert_ptr_equal(tp.last_ptr, b);
	assert_int_equal(stats().live_blocks, live);  /* the free did not go through */
	assert_int_equal(liballoc_check(), LIBALLOC_E_HEADER);  /* check sees it too */
	memcpy(b - 16, saved, 16);  /* repair */
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	/* Freeing a block verifies its neighbour's header before merging: reported. */
	unsigned char *nx = test_next_block(a), nsaved[16];
	memcpy(nsaved, nx - 16, 16);
	nx[-12] ^= 0x40;
	liballoc_free(a);
	assert_int_equal(tp.errors, errors + 2);
	assert_int_equal(tp.last_error, LIBALLOC_E_HEADER);
	assert_ptr_equal(tp.last_ptr, nx);
	assert_int_equal(stats().live_blocks, live);  /* neither free went through */
	memcpy(nx - 16, nsaved, 16);  /* repair, and everything frees */
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	liballoc_free(a);
	liballoc_free(b);
	liballoc_free(c);
}

static void test_free_list_corruption(void **state)
{
	(void)state;
	/* A use-after-free write into a free block's list links is caught before the
	 * links are followed: here by the merge when its neighbour is freed. */
	unsigned char *a = liballoc_malloc(3 * TEST_BIG);
	assert_ptr_equal(liballoc_realloc(a, TEST_BIG), a);  /* a free block now follows a */
	uintptr_t *f = (uintptr_t *)test_next_block(a), saved = f[0];
	f[0] = (uintptr_t)static_buf;
	size_t errors = tp.errors, live = stats().live_blocks;
	liballoc_free(a);
	assert_int_equal(tp.errors, errors + 1);
	assert_int_equal(tp.last_error, LIBALLOC_E_FREE_LIST);
	assert_ptr_equal(tp.last_ptr, f);
	assert_int_equal(stats().live_blocks, live);  /* the free was abandoned */
	assert_int_equal(liballoc_check(), LIBALLOC_E_FREE_LIST);
	f[0] = saved;
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	liballoc_free(a);
}

#ifdef LIBALLOC_THREAD_LOCAL
/* A thread cache's link overwritten in a freed block (here one flipped bit) is
 * caught when the block holding it is handed out again, reported against that
 * block; the chain behind it is abandoned, never followed. */
static void test_cache_link_corruption(void **state)
{
	(void)state;
	void *a = liballoc_malloc(48);
	uintptr_t *f = liballoc_malloc(48);
	liballoc_free(a);
	liballoc_free(f);  /* the bin's head; its link leads to a */
	f[0] ^= 1;
	size_t errors = tp.errors;
	void *r = liballoc_malloc(48);
	assert_ptr_equal(r, f);  /* f itself is sound */
	assert_int_equal(tp.errors, errors + 1);
	assert_int_equal(tp.last_error, LIBALLOC_E_FREE_LIST);
	assert_ptr_equal(tp.last_ptr, f);
	void *s = liballoc_malloc(48);  /* served afresh, not through the forged link */
	assert_ptr_not_equal(s, (void *)((uintptr_t)a ^ 1));
	liballoc_free(r);
	liballoc_free(s);
}
#endif

/* A port whose run is not page-aligned breaks its contract: reported in every build
 * (LIBALLOC_E_PORT, with the address), the run handed back and not used, the
 * allocation failing cleanly; the heap stays sound and the next call works. */
static void test_port_misaligned_run(void **state)
{
	(void)state;
	liballoc_trim();
	size_t pages = test_port_pages_out(), errors = tp.errors;
	struct liballoc_stats before = stats();
	tp.misalign_next = true;
	errno = 0;
	assert_null(liballoc_malloc(LIBALLOC_HUGE_THRESHOLD * 2));
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(tp.errors, errors + 1);
	assert_int_equal(tp.last_error, LIBALLOC_E_PORT);
	assert_non_null(tp.last_ptr);
	assert_int_equal((uintptr_t)tp.last_ptr % LIBALLOC_PAGE_SIZE, 40);
	assert_null(tp.misaligned);  /* handed back */
	assert_int_equal(test_port_pages_out(), pages);
	assert_int_equal(stats().obtained, before.obtained);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	void *p = liballoc_malloc(LIBALLOC_HUGE_THRESHOLD * 2);
	assert_non_null(p);
	liballoc_free(p);
}

/* A handler that allocates: legal because reports come after the lock is released. */
static int depth_in_handler = -1;
static int reentrant_calls;

static void allocating_handler(int error, void *ptr)
{
	depth_in_handler = tp.lock_depth;
	void *p = liballoc_malloc(TEST_BIG);  /* not cached: the heap is as before once it is freed */
	liballoc_free(p);
	reentrant_calls++;
	test_port_on_error(error, ptr);
}

static void test_reports_after_unlock(void **state)
{
	(void)state;
	liballoc_error_fn old = liballoc_set_error_handler(allocating_handler);
	void *a = liballoc_malloc(64), *pin = liballoc_malloc(64);  /* pin keeps the chunk */
	liballoc_free(a);
	size_t errors = tp.errors;
	liballoc_free(a);  /* the handler allocates: the heap's totals may move */
	assert_int_equal(tp.errors, errors + 1);
	assert_int_equal(tp.last_error, LIBALLOC_E_DOUBLE_FREE);
	assert_ptr_equal(tp.last_ptr, a);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	assert_int_equal(depth_in_handler, 0);
	assert_int_equal(reentrant_calls, 1);
	assert_ptr_equal(liballoc_set_error_handler(old), allocating_handler);
	assert_int_equal(tp.max_lock_depth, 1);
	liballoc_free(pin);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_double_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_pointers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_realloc_of_freed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overwritten_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_list_corruption, setup, teardown),
#ifdef LIBALLOC_THREAD_LOCAL
		cmocka_unit_test_setup_teardown(test_cache_link_corruption, setup, teardown),
#endif
		cmocka_unit_test_setup_teardown(test_port_misaligned_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reports_after_unlock, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
