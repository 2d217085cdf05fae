/* heaps.c — heap instances and an object cache on liballoc.a: heaps over the program's own hooks and in a fixed region, isolated, destroyed whole. */
/* SPDX-License-Identifier: MIT */
/*
 * Uses nothing but liballoc's API (liballoc_linux.h, which includes liballoc.h)
 * and the Linux port's static library. It
 *   1. makes a heap over hooks of its own (pages from mmap, counted, a mutex);
 *   2. makes a heap inside a fixed 1 MiB region and fills it with 1000-byte blocks;
 *   3. gives each heap's blocks to the others: every such call is reported (the
 *      handler below counts instead of aborting) and changes nothing;
 *   4. keeps 100 000 objects of 48 bytes in an object cache, in a heap of their own;
 *   5. destroys the heaps with blocks still live: every page goes back.
 * It prints what it sees, checks each promise, and ends with "heaps: PASS" (exit 0)
 * or "heaps: FAIL" (exit 1). The linux suite runs it (tests/linux/meson.build).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "liballoc_linux.h"

#define PAGE ((size_t)LIBALLOC_PAGE_SIZE)
#define MiB ((size_t)1 << 20)

static int failures;

static void expect(int ok, const char *what)
{
	printf("  %s %s\n", ok ? "ok  " : "FAIL", what);
	failures += !ok;
}

/* ---- hooks of our own: pages from mmap, counted, and a mutex ---------------- */

struct counting_port {
	pthread_mutex_t mu;
	size_t pages_out, alloc_calls, free_calls;
};

static void *cp_alloc(void *ctx, size_t pages)
{
	struct counting_port *cp = ctx;
	void *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cp->alloc_calls++;
	if (p == MAP_FAILED)
		return NULL;
	cp->pages_out += pages;
	return p;
}

static int cp_free(void *ctx, void *addr, size_t pages)
{
	struct counting_port *cp = ctx;
	cp->free_calls++;
	if (munmap(addr, pages * PAGE) != 0)
		return -1;
	cp->pages_out -= pages;
	return 0;
}

static int cp_lock(void *ctx) { return pthread_mutex_lock(&((struct counting_port *)ctx)->mu); }
static int cp_unlock(void *ctx) { return pthread_mutex_unlock(&((struct counting_port *)ctx)->mu); }

static struct liballoc_port port_of(struct counting_port *cp)
{
	struct liballoc_port p = {cp, cp_alloc, cp_free, cp_lock, cp_unlock};
	return p;
}

/* ---- misuse reports: counted, not fatal ---------------------------------------- */

static size_t reports;
static int last_error;

static void on_error(int error, void *ptr)
{
	reports++;
	last_error = error;
	printf("  reported: %s at %p\n", liballoc_strerror(error), ptr);
}

static struct liballoc_stats heap_stats(liballoc_heap *h)
{
	struct liballoc_stats s;
	liballoc_heap_stats(h, &s);
	return s;
}

/* Give block p of one heap to `other` (NULL: the default heap, i.e. free()). */
static void misuse(liballoc_heap *other, void *p, liballoc_heap *h1, liballoc_heap *h2)
{
	struct liballoc_stats a1 = heap_stats(h1), a2 = heap_stats(h2);
	size_t before = reports;
	if (other)
		liballoc_heap_free(other, p);
	else
		free(p);
	struct liballoc_stats b1 = heap_stats(h1), b2 = heap_stats(h2);
	expect(reports == before + 1 && last_error == LIBALLOC_E_FOREIGN_POINTER, "reported as a foreign pointer");
	expect(a1.live_blocks == b1.live_blocks && a1.in_use == b1.in_use && a2.live_blocks == b2.live_blocks &&
		       a2.in_use == b2.in_use && liballoc_heap_check(h1) == LIBALLOC_OK &&
		       liballoc_heap_check(h2) == LIBALLOC_OK,
	       "both heaps unchanged and consistent");
}

