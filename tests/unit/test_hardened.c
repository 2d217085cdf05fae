/* test_hardened.c — cmocka tests that hardened mode reports overflows, use-after-free writes and double frees with the pointer. */
/* SPDX-License-Identifier: MIT */
/*
 * Built only in hardened configurations (LIBALLOC_HARDENED=1). Each detection
 * must reach the error handler exactly once, with the code and the block's
 * pointer, leave the heap's counters untouched by the bad call, and the heap must
 * work normally once the damage is undone.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "unit_test.h"

#define THRESHOLD LIBALLOC_HUGE_THRESHOLD

_Static_assert(LIBALLOC_HARDENED, "test_hardened is built only in hardened configurations");

/* Keep the compiler from seeing through the deliberate misuse. */
static unsigned char *volatile sink;
static unsigned char *opaque(void *p)
{
	sink = p;
	return sink;
}

static const size_t sizes[] = {0, 1, 15, 16, 17, 31, 100, 1000, 4095, 4096, THRESHOLD / 2, THRESHOLD + 1,
			       3 * THRESHOLD + 7};

/* One byte written past the requested size is caught by free, realloc,
 * malloc_usable_size and liballoc_check, for chunk and huge blocks alike. */
static void test_write_past_end(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i];
		unsigned char *p = opaque(liballoc_malloc(n)), *keep = liballoc_malloc(40);
		assert_non_null(p);
		assert_int_equal(liballoc_malloc_usable_size(p), n);  /* exactly: the canary follows */
		memset(p, 0x33, n);
		p[n] ^= 0xff;
		assert_int_equal(liballoc_check(), LIBALLOC_E_OVERFLOW);
		EXPECT_REPORT(LIBALLOC_E_OVERFLOW, p, liballoc_free(p));
		errno = 0;
		EXPECT_REPORT(LIBALLOC_E_OVERFLOW, p, assert_null(liballoc_realloc(p, n + 100)));
		assert_int_equal(errno, EINVAL);
		EXPECT_REPORT(LIBALLOC_E_OVERFLOW, p, assert_int_equal(liballoc_malloc_usable_size(p), 0));
		p[n] ^= 0xff;  /* undone: the block is intact and frees normally */
		assert_int_equal(liballoc_check(), LIBALLOC_OK);
		for (size_t k = 0; k < n; k++)
			assert_int_equal(p[k], 0x33);
		liballoc_free(p);
		liballoc_free(keep);
	}
}

/* An overflow that writes one value over two canary bytes is caught whatever the
 * block's canary: the canary's bytes all differ. So is a one-byte overflow of a NUL
 * or of a text character: no canary byte is below 0x80. With a canary of one
 * repeated byte (or bytes of any value), about one block in 256 (its canary
 * happening to be that value) went unnoticed; 2 048 live blocks of three sizes, so
 * at addresses of every residue, make that near certain. */
#define UNIFORM_BLOCKS 2048
static void test_uniform_overflow_always_caught(void **state)
{
	static unsigned char *blocks[UNIFORM_BLOCKS];
	(void)state;
	for (int i = 0; i < UNIFORM_BLOCKS; i++)
		assert_non_null(blocks[i] = liballoc_malloc(40 + 16 * (size_t)(i % 3)));
	for (int i = 0; i < UNIFORM_BLOCKS; i++) {
		unsigned char *p = opaque(blocks[i]), saved[2];
		size_t n = 40 + 16 * (size_t)(i % 3);
		memcpy(saved, p + n, 2);
		memset(p + n, 'X', 2);
		EXPECT_REPORT(LIBALLOC_E_OVERFLOW, p, liballoc_free(p));
		memcpy(p + n, saved, 2);
		for (int k = 0; k < 3; k++) {  /* one byte: NUL, a letter, DEL */
			p[n] = "\0X\x7f"[k];
			EXPECT_REPORT(LIBALLOC_E_OVERFLOW, p, liballoc_free(p));
			p[n] = saved[0];
		}
	}
	for (int i = 0; i < UNIFORM_BLOCKS; i++)
		liballoc_free(blocks[i]);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
}

/* The canary moves with the requested size through every kind of realloc. */
static void test_canary_follows_realloc(void **state)
{
	(void)state;
	unsigned char *p = liballoc_malloc(100);
	static const size_t steps[] = {50, 60, 200, 7, 5000, 4000, THRESHOLD + 100, THRESHOLD + 50, 3 * THRESHOLD, 30};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		size_t n = steps[i];
		p = opaque(liballoc_realloc(p, n));
		assert_non_null(p);
		assert_int_equal(liballoc_malloc_usable_size(p), n);
		p[n] ^= 0x01;
		EXPECT_REPORT(LIBALLOC_E_OVERFLOW, p, liballoc_free(p));
		p[n] ^= 0x01;
	}
	liballoc_free(p);
}

/* A write into a freed block is found by liballoc_check at once, and reported by
 * the malloc that hands the block out again (which still succeeds: the block is
 * sound, only its content was written). */
static void test_use_after_free_write(void **state)
{
	(void)state;
	static const size_t n_list[] = {40, 200, 3000};
	for (size_t i = 0; i < sizeof n_list / sizeof n_list[0]; i++) {
		size_t n = n_list[i];
		unsigned char *a = liballoc_malloc(n), *p = opaque(liballoc_malloc(n)), *c = liballoc_malloc(n);
		liballoc_free(p);
		p[n / 2 + 8] = 0x42;  /* past the free-list links, inside the freed payload */
		assert_int_equal(liballoc_check(), LIBALLOC_E_USE_AFTER_FREE);
		size_t errors = tp.errors, live = stats().live_blocks;
		unsigned char *q = liballoc_malloc(n);  /* same class: the block just freed */
		assert_ptr_equal(q, p);
		assert_int_equal(tp.errors, errors + 1);
		assert_int_equal(tp.last_error, LIBALLOC_E_USE_AFTER_FREE);
		assert_ptr_equal(tp.last_ptr, p);
		assert_int_equal(stats().live_blocks, live + 1);
		assert_int_equal(liballoc_check(), LIBALLOC_OK);
		liballoc_free(q);
		liballoc_free(a);
		liballoc_free(c);
	}
}

