/* liballoc.c — the allocator core: heaps of two-level segregated fits with boundary tags over page runs from port hooks. */
/* SPDX-License-Identifier: MIT */
/*
 * Contract: liballoc.h (the API, the port hooks, the configuration). This file is
 * the whole core a kernel author vendors; it reads top to bottom: layout, essay,
 * then the code in the order of the essay. A port with threads or CPUs of its own
 * may put a cache layer in front of the default heap (liballoc_tcache.c, included
 * at section 11 and nowhere else); without it nothing in this file depends on it.
 *
 * Design
 * ======
 *
 * A heap is one struct (struct liballoc_heap below): its free lists, its run lists,
 * its page map, its counters and its port. The default heap, which the malloc
 * family serves, is a static one over the four global hooks; more heaps live in
 * pages from their own port (liballoc_heap_create) or at the start of a fixed region
 * (liballoc_heap_create_in). Nothing else is global but the error handler.
 *
 * Memory comes from the port in page runs. A run is either a CHUNK, which is cut
 * into blocks, or a HUGE run, which holds exactly one block larger than the huge
 * threshold. Both start with a run header; all runs of a kind are on a circular
 * list in the heap (used only by trim, check and destroy). A region heap has one
 * chunk, the region itself, and no huge runs.
 *
 *   chunk: [run hdr][blk hdr|payload ...][blk hdr|payload ...] ... [sentinel hdr]
 *   huge:  [run hdr] ... padding for alignment ... [blk hdr|payload .............]
 *
 * Every block has a 16-byte header right before its 16-byte aligned payload: the
 * byte size of the physically preceding block (the boundary tag), its own size with
 * flag bits, the slack (usable bytes beyond the request) and a check word, a keyed
 * hash of the header's address and size (the small profile keeps only the tag and
 * the size: 8 bytes). Free blocks keep two free-list links in the first payload
 * bytes; the smallest block is 32 bytes. A size-0
 * "sentinel" header ends every chunk and is never free, so coalescing stops at the
 * chunk's end; the first block has boundary tag 0, so it stops at the start.
 *
 * Free blocks are kept in segregated free lists indexed like TLSF (Masmano et al.,
 * ECRTS 2004): the first level is floor(log2(size)), the second splits each power
 * of two into 2^SL_LOG2 equal classes; sizes below 2^(SL_LOG2+4) get exact 16-byte
 * classes. A bitmap per level says which lists are non-empty.
 *
 *   malloc(n): size class c of the block size; if the head of list c is big enough
 *     take it, else take the head of the first non-empty list above c, found with
 *     two find-first-set operations on the bitmaps. Split off the tail if at least
 *     32 bytes remain. If no list qualifies, get a new chunk (one hook call).
 *   free(p): is p inside a run of this heap (the page map; a region heap compares
 *     p with its bounds)? Verify its header, then merge with the physical
 *     neighbours if they are free — found through the boundary tag and the size,
 *     in O(1) — and push the result on the head of its list.
 *
 * Bound. Every step above is a constant number of word operations: list insertion
 * and removal are O(1) on doubly linked lists; a search is at most one list-head
 * probe plus two bitmap scans of one machine word each (count-leading/trailing-zero
 * instructions), i.e. independent of the number of free or live blocks and of the
 * heap size; coalescing looks at exactly two neighbours. So malloc and free take
 * O(1) time plus, when the heap must grow, one alloc_page call for the run (two if
 * the port refuses the grown chunk size and a smaller run is asked for) and
 * setting the page map bits of the new run, O(run pages / 32) word writes, where a
 * chunk is at most max(LIBALLOC_CHUNK_MAX, threshold) bytes: a constant of the
 * configuration; before that, the empty chunks kept as hysteresis (none of which
 * could serve) go back, one free_page call each, their number bounded by the keep
 * budget. Page-map nodes for an address range the heap has never touched cost one
 * alloc_page call each, at most PM_LEVELS - 1 per new run. Huge blocks cost O(1)
 * plus O(pages / 32) for their page map bits. When the port has no pages, the heap
 * gives back what it holds unused (the quarantine, empty chunks, runs whose
 * free_page failed) and tries the allocation once more (h_alloc). The cost of the port hooks themselves is the port's (see the
 * port's documentation). An object cache (section 14) adds O(1) per object, and one
 * heap malloc or free when it takes or lets go of a slab. The cache layer adds
 * refills and flushes of at most TC_BATCH blocks, each O(1), and hands whole bins
 * between threads in O(1) without the heap lock (see liballoc_tcache.c). Misuse is
 * classified on an error path that walks one run, O(run size), never the heap.
 *
 * Space. Rounding a request up to the next class wastes less than 1/2^SL_LOG2 of it
 * only for the search ("good fit" keeps the head probe exact); the split keeps
 * blocks within 31 bytes of the request. TLSF's analysis bounds fragmentation for
 * this policy; we add immediate coalescing and return empty chunks to the port,
 * keeping LIBALLOC_KEEP_EMPTY of them as hysteresis so a malloc/free loop of one big
 * block does not call the page hooks every time.
 *
 * Safety. The page map is a radix tree of bits, one per page the heap holds, so any
 * pointer — stack, static, wild, interior, another heap's — is tested without
 * reading memory the heap does not own. The check word detects interior pointers
 * (an attacker or a bug must guess a 32-bit keyed hash) and overwritten headers
 * (the small profile, which has none, cross-checks the boundary tags instead);
 * neighbours are verified before they are rewritten, so corruption is reported
 * instead of laundered; a free compares the next header's boundary tag with the
 * block's size, so a write past the end into it is reported. Every header a block
 * gives up is erased, so a stale header never validates. Hardened mode adds
 * canaries, poisoning and mangled free-list links (section 7). The port's promises
 * the core can see (page-aligned runs) are checked in every build (section 4).
 *
 * Sections: 1 configuration, 2 data structures, 3 helpers and check words, 4 port
 * calls, 5 page map, 6 free lists, 7 hardening, 8 chunks, 9 huge runs, 10 block
 * operations, 11 the cache layer's seam, 12 heaps, 13 API, 14 object caches,
 * 15 introspection.
 */
#include "liballoc.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/* ==== 1. Configuration =================================================== */

#define PAGE       ((size_t)LIBALLOC_PAGE_SIZE)
#define PAGE_SHIFT ((unsigned)__builtin_ctzll((unsigned long long)LIBALLOC_PAGE_SIZE))
#define ALIGN      ((size_t)16)   /* every payload: max_align_t on x86_64 */
#define CHECKWORD  (!LIBALLOC_SMALL)  /* block headers carry the slack and a keyed check word */
#define HDR        (CHECKWORD ? (size_t)16 : (size_t)8)  /* block header (struct blk) */
#define MIN_BLOCK  ((size_t)32)   /* header + two links, rounded up to 16 */
#define SL_LOG2    LIBALLOC_SL_LOG2
#define SL_COUNT   (1u << SL_LOG2)
#define SMALL_LIMIT ((size_t)SL_COUNT << 4)  /* below: exact 16-byte classes */
#define FL_SHIFT   (SL_LOG2 + 4)
#define FL_COUNT   (LIBALLOC_BLOCK_BITS - FL_SHIFT + 1)  /* block sizes are < 2^BLOCK_BITS */
/* What the small profile leaves out (the code stays, compiled away as dead). */
#define PAGED      (!LIBALLOC_SMALL)   /* page runs from the port: chunks, huge runs, page map */
#define TRAILERS   (!LIBALLOC_SMALL)   /* requester trailers and the quarantine */
#define ALIGNED    (!LIBALLOC_SMALL || LIBALLOC_EXTRAS)  /* alignments above 16 */
#define DEEP_CHECKS (!LIBALLOC_SMALL)  /* neighbours' check words and list links verified */
#define WALKED     LIBALLOC_SMALL      /* live_blocks and free_bytes: counted by liballoc_stats' walk, not per call */
/* The small profile inlines enter() and leave() (section 13) into the calls that use
 * them, and the locked paths of malloc and free (alloc_locked, free_locked) into
 * those two entry points of the default heap, where the heap is a constant. On the
 * peer harness's malloc/free trace (x86_64) the first saves 23 instructions per
 * operation for 84 bytes more code, the second 10 for 198 bytes (Cortex-M3 -Os,
 * malloc/free/calloc/realloc; measured at 5c54e55 and on top of it). */
#if LIBALLOC_SMALL
#define LOCK_INLINE __attribute__((always_inline)) inline
#else
#define LOCK_INLINE
#endif
#if defined(LIBALLOC_THREAD_LOCAL) || defined(LIBALLOC_CPU_CACHES)
#define TC_LAYER 1                    /* the cache layer (section 11) */
#else
#define TC_LAYER 0
#endif
#define MAX_REQUEST ((size_t)PTRDIFF_MAX)
/* A huge block keeps the offset from its run to its header in its size word, below
 * 4 GiB, which caps the alignment a huge block can have. */
#define MAX_ALIGN  ((size_t)1 << 31)
/* The quarantine (section 10): freed blocks held back from reuse, at most this many
 * (and LIBALLOC_QUARANTINE_BYTES). */
#define QUAR_SLOTS (TRAILERS ? 64u : 1u)
/* The most bytes of a region a region heap uses: one chunk. */
#define REGION_MAX ((size_t)1 << (LIBALLOC_BLOCK_BITS < 30 ? LIBALLOC_BLOCK_BITS : 30))

#ifndef LIBALLOC_ADDR_BITS
#define LIBALLOC_ADDR_BITS 48
#endif
#ifndef LIBALLOC_PAGEMAP_LEAF_BITS
#define LIBALLOC_PAGEMAP_LEAF_BITS 15
#endif

/* Preconditions, checked under LIBALLOC_DEBUG (see liballoc.h). */
#ifdef LIBALLOC_DEBUG
#define ASSERT(x) ((x) ? (void)0 : __builtin_trap())
#define LOCKED(h) ((h)->locked)
#else
#define ASSERT(x) ((void)sizeof(!(x)))  /* not evaluated */
#define LOCKED(h) ((h)->ready || 1)
#endif

#if LIBALLOC_STATS
#define STAT(x) ((void)(x))
#else
#define STAT(x) ((void)0)
#endif

#ifdef LIBALLOC_SET_ERRNO
#define SET_ERRNO(e) LIBALLOC_SET_ERRNO(e)
#else
#define SET_ERRNO(e) ((void)0)
#endif

/* Relaxed atomic access (a plain load or store on every supported target) for the
 * words one thread touches without the lock while another may read them: the page
 * map, boundary tags, the slack word, counters of the cache layer. */
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

_Static_assert(LIBALLOC_PAGE_SIZE >= 256 && (LIBALLOC_PAGE_SIZE & (LIBALLOC_PAGE_SIZE - 1)) == 0,
	       "LIBALLOC_PAGE_SIZE must be a power of two >= 256");
_Static_assert(SL_LOG2 >= 2 && SL_LOG2 <= 5, "LIBALLOC_SL_LOG2 must be 2..5 (bitmaps are 32-bit)");
_Static_assert(LIBALLOC_HUGE_THRESHOLD <= LIBALLOC_HUGE_THRESHOLD_MAX && LIBALLOC_HUGE_THRESHOLD_MAX <= (1u << 30),
	       "huge threshold out of range (at most 1 GiB)");
_Static_assert(LIBALLOC_CHUNK_MIN % LIBALLOC_PAGE_SIZE == 0 && LIBALLOC_CHUNK_MAX % LIBALLOC_PAGE_SIZE == 0,
	       "chunk sizes must be multiples of the page size");
_Static_assert(LIBALLOC_CHUNK_MIN <= LIBALLOC_CHUNK_MAX && LIBALLOC_CHUNK_MAX <= (1u << 30),
	       "chunk size limits out of range");
_Static_assert(LIBALLOC_BLOCK_BITS >= 16 && LIBALLOC_BLOCK_BITS <= 32, "LIBALLOC_BLOCK_BITS must be 16..32");
_Static_assert(!PAGED || (LIBALLOC_CHUNK_MAX < ((uint64_t)1 << LIBALLOC_BLOCK_BITS) &&
			  LIBALLOC_HUGE_THRESHOLD_MAX < ((uint64_t)1 << LIBALLOC_BLOCK_BITS)),
	       "chunks and the huge threshold must stay below 2^LIBALLOC_BLOCK_BITS");
#if LIBALLOC_SMALL && (LIBALLOC_HARDENED || defined(LIBALLOC_THREAD_LOCAL) || defined(LIBALLOC_CPU_CACHES))
#error "the small profile has no hardened mode and no cache layer"
#endif
_Static_assert(__alignof__(long double) <= 16 && __alignof__(long long) <= 16 && __alignof__(void *) <= 16,
	       "payloads are 16-byte aligned, enough for every scalar type");

/* ==== 2. Data structures ================================================= */

/*
 * struct blk — the header before every payload: 16 bytes, 8 in the small profile,
 * which keeps only prev and size (see CHECKWORD below).
 *   prev   chunk block: size in bytes of the physically preceding block, 0 for the
 *          first block of a chunk (this is the boundary tag that makes coalescing
 *          with the predecessor O(1)). Huge block: 0.
 *   size   chunk block: size in bytes including this header, a multiple of 16 (0
 *          marks the sentinel ending a chunk); huge block: byte offset from its run
 *          to this header, a multiple of 16. ORed with the flags below.
 *   slack  live block: usable bytes beyond the requested size (so requested =
 *          usable - slack); SLACK_CACHED: held in the cache layer; SLACK_FREED:
 *          freed, held in the quarantine; free: 0.
 *   check  keyed hash of the header's address and `size`. It leaves out `prev`,
 *          which the predecessor's merges rewrite under the lock while the block's
 *          owner may be validating it without the lock, and `slack`, which the
 *          owner rewrites without the lock. `prev` is cross-checked instead: it
 *          must equal the verified size of the block it leads to.
 * Invariants (checked by liballoc_check): a free block is never physically next
 * to another free block; block.prev == size of the predecessor; a free block is
 * in exactly the list its size maps to; F_ZERO only on free blocks. A live block's
 * size and check change only under the lock; its slack only by its owner.
 *
 * The small profile's header (CHECKWORD 0) has no slack and no check word: a live
 * block's requested size is its usable size, and what the check word proves — that
 * a pointer leads to a header, not into a payload — the boundary tags prove
 * instead (tags_ok, section 10): the header must keep its block inside the region,
 * the next header's tag must name its size, and its own tag the size of the block
 * before it (0 only for the region's first block). A stray pointer passes only if
 * the words at three places agree, which data seldom does by accident but a
 * program that forges headers on purpose can make happen; the keyed check word is
 * what resists that, for 8 more bytes per block. Everything else holds as above.
 *
 * A block with F_REQ ends with a trailer (struct trail, TRAIL bytes): who asked for
 * it (the requester: the caller of malloc, or a file:line a kernel passes) and, once
 * freed into the quarantine, who freed it. Blocks get one only while requesters are
 * recorded (liballoc_record_requesters), so without recording the header is the only
 * metadata. The trailer is not usable: usable() stops before it.
 */
typedef struct blk {
	uint32_t prev;
	uint32_t size;
#if CHECKWORD
	uint32_t slack;
	uint32_t check;
#endif
} blk;
_Static_assert(sizeof(blk) == HDR, "block header must be HDR bytes");

#define F_USED 1u   /* block is live, cached by the cache layer, or a sentinel */
#define F_HUGE 2u   /* block owns a huge run */
#define F_ZERO 4u   /* free block whose payload beyond the links is all zero */
#define F_REQ  8u   /* live (or quarantined) block with a trailer naming its requester */
#define F_MASK 15u
#define SLACK_CACHED UINT32_MAX
#define SLACK_FREED  (UINT32_MAX - 1)

typedef struct trail {
	const void *site;      /* the requester */
	const void *freed_at;  /* who freed it (quarantined or cached blocks) */
} trail;
#define TRAIL ((size_t)16)
_Static_assert(sizeof(trail) <= TRAIL, "the trailer must fit 16 bytes");

/* Free-list links, in the first payload bytes of a free block (the cache layer uses
 * `next` only). */
typedef struct links {
	uintptr_t next, prev;
} links;
_Static_assert(sizeof(links) <= 16, "links must fit the smallest payload");

/*
 * struct run — the header at the start of every page run the heap holds (and of a
 * region heap's chunk). check covers the address, pages, aux and kind, so a run
 * header is found again by scanning page starts backwards (misuse classification)
 * without trusting memory.
 *   aux  huge run: byte offset from the run to its block header; chunk: bytes by
 *        which the chunk falls short of `pages` whole pages (non-zero only for a
 *        region heap's chunk, which need not end on a page boundary).
 */
typedef struct run {
	struct run *next, *prev;  /* circular list of runs of one kind */
	uint32_t pages;           /* length in pages, rounded up */
	uint32_t aux;
	uint32_t kind;            /* RUN_* */
	uint32_t check;
} run;
#define RUN_CHUNK 0x43484e4bu  /* a chunk of blocks */
#define RUN_HUGE  0x48554745u  /* one huge block */
#define RUN_DEAD  0x44454144u  /* a freed huge run whose free_page failed; trim retries */
#define RUN_HDR   ((size_t)48 - HDR)  /* so that a chunk's first payload is 16-aligned */
_Static_assert(sizeof(run) <= RUN_HDR, "run header must fit RUN_HDR bytes");
_Static_assert(RUN_HDR + 2 * HDR + MIN_BLOCK <= LIBALLOC_PAGE_SIZE, "page too small");