int main(void)
{
	static unsigned char region[MiB];
	static void *blocks[1100];
	liballoc_set_error_handler(on_error);

	printf("1. a heap over our own hooks (mmap, counted)\n");
	struct counting_port pp = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0};
	struct liballoc_port port = port_of(&pp);
	liballoc_heap *proc = liballoc_heap_create(&port);
	expect(proc != NULL, "liballoc_heap_create");
	if (!proc)
		return 1;
	for (int i = 0; i < 10000; i++)
		liballoc_heap_malloc(proc, 16 + (size_t)(i * 37) % 2000);  /* left live: destroy takes them */
	void *big = liballoc_heap_malloc(proc, 8 * MiB);
	struct liballoc_stats s = heap_stats(proc);
	printf("  %zu live blocks, %zu bytes in use, %zu pages from %zu alloc_page calls\n", s.live_blocks, s.in_use,
	       pp.pages_out, pp.alloc_calls);
	expect(big != NULL && s.obtained == pp.pages_out * PAGE, "the heap holds exactly the pages our hooks gave it");

	printf("2. a heap in a fixed region of 1 MiB\n");
	liballoc_heap *msg = liballoc_heap_create_in(region, sizeof region);
	expect(msg != NULL, "liballoc_heap_create_in");
	if (!msg)
		return 1;
	size_t n = 0;
	while (n < 1100 && (blocks[n] = liballoc_heap_malloc(msg, 1000)) != NULL)
		n++;
	printf("  %zu blocks of 1000 bytes until NULL: %.1f%% of the region\n", n, 100.0 * (double)(n * 1000) / MiB);
	expect(n * 1000 >= MiB * 9 / 10, "at least 90% of the region used");
	for (size_t i = 0; i < n; i++)
		liballoc_heap_free(msg, blocks[i]);
	void *most = liballoc_heap_malloc(msg, MiB * 6 / 10);
	expect(most != NULL, "after freeing all, one block of 60% of the region fits");

	printf("3. isolation: blocks given to the wrong heap\n");
	void *a = liballoc_heap_malloc(proc, 100), *m = liballoc_heap_malloc(msg, 100);
	misuse(msg, a, proc, msg);
	misuse(proc, m, proc, msg);
	misuse(NULL, a, proc, msg);  /* free() is the default heap's */
	liballoc_heap_free(proc, a);
	liballoc_heap_free(msg, m);
	expect(liballoc_check() == LIBALLOC_OK, "the default heap is consistent too");

	printf("4. an object cache: 100 000 objects of 48 bytes\n");
	struct counting_port cp = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0};
	struct liballoc_port cport = port_of(&cp);
	liballoc_heap *objs = liballoc_heap_create(&cport);
	expect(objs != NULL, "a heap for the objects");
	if (!objs)
		return 1;
	size_t base = cp.pages_out;
	liballoc_cache *cache = liballoc_cache_create(objs, "obj48", 48, 0);
	int all = cache != NULL;
	for (int i = 0; all && i < 100000; i++) {
		unsigned *o = liballoc_cache_alloc(cache);
		all = o != NULL;
		if (o)
			*o = (unsigned)i;
	}
	expect(all, "100 000 objects allocated");
	struct liballoc_cache_stats cs = {0};
	if (cache)
		liballoc_cache_stats(cache, &cs);
	size_t bound = 100000 * 48 * 115 / 100, pages = (cp.pages_out - base) * PAGE;
	printf("  %zu slabs of %zu bytes (%zu objects each): %zu bytes of slabs; %zu bytes of pages from the hooks "
	       "(bound 1.15 x 4.8 MB = %zu)\n",
	       cs.slabs, cs.slab_bytes, cs.per_slab, cs.slabs * cs.slab_bytes, pages, bound);
	expect(cs.objects == 100000 && liballoc_heap_check(objs) == LIBALLOC_OK, "the cache and its heap are consistent");
	expect(pages <= bound, "the pages for them stay within 1.15 x 4.8 MB (no per-object header)");

	printf("5. destroy, with blocks still live\n");
	size_t calls = pp.free_calls, live = heap_stats(proc).live_blocks;
	liballoc_heap_destroy(proc);
	printf("  process heap: %zu free_page calls for %zu live blocks, %zu pages left out\n", pp.free_calls - calls,
	       live, pp.pages_out);
	expect(pp.pages_out == 0, "every page of the heap over our hooks is back");
	liballoc_heap_destroy(objs);  /* with the cache and its 100 000 objects */
	expect(cp.pages_out == 0, "every page of the object heap is back");
	liballoc_heap_destroy(msg);   /* the region is ours again */
	memset(region, 0, sizeof region);
	expect(reports == 3, "three misuses, three reports, nothing else");

	printf("heaps: %s\n", failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
