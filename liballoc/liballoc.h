/* liballoc.h — public API and port contract of liballoc, a portable bounded-time allocator. */
/* SPDX-License-Identifier: MIT */
/*
 * This is the one header a user of liballoc reads. It has three parts:
 *
 *   1. Configuration — compile-time knobs, all optional.
 *   2. The port contract — the four hooks a port must supply (and the optional ones).
 *   3. The API — the malloc family plus stats, check, trim and the error handler.
 *
 * Vendoring: copy liballoc.h and liballoc.c into your tree, write the four hooks
 * (section 2), compile liballoc.c with your flags (it needs only a C11 compiler with
 * GCC/Clang builtins and the freestanding headers), and call the API.
 *
 * Units: every size in this header is in BYTES unless it says PAGES. A page is
 * LIBALLOC_PAGE_SIZE bytes.
 */
#ifndef LIBALLOC_H
#define LIBALLOC_H

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

/* Name of the public malloc-family entry points, like the original liballoc's
 * PREFIX: a kernel port defines LIBALLOC_PREFIX(name) as k##name to get kmalloc,
 * kfree, ...; the Linux port defines it as plain `name` to replace malloc. The
 * default gives liballoc_malloc, liballoc_free, ... which coexist with libc. */
#ifndef LIBALLOC_PREFIX
#define LIBALLOC_PREFIX(name) liballoc_##name
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

/* 1 enables hardened mode: a canary after every block's requested size, checked
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
 * run straight from liballoc_alloc_page, and go straight back on free.
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
 * page size). Small-RAM targets lower CHUNK_MIN. */
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

/* log2 of the number of second-level size classes per power of two (TLSF's SLI).
 * 5 (32 classes, worst-case internal rounding 1/32) by default; 4 saves RAM. */
#ifndef LIBALLOC_SL_LOG2
#define LIBALLOC_SL_LOG2 5
#endif

/* Optional port macros (all default to nothing):
 *   LIBALLOC_SET_ERRNO(e)    store e (LIBALLOC_ENOMEM / LIBALLOC_EINVAL) in errno.
 *   LIBALLOC_ERROR_HANDLER   name of a liballoc_error_fn used as the default error
 *                            handler (see liballoc_set_error_handler).
 *   LIBALLOC_ENTROPY()       an expression yielding a random uint64_t, used once to
 *                            key the header check words; default: derived from the
 *                            heap's address (deterministic).
 *   LIBALLOC_ENOMEM, LIBALLOC_EINVAL   errno values (default 12 and 22, as on Linux).
 *
 * Optional thread caches (for hosted ports with threads; kernel ports leave them
 * out and keep the plain locked path):
 *   LIBALLOC_THREAD_LOCAL    storage class of a per-thread variable, e.g.
 *                            __thread __attribute__((tls_model("initial-exec"))).
 *                            Defining it gives every thread a cache of small free
 *                            blocks (up to 4 KiB) used without taking the lock.
 *   LIBALLOC_THREAD_REGISTER()  called once per thread, without the lock, before its
 *                            cache is first used; the port arranges for
 *                            liballoc_thread_exit() to run when the thread ends.
 *                            It may allocate (those calls take the locked path).
 *
 * Optional instrumentation macros, for tools that track blocks (e.g. Valgrind's
 * client requests VALGRIND_MALLOCLIKE_BLOCK / FREELIKE_BLOCK / RESIZEINPLACE_BLOCK).
 * They must not allocate and default to nothing; they run with the heap lock held,
 * or, on the thread-cache fast paths, in the thread that owns the block:
 *   LIBALLOC_ON_ALLOC(p, n, zeroed)   block p of n requested bytes handed out;
 *                                     zeroed: the caller (calloc) will return it all zero.
 *   LIBALLOC_ON_FREE(p, usable)       block p (usable bytes) is being freed; the core
 *                                     writes its links into it right after.
 *   LIBALLOC_ON_RESIZE(p, old, new)   block p resized in place from old to new bytes.
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
 * A port supplies exactly these four functions. The core calls them and nothing
 * else, except memcpy and memset (which every C environment, hosted or not, must
 * provide: GCC and Clang emit calls to them even in freestanding code).
 *
 * Preconditions common to all four:
 *   - They are called only from inside the allocator. alloc_page and free_page are
 *     always called with the heap lock held (between a successful liballoc_lock and
 *     the matching liballoc_unlock), so they are never called concurrently.
 *   - They must not call back into the allocator (malloc, free, ...): the lock is
 *     held and the heap is mid-update. They may be called from any thread that
 *     calls the API.
 * ======================================================================== */

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
 *          tail of a shrinking huge block). Every page is returned at most once; the
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

