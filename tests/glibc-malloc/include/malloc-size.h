/* malloc-size.h — glibc's internal MALLOC_ALIGN_MASK, for tst-mallocalign1: the fundamental alignment every malloc must give. */
/* SPDX-License-Identifier: MIT */
#ifndef MALLOC_SIZE_H
#define MALLOC_SIZE_H
#include <stddef.h>
#define MALLOC_ALIGN_MASK (_Alignof(max_align_t) - 1)
#endif
