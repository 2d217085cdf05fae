/* leak_prog.c — the leak report's test program (issue 13): leaks 3 blocks of 100 bytes from one function and one of 5000 bytes from another. */
/* SPDX-License-Identifier: MIT */
/*
 * Built with -g. Run under LD_PRELOAD=liballoc.so LIBALLOC_LEAKS=1, it must get
 * exactly two report lines: 5000 bytes in 1 block allocated by leak_big, then 300
 * bytes in 3 blocks allocated by leak_small (largest first), each with this file's
 * line of the malloc call (the lines marked LEAK_SMALL and LEAK_BIG, which the test
 * finds in this source). Everything else it allocates it frees, and it prints with
 * stdio (whose stdout buffer must not count as a leak). It also prints, on stdout,
 * what mallinfo2() says is in use just before it returns, which must equal the
 * live bytes the report finds.
 *
 * usage: leak_prog [threads]   ("threads": the leaks are made by a second thread)
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *volatile keep[4];  /* the leaks stay reachable: only the report finds them */

__attribute__((noinline)) void leak_small(int i)
{
	keep[i] = malloc(100); /* LEAK_SMALL */
	memset(keep[i], i, 100);
}

__attribute__((noinline)) void leak_big(void)
{
	keep[3] = malloc(5000); /* LEAK_BIG */
	memset(keep[3], 7, 5000);
}

__attribute__((noinline)) static void churn(void)
{
	void *p[200];
	for (int i = 0; i < 200; i++)
		p[i] = malloc((size_t)(i * 37 % 3000) + 1);
	char *s = strdup("freed again");
	for (int i = 0; i < 200; i++)
		free(p[i]);
	free(s);
}

static void *leaker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 3; i++)
		leak_small(i);
	leak_big();
	return NULL;
}

int main(int argc, char **argv)
{
	churn();
	if (argc > 1 && strcmp(argv[1], "threads") == 0) {
		pthread_t t;
		if (pthread_create(&t, NULL, leaker, NULL) != 0 || pthread_join(t, NULL) != 0)
			return 1;
	} else {
		leaker(NULL);
	}
	printf("leaked 4 blocks\n");
	fflush(stdout);
	struct mallinfo2 mi = mallinfo2();
	printf("uordblks %zu\n", mi.uordblks);
	return 0;
}
