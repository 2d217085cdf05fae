/* hello.c — a host application linked with liballoc's static library: malloc is liballoc's, and its API is at hand. */
/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "liballoc_linux.h"

int main(void)
{
	char *words[1000];
	for (int i = 0; i < 1000; i++) {
		words[i] = malloc((size_t)(i % 100) + 1);
		memset(words[i], 'a' + i % 26, (size_t)(i % 100));
		words[i][i % 100] = 0;
	}
	void *aligned = aligned_alloc(4096, 10000);
	struct liballoc_stats s;
	liballoc_stats(&s);
	printf("liballoc serves this program: %zu live blocks, %zu bytes in use, %zu bytes from the OS\n",
	       s.live_blocks, s.in_use, s.obtained);
	printf("heap check: %s\n", liballoc_strerror(liballoc_check()));
	for (int i = 0; i < 1000; i++)
		free(words[i]);
	free(aligned);
	printf("after free and trim: %zu bytes returned to the OS\n", liballoc_trim());
	return liballoc_check() == LIBALLOC_OK ? 0 : 1;
}
