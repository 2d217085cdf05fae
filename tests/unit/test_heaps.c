/* test_heaps.c — cmocka tests of heap instances: over counting ports of their own, in fixed regions, isolated, destroyed whole. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "count_port.h"

/* ---- heap instances ---------------------------------------------------------- */

/* A heap over a port of its own: one alloc_page for its state, every hook call with
 * its ctx and under its lock, the malloc family on it as on the default heap, and
 * the default heap's hooks never called. */
static void test_create_over_port(void **state)
{
	(void)state;
	struct liballoc_port p = make_port(0, true);
	struct cport *c = &ports[0];
	size_t default_calls = tp.alloc_calls + tp.free_calls + tp.lock_calls;
	liballoc_heap *h = liballoc_heap_create(&p);
	assert_non_null(h);
	assert_true(in_pool(0, h, 1));
	assert_int_equal(c->alloc_calls, 1);
	p.ctx = NULL;  /* the heap keeps its own copy of the port */
	p.alloc_page = NULL;
	struct liballoc_stats s = hstats(h);
	assert_int_equal(s.obtained, c->pages_out * PAGE);
	assert_int_equal(s.metadata, s.obtained);  /* so far only its own state */
	assert_int_equal(s.live_blocks, 0);
	assert_int_equal(s.in_use, 0);
	if (ST)
		assert_int_equal(s.alloc_page_calls, 1);

	char *a = liballoc_heap_malloc(h, 100), *b = liballoc_heap_calloc(h, 300, 7), *g = liballoc_heap_malloc(h, 3 * THRESHOLD);
	char *m = liballoc_heap_memalign(h, 4096, 5000), *z = liballoc_heap_malloc(h, 0);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(g);
	assert_non_null(m);
	assert_non_null(z);
	assert_true(in_pool(0, a, 100) && in_pool(0, b, 2100) && in_pool(0, g, 3 * THRESHOLD) && in_pool(0, m, 5000));
	assert_int_equal((uintptr_t)a % 16, 0);
	assert_int_equal((uintptr_t)g % 16, 0);
	assert_int_equal((uintptr_t)m % 4096, 0);
	for (size_t i = 0; i < 2100; i++)
		assert_int_equal(b[i], 0);
	assert_true(liballoc_heap_usable_size(h, a) >= 100);
	assert_true(liballoc_heap_usable_size(h, g) >= 3 * THRESHOLD);
	fill(a, 100, 1);
	a = liballoc_heap_realloc(h, a, 20000);
	assert_true(in_pool(0, a, 20000) && filled(a, 100, 1));
	fill(g, 1000, 2);
	g = liballoc_heap_realloc(h, g, 5 * THRESHOLD);
	assert_true(in_pool(0, g, 5 * THRESHOLD) && filled(g, 1000, 2));
	s = hstats(h);
	assert_int_equal(s.live_blocks, 5);
	assert_int_equal(s.huge_blocks, ST ? 1 + (20000 + 64 > THRESHOLD) : 0);
	if (ST) {
		assert_int_equal(s.lock_calls + 1, c->lock_calls);  /* create's own lock is before the counters exist */
		assert_int_equal(s.alloc_page_calls, c->alloc_calls);
		assert_int_equal(s.free_page_calls, c->free_calls);
	}
	heap_sound(h, 0);
	/* The default heap was not involved at all. */
	assert_int_equal(tp.alloc_calls + tp.free_calls + tp.lock_calls, default_calls);
	liballoc_heap_free(h, a);
	liballoc_heap_free(h, b);
	liballoc_heap_free(h, g);
	liballoc_heap_free(h, m);
	liballoc_heap_free(h, z);
	liballoc_heap_free(h, NULL);
	assert_null(liballoc_heap_realloc(h, liballoc_heap_malloc(h, 10), 0));  /* realloc(p, 0) frees */
	s = hstats(h);
	assert_int_equal(s.live_blocks, 0);
	assert_int_equal(s.in_use, 0);
	heap_sound(h, 0);
	destroy_all(h, 0);
	assert_int_equal(tp.alloc_calls + tp.free_calls + tp.lock_calls, default_calls);
}

/* Every guarantee of the global API, on an instance: alignment of every size,
 * uniqueness, ENOMEM for impossible sizes, aligned allocation, hysteresis and trim. */
