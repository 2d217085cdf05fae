/* test_hardened_check.c — hardened liballoc_check while other threads use the thread caches' fast paths: no false reports. */
/* SPDX-License-Identifier: MIT */
/*
 * Regression test of issue 11, fix 2: in hardened mode liballoc_check compared the
 * canaries of blocks that other threads were handing out or caching right then,
 * without the lock (a fast path writes the slack word, then the canary; a free
 * poisons the payload, then marks the block cached), and reported false
 * LIBALLOC_E_OVERFLOW: 122 265 times in 200 000 checks. Worker threads here do
 * nothing but fast-path work (malloc, realloc within the block, free, of cached
 * sizes) while the main thread checks as often as it can; every check must pass.
 *
 * Built with the Linux port's hooks and configuration, hardened, under the la_
 * prefix (tests/linux/meson.build), so libc keeps its malloc for cmocka.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "liballoc.h"

#define WORKERS 2
#define LIVE 64
#define CHECKS 1000000  /* at most ... */
#define SECONDS 2.0     /* ... or for this long: some 20 000 checks on an idle machine */

static atomic_bool stop;
static atomic_int started;

/* Only lock-free work, so that the worker runs while the check holds the lock:
 * blocks of cached sizes taken from the thread's bins (canary written), resized
 * within the block (slack and canary rewritten), given back (payload poisoned,
 * then marked cached), again and again. */
static void *worker(void *arg)
{
	uint64_t r = (uintptr_t)arg * 0x9e3779b97f4a7c15u + 1;
	unsigned char *keep[LIVE];
	for (unsigned i = 0; i < LIVE; i++)  /* live blocks for the check to walk */
		keep[i] = la_malloc(16 + i * 61);
	atomic_fetch_add(&started, 1);
	while (!atomic_load(&stop)) {
		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		size_t size = 2048 + (size_t)(r % 2048);  /* big: long poisoning */
		unsigned char *q = la_malloc(size);
		q = la_realloc(q, size - 8);  /* in place */
		la_free(q);
	}
	for (unsigned i = 0; i < LIVE; i++)
		la_free(keep[i]);
	return NULL;
}

static void test_check_while_fast_paths_run(void **state)
{
	(void)state;
	pthread_t t[WORKERS];
	for (uintptr_t i = 0; i < WORKERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)(i + 1)), 0);
	while (atomic_load(&started) < WORKERS)
		;
	size_t bad[LIBALLOC_E_COUNT] = {0}, failures = 0;
	struct timespec t0, t1;
	double secs = 0;
	int checks = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (; checks < CHECKS && secs < SECONDS; checks++) {
		int e = liballoc_check();
		if (e) {
			failures++;
			bad[e < LIBALLOC_E_COUNT ? e : 0]++;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	}
	atomic_store(&stop, true);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(t[i], NULL);
	print_message("%d hardened checks in %.2f s while %d threads used the fast paths: %zu failed\n", checks, secs,
		      WORKERS, failures);
	for (int e = 0; e < LIBALLOC_E_COUNT; e++)
		if (bad[e])
			print_message("  %zu x %s\n", bad[e], liballoc_strerror(e));
	assert_int_equal(failures, 0);
	assert_true(checks >= 20);
	struct liballoc_stats s;
	liballoc_stats(&s);
	assert_int_equal(s.errors, 0);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_while_fast_paths_run),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
