/* liballoc_x86_64.h — liballoc configuration of the x86_64 SMP port: kmalloc & co., 4 KiB pages, per-CPU caches keyed by CPU index. */
/* SPDX-License-Identifier: MIT */
/*
 * Compile liballoc.c (and everything that calls kmalloc) with
 * -DLIBALLOC_CONFIG_HEADER='"liballoc_x86_64.h"'. Freestanding: macros,
 * declarations and the inline instructions of x86_64_cpu.h only.
 */
#ifndef LIBALLOC_X86_64_H
#define LIBALLOC_X86_64_H

#include <stdint.h>

#include "x86_64_cpu.h"

#define LIBALLOC_PREFIX(name) k##name   /* kmalloc, kfree, kcalloc, krealloc, ... */
#define LIBALLOC_PAGE_SIZE 4096         /* the MMU's page: one hook page = one frame */
#define LIBALLOC_PAGES_ZEROED 1         /* hooks.c zeroes every page it maps */

/*
 * Per-CPU caches: the core's cache layer keyed by CPU instead of by thread. A
 * CPU's cache is used only with interrupts off (ENTER/LEAVE), so no interrupt
 * handler on that CPU and no other CPU touches it meanwhile, and a kmalloc or
 * kfree that hits it takes no shared lock. liballoc_thread_exit(), called on a
 * CPU before it goes offline, gives that CPU's cached blocks back to the heap.
 * A core without the layer ignores these macros and takes the locked path.
 */
#define LIBALLOC_CPU_CACHES 16               /* array size: CPU indices 0..15 */
#define LIBALLOC_CPU_ID() x86_64_cpu_index()  /* %gs:8, the dense index set at CPU start */
#define LIBALLOC_CPU_ENTER() x86_64_irq_save() /* saved RFLAGS; interrupts off */
#define LIBALLOC_CPU_LEAVE(s) x86_64_irq_restore(s)
_Static_assert(LIBALLOC_CPU_CACHES == X86_64_MAX_CPUS, "one cache per possible CPU index");

/* Supplied by the kernel: report a misuse (double free, bad pointer, corrupted
 * header) on its console. Called after the heap lock is released. */
void x86_64_liballoc_report(int error, void *ptr);
/* Supplied by hooks.c: the TSC, to key the block-header check words. */
uint64_t x86_64_liballoc_entropy(void);

#define LIBALLOC_ERROR_HANDLER x86_64_liballoc_report
#define LIBALLOC_ENTROPY() x86_64_liballoc_entropy()

#endif
