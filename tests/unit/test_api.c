/* test_api.c — cmocka tests of every liballoc API function, its edge cases, errno and hook calls. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "unit_test.h"

#define PAGE LIBALLOC_PAGE_SIZE
#define THRESHOLD LIBALLOC_HUGE_THRESHOLD
#define HARDENED LIBALLOC_HARDENED
#ifdef LIBALLOC_THREAD_LOCAL
#define CACHED 1
#else
#define CACHED 0
#endif

/* Every test ends with the heap consistent, nothing reported and the lock never
 * nested or skipped. */
/* The API tests misuse nothing: no report may come. */
static int teardown_quiet(void **state)
{
	assert_int_equal(tp.errors, 0);
	return teardown(state);
}

static void fill(void *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		((unsigned char *)p)[i] = (unsigned char)(seed + i * 7);
}

static void expect_fill(const void *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (((const unsigned char *)p)[i] != (unsigned char)(seed + i * 7))
			fail_msg("byte %zu of %zu differs", i, n);
}

static void test_malloc_alignment_and_usable(void **state)
{
	(void)state;
	static void *p[600];
	size_t sizes[] = {0, 1, 15, 16, 17, 31, 32, 33, 100, 255, 256, 511, 512, 513, 1000, 4095, 4096,
			  4097, 65536, THRESHOLD - 64, THRESHOLD, THRESHOLD + 1, 3 * THRESHOLD + 5};
	size_t k = 0;
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
		for (int rep = 0; rep < 20; rep++, k++) {
			p[k] = liballoc_malloc(sizes[i]);
			assert_non_null(p[k]);
			assert_int_equal((uintptr_t)p[k] % 16, 0);
			assert_true(test_port_in_arena(p[k], sizes[i]));
			size_t u = liballoc_malloc_usable_size(p[k]);
			assert_true(u >= sizes[i]);
			if (HARDENED)
				assert_int_equal(u, sizes[i]);
			else if (sizes[i] + 32 > THRESHOLD)
				assert_true(u < sizes[i] + PAGE);
			else  /* thread caches round above 1 KiB to classes 1/8 apart */
				assert_true(u <= sizes[i] + (CACHED && sizes[i] > 1000 ? sizes[i] / 8 + 32 : 31));
			fill(p[k], u, (unsigned)k);
		}
	for (size_t i = 0; i < k; i++) {
		expect_fill(p[i], liballoc_malloc_usable_size(p[i]), (unsigned)i);
		for (size_t j = 0; j < i; j++)
			assert_ptr_not_equal(p[i], p[j]);  /* malloc(0) too: unique */
	}
	for (size_t i = 0; i < k; i++)
		liballoc_free(p[i]);
}

static void test_malloc_too_big(void **state)
{
	(void)state;
	size_t failed = stats().failed_allocs;
	size_t bad[] = {SIZE_MAX, SIZE_MAX - 15, (size_t)PTRDIFF_MAX + 1, (size_t)PTRDIFF_MAX, TEST_ARENA_BYTES};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		errno = 0;
		assert_null(liballoc_malloc(bad[i]));
		assert_int_equal(errno, ENOMEM);
	}
	if (LIBALLOC_STATS)
		assert_int_equal(stats().failed_allocs, failed + sizeof bad / sizeof *bad);
}

static void test_free_null_and_errno(void **state)
{
	(void)state;
	size_t calls = tp.lock_calls;
	errno = 1234;
	liballoc_free(NULL);
	assert_int_equal(errno, 1234);
	assert_int_equal(tp.lock_calls, calls);  /* free(NULL) does not even lock */
	void *p = liballoc_malloc(100), *q = liballoc_malloc(2 * THRESHOLD);
	errno = 4321;
	liballoc_free(p);
	liballoc_free(q);
	assert_int_equal(errno, 4321);
}

