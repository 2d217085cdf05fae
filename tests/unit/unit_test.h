/* unit_test.h — what the cmocka suites of the core share: stats, fixtures, and the misuse-report assertion. */
/* SPDX-License-Identifier: MIT */
/* Include after <cmocka.h> (and its prerequisite headers). */
#ifndef UNIT_TEST_H
#define UNIT_TEST_H

#include "test_port.h"

static inline struct liballoc_stats stats(void)
{
	struct liballoc_stats s;
	liballoc_stats(&s);
	return s;
}

/* Fixtures: every test starts with fresh port counters and ends with a consistent
 * heap, the lock never nested and no page hook called outside it. */
static inline int setup(void **state)
{
	(void)state;
	/* Requester trailers and the quarantine (on by default in hardened mode) are
	 * tested where a test turns them on: the others see blocks released at once.
	 * trim empties the quarantine earlier tests left. */
	liballoc_record_requesters(0);
	liballoc_trim();
	test_port_reset();
	return 0;
}

static inline int teardown(void **state)
{
	(void)state;
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	assert_true(tp.max_lock_depth <= 1);
	assert_false(tp.hook_outside_lock);
	return 0;
}

/* Run `op`, which misuses the heap with `ptr`: exactly one report of `code` naming
 * `ptr`, counted, and the heap's totals exactly as before. */
#define EXPECT_REPORT(code, ptr, op)                                                  \
	do {                                                                          \
		struct liballoc_stats before_ = stats();                              \
		size_t errors_ = tp.errors;                                           \
		op;                                                                   \
		assert_int_equal(tp.errors, errors_ + 1);                             \
		assert_int_equal(tp.last_error, (code));                              \
		assert_ptr_equal(tp.last_ptr, (ptr));                                 \
		struct liballoc_stats after_ = stats();                               \
		assert_int_equal(after_.in_use, before_.in_use);                      \
		assert_int_equal(after_.live_blocks, before_.live_blocks);            \
		assert_int_equal(after_.free_bytes, before_.free_bytes);              \
		assert_int_equal(after_.obtained, before_.obtained);                  \
		assert_int_equal(after_.errors, before_.errors + 1);                  \
	} while (0)

/* The same, on a heap that was sound and must stay so (liballoc_check passes). */
#define EXPECT_CLEAN_REPORT(code, ptr, op)                                            \
	do {                                                                          \
		EXPECT_REPORT(code, ptr, op);                                         \
		assert_int_equal(liballoc_check(), LIBALLOC_OK);                      \
	} while (0)

#endif
