/* misuse_prog.c — commits one heap misuse through plain malloc/free, for running under LD_PRELOAD=liballoc*.so. */
/* SPDX-License-Identifier: MIT */
/*
 * usage: misuse_prog MODE
 * Prints the pointer it is about to misuse ("%p\n" on stdout, with write(2) so
 * stdio allocates nothing in between), then misuses it. Under liballoc the report
 * names that pointer and the process dies of SIGABRT; "clean" exits 0.
 *
 * The seven misuses of issue 16, each reported by both builds of liballoc.so (the
 * stale double free by the default build only while requesters are recorded):
 *   overflow16     a write of 16 bytes past the end of a small block (into the next
 *                  block's header), then free and malloc of the same size
 *   stale-double-free  p = malloc(1 MiB); free(p); q = malloc(1 MiB); free(p)
 *   double-free    free(p); free(p)
 *   interior       free(p + 16)
 *   stack          free(&local)
 *   static         free(&static_object)
 *   realloc-freed  free(p); realloc(p, 80)
 * and two more only the hardened build sees:
 *   overflow       one byte past the 40 requested (the canary)
 *   uaf            a write into a freed block, then its reuse (the poison)
 * and one only a heap check finds (LIBALLOC_CHECK=1 at exit):
 *   scribble       overflow16's write, then exit without freeing anything
 * The allocations are made in functions of their own (alloc_small, alloc_big), so a
 * report that names the requester can be checked for that name.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Keep the compiler from seeing the misuse (and from warning about it). */
static unsigned char *volatile sink;
__attribute__((noinline)) static unsigned char *opaque(void *p)
{
	sink = p;
	return sink;
}

/* The requesters a report should name. Not static, and never inlined, so their
 * names are in the symbol table even of a stripped-down build. */
__attribute__((noinline)) unsigned char *alloc_small(size_t n)
{
	unsigned char *p = malloc(n);
	__asm__ volatile("" ::: "memory");  /* not a tail call: the caller of malloc is this function */
	return opaque(p);
}

__attribute__((noinline)) unsigned char *alloc_big(size_t n)
{
	unsigned char *p = malloc(n);
	__asm__ volatile("" ::: "memory");
	return opaque(p);
}

static void announce(const void *p)
{
	char line[64];
	int n = snprintf(line, sizeof line, "%p\n", p);
	(void)!write(1, line, (size_t)n);
}

static long static_object[4];

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "overflow")) {  /* one byte past the 40 requested */
		unsigned char *p = alloc_small(40);
		announce(p);
		sink[40] = 'X';  /* through sink, or the store before free(p) is dead to the compiler */
		free(p);
	} else if (!strcmp(mode, "overflow16")) {  /* 16 bytes past the end: the next block's header */
		unsigned char *p = alloc_small(48), *next = alloc_small(48);
		size_t n = malloc_usable_size(p);
		announce(p);
		memset(opaque(p) + n, 'X', 16);
		free(p);
		sink = malloc(48);
		free(next);
	} else if (!strcmp(mode, "uaf")) {  /* a write into a freed block, then its reuse */
		unsigned char *a = malloc(200), *p = alloc_small(200), *c = malloc(200);
		announce(p);
		free(p);
		sink[100] = 'X';  /* sink is p, out of the compiler's sight */
		sink = malloc(200);
		free(a);
		free(c);
	} else if (!strcmp(mode, "double-free")) {
		unsigned char *p = alloc_small(40);
		announce(p);
		free(p);
		free(sink);
	} else if (!strcmp(mode, "stale-double-free")) {  /* the address may be q's by now */
		unsigned char *p = alloc_big(1u << 20);
		announce(p);
		free(p);
		unsigned char *q = malloc(1u << 20);
		free(sink);
		free(q);
	} else if (!strcmp(mode, "interior")) {
		unsigned char *p = alloc_small(64);
		announce(p + 16);
		free(opaque(p + 16));
	} else if (!strcmp(mode, "stack")) {
		long local[4] = {0};
		announce(local);
		free(opaque(local));
	} else if (!strcmp(mode, "static")) {
		announce(static_object);
		free(opaque(static_object));
	} else if (!strcmp(mode, "realloc-freed")) {
		unsigned char *p = alloc_small(40);
		announce(p);
		free(p);
		sink = realloc(sink, 80);
	} else if (!strcmp(mode, "scribble")) {  /* overflow16 without the free: only a check finds it */
		unsigned char *p = alloc_small(48), *next = alloc_small(48);
		size_t n = malloc_usable_size(p);
		announce(p);
		memset(opaque(p) + n, 'X', 16);
		sink = next;
	} else if (strcmp(mode, "clean") != 0) {
		fprintf(stderr,
			"usage: %s overflow|overflow16|uaf|double-free|stale-double-free|interior|stack|static|"
			"realloc-freed|scribble|clean\n",
			argv[0]);
		return 2;
	}
	return 0;
}
