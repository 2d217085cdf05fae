/* misuse_prog.c — commits one heap misuse through plain malloc/free, for running under LD_PRELOAD=liballoc*.so. */
/* SPDX-License-Identifier: MIT */
/*
 * usage: misuse_prog overflow|uaf|double-free|interior|clean
 * Prints the pointer it is about to misuse ("%p\n" on stdout, with write(2) so
 * stdio allocates nothing in between), then misuses it. Under liballoc the report
 * names that pointer and the process dies of SIGABRT; "clean" exits 0.
 */
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

static void announce(const void *p)
{
	char line[64];
	int n = snprintf(line, sizeof line, "%p\n", p);
	(void)!write(1, line, (size_t)n);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "overflow")) {  /* one byte past the 40 requested */
		unsigned char *p = opaque(malloc(40));
		announce(p);
		sink[40] = 'X';  /* through sink, or the store before free(p) is dead to the compiler */
		free(p);
	} else if (!strcmp(mode, "uaf")) {  /* a write into a freed block, then its reuse */
		unsigned char *a = malloc(200), *p = opaque(malloc(200)), *c = malloc(200);
		announce(p);
		free(p);
		sink[100] = 'X';  /* sink is p, out of the compiler's sight */
		sink = malloc(200);
		free(a);
		free(c);
	} else if (!strcmp(mode, "double-free")) {
		unsigned char *p = opaque(malloc(40));
		announce(p);
		free(p);
		free(sink);
	} else if (!strcmp(mode, "interior")) {
		unsigned char *p = opaque(malloc(64));
		announce(p + 16);
		free(opaque(p + 16));
	} else if (strcmp(mode, "clean") != 0) {
		fprintf(stderr, "usage: %s overflow|uaf|double-free|interior|clean\n", argv[0]);
		return 2;
	}
	return 0;
}
