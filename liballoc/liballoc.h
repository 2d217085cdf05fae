/* liballoc.h — public API and port contract of liballoc, a portable bounded-time allocator. */
/* SPDX-License-Identifier: MIT */
/*
 * This is the one header a user of liballoc reads. It has four parts:
 *
 *   1. Configuration — compile-time knobs, all optional.
 *   2. The port contract — the four hooks a port must supply, and struct
 *      liballoc_port for heaps with hooks of their own.
 *   3. The API — the malloc family on the default heap, plus stats, check, trim and
 *      the error handler.
 *   4. Heap instances and object caches — more heaps (over their own hooks, or in a
 *      fixed region) and caches of equal-sized objects.
 *
 * Vendoring: copy liballoc.h and liballoc.c into your tree, write the four hooks
 * (section 2), compile liballoc.c with your flags (it needs only a C11 compiler with
 * GCC/Clang builtins and the freestanding headers), and call the API. A port with
 * threads or several CPUs may add the cache layer, liballoc_tcache.c (section 1,
 * "Cache layer"); liballoc.c includes it itself, so copy it beside liballoc.c.
 *
 * Units: every size in this header is in BYTES unless it says PAGES. A page is
 * LIBALLOC_PAGE_SIZE bytes.
 */
#ifndef LIBALLOC_H
#define LIBALLOC_H

/* The version of this header and of the core it goes with (liballoc_version()). */
#define LIBALLOC_VERSION_MAJOR 0
#define LIBALLOC_VERSION_MINOR 2
#define LIBALLOC_VERSION_PATCH 0
#define LIBALLOC_VERSION_STRING "0.2.0"

#include <stddef.h>
#include <stdint.h>

/* ======================================================================== *
 * 1. Configuration
 *
 * Each knob can be given with -D on the command line, or collected in a port
 * configuration header named by -DLIBALLOC_CONFIG_HEADER='"myport_config.h"'.
 * That header is included here, so users of the API and the core agree on the
 * prefix. It must contain only macros and declarations (no hosted headers are
 * needed: the core stays freestanding).
 * ======================================================================== */
#ifdef LIBALLOC_CONFIG_HEADER
#include LIBALLOC_CONFIG_HEADER
#endif

/* Drop-in for liballoc 1.1 (see the README, "Replacing liballoc 1.1"): define
 * LIBALLOC_COMPAT_1_1 and the core calls 1.1's four hooks with 1.1's contract —
 * liballoc_lock(), liballoc_unlock(), liballoc_alloc(pages), liballoc_free(ptr,
 * pages), where every liballoc_free gets exactly a run liballoc_alloc returned — and
 * exports only what 1.1 did (LIBALLOC_EXTRAS 0) unless told otherwise. */
#ifdef LIBALLOC_COMPAT_1_1
#ifndef LIBALLOC_WHOLE_RUNS
#define LIBALLOC_WHOLE_RUNS 1
#endif
#ifndef LIBALLOC_EXTRAS
#define LIBALLOC_EXTRAS 0
#endif
#endif

/* The small profile, for MCUs: 1 builds the core with only what a default heap in
 * one region needs (see liballoc_init_region): no page runs, page map, huge blocks,
 * requester trailers, quarantine, hardening or cache layer; 8 second-level classes;
 * blocks below 2^LIBALLOC_BLOCK_BITS bytes; an 8-byte block header (boundary tag,
 * size and flags) instead of 16: no check word and no slack word. The cheap misuse
 * checks stay (double free, foreign and interior pointers, the block's own
 * overwritten header, a write past the end into the next header's boundary tag):
 * without a check word a pointer is taken for a block's only if its header keeps
 * the block inside the region and both neighbours' boundary tags agree with it,
 * which stray data fails but a program forging headers on purpose can pass; the
 * free-list links are not verified before a merge, and liballoc_check is the deep
 * check. The API and its guarantees are the same, except that
 * without LIBALLOC_EXTRAS alignments above 16 bytes are refused (EINVAL), and with
 * them object caches; the page hooks are never called (only the lock hooks); a
 * realloc that moves reserves no headroom; a block's requested size is not kept,
 * so in_use (liballoc_stats) and a live block's size (liballoc_describe) count
 * its usable bytes (the request rounded up to 8 bytes short of a multiple of 16,
 * at least 24, and 16 more when the rest of the free block it came from was too
 * small to split off); and liballoc_stats counts live_blocks and free_bytes by walking
 * the region (O(blocks)) instead of every malloc and free keeping them. Default 0. */
#ifndef LIBALLOC_SMALL
#define LIBALLOC_SMALL 0
#endif
#if LIBALLOC_SMALL
#ifndef LIBALLOC_EXTRAS
#define LIBALLOC_EXTRAS 0
#endif
#ifndef LIBALLOC_STATS
#define LIBALLOC_STATS 0
#endif
#ifndef LIBALLOC_SL_LOG2
#define LIBALLOC_SL_LOG2 3
#endif
#ifndef LIBALLOC_BLOCK_BITS
#define LIBALLOC_BLOCK_BITS 24
#endif
#endif

/* log2 of the bound on block sizes: the first-level lists cover block sizes below
 * 2^LIBALLOC_BLOCK_BITS bytes (default 32, every size; the small profile 24, 16 MiB,
 * which shrinks the lists). A region heap uses at most that much of its region. */
#ifndef LIBALLOC_BLOCK_BITS
#define LIBALLOC_BLOCK_BITS 32
#endif

/* Name of the public malloc-family entry points, like the original liballoc's
 * PREFIX: a kernel port defines LIBALLOC_PREFIX(name) as k##name to get kmalloc,
 * kfree, ...; the Linux port defines it as plain `name` to replace malloc. 1.1's own
 * PREFIX(func) macro, when defined, is used as it is. The default gives
 * liballoc_malloc, liballoc_free, ... which coexist with libc. */
#ifndef LIBALLOC_PREFIX
#ifdef PREFIX
#define LIBALLOC_PREFIX(name) PREFIX(name)
#else
#define LIBALLOC_PREFIX(name) liballoc_##name
#endif
#endif