static void test_guarantees_per_heap(void **state)
{
	(void)state;
	liballoc_heap *h = new_heap(0);
	static void *p[400];
	size_t sizes[] = {0, 1, 15, 16, 17, 100, 1000, 4095, 4096, 4097, 65536, THRESHOLD - 64, THRESHOLD + 1};
	size_t k = 0;
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
		for (int rep = 0; rep < 10; rep++, k++) {
			p[k] = liballoc_heap_malloc(h, sizes[i]);
			assert_non_null(p[k]);
			assert_int_equal((uintptr_t)p[k] % 16, 0);
			size_t u = liballoc_heap_usable_size(h, p[k]);
			assert_true(u >= sizes[i]);
			if (LIBALLOC_HARDENED)
				assert_int_equal(u, sizes[i]);
			fill(p[k], u, (unsigned)k);
		}
	for (size_t i = 0; i < k; i++) {
		assert_true(filled(p[i], liballoc_heap_usable_size(h, p[i]), (unsigned)i));
		for (size_t j = 0; j < i; j++)
			assert_ptr_not_equal(p[i], p[j]);
	}
	for (size_t a = 16; a <= 256 * 1024; a <<= 2) {
		void *q = liballoc_heap_memalign(h, a, 100);
		assert_non_null(q);
		assert_int_equal((uintptr_t)q % a, 0);
		p[k++] = q;
	}
	heap_sound(h, 0);
	size_t failed = hstats(h).failed_allocs;
	errno = 0;
	assert_null(liballoc_heap_malloc(h, SIZE_MAX));
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	assert_null(liballoc_heap_malloc(h, (size_t)PTRDIFF_MAX + 1));
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	assert_null(liballoc_heap_calloc(h, SIZE_MAX / 2, 3));
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	assert_null(liballoc_heap_malloc(h, POOL_BYTES));  /* more than the port has */
	assert_int_equal(errno, ENOMEM);
	if (ST)
		assert_true(hstats(h).failed_allocs >= failed + 3);
	for (size_t i = 0; i < k; i++)
		liballoc_heap_free(h, p[i]);
	heap_sound(h, 0);
	/* Empty chunks beyond LIBALLOC_KEEP_EMPTY went back on free; trim returns the rest:
	 * what is left is the heap's state and its page-map nodes. */
	size_t trimmed = liballoc_heap_trim(h);
	struct liballoc_stats s = hstats(h);
	assert_int_equal(s.chunks, 0);
	assert_int_equal(s.obtained, s.metadata);
	assert_true(LIBALLOC_KEEP_EMPTY == 0 || trimmed > 0);
	assert_int_equal(liballoc_heap_trim(h), 0);
	heap_sound(h, 0);
	destroy_all(h, 0);
}

/* NULL is the default heap in every function but destroy. */
static void test_null_heap_is_default(void **state)
{
	(void)state;
	size_t calls = tp.lock_calls;
	void *p = liballoc_heap_malloc(NULL, 200), *q = liballoc_heap_calloc(NULL, 10, 10);
	void *m = liballoc_heap_memalign(NULL, 256, 10);
	assert_true(test_port_in_arena(p, 200) && test_port_in_arena(q, 100) && test_port_in_arena(m, 10));
	assert_int_equal((uintptr_t)m % 256, 0);
	assert_true(liballoc_heap_usable_size(NULL, p) >= 200);
	assert_int_equal(liballoc_heap_usable_size(NULL, p), liballoc_malloc_usable_size(p));
	p = liballoc_heap_realloc(NULL, p, 20000);
	assert_true(test_port_in_arena(p, 20000));
	struct liballoc_stats a = stats(), b = hstats(NULL);
	assert_int_equal(a.live_blocks, b.live_blocks);
	assert_int_equal(a.in_use, b.in_use);
	assert_int_equal(a.obtained, b.obtained);
	assert_int_equal(liballoc_heap_check(NULL), LIBALLOC_OK);
	liballoc_free(p);  /* blocks of either API are one heap's */
	liballoc_heap_free(NULL, q);
	liballoc_heap_free(NULL, m);
	assert_true(tp.lock_calls > calls);
	/* destroy needs a real instance: NULL and the default heap are reported */
	EXPECT_CLEAN_REPORT(LIBALLOC_E_FOREIGN_POINTER, NULL, liballoc_heap_destroy(NULL));
	liballoc_trim();
}

