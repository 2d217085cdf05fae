/* test_caches.c — cmocka tests of object caches: alignment, the memory bound, hysteresis, misuse reports, stats, destroy. */
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

static unsigned char region[MiB + 64] __attribute__((aligned(64)));

/* Objects are aligned as asked, disjoint, and hold what was written to them. */
static void test_cache_alignment(void **state)
{
	(void)state;
	liballoc_heap *h = new_heap(0);
	size_t sizes[] = {1, 3, 8, 24, 48, 100, 1000, 4096, 65536};
	size_t aligns[] = {0, 8, 16, 64, 256, 4096};
	static unsigned char *obj[40];
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
		for (size_t j = 0; j < sizeof aligns / sizeof *aligns; j++) {
			liballoc_cache *c = liballoc_cache_create(h, "align", sizes[i], aligns[j]);
			assert_non_null(c);
			struct liballoc_cache_stats cs;
			liballoc_cache_stats(c, &cs);
			size_t a = aligns[j] ? aligns[j] : sizeof(void *);
			assert_true(cs.object_size >= sizes[i] && cs.object_size % a == 0);
			assert_true(cs.per_slab >= 1 && cs.per_slab * cs.object_size <= cs.slab_bytes);
			assert_int_equal(cs.slab_bytes & (cs.slab_bytes - 1), 0);
			for (size_t k = 0; k < 40; k++) {
				obj[k] = liballoc_cache_alloc(c);
				assert_non_null(obj[k]);
				assert_true(in_pool(0, obj[k], sizes[i]));
				assert_int_equal((uintptr_t)obj[k] % a, 0);
				fill(obj[k], sizes[i], (unsigned)(k + i));
			}
			for (size_t k = 0; k < 40; k++) {
				assert_true(filled(obj[k], sizes[i], (unsigned)(k + i)));
				for (size_t m = 0; m < k; m++)  /* disjoint */
					assert_true(obj[m] + sizes[i] <= obj[k] || obj[k] + sizes[i] <= obj[m]);
			}
			assert_int_equal(liballoc_heap_check(h), LIBALLOC_OK);
			for (size_t k = 0; k < 40; k += 2)
				liballoc_cache_free(c, obj[k]);
			for (size_t k = 0; k < 40; k += 2) {  /* reused, still aligned */
				obj[k] = liballoc_cache_alloc(c);
				assert_int_equal((uintptr_t)obj[k] % a, 0);
			}
			liballoc_cache_destroy(c);
		}
	assert_int_equal(hstats(h).live_blocks, 0);
	heap_sound(h, 0);
	destroy_all(h, 0);
}

/* 100 000 objects of 48 bytes: no per-object header, so the pages the heap takes
 * from its port for them stay within 1.15 x 4.8 MB. */
static void test_cache_memory_bound(void **state)
{
	(void)state;
	enum { N = 100000, SIZE = 48 };
	static void *obj[N];
	liballoc_heap *h = new_heap(0);
	size_t base = hstats(h).obtained;
	liballoc_cache *c = liballoc_cache_create(h, "obj48", SIZE, 0);
	assert_non_null(c);
	for (size_t i = 0; i < N; i++) {
		obj[i] = liballoc_cache_alloc(c);
		assert_non_null(obj[i]);
		*(uint32_t *)obj[i] = (uint32_t)i;
	}
	struct liballoc_stats s = hstats(h);
	struct liballoc_cache_stats cs;
	liballoc_cache_stats(c, &cs);
	size_t bound = (size_t)N * SIZE * 115 / 100;
	print_message("100000 x 48 B: %zu slabs of %zu bytes (%zu objects each), %zu bytes of pages from the port "
		      "(bound %zu), in use %zu, %zu chunks\n",
		      cs.slabs, cs.slab_bytes, cs.per_slab, s.obtained - base, bound, s.in_use, s.chunks);
	assert_int_equal(cs.objects, N);
	assert_true(s.obtained - base <= bound);
	assert_true(ports[0].pages_out * PAGE - base <= bound);
	assert_true(cs.slabs * cs.slab_bytes <= bound);
	assert_int_equal(cs.slabs, (N + cs.per_slab - 1) / cs.per_slab);
	if (ST) {
		assert_int_equal(s.cache_objects, N);
		assert_int_equal(s.cache_slabs, cs.slabs);
	}
	heap_sound(h, 0);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(*(uint32_t *)obj[i], (uint32_t)i);
	for (size_t i = 0; i < N; i++)
		liballoc_cache_free(c, obj[i]);
	liballoc_cache_stats(c, &cs);
	assert_int_equal(cs.objects, 0);
	assert_int_equal(cs.slabs, 2);  /* the hysteresis */
	liballoc_cache_destroy(c);
	liballoc_heap_trim(h);
	s = hstats(h);
	assert_int_equal(s.live_blocks, 0);
	assert_int_equal(s.chunks, 0);
	heap_sound(h, 0);
	destroy_all(h, 0);
}

