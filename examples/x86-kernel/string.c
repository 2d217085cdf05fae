/* string.c — memcpy, memset, memmove, memcmp for the x86 example kernel (the core and GCC need them). */
/* SPDX-License-Identifier: MIT */
#include <stddef.h>

/* String instructions rather than C loops: GCC would turn a C copy loop back
 * into a call to memcpy itself. */
void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	void *d = dst;
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	void *d = dst;
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	if ((const char *)dst <= (const char *)src || (const char *)dst >= (const char *)src + n)
		return memcpy(dst, src, n);
	/* Overlap with dst above src: copy backwards (DF=1), then restore DF=0. */
	char *d = (char *)dst + n - 1;
	const char *s = (const char *)src + n - 1;
	__asm__ volatile("std; rep movsb; cld" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}
