/* glibc.c — what glibc programs call beyond the malloc family: the __libc_* names, cfree, malloc_trim, mallopt and the introspection (mallinfo2, mallinfo, malloc_stats, malloc_info). */
/* SPDX-License-Identifier: MIT */
/*
 * Under LD_PRELOAD every one of these must be liballoc's: glibc's own would
 * answer about glibc's heap, which holds nothing (mallinfo2 all zeros). The
 * introspection is filled from liballoc_stats() (one lock acquisition, no page
 * hook, no allocation); its text is formatted by hand into a stack buffer, then
 * written with fwrite (malloc_info, malloc_stats), which may allocate a stdio
 * buffer — harmless, since no allocator lock is held by then.
 *
 * How glibc's fields map to liballoc's counters (struct liballoc_stats):
 *   arena    obtained: every byte liballoc holds from the system. It is all
 *            mmap'd (chunks, huge runs, page map), but not counted apart, so
 *            hblkhd is 0 and arena + hblkhd is the total, as in glibc.
 *   ordblks  0: liballoc does not count its free blocks.
 *   smblks   cached: free blocks held in thread caches and transfer stacks
 *            (glibc counts its fastbin blocks here).
 *   hblks    huge_blocks: live blocks served by their own page run (glibc's
 *            mmap'd chunks).
 *   hblkhd   0 (see arena).
 *   usmblks  0, as in glibc (unused).
 *   fsmblks  0: the bytes of cached blocks are not counted.
 *   uordblks in_use: bytes requested by live allocations.
 *   fordblks free_bytes: bytes in free blocks inside chunks.
 *   keepcost 0: liballoc does not count its kept empty chunks apart.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "liballoc.h"

#define EXPORT __attribute__((visibility("default")))

/* glibc-internal callers and some programs use these names; they must reach the
 * same heap as malloc, or a block would be freed by the wrong allocator. */
EXPORT void *__libc_malloc(size_t n) { return malloc(n); }
EXPORT void __libc_free(void *p) { free(p); }
EXPORT void *__libc_calloc(size_t n, size_t m) { return calloc(n, m); }
EXPORT void *__libc_realloc(void *p, size_t n) { return realloc(p, n); }
EXPORT void *__libc_memalign(size_t a, size_t n) { return memalign(a, n); }
EXPORT void *__libc_valloc(size_t n) { return valloc(n); }
EXPORT void *__libc_pvalloc(size_t n) { return pvalloc(n); }
EXPORT void cfree(void *p) { free(p); }

/* glibc's malloc_trim(pad): give memory back; returns 1 if any was released.
 * liballoc returns every empty chunk (liballoc_trim), whatever pad asks to keep. */
EXPORT int malloc_trim(size_t pad)
{
	(void)pad;
	return liballoc_trim() > 0;
}

/*
 * mallopt(param, value): 1 if liballoc honours the setting, 0 if not (glibc's
 * convention for an unknown parameter); never changes anything it cannot honour.
 *   M_ARENA_MAX, M_ARENA_TEST with value > 0: honoured — liballoc has one heap,
 *     so any limit on the number of arenas holds.
 *   Everything else — M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX,
 *   M_MXFAST, M_PERTURB, M_CHECK_ACTION — 0: liballoc has no run-time setting for
 *     them (its huge-block threshold, trimming and poisoning are fixed when it is
 *     built: LIBALLOC_HUGE_THRESHOLD, LIBALLOC_KEEP_EMPTY, LIBALLOC_HARDENED).
 * O(1), no lock, thread-safe, calls no hook.
 */
EXPORT int mallopt(int param, int value)
{
	switch (param) {
	case M_ARENA_MAX:
	case M_ARENA_TEST:
		return value > 0;
	default:
		return 0;
	}
}

EXPORT int __libc_mallopt(int param, int value) { return mallopt(param, value); }

/* glibc's fields from liballoc's counters (see the table at the top). O(threads):
 * one liballoc_stats call. Thread-safe; no allocation. */
EXPORT struct mallinfo2 mallinfo2(void)
{
	struct liballoc_stats s;
	liballoc_stats(&s);
	struct mallinfo2 m;
	memset(&m, 0, sizeof m);
	m.arena = s.obtained;
	m.smblks = s.cached;
	m.hblks = s.huge_blocks;
	m.uordblks = s.in_use;
	m.fordblks = s.free_bytes;
	return m;
}

static int clamp(size_t v)
{
	return v > INT_MAX ? INT_MAX : (int)v;
}

/* The obsolete int version: mallinfo2's values, each clamped to INT_MAX (glibc
 * lets them wrap). */