static uintptr_t slab_of(const void *obj, size_t slab_bytes) { return (uintptr_t)obj & ~(uintptr_t)(slab_bytes - 1); }

/* Empty slabs: two are kept, a third goes back to the heap; allocations take the
 * kept ones before asking the heap for a new slab. */
static void test_cache_hysteresis(void **state)
{
	(void)state;
	liballoc_heap *h = new_heap(0);
	liballoc_cache *c = liballoc_cache_create(h, "hyst", 200, 0);
	struct liballoc_cache_stats cs;
	liballoc_cache_stats(c, &cs);
	size_t per = cs.per_slab, n = 5 * per;
	static void *obj[5 * 4096];
	assert_true(n <= sizeof obj / sizeof *obj);
	for (size_t i = 0; i < n; i++)
		obj[i] = liballoc_cache_alloc(c);
	liballoc_cache_stats(c, &cs);
	assert_int_equal(cs.slabs, 5);
	assert_int_equal(cs.empty_slabs, 0);
	size_t heap_live = hstats(h).live_blocks, slab_allocs = hstats(h).allocs;
	/* empty the slabs one by one */
	uintptr_t slabs[5];
	for (int k = 0; k < 5; k++)
		slabs[k] = slab_of(obj[(size_t)k * per], cs.slab_bytes);
	for (int k = 0; k < 5; k++) {
		for (size_t i = 0; i < n; i++)
			if (obj[i] && slab_of(obj[i], cs.slab_bytes) == slabs[k]) {
				liballoc_cache_free(c, obj[i]);
				obj[i] = NULL;
			}
		liballoc_cache_stats(c, &cs);
		size_t kept = k < 2 ? (size_t)k + 1 : 2;
		assert_int_equal(cs.empty_slabs, kept);
		assert_int_equal(cs.slabs, 5 - (k < 2 ? 0 : (size_t)k - 1));
		assert_int_equal(hstats(h).live_blocks, heap_live - (k < 2 ? 0 : (size_t)k - 1));
		if (ST)
			assert_int_equal(hstats(h).cache_slabs, cs.slabs);
		assert_int_equal(liballoc_heap_check(h), LIBALLOC_OK);
	}
	/* the two kept slabs serve 2 * per objects without a heap allocation */
	for (size_t i = 0; i < 2 * per; i++)
		obj[i] = liballoc_cache_alloc(c);
	liballoc_cache_stats(c, &cs);
	assert_int_equal(cs.slabs, 2);
	assert_int_equal(cs.empty_slabs, 0);
	if (ST)
		assert_int_equal(hstats(h).allocs, slab_allocs);
	obj[2 * per] = liballoc_cache_alloc(c);  /* now a new slab */
	liballoc_cache_stats(c, &cs);
	assert_int_equal(cs.slabs, 3);
	if (ST)
		assert_int_equal(hstats(h).allocs, slab_allocs + 1);
	for (size_t i = 0; i <= 2 * per; i++)
		liballoc_cache_free(c, obj[i]);
	liballoc_cache_stats(c, &cs);
	assert_int_equal(cs.slabs, 2);
	assert_int_equal(cs.empty_slabs, 2);
	liballoc_cache_destroy(c);
	heap_sound(h, 0);
	destroy_all(h, 0);
}

/* Misuse of a cache is reported and changes nothing: an object of another cache,
 * a double free, an interior pointer, a pointer from elsewhere. */
