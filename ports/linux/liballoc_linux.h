/* liballoc_linux.h — the Linux port's header: its liballoc configuration, then the liballoc API. */
/* SPDX-License-Identifier: MIT */
/*
 * Programs using the Linux port include this header (not liballoc.h directly) to
 * get liballoc_stats(), liballoc_check(), liballoc_trim() ... with the port's
 * configuration: the malloc family under its standard names. The port's own build
 * names it in -DLIBALLOC_CONFIG_HEADER, so liballoc.h includes it too (the include
 * guards make the two orders equivalent). Only macros and prototypes: the core
 * stays freestanding; the hosted code lives in os.c, glibc.c, diag.c, symbols.c
 * and map.c.
 */
#ifndef LIBALLOC_LINUX_CONFIG_H
#define LIBALLOC_LINUX_CONFIG_H

#include <stdint.h>

#ifndef LIBALLOC_PREFIX  /* a build beside another malloc (the sanitizer tests) renames it */
#define LIBALLOC_PREFIX(name) name                      /* malloc, free, ... */
#endif
#define LIBALLOC_API __attribute__((visibility("default")))
#define LIBALLOC_PAGES_ZEROED 1                        /* anonymous mmap pages are zero */

/* Thread caches: initial-exec TLS (no allocation on access), registered with a
 * pthread key whose destructor flushes the cache when the thread ends. */
#define LIBALLOC_THREAD_LOCAL __thread __attribute__((tls_model("initial-exec")))
void liballoc_linux_thread_register(void);
#define LIBALLOC_THREAD_REGISTER() liballoc_linux_thread_register()

/* Like glibc's dynamic mmap threshold (which stops at 32 MiB on 64-bit). */
#define LIBALLOC_HUGE_THRESHOLD_MAX (32u << 20)

void liballoc_linux_set_errno(int e);
void liballoc_linux_report(int error, void *ptr);
uint64_t liballoc_linux_entropy(void);

#define LIBALLOC_SET_ERRNO(e) liballoc_linux_set_errno(e)
#define LIBALLOC_ERROR_HANDLER liballoc_linux_report
#define LIBALLOC_ENTROPY() liballoc_linux_entropy()

#include "liballoc.h"

/* glibc's malloc_trim(pad), exported by the port (glibc.c) with the rest of
 * glibc's malloc API (mallopt, mallinfo2, mallinfo, malloc_stats, malloc_info;
 * <malloc.h> declares those): gives every empty chunk back to the system through
 * liballoc_trim(), whatever pad asks to keep. Returns 1 if any memory was
 * released, else 0. O(chunks); takes the heap lock; thread-safe. */
int malloc_trim(size_t pad);

/*
 * A picture of a heap, as SVG (ports/linux/map.c): one row per page run — each
 * chunk, then each huge block's own run — drawn the same width whatever its size
 * (the row's label gives its address and size), its blocks coloured by state (free,
 * in a thread cache, quarantined) and live blocks by size class; a legend; and the
 * figures: bytes obtained, in use and free, the largest free block and the external
 * fragmentation, 1 - largest free block / free bytes (0: all free space is one
 * block; near 1: it is in pieces too small for a big request). Where blocks are
 * narrower than a pixel, each pixel shows what covers most of its bytes.
 *
 * heap: a heap (NULL: the default heap, the malloc family's). fd: an open file
 * descriptor, written with write(2) from its current offset (a file, a pipe).
 * Returns 0, or -1 with errno: from write(2) (the picture is then incomplete),
 * ENOMEM if the pages to collect the blocks in could not be mapped, or EAGAIN if
 * the heap's lock failed. Allocates nothing from any heap: the blocks are collected
 * with liballoc_walk (twice: to count the runs, then to draw them) into pages from
 * mmap, released before returning; nothing is written while the heap's lock is
 * held. O(blocks + runs x 800). Thread-safe; blocks other threads allocate or free
 * meanwhile are drawn as the walk finds them. At most 4000 runs are drawn (the
 * others are counted in the figures and named as left out).
 * LIBALLOC_MAP=file.svg writes the default heap's picture at exit.
 */
struct liballoc_heap;
LIBALLOC_API int liballoc_map_svg(struct liballoc_heap *heap, int fd);

#endif