/* 1 (the default) exports the whole malloc family; 0 only malloc, free, calloc
 * and realloc, leaving reallocarray, posix_memalign, aligned_alloc, memalign,
 * valloc, pvalloc and malloc_usable_size (prefixed) to a kernel that has its own. */
#ifndef LIBALLOC_EXTRAS
#define LIBALLOC_EXTRAS 1
#endif

/* 1: the core gives back only whole runs, exactly as the port handed them out
 * (for page suppliers that cannot split a run, as 1.1's contract has it): an
 * aligned huge block keeps its whole over-allocated run, a shrinking huge block
 * its tail. 0 (the default): any page-aligned sub-range may go back. */
#ifndef LIBALLOC_WHOLE_RUNS
#define LIBALLOC_WHOLE_RUNS 0
#endif

/* Page size in bytes: the unit of liballoc_alloc_page / liballoc_free_page.
 * A power of two from 256 (small MCUs) up. Default 4096. */
#ifndef LIBALLOC_PAGE_SIZE
#define LIBALLOC_PAGE_SIZE 4096
#endif

/* 1 when the port's alloc_page always returns zero-filled pages (mmap does):
 * calloc then skips clearing memory it knows was never written. Default 0. */
#ifndef LIBALLOC_PAGES_ZEROED
#define LIBALLOC_PAGES_ZEROED 0
#endif

/* 1 enables hardened mode: a canary after every block's requested size (1-16
 * bytes, all different and none below 0x80: a write of one value over two or more
 * of them is always caught, as is a one-byte overflow of a NUL or of text; another
 * changed single byte with probability 127/128), checked
 * on free and realloc; freed memory poisoned and checked when reused; free-list
 * links mangled with a secret and checked on unlink. Costs O(block size) per
 * malloc/free. The cheap checks (double free, invalid pointer) are always on. */
#ifndef LIBALLOC_HARDENED
#define LIBALLOC_HARDENED 0
#endif

/* 1 keeps the counters of struct liballoc_stats (a few adds per call). 0 leaves
 * only the counters the allocator needs itself (bytes in use, bytes obtained). */
#ifndef LIBALLOC_STATS
#define LIBALLOC_STATS 1
#endif

/* Requests whose block would exceed this many bytes are served by their own page
 * run straight from the port's alloc_page, and go straight back on free.
 * Default 64 pages (256 KiB with 4 KiB pages). At most 1 GiB. */
#ifndef LIBALLOC_HUGE_THRESHOLD
#define LIBALLOC_HUGE_THRESHOLD (64u * LIBALLOC_PAGE_SIZE)
#endif

/* Ports whose programs free and reallocate big blocks (the Linux port) may let the
 * threshold adapt as glibc's mmap threshold does: freeing a huge block of B bytes
 * raises the threshold to B (never beyond this maximum), so later blocks of that
 * size are reused from chunks instead of mapped and faulted in afresh.
 * Default: equal to LIBALLOC_HUGE_THRESHOLD (a fixed threshold). At most 1 GiB. */
#ifndef LIBALLOC_HUGE_THRESHOLD_MAX
#define LIBALLOC_HUGE_THRESHOLD_MAX LIBALLOC_HUGE_THRESHOLD
#endif

/* Page runs that hold ordinary blocks ("chunks") are at least CHUNK_MIN bytes and
 * grow geometrically with the heap up to CHUNK_MAX bytes (both multiples of the
 * page size): a new chunk is at least 1/16 of what the heap holds in chunks, so a
 * growing heap obtains at most 6.25% more pages than it needed (plus one page per
 * chunk lost to headers and alignment) in a number of alloc_page calls logarithmic
 * in its size. Small-RAM targets lower CHUNK_MIN. */
#ifndef LIBALLOC_CHUNK_MIN
#define LIBALLOC_CHUNK_MIN (16u * LIBALLOC_PAGE_SIZE)
#endif
#ifndef LIBALLOC_CHUNK_MAX
#define LIBALLOC_CHUNK_MAX (1024u * LIBALLOC_PAGE_SIZE)
#endif

/* Completely empty chunks kept instead of returned to the port (hysteresis: a
 * malloc/free loop of one big block does not call the page hooks every time).
 * liballoc_trim() returns them all. Default 1. */
#ifndef LIBALLOC_KEEP_EMPTY
#define LIBALLOC_KEEP_EMPTY 1
#endif

/* The quarantine (see liballoc_record_requesters): freed blocks held back from
 * reuse, at most 64 of them and, beyond the first, this many usable bytes.
 * Default 4 MiB. */
#ifndef LIBALLOC_QUARANTINE_BYTES
#define LIBALLOC_QUARANTINE_BYTES ((size_t)4 << 20)
#endif

/* log2 of the number of second-level size classes per power of two (TLSF's SLI).
 * 5 (32 classes, worst-case internal rounding 1/32) by default; 4 saves RAM. */
#ifndef LIBALLOC_SL_LOG2
#define LIBALLOC_SL_LOG2 5
#endif