/* Page map geometry: KEY_BITS of page number, split into root / mid / leaf. The root
 * lives in the heap struct (256 entries on 64-bit), mid nodes and leaves in pages
 * from the port. */
#if UINTPTR_MAX > 0xffffffffu
#define PM_ADDR_BITS LIBALLOC_ADDR_BITS
#define PM_LEVELS 3
#else
#define PM_ADDR_BITS 32
#define PM_LEVELS 2
#endif
#define PM_KEY_BITS  (PM_ADDR_BITS - PAGE_SHIFT)
#define PM_LEAF_BITS (PM_KEY_BITS < LIBALLOC_PAGEMAP_LEAF_BITS ? PM_KEY_BITS : LIBALLOC_PAGEMAP_LEAF_BITS)
#if PM_LEVELS == 3
#define PM_MID_BITS  (PM_KEY_BITS - PM_LEAF_BITS - 8 < 13 ? PM_KEY_BITS - PM_LEAF_BITS - 8 : 13)
#else
#define PM_MID_BITS  0
#endif
#define PM_ROOT_BITS (PM_KEY_BITS - PM_LEAF_BITS - PM_MID_BITS)
#define PM_LEAF_MASK (((uintptr_t)1 << PM_LEAF_BITS) - 1)
#define PM_MID_MASK  (((uintptr_t)1 << PM_MID_BITS) - 1)

typedef struct pm_leaf {
	uint32_t bits[((size_t)1 << PM_LEAF_BITS) / 32];
} pm_leaf;
#if PM_LEVELS == 3
typedef struct pm_mid {
	pm_leaf *leaf[(size_t)1 << PM_MID_BITS];
} pm_mid;
typedef pm_mid pm_top;
#else
typedef pm_leaf pm_top;
#endif

/*
 * The heap. A region heap (lo < hi) has no port, no page map (its struct ends
 * before pm_root, which is never touched) and one chunk; a paged heap has lo == hi
 * == 0. The default heap calls the four global hooks directly; its `port` is unused.
 */
struct liballoc_heap {
	struct liballoc_port port;            /* the hooks (heap_create); zero otherwise */
	uintptr_t key[2];                     /* secret for check words and link mangling */
	uintptr_t lo, hi;                     /* a region heap's bounds */
	uint32_t fl_map;                      /* bit f: sl_map[f] != 0 */
	uint32_t sl_map[FL_COUNT];            /* bit s: free[f][s] != NULL */
	blk *free[FL_COUNT][SL_COUNT];        /* segregated free lists */
	run chunks, huges;                    /* list heads */
	size_t empty_chunks, empty_bytes;     /* chunks that are one free block, and their bytes */
	size_t chunk_bytes;                   /* bytes held in chunks */
	size_t huge_threshold;                /* block sizes above go to huge runs */
	size_t own_pages;                     /* pages of this struct (heap_create), else 0 */
	size_t tc_in_use;                     /* in-use bytes the cache layer folded in without the lock */
	struct liballoc_cache *caches;        /* object caches (section 14) */
	blk *quar[QUAR_SLOTS];                /* the quarantine: a ring of freed blocks, oldest at quar_head */
	uint32_t quar_head, quar_n;
	size_t quar_bytes;                    /* their usable bytes */
	struct liballoc_stats st;
	int ready;                            /* initialised (the default heap: lazily) */
#ifdef LIBALLOC_DEBUG
	int locked;                           /* the lock is held (for preconditions) */
#endif
	pm_top *pm_root[PAGED ? (size_t)1 << PM_ROOT_BITS : 1];  /* paged heaps only: keep last */
};
typedef struct liballoc_heap heap;
#define REGION_HEAP_BYTES (offsetof(heap, pm_root))

static heap g_heap;  /* the default heap */
#define G (&g_heap)

/* One API call's record: its requester (the site recorded in new blocks' trailers
 * and in freed ones', NULL when requesters are not recorded), and a misuse or
 * corruption found under the lock, reported after unlocking. */
typedef struct fault {
	int code;
	void *ptr;
	const void *site;
} fault;
#define NO_FAULT {0, NULL, NULL}

#ifdef LIBALLOC_ERROR_HANDLER
static liballoc_error_fn g_handler = LIBALLOC_ERROR_HANDLER;
#else
static liballoc_error_fn g_handler;
#endif
/* Record requesters in new blocks (liballoc_record_requesters): on in hardened mode. */
static int g_record = LIBALLOC_HARDENED;

/* ==== 3. Helpers and check words ========================================= */

static inline uintptr_t align_up(uintptr_t x, uintptr_t a) { return (x + a - 1) & ~(a - 1); }
static inline uintptr_t page_floor(uintptr_t x) { return x & ~(uintptr_t)(PAGE - 1); }
static inline int is_pow2(size_t x) { return x && !(x & (x - 1)); }
static inline unsigned fls32(uint32_t x) { return 31u - (unsigned)__builtin_clz(x); }
static inline unsigned ffs32(uint32_t x) { return (unsigned)__builtin_ctz(x); }
static inline size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

static inline size_t bsize(const blk *b) { return b->size & ~F_MASK; }
static inline int used(const blk *b) { return b->size & F_USED; }
/* F_ZERO of free block b: only pages from a port start zeroed (never a region). */
static inline uint32_t zero_of(const blk *b) { return PAGED ? b->size & F_ZERO : 0; }
static inline void *payload(const blk *b) { return (char *)b + HDR; }
static inline blk *blk_of(const void *p) { return (blk *)((uintptr_t)p - HDR); }
static inline blk *next_blk(const blk *b) { return (blk *)((char *)b + bsize(b)); }
static inline blk *prev_blk(const blk *b) { return (blk *)((char *)b - b->prev); }
static inline links *L(const blk *b) { return (links *)payload(b); }
#if CHECKWORD
static inline uint32_t slack_of(const blk *b) { return LOAD(b->slack); }
static inline void set_slack(blk *b, uint32_t slack) { STORE(b->slack, slack); }
#else
static inline uint32_t slack_of(const blk *b) { (void)b; return 0; }  /* requested = usable */
static inline void set_slack(blk *b, uint32_t slack) { (void)b, (void)slack; }
#endif
static inline void set_prev(blk *b, size_t prev) { STORE(b->prev, (uint32_t)prev); }
static inline run *huge_run(const blk *b) { return (run *)((char *)b - bsize(b)); }
static inline size_t run_bytes(const run *r) { return (size_t)r->pages * PAGE - (r->kind == RUN_CHUNK ? r->aux : 0); }

/* A keyed 32-bit hash of an address and a 32-bit value: the check words. On 64-bit
 * machines one multiply by an odd constant, keeping the high half: every input bit
 * reaches it, and a change of the value alone always changes it (the product of an
 * odd constant and a nonzero multiple of 2^32 is not 0 mod 2^64); on 32-bit ones a
 * multiply-xorshift mix. */
static inline uint32_t keyed(const heap *h, uintptr_t a, uint32_t v)
{
#if UINTPTR_MAX > 0xffffffffu
	uint64_t x = (((uint64_t)v << 32) ^ a ^ h->key[0]) * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(x >> 32) ^ (uint32_t)h->key[1];
#else
	uint32_t x = (v ^ h->key[0]) + (a ^ h->key[1]) * 0x9e3779b9u;
	x ^= x >> 15;
	x *= 0x2c1b3c6du;
	x ^= x >> 12;
	x *= 0x297a2d39u;
	return x ^ (x >> 15);
#endif
}

/* The first block of a region heap's one chunk. */
static inline const blk *region_first(const heap *h) { return (const blk *)(h->lo + RUN_HDR); }

/* Is b's header, read on its own, sound? The check word; without one (the small
 * profile, always a region heap) that the size keeps the block within the region.
 * A walk that reached b block by block needs no more; a pointer from outside
 * needs hdr_genuine (section 10). */
static inline int hdr_ok(const heap *h, const blk *b)
{
#if CHECKWORD
	return b->check == keyed(h, (uintptr_t)b, b->size);
#else
	uintptr_t end = h->hi - HDR;  /* the sentinel */
	return b >= region_first(h) && (uintptr_t)b <= end && bsize(b) <= end - (uintptr_t)b;
#endif
}

/* Rewrite b's size (and slack and check word); its boundary tag stays. */
static inline void hdr_put(const heap *h, blk *b, size_t size, size_t slack)
{
	b->size = (uint32_t)size;
	set_slack(b, (uint32_t)slack);
#if CHECKWORD
	b->check = keyed(h, (uintptr_t)b, b->size);
#else
	(void)h;
#endif
}

static inline void hdr_set(const heap *h, blk *b, size_t prev, size_t size, size_t slack)
{
	set_prev(b, prev);
	hdr_put(h, b, size, slack);
}

static inline uint32_t run_hash(const heap *h, const run *r)
{
	return keyed(h, (uintptr_t)r, keyed(h, r->pages, r->aux ^ r->kind));
}

static inline int run_ok(const heap *h, const run *r)
{
	return r->check == run_hash(h, r) &&
	       (r->kind == RUN_CHUNK || r->kind == RUN_HUGE || r->kind == RUN_DEAD);
}

/* The trailer's bytes at the end of block b: TRAIL with F_REQ, else 0 (no branch). */
_Static_assert(TRAIL == 2 * F_REQ, "trailer_of shifts the flag into the size");
static inline size_t trailer_of(const blk *b) { return TRAILERS ? (size_t)(b->size & F_REQ) << 1 : 0; }

static inline size_t usable(const blk *b)
{
	size_t trailer = trailer_of(b);
	if (PAGED && __builtin_expect(b->size & F_HUGE, 0)) {
		const run *r = huge_run(b);
		return (size_t)((const char *)r + run_bytes(r) - (const char *)payload(b)) - trailer;
	}
	return bsize(b) - HDR - trailer;
}

/* The trailer of an F_REQ block, right after its usable bytes. */
static inline trail *trail_of(const blk *b) { return (trail *)(void *)((char *)payload(b) + usable(b)); }

static inline void set_trail(const blk *b, const void *site)
{
	if (TRAILERS && (b->size & F_REQ)) {
		trail *t = trail_of(b);
		t->site = site;
		t->freed_at = NULL;
	}
}

/* Bytes the user asked for (the requested size of a live block). */
static inline size_t requested(const blk *b) { return usable(b) - slack_of(b); }

/* Has something written past the end of live chunk block b, into the next header?
 * Its boundary tag must name b's size: one load, cheap enough for every free. */
static inline int overflowed(const blk *b) { return LOAD(next_blk(b)->prev) != bsize(b); }

static int verify(const heap *h, blk *b, fault *f)
{
	if (hdr_ok(h, b))
		return 1;
	f->code = LIBALLOC_E_HEADER;
	f->ptr = payload(b);
	return 0;
}

static inline void set_fault(fault *f, int code, void *ptr)
{
	f->code = code;
	f->ptr = ptr;
}

/* ==== 4. Port calls ====================================================== */

/* The hooks themselves: the four global functions for the default heap, the port's
 * for an instance (a region heap has none: it never gets or gives pages). */
static void *hook_alloc(heap *h, size_t pages)
{
	if (h == G)
		return liballoc_alloc_page(pages);
	return h->port.alloc_page ? h->port.alloc_page(h->port.ctx, pages) : NULL;
}

static int hook_free(heap *h, void *a, size_t pages)
{
	if (h == G)
		return liballoc_free_page(a, pages);
	return h->port.free_page ? h->port.free_page(h->port.ctx, a, pages) : -1;
}

static int hook_lock(heap *h)
{
	if (__builtin_expect(h == G, 1))  /* the default heap's call stays on the straight path */
		return liballoc_lock();
	return h->port.lock ? h->port.lock(h->port.ctx) : 0;
}

static int hook_unlock(heap *h)
{
	if (__builtin_expect(h == G, 1))
		return liballoc_unlock();
	return h->port.unlock ? h->port.unlock(h->port.ctx) : 0;
}


/* Give pages back (lock held); false if the port refused them (they stay counted). */
static int port_free(heap *h, void *a, size_t pages)
{
	ASSERT(LOCKED(h) && pages > 0 && ((uintptr_t)a & (PAGE - 1)) == 0);
	STAT(h->st.free_page_calls++);
	if (hook_free(h, a, pages) != 0) {
		STAT(h->st.free_page_failures++);
		return 0;
	}
	h->st.obtained -= pages * PAGE;
	return 1;
}

/* Pages from the port (lock held); NULL when it has none (h_alloc then gives
 * back what the heap holds unused and tries once more). A run that is not
 * page-aligned breaks the contract: it is reported (LIBALLOC_E_PORT), handed back,
 * and the request fails as if there were no pages. */
static void *port_alloc(heap *h, size_t pages, fault *f)
{
	ASSERT(LOCKED(h) && pages > 0);
	STAT(h->st.alloc_page_calls++);
	void *p = hook_alloc(h, pages);
	if (!p) {
		STAT(h->st.alloc_page_failures++);
		return NULL;
	}
	if ((uintptr_t)p & (PAGE - 1)) {
		set_fault(f, LIBALLOC_E_PORT, p);
		STAT(h->st.free_page_calls++);
		if (hook_free(h, p, pages) != 0)
			STAT(h->st.free_page_failures++);
		return NULL;
	}
	h->st.obtained += pages * PAGE;
	if (h->st.obtained > h->st.obtained_peak)
		h->st.obtained_peak = h->st.obtained;
	return p;
}

/* ==== 5. Page map ======================================================== */

/*
 * One bit per page: set while the page belongs to a run of this heap. Nodes come
 * from the port and are kept until the heap is destroyed (their number is bounded
 * by the address ranges the heap has ever touched); liballoc_stats reports them as
 * metadata. Lookup is PM_LEVELS dependent loads; no memory outside the map is read.
 * Writers hold the lock; readers need not (the cache layer's free path), so nodes
 * are published with release stores and bits are accessed atomically. A region heap
 * has no page map: its bounds say what it owns.
 */
static inline int pm_key(uintptr_t a, uintptr_t *key)
{
#if PM_LEVELS == 3
	uintptr_t top = a >> (PM_ADDR_BITS - 1);
	if (top != 0 && top != (UINTPTR_MAX >> (PM_ADDR_BITS - 1)))
		return 0;  /* not a canonical address */
	*key = (a >> PAGE_SHIFT) & (((uintptr_t)1 << PM_KEY_BITS) - 1);
#else
	*key = a >> PAGE_SHIFT;
#endif
	return 1;
}

static inline pm_top **pm_top_slot(heap *h, uintptr_t key) { return &h->pm_root[key >> (PM_LEAF_BITS + PM_MID_BITS)]; }

static inline pm_leaf *pm_leaf_of(const heap *h, uintptr_t key)
{
	pm_top *top = __atomic_load_n(&h->pm_root[key >> (PM_LEAF_BITS + PM_MID_BITS)], __ATOMIC_ACQUIRE);
#if PM_LEVELS == 3
	if (!top)
		return NULL;
	return __atomic_load_n(&top->leaf[(key >> PM_LEAF_BITS) & PM_MID_MASK], __ATOMIC_ACQUIRE);
#else
	return top;
#endif
}

static inline int pm_test(const heap *h, uintptr_t a)
{
	uintptr_t key;
	if (!pm_key(a, &key))
		return 0;
	const pm_leaf *leaf = pm_leaf_of(h, key);
	uintptr_t i = key & PM_LEAF_MASK;
	return leaf && (LOAD(leaf->bits[i / 32]) >> (i % 32) & 1);
}

/* Does address a belong to a run (or the region) of heap h? O(1), reads only the
 * heap's own metadata. */
static inline int owns(const heap *h, uintptr_t a)
{
	if (!PAGED || h->hi)
		return a - h->lo < h->hi - h->lo;
	return pm_test(h, a);
}

static inline size_t pages_for(size_t bytes) { return (bytes + PAGE - 1) / PAGE; }

static void *pm_node(heap *h, size_t bytes, fault *f)
{
	void *n = port_alloc(h, pages_for(bytes), f);
	if (!n)
		return NULL;
	if (!LIBALLOC_PAGES_ZEROED)
		__builtin_memset(n, 0, pages_for(bytes) * PAGE);
	h->st.metadata += pages_for(bytes) * PAGE;
	return n;
}

/* Make sure nodes exist for every page of [a, a + bytes). 0: out of memory (nodes
 * already made stay; they are harmless). */
static int pm_ensure(heap *h, uintptr_t a, size_t bytes, fault *f)
{
	uintptr_t k0, k1;
	ASSERT(LOCKED(h) && !h->hi);
	if (!pm_key(a, &k0) || !pm_key(a + bytes - 1, &k1) || k1 < k0)
		return 0;
	for (uintptr_t k = k0 & ~PM_LEAF_MASK; k <= k1; k += PM_LEAF_MASK + 1) {
		pm_top **top = pm_top_slot(h, k);
		if (!*top) {
			pm_top *node = pm_node(h, sizeof(pm_top), f);
			if (!node)
				return 0;
			__atomic_store_n(top, node, __ATOMIC_RELEASE);
		}
#if PM_LEVELS == 3
		pm_leaf **leaf = &(*top)->leaf[(k >> PM_LEAF_BITS) & PM_MID_MASK];
		if (!*leaf) {
			pm_leaf *node = pm_node(h, sizeof(pm_leaf), f);
			if (!node)
				return 0;
			__atomic_store_n(leaf, node, __ATOMIC_RELEASE);
		}
#endif
	}
	return 1;
}