static void expect_einval(liballoc_heap *h)
{
	assert_null(h);
	assert_int_equal(errno, EINVAL);
}

/* Bad arguments: NULL + EINVAL, nothing allocated, no hook called. */
static void test_bad_arguments(void **state)
{
	(void)state;
	struct liballoc_port p = make_port(0, true), q;
	static unsigned char small[256];
	errno = 0;
	expect_einval(liballoc_heap_create(NULL));
	q = p, q.alloc_page = NULL, errno = 0;
	expect_einval(liballoc_heap_create(&q));
	q = p, q.free_page = NULL, errno = 0;
	expect_einval(liballoc_heap_create(&q));
	q = p, q.lock = NULL, errno = 0;
	expect_einval(liballoc_heap_create(&q));
	q = p, q.unlock = NULL, errno = 0;
	expect_einval(liballoc_heap_create(&q));
	errno = 0;
	expect_einval(liballoc_heap_create_in(NULL, MiB));
	errno = 0;
	expect_einval(liballoc_heap_create_in(small, sizeof small));  /* no room for the state and one block */
	errno = 0;
	expect_einval(liballoc_heap_create_in(small, 0));
	errno = 0;
	expect_einval(liballoc_heap_create_in((void *)(UINTPTR_MAX - 4096), 8192));  /* wraps around */
	assert_int_equal(ports[0].alloc_calls + ports[0].lock_calls, 0);

	liballoc_heap *h = new_heap(0);
	errno = 0;
	assert_null(liballoc_heap_memalign(h, 24, 10));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(liballoc_heap_memalign(h, 0, 10));
	assert_int_equal(errno, EINVAL);
	size_t sizes[] = {0, 65537}, aligns[] = {3, 24, 8192};
	for (size_t i = 0; i < 2; i++) {
		errno = 0;
		assert_null(liballoc_cache_create(h, "bad", sizes[i], 0));
		assert_int_equal(errno, EINVAL);
	}
	for (size_t i = 0; i < 3; i++) {
		errno = 0;
		assert_null(liballoc_cache_create(h, "bad", 32, aligns[i]));
		assert_int_equal(errno, EINVAL);
	}
	assert_int_equal(hstats(h).live_blocks, 0);
	heap_sound(h, 0);
	destroy_all(h, 0);
}

/* A heap without lock hooks (one thread) takes no lock and works the same. */
static void test_unlocked_port(void **state)
{
	(void)state;
	struct liballoc_port p = make_port(1, false);
	liballoc_heap *h = liballoc_heap_create(&p);
	assert_non_null(h);
	void *a = liballoc_heap_malloc(h, 5000), *g = liballoc_heap_malloc(h, 2 * THRESHOLD);
	assert_true(in_pool(1, a, 5000) && in_pool(1, g, 2 * THRESHOLD));
	liballoc_heap_free(h, a);
	liballoc_heap_free(h, g);
	assert_int_equal(ports[1].lock_calls + ports[1].unlock_calls, 0);
	heap_sound(h, 1);
	destroy_all(h, 1);
}

