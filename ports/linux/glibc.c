/* glibc.c — what glibc programs need beyond the malloc family: __libc_* names, errno, entropy. */
/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/auxv.h>

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

void liballoc_linux_set_errno(int e)
{
	errno = e;
}

/* 8 of the 16 random bytes the kernel gives every process (AT_RANDOM): no system
 * call, no allocation, available before any constructor runs. */
uint64_t liballoc_linux_entropy(void)
{
	uint64_t seed = 0;
	const void *r = (const void *)getauxval(AT_RANDOM);
	if (r)
		memcpy(&seed, (const char *)r + 8, sizeof seed);  /* bytes 0-7 are glibc's stack guard */
	return seed;
}