/* Set or clear the bits of [a, a + bytes). Setting needs the nodes (pm_ensure);
 * clearing skips ranges that have none. O(bytes / PAGE / 32). */
static void pm_set(heap *h, uintptr_t a, size_t bytes, int on)
{
	uintptr_t k = 0, end;
	ASSERT(LOCKED(h) && !h->hi && bytes % PAGE == 0);
	if (!pm_key(a, &k))
		return;
	end = k + bytes / PAGE;
	while (k < end) {
		pm_leaf *leaf = pm_leaf_of(h, k);
		uintptr_t i = k & PM_LEAF_MASK, n = min_sz(end - k, PM_LEAF_MASK + 1 - i);
		ASSERT(leaf || !on);
		for (uintptr_t j = i; leaf && j < i + n;) {
			uint32_t bit = (uint32_t)(j % 32), w = LOAD(leaf->bits[j / 32]);
			uintptr_t span = min_sz(32 - bit, i + n - j);
			uint32_t mask = (span == 32 ? ~0u : ((1u << span) - 1)) << bit;
			STORE(leaf->bits[j / 32], on ? w | mask : w & ~mask);
			j += span;
		}
		k += n;
	}
}

/* Give every page-map node back (heap destroy). O(nodes). */
static void pm_release(heap *h)
{
	for (size_t t = 0; t < ((size_t)1 << PM_ROOT_BITS); t++) {
		pm_top *top = h->pm_root[t];
		if (!top)
			continue;
#if PM_LEVELS == 3
		for (size_t m = 0; m <= PM_MID_MASK; m++)
			if (top->leaf[m] && port_free(h, top->leaf[m], pages_for(sizeof(pm_leaf))))
				h->st.metadata -= pages_for(sizeof(pm_leaf)) * PAGE;
#endif
		if (port_free(h, top, pages_for(sizeof(pm_top))))
			h->st.metadata -= pages_for(sizeof(pm_top)) * PAGE;
		h->pm_root[t] = NULL;
	}
}

/* ==== 6. Segregated free lists =========================================== */

static inline void mapping(size_t size, unsigned *fl, unsigned *sl)
{
	if (size < SMALL_LIMIT) {
		*fl = 0;
		*sl = (unsigned)(size >> 4);
	} else {
		unsigned f = fls32((uint32_t)size);
		*sl = (unsigned)(size >> (f - SL_LOG2)) ^ SL_COUNT;
		*fl = f - FL_SHIFT + 1;
	}
}

/* Links are stored mangled with the secret in hardened mode, so a use-after-free
 * write of a plain pointer does not give the attacker a chosen next block. */
static inline uintptr_t mangle(const heap *h, blk *p)
{
	return (uintptr_t)p ^ (LIBALLOC_HARDENED ? (uintptr_t)h->key[1] : 0);
}
static inline blk *demangle(const heap *h, uintptr_t v)
{
	return (blk *)(v ^ (LIBALLOC_HARDENED ? (uintptr_t)h->key[1] : 0));
}

static void insert_free(heap *h, blk *b)
{
	unsigned fl, sl;
	ASSERT(LOCKED(h) && !used(b) && bsize(b) >= MIN_BLOCK && bsize(b) % 16 == 0);
	mapping(bsize(b), &fl, &sl);
	blk *head = h->free[fl][sl];
	L(b)->next = mangle(h, head);
	L(b)->prev = mangle(h, NULL);
	if (head)
		L(head)->prev = mangle(h, b);
	h->free[fl][sl] = b;
	h->sl_map[fl] |= 1u << sl;
	h->fl_map |= 1u << fl;
	if (!WALKED)
		h->st.free_bytes += bsize(b);
}

/* Do b's neighbours in its list point back at it? (The classic safe-unlinking
 * check; nearly free since unlinking touches the same words.) Hardened mode first
 * makes sure a link leads into the heap, since a forged mangled link demangles to
 * an arbitrary address. */
static int links_ok(const heap *h, const blk *b, fault *f)
{
	unsigned fl, sl;
	mapping(bsize(b), &fl, &sl);
	blk *n = demangle(h, L(b)->next), *p = demangle(h, L(b)->prev);
	if ((LIBALLOC_HARDENED && ((n && !owns(h, (uintptr_t)n)) || (p && !owns(h, (uintptr_t)p)))) ||
	    (n && demangle(h, L(n)->prev) != b) || (p ? demangle(h, L(p)->next) != b : h->free[fl][sl] != b)) {
		set_fault(f, LIBALLOC_E_FREE_LIST, payload(b));
		return 0;
	}
	return 1;
}

/* Unlink b from its list, list (fl, sl); links_ok(b) must hold. */
static void unlink_free(heap *h, blk *b, unsigned fl, unsigned sl)
{
	fault ignored = NO_FAULT;
	ASSERT(LOCKED(h) && !used(b) && links_ok(h, b, &ignored));
	blk *n = demangle(h, L(b)->next), *p = demangle(h, L(b)->prev);
	if (n)
		L(n)->prev = mangle(h, p);
	if (p)
		L(p)->next = mangle(h, n);
	else if (!(h->free[fl][sl] = n)) {
		h->sl_map[fl] &= ~(1u << sl);
		if (!h->sl_map[fl])
			h->fl_map &= ~(1u << fl);
	}
	if (!WALKED)
		h->st.free_bytes -= bsize(b);
}

/* Unlink b from the list its size maps to. */
static void remove_free(heap *h, blk *b)
{
	unsigned fl, sl;
	mapping(bsize(b), &fl, &sl);
	unlink_free(h, b, fl, sl);
}

/* A free block of at least `size` bytes, the head of list (*fl, *sl), or NULL.
 * O(1): one list-head probe in the exact class, then the first non-empty class
 * above it via the two bitmaps. Inline, so *fl and *sl stay in registers. */
__attribute__((always_inline)) static inline blk *find_free(const heap *h, size_t size, unsigned *fl, unsigned *sl)
{
	ASSERT(LOCKED(h) && size % 16 == 0);
	mapping(size, fl, sl);
	blk *b = h->free[*fl][*sl];
	if (b && bsize(b) >= size)
		return b;
	uint32_t m = *sl + 1 < 32 ? h->sl_map[*fl] & (~0u << (*sl + 1)) : 0;
	if (!m) {
		uint32_t fm = *fl + 1 < 32 ? h->fl_map & (~0u << (*fl + 1)) : 0;
		if (!fm)
			return NULL;
		*fl = ffs32(fm);
		m = h->sl_map[*fl];
	}
	*sl = ffs32(m);
	return h->free[*fl][*sl];
}

/* ==== 7. Hardening ======================================================= */

/*
 * Hardened mode keeps three invariants, each checked where it is cheap:
 *   - a live block's slack (at least one byte) holds its canary byte, checked on
 *     free, realloc and malloc_usable_size: a write past the end is reported;
 *   - a free block's payload beyond the links is all POISON (or all zero with
 *     F_ZERO), checked when any of it is handed out again and by liballoc_check:
 *     a write to freed memory is reported; blocks in the cache layer likewise;
 *   - free-list links are mangled with the secret (section 6).
 * In the default build canary_* and poison are no-ops; the fill merge still
 * maintains F_ZERO.
 */
#define POISON 0x5a

static inline size_t canary_room(void) { return LIBALLOC_HARDENED ? 1 : 0; }

/* The canary's first byte for a block: keyed by its address only, since header
 * words change (a neighbour's merge rewrites the boundary tag) while the canary
 * stays. Byte i of the canary is that plus i times an odd step, with the top bit
 * set (canary_at): the bytes of one canary all differ (an odd step is a bijection
 * mod 128, and CANARY_MAX < 128), so an overflow that writes one value over two or
 * more of them (a memset, a run of one character) is always seen; and none is
 * below 0x80, so a one-byte overflow of a NUL terminator or of text is always seen.
 * One byte alone of another value is missed with probability 1/128. */
static inline uint8_t canary_byte(const heap *h, const blk *b)
{
	return (uint8_t)(((uintptr_t)b >> 4) * 0x9du ^ (uintptr_t)h->key[0]);
}
#define CANARY_STEP 0x3bu
static inline uint8_t canary_at(uint8_t first, size_t i) { return (uint8_t)(0x80u | (first + i * CANARY_STEP)); }

/* The canary: the first CANARY_MAX bytes of the slack after the requested size,
 * enough to catch a linear overflow, and bounded, so that a block with headroom
 * (realloc growth) is not rewritten whole at every resize. */
#define CANARY_MAX ((size_t)16)

/* Write b's canary for a slack of `slack` bytes (the slack b has or is about to get). */
static void canary_put(const heap *h, blk *b, size_t slack)
{
	if (!LIBALLOC_HARDENED)
		return;
	uint8_t *p = (uint8_t *)payload(b) + usable(b) - slack, c = canary_byte(h, b);
	for (size_t i = 0, n = min_sz(slack, CANARY_MAX); i < n; i++)
		p[i] = canary_at(c, i);
}

static void canary_set(const heap *h, blk *b) { canary_put(h, b, slack_of(b)); }

static int canary_ok(const heap *h, const blk *b)
{
	if (!LIBALLOC_HARDENED)
		return 1;
	size_t slack = slack_of(b), n = min_sz(slack, CANARY_MAX);
	const uint8_t *p = (const uint8_t *)payload(b) + usable(b) - slack, c = canary_byte(h, b);
	if (slack == 0)
		return 0;  /* hardened blocks always keep at least one canary byte */
	for (size_t i = 0; i < n; i++)
		if (p[i] != canary_at(c, i))
			return 0;
	return 1;
}

/* Is [a, a + n) all `v`? A word at a time: fills start 16-aligned and span
 * multiples of 16 bytes; a byte loop takes any rest. */
static int filled(const void *a, int v, size_t n)
{
	const unsigned char *p = a;
	size_t i = 0;
	if (!((uintptr_t)p & (sizeof(uintptr_t) - 1))) {
		uintptr_t w = (uintptr_t)0x0101010101010101ull * (unsigned char)v;
		for (; i + sizeof w <= n; i += sizeof w)
			if (*(const uintptr_t *)(const void *)(p + i) != w)
				return 0;
	}
	for (; i < n; i++)
		if (p[i] != (unsigned char)v)
			return 0;
	return 1;
}

/* The fill of a free block covers its payload from byte 16 (after the links). */
static inline void *fill_start(const blk *b) { return (char *)payload(b) + 16; }
static inline size_t fill_len(size_t size) { return size - HDR - 16; }

static void poison(void *a, size_t n)
{
	if (LIBALLOC_HARDENED)
		__builtin_memset(a, POISON, n);
}

/* Hardened: is the fill of a block of `size` bytes (zero or poison) intact? */
static int fill_intact(const blk *b, size_t size, uint32_t zero)
{
	return !LIBALLOC_HARDENED || filled(fill_start(b), zero ? 0 : POISON, fill_len(size));
}

/*
 * Merge the fills of two physically adjacent free areas: `lo` (lsize bytes, zero
 * if lz) and `hi` (hsize bytes, zero if hz), hi's header and links becoming payload
 * of lo. Returns F_ZERO if the result is all zero. hi's header is always erased so
 * no stale header can validate later.
 */
static uint32_t merge_fill(blk *lo, size_t lsize, uint32_t lz, blk *hi, size_t hsize, uint32_t hz)
{
	if (lz && hz) {
		__builtin_memset(hi, 0, HDR + 16);
		return F_ZERO;
	}
	if (LIBALLOC_HARDENED) {
		if (lz)
			poison(fill_start(lo), fill_len(lsize));
		if (hz)
			poison(fill_start(hi), fill_len(hsize));
		poison(hi, HDR + 16);
	} else {
		__builtin_memset(hi, 0, HDR);
	}
	return 0;
}

/* ==== 8. Chunks ========================================================== */

static void run_insert(run *after, run *r)
{
	r->next = after->next;
	r->prev = after;
	after->next->prev = r;
	after->next = r;
}

/* Set up run r's header and link it after `after` (a list head: at the front). */
static void run_link(heap *h, run *after, run *r, size_t pages, size_t aux, uint32_t kind)
{
	r->pages = (uint32_t)pages;
	r->aux = (uint32_t)aux;
	r->kind = kind;
	r->check = run_hash(h, r);
	run_insert(after, r);
}

static void run_unlink(run *r)
{
	r->prev->next = r->next;
	r->next->prev = r->prev;
}

/* Give run r (its header erased) back to the port; if the port refuses, keep it
 * listed as a dead run, for trim to retry. 1 if it went back. */
static int run_drop(heap *h, run *r, size_t pages, size_t aux)
{
	if (port_free(h, r, pages))
		return 1;
	run_link(h, &h->huges, r, pages, aux, RUN_DEAD);
	return 0;
}

static inline blk *chunk_first(const run *r) { return (blk *)((char *)r + RUN_HDR); }
static inline run *chunk_of_first(const blk *b) { return (run *)((char *)b - RUN_HDR); }

/* A free block that is the whole of its chunk: first (tag 0) and followed by the
 * sentinel. */
static inline int whole(const blk *b) { return b->prev == 0 && next_blk(b)->size == F_USED; }

/* Count whole-chunk free block b as an empty chunk (d = +1) or as one no longer
 * (d = -1), moving its chunk to the front of the chunk list or to the back: empty
 * chunks lead the list (an invariant liballoc_check verifies), so the heap finds
 * them without a scan when it grows (release_empties). A chunk the invariant
 * allows where it is stays: one at the front that empties, and the only empty one
 * taken back — the chunk kept as hysteresis, reused — so neither touches another
 * run's header, cold lines in other pages (the latency benchmark's slowest mallocs
 * were such reuses). */
static void mark_empty(heap *h, const blk *b, int d)
{
	run *r = chunk_of_first(b);
	ASSERT(LOCKED(h) && whole(b));
	if (!PAGED)  /* one region, never given back: nothing to find */
		return;
	h->empty_chunks += (size_t)d;
	h->empty_bytes += (size_t)d * run_bytes(r);
	if (d > 0 ? r->prev == &h->chunks : !h->empty_chunks)
		return;
	run_unlink(r);
	run_insert(d > 0 ? &h->chunks : h->chunks.prev, r);
}

/*
 * Keep the chunk of whole-chunk free block b (just emptied) instead of returning
 * it? LIBALLOC_KEEP_EMPTY chunks are kept as hysteresis. When the port lets the
 * huge threshold adapt, empty chunks are also kept while they total at most twice
 * the threshold — glibc's rule for its trim threshold — so big blocks freed and
 * allocated again are not faulted in afresh each time. A region heap keeps its one
 * chunk.
 */
static int keep_empty(const heap *h, const blk *b)
{
	size_t budget = LIBALLOC_HUGE_THRESHOLD_MAX > LIBALLOC_HUGE_THRESHOLD ? 2 * h->huge_threshold : 0;
	return !PAGED || h->hi || h->empty_chunks + 1 <= LIBALLOC_KEEP_EMPTY ||
	       h->empty_bytes + run_bytes(chunk_of_first(b)) <= budget;
}

/* Make the `bytes` bytes at r (a multiple of 16) a chunk of `pages` pages, listed at
 * the back (not empty: about to be used): one free block, not on any list, which it
 * returns, and the sentinel. */
static blk *chunk_init(heap *h, run *r, size_t bytes, size_t pages)
{
	ASSERT(LOCKED(h) && bytes % 16 == 0 && bytes >= RUN_HDR + HDR + MIN_BLOCK);
	run_link(h, h->chunks.prev, r, pages, pages * PAGE - bytes, RUN_CHUNK);
	size_t size = bytes - RUN_HDR - HDR;
	blk *b = chunk_first(r);
	uint32_t zero = LIBALLOC_PAGES_ZEROED && !h->hi ? F_ZERO : 0;
	hdr_set(h, b, 0, size | zero, 0);
	hdr_set(h, next_blk(b), size, F_USED, 0);  /* the sentinel */
	if (!zero)
		poison(fill_start(b), fill_len(size));
	h->chunk_bytes += bytes;
	STAT(h->st.chunks++);
	return b;
}

/* Get a chunk able to hold a block of `bs` bytes; returns its single free block,
 * not on any list. Chunks grow with the heap (each at least an eighth of what the
 * heap already holds in chunks) so their number stays logarithmic until CHUNK_MAX,
 * while the pages obtained stay within 6.25% (plus a page per chunk) of what the
 * heap needed when it grew: object caches promise 1.15 x their objects' bytes. */
static blk *chunk_new(heap *h, size_t bs, fault *f)
{
	size_t want = align_up(h->chunk_bytes / 16, PAGE);
	want = want < LIBALLOC_CHUNK_MIN ? LIBALLOC_CHUNK_MIN : want > LIBALLOC_CHUNK_MAX ? LIBALLOC_CHUNK_MAX : want;
	size_t need = align_up(bs + RUN_HDR + HDR, PAGE), bytes = need < want ? want : need;
	ASSERT(LOCKED(h) && bs % 16 == 0);
	if (!PAGED || h->hi)  /* a region heap does not grow */
		return NULL;
	run *r = port_alloc(h, bytes / PAGE, f);
	if (!r && bytes > need && !f->code)  /* a port with fragmented memory may still have a smaller run */
		r = port_alloc(h, (bytes = need) / PAGE, f);
	if (!r)
		return NULL;
	if (!pm_ensure(h, (uintptr_t)r, bytes, f)) {
		run_drop(h, r, bytes / PAGE, RUN_HDR);
		return NULL;
	}
	pm_set(h, (uintptr_t)r, bytes, 1);
	return chunk_init(h, r, bytes, bytes / PAGE);
}