/* The port fails or breaks its contract: at create time and inside a heap. */
static void test_port_failures(void **state)
{
	(void)state;
	struct liballoc_port p = make_port(0, true);
	struct cport *c = &ports[0];
	size_t errors = stats().errors;

	/* no pages: NULL + ENOMEM, nothing reported */
	c->fail_alloc = true;
	errno = 0;
	assert_null(liballoc_heap_create(&p));
	assert_int_equal(errno, ENOMEM);
	c->fail_alloc = false;
	assert_int_equal(tp.errors, 0);
	/* a misaligned run: reported as the port's fault, handed back, NULL + ENOMEM */
	c->misalign_next = true;
	errno = 0;
	assert_null(liballoc_heap_create(&p));
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(tp.errors, 1);
	assert_int_equal(tp.last_error, LIBALLOC_E_PORT);
	assert_int_equal(c->pages_out, 0);
	assert_int_equal(c->misaligned, 0);
	/* the lock fails: reported, NULL + ENOMEM, no page taken */
	c->fail_lock = true;
	errno = 0;
	assert_null(liballoc_heap_create(&p));
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(tp.errors, 2);
	assert_int_equal(tp.last_error, LIBALLOC_E_LOCK);
	assert_int_equal(c->alloc_calls, 2);
	c->fail_lock = false;
	assert_int_equal(stats().errors, errors + 2);  /* no heap yet: counted in the default heap's */

	liballoc_heap *h = liballoc_heap_create(&p);
	assert_non_null(h);
	void *keep = liballoc_heap_malloc(h, 100);
	struct liballoc_stats before = hstats(h);
	/* alloc_page returns NULL: the request fails with ENOMEM, nothing else changes */
	c->fail_alloc = true;
	errno = 0;
	assert_null(liballoc_heap_malloc(h, 2 * THRESHOLD));
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	assert_null(liballoc_heap_malloc(h, THRESHOLD / 2));  /* a new chunk */
	assert_int_equal(errno, ENOMEM);
	c->fail_alloc = false;
	struct liballoc_stats s = hstats(h);
	assert_int_equal(s.obtained, before.obtained);
	assert_int_equal(s.live_blocks, before.live_blocks);
	assert_int_equal(s.errors, 0);
	if (ST) {
		assert_int_equal(s.failed_allocs, before.failed_allocs + 2);
		assert_true(s.alloc_page_failures >= before.alloc_page_failures + 2);
	}
	heap_sound(h, 0);
	/* a misaligned run for a new chunk and for a huge block: E_PORT, NULL, nothing lost */
	for (int huge = 0; huge < 2; huge++) {
		size_t pages = c->pages_out;
		c->misalign_next = true;
		errno = 0;
		assert_null(liballoc_heap_malloc(h, huge ? 2 * THRESHOLD : THRESHOLD / 2));
		assert_int_equal(errno, ENOMEM);
		assert_int_equal(tp.last_error, LIBALLOC_E_PORT);
		assert_int_equal(c->pages_out, pages);
		assert_int_equal(c->misaligned, 0);
		assert_int_equal(hstats(h).errors, (size_t)huge + 1);
		heap_sound(h, 0);
	}
	/* the lock fails: malloc NULL + ENOMEM; free reported and the block kept */
	errors = tp.errors;
	c->fail_lock = true;
	errno = 0;
	assert_null(liballoc_heap_malloc(h, 10));
	assert_int_equal(errno, ENOMEM);
	liballoc_heap_free(h, keep);
	assert_int_equal(tp.errors, errors + 1);
	assert_int_equal(tp.last_error, LIBALLOC_E_LOCK);
	liballoc_heap_destroy(h);  /* cannot lock: reported, nothing done */
	assert_int_equal(tp.errors, errors + 2);
	assert_int_equal(tp.last_error, LIBALLOC_E_LOCK);
	c->fail_lock = false;
	assert_int_equal(hstats(h).live_blocks, 1);
	heap_sound(h, 0);
	/* free_page refused for a huge block: kept (as a dead run), retried by trim */
	void *g = liballoc_heap_malloc(h, 4 * THRESHOLD);
	assert_non_null(g);
	c->fail_free = true;
	liballoc_heap_free(h, g);
	c->fail_free = false;
	assert_int_equal(hstats(h).obtained, c->pages_out * PAGE);
	assert_int_equal(liballoc_heap_check(h), LIBALLOC_OK);
	assert_true(liballoc_heap_trim(h) >= 4 * THRESHOLD);
	heap_sound(h, 0);
	liballoc_heap_free(h, keep);
	destroy_all(h, 0);

	/* destroy with free_page refused: reported as the port's fault */
	h = new_heap(0);
	liballoc_heap_free(h, liballoc_heap_malloc(h, 100));  /* a chunk, kept empty */
	errors = tp.errors;
	c->fail_free = true;
	liballoc_heap_destroy(h);
	c->fail_free = false;
	assert_int_equal(tp.errors, errors + 1);
	assert_int_equal(tp.last_error, LIBALLOC_E_PORT);
	port_sound(0);
	(void)make_port(0, true);  /* the pages the port could not take back: start afresh */
}

/* create_in: the 1 MiB region of 1000-byte blocks is used to at least 90%, and
 * after everything is freed one block of 60% of it fits. No hook is ever called. */
static unsigned char region[MiB + 64] __attribute__((aligned(64)));