static void test_cache_misuse(void **state)
{
	(void)state;
	char stack_obj[64] __attribute__((aligned(16)));
	liballoc_heap *h = new_heap(0), *other = new_heap(1);
	liballoc_cache *c = liballoc_cache_create(h, "c", 64, 0), *d = liballoc_cache_create(h, "d", 64, 0);
	liballoc_cache *e = liballoc_cache_create(other, "e", 64, 0);
	char *a = liballoc_cache_alloc(c), *b = liballoc_cache_alloc(c), *x = liballoc_cache_alloc(d);
	char *y = liballoc_cache_alloc(e);
	char *never = b + 64;  /* inside the slab, never handed out */
	unwatch_all();
	watch(h);
	watch(other);
	EXPECT_HEAP_REPORT(LIBALLOC_E_WRONG_CACHE, x, h, liballoc_cache_free(c, x));
	EXPECT_HEAP_REPORT(LIBALLOC_E_WRONG_CACHE, a, h, liballoc_cache_free(d, a));
	EXPECT_HEAP_REPORT(LIBALLOC_E_FOREIGN_POINTER, y, h, liballoc_cache_free(c, y));
	EXPECT_HEAP_REPORT(LIBALLOC_E_FOREIGN_POINTER, a, other, liballoc_cache_free(e, a));
	EXPECT_HEAP_REPORT(LIBALLOC_E_FOREIGN_POINTER, stack_obj, h, liballoc_cache_free(c, stack_obj));
	EXPECT_HEAP_REPORT(LIBALLOC_E_INTERIOR_POINTER, a + 1, h, liballoc_cache_free(c, a + 1));
	EXPECT_HEAP_REPORT(LIBALLOC_E_INTERIOR_POINTER, a + 32, h, liballoc_cache_free(c, a + 32));
	EXPECT_HEAP_REPORT(LIBALLOC_E_INTERIOR_POINTER, never, h, liballoc_cache_free(c, never));
	liballoc_cache_free(c, b);
	EXPECT_HEAP_REPORT(LIBALLOC_E_DOUBLE_FREE, b, h, liballoc_cache_free(c, b));
	/* cache objects are not heap blocks: the heap reports them as interior pointers */
	EXPECT_HEAP_REPORT(LIBALLOC_E_INTERIOR_POINTER, a, h, liballoc_heap_free(h, a));
	unwatch_all();
	struct liballoc_cache_stats cs;
	liballoc_cache_stats(c, &cs);
	assert_int_equal(cs.objects, 1);
	liballoc_cache_free(c, a);  /* still a live object of c */
	liballoc_cache_stats(c, &cs);
	assert_int_equal(cs.objects, 0);
	liballoc_cache_destroy(c);
	liballoc_cache_destroy(d);
	liballoc_cache_destroy(e);
	heap_sound(h, 0);
	heap_sound(other, 1);
	destroy_all(h, 0);
	destroy_all(other, 1);
}

/* What is not an object of a cache, given to it, is reported as LIBALLOC_E_WRONG_CACHE
 * (liballoc.h: "an object given to an object cache it does not belong to"), and
 * nothing changes: an ordinary block of the cache's heap, and objects of caches
 * whose slabs are of another size (their slab is not found by the cache's mask). */
static void test_cache_misuse_not_an_object(void **state)
{
	(void)state;
	liballoc_heap *h = new_heap(0);
	liballoc_cache *c = liballoc_cache_create(h, "small", 64, 0), *big = liballoc_cache_create(h, "big", 2000, 0);
	struct liballoc_cache_stats sc, sb;
	liballoc_cache_stats(c, &sc);
	liballoc_cache_stats(big, &sb);
	assert_true(sb.slab_bytes > sc.slab_bytes);
	void *o = liballoc_cache_alloc(c);
	char *b[4];
	for (int i = 0; i < 4; i++)  /* objects all over a big slab, not only in its first small-slab's worth */
		b[i] = liballoc_cache_alloc(big);
	char *blk = liballoc_heap_malloc(h, 100);
	unwatch_all();
	watch(h);
	EXPECT_HEAP_REPORT(LIBALLOC_E_WRONG_CACHE, blk, h, liballoc_cache_free(c, blk));
	EXPECT_HEAP_REPORT(LIBALLOC_E_WRONG_CACHE, o, h, liballoc_cache_free(big, o));
	for (int i = 0; i < 4; i++)
		EXPECT_HEAP_REPORT(LIBALLOC_E_WRONG_CACHE, b[i], h, liballoc_cache_free(c, b[i]));
	unwatch_all();
	liballoc_heap_free(h, blk);
	liballoc_cache_free(c, o);
	liballoc_cache_destroy(c);
	liballoc_cache_destroy(big);
	heap_sound(h, 0);
	destroy_all(h, 0);
}

/* A cache in the default heap (NULL): its slabs are the default heap's blocks,
 * counted in liballoc_stats. */
