/* test_small.c — cmocka tests of the small profile (LIBALLOC_SMALL): the default heap in one region, the API, misuse, a randomized run. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pattern.h"
#include "unit_test.h"

#if !LIBALLOC_SMALL
#error "build this suite with -DLIBALLOC_SMALL=1"
#endif

#define REGION ((size_t)1 << 20)
static unsigned char region[REGION + 64];
static char static_buf[64] __attribute__((aligned(16)));

/* The default heap in `region`, at an odd address: the core aligns it. */
static int group_setup(void **state)
{
	(void)state;
	errno = 0;
	assert_int_equal(liballoc_init_region(region + 3, REGION), 0);
	assert_int_equal(liballoc_init_region(region + 3, REGION), -1);  /* once */
	assert_int_equal(errno, EINVAL);
	return 0;
}

static void test_api_edges(void **state)
{
	(void)state;
	void *a = liballoc_malloc(0), *b = liballoc_malloc(0);
	assert_non_null(a);
	assert_ptr_not_equal(a, b);
	assert_true((unsigned char *)a > region && (unsigned char *)a < region + sizeof region);
	liballoc_free(a);
	liballoc_free(b);
	errno = 0;
	assert_null(liballoc_calloc(SIZE_MAX / 2, 3));
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	assert_null(liballoc_malloc(REGION));  /* more than the region holds */
	assert_int_equal(errno, ENOMEM);
	unsigned char *p = liballoc_realloc(NULL, 100);
	assert_non_null(p);
	memset(p, 5, 100);
	p = liballoc_realloc(p, 3000);
	assert_int_equal(p[99], 5);
	p = liballoc_realloc(p, 10);
	assert_int_equal(p[9], 5);
	assert_null(liballoc_realloc(p, 0));  /* frees */
#if !LIBALLOC_EXTRAS
	errno = 0;
	assert_null(liballoc_heap_memalign(NULL, 64, 10));  /* no alignments above 16 without the extras */
	assert_int_equal(errno, EINVAL);
#endif
	void *q = liballoc_heap_memalign(NULL, 16, 10);
	assert_int_equal((uintptr_t)q % 16, 0);
	liballoc_free(q);
	assert_int_equal(stats().alloc_page_calls, 0);  /* the page hooks are never called */
}

/* The cheap misuse checks stay: each reported once with the pointer, the heap as it was. */
static void test_misuse(void **state)
{
	(void)state;
	char stack_buf[32] __attribute__((aligned(16)));
	unsigned char *a = liballoc_malloc(100), *b = liballoc_malloc(100), *keep = liballoc_malloc(100);
	EXPECT_CLEAN_REPORT(LIBALLOC_E_FOREIGN_POINTER, stack_buf, liballoc_free(stack_buf));
	EXPECT_CLEAN_REPORT(LIBALLOC_E_FOREIGN_POINTER, static_buf, liballoc_free(static_buf));
	EXPECT_CLEAN_REPORT(LIBALLOC_E_INTERIOR_POINTER, a + 16, liballoc_free(a + 16));
	liballoc_free(a);
	EXPECT_CLEAN_REPORT(LIBALLOC_E_DOUBLE_FREE, a, liballoc_free(a));
	EXPECT_CLEAN_REPORT(LIBALLOC_E_REALLOC_FREED, a, assert_null(liballoc_realloc(a, 10)));
	struct liballoc_block d;
	assert_true(liballoc_describe(NULL, b, &d));
	assert_true(d.usable >= 100 && d.usable < 100 + 16);
	unsigned char saved[8];
	memcpy(saved, b + d.usable, 8);
	memset(b + d.usable, 'A', 8);  /* 8 bytes past b's usable bytes: the next header */
	EXPECT_REPORT(LIBALLOC_E_OVERFLOW, b, liballoc_free(b));
	memcpy(b + d.usable, saved, 8);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	liballoc_free(b);
	liballoc_free(keep);
}

/* Without a check word, the boundary tags tell a header from payload bytes: a free
 * of every 16-byte aligned pointer inside a live block is reported as interior,
 * whatever the block holds — zeros, random bytes, small sizes with the in-use bit,
 * or copies of the real headers around it — and the heap stays intact. */
static void test_interior_pointers(void **state)
{
	(void)state;
	enum { N = 512 };
	unsigned char *lo = liballoc_malloc(200), *p = liballoc_malloc(N), *hi = liballoc_malloc(200);
	uint64_t rng = 88172645463325252ull;
	for (int fill = 0; fill < 4; fill++) {
		for (size_t k = 0; k < N; k += 4) {
			uint32_t w;
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			if (fill == 0)
				w = 0;
			else if (fill == 1)
				w = (uint32_t)rng;
			else if (fill == 2)
				w = (uint32_t)(rng % 64) * 16 + (k % 8 ? 1 : 0);  /* tag, size | in-use */
			else
				memcpy(&w, p - 8 + k % 8, 4);  /* p's own header, again and again */
			memcpy(p + k, &w, 4);
		}
		for (size_t k = 16; k < N; k += 16)
			EXPECT_CLEAN_REPORT(LIBALLOC_E_INTERIOR_POINTER, p + k, liballoc_free(p + k));
	}
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	liballoc_free(lo);
	liballoc_free(p);
	liballoc_free(hi);
}