/* Return the chunk whose only (free, listed) block is b. On free_page failure
 * the chunk stays, listed and counted as empty; trim retries. */
static void chunk_release(heap *h, blk *b)
{
	run *r = chunk_of_first(b);
	size_t pages = r->pages, size = bsize(b);
	blk *sentinel = next_blk(b);
	ASSERT(LOCKED(h) && !h->hi && whole(b) && !used(b));
	remove_free(h, b);
	run_unlink(r);
	pm_set(h, (uintptr_t)r, pages * PAGE, 0);
	/* A port may hand these pages out again unchanged: erase the last headers
	 * the chunk holds (merges erased the others) so none can validate then. */
	__builtin_memset(r, 0, RUN_HDR + HDR);
	__builtin_memset(sentinel, 0, HDR);
	if (port_free(h, r, pages)) {
		h->chunk_bytes -= pages * PAGE;
		STAT(h->st.chunks--);
		return;
	}
	run_link(h, &h->chunks, r, pages, 0, RUN_CHUNK);
	hdr_set(h, b, 0, size, 0);
	hdr_set(h, sentinel, size, F_USED, 0);
	pm_set(h, (uintptr_t)r, pages * PAGE, 1);
	insert_free(h, b);
	mark_empty(h, b, 1);
}

/*
 * Give every empty chunk back: when the heap must grow (no free block holds the
 * request, so neither does any empty chunk kept as hysteresis: the heap should not
 * hold memory that cannot serve while it asks for more), and on trim. They lead
 * the chunk list: O(chunks released), one hook call each. A region heap has
 * nothing to give back.
 */
static void release_empties(heap *h)
{
	if (!PAGED || h->hi)
		return;
	for (run *r = h->chunks.next, *nx; h->empty_chunks && r != &h->chunks; r = nx) {
		nx = r->next;
		blk *b = chunk_first(r);
		if (used(b) || !whole(b))
			break;
		mark_empty(h, b, -1);
		chunk_release(h, b);  /* if free_page fails, back at the front, counted */
	}
}

/* ==== 9. Huge runs ======================================================= */

/* A block of n bytes (payload aligned to `align`) in its own page run. The run is
 * over-allocated for alignments above the page size and its head and tail trimmed
 * with free_page (the contract allows sub-ranges). */
static void *huge_alloc(heap *h, size_t n, size_t align, fault *f)
{
	/* at least one payload byte, so the payload lies inside the run */
	size_t extra = TRAILERS && f->site ? TRAIL : 0, need = n + canary_room() + extra ? n + canary_room() + extra : 1;
	size_t lead = align <= PAGE ? align_up(RUN_HDR + HDR, align) : align, total;
	ASSERT(LOCKED(h) && is_pow2(align));
	if (h->hi || align > MAX_ALIGN || __builtin_add_overflow(need, lead, &total) || total > MAX_REQUEST)
		return NULL;
	size_t pages = pages_for(total);
	char *r = pages <= UINT32_MAX ? port_alloc(h, pages, f) : NULL;
	if (!r)
		return NULL;
	char *a = r + lead;
	if (align > PAGE && LIBALLOC_WHOLE_RUNS) {  /* the run stays whole: the payload aligned inside it */
		a = (char *)align_up((uintptr_t)r + RUN_HDR + HDR, align);
	} else if (align > PAGE) {  /* payload at the first aligned address at least a page in */
		a = (char *)align_up((uintptr_t)r + PAGE, align);
		char *start = a - PAGE, *end = (char *)align_up((uintptr_t)a + need, PAGE);
		size_t head = (size_t)(start - r) / PAGE, tail = pages - head - (size_t)(end - start) / PAGE;
		if (head && port_free(h, r, head)) {
			r = start;
			pages -= head;
		}
		if (tail && port_free(h, end, tail))
			pages -= tail;
	}
	blk *b = blk_of(a);
	size_t off = (size_t)((char *)b - r);
	if ((size_t)(r + pages * PAGE - a) - n - extra > UINT32_MAX || !pm_ensure(h, (uintptr_t)r, pages * PAGE, f)) {
		run_drop(h, (run *)r, pages, off);
		return NULL;
	}
	pm_set(h, (uintptr_t)r, pages * PAGE, 1);
	run_link(h, &h->huges, (run *)r, pages, off, RUN_HUGE);
	hdr_set(h, b, 0, off | F_USED | F_HUGE | (extra ? F_REQ : 0), (size_t)(r + pages * PAGE - a) - n - extra);
	set_trail(b, f->site);
	STAT(h->st.huge_blocks++);
	return a;
}

/* Give a huge run (or a dead one) back, its headers erased first as in
 * chunk_release. On failure it stays listed as RUN_DEAD for trim to retry, and in
 * the page map exactly if it was before: a freed huge block's run keeps its block
 * header, marked free, so a second free is still a double free; a run that never
 * entered the page map (its construction failed) stays out of it. */
static void huge_release(heap *h, run *r)
{
	size_t pages = r->pages, off = r->aux;
	blk *b = (blk *)((char *)r + off);
	int mapped = pm_test(h, (uintptr_t)r);
	ASSERT(LOCKED(h) && (r->kind == RUN_HUGE || r->kind == RUN_DEAD));
	run_unlink(r);
	pm_set(h, (uintptr_t)r, pages * PAGE, 0);
	__builtin_memset(b, 0, HDR);
	__builtin_memset(r, 0, RUN_HDR);
	if (!run_drop(h, r, pages, off) && mapped) {
		hdr_set(h, b, 0, off | F_HUGE, 0);
		pm_set(h, (uintptr_t)r, pages * PAGE, 1);
	}
}

static void quarantine_evict(heap *h, fault *f);

/* Empty the quarantine, return every empty chunk and retry every dead run (lock
 * held); the bytes given back. O(quarantined blocks + empty chunks + huge runs). */
static size_t give_back(heap *h, fault *f)
{
	size_t before = h->st.obtained;
	while (h->quar_n)
		quarantine_evict(h, f);
	release_empties(h);
	for (run *r = h->huges.next, *nx; r != &h->huges; r = nx) {
		nx = r->next;
		if (r->kind == RUN_DEAD)
			huge_release(h, r);
	}
	return before - h->st.obtained;
}

/* ==== 10. Block operations (lock held) =================================== */

/* Block size for a request of n bytes (n <= MAX_REQUEST). */
static inline size_t block_size(size_t n)
{
	size_t bs = (n + HDR + canary_room() + 15) & ~(size_t)15;
	return bs < MIN_BLOCK ? MIN_BLOCK : bs;
}

/* Raise x to at least v, atomically: the in-use peak is also raised by the cache
 * layer without the lock. One load when it does not rise. */