EXPORT struct mallinfo mallinfo(void)
{
	struct mallinfo2 m2 = mallinfo2();
	struct mallinfo m;
	memset(&m, 0, sizeof m);
	m.arena = clamp(m2.arena);
	m.ordblks = clamp(m2.ordblks);
	m.smblks = clamp(m2.smblks);
	m.hblks = clamp(m2.hblks);
	m.hblkhd = clamp(m2.hblkhd);
	m.usmblks = clamp(m2.usmblks);
	m.fsmblks = clamp(m2.fsmblks);
	m.uordblks = clamp(m2.uordblks);
	m.fordblks = clamp(m2.fordblks);
	m.keepcost = clamp(m2.keepcost);
	return m;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  /* <malloc.h> marks mallinfo deprecated */
EXPORT struct mallinfo __libc_mallinfo(void) { return mallinfo(); }
#pragma GCC diagnostic pop

/* ---- text in a stack buffer (no allocation, no printf) --------------------- */
struct text {
	char buf[2048];
	size_t len;
};

static void add(struct text *t, const char *s)
{
	size_t n = strlen(s);
	if (n > sizeof t->buf - t->len)
		n = sizeof t->buf - t->len;
	memcpy(t->buf + t->len, s, n);
	t->len += n;
}

/* v in decimal, right-aligned in `width` columns (0: as is). */
static void add_num(struct text *t, size_t v, int width)
{
	char tmp[24];
	int i = (int)sizeof tmp;
	tmp[--i] = 0;
	do
		tmp[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while ((int)sizeof tmp - 1 - i < width && i > 0)
		tmp[--i] = ' ';
	add(t, tmp + i);
}

static void add_attr(struct text *t, const char *name, size_t v)
{
	add(t, " ");
	add(t, name);
	add(t, "=\"");
	add_num(t, v, 0);
	add(t, "\"");
}

static int put(const struct text *t, FILE *fp)
{
	return fwrite(t->buf, 1, t->len, fp) == t->len ? 0 : -1;
}

/*
 * malloc_stats(): the counters on stderr, in glibc's layout for the lines glibc
 * has (one arena; all of liballoc's memory is mmap'd, so "max mmap bytes" is the
 * peak of bytes obtained), then liballoc's own. Not a cancellation point (as
 * glibc): cancellation is held off while it writes. O(threads).
 */
EXPORT void malloc_stats(void)
{
	struct liballoc_stats s;
	liballoc_stats(&s);
	struct text t = {.len = 0};
	const struct {
		const char *label;
		size_t value;
	} lines[] = {
		{"Arena 0:\nsystem bytes     = ", s.obtained},
		{"in use bytes     = ", s.in_use},
		{"Total (incl. mmap):\nsystem bytes     = ", s.obtained},
		{"in use bytes     = ", s.in_use},
		{"max mmap bytes   = ", s.obtained_peak},
		{"max in use bytes = ", s.in_use_peak},
		{"live blocks      = ", s.live_blocks},
		{"huge blocks      = ", s.huge_blocks},
		{"free bytes       = ", s.free_bytes},
		{"cached blocks    = ", s.cached},
		{"chunks           = ", s.chunks},
		{"errors           = ", s.errors},
	};
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		add(&t, lines[i].label);
		add_num(&t, lines[i].value, 10);
		add(&t, "\n");
	}
	int old;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	put(&t, stderr);
	fflush(stderr);
	pthread_setcancelstate(old, NULL);
}

/*
 * malloc_info(options, fp): glibc's XML frame for one heap, with the numbers
 * liballoc has, and a <liballoc .../> element carrying every counter of
 * liballoc_stats(). options must be 0 and fp not NULL, else EINVAL is returned
 * (and errno set). Returns 0, or -1 if writing failed (errno from stdio).
 * O(threads). Thread-safe as far as fp is.
 */
EXPORT int malloc_info(int options, FILE *fp)
{
	if (options != 0 || fp == NULL) {
		errno = EINVAL;
		return EINVAL;
	}
	struct liballoc_stats s;
	liballoc_stats(&s);
	struct text t = {.len = 0};
	for (int pass = 0; pass < 2; pass++) {  /* inside <heap nr="0">, then the totals */
		if (pass == 0)
			add(&t, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n</sizes>\n");
		add(&t, "<system type=\"current\" size=\"");
		add_num(&t, s.obtained, 0);
		add(&t, "\"/>\n<system type=\"max\" size=\"");
		add_num(&t, s.obtained_peak, 0);
		add(&t, "\"/>\n<aspace type=\"total\" size=\"");
		add_num(&t, s.obtained, 0);
		add(&t, "\"/>\n<aspace type=\"mprotect\" size=\"");
		add_num(&t, s.obtained, 0);
		add(&t, "\"/>\n");
		if (pass == 0)
			add(&t, "</heap>\n");
	}
	add(&t, "<liballoc");
	add_attr(&t, "in_use", s.in_use);
	add_attr(&t, "in_use_peak", s.in_use_peak);
	add_attr(&t, "obtained", s.obtained);
	add_attr(&t, "obtained_peak", s.obtained_peak);
	add_attr(&t, "live_blocks", s.live_blocks);
	add_attr(&t, "huge_blocks", s.huge_blocks);
	add_attr(&t, "free_bytes", s.free_bytes);
	add_attr(&t, "chunks", s.chunks);
	add_attr(&t, "metadata", s.metadata);
	add_attr(&t, "cached", s.cached);
	add_attr(&t, "allocs", s.allocs);
	add_attr(&t, "frees", s.frees);
	add_attr(&t, "failed_allocs", s.failed_allocs);
	add_attr(&t, "errors", s.errors);
	add_attr(&t, "alloc_page_calls", s.alloc_page_calls);
	add_attr(&t, "alloc_page_failures", s.alloc_page_failures);
	add_attr(&t, "free_page_calls", s.free_page_calls);
	add_attr(&t, "free_page_failures", s.free_page_failures);
	add_attr(&t, "lock_calls", s.lock_calls);
	add_attr(&t, "lock_failures", s.lock_failures);
	add(&t, "/>\n</malloc>\n");
	return put(&t, fp);
}