#if LIBALLOC_EXTRAS
/* With the extras: aligned blocks (a leading free block cut off before the 8-byte
 * header) and object caches (slabs aligned to their size) in the one region, the
 * heap checked after every step, and their misuse reported. */
static void test_aligned_and_caches(void **state)
{
	(void)state;
	enum { N = 64 };
	static void *p[N];
	for (unsigned i = 0; i < N; i++) {
		size_t align = (size_t)32 << (i % 8), n = 1 + i * 37;
		p[i] = liballoc_heap_memalign(NULL, align, n);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % align, 0);
		memset(p[i], (int)i, n);
		assert_int_equal(liballoc_check(), LIBALLOC_OK);
	}
	EXPECT_CLEAN_REPORT(LIBALLOC_E_INTERIOR_POINTER, (char *)p[3] + 32, liballoc_free((char *)p[3] + 32));
	for (unsigned i = 0; i < N; i += 2)
		liballoc_free(p[i]);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	void *q = NULL;
	assert_int_equal(liballoc_posix_memalign(&q, 256, 1000), 0);
	assert_int_equal((uintptr_t)q % 256, 0);
	liballoc_free(q);
	for (unsigned i = 1; i < N; i += 2)
		liballoc_free(p[i]);

	liballoc_cache *c = liballoc_cache_create(NULL, "small-objects", 48, 16);
	assert_non_null(c);
	static void *o[2000];
	for (unsigned i = 0; i < 2000; i++) {
		o[i] = liballoc_cache_alloc(c);
		assert_non_null(o[i]);
		memset(o[i], 0xa5, 48);
	}
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	EXPECT_CLEAN_REPORT(LIBALLOC_E_INTERIOR_POINTER, (char *)o[5] + 16, liballoc_cache_free(c, (char *)o[5] + 16));
	for (unsigned i = 0; i < 2000; i++)
		liballoc_cache_free(c, o[i]);
	EXPECT_CLEAN_REPORT(LIBALLOC_E_DOUBLE_FREE, o[7], liballoc_cache_free(c, o[7]));
	liballoc_cache_destroy(c);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	assert_int_equal(stats().live_blocks, 0);
	assert_int_equal(tp.errors, 3);
}
#endif

/* Frees of 16-byte aligned addresses drawn at random from the whole region (none a
 * live block's start), among live blocks of random sizes and contents and the free
 * blocks between them: each is reported, once, and nothing else changes — the live
 * blocks keep their contents and liballoc_check passes. A header the boundary tags
 * wrongly accepted would free (or merge) memory that is live. */
static void test_random_pointers(void **state)
{
	(void)state;
	enum { LIVE = 200, FREES = 20000 };
	static unsigned char *p[LIVE];
	static size_t n[LIVE];
	uint64_t rng = 0x2545f4914f6cdd1dull;
	for (unsigned i = 0; i < LIVE; i++) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		n[i] = (size_t)(rng % 2000);
		p[i] = liballoc_malloc(n[i]);
		assert_non_null(p[i]);
		pattern_fill(p[i], n[i], (unsigned char)i);
	}
	for (unsigned i = 0; i < LIVE; i += 3) {  /* free blocks in between */
		liballoc_free(p[i]);
		p[i] = NULL;
	}
	uintptr_t lo = (uintptr_t)region, span = sizeof region;
	for (int k = 0; k < FREES; k++) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		unsigned char *q = (unsigned char *)((lo + (uintptr_t)(rng % span) + 15) & ~(uintptr_t)15);
		int live = 0;
		for (unsigned i = 0; i < LIVE; i++)
			live |= q == p[i];
		if (live)
			continue;
		size_t errors = tp.errors;
		liballoc_free(q);
		assert_int_equal(tp.errors, errors + 1);
		if (k % 1000 == 0)
			assert_int_equal(liballoc_check(), LIBALLOC_OK);
	}
	for (unsigned i = 0; i < LIVE; i++)
		if (p[i]) {
			assert_int_equal(pattern_check(p[i], n[i], (unsigned char)i), n[i]);
			liballoc_free(p[i]);
		}
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
}

/* 1000-byte blocks fill at least 90% of the region; after freeing them all the
 * region is one block again and 60% of it fits in one allocation. */