/* Knobs of the core's internals (defaults fit every supported target):
 *   LIBALLOC_DEBUG              defined: every internal precondition (the lock is held,
 *                               a block is free and on its list, sizes are multiples
 *                               of 16, ...) is checked, and a failed one traps
 *                               (__builtin_trap). For tests and bring-up: it costs time.
 *   LIBALLOC_ADDR_BITS          significant virtual-address bits on 64-bit targets
 *                               (default 48): the page map covers that many; a pointer
 *                               outside them is foreign. 57 for 5-level paging.
 *   LIBALLOC_PAGEMAP_LEAF_BITS  log2 of the pages one page-map leaf covers (default
 *                               15: a 4 KiB leaf of bits per 128 MiB with 4 KiB pages).
 *
 * Optional port macros (all default to nothing):
 *   LIBALLOC_SET_ERRNO(e)    store e (LIBALLOC_ENOMEM / LIBALLOC_EINVAL) in errno.
 *   LIBALLOC_ERROR_HANDLER   name of a liballoc_error_fn used as the default error
 *                            handler (see liballoc_set_error_handler).
 *   LIBALLOC_ENTROPY()       an expression yielding a random uint64_t, used once per
 *                            heap to key its header check words; default: derived from
 *                            the heap's address (deterministic).
 *   LIBALLOC_ENOMEM, LIBALLOC_EINVAL   errno values (default 12 and 22, as on Linux).
 *
 * Cache layer (optional; kernel ports without it keep the plain locked path). A cache
 * of small free blocks in front of the DEFAULT heap (the malloc family), used without
 * the heap lock; liballoc.c then includes liballoc_tcache.c. Per thread, for hosted
 * ports with threads:
 *   LIBALLOC_THREAD_LOCAL    storage class of a per-thread variable, e.g.
 *                            __thread __attribute__((tls_model("initial-exec"))).
 *   LIBALLOC_THREAD_REGISTER()  called once per thread, without the lock, before its
 *                            cache is first used; the port arranges for
 *                            liballoc_thread_exit() to run when the thread ends.
 *                            It may allocate (those calls take the locked path).
 * or per CPU, for kernels with several CPUs (the cache is used with interrupts off, so
 * an interrupt handler may allocate too):
 *   LIBALLOC_CPU_CACHES      the number of per-CPU caches (the most CPUs).
 *   LIBALLOC_CPU_ID()        the running CPU's index, 0 .. LIBALLOC_CPU_CACHES - 1;
 *                            called with interrupts off.
 *   LIBALLOC_CPU_ENTER()     disable interrupts, returning the previous state as an
 *                            unsigned long; LIBALLOC_CPU_LEAVE(state) restores it.
 *
 * Optional instrumentation macros, for tools that track blocks (e.g. Valgrind's
 * client requests VALGRIND_MALLOCLIKE_BLOCK / FREELIKE_BLOCK / RESIZEINPLACE_BLOCK).
 * They must not allocate and default to nothing; they run with the heap lock held,
 * or, on the cache layer's fast paths, in the thread that owns the block:
 *   LIBALLOC_ON_ALLOC(p, n, zeroed)   block p of n requested bytes handed out (the
 *                                     small profile, which keeps no requested size:
 *                                     its usable bytes, as ON_RESIZE's old will say);
 *                                     zeroed: the caller (calloc) will return it all zero.
 *   LIBALLOC_ON_FREE(p, usable)       block p (usable bytes) is being freed; the core
 *                                     writes its links into it right after.
 *   LIBALLOC_ON_RESIZE(p, old, new)   block p resized in place from old to new bytes
 *                                     (requested; the small profile: usable).
 */
#ifndef LIBALLOC_ON_ALLOC
#define LIBALLOC_ON_ALLOC(p, n, zeroed) ((void)0)
#endif
#ifndef LIBALLOC_ON_FREE
#define LIBALLOC_ON_FREE(p, usable) ((void)0)
#endif
#ifndef LIBALLOC_ON_RESIZE
#define LIBALLOC_ON_RESIZE(p, old, new) ((void)0)
#endif
#ifndef LIBALLOC_ENOMEM
#define LIBALLOC_ENOMEM 12
#endif
#ifndef LIBALLOC_EINVAL
#define LIBALLOC_EINVAL 22
#endif

/* Symbol visibility of the API (a shared-library port sets it to default visibility). */
#ifndef LIBALLOC_API
#define LIBALLOC_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================== *
 * 2. The port contract
 *
 * The default heap (section 3) gets its memory and its lock from exactly these four
 * functions, which the port supplies. The core calls them and nothing else, except
 * memcpy and memset (which every C environment, hosted or not, must provide: GCC and
 * Clang emit calls to them even in freestanding code).
 *
 * Preconditions common to all four:
 *   - They are called only from inside the allocator. alloc_page and free_page are
 *     always called with the heap lock held (between a successful liballoc_lock and
 *     the matching liballoc_unlock), so they are never called concurrently.
 *   - They must not call back into the allocator (malloc, free, ...): the lock is
 *     held and the heap is mid-update. They may be called from any thread that
 *     calls the API.
 * A broken promise the core can see (a run that is not page-aligned) is reported as
 * LIBALLOC_E_PORT through the error handler; the run is handed back with free_page
 * and the allocation fails cleanly.
 * ======================================================================== */

#ifdef LIBALLOC_COMPAT_1_1
/* liballoc 1.1's hooks, with its contract: the same as below, except that
 * liballoc_free is only ever given a whole run as liballoc_alloc returned it. */
void *liballoc_alloc(size_t pages);
int liballoc_free(void *ptr, size_t pages);
#define liballoc_alloc_page liballoc_alloc
#define liballoc_free_page liballoc_free
#endif

/* Obtain `pages` (>= 1) contiguous pages of LIBALLOC_PAGE_SIZE bytes each.
 * Returns: the address of the first page, aligned to LIBALLOC_PAGE_SIZE, readable
 *          and writable; or NULL when the memory cannot be supplied (the core then
 *          fails the request with ENOMEM and keeps going). Must not panic.
 * Zeroing: the content is unspecified unless the port defines
 *          LIBALLOC_PAGES_ZEROED 1, in which case it must be all zero.
 * Called:  when the heap needs a new chunk (rare: chunks grow geometrically), for
 *          every allocation above LIBALLOC_HUGE_THRESHOLD, and for the page map's
 *          own nodes (a few per address range the heap touches). With the lock held. */
void *liballoc_alloc_page(size_t pages);

/* Give back pages obtained from liballoc_alloc_page.
 * Ranges:  the core passes either a whole run exactly as returned by
 *          liballoc_alloc_page, or ANY page-aligned sub-range of a run it still
 *          holds (it trims the head and tail of over-allocated aligned runs and the
 *          tail of a shrinking huge block) — only whole runs with
 *          LIBALLOC_WHOLE_RUNS 1 (and LIBALLOC_COMPAT_1_1). Every page is returned at most once; the
 *          parts of a run not passed remain valid and are returned later, in any
 *          order. Ports must therefore manage memory at page granularity.
 * Returns: 0 on success. Non-zero when the pages cannot be returned: the core
 *          then keeps them (still counted as obtained) and retries on liballoc_trim;
 *          nothing is lost or counted twice.
 * Called:  with the lock held, when a chunk or huge block becomes free (see
 *          LIBALLOC_KEEP_EMPTY), on trim, and when trimming aligned runs. */
int liballoc_free_page(void *addr, size_t pages);

