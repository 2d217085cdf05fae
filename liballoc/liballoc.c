/* liballoc.c — the allocator core: two-level segregated fits with boundary tags over page runs from four port hooks. */
/* SPDX-License-Identifier: MIT */
/*
 * Design
 * ======
 *
 * Memory comes from the port in page runs (liballoc_alloc_page). A run is either a
 * CHUNK, which is cut into blocks, or a HUGE run, which holds exactly one block
 * larger than the huge threshold. Both start with a run header; all runs of a kind
 * are on a circular list in the heap (used only by trim and check).
 *
 *   chunk: [run hdr][blk hdr|payload ...][blk hdr|payload ...] ... [sentinel hdr]
 *   huge:  [run hdr] ... padding for alignment ... [blk hdr|payload .............]
 *
 * Every block has a 16-byte header right before its 16-byte aligned payload: the
 * byte size of the physically preceding block (the boundary tag), its own size with
 * flag bits, the slack (usable bytes beyond the request) and a check word, a keyed
 * hash of the header's address and size. Free blocks keep two free-list links in
 * the first 16 payload bytes, so the smallest block is 32 bytes. A size-0
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
 *   free(p): look p up in the page map (is it inside a run of this heap?), verify
 *     its header, then merge with the physical neighbours if they are free — found
 *     through the boundary tag and the size, in O(1) — and push the result on the
 *     head of its list.
 *
 * Bound. Every step above is a constant number of word operations: list insertion
 * and removal are O(1) on doubly linked lists; a search is at most one list-head
 * probe plus two bitmap scans of one machine word each (count-leading/trailing-zero
 * instructions), i.e. independent of the number of free or live blocks and of the
 * heap size; coalescing looks at exactly two neighbours. So malloc and free take
 * O(1) time plus, when the heap must grow, one alloc_page call and setting the page
 * map bits of the new run, O(run pages / 32) word writes, where a chunk is at most
 * max(LIBALLOC_CHUNK_MAX, threshold) bytes: a constant of the configuration; before
 * that, the empty chunks kept as hysteresis (none of which could serve) go back,
 * one free_page call each, their number bounded by the keep budget. Huge
 * blocks cost O(1) plus O(pages / 32) for their page map bits. The cost of the port
 * hooks themselves is the port's (see the port's documentation). Thread caches
 * (section 11) add refills and flushes of at most TC_BATCH blocks, each O(1), and
 * hand whole bins between threads in O(1) without the heap lock.
 * Misuse is classified on an error path that walks one run, O(run size), never the
 * heap.
 *
 * Space. Rounding a request up to the next class wastes less than 1/2^SL_LOG2 of it
 * only for the search ("good fit" keeps the head probe exact); the split keeps
 * blocks within 31 bytes of the request. TLSF's analysis bounds fragmentation for
 * this policy; we add immediate coalescing and return empty chunks to the port,
 * keeping LIBALLOC_KEEP_EMPTY of them as hysteresis so a malloc/free loop of one big
 * block does not call the page hooks every time.
 *
 * Safety. The page map is a radix tree of bits, one per page the heap holds, so any
 * pointer — stack, static, wild, interior — is tested without reading memory the
 * heap does not own. The check word detects interior pointers (an attacker or a bug
 * must guess a 32-bit keyed hash) and overwritten headers; neighbours are verified
 * before they are rewritten, so corruption is reported instead of laundered. Every
 * header a block gives up is erased, so a stale header never validates. Hardened
 * mode adds canaries, poisoning and mangled free-list links (section 7).
 *
 * Sections: 1 configuration, 2 data structures, 3 helpers and check words, 4 port
 * calls, 5 page map, 6 free lists, 7 hardening, 8 chunks, 9 huge runs, 10 block
 * operations, 11 thread caches, 12 API, 13 introspection.
 */
#include "liballoc.h"

#include <limits.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ==== 1. Configuration =================================================== */

#define PAGE       ((size_t)LIBALLOC_PAGE_SIZE)
#define PAGE_SHIFT ((unsigned)__builtin_ctzll((unsigned long long)LIBALLOC_PAGE_SIZE))
#define ALIGN      ((size_t)16)   /* every payload: max_align_t on x86_64 */
#define HDR        ((size_t)16)   /* block header */
#define MIN_BLOCK  ((size_t)32)   /* header + two links */
#define SL_LOG2    LIBALLOC_SL_LOG2
#define SL_COUNT   (1u << SL_LOG2)
#define SMALL_LIMIT ((size_t)SL_COUNT << 4)  /* below: exact 16-byte classes */
#define FL_SHIFT   (SL_LOG2 + 4)
#define FL_COUNT   (32 - FL_SHIFT + 1)        /* block sizes are < 2^32 */
#define MAX_REQUEST ((size_t)PTRDIFF_MAX)
/* A huge block keeps the offset from its run to its header in its size word, below
 * 4 GiB, which caps the alignment a huge block can have. */
#define MAX_ALIGN  ((size_t)1 << 31)

#ifndef LIBALLOC_ADDR_BITS
#define LIBALLOC_ADDR_BITS 48   /* significant virtual-address bits on 64-bit targets */
#endif
#ifndef LIBALLOC_PAGEMAP_LEAF_BITS
#define LIBALLOC_PAGEMAP_LEAF_BITS 15  /* pages covered by one page map leaf, log2 */
#endif

#ifdef LIBALLOC_DEBUG
#define ASSERT(x) ((x) ? (void)0 : __builtin_trap())
#else
#define ASSERT(x) ((void)0)
#endif

#if LIBALLOC_STATS
#define STAT(x) ((void)(x))
#else
#define STAT(x) ((void)0)
#endif

/* Relaxed atomic access (a plain load or store on every supported target) for the
 * words one thread touches without the lock while another may read them: the page
 * map, the slack word, thread-cache counters. */
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
_Static_assert(alignof(max_align_t) <= 16, "payloads are 16-byte aligned");

/* ==== 2. Data structures ================================================= */

/*
 * struct blk — the 16-byte header before every payload.
 *   prev   chunk block: size in bytes of the physically preceding block, 0 for the
 *          first block of a chunk (this is the boundary tag that makes coalescing
 *          with the predecessor O(1)). Huge block: 0.
 *   size   chunk block: size in bytes including this header, a multiple of 16 (0
 *          marks the sentinel ending a chunk); huge block: byte offset from its run
 *          to this header, a multiple of 16. ORed with the flags below.
 *   slack  live block: usable bytes beyond the requested size (so requested =
 *          size - 16 - slack); SLACK_CACHED: held in a thread cache; free: 0.
 *   check  keyed hash of the header's address and `size`. It leaves out `prev`,
 *          which the predecessor's merges rewrite under the lock while the block's
 *          owner may be validating it without the lock, and `slack`, which the
 *          owner rewrites without the lock. `prev` is cross-checked instead: it
 *          must equal the verified size of the block it leads to.
 * Invariants (checked by liballoc_check): a free block is never physically next
 * to another free block; block.prev == size of the predecessor; a free block is
 * in exactly the list its size maps to; F_ZERO only on free blocks.
 */
typedef struct blk {
	uint32_t prev;
	uint32_t size;
	uint32_t slack;
	uint32_t check;
} blk;
_Static_assert(sizeof(blk) == 16, "block header must be 16 bytes");

#define F_USED 1u   /* block is live, cached by a thread, or a sentinel */
#define F_HUGE 2u   /* block owns a huge run */
#define F_ZERO 4u   /* free block whose payload beyond the links is all zero */
#define F_MASK 15u
#define SLACK_CACHED UINT32_MAX

/* Free-list links, in the first payload bytes of a free block (a thread cache uses
 * `next` only). */
typedef struct links {
	uintptr_t next, prev;
} links;
_Static_assert(sizeof(links) <= 16, "links must fit the smallest payload");

/*
 * struct run — the header at the start of every page run the heap holds.
 * check covers the address, pages and kind, so a run header is found again by
 * scanning page starts backwards (misuse classification) without trusting memory.
 */
typedef struct run {
	struct run *next, *prev;  /* circular list of runs of one kind */
	uint32_t pages;           /* length in pages */
	uint32_t off;             /* huge: byte offset from the run to its block header */
	uint32_t kind;            /* RUN_* */
	uint32_t check;
} run;
#define RUN_CHUNK 0x43484e4bu  /* a chunk of blocks */
#define RUN_HUGE  0x48554745u  /* one huge block */
#define RUN_DEAD  0x44454144u  /* a freed huge run whose free_page failed; trim retries */
#define RUN_HDR   ((size_t)32)
_Static_assert(sizeof(run) <= RUN_HDR, "run header must fit 32 bytes");
_Static_assert(RUN_HDR + 2 * HDR + MIN_BLOCK <= LIBALLOC_PAGE_SIZE, "page too small");

/* Page map geometry: KEY_BITS of page number, split into root / mid / leaf. */
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
#define PM_MID_BITS  ((PM_KEY_BITS - PM_LEAF_BITS) / 2)
#else
#define PM_MID_BITS  0
#endif
#define PM_ROOT_BITS (PM_KEY_BITS - PM_LEAF_BITS - PM_MID_BITS)
#define PM_LEAF_MASK (((uintptr_t)1 << PM_LEAF_BITS) - 1)

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

/* Thread caches (section 11), when the port provides thread-local storage. */
#ifdef LIBALLOC_THREAD_LOCAL
/* Bins: one per 16-byte block size up to TC_SMALL (+16: a refill's last block may
 * be 16 bigger), then classes of 1/8 of a power of two up to TC_MAX. */
#define TC_SMALL ((size_t)1024 + HDR)
#define TC_MAX   ((size_t)4096)                  /* largest block size served by the caches */
#define TC_SMALL_BINS (TC_SMALL / 16 + 2)
#define TC_BINS  (TC_SMALL_BINS + 16)
#define TC_BATCH 32u                             /* most blocks moved per refill or flush */
typedef struct tlink {
	struct tlink *next, *prev;
} tlink;
typedef struct tbin {
	blk *head;
	uint32_t n;
	uint32_t limit;  /* a free into a bin this full passes it on; 0 unless the cache is active */
} tbin;
#define XFER_SEGS 7u                    /* most segments (whole bins) in a transfer stack */
#define XFER_BYTES ((size_t)64 << 10)    /* ... and bytes, beyond its first segment */
typedef struct xstack {
	_Alignas(64) uint32_t lock;  /* try-lock: 1 while a thread changes the stack */
	uint32_t segs, n;            /* segments held, blocks in them */
	tbin seg[XFER_SEGS];         /* each a bin's chain and count, passed whole */
} xstack;
typedef struct tcache {
	tlink link;                          /* on the heap's list while registered */
	int state;                           /* TC_NEW, TC_REGISTERING, TC_ACTIVE (linked), TC_DEAD */
	size_t in_use, allocs, frees;        /* deltas not yet folded into the heap's stats */
	size_t lost;                         /* cached blocks cut off by a forged link */
	tbin bin[TC_BINS];
} tcache;
enum { TC_NEW, TC_REGISTERING, TC_ACTIVE, TC_DEAD };
#endif

typedef struct heap {
	bool ready;
	uint64_t key[2];                      /* secret for check words and link mangling */
	uint32_t fl_map;                      /* bit f: sl_map[f] != 0 */
	uint32_t sl_map[FL_COUNT];            /* bit s: free[f][s] != NULL */
	blk *free[FL_COUNT][SL_COUNT];        /* segregated free lists */
	run chunks, huges;                    /* list heads */
	size_t empty_chunks, empty_bytes;     /* chunks that are one free block, and their bytes */
	size_t chunk_bytes;                   /* bytes held in chunks */
	size_t huge_threshold;                /* block sizes above go to huge runs */
	liballoc_error_fn handler;
	pm_top *pm_root[(size_t)1 << PM_ROOT_BITS];
#ifdef LIBALLOC_THREAD_LOCAL
	tlink caches;                         /* registered thread caches */
	bool orphans;                         /* a fork child abandoned other threads' caches */
	xstack xfer[TC_BINS];                 /* per class: cached blocks passed between threads */
#endif
	struct liballoc_stats st;
} heap;

