/* glibc.c — what glibc programs call beyond the malloc family: the __libc_* names, cfree, malloc_trim. */
/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
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

/* glibc's malloc_trim(pad): give memory back; returns 1 if any was released. */
EXPORT int malloc_trim(size_t pad)
{
	(void)pad;
	return liballoc_trim() > 0;
}
