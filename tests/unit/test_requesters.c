/* test_requesters.c — cmocka tests of requester recording, the quarantine, liballoc_walk and liballoc_describe. */
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

static int record_on(void **state)
{
	setup(state);
	liballoc_record_requesters(1);
	return 0;
}

static int record_off(void **state)
{
	liballoc_record_requesters(0);
	liballoc_trim();  /* empty the quarantine */
	return teardown(state);
}

static const char site_a[] = "site-a", site_b[] = "site-b";

static struct liballoc_block describe(const void *p)
{
	struct liballoc_block b;
	memset(&b, 0, sizeof b);
	assert_int_equal(liballoc_describe(NULL, p, &b), 1);
	return b;
}

/* A recorded block names its requester, live and after it is freed (cached or
 * quarantined: either way its header stays, so a double free can name it). */
static void test_site_recorded(void **state)
{
	(void)state;
	unsigned char *p = liballoc_heap_malloc_at(NULL, 100, site_a);
	unsigned char *big = liballoc_heap_malloc_at(NULL, TEST_BIG, site_b);
	assert_non_null(p);
	assert_non_null(big);
	struct liballoc_block d = describe(p);
	assert_int_equal(d.state, LIBALLOC_BLOCK_LIVE);
	assert_int_equal(d.size, 100);
	assert_true(d.usable >= 100 && d.usable <= 100 + 31);  /* the trailer is not usable */
	assert_ptr_equal(d.site, site_a);
	assert_int_equal(liballoc_malloc_usable_size(p), LIBALLOC_HARDENED ? 100 : d.usable);
	memset(p, 0xee, liballoc_malloc_usable_size(p));  /* every usable byte written: the trailer survives */
	assert_ptr_equal(describe(p).site, site_a);
	assert_ptr_equal(describe(p + 40).ptr, p);  /* an interior pointer: the block it is in */
	liballoc_free(p);
	d = describe(p);
	assert_true(d.state == LIBALLOC_BLOCK_CACHED || d.state == LIBALLOC_BLOCK_QUARANTINED);
	assert_ptr_equal(d.site, site_a);
	EXPECT_REPORT(LIBALLOC_E_DOUBLE_FREE, p, liballoc_free(p));
	liballoc_free(big);  /* too big for any cache: quarantined */
	d = describe(big);
	assert_int_equal(d.state, LIBALLOC_BLOCK_QUARANTINED);
	assert_ptr_equal(d.site, site_b);
	assert_non_null(d.freed_at);
	EXPECT_REPORT(LIBALLOC_E_DOUBLE_FREE, big, liballoc_free(big));
	EXPECT_REPORT(LIBALLOC_E_REALLOC_FREED, big, assert_null(liballoc_realloc(big, 10)));
	assert_true(stats().quarantined >= 1);  /* big; p too unless a thread cache took it */
}

/* The stale double free: the address would be handed out again at once, so a
 * second free would free the new owner's block. The quarantine keeps it back. */
static void test_stale_double_free(void **state)
{
	(void)state;
	size_t sizes[] = {TEST_BIG, THRESHOLD / 2, 4 * THRESHOLD};  /* chunk blocks, and a huge run */
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		void *p = liballoc_malloc(sizes[i]);
		liballoc_free(p);
		void *q = liballoc_malloc(sizes[i]);
		assert_ptr_not_equal(q, p);
		EXPECT_REPORT(LIBALLOC_E_DOUBLE_FREE, p, liballoc_free(p));
		assert_int_equal(describe(q).state, LIBALLOC_BLOCK_LIVE);  /* q untouched */
		liballoc_free(q);
	}
}

/* At most 64 blocks and LIBALLOC_QUARANTINE_BYTES; trim empties it. */
static void test_quarantine_bounded(void **state)
{
	(void)state;
	static void *p[200];
	for (int i = 0; i < 200; i++)
		assert_non_null(p[i] = liballoc_malloc(TEST_BIG));
	for (int i = 0; i < 200; i++)
		liballoc_free(p[i]);
	struct liballoc_stats st = stats();
	assert_true(st.quarantined >= 1 && st.quarantined <= 64);
	assert_true((st.quarantined - 1) * TEST_BIG <= LIBALLOC_QUARANTINE_BYTES);
	assert_int_equal(st.live_blocks, 0);
	assert_true(liballoc_trim() > 0);
	assert_int_equal(stats().quarantined, 0);
	assert_int_equal(stats().chunks, 0);
}

/* Out of pages, the heap uses what the quarantine holds before it fails. */
static void test_quarantine_yields_when_out_of_memory(void **state)
{
	(void)state;
	void *p = liballoc_malloc(THRESHOLD / 2);  /* a chunk to itself */
	liballoc_free(p);
	tp.alloc_seen = 0;
	tp.fail_alloc_at = 1;  /* the port is out of pages once */
	void *q = liballoc_malloc(THRESHOLD / 2);
	tp.fail_alloc_at = 0;
	assert_non_null(q);
	assert_int_equal(stats().quarantined, 0);
	liballoc_free(q);
}