/* A misuse or corruption found under the lock, reported after unlocking. */
typedef struct fault {
	int code;
	void *ptr;
	liballoc_error_fn handler;
} fault;

/* ==== 3. Helpers and check words ========================================= */

static inline uintptr_t align_up(uintptr_t x, uintptr_t a) { return (x + a - 1) & ~(a - 1); }
static inline uintptr_t page_floor(uintptr_t x) { return x & ~(uintptr_t)(PAGE - 1); }
static inline bool is_pow2(size_t x) { return x && !(x & (x - 1)); }
static inline unsigned fls32(uint32_t x) { return 31u - (unsigned)__builtin_clz(x); }
static inline unsigned ffs32(uint32_t x) { return (unsigned)__builtin_ctz(x); }
static inline size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

static inline size_t bsize(const blk *b) { return b->size & ~F_MASK; }
static inline bool used(const blk *b) { return b->size & F_USED; }
static inline void *payload(const blk *b) { return (char *)b + HDR; }
static inline blk *blk_of(const void *p) { return (blk *)((uintptr_t)p - HDR); }
static inline blk *next_blk(const blk *b) { return (blk *)((char *)b + bsize(b)); }
static inline blk *prev_blk(const blk *b) { return (blk *)((char *)b - b->prev); }
static inline links *L(const blk *b) { return (links *)payload(b); }
static inline uint32_t slack_of(const blk *b) { return LOAD(b->slack); }
static inline run *huge_run(const blk *b) { return (run *)((char *)b - bsize(b)); }
static inline size_t run_bytes(const run *r) { return (size_t)r->pages * PAGE; }

static inline uint32_t mix(uint64_t x, uint64_t y)
{
	x ^= y * 0x9e3779b97f4a7c15ull;
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	return (uint32_t)(x >> 32);
}

static inline uint32_t hdr_hash(const heap *h, const blk *b)
{
	uint64_t a = (uint64_t)(uintptr_t)b;
	return mix(((uint64_t)b->size << 32 | (a & 0xffffffffu)) ^ h->key[0], (a >> 32) ^ h->key[1]);
}

static inline bool hdr_ok(const heap *h, const blk *b) { return b->check == hdr_hash(h, b); }

static inline void hdr_set(const heap *h, blk *b, size_t prev, size_t size, size_t slack)
{
	b->prev = (uint32_t)prev;
	b->size = (uint32_t)size;
	STORE(b->slack, (uint32_t)slack);
	b->check = hdr_hash(h, b);
}

static inline uint32_t run_hash(const heap *h, const run *r)
{
	return mix(((uint64_t)r->off << 32 | r->pages) ^ h->key[1], ((uint64_t)r->kind << 32 | (uint32_t)(uintptr_t)r) ^
		   ((uint64_t)(uintptr_t)r >> 32) ^ h->key[0]);
}

static inline bool run_ok(const heap *h, const run *r)
{
	return r->check == run_hash(h, r) &&
	       (r->kind == RUN_CHUNK || r->kind == RUN_HUGE || r->kind == RUN_DEAD);
}

static inline size_t usable(const blk *b)
{
	if (b->size & F_HUGE) {
		const run *r = huge_run(b);
		return (size_t)((const char *)r + run_bytes(r) - (const char *)payload(b));
	}
	return bsize(b) - HDR;
}

/* Bytes the user asked for (the requested size of a live block). */
static inline size_t requested(const blk *b) { return usable(b) - slack_of(b); }

static bool verify(const heap *h, blk *b, fault *f)
{
	if (hdr_ok(h, b))
		return true;
	f->code = LIBALLOC_E_HEADER;
	f->ptr = payload(b);
	return false;
}

/* ==== 4. Port calls ====================================================== */

static size_t give_back(heap *h);

/* Pages from the port. When it has none, first give it back what the heap holds
 * without use (empty chunks, runs whose free_page failed) and ask once more. */
static void *port_alloc(heap *h, size_t pages)
{
	STAT(h->st.alloc_page_calls++);
	void *p = liballoc_alloc_page(pages);
	if (!p) {
		STAT(h->st.alloc_page_failures++);
		if (!give_back(h))
			return NULL;
		STAT(h->st.alloc_page_calls++);
		if ((p = liballoc_alloc_page(pages)) == NULL) {
			STAT(h->st.alloc_page_failures++);
			return NULL;
		}
	}
	ASSERT(((uintptr_t)p & (PAGE - 1)) == 0);
	h->st.obtained += pages * PAGE;
	if (h->st.obtained > h->st.obtained_peak)
		h->st.obtained_peak = h->st.obtained;
	return p;
}

static bool port_free(heap *h, void *a, size_t pages)
{
	STAT(h->st.free_page_calls++);
	if (liballoc_free_page(a, pages) != 0) {
		STAT(h->st.free_page_failures++);
		return false;
	}
	h->st.obtained -= pages * PAGE;
	return true;
}

/* ==== 5. Page map ======================================================== */

/*
 * One bit per page: set while the page belongs to a run of this heap. Nodes come
 * from the port and are never returned (their number is bounded by the address
 * ranges the heap has ever touched); liballoc_stats reports them as metadata.
 * Lookup is PM_LEVELS dependent loads; no memory outside the map is read. Writers
 * hold the lock; readers need not (the thread-cache free path), so nodes are
 * published with release stores and bits are accessed atomically.
 */
static inline bool pm_key(uintptr_t a, uintptr_t *key)
{
#if PM_LEVELS == 3
	uintptr_t top = a >> (PM_ADDR_BITS - 1);
	if (top != 0 && top != (UINTPTR_MAX >> (PM_ADDR_BITS - 1)))
		return false;  /* not a canonical address */
	*key = (a >> PAGE_SHIFT) & (((uintptr_t)1 << PM_KEY_BITS) - 1);
#else
	*key = a >> PAGE_SHIFT;
#endif
	return true;
}

static inline pm_top **pm_top_slot(heap *h, uintptr_t key) { return &h->pm_root[key >> (PM_LEAF_BITS + PM_MID_BITS)]; }

static inline pm_leaf *pm_leaf_of(const heap *h, uintptr_t key)
{
	pm_top *top = __atomic_load_n(&h->pm_root[key >> (PM_LEAF_BITS + PM_MID_BITS)], __ATOMIC_ACQUIRE);
#if PM_LEVELS == 3
	if (!top)
		return NULL;
	return __atomic_load_n(&top->leaf[(key >> PM_LEAF_BITS) & (((uintptr_t)1 << PM_MID_BITS) - 1)],
			       __ATOMIC_ACQUIRE);
#else
	return top;
#endif
}

static inline bool pm_test(const heap *h, uintptr_t a)
{
	uintptr_t key;
	if (!pm_key(a, &key))
		return false;
	const pm_leaf *leaf = pm_leaf_of(h, key);
	uintptr_t i = key & PM_LEAF_MASK;
	return leaf && (LOAD(leaf->bits[i / 32]) >> (i % 32) & 1);
}

static void *pm_node(heap *h, size_t bytes)
{
	size_t pages = (bytes + PAGE - 1) / PAGE;
	void *n = port_alloc(h, pages);
	if (!n)
		return NULL;
	if (!LIBALLOC_PAGES_ZEROED)
		__builtin_memset(n, 0, pages * PAGE);
	h->st.metadata += pages * PAGE;
	return n;
}

/* Make sure nodes exist for every page of [a, a + bytes). false: out of memory
 * (nodes already made stay; they are harmless). */
static bool pm_ensure(heap *h, uintptr_t a, size_t bytes)
{
	uintptr_t k0, k1;
	if (!pm_key(a, &k0) || !pm_key(a + bytes - 1, &k1) || k1 < k0)
		return false;
	for (uintptr_t k = k0 & ~PM_LEAF_MASK; k <= k1; k += PM_LEAF_MASK + 1) {
		pm_top **top = pm_top_slot(h, k);
		if (!*top) {
			pm_top *node = pm_node(h, sizeof(pm_top));
			if (!node)
				return false;
			__atomic_store_n(top, node, __ATOMIC_RELEASE);
		}
#if PM_LEVELS == 3
		pm_leaf **leaf = &(*top)->leaf[(k >> PM_LEAF_BITS) & (((uintptr_t)1 << PM_MID_BITS) - 1)];
		if (!*leaf) {
			pm_leaf *node = pm_node(h, sizeof(pm_leaf));
			if (!node)
				return false;
			__atomic_store_n(leaf, node, __ATOMIC_RELEASE);
		}
#endif
	}
	return true;
}

/* Set or clear the bits of [a, a + bytes). Setting needs the nodes (pm_ensure);
 * clearing skips ranges that have none. */
static void pm_set(heap *h, uintptr_t a, size_t bytes, bool on)
{
	uintptr_t k = 0, end;
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
	mapping(bsize(b), &fl, &sl);
	blk *head = h->free[fl][sl];
	L(b)->next = mangle(h, head);
	L(b)->prev = mangle(h, NULL);
	if (head)
		L(head)->prev = mangle(h, b);
	h->free[fl][sl] = b;
	h->sl_map[fl] |= 1u << sl;
	h->fl_map |= 1u << fl;
	h->st.free_bytes += bsize(b);
}

/* Do b's neighbours in its list point back at it? (The classic safe-unlinking
 * check; nearly free since unlinking touches the same words.) Hardened mode first
 * makes sure a link leads into the heap, since a forged mangled link demangles to
 * an arbitrary address. */
static bool links_ok(const heap *h, const blk *b, fault *f)
{
	unsigned fl, sl;
	mapping(bsize(b), &fl, &sl);
	blk *n = demangle(h, L(b)->next), *p = demangle(h, L(b)->prev);
	if ((LIBALLOC_HARDENED && ((n && !pm_test(h, (uintptr_t)n)) || (p && !pm_test(h, (uintptr_t)p)))) ||
	    (n && demangle(h, L(n)->prev) != b) || (p ? demangle(h, L(p)->next) != b : h->free[fl][sl] != b)) {
		f->code = LIBALLOC_E_FREE_LIST;
		f->ptr = payload(b);
		return false;
	}
	return true;
}

/* Unlink b from its list; links_ok(b) must hold. */
static void remove_free(heap *h, blk *b)
{
	unsigned fl, sl;
	mapping(bsize(b), &fl, &sl);
	blk *n = demangle(h, L(b)->next), *p = demangle(h, L(b)->prev);
	ASSERT(links_ok(h, b, &(fault){0}));
	if (n)
		L(n)->prev = mangle(h, p);
	if (p)
		L(p)->next = mangle(h, n);
	else if (!(h->free[fl][sl] = n)) {
		h->sl_map[fl] &= ~(1u << sl);
		if (!h->sl_map[fl])
			h->fl_map &= ~(1u << fl);
	}
	h->st.free_bytes -= bsize(b);
}

/* A free block of at least `size` bytes, or NULL. O(1): one list-head probe in the
 * exact class, then the first non-empty class above it via the two bitmaps. */