/* realloc growing in place into a freed neighbour checks the neighbour's poison. */
static void test_use_after_free_found_by_realloc(void **state)
{
	(void)state;
	/* a's shrinking leaves its tail free right after it: p, written to. */
	unsigned char *a = liballoc_malloc(3 * TEST_BIG);
	assert_ptr_equal(liballoc_realloc(a, TEST_BIG), a);
	unsigned char *p = opaque(test_next_block(a));
	p[100] ^= 0x10;
	size_t errors = tp.errors;
	unsigned char *g = liballoc_realloc(a, 2 * TEST_BIG);  /* grows over p's memory */
	assert_ptr_equal(g, a);
	assert_int_equal(tp.errors, errors + 1);
	assert_int_equal(tp.last_error, LIBALLOC_E_USE_AFTER_FREE);
	assert_ptr_equal(tp.last_ptr, p);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);  /* the modified byte is live memory now */
	liballoc_free(g);
}

/* Memory that was poisoned never leaks into calloc. */
static void test_calloc_after_poison(void **state)
{
	(void)state;
	for (size_t n = 16; n < 20000; n = n * 3 + 1) {
		unsigned char *p = liballoc_malloc(n);
		memset(p, 0xee, n);
		liballoc_free(p);
		unsigned char *z = liballoc_calloc(1, n);
		for (size_t k = 0; k < n; k++)
			assert_int_equal(z[k], 0);
		liballoc_free(z);
	}
	assert_int_equal(tp.errors, 0);
}

/* The cheap checks stay on in hardened mode: double free and realloc of a freed
 * block, of chunk blocks (alone or merged) and huge blocks. */
static void test_double_free(void **state)
{
	(void)state;
	unsigned char *a = liballoc_malloc(100), *b = opaque(liballoc_malloc(100)), *keep = liballoc_malloc(10);
	liballoc_free(b);
	EXPECT_REPORT(LIBALLOC_E_DOUBLE_FREE, b, liballoc_free(b));
	liballoc_free(a);  /* merges with b */
	EXPECT_REPORT(LIBALLOC_E_DOUBLE_FREE, a, liballoc_free(a));
	EXPECT_REPORT(LIBALLOC_E_DOUBLE_FREE, b, liballoc_free(b));
	errno = 0;
	EXPECT_REPORT(LIBALLOC_E_REALLOC_FREED, b, assert_null(liballoc_realloc(b, 10)));
	assert_int_equal(errno, EINVAL);
	unsigned char *h = opaque(liballoc_malloc(THRESHOLD * 2));
	tp.free_seen = 0;
	tp.fail_free_at = 1;  /* the run stays (dead) until trim: still a double free */
	size_t errors = tp.errors;
	liballoc_free(h);
	assert_int_equal(tp.errors, errors);
	EXPECT_REPORT(LIBALLOC_E_DOUBLE_FREE, h, liballoc_free(h));
	tp.fail_free_at = 0;
	assert_true(liballoc_trim() > 0);
	EXPECT_REPORT(LIBALLOC_E_FOREIGN_POINTER, h, liballoc_free(h));  /* its pages went back */
	liballoc_free(keep);
}

/* A plain pointer written over a freed block's links is not followed: links are
 * stored mangled, and the forged one fails the check before any write. */
static void test_forged_free_list_link(void **state)
{
	(void)state;
	static unsigned char target[64] __attribute__((aligned(16)));
	void *k1 = liballoc_malloc(48);
	uintptr_t *f = (uintptr_t *)opaque(liballoc_malloc(48));
	void *k2 = liballoc_malloc(48);
	liballoc_free(f);
	uintptr_t saved[2] = {f[0], f[1]};
	assert_true(saved[0] != 0 || saved[1] != 0);  /* mangled even when the list is empty */
	f[0] = (uintptr_t)target;
	f[1] = (uintptr_t)target;
	assert_int_not_equal(liballoc_check(), LIBALLOC_OK);
	size_t errors = tp.errors;
	void *r = liballoc_malloc(48);
#ifdef LIBALLOC_THREAD_LOCAL
	/* A thread cache hands out f (sound itself) and reports its forged link. */
	assert_ptr_equal(r, f);
#else
	assert_null(r);  /* the heap's list refuses the block */
#endif
	assert_int_equal(tp.errors, errors + 1);
	assert_int_equal(tp.last_error, LIBALLOC_E_FREE_LIST);
	assert_ptr_equal(tp.last_ptr, f);
	for (size_t i = 0; i < sizeof target; i++)
		assert_int_equal(target[i], 0);  /* never written through the forged link */
	f[0] = saved[0];
	f[1] = saved[1];
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	liballoc_free(r);
	liballoc_free(k1);
	liballoc_free(k2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_past_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uniform_overflow_always_caught, setup, teardown),
		cmocka_unit_test_setup_teardown(test_canary_follows_realloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_use_after_free_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_use_after_free_found_by_realloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_calloc_after_poison, setup, teardown),
		cmocka_unit_test_setup_teardown(test_double_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forged_free_list_link, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