static void test_calloc_zeroes(void **state)
{
	(void)state;
	errno = 0;
	assert_null(liballoc_calloc(SIZE_MAX / 2, 3));
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	assert_null(liballoc_calloc((size_t)1 << (sizeof(size_t) * 4), (size_t)1 << (sizeof(size_t) * 4)));
	assert_int_equal(errno, ENOMEM);
	/* Reused blocks come back zeroed: dirty them, free, calloc the same sizes. */
	size_t sizes[] = {1, 24, 100, 1000, 5000, 40000, THRESHOLD - 100, 2 * THRESHOLD};
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		void *d[8];
		for (int j = 0; j < 8; j++) {
			d[j] = liballoc_malloc(sizes[i]);
			memset(d[j], 0xee, sizes[i]);
		}
		for (int j = 0; j < 8; j++)
			liballoc_free(d[j]);
		for (int j = 0; j < 8; j++) {
			unsigned char *c = liballoc_calloc(1, sizes[i]);
			assert_non_null(c);
			for (size_t b = 0; b < sizes[i]; b++)
				if (c[b])
					fail_msg("calloc(%zu) byte %zu is %d", sizes[i], b, c[b]);
			d[j] = c;
		}
		for (int j = 0; j < 8; j++)
			liballoc_free(d[j]);
	}
	void *z = liballoc_calloc(0, 10);
	assert_non_null(z);
	liballoc_free(z);
}

static void test_realloc_content(void **state)
{
	(void)state;
	void *p = liballoc_realloc(NULL, 50);  /* realloc(NULL) is malloc */
	assert_non_null(p);
	size_t live = stats().live_blocks;
	assert_null(liballoc_realloc(p, 0));  /* realloc(p, 0) frees, as glibc */
	assert_int_equal(stats().live_blocks, live - 1);

	/* Content survives growth through every regime: small, chunk, huge, and back. */
	size_t steps[] = {10, 40, 300, 5000, 70000, THRESHOLD + 10, 4 * THRESHOLD, THRESHOLD + 10, 5000, 10};
	unsigned char *q = NULL;
	size_t have = 0;
	for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
		unsigned char *r = liballoc_realloc(q, steps[i]);
		assert_non_null(r);
		assert_int_equal((uintptr_t)r % 16, 0);
		if (q)
			expect_fill(r, have < steps[i] ? have : steps[i], 3);
		fill(r, steps[i], 3);
		q = r;
		have = steps[i];
	}
	liballoc_free(q);
}

static void test_realloc_in_place(void **state)
{
	(void)state;
	/* Shrinking stays in place and gives the tail back as a free block... */
	void *a = liballoc_malloc(3 * TEST_BIG);
	fill(a, TEST_BIG, 9);
	size_t freeb = stats().free_bytes;
	assert_ptr_equal(liballoc_realloc(a, TEST_BIG), a);
	assert_true(stats().free_bytes >= freeb + 2 * TEST_BIG - 64);
	expect_fill(a, TEST_BIG, 9);
	/* ...which growth takes back in place, without a new block. */
	size_t allocs = stats().allocs;
	assert_ptr_equal(liballoc_realloc(a, 2 * TEST_BIG + 100), a);
	assert_int_equal(stats().allocs, allocs);
	expect_fill(a, TEST_BIG, 9);
	/* Growth that cannot stay (beyond the huge threshold) moves and copies. */
	void *d = liballoc_realloc(a, 2 * THRESHOLD);
	assert_ptr_not_equal(d, a);
	expect_fill(d, TEST_BIG, 9);
	liballoc_free(d);
	/* Huge blocks shrink in place by giving back tail pages. */
	unsigned char *h = liballoc_malloc(8 * THRESHOLD);
	fill(h, 8 * THRESHOLD, 1);
	size_t fp = tp.free_calls;
	assert_ptr_equal(liballoc_realloc(h, 4 * THRESHOLD), h);
	assert_int_equal(tp.free_calls, fp + 1);
	expect_fill(h, 4 * THRESHOLD, 1);
	liballoc_free(h);
}

/* A block that must move to grow by a small step gets a quarter of headroom, so a
 * string appended to moves O(log n) times; one that doubles gets none. */
