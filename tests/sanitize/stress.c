/* stress.c — cmocka multi-thread stress of the Linux port (built with ASan+UBSan and with TSan): cross-thread frees and reallocs, thread churn. */
/* SPDX-License-Identifier: MIT */
/*
 * The allocator is the Linux port (mmap pages, its mutex, per-thread caches
 * flushed at thread exit, fork handlers) compiled with its own configuration but
 * the la_ prefix (tests/sanitize/meson.build), so the sanitizer keeps its own
 * malloc and instruments ours.
 *
 * Threads put blocks of every size class (1 B .. 2 MiB, log-uniform, through every
 * allocation function) into shared slots and take other threads' blocks out, so
 * most frees and reallocs happen on a thread other than the allocating one. Every
 * block carries a pattern checked by whoever takes it. A checker thread runs
 * liballoc_check and liballoc_stats meanwhile. Then threads are created and
 * destroyed in a loop while allocating. At the end the heap must be consistent
 * and hold exactly the blocks still live.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "liballoc.h"

#ifndef STRESS_OPS
#define STRESS_OPS 40000  /* per thread */
#endif
#define THREADS 4
#define SLOTS 1024
#define EDGE 256  /* pattern bytes checked at each end of a block */

/* A block in transit: the payload and what it must contain. */
struct box {
	unsigned char *p;
	size_t n;
	uint32_t seed;
};

static _Atomic(struct box *) slot[SLOTS];
static atomic_int failures;
static atomic_bool stop;

static void failure(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	atomic_fetch_add(&failures, 1);
}

static uint64_t next(uint64_t *r)
{
	*r ^= *r << 13;
	*r ^= *r >> 7;
	*r ^= *r << 17;
	return *r;
}

static size_t pick_size(uint64_t *r)
{
	unsigned bits = (unsigned)(next(r) % 22);  /* 2^0 .. 2^21: every class, chunks and huge runs */
	return ((size_t)1 << bits) - 1 + (size_t)(next(r) % ((size_t)1 << bits));
}

static unsigned char pat(uint32_t seed, size_t i) { return (unsigned char)(seed + i * 7 + (i >> 9)); }

/* The pattern covers the first and the last EDGE bytes of a block. */
static void fill(struct box *b)
{
	for (size_t i = 0; i < b->n && i < EDGE; i++)
		b->p[i] = pat(b->seed, i);
	for (size_t i = b->n > EDGE ? b->n - EDGE : EDGE; i < b->n; i++)
		b->p[i] = pat(b->seed, i);
}

/* Is the pattern intact in the first `keep` bytes? */
static bool intact(const struct box *b, size_t keep)
{
	for (size_t i = 0; i < keep && i < EDGE; i++)
		if (b->p[i] != pat(b->seed, i))
			return false;
	for (size_t i = b->n > EDGE ? b->n - EDGE : EDGE; i < b->n && i < keep; i++)
		if (b->p[i] != pat(b->seed, i))
			return false;
	return true;
}

/* A new block through one of the allocation functions. */
static struct box *make(uint64_t *r)
{
	struct box *b = la_malloc(sizeof *b);
	if (!b)
		return NULL;
	size_t n = pick_size(r), align = 16;
	unsigned how = (unsigned)(next(r) % 6);
	void *p = NULL;
	switch (how) {
	case 0: p = la_malloc(n); break;
	case 1: p = la_calloc(1, n); break;
	case 2: align = (size_t)64 << (next(r) % 8); p = la_memalign(align, n); break;
	case 3: align = (size_t)16 << (next(r) % 10); (void)!la_posix_memalign(&p, align, n); break;
	case 4: p = la_realloc(NULL, n); break;
	default: align = 4096; p = la_aligned_alloc(4096, n); break;
	}
	if (!p || (uintptr_t)p % align) {
		failure("allocation of %zu bytes (way %u, align %zu) gave %p", n, how, align, p);
		la_free(p);
		la_free(b);
		return NULL;
	}
	if (how == 1)
		for (size_t i = 0; i < n; i += 61)
			if (((unsigned char *)p)[i])
				failure("calloc(%zu) byte %zu not zero", n, i);
	if (la_malloc_usable_size(p) < n)
		failure("usable size of %p below %zu", p, n);
	b->p = p;
	b->n = n;
	b->seed = (uint32_t)next(r);
	fill(b);
	return b;
}

static void discard(struct box *b)
{
	if (!intact(b, b->n))
		failure("block %p (%zu bytes) corrupted before its free", (void *)b->p, b->n);
	la_free(b->p);
	la_free(b);
}

/* Take another thread's block: free it, or realloc it (keeping its prefix) and put
 * it back for yet another thread. */
