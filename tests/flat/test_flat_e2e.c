/* test_flat_e2e.c — cmocka tests of liballoc's core running on the flat port over a static array: exhaustion and recovery, huge runs, trimming, random operations, the shared self-test. */
/* SPDX-License-Identifier: MIT */
/*
 * One heap per process (the core's state is global), initialised once over an
 * arena whose start and end are deliberately not page-aligned. Every test leaves
 * the heap empty and trimmed. Built per page size (meson.build).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "flat_port.h"
#include "pattern.h"
#include "selftest.h"

#define PAGE ((size_t)LIBALLOC_PAGE_SIZE)
#define ARENA_BYTES ((size_t)4 << 20)
#define MAX_LIVE 20000

static _Alignas(4096) unsigned char arena[ARENA_BYTES];
static unsigned char *const region = arena + 24;
static const size_t region_bytes = ARENA_BYTES - 24 - 40;

#if LIBALLOC_FLAT_IRQ_HOOKS
static uint32_t primask;
uint32_t liballoc_flat_irq_save(void)
{
	uint32_t old = primask;
	primask = 1;
	return old;
}
void liballoc_flat_irq_restore(uint32_t state) { primask = state; }
#endif

static size_t errors_seen;
static void on_error(int error, void *ptr)
{
	(void)ptr;
	fprintf(stderr, "liballoc error: %s\n", liballoc_strerror(error));
	errors_seen++;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) { return pattern_next(&rng); }

static bool in_region(const void *p, size_t n)
{
	return (const unsigned char *)p >= region && (const unsigned char *)p + n <= region + region_bytes;
}

static struct liballoc_stats heap_stats(void)
{
	struct liballoc_stats s;
	liballoc_stats(&s);
	return s;
}

/* The core's and the port's books agree. */
static void assert_consistent(void)
{
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	assert_int_equal(heap_stats().obtained, liballoc_flat_pages_given() * PAGE);
	assert_int_equal(liballoc_flat_lock_depth(), 0);
#if LIBALLOC_FLAT_IRQ_HOOKS
	assert_int_equal(primask, 0);
#endif
	assert_int_equal(errors_seen, 0);
}

/* After trim, only the page map's nodes stay with the core. */
static void assert_all_returned(void)
{
	liballoc_trim();
	struct liballoc_stats s = heap_stats();
	assert_int_equal(s.live_blocks, 0);
	assert_int_equal(s.obtained, s.metadata);
	assert_int_equal(liballoc_flat_pages_given() * PAGE, s.metadata);
	assert_consistent();
}

static int group_setup(void **state)
{
	(void)state;
	liballoc_set_error_handler(on_error);
	return liballoc_flat_init(region, region_bytes);
}

/* Allocate until NULL; returns the number of live blocks. */
static size_t exhaust(struct pattern_block *b, size_t unit)
{
	size_t n = 0;
	while (n < MAX_LIVE) {
		uint64_t r = next();
		b[n].n = unit / 2 + r % unit + (n % 9 == 0 ? 20 * PAGE : 0);
		b[n].p = liballoc_malloc(b[n].n);
		if (!b[n].p)
			break;
		assert_true(in_region(b[n].p, b[n].n));
		b[n].seed = (unsigned char)r;
		pattern_block_fill(&b[n]);
		n++;
	}
	assert_true(n < MAX_LIVE);
	return n;
}

static void test_exhaustion_and_recovery(void **state)
{
	(void)state;
	static struct pattern_block b[MAX_LIVE];
	struct liballoc_flat_stats fs;
	size_t failed = heap_stats().failed_allocs, unit = 3 * PAGE / 2;
	size_t first = exhaust(b, unit);
	liballoc_flat_stats(&fs);
	assert_true(heap_stats().failed_allocs == failed + 1);
	/* The heap used most of the region before failing: with LIBALLOC_CHUNK_MAX
	 * capped (meson.build), at most about one chunk's worth of pages is left. */
	assert_true(fs.given_pages * 100 >= fs.pages * 85);
	assert_true(heap_stats().in_use * 10 >= fs.pages * PAGE * 7);
	assert_consistent();
	for (size_t i = 0; i < first; i++) {
		assert_true(pattern_block_intact(&b[i], b[i].n));
		liballoc_free(b[i].p);
	}
	assert_all_returned();
	size_t second = exhaust(b, unit);
	assert_true(second * 10 >= first * 9);
	for (size_t i = 0; i < second; i++) {
		assert_true(pattern_block_intact(&b[i], b[i].n));
		liballoc_free(b[i].p);
	}
	assert_all_returned();
	liballoc_flat_stats(&fs);
	assert_int_equal(fs.free_rejects, 0);  /* the core never freed a page it did not hold */
}

/* Huge blocks go straight to the port and back; the freed run is reused. */
static void test_huge_runs_reused(void **state)
{
	(void)state;
	size_t base = liballoc_flat_pages_given(), big = 2 * LIBALLOC_HUGE_THRESHOLD;
	unsigned char *a = liballoc_malloc(big);
	assert_non_null(a);
	assert_true(in_region(a, big));
	assert_true(liballoc_flat_pages_given() >= base + big / PAGE);
	memset(a, 0x11, big);
	liballoc_free(a);
	assert_int_equal(liballoc_flat_pages_given(), base);
	/* The same pages again, the header at another offset (the stale-header case). */
	unsigned char *b = liballoc_memalign(64, big);
	assert_non_null(b);
	assert_true(b - a < (ptrdiff_t)PAGE && a - b < (ptrdiff_t)PAGE);
	assert_consistent();
	liballoc_free(b);
	assert_int_equal(liballoc_flat_pages_given(), base);
	assert_all_returned();
}