static void test_utilisation(void **state)
{
	(void)state;
	static void *p[REGION / 1000];
	size_t n = 0;
	while (n < sizeof p / sizeof *p && (p[n] = liballoc_malloc(1000)) != NULL)
		n++;
	assert_true(n * 1000 >= REGION * 9 / 10);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	for (size_t i = 0; i < n; i++)
		liballoc_free(p[i]);
	void *big = liballoc_malloc(REGION * 6 / 10);
	assert_non_null(big);
	liballoc_free(big);
}

/* liballoc_walk's tally of what liballoc_stats walks for in the small profile. */
struct walked {
	size_t live, in_use, free_bytes;
};
static int tally_block(const struct liballoc_block *b, void *arg)
{
	struct walked *w = arg;
	if (b->state == LIBALLOC_BLOCK_FREE) {
		w->free_bytes += b->usable + 8;  /* a free block's bytes: its 8-byte header and the rest */
	} else {
		w->live++;
		w->in_use += b->size;
	}
	return 0;
}

/* The usable bytes of live block p of n requested bytes, which the small profile's
 * in_use counts (it keeps no requested size): at least n and 24, less than 32 more
 * (a realloc that shrinks keeps a tail too small to split off), 8 short of a
 * multiple of 16 (the 8-byte header). */
static size_t usable_of(void *p, size_t n)
{
	struct liballoc_block d;
	assert_true(liballoc_describe(NULL, p, &d));
	assert_int_equal(d.state, LIBALLOC_BLOCK_LIVE);
	assert_int_equal(d.size, d.usable);
	assert_true(d.usable >= n && d.usable >= 24 && d.usable < (n < 24 ? 24 : n) + 32 && (d.usable + 8) % 16 == 0);
	return d.usable;
}

/* A shadow model: random malloc/calloc/realloc/free with patterns checked and
 * liballoc_check after every operation; liballoc_stats (whose live_blocks and
 * free_bytes the small profile counts by a walk, not per call) against the model
 * and liballoc_walk every 97 operations. */
static void test_randomized(void **state)
{
	(void)state;
	enum { SLOTS = 300, OPS = 40000 };
	static struct {
		unsigned char *p;
		size_t n;
		unsigned char seed;
	} s[SLOTS];
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	for (int op = 0; op < OPS; op++) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		unsigned i = (unsigned)(rng % SLOTS), r = (unsigned)(rng >> 32) % 10;
		size_t n = (rng >> 40) % (r < 8 ? 300 : 20000);
		if (!s[i].p) {
			s[i].p = r < 6 ? liballoc_malloc(n) : liballoc_calloc(1, n);
			if (!s[i].p)
				continue;  /* the region is full */
			for (size_t k = 0; r >= 6 && k < n; k++)
				assert_int_equal(s[i].p[k], 0);
			s[i].n = n;
			s[i].seed = (unsigned char)op;
			pattern_fill(s[i].p, n, s[i].seed);
		} else if (r < 4) {
			assert_int_equal(pattern_check(s[i].p, s[i].n, s[i].seed), s[i].n);
			unsigned char *q = liballoc_realloc(s[i].p, n + 1);
			if (!q)
				continue;
			size_t keep = n + 1 < s[i].n ? n + 1 : s[i].n;
			assert_int_equal(pattern_check(q, keep, s[i].seed), keep);
			s[i].p = q;
			s[i].n = n + 1;
			pattern_fill(q, n + 1, s[i].seed);
		} else {
			assert_int_equal(pattern_check(s[i].p, s[i].n, s[i].seed), s[i].n);
			liballoc_free(s[i].p);
			s[i].p = NULL;
		}
		if (liballoc_check() != LIBALLOC_OK)
			fail_msg("op %d: liballoc_check: %s", op, liballoc_strerror(liballoc_check()));
		if (op % 97 == 0) {
			struct walked w = {0, 0, 0};
			size_t live = 0, in_use = 0;
			for (unsigned k = 0; k < SLOTS; k++)
				if (s[k].p)
					live++, in_use += usable_of(s[k].p, s[k].n);
			assert_int_equal(liballoc_walk(NULL, tally_block, &w), 0);
			struct liballoc_stats st = stats();
			assert_int_equal(st.live_blocks, live);
			assert_int_equal(st.in_use, in_use);
			assert_int_equal(w.live, live);
			assert_int_equal(w.in_use, in_use);
			assert_int_equal(st.free_bytes, w.free_bytes);
			assert_true(st.free_bytes > 0 && st.free_bytes < st.obtained);
		}
	}
	for (unsigned i = 0; i < SLOTS; i++)
		liballoc_free(s[i].p);
	struct liballoc_stats st = stats();
	assert_int_equal(st.live_blocks, 0);
	assert_int_equal(st.in_use, 0);
	assert_int_equal(tp.errors, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_api_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_misuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interior_pointers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_pointers, setup, teardown),
#if LIBALLOC_EXTRAS
		cmocka_unit_test_setup_teardown(test_aligned_and_caches, setup, teardown),
#endif
		cmocka_unit_test_setup_teardown(test_utilisation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_randomized, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