static void handle(struct box *old, uint64_t *r)
{
	if (!intact(old, old->n)) {
		failure("block %p (%zu bytes) corrupted in transit", (void *)old->p, old->n);
		return;
	}
	if (next(r) % 3) {
		discard(old);
		return;
	}
	size_t n = pick_size(r), keep = n < old->n ? n : old->n;
	unsigned char *q = la_realloc(old->p, n ? n : 1);
	if (!q) {
		failure("realloc(%p, %zu) failed", (void *)old->p, n);
		return;
	}
	old->p = q;
	if (!intact(old, keep))
		failure("realloc to %p lost the content", (void *)q);
	old->n = n;
	fill(old);
	struct box *prev = atomic_exchange(&slot[next(r) % SLOTS], old);
	if (prev)
		discard(prev);
}

static void *worker(void *arg)
{
	uint64_t r = (uintptr_t)arg * 0x9e3779b97f4a7c15u + 1;
	size_t ops = (size_t)((uintptr_t)arg >> 32);
	for (size_t i = 0; i < ops && !atomic_load(&failures); i++) {
		struct box *b = make(&r);
		if (!b)
			break;
		struct box *old = atomic_exchange(&slot[next(&r) % SLOTS], b);
		if (old)
			handle(old, &r);
	}
	return NULL;
}

static void *checker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		struct liballoc_stats st;
		int e = liballoc_check();
		if (e)
			failure("liballoc_check during the run: %s", liballoc_strerror(e));
		liballoc_stats(&st);
		if (st.errors)
			failure("%zu misuse reports", st.errors);
		usleep(1000);  /* let the workers have the lock: a mutex is not fair */
	}
	return NULL;
}

static void drain(void)
{
	for (int i = 0; i < SLOTS; i++) {
		struct box *b = atomic_exchange(&slot[i], NULL);
		if (b)
			discard(b);
	}
}

static void *idle(void *arg) { return arg; }

static size_t baseline;

static int setup(void **state)
{
	(void)state;
	/* pthread_create keeps some memory per cached thread stack: warm the cache
	 * first (it uses the sanitizer's malloc, but keep the count honest). */
	pthread_t t[THREADS + 1];
	for (int i = 0; i < THREADS + 1; i++)
		pthread_create(&t[i], NULL, idle, NULL);
	for (int i = 0; i < THREADS + 1; i++)
		pthread_join(t[i], NULL);
	struct liballoc_stats st;
	liballoc_stats(&st);
	baseline = st.live_blocks;
	return 0;
}

static void finish(void)
{
	drain();
	assert_int_equal(atomic_load(&failures), 0);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	struct liballoc_stats st;
	liballoc_stats(&st);
	assert_int_equal(st.live_blocks, baseline);
	assert_int_equal(st.errors, 0);
}

static void cross_thread(bool concurrent_check)
{
	pthread_t t[THREADS], check;
	atomic_store(&stop, false);
	if (concurrent_check)
		assert_int_equal(pthread_create(&check, NULL, checker, NULL), 0);
	for (uintptr_t i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)(((uintptr_t)STRESS_OPS << 32) | (i + 1))), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	atomic_store(&stop, true);
	if (concurrent_check)
		pthread_join(check, NULL);
	finish();
}

#ifndef STRESS_CONCURRENT_CHECK
static void test_cross_thread(void **state)
{
	(void)state;
	cross_thread(false);
}
#else
/* liballoc_check and liballoc_stats are thread-safe API calls: run them while the
 * workers allocate and free. */
static void test_check_while_allocating(void **state)
{
	(void)state;
	cross_thread(true);
}
#endif

#ifndef STRESS_CONCURRENT_CHECK
/* Threads created and destroyed in a loop while others allocate: each leaves
 * blocks for the next generation, and its cache goes back when it ends. */
static void test_thread_churn(void **state)
{
	(void)state;
	pthread_t steady, t[THREADS];
	assert_int_equal(pthread_create(&steady, NULL, worker, (void *)(((uintptr_t)STRESS_OPS << 32) | 99)), 0);
	for (uintptr_t round = 0; round < 60; round++) {
		for (uintptr_t i = 0; i < THREADS; i++)
			assert_int_equal(pthread_create(&t[i], NULL, worker,
							(void *)(((uintptr_t)(STRESS_OPS / 200 + 1) << 32) | (round * 8 + i + 100))),
					 0);
		for (int i = 0; i < THREADS; i++)
			pthread_join(t[i], NULL);
	}
	pthread_join(steady, NULL);
	finish();
}
#endif

int main(void)
{
#ifdef STRESS_CONCURRENT_CHECK
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_check_while_allocating, setup),
	};
#else
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_cross_thread, setup),
		cmocka_unit_test_setup(test_thread_churn, setup),
	};
#endif
	return cmocka_run_group_tests(tests, NULL, NULL);
}