static void test_realloc_headroom(void **state)
{
	(void)state;
	if (LIBALLOC_CHUNK_MIN < 8 * TEST_BIG)
		skip();  /* small pages: the blocks below would not share a chunk */
	liballoc_trim();  /* a fresh chunk: blocks follow each other */
	unsigned char *p = liballoc_malloc(TEST_BIG);
	void *blocker = liballoc_malloc(TEST_BIG);
	assert_ptr_equal(test_next_block(p), blocker);  /* so p cannot grow in place */
	fill(p, TEST_BIG, 4);
	unsigned char *q = liballoc_realloc(p, TEST_BIG + 100);
	assert_ptr_not_equal(q, p);
	expect_fill(q, TEST_BIG, 4);
	/* (hardened mode's usable size ends at its canary, before the headroom) */
	size_t room = HARDENED ? 0 : (TEST_BIG + 100) / 4;
	assert_true(liballoc_malloc_usable_size(q) >= TEST_BIG + 100 + room);
	void *blocker2 = liballoc_malloc(2 * TEST_BIG);  /* too big for p's old place */
	assert_ptr_equal(test_next_block(q), blocker2);
	unsigned char *r = liballoc_realloc(q, 3 * TEST_BIG);
	assert_ptr_not_equal(r, q);
	expect_fill(r, TEST_BIG, 4);
	assert_true(liballoc_malloc_usable_size(r) < 3 * TEST_BIG + 3 * TEST_BIG / 8);
	liballoc_free(r);
	liballoc_free(blocker);
	liballoc_free(blocker2);
}

static void test_realloc_failure_keeps_block(void **state)
{
	(void)state;
	unsigned char *p = liballoc_malloc(1000);
	void *blocker = liballoc_malloc(16);  /* so p cannot grow in place */
	fill(p, 1000, 5);
	tp.alloc_seen = 0;
	tp.fail_alloc_all = true;
	errno = 0;
	assert_null(liballoc_realloc(p, 4 * THRESHOLD));
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	assert_null(liballoc_realloc(p, (size_t)PTRDIFF_MAX + 1));
	assert_int_equal(errno, ENOMEM);
	tp.fail_alloc_all = false;
	expect_fill(p, 1000, 5);
	assert_int_equal(liballoc_malloc_usable_size(p) >= 1000, 1);
	liballoc_free(p);
	liballoc_free(blocker);
}

static void test_reallocarray(void **state)
{
	(void)state;
	unsigned char *p = liballoc_reallocarray(NULL, 10, 10);
	assert_non_null(p);
	fill(p, 100, 4);
	errno = 0;
	assert_null(liballoc_reallocarray(p, SIZE_MAX / 2, 3));
	assert_int_equal(errno, ENOMEM);
	expect_fill(p, 100, 4);  /* untouched */
	p = liballoc_reallocarray(p, 30, 10);
	assert_non_null(p);
	expect_fill(p, 100, 4);
	liballoc_free(p);
}

static void test_posix_memalign(void **state)
{
	(void)state;
	void *sentinel = (void *)0x1234, *p = sentinel;
	size_t bad[] = {0, 1, 2, 3, sizeof(void *) / 2, 24, 48, 1000, SIZE_MAX};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		errno = 77;
		assert_int_equal(liballoc_posix_memalign(&p, bad[i], 10), EINVAL);
		assert_ptr_equal(p, sentinel);
		assert_int_equal(errno, 77);  /* errno untouched */
	}
	for (size_t a = sizeof(void *); a <= ((size_t)16 << 20); a <<= 1) {
		size_t sizes[] = {0, 1, a, a < 4096 ? 3 * a + 5 : a + 5, 100000};
		for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
			void *q = NULL;
			assert_int_equal(liballoc_posix_memalign(&q, a, sizes[i]), 0);
			assert_int_equal((uintptr_t)q % a, 0);
			assert_int_equal((uintptr_t)q % 16, 0);
			assert_true(liballoc_malloc_usable_size(q) >= sizes[i]);
			fill(q, sizes[i], 2);
			assert_int_equal(liballoc_check(), LIBALLOC_OK);
			liballoc_free(q);
		}
	}
	errno = 77;
	assert_int_equal(liballoc_posix_memalign(&p, 64, SIZE_MAX), ENOMEM);
	assert_int_equal(liballoc_posix_memalign(&p, (size_t)1 << (sizeof(size_t) * 8 - 1), 1), ENOMEM);
	assert_ptr_equal(p, sentinel);
	assert_int_equal(errno, 77);
}