static void test_cache_in_default_heap(void **state)
{
	(void)state;
	struct liballoc_stats base = stats();
	liballoc_cache *c = liballoc_cache_create(NULL, "default", 40, 0);
	assert_non_null(c);
	void *o[300];
	for (int i = 0; i < 300; i++) {
		o[i] = liballoc_cache_alloc(c);
		assert_true(test_port_in_arena(o[i], 40));
	}
	struct liballoc_cache_stats cs;
	liballoc_cache_stats(c, &cs);
	struct liballoc_stats s = stats();
	assert_int_equal(s.live_blocks, base.live_blocks + 1 + cs.slabs);
	if (ST) {
		assert_int_equal(s.caches, base.caches + 1);
		assert_int_equal(s.cache_objects, base.cache_objects + 300);
		assert_int_equal(s.cache_slabs, base.cache_slabs + cs.slabs);
	}
	EXPECT_CLEAN_REPORT(LIBALLOC_E_DOUBLE_FREE, o[1], (liballoc_cache_free(c, o[1]), liballoc_cache_free(c, o[1])));
	liballoc_cache_destroy(c);
	s = stats();
	assert_int_equal(s.live_blocks, base.live_blocks);
	assert_int_equal(s.in_use, base.in_use);
	liballoc_trim();
}

/* A heap destroyed with caches and live objects in it: every page back. */
static void test_heap_destroy_with_caches(void **state)
{
	(void)state;
	SKIP_IF_DESTROY_IS_UNINSTRUMENTED();
	liballoc_heap *h = new_heap(2);
	for (int k = 0; k < 5; k++) {
		liballoc_cache *c = liballoc_cache_create(h, "live", 24 + (size_t)k * 100, 0);
		for (int i = 0; i < 2000; i++)
			assert_non_null(liballoc_cache_alloc(c));
	}
	struct liballoc_stats s = hstats(h);
	if (ST) {
		assert_int_equal(s.caches, 5);
		assert_int_equal(s.cache_objects, 10000);
	}
	heap_sound(h, 2);
	assert_true(ports[2].runs < 100);  /* some hundred slabs, in a few chunks */
	destroy_all(h, 2);
}

/* Each cache's counts, and their sums in the heap's stats. */
static void test_cache_stats(void **state)
{
	(void)state;
	liballoc_heap *h = new_heap(0);
	struct liballoc_stats base = hstats(h);
	liballoc_cache *a = liballoc_cache_create(h, "task_struct", 100, 16);
	liballoc_cache *b = liballoc_cache_create(h, "a name longer than thirty-one characters", 20, 0);
	struct liballoc_cache_stats sa, sb;
	liballoc_cache_stats(a, &sa);
	liballoc_cache_stats(b, &sb);
	assert_string_equal(sa.name, "task_struct");
	assert_string_equal(sb.name, "a name longer than thirty-one c");  /* 31 characters kept */
	assert_int_equal(sa.object_size, 112);
	assert_int_equal(sb.object_size, (20 + sizeof(void *) - 1) / sizeof(void *) * sizeof(void *));
	assert_int_equal(sa.objects + sa.slabs + sa.empty_slabs, 0);
	void *oa[300], *ob[300];
	for (int i = 0; i < 300; i++) {
		oa[i] = liballoc_cache_alloc(a);
		ob[i] = liballoc_cache_alloc(b);
	}
	liballoc_cache_stats(a, &sa);
	liballoc_cache_stats(b, &sb);
	assert_int_equal(sa.objects, 300);
	assert_int_equal(sb.objects, 300);
	assert_int_equal(sa.slabs, (300 + sa.per_slab - 1) / sa.per_slab);
	assert_int_equal(sb.slabs, (300 + sb.per_slab - 1) / sb.per_slab);
	struct liballoc_stats s = hstats(h);
	if (ST) {
		assert_int_equal(s.caches, 2);
		assert_int_equal(s.cache_objects, 600);
		assert_int_equal(s.cache_slabs, sa.slabs + sb.slabs);
	}
	/* the slabs and the caches' own structs are blocks of the heap */
	assert_int_equal(s.live_blocks, base.live_blocks + 2 + sa.slabs + sb.slabs);
	assert_true(s.in_use >= base.in_use + (sa.slabs + sb.slabs) * (sa.slab_bytes - 64));
	for (int i = 0; i < 300; i++)
		liballoc_cache_free(a, oa[i]);
	liballoc_cache_stats(a, &sa);
	assert_int_equal(sa.objects, 0);
	assert_int_equal(sa.empty_slabs, sa.slabs);
	if (ST)
		assert_int_equal(hstats(h).cache_objects, 300);
	liballoc_cache_destroy(a);
	liballoc_cache_destroy(b);  /* with its 300 live objects */
	s = hstats(h);
	assert_int_equal(s.live_blocks, base.live_blocks);
	assert_int_equal(s.in_use, base.in_use);
	if (ST)
		assert_int_equal(s.caches + s.cache_slabs + s.cache_objects, 0);
	(void)ob;
	heap_sound(h, 0);
	destroy_all(h, 0);
}

