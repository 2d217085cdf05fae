/* test_random.c — long randomized run of the whole API against a shadow model, liballoc_check after every operation. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pattern.h"
#include "test_port.h"

#define SLOTS 512
#define THRESHOLD LIBALLOC_HUGE_THRESHOLD
#ifndef LIBALLOC_TEST_OPS
#define LIBALLOC_TEST_OPS 40000
#endif

/* The shadow model: what must be live, where, how big, with which content. */
struct slot {
	unsigned char *p;
	size_t size;
	size_t align;
	unsigned seed;
};
static struct slot slot[SLOTS];
static size_t model_bytes, model_live;
static uint64_t rng;

static uint64_t next(void) { return pattern_next(&rng); }
static size_t below(size_t n) { return pattern_below(&rng, n); }

/* Mostly small, some medium, a few beyond the huge threshold. */
static size_t random_size(void)
{
	unsigned r = (unsigned)below(100);
	if (r < 60)
		return below(257);
	if (r < 85)
		return below(4097);
	if (r < 97)
		return below(THRESHOLD);
	return THRESHOLD + below(4 * THRESHOLD);
}

static void verify(const struct slot *s, size_t n)
{
	size_t i = pattern_check(s->p, n, s->seed);
	if (i < n)
		fail_msg("block %p (size %zu) byte %zu corrupted", (void *)s->p, s->size, i);
}

static void install(struct slot *s, void *p, size_t size, size_t align)
{
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % (align < 16 ? 16 : align), 0);
	assert_true(liballoc_malloc_usable_size(p) >= size);
	s->p = p;
	s->size = size;
	s->align = align;
	s->seed = (unsigned)next();
	pattern_fill(s->p, s->size, s->seed);
	model_bytes += size;
	model_live++;
}

static void drop(struct slot *s)
{
	verify(s, s->size);
	liballoc_free(s->p);
	model_bytes -= s->size;
	model_live--;
	s->p = NULL;
}

/* One random operation on a random slot. Allocations may fail only while the
 * port is told to fail; then the model must not change. */
static void step(bool failures_possible)
{
	struct slot *s = &slot[below(SLOTS)];
	unsigned op = (unsigned)below(100);
	size_t n = random_size();
	if (s->p && op < 45) {
		drop(s);
	} else if (s->p && op < 75) {  /* realloc keeps the common prefix */
		size_t keep = s->size < n ? s->size : n;
		verify(s, s->size);
		errno = 0;
		void *q = liballoc_realloc(s->p, n ? n : 1);
		if (!q) {
			assert_true(failures_possible);
			assert_int_equal(errno, ENOMEM);
			verify(s, s->size);  /* the old block is intact */
			return;
		}
		s->p = q;
		verify(s, keep);
		model_bytes -= s->size;
		model_live--;
		install(s, q, n ? n : 1, 16);
	} else if (!s->p) {
		void *p = NULL;
		size_t align = 16;
		if (op < 60) {
			p = liballoc_malloc(n);
		} else if (op < 75) {
			size_t count = 1 + below(8);
			n = n / count;
			p = liballoc_calloc(count, n);
			n *= count;
			for (size_t i = 0; p && i < n; i++)
				if (((unsigned char *)p)[i])
					fail_msg("calloc(%zu) byte %zu not zero", n, i);
		} else if (op < 90) {
			align = (size_t)1 << (3 + below(15));
			int e = liballoc_posix_memalign(&p, align, n);
			assert_true(e == 0 || (e == ENOMEM && failures_possible));
		} else {
			align = (size_t)1 << (4 + below(10));
			p = op < 95 ? liballoc_aligned_alloc(align, n) : liballoc_memalign(align, n);
		}
		if (!p) {
			assert_true(failures_possible);
			return;
		}
		install(s, p, n, align);
	} else if (op < 80) {
		liballoc_trim();
	}
}

static void run(size_t ops, bool failures)
{
	for (size_t i = 0; i < ops; i++) {
		if (below(500) == 0) {  /* blocks with and without requester trailers, mixed */
			int on = liballoc_record_requesters(0);
			liballoc_record_requesters(!on);
		}
		if (failures)
			tp.fail_alloc_every = 1 + below(5);
		step(failures);
		tp.fail_alloc_every = 0;
		int e = liballoc_check();
		if (e)
			fail_msg("op %zu: liballoc_check: %s", i, liballoc_strerror(e));
		struct liballoc_stats st;
		liballoc_stats(&st);
		assert_int_equal(st.in_use, model_bytes);
		assert_int_equal(st.live_blocks, model_live);
		if (i % 2000 == 0)
			for (size_t k = 0; k < SLOTS; k++)
				if (slot[k].p)
					verify(&slot[k], slot[k].size);
	}
}

static void free_all(void)
{
	for (size_t k = 0; k < SLOTS; k++)
		if (slot[k].p)
			drop(&slot[k]);
	liballoc_trim();
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	struct liballoc_stats st;
	liballoc_stats(&st);
	assert_int_equal(st.in_use, 0);
	assert_int_equal(st.live_blocks, 0);
	assert_int_equal(st.chunks, 0);
	assert_int_equal(st.obtained, st.metadata);  /* every chunk and huge run went back */
}

static void test_random_ops(void **state)
{
	(void)state;
	run(LIBALLOC_TEST_OPS, false);
	free_all();
	assert_int_equal(tp.errors, 0);
}

static void test_random_ops_with_page_failures(void **state)
{
	(void)state;
	run(LIBALLOC_TEST_OPS / 4, true);
	run(LIBALLOC_TEST_OPS / 8, false);  /* and recovers fully */
	free_all();
	assert_int_equal(tp.errors, 0);
}

int main(void)
{
	const char *env = getenv("LIBALLOC_TEST_SEED");
	rng = env ? strtoull(env, NULL, 0) : 0x5eed1234abcdull;
	if (!rng)
		rng = 1;
	printf("# seed 0x%llx (set LIBALLOC_TEST_SEED to replay)\n", (unsigned long long)rng);
	test_port_reset();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_ops),
		cmocka_unit_test(test_random_ops_with_page_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