static void test_aligned_alloc_memalign_valloc(void **state)
{
	(void)state;
	errno = 0;
	assert_null(liballoc_aligned_alloc(24, 100));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(liballoc_aligned_alloc(0, 100));
	assert_int_equal(errno, EINVAL);
	void *p = liballoc_aligned_alloc(256, 10);  /* size need not be a multiple */
	assert_int_equal((uintptr_t)p % 256, 0);
	liballoc_free(p);
	p = liballoc_aligned_alloc(1, 10);
	assert_int_equal((uintptr_t)p % 16, 0);
	liballoc_free(p);

	p = liballoc_memalign(24, 10);  /* rounded up to 32, as glibc */
	assert_int_equal((uintptr_t)p % 32, 0);
	liballoc_free(p);
	p = liballoc_memalign(0, 10);
	assert_int_equal((uintptr_t)p % 16, 0);
	liballoc_free(p);
	errno = 0;
	assert_null(liballoc_memalign(SIZE_MAX, 10));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(liballoc_memalign((size_t)1 << 20, SIZE_MAX - 100));
	assert_int_equal(errno, ENOMEM);

	p = liballoc_valloc(10);
	assert_int_equal((uintptr_t)p % PAGE, 0);
	liballoc_free(p);
	p = liballoc_pvalloc(0);
	assert_int_equal((uintptr_t)p % PAGE, 0);
	assert_true(liballoc_malloc_usable_size(p) >= PAGE);
	liballoc_free(p);
	p = liballoc_pvalloc(PAGE + 1);
	assert_true(liballoc_malloc_usable_size(p) >= 2 * PAGE);
	liballoc_free(p);
	errno = 0;
	assert_null(liballoc_pvalloc(SIZE_MAX - 10));
	assert_int_equal(errno, ENOMEM);
}

static void test_usable_size(void **state)
{
	(void)state;
	assert_int_equal(liballoc_malloc_usable_size(NULL), 0);
	for (size_t n = 0; n < 2000; n += 7) {
		unsigned char *p = liballoc_malloc(n);
		size_t u = liballoc_malloc_usable_size(p);
		assert_true(u >= n);
		memset(p, 0x11, u);  /* all of it is usable */
		liballoc_free(p);
	}
}

static void test_stats_and_hooks(void **state)
{
	(void)state;
	if (!LIBALLOC_STATS)
		skip();
	liballoc_trim();
	struct liballoc_stats s0 = stats();
	size_t tp_alloc0 = tp.alloc_calls, tp_free0 = tp.free_calls, tp_lock0 = tp.lock_calls;
	liballoc_free(liballoc_malloc(100 * 64));  /* leaves a kept empty chunk that fits all below */
	void *warm = liballoc_malloc(64);
	size_t calls = tp.alloc_calls;
	void *p[100];
	for (int i = 0; i < 100; i++)
		p[i] = liballoc_malloc(48);
	assert_int_equal(tp.alloc_calls, calls);  /* small blocks: no hook calls on a warm heap */
	struct liballoc_stats s1 = stats();
	assert_int_equal(s1.in_use, s0.in_use + 64 + 100 * 48);
	assert_int_equal(s1.live_blocks, s0.live_blocks + 101);
	assert_true(s1.in_use_peak >= s1.in_use);
	assert_true(s1.obtained >= s1.in_use);
	assert_true(s1.obtained_peak >= s1.obtained);
	assert_int_equal(s1.alloc_page_calls - s0.alloc_page_calls, tp.alloc_calls - tp_alloc0);
	assert_int_equal(s1.obtained, test_port_pages_out() * PAGE);  /* counted exactly what the port handed out */
	for (int i = 0; i < 100; i++)
		liballoc_free(p[i]);
	liballoc_free(warm);
	struct liballoc_stats s2 = stats();
	assert_int_equal(s2.in_use, s0.in_use);
	assert_int_equal(s2.live_blocks, s0.live_blocks);
	assert_int_equal(s2.frees, s1.frees + 101);
	assert_int_equal(s2.lock_calls - s0.lock_calls, tp.lock_calls - tp_lock0);
	assert_int_equal(s2.free_page_calls - s0.free_page_calls, tp.free_calls - tp_free0);

	/* A huge block costs exactly one alloc_page and one free_page. */
	calls = tp.alloc_calls;
	size_t fcalls = tp.free_calls;
	void *h = liballoc_malloc(THRESHOLD + 1);
	assert_int_equal(tp.alloc_calls, calls + 1);
	assert_int_equal(stats().huge_blocks, s0.huge_blocks + 1);
	liballoc_free(h);
	assert_int_equal(tp.free_calls, fcalls + 1);
}