/* Enter / leave the allocator's critical section. Return 0 on success.
 * Semantics: a mutual-exclusion lock around every API call that touches the heap.
 *          The core never nests it (each API call takes it at most once at a time,
 *          and never calls another API function while holding it). In a single-
 *          threaded program both may be no-ops returning 0; in a kernel they save
 *          the interrupt flag, disable interrupts and restore it (so they must nest
 *          correctly if the kernel itself nests them around the allocator).
 * Failure: if liballoc_lock returns non-zero the call fails without touching the
 *          heap: allocation returns NULL (ENOMEM); free reports LIBALLOC_E_LOCK to
 *          the error handler and leaks the block. A non-zero unlock is reported as
 *          LIBALLOC_E_LOCK. */
int liballoc_lock(void);
int liballoc_unlock(void);

/* The hooks of a heap instance (section 4), each with the port's own context: the
 * same contract as the four functions above, with `ctx` passed through unchanged.
 * alloc_page and free_page are required; lock and unlock are both given or both
 * NULL (NULL: the heap is not locked, for one-thread use). The core copies the
 * struct when the heap is created. */
struct liballoc_port {
	void *ctx;
	void *(*alloc_page)(void *ctx, size_t pages);
	int (*free_page)(void *ctx, void *addr, size_t pages);
	int (*lock)(void *ctx);
	int (*unlock)(void *ctx);
};

/* ======================================================================== *
 * 3. The API (the default heap)
 *
 * Common guarantees of every allocating function below (and of the heap-instance
 * functions of section 4, which behave the same on their heap):
 *   Alignment:   every returned pointer is aligned to 16 bytes (max_align_t on
 *                x86_64), whatever the size, or to the requested alignment if larger.
 *   Failure:     NULL, with errno = ENOMEM set through LIBALLOC_SET_ERRNO, when
 *                the size exceeds PTRDIFF_MAX, a size computation overflows, or the
 *                port has no pages (alloc_page returned NULL).
 *   Complexity:  O(1): a bounded number of bitmap and list operations, independent
 *                of the number of live blocks and of the heap size. When the heap
 *                must grow: the return of the empty chunks kept as hysteresis (a
 *                number bounded by the configuration, one free_page each), then one
 *                alloc_page call for the new run — two if the port refuses the
 *                geometrically grown chunk size and a smaller run is asked for —
 *                plus one per page-map node the run's addresses need (none once the
 *                heap has touched that address range; at most two per level), and
 *                setting the run's page map bits. When the port has no pages, the
 *                heap gives back what it holds unused (the quarantine, empty chunks,
 *                runs whose free_page failed) and tries once more, so a failing
 *                allocation makes at most twice those calls. The bound is derived in the essay at the
 *                top of liballoc.c. Hardened mode adds O(size) canary/poison work;
 *                calloc and realloc add the O(size) memset/memcpy they imply.
 *   Thread-safety: every function takes the heap's lock around its work, so the API
 *                is thread-safe exactly when the port's lock is. With the cache
 *                layer, malloc/calloc of up to 4592 bytes and free of such blocks
 *                usually complete without the lock (O(1), no hook calls).
 *   Hooks:       the allocating functions may call alloc_page (and free_page to trim
 *                over-allocated aligned runs and to return empty chunks before
 *                growing); free may call free_page. All take the lock.
 *   Algorithm:   two-level segregated fits (TLSF: M. Masmano, I. Ripoll, A. Crespo,
 *                J. Real, "TLSF: a New Dynamic Memory Allocator for Real-Time
 *                Systems", ECRTS 2004) with boundary-tag coalescing (D. Knuth, TAOCP
 *                vol. 1, 2.5), over page runs obtained from the port.
 *   Overhead:    every block carries one 16-byte header (size, boundary tag, a check
 *                word and the slack; 8 bytes in the small profile: size and tag);
 *                blocks are multiples of 16 bytes, the smallest is 32 bytes (16
 *                usable, 24 in the small profile). So metadata is at most 16 bytes
 *                (8) per small allocation, plus rounding to 16.
 *   Stack use:   the deepest the core's own frames go below each entry point, in
 *                bytes, measured from GCC's call graph with stack sizes
 *                (-fcallgraph-info=su) of liballoc.c with the default configuration
 *                (no cache layer): i686 and x86_64 at -O2 (gcc 12), Cortex-M3 at -Os
 *                (arm-none-eabi-gcc 12), and Cortex-M3 -Os with LIBALLOC_SMALL. Add
 *                the port's hooks' own stack, and the error handler's (it runs
 *                inside the reporting call, after the unlock). The build checks
 *                these figures (tests/stack): a larger measurement fails, so stack
 *                use cannot grow silently. The malloc family on other heaps
 *                (liballoc_heap_*) goes as deep as the default heap's.
 * Stack use (bytes)
 * | entry point | i686 | x86_64 | cortex-m3 | cortex-m3-small |
 * |---|---:|---:|---:|---:|
 * | liballoc_malloc | 464 | 560 | 360 | 176 |
 * | liballoc_free | 384 | 368 | 256 | 160 |
 * | liballoc_calloc | 480 | 592 | 384 | 208 |
 * | liballoc_realloc | 576 | 720 | 432 | 240 |
 * | liballoc_posix_memalign | 464 | 576 | 376 | - |
 * | liballoc_malloc_usable_size | 128 | 160 | 144 | - |
 * | liballoc_stats | 112 | 96 | 64 | 112 |
 * | liballoc_check | 192 | 192 | 192 | 176 |
 * | liballoc_trim | 336 | 352 | 240 | 176 |
 * | liballoc_heap_create | 80 | 64 | 64 | 48 |
 * | liballoc_heap_create_in | 80 | 64 | 112 | 80 |
 * | liballoc_heap_destroy | 160 | 176 | 96 | 80 |
 * | liballoc_cache_alloc | 464 | 592 | 360 | 208 |
 * | liballoc_cache_free | 336 | 320 | 240 | 192 |
 * | liballoc_walk | 176 | 256 | 160 | 112 |
 * | liballoc_describe | 128 | 144 | 112 | 80 |
 * | liballoc_init_region | 112 | 128 | 128 | 96 |
 */

