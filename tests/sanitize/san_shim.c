/* san_shim.c — the two helpers of the Linux port's glibc.c the prefixed sanitizer build needs (errno, entropy). */
/* SPDX-License-Identifier: MIT */
/* glibc.c itself is left out: its __libc_* and malloc_trim exports would stand in
 * for the C library's under the sanitizer runtime. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/auxv.h>

#include "liballoc.h"

void liballoc_linux_set_errno(int e)
{
	errno = e;
}

uint64_t liballoc_linux_entropy(void)
{
	uint64_t seed = 0;
	const void *r = (const void *)getauxval(AT_RANDOM);
	if (r)
		memcpy(&seed, (const char *)r + 8, sizeof seed);
	return seed;
}