static blk *find_free(const heap *h, size_t size)
{
	unsigned fl, sl;
	mapping(size, &fl, &sl);
	blk *b = h->free[fl][sl];
	if (b && bsize(b) >= size)
		return b;
	uint32_t m = sl + 1 < 32 ? h->sl_map[fl] & (~0u << (sl + 1)) : 0;
	if (!m) {
		uint32_t fm = fl + 1 < 32 ? h->fl_map & (~0u << (fl + 1)) : 0;
		if (!fm)
			return NULL;
		fl = ffs32(fm);
		m = h->sl_map[fl];
	}
	return h->free[fl][ffs32(m)];
}

/* ==== 7. Hardening ======================================================= */

/*
 * Hardened mode keeps three invariants, each checked where it is cheap:
 *   - a live block's slack (at least one byte) holds its canary byte, checked on
 *     free, realloc and malloc_usable_size: a write past the end is reported;
 *   - a free block's payload beyond the links is all POISON (or all zero with
 *     F_ZERO), checked when any of it is handed out again and by liballoc_check:
 *     a write to freed memory is reported; thread-cached blocks likewise;
 *   - free-list links are mangled with the secret (section 6).
 * In the default build canary_* and poison are no-ops; the fill merge still
 * maintains F_ZERO.
 */
#define POISON 0x5a

static inline size_t canary_room(void) { return LIBALLOC_HARDENED ? 1 : 0; }

/* The canary byte of a block: keyed by its address only, since header words
 * change (a neighbour's merge rewrites the boundary tag) while the canary stays. */
static inline uint8_t canary_byte(const heap *h, const blk *b)
{
	return (uint8_t)(((uintptr_t)b >> 4) * 0x9du ^ (uintptr_t)h->key[0]);
}

/* The canary: the first CANARY_MAX bytes of the slack after the requested size,
 * enough to catch a linear overflow, and bounded, so that a block with headroom
 * (realloc growth) is not rewritten whole at every resize. */
#define CANARY_MAX ((size_t)16)

static void canary_set(const heap *h, blk *b)
{
	if (LIBALLOC_HARDENED)
		__builtin_memset((char *)payload(b) + requested(b), canary_byte(h, b), min_sz(slack_of(b), CANARY_MAX));
}

static bool canary_ok(const heap *h, const blk *b)
{
	if (!LIBALLOC_HARDENED)
		return true;
	size_t slack = slack_of(b), n = min_sz(slack, CANARY_MAX);
	const uint8_t *p = (const uint8_t *)payload(b) + usable(b) - slack, c = canary_byte(h, b);
	if (slack == 0)
		return false;  /* hardened blocks always keep at least one canary byte */
	for (size_t i = 0; i < n; i++)
		if (p[i] != c)
			return false;
	return true;
}

/* Is [a, a + n) all `v`? A word at a time: fills start 16-aligned and span
 * multiples of 16 bytes; a byte loop takes any rest. */