/* ======================================================================== *
 * 3. The API
 *
 * Common guarantees of every allocating function below:
 *   Alignment:   every returned pointer is aligned to 16 bytes (max_align_t on
 *                x86_64), whatever the size, or to the requested alignment if larger.
 *   Failure:     NULL, with errno = ENOMEM set through LIBALLOC_SET_ERRNO, when
 *                the size exceeds PTRDIFF_MAX, a size computation overflows, or the
 *                port has no pages (liballoc_alloc_page returned NULL).
 *   Complexity:  O(1): a bounded number of bitmap and list operations, independent
 *                of the number of live blocks and of the heap size, plus at most one
 *                liballoc_alloc_page call and (for new page runs) setting the page
 *                map bits of that run, and before it the return of the empty chunks
 *                kept as hysteresis (a number bounded by the configuration, one
 *                liballoc_free_page each). The bound is derived in the essay at the top
 *                of liballoc.c. Hardened mode adds O(size) canary/poison work;
 *                calloc and realloc add the O(size) memset/memcpy they imply.
 *   Thread-safety: every function takes liballoc_lock / liballoc_unlock around its
 *                work, so the API is thread-safe exactly when the port's lock is.
 *                With thread caches, malloc/calloc of up to 4 KiB and free of such
 *                blocks usually complete without the lock (O(1), no hook calls).
 *   Hooks:       the allocating functions may call liballoc_alloc_page (and
 *                liballoc_free_page to trim over-allocated aligned runs and to
 *                return empty chunks before growing); free may call
 *                liballoc_free_page. All take the lock.
 *   Algorithm:   two-level segregated fits (TLSF: M. Masmano, I. Ripoll, A. Crespo,
 *                J. Real, "TLSF: a New Dynamic Memory Allocator for Real-Time
 *                Systems", ECRTS 2004) with boundary-tag coalescing (D. Knuth, TAOCP
 *                vol. 1, 2.5), over page runs obtained from the port.
 *   Overhead:    every block carries one 16-byte header (size, boundary tag, a check
 *                word and the slack); blocks are multiples of 16 bytes, the smallest
 *                is 32 bytes (16 usable). So metadata is at most 16 bytes per small
 *                allocation, plus rounding to 16.
 * ======================================================================== */

/* Allocate `size` bytes (uninitialised). malloc(0) returns a unique pointer that
 * must be freed. */
LIBALLOC_API void *LIBALLOC_PREFIX(malloc)(size_t size);

/* Free a block returned by this heap. free(NULL) does nothing. errno is preserved.
 * Misuse — a double free, a pointer the heap did not return (stack, static, an
 * interior pointer, another heap's block), a corrupted block header, and in hardened
 * mode an overwritten canary — is reported to the error handler with the pointer,
 * and the heap is left untouched by the bad call. May call liballoc_free_page. */
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

/* realloc(ptr, nmemb * size) with overflow check: NULL + ENOMEM on overflow, ptr
 * untouched. */
LIBALLOC_API void *LIBALLOC_PREFIX(reallocarray)(void *ptr, size_t nmemb, size_t size);

/* POSIX aligned allocation. `alignment` must be a power of two multiple of
 * sizeof(void *), else returns EINVAL; returns ENOMEM when out of memory. On
 * failure *memptr is left untouched and errno is not changed. Returns 0 on success.
 * Any power-of-two alignment the address space allows is supported (large
 * alignments take a page run trimmed with liballoc_free_page). */
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

/* ---- introspection and control (not prefixed) -------------------------- */

/* Counters of the default heap. All sizes in bytes. Peaks are high-water marks
 * since start. */
struct liballoc_stats {
	size_t in_use;              /* bytes requested by live allocations */
	size_t in_use_peak;         /* high-water mark of in_use */
	size_t obtained;            /* bytes currently held from the port: chunks, huge runs, page map */
	size_t obtained_peak;       /* high-water mark of obtained */
	size_t live_blocks;         /* live allocations */
	size_t huge_blocks;         /* live allocations served by their own page run */
	size_t free_bytes;          /* bytes in free blocks inside chunks */
	size_t chunks;              /* page runs holding ordinary blocks */
	size_t metadata;            /* bytes of page map nodes (part of obtained) */
	size_t cached;              /* free blocks held in thread caches (ports with thread-local storage) */
	size_t allocs;              /* successful allocations (malloc, calloc, realloc moves, ...) */
	size_t frees;               /* successful frees */
	size_t failed_allocs;       /* allocation requests that returned NULL */
	size_t errors;              /* misuse and corruption reports */
	size_t alloc_page_calls;    /* liballoc_alloc_page calls */
	size_t alloc_page_failures; /* ... of which returned NULL */
	size_t free_page_calls;     /* liballoc_free_page calls */
	size_t free_page_failures;  /* ... of which returned non-zero */
	size_t lock_calls;          /* successful liballoc_lock calls (== unlock calls) */
	size_t lock_failures;       /* liballoc_lock or liballoc_unlock returned non-zero */
};

/* Copy the counters into *out. O(1). Thread-safe (takes the lock). Calls no page
 * hook. If the lock fails, *out is zeroed. */