/* Allocate `size` bytes (uninitialised). malloc(0) returns a unique pointer that
 * must be freed. */
LIBALLOC_API void *LIBALLOC_PREFIX(malloc)(size_t size);

/* Free a block returned by this heap. free(NULL) does nothing. errno is preserved.
 * Misuse — a double free, a pointer the heap did not return (stack, static, an
 * interior pointer, another heap's block), a corrupted block header, and in hardened
 * mode an overwritten canary — is reported to the error handler with the pointer,
 * and the heap is left untouched by the bad call. May call free_page. */
LIBALLOC_API void LIBALLOC_PREFIX(free)(void *ptr);

/* Allocate nmemb * size bytes, all zero. NULL + ENOMEM when the product
 * overflows. Skips the clearing for memory known never to have been written. */
LIBALLOC_API void *LIBALLOC_PREFIX(calloc)(size_t nmemb, size_t size);

/* Resize a block, keeping min(old, new) bytes of content.
 *   realloc(NULL, n) is malloc(n); realloc(p, 0) frees p and returns NULL (as glibc).
 *   Shrinks in place; grows in place when the following block is free and large
 *   enough; otherwise allocates, copies and frees (copy done outside the lock).
 *   On failure returns NULL with ENOMEM and leaves the old block intact.
 *   Misuse (freed or foreign pointer) is reported; returns NULL with EINVAL. */
LIBALLOC_API void *LIBALLOC_PREFIX(realloc)(void *ptr, size_t size);

#if LIBALLOC_EXTRAS
/* realloc(ptr, nmemb * size) with overflow check: NULL + ENOMEM on overflow, ptr
 * untouched. */
LIBALLOC_API void *LIBALLOC_PREFIX(reallocarray)(void *ptr, size_t nmemb, size_t size);

/* POSIX aligned allocation. `alignment` must be a power of two multiple of
 * sizeof(void *), else returns EINVAL; returns ENOMEM when out of memory. On
 * failure *memptr is left untouched and errno is not changed. Returns 0 on success.
 * Any power-of-two alignment up to 2 GiB is supported (large alignments take a
 * page run trimmed with free_page). */
LIBALLOC_API int LIBALLOC_PREFIX(posix_memalign)(void **memptr, size_t alignment, size_t size);

/* C11 aligned allocation: `alignment` must be a power of two (else NULL + EINVAL);
 * `size` need not be a multiple of it. */
LIBALLOC_API void *LIBALLOC_PREFIX(aligned_alloc)(size_t alignment, size_t size);

/* Obsolete aligned allocation, as glibc: an alignment that is not a power of two is
 * rounded up to the next one; alignment above SIZE_MAX/2+1 gives NULL + EINVAL. */
LIBALLOC_API void *LIBALLOC_PREFIX(memalign)(size_t alignment, size_t size);

/* memalign(LIBALLOC_PAGE_SIZE, size). */
LIBALLOC_API void *LIBALLOC_PREFIX(valloc)(size_t size);

/* memalign(LIBALLOC_PAGE_SIZE, size rounded up to a whole page); pvalloc(0) gives
 * one page. NULL + ENOMEM if the rounding overflows. */
LIBALLOC_API void *LIBALLOC_PREFIX(pvalloc)(size_t size);

/* Bytes usable in the block (>= the size requested; exactly the size requested in
 * hardened mode, whose canary follows it). 0 for NULL; misuse is reported and
 * returns 0. O(1). */
LIBALLOC_API size_t LIBALLOC_PREFIX(malloc_usable_size)(void *ptr);
#endif /* LIBALLOC_EXTRAS */

/* ---- introspection and control (not prefixed) -------------------------- */

/* Counters of a heap (liballoc_stats: the default heap). All sizes in bytes. Peaks
 * are high-water marks since the heap was created. */
struct liballoc_stats {
	size_t in_use;              /* bytes requested by live allocations (object-cache slabs included;
				       the small profile: their usable bytes) */
	size_t in_use_peak;         /* high-water mark of in_use (see liballoc_stats for threads) */
	size_t obtained;            /* bytes currently held from the port: chunks, huge runs, page map, the heap's own state */
	size_t obtained_peak;       /* high-water mark of obtained */
	size_t live_blocks;         /* live allocations */
	size_t huge_blocks;         /* live allocations served by their own page run */
	size_t free_bytes;          /* bytes in free blocks inside chunks */
	size_t chunks;              /* page runs holding ordinary blocks */
	size_t metadata;            /* bytes of page map nodes and heap state (part of obtained) */
	size_t cached;              /* free blocks held in the cache layer (thread or CPU caches) */
	size_t quarantined;         /* freed blocks held back from reuse (see liballoc_record_requesters) */
	size_t caches;              /* object caches of this heap */
	size_t cache_slabs;         /* their slabs (blocks of this heap) */
	size_t cache_objects;       /* their live objects */
	size_t allocs;              /* successful allocations (malloc, calloc, realloc moves, ...) */
	size_t frees;               /* successful frees */
	size_t failed_allocs;       /* allocation requests that returned NULL */
	size_t errors;              /* misuse and corruption reports */
	size_t alloc_page_calls;    /* alloc_page calls */
	size_t alloc_page_failures; /* ... of which returned NULL */
	size_t free_page_calls;     /* free_page calls */
	size_t free_page_failures;  /* ... of which returned non-zero */
	size_t lock_calls;          /* successful lock calls (== unlock calls) */
	size_t lock_failures;       /* lock or unlock returned non-zero */
};

/* Copy the default heap's counters into *out. Takes the lock; calls no page hook. If
 * the lock fails, *out is zeroed. O(1) (the small profile: O(blocks), a walk of the
 * region for live_blocks and free_bytes, up to the first damaged block liballoc_check
 * would report), plus O(threads) with thread caches: the
 * other threads' counters not yet folded into the heap's are added as they are.
 * in_use_peak is sampled whenever the heap lock is taken and when bins pass between
 * thread caches; bytes a thread handed out from its own cache since then (at most
 * what that cache holds) are not in it. */
LIBALLOC_API void liballoc_stats(struct liballoc_stats *out);

/* Error codes: reported to the error handler (misuse), returned by liballoc_check
 * (broken invariants). liballoc_strerror gives a one-line description. */
