/* test_glibc_api.c — cmocka: glibc's malloc introspection and control answered by liballoc: mallinfo2, mallinfo, malloc_stats, malloc_info, mallopt, malloc_trim. */
/* SPDX-License-Identifier: MIT */
/*
 * Linked with liballoc.a, so these names are liballoc's (as under LD_PRELOAD;
 * tests/glibc-malloc runs glibc's own tests of them against liballoc.so). Each
 * answer is compared with liballoc_stats() taken just before, with nothing
 * allocated in between; the introspection calls themselves must allocate
 * nothing (liballoc_stats().allocs unchanged).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "liballoc_linux.h"

static void *volatile sink;

static struct liballoc_stats stats(void)
{
	struct liballoc_stats s;
	liballoc_stats(&s);
	return s;
}

static void test_mallinfo2_matches_stats(void **state)
{
	(void)state;
	struct liballoc_stats s = stats();
	struct mallinfo2 m = mallinfo2();
	struct liballoc_stats after = stats();
	assert_int_equal(after.allocs, s.allocs);  /* mallinfo2 allocated nothing */
	assert_int_equal(m.uordblks, s.in_use);
	assert_int_equal(m.arena, s.obtained);
	assert_int_equal(m.fordblks, s.free_bytes);
	assert_int_equal(m.hblks, s.huge_blocks);
	assert_int_equal(m.smblks, s.cached);
	assert_int_equal(m.usmblks, 0);

	/* live bytes, exactly: every requested byte, in chunks and in huge runs */
	size_t sizes[] = {1, 24, 160, 3000, 5000, 100000, 1 << 20, 3 << 20};
	void *p[8];
	size_t total = 0;
	for (int i = 0; i < 8; i++) {
		p[i] = malloc(sizes[i]);
		assert_non_null(p[i]);
		memset(p[i], 1, sizes[i]);
		total += sizes[i];
	}
	struct mallinfo2 m2 = mallinfo2();
	assert_int_equal(m2.uordblks, m.uordblks + total);
	assert_int_equal(m2.uordblks, stats().in_use);
	struct liballoc_stats s2 = stats();
	assert_int_equal(m2.hblks, s2.huge_blocks);  /* the big blocks' own runs, however many */
	assert_int_equal(m2.arena, s2.obtained);
	assert_true(m2.arena >= m2.uordblks + m2.fordblks);
	for (int i = 0; i < 8; i++)
		free(p[i]);
	assert_int_equal(mallinfo2().uordblks, m.uordblks);
}

static void test_mallinfo_is_mallinfo2_clamped(void **state)
{
	(void)state;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	struct mallinfo2 m2 = mallinfo2();
	struct mallinfo m = mallinfo();
#pragma GCC diagnostic pop
	assert_int_equal(m.uordblks, m2.uordblks > INT_MAX ? INT_MAX : (int)m2.uordblks);
	assert_int_equal(m.arena, m2.arena > INT_MAX ? INT_MAX : (int)m2.arena);
	assert_int_equal(m.fordblks, m2.fordblks > INT_MAX ? INT_MAX : (int)m2.fordblks);
	assert_int_equal(m.hblks, (int)m2.hblks);
	assert_int_equal(m.smblks, (int)m2.smblks);
}

/* The decimal after `key` in text, or -1. */
static long long number_after(const char *text, const char *key)
{
	const char *at = strstr(text, key);
	if (!at)
		return -1;
	at += strlen(key);
	while (*at == ' ' || *at == '=' || *at == '"')
		at++;
	return strtoll(at, NULL, 10);
}

