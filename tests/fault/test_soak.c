/* test_soak.c — cmocka soak test: 10^7 operations of a steady-state workload, memory obtained must not drift upward. */
/* SPDX-License-Identifier: MIT */
/*
 * The workload is stationary: a fixed number of slots, each op frees or fills a
 * random slot (sizes from one fixed distribution: mostly small, some up to chunk
 * size, a few huge; some reallocs), so the live set fluctuates around a constant
 * mean. A healthy allocator then holds a bounded amount of memory; fragmentation
 * that accumulates shows up as memory obtained creeping up over time.
 *
 * Samples of `obtained` and `in_use` are taken every SOAK_OPS / 100 operations.
 * After a warm-up (the first tenth), the peak obtained in the last tenth may exceed
 * the peak in the first tenth after warm-up by at most SOAK_DRIFT percent, and
 * obtained / in_use (the overhead) may not grow either. Block stamps are checked
 * on every free, liballoc_check() every SOAK_OPS / 20 operations, and at the end
 * everything frees and trim returns every page but the page map's.
 */
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

#define PAGE ((size_t)LIBALLOC_PAGE_SIZE)
#define THRESHOLD ((size_t)LIBALLOC_HUGE_THRESHOLD)
#ifndef SOAK_OPS
#define SOAK_OPS 10000000u
#endif
#define SOAK_DRIFT 5  /* percent */
#define SLOTS 4096
#define SAMPLES 100

struct slot {
	unsigned char *p;
	size_t n;
	uint32_t stamp;
};
static struct slot slot[SLOTS];
static uint64_t rng = 0x50a4c0ffeeull;

static uint64_t next(void) { return pattern_next(&rng); }

/* Log-uniform over 1 B .. 64 KiB, plus 1 in 500 huge (up to 4 x threshold). */
static size_t size_of(uint64_t r)
{
	if (r % 500 == 0)
		return THRESHOLD + (size_t)(r >> 20) % (3 * THRESHOLD);
	unsigned bits = (unsigned)(r >> 9) % 16;
	return ((size_t)1 << bits) + (size_t)(r >> 24) % ((size_t)1 << bits);
}

/* Stamp the first and last 4 bytes: catches overlap without writing whole blocks. */
static void stamp(struct slot *s)
{
	s->stamp = (uint32_t)next();
	if (s->n >= 8) {
		memcpy(s->p, &s->stamp, 4);
		memcpy(s->p + s->n - 4, &s->stamp, 4);
	} else if (s->n) {
		memset(s->p, (int)(s->stamp & 0xff), s->n);
	}
}

static void check_stamp(const struct slot *s)
{
	uint32_t a, b;
	if (s->n >= 8) {
		memcpy(&a, s->p, 4);
		memcpy(&b, s->p + s->n - 4, 4);
		if (a != s->stamp || b != s->stamp)
			fail_msg("block %p (%zu bytes) overwritten", (void *)s->p, s->n);
	} else {
		for (size_t i = 0; i < s->n; i++)
			if (s->p[i] != (unsigned char)(s->stamp & 0xff))
				fail_msg("block %p (%zu bytes) overwritten", (void *)s->p, s->n);
	}
}

static size_t peak(const size_t *v, size_t from, size_t to)
{
	size_t m = 0;
	for (size_t i = from; i < to; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

static void test_soak(void **state)
{
	(void)state;
	static size_t obtained[SAMPLES], in_use[SAMPLES];
	struct liballoc_stats st;
	size_t every = SOAK_OPS / SAMPLES;
	for (size_t i = 0; i < SOAK_OPS; i++) {
		uint64_t r = next();
		struct slot *s = &slot[(r >> 40) % SLOTS];
		if (s->p && r % 8 == 0) {  /* realloc to another size of the same distribution */
			check_stamp(s);
			size_t n = size_of(next());
			unsigned char *q = liballoc_realloc(s->p, n ? n : 1);
			assert_non_null(q);
			s->p = q;
			s->n = n ? n : 1;
			stamp(s);
		} else if (s->p) {
			check_stamp(s);
			liballoc_free(s->p);
			s->p = NULL;
		} else {
			s->n = size_of(r);
			s->p = liballoc_malloc(s->n);
			assert_non_null(s->p);
			stamp(s);
		}
		if ((i + 1) % every == 0) {
			liballoc_stats(&st);
			obtained[i / every] = st.obtained;
			in_use[i / every] = st.in_use;
		}
		if ((i + 1) % (SOAK_OPS / 20) == 0) {
			int e = liballoc_check();
			if (e)
				fail_msg("op %zu: liballoc_check: %s", i, liballoc_strerror(e));
		}
	}
	assert_int_equal(tp.errors, 0);
	/* After warm-up, the first and last tenths of the run. */
	size_t first = peak(obtained, SAMPLES / 10, 2 * SAMPLES / 10), last = peak(obtained, 9 * SAMPLES / 10, SAMPLES);
	size_t first_use = peak(in_use, SAMPLES / 10, 2 * SAMPLES / 10), last_use = peak(in_use, 9 * SAMPLES / 10, SAMPLES);
	printf("# soak: %u ops; peak obtained %zu KiB (after warm-up) -> %zu KiB (last tenth); peak in use %zu -> %zu KiB\n",
	       (unsigned)SOAK_OPS, first >> 10, last >> 10, first_use >> 10, last_use >> 10);
	if (last > first + first / 100 * SOAK_DRIFT)
		fail_msg("memory obtained drifted up: %zu -> %zu bytes", first, last);
	/* Overhead per byte in use must not grow either (in case the load itself did). */
	if ((double)last / (double)last_use > (double)first / (double)first_use * (1 + SOAK_DRIFT / 100.0))
		fail_msg("overhead grew: obtained/in_use %.3f -> %.3f", (double)first / (double)first_use,
			 (double)last / (double)last_use);
	for (size_t k = 0; k < SLOTS; k++)
		if (slot[k].p) {
			check_stamp(&slot[k]);
			liballoc_free(slot[k].p);
		}
	liballoc_trim();
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	liballoc_stats(&st);
	assert_int_equal(st.in_use, 0);
	assert_int_equal(st.obtained, st.metadata);
	assert_int_equal(st.obtained, test_port_pages_out() * PAGE);
}

int main(void)
{
	test_port_reset();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_soak),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