static void atomic_max(size_t *x, size_t v)
{
	size_t old = LOAD(*x);
	while (v > old && v < SIZE_MAX / 2 &&
	       !__atomic_compare_exchange_n(x, &old, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Change the bytes in use by d (lock held; stored atomically, since the cache layer
 * reads them without the lock to sample the peak) and raise the in-use peak: the
 * heap's own count plus what the cache layer folded in without the lock. O(1). */
static void add_in_use(heap *h, size_t d)
{
	size_t now = h->st.in_use + d;
	STORE(h->st.in_use, now);
	if (TC_LAYER)
		atomic_max(&h->st.in_use_peak, now + LOAD(h->tc_in_use));
	else if (now > h->st.in_use_peak && now < SIZE_MAX / 2)
		h->st.in_use_peak = now;
}

static void count_alloc(heap *h, size_t n)
{
	add_in_use(h, n);
	if (!WALKED)
		h->st.live_blocks++;
	STAT(h->st.allocs++);
}

static void count_free(heap *h, size_t n)
{
	if (TC_LAYER)
		add_in_use(h, (size_t)0 - n);  /* samples the peak with the caches' share */
	else
		STORE(h->st.in_use, h->st.in_use - n);  /* a fall never raises the peak */
	if (!WALKED)
		h->st.live_blocks--;
	STAT(h->st.frees++);
}

/* The block after b, verified — its header, that its boundary tag names b's size,
 * and if it is free its list links and the block after it: everything a split or
 * merge will rewrite. NULL (and f set) on damage. */
static blk *verified_next(const heap *h, blk *b, fault *f)
{
	blk *nx = next_blk(b);
	if (DEEP_CHECKS && !verify(h, nx, f))
		return NULL;
	if (nx->prev != bsize(b) || (DEEP_CHECKS && !used(nx) &&
				     (!links_ok(h, nx, f) || !verify(h, next_blk(nx), f) || next_blk(nx)->prev != bsize(nx)))) {
		if (!f->code)
			set_fault(f, LIBALLOC_E_HEADER, payload(nx));
		return NULL;
	}
	return nx;
}

/* The block before b, verified (its header, that its size is b's boundary tag, and
 * its links if free); NULL for the first block of a chunk, which a tag of 0 must
 * prove by a valid chunk run header right before b. *ok = 0 on damage. */
static blk *verified_prev(const heap *h, blk *b, int *ok, fault *f)
{
	*ok = 1;
	if (!b->prev) {
		const run *r = chunk_of_first(b);
		if (DEEP_CHECKS && (!run_ok(h, r) || r->kind != RUN_CHUNK)) {
			set_fault(f, LIBALLOC_E_HEADER, payload(b));
			*ok = 0;
		}
		return NULL;
	}
	blk *pv = prev_blk(b);
	if ((b->prev & 15) || b->prev < MIN_BLOCK || !owns(h, (uintptr_t)pv) || (DEEP_CHECKS && !hdr_ok(h, pv)) ||
	    bsize(pv) != b->prev || (PAGED && (pv->size & F_HUGE))) {
		set_fault(f, LIBALLOC_E_HEADER, payload(b));  /* b's tag is what is wrong, or the header it leads to */
		*ok = 0;
	} else if (DEEP_CHECKS && !used(pv) && !links_ok(h, pv, f)) {
		*ok = 0;
	}
	return pv;
}

/* Take free block b, found by find_free at the head of list (fl, sl), off it
 * without mapping its size again; NULL on detected corruption (f set). */
static blk *claim(heap *h, blk *b, unsigned fl, unsigned sl, fault *f)
{
	if (DEEP_CHECKS && (!verify(h, b, f) || !links_ok(h, b, f)))
		return NULL;
	unlink_free(h, b, fl, sl);
	if (whole(b))
		mark_empty(h, b, -1);
	return b;
}

/* Take a free block of at least `need` bytes off its list, growing the heap (by a
 * chunk for at least `grow` bytes) if no list has one; grow == 0: never grow.
 * Returns NULL when out of memory or on detected corruption (f set). */
static blk *take(heap *h, size_t need, size_t grow, fault *f)
{
	ASSERT(LOCKED(h) && need % 16 == 0 && grow % 16 == 0);
	unsigned fl, sl;
	blk *b = find_free(h, need, &fl, &sl);
	if (!b && grow) {
		release_empties(h);
		return chunk_new(h, grow, f);
	}
	return b ? claim(h, b, fl, sl, f) : NULL;
}

/* Put back a block take() returned, when the allocation is abandoned. */
static void untake(heap *h, blk *b)
{
	insert_free(h, b);
	if (whole(b))
		mark_empty(h, b, 1);
}

/* Merge nx — a verified free block, physically right after the area [lo, lo +
 * lsize) whose fill is zero if *zero — into that area: nx leaves its list and its
 * header is erased. Returns the merged size; *zero says if its fill is all zero. */
static size_t merge_next(heap *h, blk *lo, size_t lsize, uint32_t *zero, blk *nx)
{
	size_t nsize = bsize(nx);
	uint32_t nz = zero_of(nx);
	ASSERT(LOCKED(h) && !used(nx) && (char *)lo + lsize == (char *)nx);
	remove_free(h, nx);
	*zero = merge_fill(lo, lsize, *zero, nx, nsize, nz);
	return lsize + nsize;
}

/*
 * Make [b + keep, b + size) a free block with fill `zero`, merging it with the
 * block after it if that one is free. `nx` (the block at b + size) was checked by
 * verified_next(). The new block's boundary tag is `keep`: callers that cut b
 * further fix it.
 */
static void carve_tail(heap *h, blk *b, size_t keep, size_t size, uint32_t zero, blk *nx)
{
	blk *t = (blk *)((char *)b + keep);
	size_t tsize = size - keep;
	ASSERT(LOCKED(h) && keep % 16 == 0 && tsize >= MIN_BLOCK && (char *)b + size == (char *)nx);
	if (!used(nx)) {
		blk *after = next_blk(nx);
		tsize = merge_next(h, t, tsize, &zero, nx);
		nx = after;
	}
	hdr_set(h, t, keep, tsize | zero, 0);
	set_prev(nx, tsize);
	insert_free(h, t);
}

/*
 * Hand out free block b (off the lists) for a request of n bytes in a block of bs
 * bytes: split off the tail, check the fill (hardened), write the header and the
 * canary. *dirty = how many leading payload bytes may be non-zero (for calloc).
 */
static void *use_block(heap *h, blk *b, size_t bs, size_t n, size_t *dirty, fault *f)
{
	size_t size = bsize(b), extra = TRAILERS && f->site ? TRAIL : 0;
	uint32_t zero = zero_of(b);
	ASSERT(LOCKED(h) && !used(b) && size >= bs && bs == block_size(n) + extra);
	blk *nx = verified_next(h, b, f);
	if (!nx) {
		untake(h, b);
		return NULL;
	}
	if (size - bs >= MIN_BLOCK) {
		carve_tail(h, b, bs, size, zero, nx);
		size = bs;
	}
	if (!fill_intact(b, size, zero))
		set_fault(f, LIBALLOC_E_USE_AFTER_FREE, payload(b));  /* reported; the block is still sound */
	hdr_put(h, b, size | F_USED | (extra ? F_REQ : 0), size - HDR - extra - n);
	set_trail(b, f->site);
	canary_set(h, b);
	count_alloc(h, CHECKWORD ? n : size - HDR);  /* without a slack word, requested = usable */
	if (dirty)
		*dirty = zero ? 16 : n;
	return payload(b);
}

/* Allocate n bytes aligned to `align` (a power of two >= 16). */
static void *alloc_block(heap *h, size_t n, size_t align, size_t *dirty, fault *f)
{
	ASSERT(LOCKED(h) && is_pow2(align) && align >= ALIGN);
	if (n > MAX_REQUEST)
		return NULL;
	size_t bs = block_size(n) + (TRAILERS && f->site ? TRAIL : 0);
	if (PAGED && (bs > h->huge_threshold || align > h->huge_threshold / 4 || bs + align + MIN_BLOCK > h->huge_threshold)) {
		void *p = huge_alloc(h, n, align, f);
		if (p) {
			canary_set(h, blk_of(p));
			count_alloc(h, n);
			if (dirty)
				*dirty = LIBALLOC_PAGES_ZEROED ? 0 : n;
		}
		return p;
	}
	if (align <= ALIGN || !ALIGNED) {
		blk *b = take(h, bs, bs, f);
		return b ? use_block(h, b, bs, n, dirty, f) : NULL;
	}
	/* Aligned: a free block whose payload is aligned already serves as it is (the
	 * room after the last slab of a chunk); else take enough to cut a leading free
	 * block of >= MIN_BLOCK bytes. */
	unsigned fl, sl;
	blk *b = find_free(h, bs, &fl, &sl);
	b = b && !((uintptr_t)payload(b) & (align - 1)) ? claim(h, b, fl, sl, f) : NULL;
	if (!b && !f->code)
		b = take(h, bs + align + MIN_BLOCK, bs + align + MIN_BLOCK, f);
	if (!b)
		return NULL;
	uintptr_t p = (uintptr_t)payload(b), a = align_up(p, align);
	if (a != p && a - p < MIN_BLOCK)
		a += align;
	if (a != p) {
		size_t gap = a - p, size = bsize(b);
		uint32_t zero = zero_of(b);
		blk *nb = blk_of((void *)a), *nx = verified_next(h, b, f);
		if (!nx) {
			untake(h, b);
			return NULL;
		}
		hdr_put(h, b, gap | zero, 0);
		hdr_set(h, nb, gap, (size - gap) | zero, 0);
		set_prev(nx, size - gap);
		insert_free(h, b);
		b = nb;
	}
	return use_block(h, b, bs, n, dirty, f);
}

/* Allocate (lock held). When the port has no pages, give it back what the heap
 * holds unused (the quarantine, empty chunks, runs whose free_page failed) and try
 * once more: here rather than at each hook call, so the stack stays shallow. */
static void *h_alloc(heap *h, size_t n, size_t align, size_t *dirty, fault *f)
{
	void *p = alloc_block(h, n, align, dirty, f);
	if (PAGED && !p && !f->code && give_back(h, f))
		p = alloc_block(h, n, align, dirty, f);
	if (p)
		LIBALLOC_ON_ALLOC(p, CHECKWORD ? n : requested(blk_of(p)), dirty != NULL);  /* as ON_RESIZE's old will be */
	return p;
}

/*
 * The new block of a realloc that must move: when it grows by a small step (from
 * `old` to n bytes, less than a quarter), reserve a quarter more, so a block grown
 * step by step (a string appended to) moves O(log n) times rather than at every
 * step, as a size-class allocator's rounding gives for free. A program that grows
 * by large steps (a vector doubling) gets no headroom: it would only be memory.
 * The headroom is slack: usable, not counted as in use. It is capped so that the
 * slack word (32 bits) holds it beside the slack the block already has (less than
 * a page plus the alignment lead).
 */
#define ROOM_MAX ((size_t)1 << 30)
static void *h_alloc_grown(heap *h, size_t n, size_t old, fault *f)
{
	size_t room = PAGED && n > old && n - old < old / 4 && n / 4 <= MAX_REQUEST - n ? min_sz(n / 4, ROOM_MAX) : 0;
	void *p = room ? alloc_block(h, n + room, ALIGN, NULL, f) : NULL;
	if (p) {
		blk *b = blk_of(p);
		ASSERT((size_t)slack_of(b) + room <= UINT32_MAX);
		set_slack(b, slack_of(b) + (uint32_t)room);
		canary_set(h, b);
		add_in_use(h, (size_t)0 - room);
		LIBALLOC_ON_ALLOC(p, n, 0);
		return p;
	}
	return f->code ? NULL : h_alloc(h, n, ALIGN, NULL, f);
}

/* The run holding address a (owned by h), or NULL if its header is damaged: a
 * region heap's one chunk, else found by scanning page starts backwards for a
 * valid run header. Error path only: O(run size). */
static const run *run_of(const heap *h, uintptr_t a)
{
	if (!PAGED || h->hi)
		return run_ok(h, (const run *)h->lo) ? (const run *)h->lo : NULL;
	for (uintptr_t pg = page_floor(a); pm_test(h, pg); pg -= PAGE)
		if (run_ok(h, (const run *)pg))
			return (const run *)pg;
	return NULL;
}

/*
 * Classify a pointer that failed lookup, on the error path: find its run, then walk
 * that run's blocks. O(run size).
 */
static int classify(const heap *h, uintptr_t a)
{
	if (!owns(h, a))
		return LIBALLOC_E_FOREIGN_POINTER;
	const run *r = run_of(h, a);
	if (!r || a >= (uintptr_t)r + run_bytes(r))
		return LIBALLOC_E_HEADER;  /* the run header itself was overwritten */
	if (r->kind != RUN_CHUNK)
		return LIBALLOC_E_INTERIOR_POINTER;  /* inside a huge run, not its payload start */
	const blk *b = chunk_first(r), *end = (const blk *)((const char *)r + run_bytes(r) - HDR);
	while (b < end) {
		if (!hdr_ok(h, b) || bsize(b) < MIN_BLOCK)
			return LIBALLOC_E_HEADER;
		if (a < (uintptr_t)next_blk(b)) {
			if (a == (uintptr_t)payload(b))  /* lookup rejected a valid header: */
				return !CHECKWORD && overflowed(b) ? LIBALLOC_E_OVERFLOW  /* the next tag is wrong */
								    : LIBALLOC_E_HEADER;  /* the slack or b's tag */
			return used(b) ? LIBALLOC_E_INTERIOR_POINTER : LIBALLOC_E_DOUBLE_FREE;
		}
		b = next_blk(b);
	}
	return LIBALLOC_E_INTERIOR_POINTER;  /* the sentinel */
}

/* Small profile: do b's boundary tags agree with its neighbours — the next
 * header's tag names b's size, b's tag the size of the block before it, and a tag
 * of 0 is the first block's? (Needs hdr_ok(h, b); plain loads: no cache layer.) */
static inline int tags_ok(const heap *h, const blk *b)
{
	uintptr_t tag = b->prev;
	if (next_blk(b)->prev != bsize(b))
		return 0;
	if (!tag)
		return b == region_first(h);
	return !(tag & 15) && tag >= MIN_BLOCK && tag <= (uintptr_t)b - (uintptr_t)region_first(h) &&
	       bsize(prev_blk(b)) == tag;
}

/* Is b, from a pointer that came from outside, a block header of heap h? In the
 * small profile hdr_ok's bounds stand for owns(). */
static inline int hdr_genuine(const heap *h, const blk *b)
{
	return CHECKWORD ? owns(h, (uintptr_t)b) && hdr_ok(h, b) : hdr_ok(h, b) && tags_ok(h, b);
}

/* The live block whose payload is p, or NULL: O(1) via the page map (or the
 * region's bounds) and the check word (small profile: the boundary tags). Needs no
 * lock: a live block's size and check word are written only under the lock by its
 * owner's calls (its neighbours' merges rewrite only its boundary tag). */
__attribute__((always_inline)) static inline blk *live_block(const heap *h, void *p)
{
	blk *b = blk_of(p);
	if (((uintptr_t)p & (ALIGN - 1)) || !hdr_genuine(h, b) || !used(b) ||
	    slack_of(b) >= SLACK_FREED || (!bsize(b) && !(PAGED && (b->size & F_HUGE))) || !canary_ok(h, b))
		return NULL;
	return b;
}

/* What is wrong with p, which live_block rejected. */
static int misuse(const heap *h, void *p)
{
	blk *b = blk_of(p);
	if (!((uintptr_t)p & (ALIGN - 1)) && hdr_genuine(h, b)) {
		if (!used(b) || slack_of(b) >= SLACK_FREED)
			return LIBALLOC_E_DOUBLE_FREE;
		if (bsize(b) || (b->size & F_HUGE))
			return LIBALLOC_E_OVERFLOW;  /* only the canary failed */
	}
	return classify(h, (uintptr_t)p);
}

/* Find the live block of pointer p, or say what is wrong with p. */
static int lookup(const heap *h, void *p, blk **out)
{
	return (*out = live_block(h, p)) != NULL ? LIBALLOC_OK : misuse(h, p);
}

/* What a free of chunk block b checks before it changes anything: the next
 * header's boundary tag (a write past b's end), and both neighbours, which a merge
 * would rewrite (the small profile: nothing beyond what live_block checked). *nx,
 * *pv: the verified neighbours (pv NULL at a chunk's start). */
static int free_checks(const heap *h, blk *b, blk **nx, blk **pv, fault *f)
{
	int ok;
	if (!CHECKWORD) {  /* live_block's tags_ok() checked both tags */
		*nx = next_blk(b);
		*pv = b->prev ? prev_blk(b) : NULL;
		return 1;
	}
	if (overflowed(b)) {
		set_fault(f, LIBALLOC_E_OVERFLOW, payload(b));
		return 0;
	}
	*nx = DEEP_CHECKS ? verified_next(h, b, f) : next_blk(b);  /* else its tag was all it checks */
	*pv = verified_prev(h, b, &ok, f);
	return *nx && ok;
}

/* Free block b (looked up); `counted`: its bytes still count as in use (false for
 * blocks coming back from the cache layer or the quarantine, already counted as
 * freed). */
static void release(heap *h, blk *b, int counted, fault *f)
{
	ASSERT(LOCKED(h) && used(b));
	if (PAGED && (b->size & F_HUGE)) {
		run *r = huge_run(b);
		if (!run_ok(h, r) || r->kind != RUN_HUGE) {
			set_fault(f, LIBALLOC_E_HEADER, payload(b));
			return;
		}
		/* As glibc's mmap threshold: once a block this big is freed, blocks up to
		 * its size come from chunks, where they are reused instead of faulted in
		 * afresh each time (only up to LIBALLOC_HUGE_THRESHOLD_MAX). */
		size_t bs = usable(b) + HDR;
		if (bs > h->huge_threshold && bs <= LIBALLOC_HUGE_THRESHOLD_MAX)
			h->huge_threshold = bs;
		if (counted) {
			LIBALLOC_ON_FREE(payload(b), usable(b));
			count_free(h, requested(b));
			STAT(h->st.huge_blocks--);
		}
		huge_release(h, r);
		return;
	}
	size_t size = bsize(b);
	blk *nx, *pv;
	if (!free_checks(h, b, &nx, &pv, f))
		return;
	if (counted) {  /* a block from the cache layer was reported when it was cached */
		LIBALLOC_ON_FREE(payload(b), usable(b));
		count_free(h, requested(b));
	}
	poison(fill_start(b), fill_len(size));
	uint32_t zero = 0;
	if (!used(nx))
		size = merge_next(h, b, size, &zero, nx);
	if (pv && !used(pv)) {
		size_t psize = bsize(pv);
		uint32_t pz = zero_of(pv);
		remove_free(h, pv);
		zero = merge_fill(pv, psize, pz, b, size, zero);
		size += psize;
		b = pv;
	}
	hdr_put(h, b, size | zero, 0);
	set_prev(next_blk(b), size);
	insert_free(h, b);
	if (whole(b)) {
		if (keep_empty(h, b))
			mark_empty(h, b, 1);
		else
			chunk_release(h, b);
	}
}

/*
 * The quarantine. For a block whose requester is recorded (every block in hardened
 * mode, by default), a free that reaches the lock does not release it at once: it stays USED in
 * its chunk (or huge run), marked SLACK_FREED, its usable bytes poisoned (hardened,
 * chunk blocks), the freeing site in its trailer, in a ring of at most QUAR_SLOTS
 * blocks and LIBALLOC_QUARANTINE_BYTES usable bytes. A second free of it — even one
 * that comes after the program would have got the same address back — is reported
 * as a double free, with both sites; a write into it is found when it leaves (its
 * poison is checked then) and by liballoc_check. When the ring or the budget is
 * full the oldest is released for real; give_back and trim empty it. O(1) per free
 * plus the eviction of one block (hardened: the O(size) poison a free pays anyway).
 */
static int quarantines(const blk *b) { return TRAILERS && (b->size & F_REQ); }

/* Release the oldest quarantined block (lock held). */
static void quarantine_evict(heap *h, fault *f)
{
	blk *b = h->quar[h->quar_head];
	ASSERT(LOCKED(h) && h->quar_n && slack_of(b) == SLACK_FREED);
	h->quar_head = (h->quar_head + 1) % QUAR_SLOTS;
	h->quar_n--;
	h->quar_bytes -= usable(b);
	if (LIBALLOC_HARDENED && !(b->size & F_HUGE) && !filled(payload(b), POISON, usable(b)) && !f->code)
		set_fault(f, LIBALLOC_E_USE_AFTER_FREE, payload(b));
	set_slack(b, 0);
	release(h, b, 0, f);
}

static void quarantine(heap *h, blk *b, fault *f)
{
	size_t u = usable(b);
	blk *nx, *pv;
	ASSERT(LOCKED(h) && used(b));
	if (!(b->size & F_HUGE) && !free_checks(h, b, &nx, &pv, f))  /* as release() checks */
		return;
	LIBALLOC_ON_FREE(payload(b), u);
	count_free(h, requested(b));
	if (b->size & F_HUGE)
		STAT(h->st.huge_blocks--);
	set_slack(b, SLACK_FREED);
	if (b->size & F_REQ)
		trail_of(b)->freed_at = f->site;
	if (!(b->size & F_HUGE))
		poison(payload(b), u);
	if (h->quar_n == QUAR_SLOTS)
		quarantine_evict(h, f);
	h->quar[(h->quar_head + h->quar_n) % QUAR_SLOTS] = b;
	h->quar_n++;
	h->quar_bytes += u;
	while (h->quar_n > 1 && h->quar_bytes > LIBALLOC_QUARANTINE_BYTES)
		quarantine_evict(h, f);
}

static void h_free(heap *h, void *p, fault *f)
{
	blk *b = live_block(h, p);  /* inline here: every free takes this path */
	if (!b)
		set_fault(f, misuse(h, p), p);
	else if (quarantines(b))
		quarantine(h, b, f);
	else
		release(h, b, 1, f);
}

/* Resize live block b to n bytes without moving it, if possible. */
static int resize_in_place(heap *h, blk *b, size_t n, fault *f)
{
	size_t old = requested(b), extra = trailer_of(b);
	trail keep_trail = extra ? *trail_of(b) : (trail){NULL, NULL};  /* it moves with the end */
	ASSERT(LOCKED(h) && used(b) && n <= MAX_REQUEST);
	if (PAGED && (b->size & F_HUGE)) {
		run *r = huge_run(b);
		char *a = payload(b), *end = (char *)align_up((uintptr_t)a + n + canary_room() + extra, PAGE);
		size_t have = usable(b);
		if (n + canary_room() > have || block_size(n) <= h->huge_threshold / 2)
			return 0;  /* grow: move; much smaller: move into a chunk */
		if (have - n > UINT32_MAX && (size_t)((char *)r + run_bytes(r) - end) < have - n - UINT32_MAX)
			return 0;  /* the slack would not fit its header word even after trimming */
		size_t keep = (size_t)(end - (char *)r) / PAGE;
		if (!LIBALLOC_WHOLE_RUNS && keep < r->pages && port_free(h, end, r->pages - keep)) {
			pm_set(h, (uintptr_t)end, (r->pages - keep) * PAGE, 0);
			r->pages = (uint32_t)keep;
			r->check = run_hash(h, r);
		}
	} else {
		size_t size = bsize(b), bs = block_size(n) + extra;
		if (bs > h->huge_threshold)
			return 0;
		if (overflowed(b)) {
			set_fault(f, LIBALLOC_E_OVERFLOW, payload(b));
			return 0;
		}
		blk *nx = bs <= size && size - bs < MIN_BLOCK ? b : verified_next(h, b, f);  /* b: no change */
		if (!nx)
			return 0;
		if (bs > size) {
			if (used(nx) || size + bsize(nx) < bs)
				return 0;
			blk *after = next_blk(nx);
			/* check only what becomes the block's: the rest stays free, checked
			 * when it is handed out (checking all of nx made growth quadratic) */
			char *fs = fill_start(nx), *upto = (char *)b + bs;
			if (LIBALLOC_HARDENED && upto > fs &&
			    !filled(fs, nx->size & F_ZERO ? 0 : POISON, min_sz((size_t)(upto - fs), fill_len(bsize(nx)))))
				set_fault(f, LIBALLOC_E_USE_AFTER_FREE, payload(nx));
			uint32_t zero = 0;
			size = merge_next(h, b, size, &zero, nx);
			nx = after;  /* checked by verified_next() */
			if (size - bs >= MIN_BLOCK) {
				carve_tail(h, b, bs, size, zero, nx);
				size = bs;
			} else {
				set_prev(nx, size);
			}
		} else if (nx != b) {
			poison((char *)b + bs, size - bs);
			carve_tail(h, b, bs, size, 0, nx);
			size = bs;
		}
		b->size = (uint32_t)(size | F_USED | (b->size & F_REQ));
	}
	hdr_put(h, b, b->size, usable(b) - n);
	if (extra) {  /* the trailer at the new end; realloc's caller is the requester now */
		*trail_of(b) = keep_trail;
		if (f->site)
			trail_of(b)->site = f->site;
	}
	canary_set(h, b);
	size_t now = requested(b);  /* n; the small profile keeps the usable size */
	LIBALLOC_ON_RESIZE(payload(b), old, now);
	add_in_use(h, now - old);
	return 1;
}

/* ==== 11. The cache layer's seam ========================================= */

/* Totals found by liballoc_check's walk (section 15), compared with the counters at
 * the end; the cache layer adds what its caches hold. */
typedef struct tally {
	size_t in_use, live, huge, cached, quarantined, free_blocks, free_bytes, chunks, empty, empty_bytes, obtained;
} tally;

/*
 * A port with threads (LIBALLOC_THREAD_LOCAL) or several CPUs (LIBALLOC_CPU_CACHES)
 * puts a cache of small free blocks in front of the default heap: liballoc_tcache.c,
 * included here and nowhere else. It uses the block operations above and gives the
 * API below exactly these (without it they are the empty versions that follow, and
 * the default heap takes the locked path like every other heap):
 *   tc_alloc(n, site)        malloc's fast path: a cached block for n bytes, or NULL
 *   tc_free(b, slow, site)   free's fast path for live block b of the default heap;
 *                            slow: it may make room in a full bin (taking the lock),
 *                            and takes blocks with a trailer (without: 0 for them,
 *                            except in hardened mode);
 *                            0: free it under the lock instead
 *   tc_resize(p, n, site)    realloc of p within its block without the lock; 0: no
 *   tc_alloc_unlocked(n, site)  malloc's slow path before the lock: register the thread
 *                            or adopt a bin passed on by another thread; NULL: lock
 *   tc_alloc_locked(...)     malloc's path under the lock (refill a bin), or h_alloc
 *   tc_reclaim(h, f)         lock held: the calling thread's cached blocks and the
 *                            blocks passed between threads go back to the heap
 *   tc_stats(h, out)         lock held: add the caches' counters to *out
 *   tc_check(h, want, others)  lock held: walk the calling thread's cache, add every
 *                            cache's counters to *want; *others: other caches exist
 *   TC_RACY_BLOCK            blocks up to this size may change state without the lock
 * (site: the requester, recorded in a block's trailer if it has one).
 * and defines liballoc_thread_exit and liballoc_fork_child.
 */
#if TC_LAYER
#include "liballoc_tcache.c"
#else
#define TC_RACY_BLOCK ((size_t)0)
static inline void *tc_alloc(size_t n, const void *site)
{
	(void)n;
	(void)site;
	return NULL;
}
static inline int tc_free(blk *b, int slow, const void *site)
{
	(void)b;
	(void)slow;
	(void)site;
	return 0;
}
static inline int tc_resize(void *p, size_t n, const void *site)
{
	(void)p;
	(void)n;
	(void)site;
	return 0;
}
static inline void *tc_alloc_unlocked(size_t n, const void *site)
{
	(void)n;
	(void)site;
	return NULL;
}
static inline void *tc_alloc_locked(heap *h, size_t n, size_t align, size_t *dirty, fault *f)
{
	return h_alloc(h, n, align, dirty, f);
}
static inline void tc_reclaim(heap *h, fault *f) { (void)h; (void)f; }
static inline void tc_stats(heap *h, struct liballoc_stats *out) { (void)h; (void)out; }
static inline int tc_check(heap *h, tally *want, int *others)
{
	(void)h;
	(void)want;
	*others = 0;
	return LIBALLOC_OK;
}
void liballoc_thread_exit(void) {}
void liballoc_fork_child(void) {}
#endif

/* ==== 12. Heaps ========================================================== */

static void heap_init(heap *h)
{
	static uint32_t generation;  /* a heap made again at the same address gets a new key */
	uintptr_t seed = (uintptr_t)h ^ (uintptr_t)0x6c69626c6c6f6361ull ^
			 (uintptr_t)__atomic_add_fetch(&generation, 1, __ATOMIC_RELAXED) * (uintptr_t)0xd1b54a32d192ed03ull;
#ifdef LIBALLOC_ENTROPY
	uint64_t e = (uint64_t)(LIBALLOC_ENTROPY());
	seed ^= (uintptr_t)(e ^ (e >> 32));
#endif
	for (int i = 0; i < 2; i++) {  /* splitmix */
#if UINTPTR_MAX > 0xffffffffu
		uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		h->key[i] = (uintptr_t)(z ^ (z >> 31));
#else
		uint32_t z = (seed += 0x9e3779b9u) * 0x85ebca6bu;
		h->key[i] = z ^ (z >> 15);
#endif
	}
	h->chunks.next = h->chunks.prev = &h->chunks;
	h->huges.next = h->huges.prev = &h->huges;
	h->huge_threshold = LIBALLOC_HUGE_THRESHOLD;
	h->ready = 1;
}

static void count_error(heap *h) { __atomic_fetch_add(&h->st.errors, 1, __ATOMIC_RELAXED); }

static void report(const fault *f)
{
	liballoc_error_fn handler;
	if (f->code && (handler = __atomic_load_n(&g_handler, __ATOMIC_ACQUIRE)) != NULL)
		handler(f->code, f->ptr);
}

/* Report a misuse found without the lock (counted in h's errors). */
static void report_now(heap *h, int code, void *ptr)
{
	fault f = {code, ptr, NULL};
	count_error(h);
	report(&f);
}

/* Take h's lock (initialising the default heap on first use); 0 if the lock hook
 * failed, counted. */
static LOCK_INLINE int enter(heap *h)
{
	if (hook_lock(h) != 0) {
		STAT(__atomic_fetch_add(&h->st.lock_failures, 1, __ATOMIC_RELAXED));
		return 0;
	}
	STAT(h->st.lock_calls++);
	if (!h->ready)
		heap_init(h);
#ifdef LIBALLOC_DEBUG
	ASSERT(!h->locked);
	h->locked = 1;
#endif
	return 1;
}

/* Release h's lock, then report what *f holds (a failed unlock is reported too):
 * the handler may allocate. */
static LOCK_INLINE void leave(heap *h, fault *f)
{
#ifdef LIBALLOC_DEBUG
	h->locked = 0;
#endif
	if (hook_unlock(h) != 0) {
		STAT(__atomic_fetch_add(&h->st.lock_failures, 1, __ATOMIC_RELAXED));
		if (!f->code)
			set_fault(f, LIBALLOC_E_LOCK, NULL);
	}
	if (f->code)
		count_error(h);
	report(f);
}

liballoc_heap *liballoc_heap_create(const struct liballoc_port *port)
{
	size_t pages = pages_for(sizeof(heap));
	int misaligned = 0, lock_failed;
	void *mem = NULL;
	if (!port || !port->alloc_page || !port->free_page || !port->lock != !port->unlock) {
		SET_ERRNO(LIBALLOC_EINVAL);
		return NULL;
	}
	/* The hooks' contract: page calls with the lock held. */
	lock_failed = port->lock && port->lock(port->ctx) != 0;
	if (!lock_failed) {
		mem = port->alloc_page(port->ctx, pages);
		if (mem && ((uintptr_t)mem & (PAGE - 1))) {
			misaligned = 1;
			(void)port->free_page(port->ctx, mem, pages);
		}
		lock_failed = port->unlock && port->unlock(port->ctx) != 0;
	}
	if (misaligned || lock_failed) {
		report_now(G, misaligned ? LIBALLOC_E_PORT : LIBALLOC_E_LOCK, misaligned ? mem : NULL);
		mem = misaligned ? NULL : mem;
	}
	if (!mem) {
		SET_ERRNO(LIBALLOC_ENOMEM);
		return NULL;
	}
	heap *h = mem;
	__builtin_memset(h, 0, sizeof *h);
	h->port = *port;
	h->own_pages = pages;
	heap_init(h);
	h->st.obtained = h->st.obtained_peak = h->st.metadata = pages * PAGE;
	STAT(h->st.alloc_page_calls = 1);
	return h;
}

/* Make h, initialised and not yet shared, a region heap over [c, end) (c 16-aligned):
 * one chunk of at most REGION_MAX bytes. 0 if that is too small for a block. */
static int region_init(heap *h, uintptr_t c, uintptr_t end)
{
	if (end < c || end - c < RUN_HDR + 2 * HDR + MIN_BLOCK)
		return 0;
	size_t cb = min_sz(end - c, REGION_MAX);
	h->lo = c;
	h->hi = c + cb;
	h->huge_threshold = cb;  /* every block comes from the one chunk */
	h->st.obtained = h->st.obtained_peak = cb;
	blk *b = chunk_init(h, (run *)c, cb, pages_for(cb));
	insert_free(h, b);
	mark_empty(h, b, 1);
	return 1;
}

liballoc_heap *liballoc_heap_create_in(void *base, size_t bytes)
{
	uintptr_t lo = align_up((uintptr_t)base, 16), end = ((uintptr_t)base + bytes) & ~(uintptr_t)15;
	uintptr_t c = align_up(lo + REGION_HEAP_BYTES, 16);
	heap *h = (heap *)lo;
	int ok = base && (uintptr_t)base + bytes >= (uintptr_t)base && end >= c;
	if (ok) {
		__builtin_memset(h, 0, REGION_HEAP_BYTES);
		heap_init(h);
#ifdef LIBALLOC_DEBUG
		h->locked = 1;
#endif
		ok = region_init(h, c, end);
#ifdef LIBALLOC_DEBUG
		h->locked = 0;
#endif
	}
	if (!ok) {
		SET_ERRNO(LIBALLOC_EINVAL);
		return NULL;
	}
	return h;
}

int liballoc_init_region(void *base, size_t bytes)
{
	fault f = NO_FAULT;
	heap *h = G;
	int ok;
	if (!enter(h))
		return -1;
	ok = base && (uintptr_t)base + bytes >= (uintptr_t)base && !h->hi && h->chunks.next == &h->chunks &&
	     h->huges.next == &h->huges &&
	     region_init(h, align_up((uintptr_t)base, 16), ((uintptr_t)base + bytes) & ~(uintptr_t)15);
	leave(h, &f);
	if (!ok)
		SET_ERRNO(LIBALLOC_EINVAL);
	return ok ? 0 : -1;
}

void liballoc_heap_destroy(liballoc_heap *h)
{
	fault f = NO_FAULT;
	size_t lost = 0;
	if (!h || h == G) {
		report_now(G, LIBALLOC_E_FOREIGN_POINTER, h);
		return;
	}
	if (h->hi) {  /* a region heap: forget it (a stale handle's blocks no longer validate) */
		__builtin_memset(h, 0, REGION_HEAP_BYTES);
		return;
	}
	struct liballoc_port port = h->port;
	size_t own = h->own_pages;
	if (!enter(h)) {
		report_now(h, LIBALLOC_E_LOCK, h);
		return;
	}
	run *heads[2] = {&h->chunks, &h->huges};
	for (int k = 0; k < 2; k++)
		for (run *r = heads[k]->next, *nx; r != heads[k]; r = nx) {
			nx = r->next;
			lost += !port_free(h, r, r->pages);
		}
	pm_release(h);
	lost += h->st.obtained != own * PAGE;  /* page-map nodes the port refused */
#ifdef LIBALLOC_DEBUG
	h->locked = 0;
#endif
	__builtin_memset(h, 0, sizeof *h);  /* no stale check word validates against this key again */
	lost += port.free_page(port.ctx, h, own) != 0;
	if (lost)
		set_fault(&f, LIBALLOC_E_PORT, h);
	if (port.unlock && port.unlock(port.ctx) != 0 && !f.code)
		set_fault(&f, LIBALLOC_E_LOCK, h);
	if (f.code)
		report_now(G, f.code, f.ptr);
}

/* ==== 13. API ============================================================ */

/*
 * Every call on a heap is one pattern: enter (take the lock), work through the
 * block operations with a fault record, leave (release the lock, then report).
 * The *_on functions below are that pattern once for any heap; the malloc family
 * calls them on the default heap, after the cache layer's fast path, and the
 * liballoc_heap_* functions on the heap they are given (NULL: the default heap).
 * `site` is the requester recorded in new blocks (and the freeing site of blocks
 * freed into the quarantine): NULL while requesters are not recorded.
 */
static void *nomem(void *p)
{
	if (!p)
		SET_ERRNO(LIBALLOC_ENOMEM);
	return p;
}

static inline heap *heap_of(liballoc_heap *h) { return h ? h : G; }

/* The requester of the public function this expands in. The cache layer's fast
 * paths never use it (a block with a trailer takes the slow path); the paths under
 * the lock build their fault record with SITE(), which drops it unless recording is
 * on: reading g_record there, not at every call, saves about six instructions per
 * malloc+free pair (callgrind, churn). */
#define CALLER() (TRAILERS ? __builtin_return_address(0) : NULL)
/* The requester to record, when recording is on; an explicit one replaces the caller. */
#define SITE(s) (TRAILERS && LOAD(g_record) ? (s) : NULL)

/* Allocate n bytes aligned to `align` (a power of two >= 16) under the lock, the
 * default heap through the cache layer's slow path. NULL on failure, errno
 * untouched: callers differ (posix_memalign must not set it). */
static LOCK_INLINE void *alloc_locked(heap *h, size_t n, size_t align, size_t *dirty, const void *site)
{
	fault f = {0, NULL, SITE(site)};
	void *p;
	if (TC_LAYER && h == G && align <= ALIGN && (p = tc_alloc_unlocked(n, site)) != NULL) {
		if (dirty)
			*dirty = n;
		return p;
	}
	if (!enter(h))
		return NULL;
	p = TC_LAYER && h == G ? tc_alloc_locked(h, n, align, dirty, &f) : h_alloc(h, n, align, dirty, &f);
	if (!p)
		STAT(h->st.failed_allocs++);
	leave(h, &f);
	return p;
}

/* alloc_locked out of line: the one copy every other caller shares. */
__attribute__((noinline)) static void *alloc_on(heap *h, size_t n, size_t align, size_t *dirty, const void *site)
{
	return alloc_locked(h, n, align, dirty, site);
}

/* free off the fast path: into the cache layer after making room (b: ptr's block
 * as the fast path found it live, or NULL), else under the lock, where ptr is
 * looked up anew, page map first (another thread may have freed it, and unmapped
 * its run, since the fast path looked). */
static LOCK_INLINE void free_locked(heap *h, void *ptr, blk *b, const void *site)
{
	fault f = {0, NULL, SITE(site)};
	if (TC_LAYER && b && tc_free(b, 1, site))
		return;
	if (!enter(h)) {
		report_now(h, LIBALLOC_E_LOCK, ptr);
		return;
	}
	h_free(h, ptr, &f);
	leave(h, &f);
}

/* free_locked out of line: the one copy every other caller shares. */
__attribute__((noinline)) static void free_on(heap *h, void *ptr, blk *b, const void *site)
{
	free_locked(h, ptr, b, site);
}

__attribute__((always_inline)) static inline void free_any(heap *h, void *ptr, const void *site)
{
	blk *b = TC_LAYER && h == G ? live_block(G, ptr) : NULL;
	if (__builtin_expect(b && tc_free(b, 0, site), 1))
		return;
	free_on(h, ptr, b, site);
}

__attribute__((always_inline)) static inline void *malloc_on(heap *h, size_t n, const void *site)
{
	void *p = TC_LAYER && h == G ? tc_alloc(n, site) : NULL;
	if (__builtin_expect(p != NULL, 1))
		return p;
	return nomem(alloc_on(h, n, ALIGN, NULL, site));
}

static void *calloc_on(heap *h, size_t nmemb, size_t size, const void *site)
{
	size_t n, dirty = 0;
	if (__builtin_mul_overflow(nmemb, size, &n))
		return nomem(NULL);
	void *p = TC_LAYER && h == G ? tc_alloc(n, site) : NULL;
	if (p)
		dirty = n;  /* cached blocks are never known to be zero */
	else
		p = alloc_on(h, n, ALIGN, &dirty, site);
	if (p)
		__builtin_memset(p, 0, min_sz(dirty, n));
	return nomem(p);
}

/* realloc of a block (ptr and size non-zero) under the lock; *moved: the old
 * block's bytes to copy into the new one, which the caller copies and frees
 * outside the lock. Its own frame, so realloc(NULL, n)'s path stays shallow. */
__attribute__((noinline)) static void *realloc_locked(heap *h, void *ptr, size_t size, const void *site, size_t *copy)
{
	fault f = {0, NULL, SITE(site)};
	void *q = NULL;
	int e;
	blk *b;
	if (!enter(h))
		return nomem(NULL);
	if ((e = lookup(h, ptr, &b)) != 0) {
		set_fault(&f, e == LIBALLOC_E_DOUBLE_FREE ? LIBALLOC_E_REALLOC_FREED : e, ptr);
	} else if (size <= MAX_REQUEST && resize_in_place(h, b, size, &f)) {
		q = ptr;
	} else if (!f.code && (q = h_alloc_grown(h, size, requested(b), &f)) != NULL) {
		*copy = min_sz(usable(b) - (LIBALLOC_HARDENED ? slack_of(b) : 0), size);
	}
	if (!q && !f.code)
		STAT(h->st.failed_allocs++);
	leave(h, &f);
	if (!q)
		SET_ERRNO(e ? LIBALLOC_EINVAL : LIBALLOC_ENOMEM);
	return q;
}

static void *realloc_on(heap *h, void *ptr, size_t size, const void *site)
{
	size_t copy = SIZE_MAX;
	if (!ptr)
		return malloc_on(h, size, site);
	if (size == 0) {
		free_any(h, ptr, site);
		return NULL;
	}
	if (TC_LAYER && h == G && tc_resize(ptr, size, site))
		return ptr;
	void *q = realloc_locked(h, ptr, size, site, &copy);
	if (copy != SIZE_MAX) {  /* moved: copy outside the lock, then free the old block */
		__builtin_memcpy(q, ptr, copy);
		free_any(h, ptr, site);
	}
	return q;
}

static size_t usable_size_on(heap *h, void *ptr)
{
	fault f = NO_FAULT;
	size_t n = 0;
	blk *b;
	int e;
	if (!ptr || !enter(h))
		return 0;
	if ((e = lookup(h, ptr, &b)) != 0)
		set_fault(&f, e == LIBALLOC_E_DOUBLE_FREE ? LIBALLOC_E_REALLOC_FREED : e, ptr);
	else
		n = usable(b) - (LIBALLOC_HARDENED ? slack_of(b) : 0);
	leave(h, &f);
	return n;
}

static void *memalign_on(heap *h, size_t alignment, size_t size, const void *site)
{
	return nomem(alloc_on(h, size, alignment < ALIGN ? ALIGN : alignment, NULL, site));
}

/* ---- the malloc family on the default heap ---- */

void *LIBALLOC_PREFIX(malloc)(size_t size)
{
	if (LIBALLOC_SMALL)  /* the locked path inlined, for the default heap (see LOCK_INLINE) */
		return nomem(alloc_locked(G, size, ALIGN, NULL, NULL));
	return malloc_on(G, size, CALLER());
}

void LIBALLOC_PREFIX(free)(void *ptr)
{
	if (ptr && LIBALLOC_SMALL)
		free_locked(G, ptr, NULL, NULL);
	else if (ptr)
		free_any(G, ptr, CALLER());
}

void *LIBALLOC_PREFIX(calloc)(size_t nmemb, size_t size) { return calloc_on(G, nmemb, size, CALLER()); }

void *LIBALLOC_PREFIX(realloc)(void *ptr, size_t size) { return realloc_on(G, ptr, size, CALLER()); }

#if LIBALLOC_EXTRAS
void *LIBALLOC_PREFIX(reallocarray)(void *ptr, size_t nmemb, size_t size)
{
	size_t n;
	if (__builtin_mul_overflow(nmemb, size, &n))
		return nomem(NULL);
	return realloc_on(G, ptr, n, CALLER());
}

int LIBALLOC_PREFIX(posix_memalign)(void **memptr, size_t alignment, size_t size)
{
	if (alignment % sizeof(void *) || !is_pow2(alignment))
		return LIBALLOC_EINVAL;
	void *p = alloc_on(G, size, alignment < ALIGN ? ALIGN : alignment, NULL, CALLER());
	if (!p)
		return LIBALLOC_ENOMEM;
	*memptr = p;
	return 0;
}

void *LIBALLOC_PREFIX(aligned_alloc)(size_t alignment, size_t size)
{
	if (!is_pow2(alignment)) {
		SET_ERRNO(LIBALLOC_EINVAL);
		return NULL;
	}
	return memalign_on(G, alignment, size, CALLER());
}

void *LIBALLOC_PREFIX(memalign)(size_t alignment, size_t size)
{
	if (alignment > SIZE_MAX / 2 + 1) {
		SET_ERRNO(LIBALLOC_EINVAL);
		return NULL;
	}
	size_t a = ALIGN;
	while (a < alignment)
		a <<= 1;
	return memalign_on(G, a, size, CALLER());
}

void *LIBALLOC_PREFIX(valloc)(size_t size) { return memalign_on(G, PAGE, size, CALLER()); }

void *LIBALLOC_PREFIX(pvalloc)(size_t size)
{
	if (size > SIZE_MAX - PAGE)
		return nomem(NULL);
	return memalign_on(G, PAGE, size ? align_up(size, PAGE) : PAGE, CALLER());
}

size_t LIBALLOC_PREFIX(malloc_usable_size)(void *ptr) { return usable_size_on(G, ptr); }
#endif /* LIBALLOC_EXTRAS */

liballoc_error_fn liballoc_set_error_handler(liballoc_error_fn handler)
{
#ifdef LIBALLOC_ERROR_HANDLER
	if (!handler)
		handler = LIBALLOC_ERROR_HANDLER;
#endif
	return __atomic_exchange_n(&g_handler, handler, __ATOMIC_ACQ_REL);
}

int liballoc_record_requesters(int on) { return __atomic_exchange_n(&g_record, on != 0, __ATOMIC_RELAXED); }

const char *liballoc_version(void) { return LIBALLOC_VERSION_STRING; }

/* ---- the same on any heap ---- */

void *liballoc_heap_malloc(liballoc_heap *h, size_t size) { return malloc_on(heap_of(h), size, CALLER()); }

void liballoc_heap_free(liballoc_heap *h, void *ptr)
{
	if (ptr)
		free_any(heap_of(h), ptr, CALLER());
}

void *liballoc_heap_calloc(liballoc_heap *h, size_t nmemb, size_t size)
{
	return calloc_on(heap_of(h), nmemb, size, CALLER());
}

void *liballoc_heap_realloc(liballoc_heap *h, void *ptr, size_t size)
{
	return realloc_on(heap_of(h), ptr, size, CALLER());
}

void *liballoc_heap_memalign(liballoc_heap *h, size_t alignment, size_t size)
{
	if (!is_pow2(alignment) || (!ALIGNED && alignment > ALIGN)) {
		SET_ERRNO(LIBALLOC_EINVAL);
		return NULL;
	}
	return memalign_on(heap_of(h), alignment, size, CALLER());
}

size_t liballoc_heap_usable_size(liballoc_heap *h, void *ptr) { return usable_size_on(heap_of(h), ptr); }


void *liballoc_heap_malloc_at(liballoc_heap *h, size_t size, const void *site)
{
	return malloc_on(heap_of(h), size, SITE(site));
}

void *liballoc_heap_calloc_at(liballoc_heap *h, size_t nmemb, size_t size, const void *site)
{
	return calloc_on(heap_of(h), nmemb, size, SITE(site));
}

void *liballoc_heap_realloc_at(liballoc_heap *h, void *ptr, size_t size, const void *site)
{
	return realloc_on(heap_of(h), ptr, size, SITE(site));
}

/* ==== 14. Object caches ================================================== */

/*
 * A cache hands out objects of one size from slabs (Bonwick, USENIX 1994). A slab
 * is one block of the heap, slab_bytes long and with its payload aligned to
 * slab_bytes, so the slab of an object is found by masking its address:
 *
 *   [blk hdr | slab hdr, live bitmap | obj 0 | obj 1 | ... | obj per_slab-1 | rest]
 *             ^ aligned to slab_bytes
 *
 * Objects [0, fresh) have been handed out at least once; a free one is on the
 * slab's free list, linked by index through its first 4 bytes (mangled with the
 * secret in hardened mode, which also poisons the rest of a freed object). The
 * bitmap has a bit per object, set while it is live: it is what makes a double free
 * or a forged free-list index detectable. Slabs sit on one of three lists: partial
 * (some objects free), full, empty (kept as hysteresis, at most SLAB_KEEP). alloc
 * takes from the first partial slab, else an empty one, else a new one; free puts
 * the object back and moves its slab between lists. Everything is under the heap's
 * lock; the only cost above O(1) is a new or released slab: one heap malloc or free.
 */
#define SLAB_KEEP 2u
#define CACHE_MAX_OBJECT ((size_t)65536)
#define CACHE_MAX_ALIGN ((size_t)4096)
#define SLAB_MIN ((size_t)4096)

typedef struct slab {
	struct slab *next, *prev;  /* on its cache's list (NULL-terminated) */
	struct liballoc_cache *cache;
	uint32_t used;             /* live objects */
	uint32_t fresh;            /* objects [fresh, per_slab) were never handed out */
	uint32_t free;             /* index + 1 of the first object on the free list; 0: none */
	uint32_t check;            /* keyed hash of the slab's address and its cache */
	uint32_t live[];           /* bit i: object i is live */
} slab;

enum { LIST_PARTIAL, LIST_FULL, LIST_EMPTY };

struct liballoc_cache {
	struct liballoc_cache *next, *prev;  /* the heap's caches (NULL-terminated) */
	heap *h;
	slab *list[3];                       /* LIST_* */
	size_t stride;                       /* bytes between objects */
	size_t slab_bytes;                   /* a power of two */
	size_t first;                        /* offset of object 0 from the slab */
	uint32_t per_slab, empty;            /* objects per slab; slabs on the empty list */
	size_t objects, slabs;
	uint32_t check;                      /* keyed hash of the cache's address */
	char name[32];
};

static inline uint32_t slab_hash(const heap *h, const slab *s, const liballoc_cache *c)
{
	return keyed(h, (uintptr_t)s, keyed(h, (uintptr_t)c, 0x51ab));
}

static inline char *obj_at(const liballoc_cache *c, const slab *s, uint32_t i)
{
	return (char *)s + c->first + (size_t)i * c->stride;
}

static inline int is_live(const slab *s, uint32_t i) { return s->live[i / 32] >> (i % 32) & 1; }
static inline void set_live(slab *s, uint32_t i, int on)
{
	s->live[i / 32] = on ? s->live[i / 32] | 1u << (i % 32) : s->live[i / 32] & ~(1u << (i % 32));
}

/* A free object's link: the next free index + 1 (0 ends the list). */
static inline uint32_t link_mask(const heap *h) { return LIBALLOC_HARDENED ? (uint32_t)h->key[1] : 0; }

/* The slab list a slab with `used` live objects belongs on. */
static inline int list_for(const liballoc_cache *c, uint32_t used)
{
	return used == 0 ? LIST_EMPTY : used == c->per_slab ? LIST_FULL : LIST_PARTIAL;
}

static void slab_unlink(liballoc_cache *c, slab *s, int list)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		c->list[list] = s->next;
	if (s->next)
		s->next->prev = s->prev;
	c->empty -= list == LIST_EMPTY;
}

static void slab_push(liballoc_cache *c, slab *s, int list)
{
	s->prev = NULL;
	s->next = c->list[list];
	if (s->next)
		s->next->prev = s;
	c->list[list] = s;
	c->empty += list == LIST_EMPTY;
}

/* A new slab on the empty list (lock held); NULL when out of memory. */
static slab *slab_new(liballoc_cache *c, fault *f)
{
	heap *h = c->h;
	size_t n = c->slab_bytes - HDR - canary_room();
	slab *s = h_alloc(h, n, c->slab_bytes, NULL, f);
	ASSERT(LOCKED(h));
	if (!s)
		return NULL;
	ASSERT(((uintptr_t)s & (c->slab_bytes - 1)) == 0 && c->first + (size_t)c->per_slab * c->stride <= n);
	__builtin_memset(s, 0, c->first);
	s->cache = c;
	s->check = slab_hash(h, s, c);
	slab_push(c, s, LIST_EMPTY);
	c->slabs++;
	STAT(h->st.cache_slabs++);
	return s;
}

/* Let slab s (off every list) go back to the heap (lock held). */
static void slab_release(liballoc_cache *c, slab *s, fault *f)
{
	heap *h = c->h;
	blk *b = live_block(h, s);  /* what release() may rely on */
	s->check = 0;
	c->slabs--;
	STAT(h->st.cache_slabs--);
	if (b)
		release(h, b, 1, f);
	else
		set_fault(f, misuse(h, s), s);
}

/* The slab's free list was found broken: report it and rebuild the list from the
 * bitmap (error path, O(per_slab)). */
__attribute__((cold)) static void slab_relink(liballoc_cache *c, slab *s, void *where, fault *f)
{
	set_fault(f, LIBALLOC_E_FREE_LIST, where);
	s->free = 0;
	for (uint32_t i = s->fresh; i-- > 0;)
		if (!is_live(s, i)) {
			*(uint32_t *)(void *)obj_at(c, s, i) = s->free ^ link_mask(c->h);
			s->free = i + 1;
		}
}

/* Hand out an object of slab s, which has a free one (lock held). */
static void *slab_take(liballoc_cache *c, slab *s, fault *f)
{
	heap *h = c->h;
	uint32_t i;
	int from = list_for(c, s->used);
	ASSERT(LOCKED(h) && s->used < c->per_slab);
	if (s->free) {
		i = s->free - 1;
		uint32_t next = *(uint32_t *)(void *)obj_at(c, s, i) ^ link_mask(h);
		if (i >= s->fresh || is_live(s, i) || next > s->fresh || (next && is_live(s, next - 1))) {
			slab_relink(c, s, obj_at(c, s, i), f);
			if (!s->free)
				return NULL;  /* the corrupted object was the only free one */
			i = s->free - 1;
			next = *(uint32_t *)(void *)obj_at(c, s, i) ^ link_mask(h);
		}
		if (LIBALLOC_HARDENED && !filled(obj_at(c, s, i) + 4, POISON, c->stride - 4))
			set_fault(f, LIBALLOC_E_USE_AFTER_FREE, obj_at(c, s, i));
		s->free = next;
	} else {
		i = s->fresh++;
	}
	set_live(s, i, 1);
	s->used++;
	c->objects++;
	STAT(h->st.cache_objects++);
	if (list_for(c, s->used) != from) {
		slab_unlink(c, s, from);
		slab_push(c, s, list_for(c, s->used));
	}
	return obj_at(c, s, i);
}

/* The slab of c that object p belongs to, and its index; or 0 with f saying what
 * is wrong with p. */
static int slab_find(liballoc_cache *c, void *p, slab **out, uint32_t *index, fault *f)
{
	heap *h = c->h;
	uintptr_t a = (uintptr_t)p;
	slab *s = (slab *)(a & ~(uintptr_t)(c->slab_bytes - 1));
	int e = LIBALLOC_OK;
	if (!owns(h, a)) {
		e = LIBALLOC_E_FOREIGN_POINTER;
	} else if (!live_block(h, s) || s->check != slab_hash(h, s, c)) {
		e = LIBALLOC_E_WRONG_CACHE;  /* in the heap, not in one of c's slabs */
	} else if (a < (uintptr_t)obj_at(c, s, 0) || (a - (uintptr_t)obj_at(c, s, 0)) % c->stride ||
		   (a - (uintptr_t)obj_at(c, s, 0)) / c->stride >= s->fresh) {
		e = LIBALLOC_E_INTERIOR_POINTER;
	} else {
		*index = (uint32_t)((a - (uintptr_t)obj_at(c, s, 0)) / c->stride);
		if (!is_live(s, *index))
			e = LIBALLOC_E_DOUBLE_FREE;
	}
	if (e) {
		set_fault(f, e, p);
		return 0;
	}
	*out = s;
	return 1;
}

/* The slab size for objects of `stride` bytes: a power of two holding at least
 * eight of them (with the slab header and the block header), at least SLAB_MIN. */
static size_t slab_size(size_t stride, size_t align)
{
	size_t bytes = SLAB_MIN;
	while (bytes - HDR - canary_room() < sizeof(slab) + 4 + align + 8 * stride)
		bytes <<= 1;
	return bytes;
}

liballoc_cache *liballoc_cache_create(liballoc_heap *hh, const char *name, size_t size, size_t align)
{
	heap *h = heap_of(hh);
	fault f = NO_FAULT;
	if (!ALIGNED || !size || size > CACHE_MAX_OBJECT || (align && (!is_pow2(align) || align > CACHE_MAX_ALIGN))) {
		SET_ERRNO(LIBALLOC_EINVAL);
		return NULL;
	}
	align = align < sizeof(void *) ? sizeof(void *) : align;
	size_t stride = align_up(size < 4 ? 4 : size, align), bytes = slab_size(stride, align);
	size_t room = bytes - HDR - canary_room(), per = (room - sizeof(slab)) / stride, first;
	do {  /* the bitmap's length depends on the count it describes */
		first = align_up(sizeof(slab) + (per + 31) / 32 * 4, align);
		per = (room - first) / stride < per ? (room - first) / stride : per;
	} while (first + per * stride > room);
	if (!enter(h))
		return nomem(NULL);
	liballoc_cache *c = h_alloc(h, sizeof *c, ALIGN, NULL, &f);
	if (c) {
		__builtin_memset(c, 0, sizeof *c);
		c->h = h;
		c->stride = stride;
		c->slab_bytes = bytes;
		c->first = first;
		c->per_slab = (uint32_t)per;
		c->check = slab_hash(h, NULL, c);
		for (size_t i = 0; name && name[i] && i + 1 < sizeof c->name; i++)
			c->name[i] = name[i];
		c->next = h->caches;
		if (c->next)
			c->next->prev = c;
		h->caches = c;
		STAT(h->st.caches++);
	} else {
		STAT(h->st.failed_allocs++);
	}
	leave(h, &f);
	return nomem(c);
}

void *liballoc_cache_alloc(liballoc_cache *c)
{
	heap *h = c->h;
	fault f = NO_FAULT;
	void *obj = NULL;
	if (!enter(h))
		return nomem(NULL);
	ASSERT(c->check == slab_hash(h, NULL, c));
	slab *s = c->list[LIST_PARTIAL] ? c->list[LIST_PARTIAL] : c->list[LIST_EMPTY];
	if (!s)
		s = slab_new(c, &f);
	if (s)
		obj = slab_take(c, s, &f);
	if (!obj)
		STAT(h->st.failed_allocs++);
	leave(h, &f);
	return nomem(obj);
}

void liballoc_cache_free(liballoc_cache *c, void *obj)
{
	heap *h;
	fault f = NO_FAULT;
	slab *s;
	uint32_t i;
	if (!obj)
		return;
	h = c->h;
	if (!enter(h)) {
		report_now(h, LIBALLOC_E_LOCK, obj);
		return;
	}
	ASSERT(c->check == slab_hash(h, NULL, c));
	if (slab_find(c, obj, &s, &i, &f)) {
		int from = list_for(c, s->used);
		set_live(s, i, 0);
		poison((char *)obj + 4, c->stride - 4);
		*(uint32_t *)obj = s->free ^ link_mask(h);
		s->free = i + 1;
		s->used--;
		c->objects--;
		STAT(h->st.cache_objects--);
		slab_unlink(c, s, from);
		if (s->used == 0 && c->empty >= SLAB_KEEP)
			slab_release(c, s, &f);
		else
			slab_push(c, s, list_for(c, s->used));
	}
	leave(h, &f);
}

void liballoc_cache_destroy(liballoc_cache *c)
{
	heap *h = c->h;
	fault f = NO_FAULT;
	if (!enter(h)) {
		report_now(h, LIBALLOC_E_LOCK, c);
		return;
	}
	ASSERT(c->check == slab_hash(h, NULL, c));
	for (int k = 0; k < 3; k++)
		while (c->list[k]) {
			slab *s = c->list[k];
			slab_unlink(c, s, k);
			slab_release(c, s, &f);
		}
	STAT(h->st.cache_objects -= c->objects);
	if (c->prev)
		c->prev->next = c->next;
	else
		h->caches = c->next;
	if (c->next)
		c->next->prev = c->prev;
	STAT(h->st.caches--);
	c->check = 0;
	release(h, blk_of(c), 1, &f);
	leave(h, &f);
}

void liballoc_cache_stats(liballoc_cache *c, struct liballoc_cache_stats *out)
{
	heap *h = c->h;
	fault f = NO_FAULT;
	__builtin_memset(out, 0, sizeof *out);
	if (!enter(h))
		return;
	out->name = c->name;
	out->object_size = c->stride;
	out->slab_bytes = c->slab_bytes;
	out->per_slab = c->per_slab;
	out->objects = c->objects;
	out->slabs = c->slabs;
	out->empty_slabs = c->empty;
	leave(h, &f);
}

/* ==== 15. Introspection ================================================== */

const char *liballoc_strerror(int error)
{
	static const char *const text[LIBALLOC_E_COUNT] = {
		[LIBALLOC_OK] = "no error",
		[LIBALLOC_E_FOREIGN_POINTER] = "pointer not from this heap",
		[LIBALLOC_E_INTERIOR_POINTER] = "pointer into the middle of a block",
		[LIBALLOC_E_DOUBLE_FREE] = "double free (block already free)",
		[LIBALLOC_E_REALLOC_FREED] = "realloc or usable size of a freed block",
		[LIBALLOC_E_HEADER] = "block header overwritten (heap corruption)",
		[LIBALLOC_E_OVERFLOW] = "write past the end of a block",
		[LIBALLOC_E_USE_AFTER_FREE] = "write to freed memory (poison overwritten)",
		[LIBALLOC_E_FREE_LIST] = "free-list links overwritten (heap corruption)",
		[LIBALLOC_E_LOCK] = "the lock or unlock hook failed",
		[LIBALLOC_E_PORT] = "the port broke its contract",
		[LIBALLOC_E_WRONG_CACHE] = "object freed to a cache it does not belong to",
		[LIBALLOC_E_BLOCK_SIZE] = "block size invalid or overruns its chunk",
		[LIBALLOC_E_BOUNDARY_TAG] = "boundary tag disagrees with the previous block",
		[LIBALLOC_E_UNCOALESCED] = "two adjacent free blocks",
		[LIBALLOC_E_BITMAP] = "size-class bitmap disagrees with the free lists",
		[LIBALLOC_E_FREE_CLASS] = "free block in the wrong size-class list",
		[LIBALLOC_E_FREE_MISSING] = "free block missing from the free lists",
		[LIBALLOC_E_RUN] = "page run header or run list broken",
		[LIBALLOC_E_PAGEMAP] = "page map disagrees with the runs held",
		[LIBALLOC_E_SLAB] = "object cache slab inconsistent",
		[LIBALLOC_E_ACCOUNTING] = "counters disagree with the heap walk",
	};
	return error >= 0 && error < LIBALLOC_E_COUNT ? text[error] : "unknown error";
}

/* Are all pages of run r owned by the heap (in its page map, or its region)? */
static int run_mapped(const heap *h, const run *r)
{
	for (size_t i = 0; i < r->pages; i++)
		if (!owns(h, (uintptr_t)r + i * PAGE))
			return 0;
	return 1;
}

/* Walk chunk r block by block. Canaries of blocks of at most `racy` bytes are not
 * compared (other threads may be handing them out or caching them right now). */
static int check_chunk(const heap *h, const run *r, size_t racy, tally *t)
{
	const blk *b = chunk_first(r), *end = (const blk *)((const char *)r + run_bytes(r) - HDR);
	size_t prev = 0;
	int prev_free = 0;
	for (;;) {
		if (b > end)
			return LIBALLOC_E_BLOCK_SIZE;
		if (!hdr_ok(h, b))
			return LIBALLOC_E_HEADER;
		if (b->prev != prev)
			return LIBALLOC_E_BOUNDARY_TAG;
		size_t s = bsize(b);
		if (s == 0) {
			if (b != end || b->size != F_USED)
				return LIBALLOC_E_BLOCK_SIZE;
			return LIBALLOC_OK;
		}
		if (s < MIN_BLOCK || (const char *)b + s > (const char *)end || (b->size & F_HUGE))
			return LIBALLOC_E_BLOCK_SIZE;
		uint32_t slack = slack_of(b);
		if (used(b) && slack == SLACK_CACHED) {
			t->cached++;
		} else if (used(b) && slack == SLACK_FREED) {
			if (LIBALLOC_HARDENED && !filled(payload(b), POISON, usable(b)))
				return LIBALLOC_E_USE_AFTER_FREE;
			t->quarantined++;
		} else if (used(b)) {
			if ((b->size & F_ZERO) || slack > usable(b))
				return LIBALLOC_E_BLOCK_SIZE;
			if (s > racy && !canary_ok(h, b))
				return LIBALLOC_E_OVERFLOW;
			t->in_use += usable(b) - slack;
			t->live++;
		} else {
			if (prev_free)
				return LIBALLOC_E_UNCOALESCED;
			if (!fill_intact(b, s, b->size & F_ZERO))
				return LIBALLOC_E_USE_AFTER_FREE;
			t->free_blocks++;
			t->free_bytes += s;
			if (whole(b)) {
				t->empty++;
				t->empty_bytes += run_bytes(r);
			}
		}
		prev_free = !used(b);
		prev = s;
		b = next_blk(b);
	}
}

static int check_lists(const heap *h, const tally *t)
{
	size_t seen = 0;
	for (unsigned fl = 0; fl < FL_COUNT; fl++) {
		if (!!(h->fl_map >> fl & 1) != (h->sl_map[fl] != 0))
			return LIBALLOC_E_BITMAP;
		for (unsigned sl = 0; sl < SL_COUNT; sl++) {
			const blk *b = h->free[fl][sl], *back = NULL;
			if (!!(h->sl_map[fl] >> sl & 1) != (b != NULL))
				return LIBALLOC_E_BITMAP;
			for (; b; back = b, b = demangle(h, L(b)->next)) {
				unsigned f, s;
				if (++seen > t->free_blocks || !owns(h, (uintptr_t)b) || !hdr_ok(h, b) || used(b) ||
				    demangle(h, L(b)->prev) != back)
					return LIBALLOC_E_FREE_LIST;
				mapping(bsize(b), &f, &s);
				if (f != fl || s != sl)
					return LIBALLOC_E_FREE_CLASS;
			}
		}
	}
	return seen == t->free_blocks ? LIBALLOC_OK : LIBALLOC_E_FREE_MISSING;
}

static int check_huge(const heap *h, const run *r, tally *t)
{
	if (r->kind == RUN_DEAD)
		return LIBALLOC_OK;
	if (r->kind != RUN_HUGE)
		return LIBALLOC_E_RUN;
	const blk *b = (const blk *)((const char *)r + r->aux);
	if ((r->aux & 15) || r->aux < RUN_HDR || r->aux + HDR > run_bytes(r) || !hdr_ok(h, b) ||
	    (b->size & ~(F_USED | F_REQ)) != (r->aux | F_HUGE))
		return LIBALLOC_E_HEADER;
	if (used(b) && slack_of(b) == SLACK_FREED) {
		t->quarantined++;
		return LIBALLOC_OK;
	}
	if (!used(b) || slack_of(b) > usable(b))
		return LIBALLOC_E_BLOCK_SIZE;
	if (!canary_ok(h, b))
		return LIBALLOC_E_OVERFLOW;
	t->in_use += requested(b);
	t->live++;
	t->huge++;
	return LIBALLOC_OK;
}

/* One slab of cache c on list k: its header, bitmap, free list and list. */
static int check_slab(const heap *h, const liballoc_cache *c, const slab *s, int k, size_t *objects)
{
	uint32_t live = 0, chain = 0, mask = link_mask(h);
	if (!live_block(h, (void *)s) || s->check != slab_hash(h, s, c) || s->cache != c || s->fresh > c->per_slab ||
	    s->used > s->fresh || list_for(c, s->used) != k)
		return LIBALLOC_E_SLAB;
	for (uint32_t i = 0; i < c->per_slab; i++)
		if (is_live(s, i) && (++live, i >= s->fresh))
			return LIBALLOC_E_SLAB;
	for (uint32_t i = s->free; i; i = *(const uint32_t *)(const void *)obj_at(c, s, i - 1) ^ mask)
		if (i > s->fresh || is_live(s, i - 1) || ++chain > s->fresh)
			return LIBALLOC_E_SLAB;
	*objects += live;
	return live == s->used && chain + live == s->fresh ? LIBALLOC_OK : LIBALLOC_E_SLAB;
}

static int check_caches(const heap *h, size_t live)
{
	size_t caches = 0, slabs = 0, objects = 0;
	for (const liballoc_cache *c = h->caches, *back = NULL; c; back = c, c = c->next) {
		size_t n = 0, o = 0, empty = 0;
		int e;
		if (c->h != h || c->prev != back || c->check != slab_hash(h, NULL, c) || ++caches > live)
			return LIBALLOC_E_SLAB;
		for (int k = 0; k < 3; k++)
			for (const slab *s = c->list[k], *sb = NULL; s; sb = s, s = s->next) {
				if (s->prev != sb || ++n > c->slabs)
					return LIBALLOC_E_SLAB;
				if ((e = check_slab(h, c, s, k, &o)) != 0)
					return e;
				empty += k == LIST_EMPTY;
			}
		if (n != c->slabs || o != c->objects || empty != c->empty || empty > SLAB_KEEP)
			return LIBALLOC_E_SLAB;
		slabs += n;
		objects += o;
	}
	if (LIBALLOC_STATS && (caches != h->st.caches || slabs != h->st.cache_slabs || objects != h->st.cache_objects))
		return LIBALLOC_E_ACCOUNTING;
	return LIBALLOC_OK;
}

static int check_heap(heap *h)
{
	tally t = {0}, want = {0};
	int e, others = 0;
	const run *heads[2] = {&h->chunks, &h->huges};
	/* The cache layer first: whether other threads' caches exist decides what the
	 * walk may compare (their blocks change state without the lock). */
	if (h == G && (e = tc_check(h, &want, &others)) != 0)
		return e;
	for (int k = 0; k < 2; k++) {
		size_t n = 0;
		int nonempty_seen = 0;  /* empty chunks lead their list (mark_empty) */
		for (const run *r = heads[k]->next; r != heads[k]; r = r->next) {
			if (++n > h->st.obtained / PAGE + 1 || r->next->prev != r || !run_ok(h, r) ||
			    (k == 0) != (r->kind == RUN_CHUNK))
				return LIBALLOC_E_RUN;
			if (r->kind != RUN_DEAD && !run_mapped(h, r))
				return LIBALLOC_E_PAGEMAP;
			t.obtained += run_bytes(r);
			if (k == 0) {
				t.chunks++;
				if ((e = check_chunk(h, r, others ? TC_RACY_BLOCK : 0, &t)) != 0)
					return e;
				int empty = !used(chunk_first(r)) && whole(chunk_first(r));
				if (empty && nonempty_seen)
					return LIBALLOC_E_RUN;
				nonempty_seen |= !empty;
			} else if ((e = check_huge(h, r, &t)) != 0) {
				return e;
			}
		}
	}
	if ((e = check_lists(h, &t)) != 0 || (e = check_caches(h, t.live)) != 0)
		return e;
	for (uint32_t i = 0; i < h->quar_n; i++) {  /* the quarantine's ring: quarantined blocks, all of them */
		const blk *b = h->quar[(h->quar_head + i) % QUAR_SLOTS];
		if (!owns(h, (uintptr_t)b) || !hdr_ok(h, b) || !used(b) || slack_of(b) != SLACK_FREED)
			return LIBALLOC_E_FREE_LIST;
	}
	/* Other threads move blocks between their caches and their users without the
	 * lock (and after a fork, the vanished ones may have stopped halfway): the live,
	 * in-use and cached totals are then compared only when no other cache exists. */
	if ((!others && (t.in_use != h->st.in_use + LOAD(h->tc_in_use) + want.in_use ||
			 (!WALKED && t.live != h->st.live_blocks + want.live) || t.cached != want.cached)) ||
	    t.quarantined != h->quar_n || (!WALKED && t.free_bytes != h->st.free_bytes) ||
	    (PAGED && (t.empty != h->empty_chunks || t.empty_bytes != h->empty_bytes)) ||
	    t.obtained + h->st.metadata != h->st.obtained ||
	    (LIBALLOC_STATS && (t.huge != h->st.huge_blocks || t.chunks != h->st.chunks)))
		return LIBALLOC_E_ACCOUNTING;
	return LIBALLOC_OK;
}

static int check_on(heap *h)
{
	fault f = NO_FAULT;
	if (!enter(h))
		return LIBALLOC_E_LOCK;
	int e = check_heap(h);
	leave(h, &f);
	return e;
}

/* The counters; those the small profile does not keep per call (WALKED) come from
 * a walk of its chunk, as far as the walk finds the blocks sound. */
static void stats_on(heap *h, struct liballoc_stats *out)
{
	fault f = NO_FAULT;
	if (!enter(h)) {
		__builtin_memset(out, 0, sizeof *out);
		return;
	}
	*out = h->st;
	out->in_use += LOAD(h->tc_in_use);
	out->quarantined = h->quar_n;
	if (h == G)
		tc_stats(h, out);
	if (WALKED) {
		tally t = {0};
		for (const run *r = h->chunks.next; r != &h->chunks; r = r->next)
			(void)check_chunk(h, r, 0, &t);
		out->live_blocks = t.live;
		out->free_bytes = t.free_bytes;
	}
	leave(h, &f);
}

static size_t trim_on(heap *h)
{
	fault f = NO_FAULT;
	size_t bytes = 0;
	if (!enter(h))
		return 0;
	if (h == G)
		tc_reclaim(h, &f);  /* the caller's cached blocks may pin chunks */
	bytes = give_back(h, &f);
	leave(h, &f);
	return bytes;
}

void liballoc_stats(struct liballoc_stats *out) { stats_on(G, out); }
int liballoc_check(void) { return check_on(G); }
size_t liballoc_trim(void) { return trim_on(G); }
void liballoc_heap_stats(liballoc_heap *h, struct liballoc_stats *out) { stats_on(heap_of(h), out); }
int liballoc_heap_check(liballoc_heap *h) { return check_on(heap_of(h)); }
size_t liballoc_heap_trim(liballoc_heap *h) { return trim_on(heap_of(h)); }

/* The description of block b, in run r, as liballoc_walk and liballoc_describe
 * give it. */
static void describe_blk(const blk *b, const run *r, struct liballoc_block *out)
{
	uint32_t slack = slack_of(b);
	out->ptr = payload(b);
	out->usable = used(b) ? usable(b) : bsize(b) - HDR;
	out->state = !used(b) ? LIBALLOC_BLOCK_FREE
		     : slack == SLACK_CACHED ? LIBALLOC_BLOCK_CACHED
		     : slack == SLACK_FREED ? LIBALLOC_BLOCK_QUARANTINED : LIBALLOC_BLOCK_LIVE;
	out->size = out->state == LIBALLOC_BLOCK_LIVE ? out->usable - slack : out->usable;
	out->huge = (b->size & F_HUGE) != 0;
	out->site = used(b) && (b->size & F_REQ) ? trail_of(b)->site : NULL;
	out->freed_at = (out->state == LIBALLOC_BLOCK_QUARANTINED || out->state == LIBALLOC_BLOCK_CACHED) && (b->size & F_REQ)
				? trail_of(b)->freed_at : NULL;
	out->run = (void *)(uintptr_t)r;
	out->run_bytes = run_bytes(r);
}

int liballoc_walk(liballoc_heap *hh, liballoc_walk_fn fn, void *arg)
{
	heap *h = heap_of(hh);
	fault f = NO_FAULT;
	struct liballoc_block info;
	int stop = 0;
	if (!enter(h))
		return LIBALLOC_E_LOCK;
	for (const run *r = h->chunks.next; r != &h->chunks && !stop; r = r->next) {
		const blk *b = chunk_first(r), *end = (const blk *)((const char *)r + run_bytes(r) - HDR);
		for (; !stop && b < end && bsize(b) >= MIN_BLOCK; b = next_blk(b)) {
			if (!hdr_ok(h, b)) {
				stop = LIBALLOC_E_HEADER;
				break;
			}
			describe_blk(b, r, &info);
			stop = fn(&info, arg);
		}
	}
	for (const run *r = h->huges.next; r != &h->huges && !stop; r = r->next)
		if (r->kind == RUN_HUGE) {
			describe_blk((const blk *)((const char *)r + r->aux), r, &info);
			stop = fn(&info, arg);
		}
	leave(h, &f);
	return stop;
}

int liballoc_describe(liballoc_heap *hh, const void *ptr, struct liballoc_block *out)
{
	heap *h = heap_of(hh);
	fault f = NO_FAULT;
	uintptr_t a = (uintptr_t)ptr;
	int found = 0;
	if (!enter(h))
		return 0;
	const blk *b = blk_of(ptr);
	const run *r;
	if (!(a & (ALIGN - 1)) && owns(h, a) && hdr_genuine(h, b) && (bsize(b) || (b->size & F_HUGE))) {
		if ((r = b->size & F_HUGE ? huge_run(b) : run_of(h, a)) != NULL) {
			describe_blk(b, r, out);
			found = 1;
		}
	} else if (owns(h, a) && (r = run_of(h, a)) != NULL && a < (uintptr_t)r + run_bytes(r)) {
		if (r->kind == RUN_HUGE) {
			describe_blk((const blk *)((const char *)r + r->aux), r, out);
			found = 1;
		} else if (r->kind == RUN_CHUNK) {  /* the block it points into */
			const blk *end = (const blk *)((const char *)r + run_bytes(r) - HDR);
			for (b = chunk_first(r); b < end && hdr_ok(h, b) && bsize(b) >= MIN_BLOCK; b = next_blk(b))
				if (a < (uintptr_t)next_blk(b)) {
					describe_blk(b, r, out);
					found = 1;
					break;
				}
		}
	}
	leave(h, &f);
	return found;
}