static void test_hysteresis_and_trim(void **state)
{
	(void)state;
	if (!LIBALLOC_STATS)
		skip();
	liballoc_trim();
	size_t base_pages = test_port_pages_out();
	/* Below the threshold a malloc/free loop reuses the kept empty chunk. */
	void *p = liballoc_malloc(THRESHOLD - 1000);
	liballoc_free(p);
	size_t a = tp.alloc_calls, f = tp.free_calls;
	for (int i = 0; i < 100; i++) {
		p = liballoc_malloc(THRESHOLD - 1000);
		assert_non_null(p);
		liballoc_free(p);
	}
	assert_int_equal(tp.alloc_calls, a);
	assert_int_equal(tp.free_calls, f);
	/* Above it, every block goes straight to the port and back. */
	for (int i = 0; i < 10; i++)
		liballoc_free(liballoc_malloc(THRESHOLD + PAGE));
	assert_int_equal(tp.alloc_calls, a + 10);
	assert_int_equal(tp.free_calls, f + 10);
	/* Many chunks emptied: one is kept, the others go back at once. */
	static void *big[64];
	for (int i = 0; i < 64; i++)
		big[i] = liballoc_malloc(THRESHOLD - 1000);
	size_t chunks = stats().chunks;
	assert_true(chunks >= 2);
	f = tp.free_calls;
	for (int i = 0; i < 64; i++)
		liballoc_free(big[i]);
	assert_int_equal(stats().chunks, 1);
	assert_int_equal(tp.free_calls, f + chunks - 1);
	/* trim returns the kept one: all that is left is the page map. */
	assert_true(liballoc_trim() > 0);
	assert_int_equal(stats().chunks, 0);
	assert_int_equal(test_port_pages_out() * PAGE, stats().metadata);
	assert_int_equal(liballoc_trim(), 0);
	assert_true(test_port_pages_out() <= base_pages);
}

/* When the heap must grow, the empty chunk kept as hysteresis (too small to serve
 * the request) goes back first: the heap does not hold what cannot serve while it
 * asks the port for more. */
static void test_grow_releases_empty(void **state)
{
	(void)state;
	if (!LIBALLOC_STATS)
		skip();
	liballoc_trim();
	liballoc_free(liballoc_malloc(TEST_BIG));  /* its chunk stays, empty */
	assert_int_equal(stats().chunks, 1);
	size_t a = tp.alloc_calls, f = tp.free_calls;
	void *big = liballoc_malloc(THRESHOLD - 1000);  /* more than that chunk holds */
	assert_non_null(big);
	assert_int_equal(tp.free_calls, f + 1);
	assert_int_equal(tp.alloc_calls, a + 1);
	assert_int_equal(stats().chunks, 1);
	liballoc_free(big);
}

/* Walk callback: the first live block's address. */
static int first_live(const struct liballoc_block *blk, void *arg)
{
	if (blk->state != LIBALLOC_BLOCK_LIVE)
		return 0;
	*(void **)arg = blk->ptr;
	return 1;
}