LIBALLOC_API void liballoc_stats(struct liballoc_stats *out);

/* Error codes: reported to the error handler (misuse), returned by liballoc_check
 * (broken invariants). liballoc_strerror gives a one-line description. */
enum liballoc_error {
	LIBALLOC_OK = 0,
	/* misuse, reported by free/realloc/malloc_usable_size */
	LIBALLOC_E_FOREIGN_POINTER,  /* not inside this heap (stack, static, other heap, misaligned) */
	LIBALLOC_E_INTERIOR_POINTER, /* inside a live block, but not its start */
	LIBALLOC_E_DOUBLE_FREE,      /* the block is already free (free or realloc of freed memory) */
	LIBALLOC_E_HEADER,           /* a block header's check word is wrong: overwritten metadata */
	LIBALLOC_E_OVERFLOW,         /* hardened: canary after the requested size overwritten */
	LIBALLOC_E_USE_AFTER_FREE,   /* hardened: poison of freed memory (or zero fill) modified */
	LIBALLOC_E_FREE_LIST,        /* free-list links corrupted */
	LIBALLOC_E_LOCK,             /* the lock or unlock hook failed */
	LIBALLOC_E_PORT,             /* the port broke its contract (misaligned page run) */
	/* invariants, returned by liballoc_check */
	LIBALLOC_E_BLOCK_SIZE,       /* a block size is misaligned, too small or overruns its chunk */
	LIBALLOC_E_BOUNDARY_TAG,     /* a block's prev-size tag disagrees with its predecessor */
	LIBALLOC_E_UNCOALESCED,      /* two physically adjacent free blocks */
	LIBALLOC_E_BITMAP,           /* a TLSF bitmap bit disagrees with its free list */
	LIBALLOC_E_FREE_CLASS,       /* a free block sits in the wrong size-class list */
	LIBALLOC_E_FREE_MISSING,     /* a free block is in no free list */
	LIBALLOC_E_RUN,              /* a chunk/huge run header or run list is broken */
	LIBALLOC_E_PAGEMAP,          /* the page map disagrees with the runs held */
	LIBALLOC_E_ACCOUNTING,       /* counters disagree with what the walk found */
	LIBALLOC_E_COUNT
};

/* The description of an error code ("double free", ...). Never NULL. */
LIBALLOC_API const char *liballoc_strerror(int error);

/* Walk every structure of the default heap — every chunk block by block, every free
 * list, the bitmaps, the huge runs, the page map bits of every run, the counters,
 * the calling thread's cache, and in hardened mode every canary and every poisoned
 * free block — and return LIBALLOC_OK or the code of the first broken invariant.
 * O(heap size). Takes the lock; calls no page hook. Does not call the error
 * handler. Thread-safe; but other threads' caches change without the lock, so while
 * other threads have caches (or after liballoc_fork_child) the totals of live,
 * in-use and cached blocks are not compared — every structure still is. */
LIBALLOC_API int liballoc_check(void);

/* Return every completely empty chunk (and any run whose earlier free_page failed)
 * to the port. Returns the number of bytes given back. O(number of chunks).
 * Takes the lock; calls liballoc_free_page. */
LIBALLOC_API size_t liballoc_trim(void);

/* Error handler: called with the error code and the offending pointer (or the
 * address of the corrupted metadata), after the heap lock has been released, so it
 * may print, abort, longjmp, or even allocate. If it returns, the bad call is
 * abandoned without touching the heap (free does nothing, realloc returns NULL with
 * EINVAL, malloc_usable_size returns 0). */
typedef void (*liballoc_error_fn)(int error, void *ptr);

/* Give the calling thread's cached blocks back to the heap and stop caching for this
 * thread (its later calls take the locked path). Ports with thread caches call it
 * when a thread ends (see LIBALLOC_THREAD_REGISTER); a no-op without them.
 * O(cached blocks), at most 64 per size class. Takes the lock; may call
 * liballoc_free_page. */
LIBALLOC_API void liballoc_thread_exit(void);

/* Call in the child after fork() (the Linux port does, from its atfork handler),
 * with the lock free. The caches of the other threads, which do not exist in the
 * child, are abandoned: their blocks stay allocated (as glibc's tcaches do) and,
 * since those threads may have been mid-operation, liballoc_check no longer
 * compares the live, in-use and cached totals in this process. A no-op without
 * thread caches. O(threads). Takes the lock; calls no page hook. */
LIBALLOC_API void liballoc_fork_child(void);

/* Install a handler; NULL restores the port's default (LIBALLOC_ERROR_HANDLER, or,
 * if the port has none, only counting in liballoc_stats.errors). Returns the
 * previous handler. Thread-safe. */
LIBALLOC_API liballoc_error_fn liballoc_set_error_handler(liballoc_error_fn handler);

#ifdef __cplusplus
}
#endif

#endif /* LIBALLOC_H */
