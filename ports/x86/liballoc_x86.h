/* liballoc_x86.h — liballoc configuration of the x86 port: kmalloc & co., 4 KiB pages, errors printed by the kernel. */
/* SPDX-License-Identifier: MIT */
/*
 * Compile liballoc.c (and everything that calls kmalloc) with
 * -DLIBALLOC_CONFIG_HEADER='"liballoc_x86.h"'. Only macros and declarations:
 * the core stays freestanding.
 */
#ifndef LIBALLOC_X86_H
#define LIBALLOC_X86_H

#include <stdint.h>

#define LIBALLOC_PREFIX(name) k##name   /* kmalloc, kfree, kcalloc, krealloc, ... */
#define LIBALLOC_PAGE_SIZE 4096         /* the MMU's page: one hook page = one frame */
#define LIBALLOC_PAGES_ZEROED 1         /* hooks.c zeroes every page it maps */

/* Supplied by the kernel: report a misuse (double free, bad pointer, corrupted
 * header) on its console. Called after the heap lock is released. */
void x86_liballoc_report(int error, void *ptr);
/* Supplied by hooks.c: the TSC, to key the block-header check words. */
uint64_t x86_liballoc_entropy(void);

#define LIBALLOC_ERROR_HANDLER x86_liballoc_report
#define LIBALLOC_ENTROPY() x86_liballoc_entropy()

#endif