/* The core hands back sub-ranges of runs: the head and tail of an over-aligned
 * huge block, the tail of a shrinking one. */
static void test_sub_range_returns(void **state)
{
	(void)state;
	struct liballoc_flat_stats before, after;
	size_t big = 2 * LIBALLOC_HUGE_THRESHOLD, align = 16 * PAGE;
	liballoc_flat_stats(&before);
	void *p = NULL;
	assert_int_equal(liballoc_posix_memalign(&p, align, big), 0);
	assert_int_equal((uintptr_t)p % align, 0);
	liballoc_flat_stats(&after);
	assert_true(after.free_calls > before.free_calls);  /* head/tail trimmed while p lives */
	assert_true(after.given_pages * PAGE <= before.given_pages * PAGE + big + 2 * PAGE);
	assert_consistent();
	memset(p, 0x22, big);
	/* Shrinking a huge block returns its tail. */
	unsigned char *q = liballoc_realloc(p, big / 2 + LIBALLOC_HUGE_THRESHOLD / 4);
	assert_ptr_equal(q, p);
	struct liballoc_flat_stats shrunk;
	liballoc_flat_stats(&shrunk);
	assert_true(shrunk.given_pages < after.given_pages);
	assert_consistent();
	liballoc_free(q);
	liballoc_flat_stats(&after);
	assert_int_equal(after.free_rejects, before.free_rejects);
	assert_all_returned();
}

/* Random malloc/calloc/realloc/memalign/free against pattern checks, with
 * liballoc_check and the port's books compared after every operation. */
static void test_random_operations(void **state)
{
	(void)state;
	static struct pattern_block slot[128];
	size_t allocs = heap_stats().allocs, failed = heap_stats().failed_allocs;
	for (unsigned op = 0; op < 4000; op++) {
		uint64_t r = next();
		struct pattern_block *s = &slot[r % 128];
		size_t n = (r >> 8) % 10 == 0 ? (r >> 16) % (3 * LIBALLOC_HUGE_THRESHOLD) : (r >> 16) % 2000;
		if (s->p && (r >> 7) % 3 == 0) {
			assert_true(pattern_block_intact(s, s->n));
			liballoc_free(s->p);
			s->p = NULL;
		} else if (s->p) {
			unsigned char *q = liballoc_realloc(s->p, n + 1);
			if (q) {
				s->p = q;
				assert_true(pattern_block_intact(s, n + 1 < s->n ? n + 1 : s->n));
				s->n = n + 1;
				pattern_block_fill(s);
			}
		} else {
			size_t align = (size_t)16 << ((r >> 4) % 12);
			s->p = (r >> 6) % 3 == 0 ? liballoc_memalign(align, n)
			       : (r >> 6) % 3 == 1 ? liballoc_calloc(1, n) : liballoc_malloc(n);
			if (s->p) {
				assert_true(in_region(s->p, n));
				if ((r >> 6) % 3 == 0)
					assert_int_equal((uintptr_t)s->p % align, 0);
				if ((r >> 6) % 3 == 1)
					for (size_t i = 0; i < n; i++)
						assert_int_equal(s->p[i], 0);
				s->n = n;
				s->seed = (unsigned char)r;
				pattern_block_fill(s);
			}
		}
		assert_consistent();
	}
	/* The mix really allocated (with 4 KiB pages it also runs out of memory at times). */
	fprintf(stderr, "random operations: %zu allocations, %zu failed\n", heap_stats().allocs - allocs,
		heap_stats().failed_allocs - failed);
	assert_true(heap_stats().allocs - allocs > 1500);
	for (unsigned i = 0; i < 128; i++)
		if (slot[i].p) {
			assert_true(pattern_block_intact(&slot[i], slot[i].n));
			liballoc_free(slot[i].p);
			slot[i].p = NULL;
		}
	assert_all_returned();
}

static char console[4096];
static size_t console_len;
static void write_console(const char *s)
{
	size_t n = strlen(s);
	if (n > sizeof console - 1 - console_len)
		n = sizeof console - 1 - console_len;
	memcpy(console + console_len, s, n);
	console_len += n;
	console[console_len] = 0;
}

/* The self-test the QEMU examples run, on the host. */
static void test_shared_selftest(void **state)
{
	(void)state;
	struct liballoc_flat_stats fs;
	liballoc_flat_stats(&fs);
	struct selftest_env env = {
		.write = write_console,
		.heap_bytes = fs.pages * PAGE,
		.port_pages = liballoc_flat_pages_given,
		.touch_faults = NULL,
		.seed = 12345,
		.ops = 3000,
	};
	bool ok = selftest_run(&env);
	if (!ok)
		fputs(console, stderr);
	assert_true(ok);
	assert_non_null(strstr(console, "liballoc-selftest: PASS "));
	assert_all_returned();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exhaustion_and_recovery),
		cmocka_unit_test(test_huge_runs_reused),
		cmocka_unit_test(test_sub_range_returns),
		cmocka_unit_test(test_random_operations),
		cmocka_unit_test(test_shared_selftest),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