enum liballoc_error {
	LIBALLOC_OK = 0,
	/* misuse, reported by free/realloc/malloc_usable_size and the object caches */
	LIBALLOC_E_FOREIGN_POINTER,  /* not inside this heap (stack, static, other heap, misaligned) */
	LIBALLOC_E_INTERIOR_POINTER, /* inside a live block, but not its start */
	LIBALLOC_E_DOUBLE_FREE,      /* the block is already free */
	LIBALLOC_E_REALLOC_FREED,    /* realloc or malloc_usable_size of a freed block */
	LIBALLOC_E_HEADER,           /* a block header's check word (small profile: boundary tag) is
					wrong: overwritten metadata */
	LIBALLOC_E_OVERFLOW,         /* a write past the end of a block: the next header's boundary
					tag, or (hardened) the canary after the requested size */
	LIBALLOC_E_USE_AFTER_FREE,   /* hardened: poison of freed memory (or zero fill) modified */
	LIBALLOC_E_FREE_LIST,        /* free-list links corrupted */
	LIBALLOC_E_LOCK,             /* the lock or unlock hook failed */
	LIBALLOC_E_PORT,             /* the port broke its contract (a run not page-aligned) */
	LIBALLOC_E_WRONG_CACHE,      /* an object given to an object cache it does not belong to */
	/* invariants, returned by liballoc_check */
	LIBALLOC_E_BLOCK_SIZE,       /* a block size is misaligned, too small or overruns its chunk */
	LIBALLOC_E_BOUNDARY_TAG,     /* a block's prev-size tag disagrees with its predecessor */
	LIBALLOC_E_UNCOALESCED,      /* two physically adjacent free blocks */
	LIBALLOC_E_BITMAP,           /* a TLSF bitmap bit disagrees with its free list */
	LIBALLOC_E_FREE_CLASS,       /* a free block sits in the wrong size-class list */
	LIBALLOC_E_FREE_MISSING,     /* a free block is in no free list */
	LIBALLOC_E_RUN,              /* a chunk/huge run header or run list is broken */
	LIBALLOC_E_PAGEMAP,          /* the page map disagrees with the runs held */
	LIBALLOC_E_SLAB,             /* an object cache's slab is inconsistent */
	LIBALLOC_E_ACCOUNTING,       /* counters disagree with what the walk found */
	LIBALLOC_E_COUNT
};

/* The description of an error code ("double free", ...). Never NULL. */
LIBALLOC_API const char *liballoc_strerror(int error);

/* Walk every structure of the default heap — every chunk block by block, every free
 * list, the bitmaps, the huge runs, the page map bits of every run, the object
 * caches' slabs, the counters, the calling thread's cache, and in hardened mode every
 * canary and every poisoned free block — and return LIBALLOC_OK or the code of the
 * first broken invariant. O(heap size). Takes the lock; calls no page hook. Does not
 * call the error handler. Thread-safe; but other threads' caches change without the
 * lock, so while other threads have caches (or after liballoc_fork_child) the totals
 * of live, in-use and cached blocks are not compared, nor the canaries of blocks such
 * threads may free without the lock — every structure still is. */
LIBALLOC_API int liballoc_check(void);

/* Return every completely empty chunk (and any run whose earlier free_page failed)
 * to the port, after giving the calling thread's cached blocks and the cache layer's
 * transfer stacks back to the heap (a transfer stack another thread, or a signal
 * handler's own thread, is changing at that instant keeps its blocks for the next
 * trim: trim never waits for it). Returns the number of bytes given back.
 * O(chunks + cached blocks). Takes the lock; calls free_page. */
LIBALLOC_API size_t liballoc_trim(void);

/* Error handler: called with the error code and the offending pointer (or the
 * address of the corrupted metadata), after the heap lock has been released, so it
 * may print, abort, longjmp, or even allocate. If it returns, the bad call is
 * abandoned without touching the heap (free does nothing, realloc returns NULL with
 * EINVAL, malloc_usable_size returns 0). One handler serves every heap. */
typedef void (*liballoc_error_fn)(int error, void *ptr);

/* Make the default heap a region heap over [base, base + bytes) instead of one over
 * the page hooks: its blocks come from that region only, it never calls
 * alloc_page or free_page, and pointers are validated by the region's bounds (no
 * page map). For a system that gives the heap one fixed area (an MCU's RAM between
 * the linker's __heap_start and __heap_end) — and the only way to give the small
 * profile (LIBALLOC_SMALL) its memory. Call it once, before the first allocation
 * from the default heap; base need not be aligned; the default heap's state stays
 * where it is (static), the whole region holds blocks (at most 1 GiB, and less than
 * 2^LIBALLOC_BLOCK_BITS bytes). Returns 0, or -1 with errno EINVAL (region too small
 * for a block, or the default heap already in use). O(1). Takes the lock. */
LIBALLOC_API int liballoc_init_region(void *base, size_t bytes);

/* The version of the core, "MAJOR.MINOR.PATCH" (LIBALLOC_VERSION_STRING of the
 * liballoc.h it was built with). */
LIBALLOC_API const char *liballoc_version(void);

/* Install a handler; NULL restores the port's default (LIBALLOC_ERROR_HANDLER, or,
 * if the port has none, only counting in the stats' errors). Returns the previous
 * handler. Thread-safe (an atomic exchange). */
LIBALLOC_API liballoc_error_fn liballoc_set_error_handler(liballoc_error_fn handler);

/* Give the calling thread's (or, with per-CPU caches, the calling CPU's) cached
 * blocks back to the heap and stop caching for this thread (its later calls take the
 * locked path). Ports with thread caches call it when a thread ends (see
 * LIBALLOC_THREAD_REGISTER); a kernel with per-CPU caches calls it on a CPU before
 * that CPU goes offline. A no-op without the cache layer. O(cached blocks), at most
 * 64 per size class. Takes the lock; may call free_page. If the lock fails, the
 * failure is reported (LIBALLOC_E_LOCK), the cache is unlinked all the same and its
 * blocks stay allocated (counted in stats.cached). */
LIBALLOC_API void liballoc_thread_exit(void);

