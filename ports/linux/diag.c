/* diag.c — the Linux port's diagnostics: the misuse report (write(2) + abort) and LIBALLOC_STATS=1 at exit. */
/* SPDX-License-Identifier: MIT */
/*
 * Nothing here may allocate: reports can come from inside free(). Numbers are
 * formatted by hand into stack buffers and written with write(2).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "liballoc.h"

struct line {
	char buf[512];
	size_t len;
};

static void put(struct line *l, const char *s)
{
	size_t n = strlen(s);
	if (n > sizeof l->buf - l->len)
		n = sizeof l->buf - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void put_num(struct line *l, uintmax_t v, unsigned base)
{
	char tmp[32];
	size_t i = sizeof tmp;
	tmp[--i] = 0;
	do
		tmp[--i] = "0123456789abcdef"[v % base];
	while ((v /= base) != 0);
	if (base == 16)
		put(l, "0x");
	put(l, tmp + i);
}

static void flush(struct line *l)
{
	(void)!write(2, l->buf, l->len);
	l->len = 0;
}

/* The default error handler: one line naming the error and the pointer, then
 * abort(), like glibc's "free(): double free detected". */
void liballoc_linux_report(int error, void *ptr)
{
	struct line l = {.len = 0};
	put(&l, "liballoc: ");
	put(&l, liballoc_strerror(error));
	put(&l, " at ");
	put_num(&l, (uintptr_t)ptr, 16);
	put(&l, " (pid ");
	put_num(&l, (uintmax_t)getpid(), 10);
	put(&l, ")\n");
	flush(&l);
	abort();
}

static void field(struct line *l, const char *name, size_t v)
{
	put(l, " ");
	put(l, name);
	put(l, "=");
	put_num(l, v, 10);
}

static void print_stats(void)
{
	struct liballoc_stats s;
	struct line l = {.len = 0};
	liballoc_stats(&s);
	put(&l, "liballoc stats pid=");
	put_num(&l, (uintmax_t)getpid(), 10);
	put(&l, "\n  bytes:");
	field(&l, "in_use", s.in_use);
	field(&l, "in_use_peak", s.in_use_peak);
	field(&l, "obtained", s.obtained);
	field(&l, "obtained_peak", s.obtained_peak);
	field(&l, "free", s.free_bytes);
	field(&l, "metadata", s.metadata);
	put(&l, "\n  blocks:");
	field(&l, "live", s.live_blocks);
	field(&l, "huge", s.huge_blocks);
	field(&l, "chunks", s.chunks);
	field(&l, "allocs", s.allocs);
	field(&l, "frees", s.frees);
	field(&l, "failed", s.failed_allocs);
	field(&l, "errors", s.errors);
	put(&l, "\n  hooks:");
	field(&l, "alloc_page", s.alloc_page_calls);
	field(&l, "alloc_page_failed", s.alloc_page_failures);
	field(&l, "free_page", s.free_page_calls);
	field(&l, "free_page_failed", s.free_page_failures);
	field(&l, "lock", s.lock_calls);
	put(&l, "\n");
	flush(&l);
}

__attribute__((constructor)) static void stats_init(void)
{
	const char *v = getenv("LIBALLOC_STATS");
	if (v && *v && strcmp(v, "0") != 0)
		atexit(print_stats);
}