/* The empty chunk kept as hysteresis, taken back by a malloc, stays where it is in
 * the chunk list (the front, where empty chunks are kept): its reuse touches no
 * other run's header. liballoc_walk visits chunks in list order, so the new block
 * is the first it sees; had the chunk moved to the back, the other chunk's block
 * would be. */
static void test_reused_chunk_stays(void **state)
{
	(void)state;
	if (!LIBALLOC_STATS || LIBALLOC_KEEP_EMPTY < 1)
		skip();
	liballoc_trim();
	void *x = liballoc_malloc(THRESHOLD - 1000), *y = liballoc_malloc(THRESHOLD - 1000), *first = NULL;
	assert_non_null(x);
	assert_non_null(y);
	assert_int_equal(stats().chunks, 2);  /* one each */
	liballoc_free(x);  /* its chunk stays, empty */
	size_t a = tp.alloc_calls, f = tp.free_calls;
	x = liballoc_malloc(THRESHOLD - 1000);  /* the kept chunk again */
	assert_int_equal(tp.alloc_calls, a);
	assert_int_equal(tp.free_calls, f);
	assert_int_equal(liballoc_walk(NULL, first_live, &first), 1);
	assert_ptr_equal(first, x);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	liballoc_free(y);  /* y's chunk empties: kept, and moved to the front */
	assert_int_equal(liballoc_walk(NULL, first_live, &first), 1);
	assert_ptr_equal(first, x);  /* no live block in the chunk before x's */
	liballoc_free(x);  /* one empty chunk is kept: x's goes back */
	assert_int_equal(tp.free_calls, f + 1);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	assert_true(liballoc_trim() > 0);
	assert_int_equal(stats().chunks, 0);
}

static void test_lock_failure(void **state)
{
	(void)state;
	void *p = liballoc_malloc(TEST_BIG);
	tp.fail_lock = true;
	errno = 0;
	assert_null(liballoc_malloc(TEST_BIG));
	assert_int_equal(errno, ENOMEM);
	assert_null(liballoc_calloc(1, TEST_BIG));
	liballoc_free(p);  /* cannot lock: reported, block leaked rather than corrupted */
	assert_int_equal(tp.errors, 1);
	assert_int_equal(tp.last_error, LIBALLOC_E_LOCK);
	assert_ptr_equal(tp.last_ptr, p);
	tp.fail_lock = false;
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	liballoc_free(p);
	tp.fail_unlock = true;
	liballoc_free(liballoc_malloc(TEST_BIG));
	tp.fail_unlock = false;
	assert_int_equal(tp.last_error, LIBALLOC_E_LOCK);
	test_port_reset();
}

static void test_error_handler_api(void **state)
{
	(void)state;
	liballoc_error_fn old = liballoc_set_error_handler(NULL);
	assert_ptr_equal(old, test_port_on_error);
	assert_ptr_equal(liballoc_set_error_handler(old), test_port_on_error);  /* NULL restored the default */
	for (int e = 0; e <= LIBALLOC_E_COUNT; e++)
		assert_non_null(liballoc_strerror(e));
	assert_string_equal(liballoc_strerror(LIBALLOC_E_DOUBLE_FREE), "double free (block already free)");
	assert_string_equal(liballoc_strerror(-1), "unknown error");
}

static void test_oom_recovers(void **state)
{
	(void)state;
	/* Exhaust the arena with chunk-sized and huge blocks, then free and redo. */
	static void *p[4096];
	size_t in_use = stats().in_use;
	for (int round = 0; round < 2; round++) {
		size_t n = 0;
		while (n < 4096 && (p[n] = liballoc_malloc(n % 3 ? 3000 : TEST_ARENA_BYTES / 1024)) != NULL)
			n++;
		assert_true(n > 10 && n < 4096);
		assert_int_equal(errno, ENOMEM);
		assert_int_equal(liballoc_check(), LIBALLOC_OK);
		for (size_t i = 0; i < n; i++)
			liballoc_free(p[i]);
		liballoc_trim();
		assert_int_equal(stats().in_use, in_use);
	}
}