/* Call in the child after fork() (the Linux port does, from its atfork handler),
 * with the lock free. The caches of the other threads, which do not exist in the
 * child, are abandoned: their blocks stay allocated (as glibc's tcaches do) and,
 * since those threads may have been mid-operation, liballoc_check no longer
 * compares the live, in-use and cached totals in this process. A no-op without
 * thread caches. O(threads). Takes the lock; calls no page hook. */
LIBALLOC_API void liballoc_fork_child(void);

/* ======================================================================== *
 * 4. Heap instances and object caches
 *
 * A heap instance is a heap of its own: its own free lists, page runs, page map,
 * counters and lock, over its own port (liballoc_heap_create) or inside one fixed
 * region (liballoc_heap_create_in). A kernel gives each process a heap and drops it
 * whole at exit; a microkernel keeps its messages in a heap of their own. Heaps are
 * independent: a block of one given to another's free or realloc is reported as a
 * foreign pointer (LIBALLOC_E_FOREIGN_POINTER) and changes neither. Every guarantee
 * of section 3 holds per heap (the cache layer fronts only the default heap: heap
 * instances always take their lock). The algorithm is dlmalloc's mspaces / TLSF's
 * pools / o1heap's instances in idea: one state per heap, nothing global.
 *
 * `heap` may be NULL in every function below except liballoc_heap_destroy: NULL is
 * the default heap (the one the malloc family uses).
 * ======================================================================== */

typedef struct liballoc_heap liballoc_heap;

/* A new, empty heap over `port`. Its state (about 8.5 KiB on 64-bit, 4 KiB on 32-bit)
 * lives in pages from port->alloc_page, called under port->lock; the struct *port is
 * copied. Returns NULL with errno EINVAL (alloc_page or free_page missing, or only
 * one of lock/unlock given) or ENOMEM (no pages; or the lock failed; or the run was
 * not page-aligned, which is also reported as LIBALLOC_E_PORT). O(1): one
 * alloc_page call. Thread-safe. */
LIBALLOC_API liballoc_heap *liballoc_heap_create(const struct liballoc_port *port);

/* A heap inside [base, base + bytes): no hooks, no lock (one thread at a time; wrap
 * it in your own lock), nothing ever returned. The heap's state (about 8.5 KiB on
 * 64-bit, 4 KiB on 32-bit) is carved from the region's start; the rest (at most
 * 1 GiB) is one chunk, with the same O(1) bounds as a paged heap, and pointers are
 * validated by the region's bounds. base need not be aligned. Returns NULL with
 * errno EINVAL if the region is too small for the state and one block. O(1). */
LIBALLOC_API liballoc_heap *liballoc_heap_create_in(void *base, size_t bytes);

/* Drop a heap and everything still allocated in it: every page it holds (chunks,
 * huge runs, page-map nodes, its own state) goes back through free_page, in O(runs +
 * page-map nodes) hook calls, under the heap's lock; object caches of the heap go
 * with it. A region heap returns nothing (the region is the caller's again). The
 * handle must not be used afterwards. A free_page that fails is counted and reported
 * as LIBALLOC_E_PORT (those pages are lost to the heap). NULL or the default heap:
 * reported as LIBALLOC_E_FOREIGN_POINTER, nothing done. */
LIBALLOC_API void liballoc_heap_destroy(liballoc_heap *heap);

/* The malloc family on one heap: as malloc, free, calloc, realloc, aligned_alloc
 * (alignment a power of two, else NULL + EINVAL) and malloc_usable_size of
 * section 3, with the same failures, errno, complexity and hooks (the heap's own). */
LIBALLOC_API void *liballoc_heap_malloc(liballoc_heap *heap, size_t size);
LIBALLOC_API void liballoc_heap_free(liballoc_heap *heap, void *ptr);
LIBALLOC_API void *liballoc_heap_calloc(liballoc_heap *heap, size_t nmemb, size_t size);
LIBALLOC_API void *liballoc_heap_realloc(liballoc_heap *heap, void *ptr, size_t size);
LIBALLOC_API void *liballoc_heap_memalign(liballoc_heap *heap, size_t alignment, size_t size);
LIBALLOC_API size_t liballoc_heap_usable_size(liballoc_heap *heap, void *ptr);

/* liballoc_check, liballoc_stats and liballoc_trim for one heap. */
LIBALLOC_API int liballoc_heap_check(liballoc_heap *heap);
LIBALLOC_API void liballoc_heap_stats(liballoc_heap *heap, struct liballoc_stats *out);
LIBALLOC_API size_t liballoc_heap_trim(liballoc_heap *heap);

/*
 * Object caches (J. Bonwick, "The Slab Allocator: An Object-Caching Kernel Memory
 * Allocator", USENIX Summer 1994): objects of one size carved from slabs, each slab
 * one block of the heap, aligned to its own size so an object's slab is found by
 * masking the address. No per-object header: a slab keeps a header, a bitmap of live
 * objects and a free list through the free objects. Alloc and free are O(1) (plus,
 * when a slab is needed or let go, one heap malloc or free). Empty slabs are kept as
 * hysteresis (two per cache) and the rest go back to the heap. Objects are aligned to
 * `align` (0: sizeof(void *); a power of two up to 4096). 100 000 objects of 48 bytes
 * take 4 KiB slabs of 83 objects each: 1 205 slabs, 4.94 MB for 4.8 MB of objects,
 * and their heap obtains 5.24 MB of pages from its port for them (chunks grow by
 * 1/16 of the heap; tests/unit/test_caches.c holds it to 1.15 x 4.8 MB).
 * Misuse — an object of another cache or heap, an interior pointer, a double free —
 * is reported (LIBALLOC_E_WRONG_CACHE, _INTERIOR_POINTER, _DOUBLE_FREE) and changes
 * nothing. All functions take the heap's lock; thread-safe exactly when the heap is.
 */
typedef struct liballoc_cache liballoc_cache;

/* A cache of objects of `size` bytes (1 .. 65536) aligned to `align`, in `heap`
 * (NULL: the default heap). `name` (copied, at most 31 characters kept) names it in
 * reports and stats. Returns NULL with errno EINVAL (bad size or alignment) or
 * ENOMEM. O(1). */