static void test_malloc_info_xml(void **state)
{
	(void)state;
	static char out[8192], iobuf[8192];
	FILE *fp = fmemopen(out, sizeof out, "w");
	assert_non_null(fp);
	setvbuf(fp, iobuf, _IOFBF, sizeof iobuf);  /* stdio allocates no buffer either */
	void *keep = malloc(12345);
	assert_non_null(keep);
	struct liballoc_stats s = stats();
	assert_int_equal(malloc_info(0, fp), 0);
	assert_int_equal(stats().allocs, s.allocs);
	fclose(fp);
	assert_non_null(strstr(out, "<malloc version=\"1\">\n<heap nr=\"0\">"));
	assert_non_null(strstr(out, "</heap>"));
	assert_non_null(strstr(out, "</malloc>\n"));
	assert_int_equal(number_after(out, "<system type=\"current\" size="), (long long)s.obtained);
	assert_int_equal(number_after(out, "<system type=\"max\" size="), (long long)s.obtained_peak);
	assert_int_equal(number_after(out, " in_use="), (long long)s.in_use);
	assert_int_equal(number_after(out, " live_blocks="), (long long)s.live_blocks);
	assert_int_equal(number_after(out, " allocs="), (long long)s.allocs);
	for (const char *line = out; *line; line = strchr(line, '\n') + 1) {  /* every line one element */
		assert_int_equal(line[0], '<');
		const char *end = strchr(line, '\n');
		assert_non_null(end);
		assert_int_equal(end[-1], '>');
	}
	free(keep);

	errno = 0;
	assert_int_equal(malloc_info(1, stdout), EINVAL);  /* glibc: options must be 0 */
	assert_int_equal(errno, EINVAL);
	assert_int_equal(malloc_info(0, NULL), EINVAL);
}

static void test_malloc_stats_on_stderr(void **state)
{
	(void)state;
	char path[] = "/tmp/liballoc-malloc-stats-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(2);
	dup2(fd, 2);
	struct liballoc_stats s = stats();
	malloc_stats();
	struct liballoc_stats after = stats();
	dup2(saved, 2);
	close(saved);
	assert_int_equal(after.allocs, s.allocs);
	char out[4096] = {0};
	assert_true(pread(fd, out, sizeof out - 1, 0) > 0);
	close(fd);
	assert_memory_equal(out, "Arena 0:\nsystem bytes     = ", 28);
	assert_int_equal(number_after(out, "system bytes"), (long long)s.obtained);
	assert_int_equal(number_after(out, "in use bytes"), (long long)s.in_use);
	assert_int_equal(number_after(out, "max mmap bytes"), (long long)s.obtained_peak);
	assert_int_equal(number_after(out, "live blocks"), (long long)s.live_blocks);
	assert_non_null(strstr(out, "Total (incl. mmap):\n"));
}

static void test_mallopt(void **state)
{
	(void)state;
	assert_int_equal(mallopt(M_ARENA_MAX, 1), 1);  /* one heap: the limit holds */
	assert_int_equal(mallopt(M_ARENA_MAX, 400), 1);
	assert_int_equal(mallopt(M_ARENA_TEST, 8), 1);
	assert_int_equal(mallopt(M_ARENA_MAX, 0), 0);
	assert_int_equal(mallopt(M_ARENA_MAX, -1), 0);
	/* no run-time knob behind these: refused, nothing changed */
	assert_int_equal(mallopt(M_MMAP_THRESHOLD, 64 * 1024), 0);
	assert_int_equal(mallopt(M_TRIM_THRESHOLD, -1), 0);
	assert_int_equal(mallopt(M_TOP_PAD, 64 * 1024), 0);
	assert_int_equal(mallopt(M_MMAP_MAX, 0), 0);
	assert_int_equal(mallopt(M_MXFAST, 0), 0);
	assert_int_equal(mallopt(M_PERTURB, 0xa5), 0);
	assert_int_equal(mallopt(M_CHECK_ACTION, 3), 0);
	assert_int_equal(mallopt(12345, 1), 0);
	void *p = malloc(100);  /* M_PERTURB refused: fresh memory is not filled with it */
	assert_non_null(p);
	sink = p;
	free(p);
}

static void test_malloc_trim(void **state)
{
	(void)state;
	enum { N = 2000 };
	static void *p[N];
	for (int i = 0; i < N; i++) {
		p[i] = malloc(5000 + (size_t)i % 7 * 1000);  /* many chunks of ordinary blocks */
		assert_non_null(p[i]);
	}
	for (int i = 0; i < N; i++)
		free(p[i]);
	size_t before = stats().obtained;
	assert_int_equal(malloc_trim(0), 1);
	size_t after = stats().obtained;
	assert_true(after < before);
	assert_int_equal(mallinfo2().arena, after);
	assert_int_equal(malloc_trim(0), 0);  /* nothing left to give back */
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mallinfo2_matches_stats),
		cmocka_unit_test(test_mallinfo_is_mallinfo2_clamped),
		cmocka_unit_test(test_malloc_info_xml),
		cmocka_unit_test(test_malloc_stats_on_stderr),
		cmocka_unit_test(test_mallopt),
		cmocka_unit_test(test_malloc_trim),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