#ifdef LIBALLOC_THREAD_LOCAL
static bool in_set(void *const *set, size_t n, const void *q)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == q)
			return true;
	return false;
}

/* A full bin passes whole to its class's transfer stack and an empty bin adopts a
 * segment back, neither under the lock; the stack is bounded, and trim empties it. */
static void test_transfer_stacks(void **state)
{
	(void)state;
	enum { N = 4 * 64, MANY = 2000 };  /* 64: the bin limit of 80-byte blocks (63 bytes, plain or hardened) */
	static void *p[MANY];
	liballoc_trim();
	for (size_t i = 0; i < N; i++)
		assert_non_null(p[i] = liballoc_malloc(63));
	size_t locks = tp.lock_calls;
	for (size_t i = 0; i < N; i++)
		liballoc_free(p[i]);
	assert_int_equal(tp.lock_calls, locks);  /* three bins passed on, one kept */
	assert_int_equal(stats().cached, N);
	locks = tp.lock_calls;  /* stats took it */
	static void *q[N];
	for (size_t i = 0; i < N; i++)
		assert_true(in_set(p, N, q[i] = liballoc_malloc(63)));  /* the kept bin, then adopted segments */
	assert_int_equal(tp.lock_calls, locks);
	__builtin_memcpy(p, q, sizeof q);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	for (size_t i = N; i < MANY; i++)
		assert_non_null(p[i] = liballoc_malloc(63));
	locks = tp.lock_calls;
	for (size_t i = 0; i < MANY; i++)
		liballoc_free(p[i]);
	assert_true(tp.lock_calls > locks);  /* the stack filled: the rest merged back */
	assert_true(stats().cached <= 4 * 64);  /* one cache active: a bin and three segments (XFER_ALONE_BYTES) */
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	liballoc_trim();
	assert_int_equal(stats().cached, 0);
	assert_int_equal(stats().chunks, 0);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_malloc_alignment_and_usable, setup, teardown_quiet),
		cmocka_unit_test_setup_teardown(test_malloc_too_big, setup, teardown_quiet),
		cmocka_unit_test_setup_teardown(test_free_null_and_errno, setup, teardown_quiet),
		cmocka_unit_test_setup_teardown(test_calloc_zeroes, setup, teardown_quiet),
		cmocka_unit_test_setup_teardown(test_realloc_content, setup, teardown_quiet),
		cmocka_unit_test_setup_teardown(test_realloc_in_place, setup, teardown_quiet),
		cmocka_unit_test_setup_teardown(test_realloc_headroom, setup, teardown_quiet),
		cmocka_unit_test_setup_teardown(test_realloc_failure_keeps_block, setup, teardown_quiet),
		cmocka_unit_test_setup_teardown(test_reallocarray, setup, teardown_quiet),
		cmocka_unit_test_setup_teardown(test_posix_memalign, setup, teardown_quiet),
		cmocka_unit_test_setup_teardown(test_aligned_alloc_memalign_valloc, setup, teardown_quiet),
		cmocka_unit_test_setup_teardown(test_usable_size, setup, teardown_quiet),
		cmocka_unit_test_setup_teardown(test_stats_and_hooks, setup, teardown_quiet),
		cmocka_unit_test_setup_teardown(test_hysteresis_and_trim, setup, teardown_quiet),
		cmocka_unit_test_setup_teardown(test_reused_chunk_stays, setup, teardown_quiet),
		cmocka_unit_test_setup_teardown(test_grow_releases_empty, setup, teardown_quiet),
		cmocka_unit_test_setup_teardown(test_lock_failure, setup, teardown_quiet),
		cmocka_unit_test_setup_teardown(test_error_handler_api, setup, teardown_quiet),
		cmocka_unit_test_setup_teardown(test_oom_recovers, setup, teardown_quiet),
#ifdef LIBALLOC_THREAD_LOCAL
		cmocka_unit_test_setup_teardown(test_transfer_stacks, setup, teardown_quiet),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