LIBALLOC_API liballoc_cache *liballoc_cache_create(liballoc_heap *heap, const char *name, size_t size, size_t align);

/* One object (uninitialised), or NULL with errno ENOMEM. O(1). */
LIBALLOC_API void *liballoc_cache_alloc(liballoc_cache *cache);

/* Give an object back. NULL does nothing. Misuse is reported (see above). O(1). */
LIBALLOC_API void liballoc_cache_free(liballoc_cache *cache, void *obj);

/* Drop the cache and every slab it holds (live objects included) back to its heap.
 * O(slabs). */
LIBALLOC_API void liballoc_cache_destroy(liballoc_cache *cache);

/* Counters of one cache. */
struct liballoc_cache_stats {
	const char *name;     /* as given to liballoc_cache_create (the cache's copy) */
	size_t object_size;   /* bytes between objects (size rounded up to the alignment) */
	size_t slab_bytes;    /* bytes per slab */
	size_t per_slab;      /* objects per slab */
	size_t objects;       /* live objects */
	size_t slabs;         /* slabs held, empty ones included */
	size_t empty_slabs;   /* slabs kept empty as hysteresis */
};

/* Copy one cache's counters into *out. O(1). Takes the heap's lock. */
LIBALLOC_API void liballoc_cache_stats(liballoc_cache *cache, struct liballoc_cache_stats *out);

/* ======================================================================== *
 * 5. Requesters, heap walks, block descriptions
 *
 * Tim Robinson's trick from the OSDev heap page: each block can carry the address
 * of its requester, so a leak or a misuse names the function (or file:line) that
 * allocated the block. While requesters are recorded, every new block gets a
 * 16-byte trailer after its usable bytes: the requester and, once it is freed into
 * the quarantine, who freed it. Blocks made while recording is off have none, so
 * without recording every block keeps exactly the 16-byte header of the Overhead
 * paragraph above.
 *
 * The quarantine: a free that takes the heap lock does not release a block that
 * has a requester trailer at once; the block is
 * held back from reuse, at most 64 blocks and LIBALLOC_QUARANTINE_BYTES bytes,
 * oldest first out, so that a second free of it — even one after the program got
 * the same address back from malloc — is reported as a double free naming both
 * sites, and (hardened) a write into it is reported when it leaves. Blocks the
 * cache layer takes on free (up to 4592 bytes) are not quarantined; they keep their
 * header too, so their double free also names the requester.
 * ======================================================================== */

/* Turn requester recording on (non-zero) or off for blocks made from now on, in
 * every heap; returns the previous setting. On by default in hardened mode.
 * Recording costs 16 bytes per block and one store per allocation; the blocks freed
 * under the lock go through the quarantine. O(1). Thread-safe. */
LIBALLOC_API int liballoc_record_requesters(int on);

/* malloc, calloc and realloc on a heap (NULL: the default) naming the requester
 * explicitly, for a kernel that passes file:line through a macro, e.g.
 *   #define kmalloc(n) liballoc_heap_malloc_at(NULL, (n), LIBALLOC_HERE)
 * (the malloc family records its caller's return address). `site` is kept as is
 * (a code address, or a pointer to a string that lives as long as the block). */
LIBALLOC_API void *liballoc_heap_malloc_at(liballoc_heap *heap, size_t size, const void *site);
LIBALLOC_API void *liballoc_heap_calloc_at(liballoc_heap *heap, size_t nmemb, size_t size, const void *site);
LIBALLOC_API void *liballoc_heap_realloc_at(liballoc_heap *heap, void *ptr, size_t size, const void *site);
#define LIBALLOC_STR2_(x) #x
#define LIBALLOC_STR_(x) LIBALLOC_STR2_(x)
#define LIBALLOC_HERE ((const void *)(__FILE__ ":" LIBALLOC_STR_(__LINE__)))

/* One block, as liballoc_walk and liballoc_describe report it. */
struct liballoc_block {
	void *ptr;            /* its payload */
	size_t size;          /* live: the bytes requested (the small profile: usable); otherwise the usable bytes */
	size_t usable;        /* bytes usable in it (without the header and any trailer) */
	int state;            /* LIBALLOC_BLOCK_* */
	int huge;             /* 1 if it owns a page run of its own */
	const void *site;     /* its requester, or NULL if not recorded */
	const void *freed_at; /* quarantined or cached: who freed it, or NULL */
	void *run;            /* the page run (chunk or huge run, or a region heap's region) holding it */
	size_t run_bytes;
};
enum {
	LIBALLOC_BLOCK_LIVE,        /* allocated */
	LIBALLOC_BLOCK_FREE,        /* on a free list */
	LIBALLOC_BLOCK_CACHED,      /* freed into the cache layer */
	LIBALLOC_BLOCK_QUARANTINED  /* freed, held back from reuse */
};

/* Called for each block by liballoc_walk; a non-zero return stops the walk. It runs
 * with the heap's lock held: it must not call any function on the same heap (the
 * default heap: nothing of the malloc family, nor anything that allocates from it,
 * such as stdio on a hosted port); record what it needs and act after the walk. */
typedef int (*liballoc_walk_fn)(const struct liballoc_block *block, void *arg);

/* Visit every block of a heap (NULL: the default heap) — every chunk in address
 * order block by block, then every huge block — with `fn`. Returns 0, or the first
 * non-zero value fn returned, or LIBALLOC_E_LOCK if the lock failed. O(blocks).
 * Takes the lock; calls no page hook. Blocks in other threads' caches are reported
 * as they are at that moment. */
LIBALLOC_API int liballoc_walk(liballoc_heap *heap, liballoc_walk_fn fn, void *arg);

/* Describe the block holding ptr in a heap (NULL: the default heap): the block
 * whose payload ptr is, or, for an interior pointer, the block it points into.
 * Returns 1 and fills *out, or 0 if no block of the heap holds ptr (foreign, or a
 * block merged away after it was freed). For error handlers and debuggers: it
 * takes the lock (so not from inside a walk). O(1), O(run size) for an interior
 * pointer. */
LIBALLOC_API int liballoc_describe(liballoc_heap *heap, const void *ptr, struct liballoc_block *out);

#ifdef __cplusplus
}
#endif

#endif /* LIBALLOC_H */