static void test_region_heap(void **state)
{
	(void)state;
	static void *p[1100];
	size_t hooks = tp.alloc_calls + tp.free_calls;  /* the default heap's page hooks */
	for (size_t off = 0; off < 16; off += 5) {  /* the base need not be aligned */
		liballoc_heap *h = liballoc_heap_create_in(region + off, MiB);
		assert_non_null(h);
		struct liballoc_stats s = hstats(h);
		assert_true(s.obtained <= MiB && s.obtained >= MiB - 16 * 1024);
		size_t n = 0;
		while ((p[n] = liballoc_heap_malloc(h, 1000)) != NULL) {
			assert_true((unsigned char *)p[n] >= region + off && (unsigned char *)p[n] + 1000 <= region + off + MiB);
			assert_int_equal((uintptr_t)p[n] % 16, 0);
			fill(p[n], 1000, (unsigned)n);
			n++;
			assert_true(n < 1100);
		}
		assert_int_equal(errno, ENOMEM);
		assert_true(n * 1000 >= MiB * 9 / 10);
		s = hstats(h);
		assert_int_equal(s.live_blocks, n);
		assert_int_equal(s.in_use, n * 1000);
		assert_int_equal(liballoc_heap_check(h), LIBALLOC_OK);
		for (size_t i = 0; i < n; i++)
			assert_true(filled(p[i], 1000, (unsigned)i));
		for (size_t i = 0; i < n; i += 2)  /* out of order: every merge path */
			liballoc_heap_free(h, p[i]);
		for (size_t i = 1; i < n; i += 2)
			liballoc_heap_free(h, p[i]);
		assert_int_equal(liballoc_heap_check(h), LIBALLOC_OK);
		void *big = liballoc_heap_malloc(h, MiB * 6 / 10);
		assert_non_null(big);
		assert_null(liballoc_heap_malloc(h, MiB / 2));  /* and the rest is less than that */
		assert_int_equal(liballoc_heap_trim(h), 0);     /* a region heap gives nothing back */
		assert_int_equal(hstats(h).obtained, s.obtained);
		/* a region heap validates pointers by its bounds */
		nwatched = 0;
		watch(h);
		EXPECT_HEAP_REPORT(LIBALLOC_E_FOREIGN_POINTER, region, h, liballoc_heap_free(h, region));
		EXPECT_HEAP_REPORT(LIBALLOC_E_INTERIOR_POINTER, (char *)big + 64, h, liballoc_heap_free(h, (char *)big + 64));
		liballoc_heap_free(h, big);
		EXPECT_HEAP_REPORT(LIBALLOC_E_DOUBLE_FREE, big, h, liballoc_heap_free(h, big));
		unwatch_all();
		assert_int_equal(liballoc_heap_check(h), LIBALLOC_OK);
		liballoc_heap_destroy(h);  /* the region is the caller's again */
	}
	/* the smallest region that holds one block */
	size_t lo = 64, hi = 64 * 1024;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		liballoc_heap *h = liballoc_heap_create_in(region, mid);
		if (h)
			hi = mid;
		else
			lo = mid + 1;
		if (h)
			liballoc_heap_destroy(h);
	}
	liballoc_heap *h = liballoc_heap_create_in(region, lo);
	void *one = liballoc_heap_malloc(h, 1);
	assert_non_null(one);
	liballoc_heap_free(h, one);
	liballoc_heap_destroy(h);
	assert_int_equal(tp.alloc_calls + tp.free_calls, hooks);
}

/* Heaps are independent: a block of one given to another's free, realloc or
 * usable_size is a foreign pointer, reported by the heap it was given to, and
 * nothing changes in any heap. */
static unsigned char region2[256 * 1024] __attribute__((aligned(16)));