static bool filled(const void *a, int v, size_t n)
{
	const unsigned char *p = a;
	size_t i = 0;
	if (!((uintptr_t)p & (sizeof(uintptr_t) - 1))) {
		uintptr_t w = (uintptr_t)0x0101010101010101ull * (unsigned char)v;
		for (; i + sizeof w <= n; i += sizeof w)
			if (*(const uintptr_t *)(const void *)(p + i) != w)
				return false;
	}
	for (; i < n; i++)
		if (p[i] != (unsigned char)v)
			return false;
	return true;
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
static bool fill_intact(const blk *b, size_t size, uint32_t zero)
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
static void run_link(heap *h, run *after, run *r, size_t pages, size_t off, uint32_t kind)
{
	r->pages = (uint32_t)pages;
	r->off = (uint32_t)off;
	r->kind = kind;
	r->check = run_hash(h, r);
	run_insert(after, r);
}

static void run_unlink(run *r)
{
	r->prev->next = r->next;
	r->next->prev = r->prev;
}

static inline blk *chunk_first(const run *r) { return (blk *)((char *)r + RUN_HDR); }
static inline run *chunk_of_first(const blk *b) { return (run *)((char *)b - RUN_HDR); }

/* A free block that is the whole of its chunk: first (tag 0) and followed by the
 * sentinel. */
static inline bool whole(const blk *b) { return b->prev == 0 && next_blk(b)->size == F_USED; }

/* Count a whole-chunk free block as an empty chunk (+1) or no longer (-1). Empty
 * chunks lead the chunk list (an invariant liballoc_check verifies), so the heap
 * finds them without a scan when it grows (release_empties). */
static void count_empty(heap *h, const blk *b, int d)
{
	run *r = chunk_of_first(b);
	h->empty_chunks += (size_t)d;
	h->empty_bytes += (size_t)d * (bsize(b) + RUN_HDR + HDR);
	run_unlink(r);
	run_insert(d > 0 ? &h->chunks : h->chunks.prev, r);
}

/*
 * Keep the chunk of whole-chunk free block b (just emptied) instead of returning
 * it? LIBALLOC_KEEP_EMPTY chunks are kept as hysteresis. When the port lets the
 * huge threshold adapt, empty chunks are also kept while they total at most twice
 * the threshold — glibc's rule for its trim threshold — so big blocks freed and
 * allocated again are not faulted in afresh each time.
 */
static bool keep_empty(const heap *h, const blk *b)
{
	size_t budget = LIBALLOC_HUGE_THRESHOLD_MAX > LIBALLOC_HUGE_THRESHOLD ? 2 * h->huge_threshold : 0;
	return h->empty_chunks + 1 <= LIBALLOC_KEEP_EMPTY || h->empty_bytes + bsize(b) + RUN_HDR + HDR <= budget;
}

/* Get a chunk able to hold a block of `bs` bytes; returns its single free block,
 * not on any list. Chunks grow with the heap (each at least half of what the heap
 * already holds in chunks) so their number stays logarithmic until CHUNK_MAX. */
static blk *chunk_new(heap *h, size_t bs)
{
	size_t want = align_up(h->chunk_bytes / 2, PAGE);
	want = want < LIBALLOC_CHUNK_MIN ? LIBALLOC_CHUNK_MIN : want > LIBALLOC_CHUNK_MAX ? LIBALLOC_CHUNK_MAX : want;
	size_t need = align_up(bs + RUN_HDR + HDR, PAGE), bytes = need < want ? want : need;
	run *r = port_alloc(h, bytes / PAGE);
	if (!r && bytes > need)  /* a port with fragmented memory may still have a smaller run */
		r = port_alloc(h, (bytes = need) / PAGE);
	if (!r)
		return NULL;
	if (!pm_ensure(h, (uintptr_t)r, bytes)) {
		if (!port_free(h, r, bytes / PAGE))
			run_link(h, &h->huges, r, bytes / PAGE, RUN_HDR, RUN_DEAD);
		return NULL;
	}
	pm_set(h, (uintptr_t)r, bytes, true);
	run_link(h, h->chunks.prev, r, bytes / PAGE, 0, RUN_CHUNK);  /* not empty: at the back */
	size_t size = bytes - RUN_HDR - HDR;
	blk *b = chunk_first(r);
	uint32_t zero = LIBALLOC_PAGES_ZEROED ? F_ZERO : 0;
	hdr_set(h, b, 0, size | zero, 0);
	hdr_set(h, next_blk(b), size, F_USED, 0);  /* the sentinel */
	if (!zero)
		poison(fill_start(b), fill_len(size));
	h->chunk_bytes += bytes;
	STAT(h->st.chunks++);
	return b;
}

/* Return the chunk whose only (free, listed) block is b. On free_page failure
 * the chunk stays, listed and counted as empty; trim retries. Returns bytes freed. */
static size_t chunk_release(heap *h, blk *b)
{
	run *r = chunk_of_first(b);
	size_t pages = r->pages, size = bsize(b);
	blk *sentinel = next_blk(b);
	remove_free(h, b);
	run_unlink(r);
	pm_set(h, (uintptr_t)r, pages * PAGE, false);
	/* A port may hand these pages out again unchanged: erase the last headers
	 * the chunk holds (merges erased the others) so none can validate then. */
	__builtin_memset(r, 0, RUN_HDR + HDR);
	__builtin_memset(sentinel, 0, HDR);
	if (port_free(h, r, pages)) {
		h->chunk_bytes -= pages * PAGE;
		STAT(h->st.chunks--);
		return pages * PAGE;
	}
	run_link(h, &h->chunks, r, pages, 0, RUN_CHUNK);
	hdr_set(h, b, 0, size, 0);
	hdr_set(h, sentinel, size, F_USED, 0);
	pm_set(h, (uintptr_t)r, pages * PAGE, true);
	insert_free(h, b);
	count_empty(h, b, 1);
	return 0;
}

/*
 * Give every empty chunk back: when the heap must grow (no free block holds the
 * request, so neither does any empty chunk kept as hysteresis: the heap should not
 * hold memory that cannot serve while it asks for more), and on trim. They lead
 * the chunk list: O(chunks released), one hook call each. Returns the bytes freed.
 */
static size_t release_empties(heap *h)
{
	size_t bytes = 0;
	for (run *r = h->chunks.next, *nx; h->empty_chunks && r != &h->chunks; r = nx) {
		nx = r->next;
		blk *b = chunk_first(r);
		if (used(b) || !whole(b))
			break;
		count_empty(h, b, -1);
		bytes += chunk_release(h, b);  /* if free_page fails, back at the front, counted */
	}
	return bytes;
}

/* ==== 9. Huge runs ======================================================= */

/* A block of n bytes (payload aligned to `align`) in its own page run. The run is
 * over-allocated for alignments above the page size and its head and tail trimmed
 * with free_page (the contract allows sub-ranges). */
static void *huge_alloc(heap *h, size_t n, size_t align)
{
	/* at least one payload byte, so the payload lies inside the run */
	size_t need = n + canary_room() ? n + canary_room() : 1;
	size_t lead = align <= PAGE ? align_up(RUN_HDR + HDR, align) : align, total;
	if (align > MAX_ALIGN || __builtin_add_overflow(need, lead, &total) || total > MAX_REQUEST)
		return NULL;
	size_t pages = (total + PAGE - 1) / PAGE;
	char *r = pages <= UINT32_MAX ? port_alloc(h, pages) : NULL;
	if (!r)
		return NULL;
	char *a = r + lead;
	if (align > PAGE) {  /* payload at the first aligned address at least a page in */
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
	if ((size_t)(r + pages * PAGE - a) - n > UINT32_MAX || !pm_ensure(h, (uintptr_t)r, pages * PAGE)) {
		if (!port_free(h, r, pages))
			run_link(h, &h->huges, (run *)r, pages, off, RUN_DEAD);
		return NULL;
	}
	pm_set(h, (uintptr_t)r, pages * PAGE, true);
	run_link(h, &h->huges, (run *)r, pages, off, RUN_HUGE);
	hdr_set(h, b, 0, off | F_USED | F_HUGE, (size_t)(r + pages * PAGE - a) - n);
	STAT(h->st.huge_blocks++);
	return a;
}

/* Give a huge run (or a dead one) back, its headers erased first as in
 * chunk_release. On failure it stays listed as RUN_DEAD for trim to retry, and in
 * the page map exactly if it was before: a freed huge block's run keeps its block
 * header, marked free, so a second free is still a double free; a run that never
 * entered the page map (its construction failed) stays out of it. */
static size_t huge_release(heap *h, run *r)
{
	size_t pages = r->pages, off = r->off;
	blk *b = (blk *)((char *)r + off);
	bool mapped = pm_test(h, (uintptr_t)r);
	run_unlink(r);
	pm_set(h, (uintptr_t)r, pages * PAGE, false);
	__builtin_memset(b, 0, HDR);
	__builtin_memset(r, 0, RUN_HDR);
	if (port_free(h, r, pages))
		return pages * PAGE;
	run_link(h, &h->huges, r, pages, off, RUN_DEAD);
	if (mapped) {
		hdr_set(h, b, 0, off | F_HUGE, 0);
		pm_set(h, (uintptr_t)r, pages * PAGE, true);
	}
	return 0;
}

/* Return every empty chunk and retry every dead run (lock held); the bytes given
 * back. O(empty chunks + huge runs). */
static size_t give_back(heap *h)
{
	size_t bytes = release_empties(h);
	for (run *r = h->huges.next, *nx; r != &h->huges; r = nx) {
		nx = r->next;
		if (r->kind == RUN_DEAD)
			bytes += huge_release(h, r);
	}
	return bytes;
}

/* ==== 10. Block operations (lock held) =================================== */

/* Block size for a request of n bytes (n <= MAX_REQUEST). */
static inline size_t block_size(size_t n)
{
	size_t bs = (n + HDR + canary_room() + 15) & ~(size_t)15;
	return bs < MIN_BLOCK ? MIN_BLOCK : bs;
}

/* Raise the in-use peak (lock held). With thread caches the total includes every
 * thread's unfolded delta: one thread's alone can be far off, even below zero (a
 * producer's deltas only grow, its consumer's only shrink). */
static void peak_in_use(heap *h)
{
	size_t all = h->st.in_use;
#ifdef LIBALLOC_THREAD_LOCAL
	for (tlink *l = h->caches.next; l != &h->caches; l = l->next)
		all += LOAD(((tcache *)l)->in_use);
#endif
	if (all > h->st.in_use_peak && all < SIZE_MAX / 2)
		h->st.in_use_peak = all;
}

static void count_alloc(heap *h, size_t n)
{
	h->st.in_use += n;
	peak_in_use(h);
	h->st.live_blocks++;
	STAT(h->st.allocs++);
}

static void count_free(heap *h, size_t n)
{
	h->st.in_use -= n;
	h->st.live_blocks--;
	STAT(h->st.frees++);
}

/* Verify the block after b — its header, and that its boundary tag names b's size —
 * and, if it is free, its list links and the block after it: everything a split or
 * merge will rewrite. */
static blk *neighbour(const heap *h, blk *b, fault *f)
{
	blk *nx = next_blk(b);
	if (!verify(h, nx, f))
		return NULL;
	if (nx->prev != bsize(b) || (!used(nx) && (!links_ok(h, nx, f) || !verify(h, next_blk(nx), f) ||
						    next_blk(nx)->prev != bsize(nx)))) {
		f->code = f->code ? f->code : LIBALLOC_E_HEADER;
		f->ptr = f->ptr ? f->ptr : payload(nx);
		return NULL;
	}
	return nx;
}

/* The block before b, verified (its header, that its size is b's boundary tag, and
 * its links if free); NULL for the first block of a chunk, which a tag of 0 must
 * prove by a chunk's run header right before b. *ok = false on damage. */
static blk *predecessor(const heap *h, blk *b, bool *ok, fault *f)
{
	*ok = true;
	if (!b->prev) {
		const run *r = chunk_of_first(b);
		if (((uintptr_t)b & (PAGE - 1)) != RUN_HDR || !run_ok(h, r) || r->kind != RUN_CHUNK) {
			f->code = LIBALLOC_E_HEADER;
			f->ptr = payload(b);
			*ok = false;
		}
		return NULL;
	}
	blk *pv = prev_blk(b);
	if ((b->prev & 15) || b->prev < MIN_BLOCK || !pm_test(h, (uintptr_t)pv) || !hdr_ok(h, pv) ||
	    bsize(pv) != b->prev || (pv->size & F_HUGE)) {
		f->code = LIBALLOC_E_HEADER;
		f->ptr = payload(b);  /* b's boundary tag is what is wrong, or the header it leads to */
		*ok = false;
	} else if (!used(pv) && !links_ok(h, pv, f)) {
		*ok = false;
	}
	return pv;
}

/* Take a free block of at least `need` bytes off its list, growing the heap (by a
 * chunk for at least `grow` bytes) if no list has one; grow == 0: never grow.
 * Returns NULL when out of memory or on detected corruption. */
static blk *take(heap *h, size_t need, size_t grow, fault *f)
{
	blk *b = find_free(h, need);
	if (!b && grow)
		release_empties(h);
	if (!b)
		return grow ? chunk_new(h, grow) : NULL;
	if (!verify(h, b, f) || !links_ok(h, b, f))
		return NULL;
	remove_free(h, b);
	if (whole(b))
		count_empty(h, b, -1);
	return b;
}

/* Put back a block take() returned, when the allocation is abandoned. */
static void untake(heap *h, blk *b)
{
	insert_free(h, b);
	if (whole(b))
		count_empty(h, b, 1);
}

/*
 * Make [b + keep, b + size) a free block with fill `zero`, merging it with the
 * block after it if that one is free. `nx` (the block at b + size) was checked by
 * neighbour(). The new block's boundary tag is `keep`: callers that cut b further
 * fix it.
 */
static void carve_tail(heap *h, blk *b, size_t keep, size_t size, uint32_t zero, blk *nx)
{
	blk *t = (blk *)((char *)b + keep);
	size_t tsize = size - keep;
	if (!used(nx)) {
		size_t nsize = bsize(nx);
		uint32_t nz = nx->size & F_ZERO;
		blk *after = next_blk(nx);
		remove_free(h, nx);
		zero = merge_fill(t, tsize, zero, nx, nsize, nz);
		tsize += nsize;
		nx = after;
	}
	hdr_set(h, t, keep, tsize | zero, 0);
	nx->prev = (uint32_t)tsize;
	insert_free(h, t);
}

/*
 * Hand out free block b (off the lists) for a request of n bytes in a block of bs
 * bytes: split off the tail, check the fill (hardened), write the header and the
 * canary. *dirty = how many leading payload bytes may be non-zero (for calloc).
 */
static void *use_block(heap *h, blk *b, size_t bs, size_t n, size_t *dirty, fault *f)
{
	size_t size = bsize(b);
	uint32_t zero = b->size & F_ZERO;
	blk *nx = neighbour(h, b, f);
	if (!nx) {
		untake(h, b);
		return NULL;
	}
	if (size - bs >= MIN_BLOCK) {
		carve_tail(h, b, bs, size, zero, nx);
		size = bs;
	}
	if (!fill_intact(b, size, zero)) {
		f->code = LIBALLOC_E_USE_AFTER_FREE;  /* reported; the block is still sound */
		f->ptr = payload(b);
	}
	hdr_set(h, b, b->prev, size | F_USED, size - HDR - n);
	canary_set(h, b);
	count_alloc(h, n);
	if (dirty)
		*dirty = zero ? 16 : n;
	return payload(b);
}

/* Allocate n bytes aligned to `align` (a power of two >= 16). */
static void *alloc_block(heap *h, size_t n, size_t align, size_t *dirty, fault *f)
{
	if (n > MAX_REQUEST)
		return NULL;
	size_t bs = block_size(n);
	if (bs > h->huge_threshold || align > h->huge_threshold / 4 || bs + align + MIN_BLOCK > h->huge_threshold) {
		void *p = huge_alloc(h, n, align);
		if (p) {
			canary_set(h, blk_of(p));
			count_alloc(h, n);
			if (dirty)
				*dirty = LIBALLOC_PAGES_ZEROED ? 0 : n;
		}
		return p;
	}
	if (align <= ALIGN) {
		blk *b = take(h, bs, bs, f);
		return b ? use_block(h, b, bs, n, dirty, f) : NULL;
	}
	/* Aligned: take enough to cut a leading free block of >= MIN_BLOCK bytes. */
	blk *b = take(h, bs + align + MIN_BLOCK, bs + align + MIN_BLOCK, f);
	if (!b)
		return NULL;
	uintptr_t p = (uintptr_t)payload(b), a = align_up(p, align);
	if (a != p && a - p < MIN_BLOCK)
		a += align;
	if (a != p) {
		size_t gap = a - p, size = bsize(b);
		uint32_t zero = b->size & F_ZERO;
		blk *nb = blk_of((void *)a), *nx = neighbour(h, b, f);
		if (!nx) {
			untake(h, b);
			return NULL;
		}
		hdr_set(h, b, b->prev, gap | zero, 0);
		hdr_set(h, nb, gap, (size - gap) | zero, 0);
		nx->prev = (uint32_t)(size - gap);
		insert_free(h, b);
		b = nb;
	}
	return use_block(h, b, bs, n, dirty, f);
}

static void *h_alloc(heap *h, size_t n, size_t align, size_t *dirty, fault *f)
{
	void *p = alloc_block(h, n, align, dirty, f);
	if (p)
		LIBALLOC_ON_ALLOC(p, n, dirty != NULL);
	return p;
}

/*
 * The new block of a realloc that must move: when it grows by a small step (from
 * `old` to n bytes, less than a quarter), reserve a quarter more, so a block grown
 * step by step (a string appended to) moves O(log n) times rather than at every
 * step, as a size-class allocator's rounding gives for free. A program that grows
 * by large steps (a vector doubling) gets no headroom: it would only be memory.
 * The headroom is slack: usable, not counted as in use.
 */
static void *h_alloc_grown(heap *h, size_t n, size_t old, fault *f)
{
	size_t room = n > old && n - old < old / 4 && n / 4 <= MAX_REQUEST - n ? n / 4 : 0;
	void *p = room ? alloc_block(h, n + room, ALIGN, NULL, f) : NULL;
	if (p) {
		blk *b = blk_of(p);
		STORE(b->slack, slack_of(b) + (uint32_t)room);
		canary_set(h, b);
		h->st.in_use -= room;
		LIBALLOC_ON_ALLOC(p, n, false);
		return p;
	}
	return f->code ? NULL : h_alloc(h, n, ALIGN, NULL, f);
}

/*
 * Classify a pointer that failed lookup, on the error path: find its run by
 * scanning page starts backwards for a valid run header, then walk that run's
 * blocks. O(run size).
 */
static int classify(const heap *h, uintptr_t a)
{
	if (!pm_test(h, a))
		return LIBALLOC_E_FOREIGN_POINTER;
	const run *r = NULL;
	for (uintptr_t pg = page_floor(a); pm_test(h, pg); pg -= PAGE)
		if (run_ok(h, (const run *)pg)) {
			r = (const run *)pg;
			break;
		}
	if (!r || a >= (uintptr_t)r + run_bytes(r))
		return LIBALLOC_E_HEADER;  /* the run header itself was overwritten */
	if (r->kind != RUN_CHUNK)
		return LIBALLOC_E_INTERIOR_POINTER;  /* inside a huge run, not its payload start */
	const blk *b = chunk_first(r), *end = (const blk *)((const char *)r + run_bytes(r) - HDR);
	while (b < end) {
		if (!hdr_ok(h, b) || bsize(b) < MIN_BLOCK)
			return LIBALLOC_E_HEADER;
		if (a < (uintptr_t)next_blk(b)) {
			if (a == (uintptr_t)payload(b))
				return LIBALLOC_E_HEADER;  /* lookup rejected a valid header: the slack is wrong */
			return used(b) ? LIBALLOC_E_INTERIOR_POINTER : LIBALLOC_E_DOUBLE_FREE;
		}
		b = next_blk(b);
	}
	return LIBALLOC_E_INTERIOR_POINTER;  /* the sentinel */
}

/* The live block whose payload is p, or NULL: O(1) via the page map and the check
 * word. Needs no lock: a live block's size and check word are written only by the
 * thread that owns it (its neighbours' merges rewrite only its boundary tag). */
static inline blk *live_block(const heap *h, void *p)
{
	blk *b = blk_of(p);
	if (((uintptr_t)p & (ALIGN - 1)) || !pm_test(h, (uintptr_t)b) || !hdr_ok(h, b) || !used(b) ||
	    slack_of(b) == SLACK_CACHED || (!bsize(b) && !(b->size & F_HUGE)) || !canary_ok(h, b))
		return NULL;
	return b;
}

/* Find the live block of pointer p, or say what is wrong with p. */
static int lookup(const heap *h, void *p, blk **out)
{
	blk *b = blk_of(p);
	if ((*out = live_block(h, p)) != NULL)
		return LIBALLOC_OK;
	if (!((uintptr_t)p & (ALIGN - 1)) && pm_test(h, (uintptr_t)b) && hdr_ok(h, b)) {
		if (!used(b) || slack_of(b) == SLACK_CACHED)
			return LIBALLOC_E_DOUBLE_FREE;
		if (bsize(b) || (b->size & F_HUGE))
			return LIBALLOC_E_OVERFLOW;  /* only the canary failed */
	}
	return classify(h, (uintptr_t)p);
}

/* Free block b (looked up); `counted`: its bytes still count as in use (false for
 * blocks coming back from a thread cache, already counted as freed). */
static void release(heap *h, blk *b, bool counted, fault *f)
{
	if (b->size & F_HUGE) {
		run *r = huge_run(b);
		if (!run_ok(h, r) || r->kind != RUN_HUGE) {
			f->code = LIBALLOC_E_HEADER;
			f->ptr = payload(b);
			return;
		}
		/* As glibc's mmap threshold: once a block this big is freed, blocks up to
		 * its size come from chunks, where they are reused instead of faulted in
		 * afresh each time (only up to LIBALLOC_HUGE_THRESHOLD_MAX). */
		size_t bs = usable(b) + HDR;
		if (bs > h->huge_threshold && bs <= LIBALLOC_HUGE_THRESHOLD_MAX)
			h->huge_threshold = bs;
		LIBALLOC_ON_FREE(payload(b), usable(b));
		count_free(h, requested(b));
		STAT(h->st.huge_blocks--);
		huge_release(h, r);
		return;
	}
	size_t size = bsize(b);
	bool ok;
	blk *nx = neighbour(h, b, f), *pv = predecessor(h, b, &ok, f);
	if (!nx || !ok)
		return;
	if (counted) {  /* a block from a thread cache was reported when it was cached */
		LIBALLOC_ON_FREE(payload(b), usable(b));
		count_free(h, requested(b));
	}
	poison(fill_start(b), fill_len(size));
	uint32_t zero = 0;
	if (!used(nx)) {
		size_t nsize = bsize(nx);
		uint32_t nz = nx->size & F_ZERO;
		remove_free(h, nx);
		zero = merge_fill(b, size, zero, nx, nsize, nz);
		size += nsize;
	}
	if (pv && !used(pv)) {
		size_t psize = bsize(pv);
		uint32_t pz = pv->size & F_ZERO;
		remove_free(h, pv);
		zero = merge_fill(pv, psize, pz, b, size, zero);
		size += psize;
		b = pv;
	}
	hdr_set(h, b, b->prev, size | zero, 0);
	next_blk(b)->prev = (uint32_t)size;
	insert_free(h, b);
	if (whole(b)) {
		if (keep_empty(h, b))
			count_empty(h, b, 1);
		else
			chunk_release(h, b);
	}
}

static void h_free(heap *h, void *p, fault *f)
{
	blk *b;
	int e = lookup(h, p, &b);
	if (e) {
		f->code = e;
		f->ptr = p;
		return;
	}
	release(h, b, true, f);
}

/* Resize live block b to n bytes without moving it, if possible. */
static bool resize_in_place(heap *h, blk *b, size_t n, fault *f)
{
	size_t old = requested(b);
	if (b->size & F_HUGE) {
		run *r = huge_run(b);
		char *a = payload(b), *end = (char *)align_up((uintptr_t)a + n + canary_room(), PAGE);
		size_t have = usable(b);
		if (n + canary_room() > have || block_size(n) <= h->huge_threshold / 2)
			return false;  /* grow: move; much smaller: move into a chunk */
		if (have - n > UINT32_MAX && (size_t)((char *)r + run_bytes(r) - end) < have - n - UINT32_MAX)
			return false;  /* the slack would not fit its header word even after trimming */
		size_t keep = (size_t)(end - (char *)r) / PAGE;
		if (keep < r->pages && port_free(h, end, r->pages - keep)) {
			pm_set(h, (uintptr_t)end, (r->pages - keep) * PAGE, false);
			r->pages = (uint32_t)keep;
			r->check = run_hash(h, r);
		}
	} else {
		size_t size = bsize(b), bs = block_size(n);
		if (bs > h->huge_threshold)
			return false;
		blk *nx = bs <= size && size - bs < MIN_BLOCK ? b : neighbour(h, b, f);  /* b: no change */
		if (!nx)
			return false;
		if (bs > size) {
			size_t nsize = bsize(nx);
			if (used(nx) || size + nsize < bs)
				return false;
			blk *after = next_blk(nx);
			uint32_t nz = nx->size & F_ZERO;
			remove_free(h, nx);
			/* check only what becomes the block's: the rest stays free, checked
			 * when it is handed out (checking all of nx made growth quadratic) */
			char *fs = fill_start(nx), *upto = (char *)b + bs;
			if (LIBALLOC_HARDENED && upto > fs &&
			    !filled(fs, nz ? 0 : POISON, min_sz((size_t)(upto - fs), fill_len(nsize)))) {
				f->code = LIBALLOC_E_USE_AFTER_FREE;
				f->ptr = payload(nx);
			}
			__builtin_memset(nx, 0, HDR);
			size += nsize;
			nx = after;  /* checked by neighbour() */
			if (size - bs >= MIN_BLOCK) {
				carve_tail(h, b, bs, size, nz, nx);
				size = bs;
			} else {
				nx->prev = (uint32_t)size;
			}
		} else if (nx != b) {
			poison((char *)b + bs, size - bs);
			carve_tail(h, b, bs, size, 0, nx);
			size = bs;
		}
		b->size = (uint32_t)(size | F_USED);
	}
	hdr_set(h, b, b->prev, b->size, usable(b) - n);
	canary_set(h, b);
	LIBALLOC_ON_RESIZE(payload(b), old, n);
	h->st.in_use += n - old;
	peak_in_use(h);
	return true;
}

/* ==== 11. Thread caches ================================================== */

/*
 * When the port provides thread-local storage (LIBALLOC_THREAD_LOCAL), each thread
 * keeps the blocks of up to TC_MAX bytes it frees in per-size bins (16-byte steps
 * to 1 KiB, then eight classes per power of two) and reuses them without the lock:
 * malloc pops, free pushes, each O(1). A cached block stays USED in its chunk, so
 * no neighbour merges into it, and is marked by slack == SLACK_CACHED, so freeing it
 * again is still a double free. An empty bin first adopts a segment of its
 * class's transfer stack (a bin another thread passed on, without the heap lock),
 * else is refilled with up to TC_BATCH blocks cut from free blocks under one lock
 * acquisition; a full bin is passed whole to the transfer stack, or half of it is
 * merged back into the heap under the lock when that stack is full. A thread's
 * counters are deltas, folded into the heap's under the lock at refills (and by
 * stats, check and trim).
 * The port calls liballoc_thread_exit() when a thread ends (arranged by
 * LIBALLOC_THREAD_REGISTER) to give its blocks back. Kernel ports define no
 * LIBALLOC_THREAD_LOCAL and keep the plain locked path.
 */
#ifdef LIBALLOC_THREAD_LOCAL
#ifndef LIBALLOC_THREAD_REGISTER
#define LIBALLOC_THREAD_REGISTER() ((void)0)
#endif

static LIBALLOC_THREAD_LOCAL tcache tls_cache;

static bool enter(heap *h);
static void leave(heap *h, fault *f);
static void report(const fault *f);
static void tc_xfer_drain(heap *h, fault *f);

/* Blocks a bin of blocks of `size` bytes may hold: 64 up to 128 bytes, halving
 * per power of two above (8 KiB per bin), and at least 8. */
static inline uint32_t tc_limit(size_t size)
{
	unsigned f = fls32((uint32_t)size - 1);
	return f < 7 ? 64u : f > 9 ? 8u : 64u >> (f - 6);
}

/* The block size of bin i. */
static inline size_t tc_size(size_t i)
{
	if (i < TC_SMALL_BINS)
		return i << 4;
	i -= TC_SMALL_BINS;
	return ((size_t)1024 << (i / 8)) + (i % 8 + 1) * ((size_t)128 << (i / 8));
}

/* The bin serving a request for a block of bs <= TC_MAX bytes: its own below
 * TC_SMALL, else the class rounded up (at most 1/8 more). */
static inline size_t tc_bin_up(size_t bs)
{
	if (bs <= TC_SMALL)
		return bs >> 4;
	unsigned p = fls32((uint32_t)bs - 1) - 10;  /* bs in (1024 << p, 2048 << p], steps of 128 << p */
	return TC_SMALL_BINS + 8 * p + ((bs - ((size_t)1024 << p) + ((size_t)128 << p) - 1) >> (7 + p)) - 1;
}

/* The bin a free block of `size` bytes goes to: its own up to TC_SMALL + 16, else
 * the largest class not above it; TC_BINS if no bin takes it. */
static inline size_t tc_bin_down(size_t size)
{
	if (size <= TC_SMALL + 16)
		return size >> 4;
	if (size < tc_size(TC_SMALL_BINS) || size >= TC_MAX + TC_MAX / 8)
		return TC_BINS;
	unsigned p = fls32((uint32_t)size) - 10;  /* size in [1024 << p, 2048 << p), steps of 128 << p */
	size_t i = TC_SMALL_BINS + 8 * p + ((size - ((size_t)1024 << p)) >> (7 + p)) - 1;
	return i < TC_BINS ? i : TC_BINS - 1;
}

/*
 * A cached block's link sits in memory its user may still (wrongly) write, so it is
 * stored safe-linked, in every build: XORed with the secret and the link's own
 * address >> 12 (the scheme of glibc >= 2.32). A forged plain pointer then decodes
 * to garbage, which tc_sound rejects: misaligned in the default build, anything
 * but a cached block of the bin's size in hardened mode.
 */
static inline uintptr_t tc_mangle(const heap *h, const blk *at, const blk *p)
{
	return (uintptr_t)p ^ (uintptr_t)h->key[1] ^ ((uintptr_t)at >> 12);
}

static inline blk *tc_next(const heap *h, const blk *b)
{
	return (blk *)(L(b)->next ^ (uintptr_t)h->key[1] ^ ((uintptr_t)b >> 12));
}

static void tc_push(heap *h, tbin *bin, blk *b)
{
	L(b)->next = tc_mangle(h, b, bin->head);
	bin->head = b;
	STORE(bin->n, bin->n + 1);
}

/* Is b, just taken from bin i, a cached block of that bin? */
static inline bool tc_sound(const heap *h, const blk *b, size_t i, bool full)
{
	if ((uintptr_t)b & (ALIGN - 1))
		return false;
	return !full || (pm_test(h, (uintptr_t)b) && hdr_ok(h, b) && (b->size & (F_MASK & ~F_ZERO)) == F_USED &&
			 tc_bin_down(bsize(b)) == i && slack_of(b) == SLACK_CACHED);
}

/* A damaged bin: drop it (its blocks counted as lost), report `blame`, return b
 * (the popped block, or NULL if the head itself was damaged). */
__attribute__((noinline, cold)) static blk *tc_drop(heap *h, tcache *tc, tbin *bin, blk *b, void *blame)
{
	liballoc_error_fn handler = LOAD(h->handler);
	STORE(tc->lost, tc->lost + bin->n - (b != NULL));
	bin->head = NULL;
	STORE(bin->n, 0);
	if (handler)
		handler(LIBALLOC_E_FREE_LIST, blame);
	return b;
}

/*
 * Pop the head of bin i, whose soundness was checked when it became the head (its
 * predecessor's link, or a push); `full`: check it completely as well. Its link is
 * checked before it becomes the head: a forged one is reported against the block
 * holding it, and the chain behind is abandoned (counted as lost). NULL only if
 * the head itself fails. Inlined: it is most of malloc's fast path.
 */
__attribute__((always_inline)) static inline blk *tc_pop(heap *h, tcache *tc, size_t i, bool full)
{
	tbin *bin = &tc->bin[i];
	blk *b = bin->head;
	if (full && !tc_sound(h, b, i, true))
		return tc_drop(h, tc, bin, NULL, b);
	blk *nx = tc_next(h, b);
	if (nx && !tc_sound(h, nx, i, full))
		return tc_drop(h, tc, bin, b, payload(b));
	bin->head = nx;
	STORE(bin->n, bin->n - 1);
	return b;
}

/* Fold the cache's counters into the heap's (lock held). */
static void tc_fold(heap *h, tcache *tc)
{
	h->st.in_use += LOAD(tc->in_use);
	h->st.live_blocks += LOAD(tc->allocs) - LOAD(tc->frees);
	STAT(h->st.allocs += LOAD(tc->allocs));
	STAT(h->st.frees += LOAD(tc->frees));
	STORE(tc->in_use, 0);
	STORE(tc->allocs, 0);
	STORE(tc->frees, 0);
	peak_in_use(h);
}

/* Give `count` blocks of a bin back to the heap (lock held). */
static void tc_flush(heap *h, tcache *tc, size_t i, uint32_t count, fault *f)
{
	tc_fold(h, tc);
	while (count-- && tc->bin[i].head && !f->code) {
		blk *b = tc_pop(h, tc, i, true);  /* going back to the heap: check it fully */
		if (!b)
			break;
		STORE(b->slack, 0);
		release(h, b, false, f);
	}
}

/*
 * The calling thread's cache if a request of n bytes can use it, else NULL. A new
 * thread's cache is registered with the port first (LIBALLOC_THREAD_REGISTER, no
 * lock held; allocations it makes meanwhile take the locked path) and linked into
 * the heap's list under the lock by tc_activate.
 */
static tcache *tc_enter(size_t n)
{
	tcache *tc = &tls_cache;
	if (n > TC_MAX - HDR - canary_room())
		return NULL;
	if (__builtin_expect(tc->state == TC_ACTIVE, 1))
		return tc;
	if (tc->state != TC_NEW)
		return NULL;
	tc->state = TC_REGISTERING;
	LIBALLOC_THREAD_REGISTER();
	return tc;
}

/* Link a registering cache into the heap's list (lock held). */
static void tc_activate(heap *h, tcache *tc)
{
	if (tc->state != TC_REGISTERING)
		return;
	tc->link.next = h->caches.next;
	tc->link.prev = &h->caches;
	h->caches.next->prev = &tc->link;
	h->caches.next = &tc->link;
	for (size_t i = 0; i < TC_BINS; i++)
		tc->bin[i].limit = tc_limit(tc_size(i));
	tc->state = TC_ACTIVE;
}

/* Fast path of malloc: a block from the calling thread's bin, or NULL (request too
 * big, or bin empty: bins hold blocks only while their cache is active). */
__attribute__((always_inline)) static inline void *tc_alloc(heap *h, size_t n)
{
	tcache *tc = &tls_cache;
	if (n > TC_MAX - HDR - canary_room())
		return NULL;
	size_t i = tc_bin_up(block_size(n));
	if (!tc->bin[i].head)
		return NULL;
	blk *b = tc_pop(h, tc, i, LIBALLOC_HARDENED);
	if (!b)
		return NULL;
	size_t bs = bsize(b);
	if (!fill_intact(b, bs, 0)) {
		liballoc_error_fn handler = LOAD(h->handler);
		if (handler)
			handler(LIBALLOC_E_USE_AFTER_FREE, payload(b));
	}
	STORE(b->slack, (uint32_t)(bs - HDR - n));
	canary_set(h, b);
	STORE(tc->in_use, tc->in_use + n);
	STORE(tc->allocs, tc->allocs + 1);
	LIBALLOC_ON_ALLOC(payload(b), n, false);
	return payload(b);
}

/*
 * Cut free block b (off the lists) into up to `want` blocks of bs bytes, the last
 * absorbing a remainder below MIN_BLOCK (it goes to the bin of its own size), and
 * cache them; with n != SIZE_MAX the first is handed out instead, for n bytes.
 * Returns how many blocks were cut (0 on detected damage, b given back).
 */
static size_t tc_cut(heap *h, tcache *tc, blk *b, size_t bs, size_t want, size_t n, fault *f)
{
	size_t size = bsize(b), k = min_sz(want, size / bs);
	uint32_t zero = b->size & F_ZERO;
	blk *nx = neighbour(h, b, f);
	if (!nx) {
		untake(h, b);
		return 0;
	}
	if (size - k * bs >= MIN_BLOCK) {
		carve_tail(h, b, k * bs, size, zero, nx);
		size = k * bs;
	}
	if (!fill_intact(b, size, zero)) {
		f->code = LIBALLOC_E_USE_AFTER_FREE;
		f->ptr = payload(b);
	}
	size_t prev = b->prev;
	if (zero)
		poison(payload(b), size - HDR);  /* cached blocks hold poison, never a zero fill */
	blk *c = b;
	for (size_t i = 0; i < k; i++) {
		size_t cs = i + 1 < k ? bs : size - i * bs;
		bool out = i == 0 && n != SIZE_MAX;
		hdr_set(h, c, prev, cs | F_USED, out ? cs - HDR - n : SLACK_CACHED);
		if (!out)
			tc_push(h, &tc->bin[tc_bin_down(cs)], c);  /* the last may be larger */
		prev = cs;
		c = (blk *)((char *)c + cs);
	}
	c->prev = (uint32_t)prev;
	return k;
}

/*
 * Slow path of a cached malloc (lock held): gather up to a batch of blocks of bs
 * bytes from free blocks that fit at least one (as many as each holds is cut from
 * it, so fragments are reused), growing the heap only when none fits; hand out
 * the first and cache the rest. One lock acquisition, O(TC_BATCH).
 */
static void *tc_refill(heap *h, tcache *tc, size_t bs, size_t n, fault *f)
{
	size_t want = min_sz(tc_limit(bs) / 2, TC_BATCH), got = 0;
	blk *first = NULL;
	tc_activate(h, tc);
	tc_fold(h, tc);
	while (got < want && !f->code) {
		blk *b = take(h, bs, 0, f);
		if (!b && !got && !f->code)  /* nothing free fits: grow, by a whole batch if possible */
			b = take(h, want * bs, want * bs, f);
		if (!b && !got && !f->code)
			b = take(h, bs, bs, f);
		if (!b)
			break;
		size_t k = tc_cut(h, tc, b, bs, want - got, first ? SIZE_MAX : n, f);
		if (k && !first)
			first = b;
		got += k;
	}
	if (!first)
		return NULL;
	canary_set(h, first);
	count_alloc(h, n);
	LIBALLOC_ON_ALLOC(payload(first), n, false);
	return payload(first);
}

/*
 * Transfer stacks (as tcmalloc's transfer cache): a full bin is passed whole, as
 * the safe-linked chain it already is, to its class's stack of segments in the
 * heap; a thread whose bin is empty adopts one segment. Each is O(1) under the
 * class's own try-lock: no walk of the blocks, no heap lock, no merge or split,
 * so blocks pass from a freeing thread to an allocating one (a consumer to a
 * producer) at a few instructions per segment. Blocks keep their cached mark (a
 * second free is still a double free). A class holds at most XFER_SEGS segments
 * and, beyond its first, XFER_BYTES; beyond that, frees merge blocks back into the
 * heap under the lock (tc_flush), so memory is not hoarded. A busy try-lock sends
 * the caller to the locked path instead of waiting. The try-lock's holder never
 * takes the heap lock, so tc_xfer_drain may wait for it under the heap lock.
 */
static inline bool xfer_lock(xstack *x) { return !__atomic_exchange_n(&x->lock, 1, __ATOMIC_ACQUIRE); }
static inline void xfer_unlock(xstack *x) { __atomic_store_n(&x->lock, 0, __ATOMIC_RELEASE); }

/* May class i's transfer stack take `more` blocks as a new segment? */
static inline bool xfer_room(const xstack *x, size_t i, uint32_t more)
{
	uint32_t segs = LOAD(x->segs);
	return segs < XFER_SEGS && (!segs || ((size_t)LOAD(x->n) + more) * tc_size(i) <= XFER_BYTES);
}

/* Pass the whole of bin i to its transfer stack; false if the stack is full or busy. */
static bool tc_give(heap *h, tcache *tc, size_t i)
{
	tbin *bin = &tc->bin[i];
	xstack *x = &h->xfer[i];
	if (!xfer_room(x, i, bin->n) || !xfer_lock(x))
		return false;
	bool room = xfer_room(x, i, bin->n);  /* again, now that no one else changes it */
	if (room) {
		x->seg[x->segs].head = bin->head;
		x->seg[x->segs].n = bin->n;
		STORE(x->n, x->n + bin->n);
		STORE(x->segs, x->segs + 1);
	}
	xfer_unlock(x);
	if (room) {
		bin->head = NULL;
		STORE(bin->n, 0);
	}
	return room;
}

/* Make bin i non-empty by adopting a segment of its transfer stack (unless it has
 * blocks already); false if there is none or the stack is busy. The segment's head
 * was checked when it headed the giver's bin. */
static bool tc_adopt(heap *h, tcache *tc, size_t i)
{
	xstack *x = &h->xfer[i];
	if (tc->bin[i].head)
		return true;
	if (!LOAD(x->segs) || !xfer_lock(x))
		return false;
	bool got = x->segs > 0;
	if (got) {
		tbin *bin = &tc->bin[i];
		STORE(x->segs, x->segs - 1);
		bin->head = x->seg[x->segs].head;
		STORE(bin->n, x->seg[x->segs].n);
		STORE(x->n, x->n - bin->n);
	}
	xfer_unlock(x);
	return got;
}

/* Merge every transfer stack back into the heap (lock held): trim, or when memory
 * runs out. Each block is checked fully first; a class being changed by another
 * thread is waited for (its holder never takes the heap lock). */
static void tc_xfer_drain(heap *h, fault *f)
{
	for (size_t i = 0; i < TC_BINS && !f->code; i++) {
		xstack *x = &h->xfer[i];
		if (!LOAD(x->segs))
			continue;
		while (!xfer_lock(x))
			;
		while (x->segs && !f->code) {
			tbin seg = x->seg[x->segs - 1];
			for (blk *b = seg.head; b && seg.n && !f->code; seg.n--) {
				if (!tc_sound(h, b, i, true)) {
					f->code = LIBALLOC_E_FREE_LIST;
					f->ptr = b;
					break;
				}
				blk *nx = tc_next(h, b);
				STORE(x->n, x->n - 1);
				STORE(b->slack, 0);
				release(h, b, false, f);
				b = nx;
			}
			STORE(x->segs, x->segs - 1);
		}
		xfer_unlock(x);
	}
}

/* A full bin (or a cache not yet active) before a free: register and link the
 * cache; pass the bin on, or flush half of it under the lock. false if that failed. */
__attribute__((noinline, cold)) static bool tc_make_room(heap *h, tcache *tc, tbin *bin)
{
	fault f = {0};
	if (tc->state != TC_ACTIVE) {  /* once per thread: register and link the cache */
		if (!tc_enter(0) || !enter(h))
			return false;
		tc_activate(h, tc);
		leave(h, &f);
		report(&f);
	}
	size_t i = (size_t)(bin - tc->bin);
	if (bin->n < bin->limit || tc_give(h, tc, i))
		return true;
	if (!enter(h))  /* the transfer stack is full: merge blocks back into the heap */
		return false;
	tc_flush(h, tc, i, bin->n / 2 + 1, &f);
	leave(h, &f);
	report(&f);
	return f.code == 0;
}

/*
 * Fast path of free for a live block b (live_block): a chunk block of cacheable
 * size goes to the bin; a full bin (or an inactive cache) first goes through
 * tc_make_room if `room` allows, else fails, so that free's own fast path calls
 * nothing. false: take the locked path.
 */
static inline bool tc_free(heap *h, blk *b, bool room)
{
	tcache *tc = &tls_cache;
	size_t size = bsize(b);
	size_t i = tc_bin_down(size);
	if ((b->size & F_HUGE) || i == TC_BINS)
		return false;
	tbin *bin = &tc->bin[i];
	if (__builtin_expect(bin->n >= bin->limit, 0) && (!room || !tc_make_room(h, tc, bin)))
		return false;
	LIBALLOC_ON_FREE(payload(b), size - HDR);
	STORE(tc->in_use, tc->in_use - (size - HDR - slack_of(b)));
	STORE(tc->frees, tc->frees + 1);
	poison(fill_start(b), fill_len(size));
	STORE(b->slack, SLACK_CACHED);
	tc_push(h, bin, b);
	return true;
}

/* Fast path of realloc: a live chunk block that holds n bytes with less than
 * MIN_BLOCK to spare changes only its slack, which only its owner writes: no lock.
 * false: take the locked path. */
static bool tc_resize(heap *h, void *p, size_t n)
{
	tcache *tc = &tls_cache;
	blk *b = live_block(h, p);
	if (!b || tc->state != TC_ACTIVE || (b->size & F_HUGE) || n > MAX_REQUEST)
		return false;
	size_t size = bsize(b), bs = block_size(n), old = requested(b);
	if (bs > size || size - bs >= MIN_BLOCK)
		return false;
	STORE(b->slack, (uint32_t)(size - HDR - n));
	canary_set(h, b);
	LIBALLOC_ON_RESIZE(p, old, n);
	STORE(tc->in_use, tc->in_use + n - old);
	return true;
}

/* Flush every bin of the calling thread (lock held). */
static void tc_drain(heap *h, tcache *tc, fault *f)
{
	if (tc->state != TC_ACTIVE)
		return;
	for (size_t i = 0; i < TC_BINS; i++)
		tc_flush(h, tc, i, UINT32_MAX, f);
}
#endif

/* ==== 12. API ============================================================ */

static heap g_heap;  /* the default heap */

static void heap_init(heap *h)
{
#ifdef LIBALLOC_ENTROPY
	uint64_t seed = (uint64_t)(LIBALLOC_ENTROPY());
#else
	uint64_t seed = (uint64_t)(uintptr_t)h ^ 0x6c69626c6c6f6361ull;
#endif
	for (int i = 0; i < 2; i++) {  /* splitmix64 */
		uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		h->key[i] = z ^ (z >> 31);
	}
	h->chunks.next = h->chunks.prev = &h->chunks;
	h->huges.next = h->huges.prev = &h->huges;
#ifdef LIBALLOC_THREAD_LOCAL
	h->caches.next = h->caches.prev = &h->caches;
#endif
	h->huge_threshold = LIBALLOC_HUGE_THRESHOLD;
#ifdef LIBALLOC_ERROR_HANDLER
	h->handler = LIBALLOC_ERROR_HANDLER;
#endif
	h->ready = true;
}

static bool enter(heap *h)
{
	if (liballoc_lock() != 0) {
		STAT(h->st.lock_failures++);  /* racy by nature: the lock failed */
		return false;
	}
	STAT(h->st.lock_calls++);
	if (!h->ready)
		heap_init(h);
	return true;
}

static void leave(heap *h, fault *f)
{
	if (f->code) {
		h->st.errors++;
		f->handler = h->handler;
	}
	if (liballoc_unlock() != 0) {
		STAT(h->st.lock_failures++);
		if (!f->code) {
			f->code = LIBALLOC_E_LOCK;
			f->handler = h->handler;
		}
	}
}

static void report(const fault *f)
{
	if (f->code && f->handler)
		f->handler(f->code, f->ptr);
}

#ifdef LIBALLOC_SET_ERRNO
#define SET_ERRNO(e) LIBALLOC_SET_ERRNO(e)
#else
#define SET_ERRNO(e) ((void)0)
#endif

/* Allocate under the lock (refilling the thread cache when it applies); no errno:
 * callers differ (posix_memalign must not set it). */
__attribute__((noinline)) static void *api_alloc(size_t n, size_t align, size_t *dirty)
{
	heap *h = &g_heap;
	fault f = {0};
	void *p;
#ifdef LIBALLOC_THREAD_LOCAL
	tcache *tc = align <= ALIGN ? tc_enter(n) : NULL;
	if (tc && tc->state == TC_ACTIVE && tc_adopt(h, tc, tc_bin_up(block_size(n))) && (p = tc_alloc(h, n)) != NULL) {
		if (dirty)
			*dirty = n;
		return p;
	}
#endif
	if (!enter(h))
		return NULL;
#ifdef LIBALLOC_THREAD_LOCAL
	size_t cs = tc ? tc_size(tc_bin_up(block_size(n))) : 0;  /* the cache's class for n */
	for (int pass = 0; pass < 2; pass++) {
		if (tc && cs <= h->huge_threshold) {
			p = tc_refill(h, tc, cs, n, &f);
			if (p && dirty)
				*dirty = n;
		} else {
			p = h_alloc(h, n, align, dirty, &f);
		}
		if (p || f.code || pass)
			break;
		tc_xfer_drain(h, &f);  /* out of memory: merge the transfer stacks back, try again */
	}
#else
	p = h_alloc(h, n, align, dirty, &f);
#endif
	if (!p)
		STAT(h->st.failed_allocs++);
	leave(h, &f);
	report(&f);
	return p;
}

static void *nomem(void *p)
{
	if (!p)
		SET_ERRNO(LIBALLOC_ENOMEM);
	return p;
}

void *LIBALLOC_PREFIX(malloc)(size_t size)
{
#ifdef LIBALLOC_THREAD_LOCAL
	void *p = tc_alloc(&g_heap, size);
	if (__builtin_expect(p != NULL, 1))
		return p;
#endif
	return nomem(api_alloc(size, ALIGN, NULL));
}

/* free off the fast path: into a full bin after making room, else under the lock;
 * b: ptr's block as live_block found it without the lock, or NULL. Under the lock
 * b is re-checked cheaply (a racing double free by two threads may have freed it
 * meanwhile), else ptr is looked up in full. */
__attribute__((noinline)) static void api_free(void *ptr, blk *b)
{
	heap *h = &g_heap;
	fault f = {0};
#ifdef LIBALLOC_THREAD_LOCAL
	if (b && tc_free(h, b, true))
		return;
#endif
	if (!enter(h)) {
		f.code = LIBALLOC_E_LOCK;
		f.ptr = ptr;
		f.handler = h->handler;
	} else {
		if (b && hdr_ok(h, b) && used(b) && slack_of(b) != SLACK_CACHED) {
			release(h, b, true, &f);
		} else {
			h_free(h, ptr, &f);
		}
		leave(h, &f);
	}
	report(&f);
}

void LIBALLOC_PREFIX(free)(void *ptr)
{
	if (!ptr)
		return;
	blk *b = live_block(&g_heap, ptr);
#ifdef LIBALLOC_THREAD_LOCAL
	if (__builtin_expect(b && tc_free(&g_heap, b, false), 1))
		return;
#endif
	api_free(ptr, b);
}

void *LIBALLOC_PREFIX(calloc)(size_t nmemb, size_t size)
{
	size_t n, dirty = 0;
	if (__builtin_mul_overflow(nmemb, size, &n))
		return nomem(NULL);
	void *p = NULL;
#ifdef LIBALLOC_THREAD_LOCAL
	if ((p = tc_alloc(&g_heap, n)) != NULL)
		dirty = n;  /* cached blocks are never known to be zero */
	else
#endif
		p = api_alloc(n, ALIGN, &dirty);
	if (p)
		__builtin_memset(p, 0, min_sz(dirty, n));
	return nomem(p);
}

void *LIBALLOC_PREFIX(realloc)(void *ptr, size_t size)
{
	heap *h = &g_heap;
	fault f = {0};
	void *q = NULL;
	size_t copy = 0;
	bool moved = false;
	blk *b;
	if (!ptr)
		return LIBALLOC_PREFIX(malloc)(size);
	if (size == 0) {
		LIBALLOC_PREFIX(free)(ptr);
		return NULL;
	}
#ifdef LIBALLOC_THREAD_LOCAL
	if (tc_resize(h, ptr, size))
		return ptr;
#endif
	if (!enter(h))
		return nomem(NULL);
	int e = lookup(h, ptr, &b);
	if (e) {
		f.code = e;
		f.ptr = ptr;
	} else if (size <= MAX_REQUEST && resize_in_place(h, b, size, &f)) {
		q = ptr;
	} else if (!f.code && (q = h_alloc_grown(h, size, requested(b), &f)) != NULL) {
		copy = min_sz(usable(b) - (LIBALLOC_HARDENED ? slack_of(b) : 0), size);
		moved = true;
	}
	if (!q && !f.code)
		STAT(h->st.failed_allocs++);
	leave(h, &f);
	if (moved) {  /* copy outside the lock, then free the old block */
		__builtin_memcpy(q, ptr, copy);
		LIBALLOC_PREFIX(free)(ptr);
	}
	report(&f);
	if (!q)
		SET_ERRNO(e ? LIBALLOC_EINVAL : LIBALLOC_ENOMEM);
	return q;
}

void *LIBALLOC_PREFIX(reallocarray)(void *ptr, size_t nmemb, size_t size)
{
	size_t n;
	if (__builtin_mul_overflow(nmemb, size, &n))
		return nomem(NULL);
	return LIBALLOC_PREFIX(realloc)(ptr, n);
}

int LIBALLOC_PREFIX(posix_memalign)(void **memptr, size_t alignment, size_t size)
{
	if (alignment % sizeof(void *) || !is_pow2(alignment))
		return LIBALLOC_EINVAL;
	void *p = api_alloc(size, alignment < ALIGN ? ALIGN : alignment, NULL);
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
	return nomem(api_alloc(size, alignment < ALIGN ? ALIGN : alignment, NULL));
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
	return nomem(api_alloc(size, a, NULL));
}

void *LIBALLOC_PREFIX(valloc)(size_t size)
{
	return nomem(api_alloc(size, PAGE, NULL));
}

void *LIBALLOC_PREFIX(pvalloc)(size_t size)
{
	if (size > SIZE_MAX - PAGE)
		return nomem(NULL);
	return nomem(api_alloc(size ? align_up(size, PAGE) : PAGE, PAGE, NULL));
}

size_t LIBALLOC_PREFIX(malloc_usable_size)(void *ptr)
{
	heap *h = &g_heap;
	fault f = {0};
	size_t n = 0;
	blk *b;
	if (!ptr || !enter(h))
		return 0;
	if ((f.code = lookup(h, ptr, &b)) != 0)
		f.ptr = ptr;
	else
		n = usable(b) - (LIBALLOC_HARDENED ? slack_of(b) : 0);
	leave(h, &f);
	report(&f);
	return n;
}

liballoc_error_fn liballoc_set_error_handler(liballoc_error_fn handler)
{
	heap *h = &g_heap;
	fault f = {0};
	liballoc_error_fn old;
	if (!enter(h))
		return NULL;
	old = h->handler;
#ifdef LIBALLOC_ERROR_HANDLER
	STORE(h->handler, handler ? handler : LIBALLOC_ERROR_HANDLER);
#else
	STORE(h->handler, handler);
#endif
	leave(h, &f);
	report(&f);
	return old;
}

void liballoc_thread_exit(void)
{
#ifdef LIBALLOC_THREAD_LOCAL
	heap *h = &g_heap;
	fault f = {0};
	tcache *tc = &tls_cache;
	if (tc->state == TC_ACTIVE && enter(h)) {
		tc_drain(h, tc, &f);
		tc_fold(h, tc);
		tc->link.prev->next = tc->link.next;
		tc->link.next->prev = tc->link.prev;
		leave(h, &f);
		report(&f);
	}
	for (size_t i = 0; i < TC_BINS; i++)
		tc->bin[i].limit = 0;
	tc->state = TC_DEAD;  /* later allocations of this thread take the locked path */
#endif
}

void liballoc_fork_child(void)
{
#ifdef LIBALLOC_THREAD_LOCAL
	heap *h = &g_heap;
	fault f = {0};
	if (!enter(h))
		return;
	for (tlink *l = h->caches.next, *nx; l != &h->caches; l = nx) {
		nx = l->next;
		if (l == &tls_cache.link)
			continue;
		tc_fold(h, (tcache *)l);  /* as far as its frozen thread got */
		l->prev->next = l->next;
		l->next->prev = l->prev;
		h->orphans = true;
	}
	for (size_t i = 0; i < TC_BINS; i++) {
		xstack *x = &h->xfer[i];
		if (LOAD(x->lock)) {  /* such a thread was changing it: abandon its blocks too */
			x->segs = 0;
			xfer_unlock(x);
			h->orphans = true;
		}
	}
	leave(h, &f);
	report(&f);
#endif
}

/* ==== 13. Introspection ================================================== */

/* Fold the calling thread's counters (lock held), so its own view is exact. */
static void fold_own(heap *h)
{
#ifdef LIBALLOC_THREAD_LOCAL
	if (tls_cache.state == TC_ACTIVE)
		tc_fold(h, &tls_cache);
#else
	(void)h;
#endif
}

void liballoc_stats(struct liballoc_stats *out)
{
	heap *h = &g_heap;
	fault f = {0};
	if (!enter(h)) {
		__builtin_memset(out, 0, sizeof *out);
		return;
	}
	fold_own(h);
	*out = h->st;
#ifdef LIBALLOC_THREAD_LOCAL
	/* Other threads' unfolded counters, read as they are. */
	for (size_t i = 0; i < TC_BINS; i++)
		out->cached += LOAD(h->xfer[i].n);
	for (tlink *l = h->caches.next; l != &h->caches; l = l->next) {
		tcache *tc = (tcache *)l;
		out->in_use += LOAD(tc->in_use);
		out->live_blocks += LOAD(tc->allocs) - LOAD(tc->frees);
		STAT(out->allocs += LOAD(tc->allocs));
		STAT(out->frees += LOAD(tc->frees));
		for (size_t i = 0; i < TC_BINS; i++)
			out->cached += LOAD(tc->bin[i].n);
	}
#endif
	leave(h, &f);
	report(&f);
}

const char *liballoc_strerror(int error)
{
	static const char *const text[LIBALLOC_E_COUNT] = {
		[LIBALLOC_OK] = "no error",
		[LIBALLOC_E_FOREIGN_POINTER] = "pointer not from this heap",
		[LIBALLOC_E_INTERIOR_POINTER] = "pointer into the middle of a block",
		[LIBALLOC_E_DOUBLE_FREE] = "double free (block already free)",
		[LIBALLOC_E_HEADER] = "block header overwritten (heap corruption)",
		[LIBALLOC_E_OVERFLOW] = "write past the end of a block (canary overwritten)",
		[LIBALLOC_E_USE_AFTER_FREE] = "write to freed memory (poison overwritten)",
		[LIBALLOC_E_FREE_LIST] = "free-list links overwritten (heap corruption)",
		[LIBALLOC_E_LOCK] = "the lock or unlock hook failed",
		[LIBALLOC_E_PORT] = "the port broke its contract",
		[LIBALLOC_E_BLOCK_SIZE] = "block size invalid or overruns its chunk",
		[LIBALLOC_E_BOUNDARY_TAG] = "boundary tag disagrees with the previous block",
		[LIBALLOC_E_UNCOALESCED] = "two adjacent free blocks",
		[LIBALLOC_E_BITMAP] = "size-class bitmap disagrees with the free lists",
		[LIBALLOC_E_FREE_CLASS] = "free block in the wrong size-class list",
		[LIBALLOC_E_FREE_MISSING] = "free block missing from the free lists",
		[LIBALLOC_E_RUN] = "page run header or run list broken",
		[LIBALLOC_E_PAGEMAP] = "page map disagrees with the runs held",
		[LIBALLOC_E_ACCOUNTING] = "counters disagree with the heap walk",
	};
	return error >= 0 && error < LIBALLOC_E_COUNT ? text[error] : "unknown error";
}

/* Are all pages of run r marked in the page map? */
static bool run_mapped(const heap *h, const run *r)
{
	for (size_t i = 0; i < r->pages; i++)
		if (!pm_test(h, (uintptr_t)r + i * PAGE))
			return false;
	return true;
}

/* Totals found by the walk, compared with the counters at the end. */
typedef struct tally {
	size_t in_use, live, huge, cached, free_blocks, free_bytes, chunks, empty, empty_bytes, obtained;
} tally;

static int check_chunk(const heap *h, const run *r, tally *t)
{
	const blk *b = chunk_first(r), *end = (const blk *)((const char *)r + run_bytes(r) - HDR);
	size_t prev = 0;
	bool prev_free = false;
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
		if (used(b) && slack_of(b) == SLACK_CACHED) {
			t->cached++;
		} else if (used(b)) {
			if ((b->size & F_ZERO) || slack_of(b) > s - HDR)
				return LIBALLOC_E_BLOCK_SIZE;
			if (!canary_ok(h, b))
				return LIBALLOC_E_OVERFLOW;
			t->in_use += requested(b);
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
				if (++seen > t->free_blocks || !pm_test(h, (uintptr_t)b) || !hdr_ok(h, b) || used(b) ||
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
	const blk *b = (const blk *)((const char *)r + r->off);
	if ((r->off & 15) || r->off < RUN_HDR || r->off + HDR > run_bytes(r) || !hdr_ok(h, b) ||
	    (b->size & ~F_USED) != (r->off | F_HUGE))
		return LIBALLOC_E_HEADER;
	if (!used(b) || slack_of(b) > usable(b))
		return LIBALLOC_E_BLOCK_SIZE;
	if (!canary_ok(h, b))
		return LIBALLOC_E_OVERFLOW;
	t->in_use += requested(b);
	t->live++;
	t->huge++;
	return LIBALLOC_OK;
}

/* The thread caches: the calling thread's bins are walked (the others belong to
 * running threads); everyone's counters are summed into the expected totals.
 * *others: whether other threads' caches exist, whose counters and blocks move
 * without the lock, so that the totals are not a snapshot. */
static int check_caches(heap *h, tally *want, bool *others)
{
	*others = false;
#ifdef LIBALLOC_THREAD_LOCAL
	tcache *own = &tls_cache;
	*others = h->orphans;
	for (size_t i = 0; i < TC_BINS; i++)
		want->cached += LOAD(h->xfer[i].n);
	for (tlink *l = h->caches.next; l != &h->caches; l = l->next) {
		tcache *tc = (tcache *)l;
		*others |= tc != own;
		want->in_use += LOAD(tc->in_use);
		want->live += LOAD(tc->allocs) - LOAD(tc->frees);
		want->cached += LOAD(tc->lost);
		for (size_t i = 0; i < TC_BINS; i++) {
			uint32_t n = LOAD(tc->bin[i].n), seen = 0;
			want->cached += n;
			if (tc != own)
				continue;
			for (const blk *b = tc->bin[i].head; b; b = tc_next(h, b)) {
				if (++seen > n || !tc_sound(h, b, i, true))
					return LIBALLOC_E_FREE_LIST;
				if (!fill_intact(b, bsize(b), 0))
					return LIBALLOC_E_USE_AFTER_FREE;
			}
			if (seen != n)
				return LIBALLOC_E_FREE_LIST;
		}
	}
#else
	(void)h;
	(void)want;
#endif
	return LIBALLOC_OK;
}

static int check_heap(heap *h)
{
	tally t = {0}, want = {0};
	int e;
	const run *heads[2] = {&h->chunks, &h->huges};
	for (int k = 0; k < 2; k++) {
		size_t n = 0;
		bool nonempty_seen = false;  /* empty chunks lead their list (count_empty) */
		for (const run *r = heads[k]->next; r != heads[k]; r = r->next) {
			if (++n > h->st.obtained / PAGE || r->next->prev != r || !run_ok(h, r) ||
			    (k == 0) != (r->kind == RUN_CHUNK))
				return LIBALLOC_E_RUN;
			if (r->kind != RUN_DEAD && !run_mapped(h, r))
				return LIBALLOC_E_PAGEMAP;
			t.obtained += run_bytes(r);
			if (k == 0) {
				t.chunks++;
				if ((e = check_chunk(h, r, &t)) != 0)
					return e;
				bool empty = !used(chunk_first(r)) && whole(chunk_first(r));
				if (empty && nonempty_seen)
					return LIBALLOC_E_RUN;
				nonempty_seen |= !empty;
			} else if ((e = check_huge(h, r, &t)) != 0) {
				return e;
			}
		}
	}
	bool others;
	if ((e = check_lists(h, &t)) != 0 || (e = check_caches(h, &want, &others)) != 0)
		return e;
	/* Other threads move blocks between their caches and their users without the
	 * lock (and after a fork, the vanished ones may have stopped halfway): the live,
	 * in-use and cached totals are then compared only when no other cache exists. */
	if ((!others && (t.in_use != h->st.in_use + want.in_use || t.live != h->st.live_blocks + want.live ||
			 t.cached != want.cached)) ||
	    t.free_bytes != h->st.free_bytes || t.empty != h->empty_chunks || t.empty_bytes != h->empty_bytes ||
	    t.obtained + h->st.metadata != h->st.obtained ||
	    (LIBALLOC_STATS && (t.huge != h->st.huge_blocks || t.chunks != h->st.chunks)))
		return LIBALLOC_E_ACCOUNTING;
	return LIBALLOC_OK;
}

int liballoc_check(void)
{
	heap *h = &g_heap;
	fault f = {0};
	if (!enter(h))
		return LIBALLOC_E_LOCK;
	fold_own(h);
	int e = check_heap(h);
	leave(h, &f);
	report(&f);
	return e;
}

size_t liballoc_trim(void)
{
	heap *h = &g_heap;
	fault f = {0};
	size_t bytes = 0;
	if (!enter(h))
		return 0;
#ifdef LIBALLOC_THREAD_LOCAL
	tc_drain(h, &tls_cache, &f);  /* the caller's cached blocks may pin chunks */
	tc_xfer_drain(h, &f);
#endif
	bytes = give_back(h);
	leave(h, &f);
	report(&f);
	return bytes;
}