/* Many caches in one heap, with objects live when they are destroyed in a shuffled
 * order; a heap destroyed with caches in it. */
static void test_many_caches(void **state)
{
	(void)state;
	SKIP_IF_DESTROY_IS_UNINSTRUMENTED();
	enum { CACHES = 150 };
	static liballoc_cache *c[CACHES];
	liballoc_heap *h = new_heap(0);
	struct liballoc_stats base = hstats(h);
	uint32_t r = 12345;
	for (int i = 0; i < CACHES; i++) {
		c[i] = liballoc_cache_create(h, "many", 1 + (size_t)i * 37 % 3000, (size_t)1 << (i % 8));
		assert_non_null(c[i]);
		for (int k = 0; k < 1 + i % 40; k++) {
			unsigned char *o = liballoc_cache_alloc(c[i]);
			assert_non_null(o);
			o[0] = (unsigned char)i;
		}
	}
	struct liballoc_stats s = hstats(h);
	if (ST)
		assert_int_equal(s.caches, CACHES);
	assert_int_equal(liballoc_heap_check(h), LIBALLOC_OK);
	for (int i = CACHES - 1; i > 0; i--) {  /* Fisher-Yates */
		r = r * 1103515245u + 12345u;
		int j = (int)((r >> 8) % (uint32_t)(i + 1));
		liballoc_cache *t = c[i];
		c[i] = c[j];
		c[j] = t;
	}
	for (int i = 0; i < CACHES / 2; i++) {
		liballoc_cache_destroy(c[i]);
		if (i % 10 == 0)
			assert_int_equal(liballoc_heap_check(h), LIBALLOC_OK);
	}
	if (ST)
		assert_int_equal(hstats(h).caches, CACHES - CACHES / 2);
	heap_sound(h, 0);
	destroy_all(h, 0);  /* the other half goes with the heap */
	h = new_heap(0);
	for (int i = 0; i < CACHES; i++)
		c[i] = liballoc_cache_create(h, "again", 64, 0);
	for (int i = 0; i < CACHES; i++)
		liballoc_cache_destroy(c[i]);
	s = hstats(h);
	assert_int_equal(s.live_blocks, base.live_blocks);
	assert_int_equal(s.in_use, base.in_use);
	heap_sound(h, 0);
	destroy_all(h, 0);
}

/* A cache in a region heap, until the region is full. */
static void test_cache_in_region(void **state)
{
	(void)state;
	liballoc_heap *h = liballoc_heap_create_in(region, sizeof region);
	size_t hooks = tp.alloc_calls + tp.free_calls;
	liballoc_cache *c = liballoc_cache_create(h, "msg", 120, 64);
	assert_non_null(c);
	size_t n = 0;
	void *o;
	while ((o = liballoc_cache_alloc(c)) != NULL) {
		assert_true((unsigned char *)o >= region && (unsigned char *)o + 120 <= region + sizeof region);
		assert_int_equal((uintptr_t)o % 64, 0);
		n++;
	}
	assert_int_equal(errno, ENOMEM);
	assert_true(n * 128 >= sizeof region * 8 / 10);
	assert_int_equal(liballoc_heap_check(h), LIBALLOC_OK);
	liballoc_cache_destroy(c);
	struct liballoc_stats s = hstats(h);
	assert_int_equal(s.live_blocks, 0);
	assert_int_equal(s.in_use, 0);
	assert_int_equal(liballoc_heap_check(h), LIBALLOC_OK);
	liballoc_heap_destroy(h);
	assert_int_equal(tp.alloc_calls + tp.free_calls, hooks);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cache_alignment, setup, teardown_heaps),
		cmocka_unit_test_setup_teardown(test_cache_memory_bound, setup, teardown_heaps),
		cmocka_unit_test_setup_teardown(test_cache_hysteresis, setup, teardown_heaps),
		cmocka_unit_test_setup_teardown(test_cache_misuse, setup, teardown_heaps),
		cmocka_unit_test_setup_teardown(test_cache_misuse_not_an_object, setup, teardown_heaps),
		cmocka_unit_test_setup_teardown(test_cache_in_default_heap, setup, teardown_heaps),
		cmocka_unit_test_setup_teardown(test_heap_destroy_with_caches, setup, teardown_heaps),
		cmocka_unit_test_setup_teardown(test_cache_stats, setup, teardown_heaps),
		cmocka_unit_test_setup_teardown(test_many_caches, setup, teardown_heaps),
		cmocka_unit_test_setup_teardown(test_cache_in_region, setup, teardown_heaps),
	};
	return run_selected("caches", tests, sizeof tests / sizeof *tests, argc, argv);
}