static void test_isolation(void **state)
{
	(void)state;
	liballoc_heap *h[3] = {new_heap(0), new_heap(1), liballoc_heap_create_in(region2, sizeof region2)};
	assert_non_null(h[2]);
	void *blk[4][2];
	for (int i = 0; i < 3; i++) {
		blk[i][0] = liballoc_heap_malloc(h[i], 300);
		blk[i][1] = liballoc_heap_malloc(h[i], i < 2 ? 2 * THRESHOLD : 100 * 1024);  /* huge in paged heaps */
		assert_non_null(blk[i][0]);
		assert_non_null(blk[i][1]);
	}
	blk[3][0] = liballoc_malloc(300);
	blk[3][1] = liballoc_malloc(2 * THRESHOLD);
	unwatch_all();
	for (int i = 0; i < 3; i++)
		watch(h[i]);
	for (int from = 0; from < 4; from++)
		for (int to = 0; to < 4; to++) {
			if (from == to)
				continue;
			liballoc_heap *by = to < 3 ? h[to] : NULL;
			for (int k = 0; k < 2; k++) {
				void *x = blk[from][k];
				EXPECT_HEAP_REPORT(LIBALLOC_E_FOREIGN_POINTER, x, by, liballoc_heap_free(by, x));
				errno = 0;
				EXPECT_HEAP_REPORT(LIBALLOC_E_FOREIGN_POINTER, x, by, assert_null(liballoc_heap_realloc(by, x, 50)));
				assert_int_equal(errno, EINVAL);
				EXPECT_HEAP_REPORT(LIBALLOC_E_FOREIGN_POINTER, x, by,
						   assert_int_equal(liballoc_heap_usable_size(by, x), 0));
			}
		}
	unwatch_all();
	/* and every block still frees in its own heap */
	for (int i = 0; i < 3; i++) {
		liballoc_heap_free(h[i], blk[i][0]);
		liballoc_heap_free(h[i], blk[i][1]);
		assert_int_equal(hstats(h[i]).live_blocks, 0);
		assert_int_equal(liballoc_heap_check(h[i]), LIBALLOC_OK);
	}
	liballoc_free(blk[3][0]);
	liballoc_free(blk[3][1]);
	heap_sound(h[0], 0);
	heap_sound(h[1], 1);
	destroy_all(h[0], 0);
	destroy_all(h[1], 1);
	liballoc_heap_destroy(h[2]);
}

/* destroy returns every page, whatever is still allocated, in one free_page call
 * per run held (chunks, huge runs, trimmed aligned runs, page-map nodes, the state):
 * O(runs), however many blocks are live. */
static void test_destroy_returns_everything(void **state)
{
	(void)state;
	SKIP_IF_DESTROY_IS_UNINSTRUMENTED();
	for (size_t round = 0; round < 2; round++) {
		static void *small[5000];
		liballoc_heap *h = new_heap(2);
		size_t live = 0;
		for (size_t i = 0; i < 5000; i++, live++)
			assert_non_null(small[i] = liballoc_heap_malloc(h, 16 + (i * 37) % 900));
		for (size_t i = 0; i < 12; i++, live++)
			assert_non_null(liballoc_heap_malloc(h, THRESHOLD + i * 5000));
		for (size_t a = 2 * PAGE; a <= 16 * PAGE; a *= 2, live++)  /* runs trimmed at both ends */
			assert_non_null(liballoc_heap_memalign(h, a, 2 * THRESHOLD));
		void *g = liballoc_heap_malloc(h, 8 * THRESHOLD);  /* shrunk in place: its tail went back */
		assert_ptr_equal(liballoc_heap_realloc(h, g, 5 * THRESHOLD), g);
		live++;
		for (size_t i = 0; i < 5000 * round; i += 2, live--)  /* holes: free blocks in the chunks */
			liballoc_heap_free(h, small[i]);
		struct liballoc_stats s = hstats(h);
		assert_int_equal(s.live_blocks, live);
		heap_sound(h, 2);
		print_message("%zu live blocks in %zu runs\n", live, (size_t)ports[2].runs);
		assert_true(ports[2].runs * 20 < live);  /* far fewer runs than blocks */
		if (ST)
			assert_true(ports[2].runs <= s.chunks + s.huge_blocks + s.metadata / PAGE);
		destroy_all(h, 2);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_over_port, setup, teardown_heaps),
		cmocka_unit_test_setup_teardown(test_guarantees_per_heap, setup, teardown_heaps),
		cmocka_unit_test_setup_teardown(test_null_heap_is_default, setup, teardown_heaps),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown_heaps),
		cmocka_unit_test_setup_teardown(test_unlocked_port, setup, teardown_heaps),
		cmocka_unit_test_setup_teardown(test_port_failures, setup, teardown_heaps),
		cmocka_unit_test_setup_teardown(test_region_heap, setup, teardown_heaps),
		cmocka_unit_test_setup_teardown(test_isolation, setup, teardown_heaps),
		cmocka_unit_test_setup_teardown(test_destroy_returns_everything, setup, teardown_heaps),
	};
	return run_selected("heaps", tests, sizeof tests / sizeof *tests, argc, argv);
}