/* Hardened: a write into a quarantined block is found by liballoc_check and
 * reported when the block leaves the quarantine. */
static void test_quarantine_write_after_free(void **state)
{
	(void)state;
	if (!LIBALLOC_HARDENED)
		skip();
	unsigned char *p = liballoc_malloc(TEST_BIG);
	liballoc_free(p);
	p[100] ^= 1;
	assert_int_equal(liballoc_check(), LIBALLOC_E_USE_AFTER_FREE);
	size_t errors = tp.errors;
	liballoc_trim();
	assert_int_equal(tp.errors, errors + 1);
	assert_int_equal(tp.last_error, LIBALLOC_E_USE_AFTER_FREE);
	assert_ptr_equal(tp.last_ptr, p);
}

/* realloc's caller becomes the requester, whether the block moves or not; calloc
 * zeroes what it was asked for, the trailer beyond. */
static void test_realloc_and_calloc_keep_sites(void **state)
{
	(void)state;
	unsigned char *p = liballoc_heap_malloc_at(NULL, 40, site_a);
	memset(p, 7, 40);
	p = liballoc_heap_realloc_at(NULL, p, TEST_BIG, site_b);  /* grows */
	assert_ptr_equal(describe(p).site, site_b);
	assert_int_equal(p[39], 7);
	unsigned char *q = liballoc_heap_realloc_at(NULL, p, TEST_BIG - 200, site_a);  /* shrinks in place */
	assert_ptr_equal(q, p);
	assert_ptr_equal(describe(q).site, site_a);
	unsigned char *z = liballoc_heap_calloc_at(NULL, 3, 50, site_a);
	for (size_t i = 0; i < 150; i++)
		assert_int_equal(z[i], 0);
	assert_ptr_equal(describe(z).site, site_a);
	liballoc_free(q);
	liballoc_free(z);
}

/* Without recording there is no trailer: the header is the only metadata. */
static void test_no_trailer_when_off(void **state)
{
	(void)state;
	liballoc_record_requesters(0);
	void *p = liballoc_malloc(TEST_BIG);
	struct liballoc_block d = describe(p);
	assert_null(d.site);
	assert_true(d.usable <= TEST_BIG + 31 + 16);  /* rounding, the canary, a remainder below 32 */
	liballoc_free(p);
	assert_int_equal(stats().quarantined, 0);  /* no trailer: released at once */
	liballoc_record_requesters(1);
}

struct walk_count {
	size_t live, bytes, huge, stop_after, seen;
	const void *site;
	size_t at_site;
};

static int count_block(const struct liballoc_block *b, void *arg)
{
	struct walk_count *w = arg;
	w->seen++;
	if (b->state == LIBALLOC_BLOCK_LIVE) {
		w->live++;
		w->bytes += b->size;
		w->huge += b->huge;
		w->at_site += b->site == w->site;
		assert_true(b->run != NULL && (char *)b->ptr > (char *)b->run &&
			    (char *)b->ptr + b->usable <= (char *)b->run + b->run_bytes);
	}
	return w->stop_after && w->seen == w->stop_after ? 42 : 0;
}

/* liballoc_walk sees every live block with its size and requester, and stops when
 * the visitor says so. */
static void test_walk(void **state)
{
	(void)state;
	static void *p[50];
	for (int i = 0; i < 50; i++)
		p[i] = liballoc_heap_malloc_at(NULL, i % 5 == 0 ? (size_t)2 * THRESHOLD : (size_t)(10 + i * 30),
					      i % 2 ? site_a : site_b);
	struct liballoc_stats st = stats();
	struct walk_count w = {.site = site_a};
	assert_int_equal(liballoc_walk(NULL, count_block, &w), 0);
	assert_int_equal(w.live, st.live_blocks);
	assert_int_equal(w.bytes, st.in_use);
	if (LIBALLOC_STATS)
		assert_int_equal(w.huge, st.huge_blocks);
	assert_int_equal(w.at_site, 25);
	struct walk_count stop = {.stop_after = 3};
	assert_int_equal(liballoc_walk(NULL, count_block, &stop), 42);
	assert_int_equal(stop.seen, 3);
	for (int i = 0; i < 50; i++)
		liballoc_free(p[i]);
	assert_int_equal(liballoc_describe(NULL, &w, &(struct liballoc_block){0}), 0);  /* not the heap's */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_site_recorded, record_on, record_off),
		cmocka_unit_test_setup_teardown(test_stale_double_free, record_on, record_off),
		cmocka_unit_test_setup_teardown(test_quarantine_bounded, record_on, record_off),
		cmocka_unit_test_setup_teardown(test_quarantine_yields_when_out_of_memory, record_on, record_off),
		cmocka_unit_test_setup_teardown(test_quarantine_write_after_free, record_on, record_off),
		cmocka_unit_test_setup_teardown(test_realloc_and_calloc_keep_sites, record_on, record_off),
		cmocka_unit_test_setup_teardown(test_no_trailer_when_off, record_on, record_off),
		cmocka_unit_test_setup_teardown(test_walk, record_on, record_off),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
