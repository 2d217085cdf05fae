/* liballoc_tcache.c — liballoc's cache layer: per-thread or per-CPU caches of small blocks in front of the default heap. */
/* SPDX-License-Identifier: MIT */
/*
 * Not compiled on its own: liballoc.c includes it (section 11) when the port
 * defines LIBALLOC_THREAD_LOCAL (a cache per thread) or LIBALLOC_CPU_CACHES (a cache
 * per CPU, used with interrupts off). It uses liballoc.c's block operations
 * (sections 3-10) and gives liballoc.c's API exactly the functions listed in
 * section 11 of liballoc.c.
 *
 * Design
 * ------
 * Each thread (or CPU) keeps the blocks of up to TC_MAX bytes it frees in per-size
 * bins (16-byte steps to 1 KiB, then eight classes per power of two up to 18 432
 * bytes, the block of a 16 KiB request) and reuses them without the heap lock:
 * malloc pops, free pushes, each O(1). A cached block stays USED in its chunk, so no
 * neighbour merges into it, and is marked by slack == SLACK_CACHED, so freeing it
 * again is still a double free. An empty bin first adopts a segment of its class's
 * transfer stack (a bin another thread passed on, without the heap lock; classes of
 * blocks up to 4 KiB), else is refilled with up to TC_BATCH blocks cut from free
 * blocks under one lock acquisition; a full bin is passed whole to the transfer
 * stack, or half of it is merged back into the heap under the lock when that stack
 * is full or its class has none.
 *
 * Counters. A cache's counters (bytes in use, allocations, frees) are deltas, written
 * only by its owner. They are folded into the heap's under the lock at refills and
 * flushes, and the in-use delta also, with one atomic add, into the heap's tc_in_use
 * whenever a bin passes between threads; so the heap's in-use peak is sampled in O(1)
 * without visiting other caches, and misses at most what one cache handed out since
 * its last transfer. stats and check add every cache's deltas (O(threads)).
 *
 * The list of caches is guarded by its own spinlock, not the heap lock, so a thread
 * whose heap lock fails at exit still unlinks its cache (its blocks then stay
 * allocated and counted as cached).
 *
 * Races. A block freed by two threads at the same moment may pass both fast paths'
 * checks (each reads it live before either marks it cached) and end up in two
 * caches: the layer does not pay an atomic exchange per free to see this race (a
 * double free that is not simultaneous is always reported). Every other misuse is
 * found race-free: a free that reaches the lock looks the pointer up anew, page map
 * first, since another thread may have freed it and unmapped its run meanwhile.
 * liballoc_check does not compare the canaries of blocks of at most TC_RACY_BLOCK
 * bytes while other caches exist, since their owners may be caching or handing
 * them out right then.
 *
 * Bound. Fast paths O(1), no hook call; a refill or flush moves at most TC_BATCH
 * blocks under one lock (each O(1)); a transfer is O(1) under the class's try-lock.
 * With per-CPU caches every fast path runs with interrupts off, bounded likewise.
 */
#ifndef LIBALLOC_H
#error "liballoc_tcache.c is included by liballoc.c, not compiled on its own"
#endif

#if defined(LIBALLOC_THREAD_LOCAL) && defined(LIBALLOC_CPU_CACHES)
#error "define LIBALLOC_THREAD_LOCAL or LIBALLOC_CPU_CACHES, not both"
#endif

/* Bins: one per 16-byte block size up to TC_SMALL, then eight classes per power of
 * two up to TC_MAX. A freed block goes to the largest class not above its size (a
 * refill's last block may be up to 16 bytes bigger than its class). */
#define TC_SMALL ((size_t)1024)
#define TC_POWERS 4u                              /* classes above TC_SMALL: (1, 2] .. (8, 16] KiB */
#define TC_MAX   ((TC_SMALL << TC_POWERS) * 9 / 8) /* largest class (18 432): a 16 KiB request's block */
#define TC_SMALL_BINS (TC_SMALL / 16 + 1)
#define TC_BINS  (TC_SMALL_BINS + 8 * TC_POWERS + 1)  /* 1152..2048, .., 9216..16384, TC_MAX */
/* The fast paths handle blocks with a trailer only in hardened mode, where every
 * block has one; elsewhere those take the slow paths, so that the fast paths never
 * compute a trailer nor need the requester. */
#define TC_FAST_TRAILERS LIBALLOC_HARDENED
#define TC_BATCH 32u                              /* most blocks moved per refill or flush */
#define TC_RACY_BLOCK (TC_MAX + TC_MAX / 8 - 16)   /* largest block a free may cache */

typedef struct tlink {
	struct tlink *next, *prev;
} tlink;
typedef struct tbin {
	blk *head;
	uint32_t n;
	uint32_t limit;  /* a free into a bin this full passes it on; 0 unless the cache is active */
} tbin;
typedef struct tcache {
	tlink link;                          /* on the layer's list while active */
	int state;                           /* TC_* */
	size_t in_use, allocs, frees;        /* deltas not yet folded into the heap's stats */
	size_t lost;                         /* cached blocks cut off by a forged link */
	tbin bin[TC_BINS];
} tcache;
/* A cache is NEW; IN_REGISTER while the port's register hook runs (allocations it
 * makes take the locked path); REGISTERING until its first locked call links it;
 * ACTIVE while linked; DEAD after its thread's exit. */
enum { TC_NEW, TC_IN_REGISTER, TC_REGISTERING, TC_ACTIVE, TC_DEAD };

#define XFER_SEGS 7u                    /* most segments (whole bins) in a transfer stack */
#define XFER_BYTES ((size_t)64 << 10)    /* ... and bytes, beyond its first segment */
#define XFER_ALONE_BYTES ((size_t)16 << 10)  /* ... all told, while only one cache is active */
#define XFER_BINS (TC_SMALL_BINS + 8 * 2)        /* classes with a stack: bins 0..80, blocks up to 4 KiB */
typedef struct xstack {
	uint32_t lock;               /* try-lock: 1 while a thread changes the stack */
	uint32_t segs, n;            /* segments held, blocks in them */
	tbin seg[XFER_SEGS];         /* each a bin's chain and count, passed whole */
} __attribute__((aligned(64))) xstack;

/* The layer's state, beside the default heap it serves. */
static struct {
	tlink caches;                /* active caches */
	uint32_t list_lock;          /* spinlock guarding `caches` (never the heap lock) */
	int orphans;                 /* a fork child abandoned other threads' caches */
	size_t gone_live, gone_allocs, gone_frees, gone_cached;  /* of caches unlinked without the lock */
	xstack xfer[XFER_BINS];      /* per class: cached blocks passed between threads */
} T = {.caches = {&T.caches, &T.caches}};

#ifdef LIBALLOC_CPU_CACHES
static tcache tc_cpu[LIBALLOC_CPU_CACHES];
#define TC_SELF() (&tc_cpu[LIBALLOC_CPU_ID()])
#define TC_ENTER() unsigned long tc_irq_ = LIBALLOC_CPU_ENTER()
#define TC_LEAVE() LIBALLOC_CPU_LEAVE(tc_irq_)
#define TC_REGISTER() ((void)0)
#define TC_AFTER_EXIT TC_NEW   /* a CPU brought online again starts afresh */
#else
static LIBALLOC_THREAD_LOCAL tcache tls_cache;
#define TC_SELF() (&tls_cache)
#define TC_ENTER() ((void)0)
#define TC_LEAVE() ((void)0)
#ifdef LIBALLOC_THREAD_REGISTER
#define TC_REGISTER() LIBALLOC_THREAD_REGISTER()
#else
#define TC_REGISTER() ((void)0)
#endif
#define TC_AFTER_EXIT TC_DEAD  /* later calls of an exiting thread take the locked path */
#endif

static int enter(heap *h);
static void leave(heap *h, fault *f);
static void report_now(heap *h, int code, void *ptr);

static void list_lock(void)
{
	while (__atomic_exchange_n(&T.list_lock, 1, __ATOMIC_ACQUIRE))
		while (LOAD(T.list_lock))
			;
}
static void list_unlock(void) { __atomic_store_n(&T.list_lock, 0, __ATOMIC_RELEASE); }

/* Unlink tc (list lock held); the list heads are stored atomically for tc_alone. */
static void tc_unlink(tcache *tc)
{
	STORE(tc->link.prev->next, tc->link.next);
	STORE(tc->link.next->prev, tc->link.prev);
}

/* Blocks a bin of blocks of `size` bytes may hold: 64 up to 128 bytes, halving
 * per power of two above (8 KiB per bin), at least 8 up to 4 KiB, then 4, and 2
 * above 8 KiB (at most 36 KiB per bin): a thread that frees many big blocks of one
 * class merges them back rather than keeping them from every other size. */
static inline uint32_t tc_limit(size_t size)
{
	unsigned f = fls32((uint32_t)size - 1);
	return f < 7 ? 64u : f > 12 ? 2u : f > 11 ? 4u : f > 9 ? 8u : 64u >> (f - 6);
}

/* The block size of bin i. */
static inline size_t tc_size(size_t i)
{
	if (i < TC_SMALL_BINS)
		return i << 4;
	i -= TC_SMALL_BINS;
	return ((size_t)1024 << (i / 8)) + (i % 8 + 1) * ((size_t)128 << (i / 8));
}

/* The bin serving a request for a block of bs <= TC_MAX bytes: its own up to
 * TC_SMALL, else the class rounded up (at most 1/8 more). */
static inline size_t tc_bin_up(size_t bs)
{
	if (bs <= TC_SMALL)
		return bs >> 4;
	unsigned p = fls32((uint32_t)bs - 1) - 10;  /* bs in (1024 << p, 2048 << p], steps of 128 << p */
	return TC_SMALL_BINS + 8 * p + ((bs - ((size_t)1024 << p) + ((size_t)128 << p) - 1) >> (7 + p)) - 1;
}

/* The bin a free block of `size` bytes goes to: the largest class not above it;
 * TC_BINS if no bin takes it (above TC_RACY_BLOCK). */
static inline size_t tc_bin_down(size_t size)
{
	if (size <= TC_SMALL)
		return size >> 4;
	if (size > TC_RACY_BLOCK)
		return TC_BINS;
	unsigned p = fls32((uint32_t)size) - 10;  /* size in [1024 << p, 2048 << p), steps of 128 << p */
	return TC_SMALL_BINS + 8 * p + ((size - ((size_t)1024 << p)) >> (7 + p)) - 1;
}

_Static_assert(XFER_BINS <= TC_BINS, "transfer stacks serve a prefix of the classes");
_Static_assert(TC_MAX == (TC_SMALL << TC_POWERS) + (TC_SMALL << TC_POWERS) / 8 && TC_MAX - HDR - 16 >= (size_t)16384,
	       "the last class is the first of the next power, and holds a 16 KiB request");

/* A block's size as the bins see it: without its requester trailer, if it has one
 * (a block is binned, and serves requests, by the bytes it can give). */
static inline size_t tc_size_of(const blk *b) { return bsize(b) - trailer_of(b); }

/* The bytes of a cached block that hold poison (hardened): its fill, less the trailer. */
static inline size_t tc_fill_len(const blk *b) { return fill_len(tc_size_of(b)); }

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
static inline int tc_sound(const heap *h, const blk *b, size_t i, int full)
{
	if ((uintptr_t)b & (ALIGN - 1))
		return 0;
	return !full || (owns(h, (uintptr_t)b) && hdr_ok(h, b) && (b->size & (F_USED | F_HUGE)) == F_USED &&
			 tc_bin_down(tc_size_of(b)) == i && slack_of(b) == SLACK_CACHED);
}

/* A damaged bin: drop it (its blocks counted as lost), report `code` at `blame`,
 * return b (the popped block, or NULL if the head itself was damaged). */
__attribute__((noinline, cold)) static blk *tc_drop(heap *h, tcache *tc, tbin *bin, blk *b, int code, void *blame)
{
	STORE(tc->lost, tc->lost + bin->n - (b != NULL));
	bin->head = NULL;
	STORE(bin->n, 0);
	report_now(h, code, blame);
	return b;
}

/* Is b, the head of bin i, fit to be handed out: checked completely with `full`,
 * else only its slack word, which must still say "cached" (one compare: a write
 * just before a freed block's payload is caught before the block is handed out
 * again, as glibc checks the size word of a block it takes). */
static inline int tc_head_ok(const heap *h, const blk *b, size_t i, int full)
{
	return full ? tc_sound(h, b, i, 1) : slack_of(b) == SLACK_CACHED;
}

/* tc_pop's cold path: the head of bin i, or its link, failed; report it and drop
 * the bin (see tc_drop). */
__attribute__((noinline, cold)) static blk *tc_pop_damaged(heap *h, tcache *tc, size_t i, int full)
{
	tbin *bin = &tc->bin[i];
	blk *b = bin->head;
	if (!tc_head_ok(h, b, i, full))
		return tc_drop(h, tc, bin, NULL, LIBALLOC_E_HEADER, payload(b));
	return tc_drop(h, tc, bin, b, LIBALLOC_E_FREE_LIST, payload(b));
}

/*
 * Pop the head of bin i, whose soundness was checked when it became the head (its
 * predecessor's link, or a push), and which tc_head_ok checks again. Its link is
 * checked before it becomes the head: a forged one is reported against the block
 * holding it, and the chain behind is abandoned (counted as lost). NULL only if
 * the head itself fails. Inlined: it is most of malloc's fast path, which has one
 * branch to the cold path, so that nothing is kept for it.
 */
__attribute__((always_inline)) static inline blk *tc_pop(heap *h, tcache *tc, size_t i, int full)
{
	tbin *bin = &tc->bin[i];
	blk *b = bin->head;
	blk *nx = tc_next(h, b);
	if (__builtin_expect(!tc_head_ok(h, b, i, full) || (nx && !tc_sound(h, nx, i, full)), 0))
		return tc_pop_damaged(h, tc, i, full);
	bin->head = nx;
	STORE(bin->n, bin->n - 1);
	return b;
}

/* Fold the cache's counters into the heap's (lock held). */
static void tc_fold(heap *h, tcache *tc)
{
	ASSERT(LOCKED(h));
	add_in_use(h, LOAD(tc->in_use));
	h->st.live_blocks += LOAD(tc->allocs) - LOAD(tc->frees);
	STAT(h->st.allocs += LOAD(tc->allocs));
	STAT(h->st.frees += LOAD(tc->frees));
	STORE(tc->in_use, 0);
	STORE(tc->allocs, 0);
	STORE(tc->frees, 0);
}

/* Fold the owner's in-use delta into the heap's tc_in_use without the lock (a bin
 * just passed between threads), and sample the peak. */
static void tc_fold_in_use(heap *h, tcache *tc)
{
	size_t d = tc->in_use;
	STORE(tc->in_use, 0);
	size_t shared = __atomic_add_fetch(&h->tc_in_use, d, __ATOMIC_RELAXED);
	atomic_max(&h->st.in_use_peak, LOAD(h->st.in_use) + shared);
}

/* Give `count` blocks of a bin back to the heap (lock held). */
static void tc_flush(heap *h, tcache *tc, size_t i, uint32_t count, fault *f)
{
	tc_fold(h, tc);
	while (count-- && tc->bin[i].head && !f->code) {
		blk *b = tc_pop(h, tc, i, 1);  /* going back to the heap: check it fully */
		if (!b)
			break;
		STORE(b->slack, 0);
		release(h, b, 0, f);
	}
}

/*
 * tc if a request of n bytes can use it, else NULL. A new thread's cache is
 * registered with the port first (LIBALLOC_THREAD_REGISTER, no lock held) and linked
 * into the layer's list under the lock by tc_activate.
 */
static tcache *tc_register(tcache *tc, size_t n)
{
	if (n > TC_MAX - HDR - canary_room())
		return NULL;
	if (__builtin_expect(tc->state == TC_ACTIVE, 1))
		return tc;
	if (tc->state == TC_NEW) {
		tc->state = TC_IN_REGISTER;
		TC_REGISTER();
		tc->state = TC_REGISTERING;
	}
	return tc->state == TC_REGISTERING ? tc : NULL;
}

/* Link a registering cache into the layer's list (heap lock held). */
static void tc_activate(heap *h, tcache *tc)
{
	ASSERT(LOCKED(h));
	if (tc->state != TC_REGISTERING)
		return;
	list_lock();
	tc->link.next = T.caches.next;
	tc->link.prev = &T.caches;
	STORE(T.caches.next->prev, &tc->link);
	STORE(T.caches.next, &tc->link);
	list_unlock();
	for (size_t i = 0; i < TC_BINS; i++)
		tc->bin[i].limit = tc_limit(tc_size(i));
	tc->state = TC_ACTIVE;
}

/* A block for n bytes from the caller's cache, or NULL (bin empty: bins hold
 * blocks only while their cache is active; or, unless `traced`, its head has a
 * trailer, which only a traced pop fills: malloc's slow path, and its fast path
 * with TC_FAST_TRAILERS; so the fast path otherwise never needs the requester).
 * The canary is written before the slack that places it is published; a trailer
 * gets the requester. Inside TC_ENTER. */
__attribute__((always_inline)) static inline void *tc_pop_block(heap *h, tcache *tc, size_t n, const void *site, int traced)
{
	size_t i = tc_bin_up(block_size(n));
	blk *b = tc->bin[i].head;
	if (!b || (TRAILERS && !traced && (b->size & F_REQ)) || !(b = tc_pop(h, tc, i, LIBALLOC_HARDENED)))
		return NULL;
	size_t slack = bsize(b) - HDR - n;  /* a cached block is a chunk block */
	if (TRAILERS && traced && (b->size & F_REQ)) {
		slack -= TRAIL;
		set_trail(b, site);
	}
	if (LIBALLOC_HARDENED && !filled(fill_start(b), POISON, tc_fill_len(b)))
		report_now(h, LIBALLOC_E_USE_AFTER_FREE, payload(b));
	canary_put(h, b, slack);
	__atomic_store_n(&b->slack, (uint32_t)slack, LIBALLOC_HARDENED ? __ATOMIC_RELEASE : __ATOMIC_RELAXED);
	STORE(tc->in_use, tc->in_use + n);
	STORE(tc->allocs, tc->allocs + 1);
	LIBALLOC_ON_ALLOC(payload(b), n, 0);
	return payload(b);
}

/* Fast path of malloc: a block from the calling thread's (CPU's) bin, or NULL. */
__attribute__((always_inline)) static inline void *tc_alloc(size_t n, const void *site)
{
	if (n > TC_MAX - HDR - canary_room())
		return NULL;
	TC_ENTER();
	void *p = tc_pop_block(G, TC_SELF(), n, site, TC_FAST_TRAILERS);
	TC_LEAVE();
	return p;
}

/*
 * Cut free block b (off the lists) into up to `want` blocks of bs bytes (each with
 * a requester trailer of `extra` bytes), the last absorbing a remainder below
 * MIN_BLOCK (it goes to the bin of its own size), and cache them; with n !=
 * SIZE_MAX the first is handed out instead, for n bytes. Returns how many blocks
 * were cut (0 on detected damage, b given back).
 */
static size_t tc_cut(heap *h, tcache *tc, blk *b, size_t bs, size_t extra, size_t want, size_t n, fault *f)
{
	size_t size = bsize(b), k = min_sz(want, size / bs);
	uint32_t zero = b->size & F_ZERO;
	ASSERT(LOCKED(h) && !used(b) && k >= 1);
	blk *nx = verified_next(h, b, f);
	if (!nx) {
		untake(h, b);
		return 0;
	}
	if (size - k * bs >= MIN_BLOCK) {
		carve_tail(h, b, k * bs, size, zero, nx);
		size = k * bs;
	}
	if (!fill_intact(b, size, zero))
		set_fault(f, LIBALLOC_E_USE_AFTER_FREE, payload(b));
	size_t prev = b->prev;
	if (zero)
		poison(payload(b), size - HDR);  /* cached blocks hold poison, never a zero fill */
	blk *c = b;
	for (size_t i = 0; i < k; i++) {
		size_t cs = i + 1 < k ? bs : size - i * bs;
		int out = i == 0 && n != SIZE_MAX;
		hdr_set(h, c, prev, cs | F_USED | (extra ? F_REQ : 0), out ? cs - HDR - extra - n : SLACK_CACHED);
		if (out)
			set_trail(c, f->site);
		else
			tc_push(h, &tc->bin[tc_bin_down(cs - extra)], c);  /* the last may be larger */
		prev = cs;
		c = (blk *)((char *)c + cs);
	}
	set_prev(c, prev);
	return k;
}

/*
 * Slow path of a cached malloc (lock held): gather up to a batch of blocks of bs
 * bytes from free blocks that fit at least one (as many as each holds is cut from
 * it, so fragments are reused), growing the heap only when none fits; hand out
 * the first and cache the rest. One lock acquisition, O(TC_BATCH).
 */
static void *tc_refill(heap *h, tcache *tc, size_t cs, size_t n, fault *f)
{
	size_t extra = f->site ? TRAIL : 0, bs = cs + extra;
	size_t want = min_sz(tc_limit(cs) / 2, TC_BATCH), got = 0;
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
		size_t k = tc_cut(h, tc, b, bs, extra, want - got, first ? SIZE_MAX : n, f);
		if (k && !first)
			first = b;
		got += k;
	}
	if (!first)
		return NULL;
	canary_set(h, first);
	count_alloc(h, n);
	LIBALLOC_ON_ALLOC(payload(first), n, 0);
	return payload(first);
}

/*
 * Transfer stacks (as tcmalloc's transfer cache): a full bin is passed whole, as
 * the safe-linked chain it already is, to its class's stack of segments; a thread
 * whose bin is empty adopts one segment. Each is O(1) under the class's own
 * try-lock: no walk of the blocks, no heap lock, no merge or split, so blocks pass
 * from a freeing thread to an allocating one (a consumer to a producer) at a few
 * instructions per segment. Blocks keep their cached mark (a second free is still
 * a double free). A class holds at most XFER_SEGS segments and, beyond its first,
 * XFER_BYTES; beyond that, frees merge blocks back into the heap under the lock
 * (tc_flush), so memory is not hoarded. While only one cache is active (a program
 * with one thread), the stacks pass nothing between threads and only extend that
 * cache's bins, so a class then holds at most XFER_ALONE_BYTES in all: enough to
 * spare a loop of frees and mallocs most refills, not enough to keep hundreds of
 * KiB from other sizes. Classes of blocks above 4 KiB have no stack (XFER_BINS): a
 * full bin of them merges back at once, since the bytes a stack would keep cost more
 * than the refills it saves (README "Benchmarks": espresso's and threadlocal's peak
 * RSS). A busy try-lock sends the caller to the locked path instead of waiting.
 * tc_xfer_drain does not wait either: the holder may be the very thread it runs on
 * (a signal handler or an interrupt that came in while the stack was held), so a
 * busy class keeps its blocks until the next drain.
 */
static inline int xfer_lock(xstack *x) { return !__atomic_exchange_n(&x->lock, 1, __ATOMIC_ACQUIRE); }
static inline void xfer_unlock(xstack *x) { __atomic_store_n(&x->lock, 0, __ATOMIC_RELEASE); }

/* Is the caller's cache the only active one? Read without the list lock: a cache
 * linked or unlinked meanwhile only changes which byte bound applies. */
static inline int tc_alone(void) { return LOAD(T.caches.next) == LOAD(T.caches.prev); }

/* Class i's transfer stack, or NULL if the class has none. */
static inline xstack *xfer_of(size_t i) { return i < XFER_BINS ? &T.xfer[i] : NULL; }

/* May class i's transfer stack x take `more` blocks as a new segment? */
static inline int xfer_room(const xstack *x, size_t i, uint32_t more)
{
	ASSERT(x == &T.xfer[i]);
	uint32_t segs = LOAD(x->segs);
	size_t bytes = ((size_t)LOAD(x->n) + more) * tc_size(i);
	return segs < XFER_SEGS && (tc_alone() ? bytes <= XFER_ALONE_BYTES : !segs || bytes <= XFER_BYTES);
}

/* Pass the whole of bin i to its transfer stack; 0 if the stack is full or busy. */
static int tc_give(heap *h, tcache *tc, size_t i)
{
	tbin *bin = &tc->bin[i];
	xstack *x = xfer_of(i);
	if (!x || !xfer_room(x, i, bin->n) || !xfer_lock(x))
		return 0;
	int room = xfer_room(x, i, bin->n);  /* again, now that no one else changes it */
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
		tc_fold_in_use(h, tc);
	}
	return room;
}

/* Make bin i non-empty by adopting a segment of its transfer stack (unless it has
 * blocks already); 0 if there is none or the stack is busy. The segment's head was
 * checked when it headed the giver's bin. */
static int tc_adopt(heap *h, tcache *tc, size_t i)
{
	xstack *x = xfer_of(i);
	if (tc->bin[i].head)
		return 1;
	if (!x || !LOAD(x->segs) || !xfer_lock(x))
		return 0;
	int got = x->segs > 0;
	if (got) {
		tbin *bin = &tc->bin[i];
		STORE(x->segs, x->segs - 1);
		bin->head = x->seg[x->segs].head;
		STORE(bin->n, x->seg[x->segs].n);
		STORE(x->n, x->n - bin->n);
	}
	xfer_unlock(x);
	if (got)
		tc_fold_in_use(h, tc);
	return got;
}

/* Merge every transfer stack back into the heap (lock held): trim, or when memory
 * runs out. Each block is checked fully first; a class whose try-lock is held at
 * that moment is skipped (see above). */
static void tc_xfer_drain(heap *h, fault *f)
{
	ASSERT(LOCKED(h));
	for (size_t i = 0; i < XFER_BINS && !f->code; i++) {
		xstack *x = &T.xfer[i];
		if (!LOAD(x->segs) || !xfer_lock(x))
			continue;
		while (x->segs && !f->code) {
			tbin seg = x->seg[x->segs - 1];
			for (blk *b = seg.head; b && seg.n && !f->code; seg.n--) {
				if (!tc_sound(h, b, i, 1)) {
					set_fault(f, LIBALLOC_E_FREE_LIST, b);
					break;
				}
				blk *nx = tc_next(h, b);
				STORE(x->n, x->n - 1);
				STORE(b->slack, 0);
				release(h, b, 0, f);
				b = nx;
			}
			STORE(x->segs, x->segs - 1);
		}
		xfer_unlock(x);
	}
}

/* Flush every bin of cache tc (lock held). */
static void tc_drain(heap *h, tcache *tc, fault *f)
{
	if (tc->state != TC_ACTIVE)
		return;
	for (size_t i = 0; i < TC_BINS; i++)
		tc_flush(h, tc, i, UINT32_MAX, f);
}

/* A full bin (or a cache not yet active) before a free: register and link the
 * cache; pass the bin on, or flush half of it under the lock. 0 if that failed. */
__attribute__((noinline, cold)) static int tc_make_room(heap *h, tcache *tc, tbin *bin)
{
	fault f = NO_FAULT;
	if (tc->state != TC_ACTIVE) {  /* once per thread: register and link the cache */
		if (!tc_register(tc, 0) || !enter(h))
			return 0;
		tc_activate(h, tc);
		leave(h, &f);
	}
	size_t i = (size_t)(bin - tc->bin);
	if (bin->n < bin->limit || tc_give(h, tc, i))
		return 1;
	if (!enter(h))  /* the transfer stack is full: merge blocks back into the heap */
		return 0;
	tc_flush(h, tc, i, bin->n / 2 + 1, &f);
	leave(h, &f);
	return f.code == 0;
}

/*
 * Cache live block b (live_block), a chunk block whose size less its `trailer`
 * (0, or TRAIL with F_REQ) is bs: a block of cacheable size, its next header's
 * boundary tag intact, goes to its bin; a full bin (or an inactive cache) first
 * goes through tc_make_room if `slow` allows, else fails, so that free's own fast
 * path calls nothing. 0: take the locked path (which also reports an overflow into
 * the next header).
 */
__attribute__((always_inline)) static inline int tc_cache(blk *b, size_t bs, size_t trailer, int slow, const void *site)
{
	heap *h = G;
	int done = 0;
	size_t i = tc_bin_down(bs);
	if (i == TC_BINS || overflowed(b))
		return 0;
	TC_ENTER();
	tcache *tc = TC_SELF();
	tbin *bin = &tc->bin[i];
	if (__builtin_expect(bin->n < bin->limit, 1) || (slow && tc_make_room(h, tc, bin))) {
		LIBALLOC_ON_FREE(payload(b), bs - HDR);
		STORE(tc->in_use, tc->in_use - (bs - HDR - slack_of(b)));
		STORE(tc->frees, tc->frees + 1);
		__atomic_store_n(&b->slack, SLACK_CACHED, LIBALLOC_HARDENED ? __ATOMIC_RELEASE : __ATOMIC_RELAXED);
		poison(fill_start(b), fill_len(bs));
		if (trailer)
			trail_of(b)->freed_at = site;
		tc_push(h, bin, b);
		done = 1;
	}
	TC_LEAVE();
	return done;
}

/* Fast path of free for live block b: 0, take the locked path. Without `slow`, a
 * block with a trailer takes it too (unless TC_FAST_TRAILERS), so that free's own
 * fast path never computes a trailer nor needs the requester (all blocks are
 * without one while requesters are not recorded). */
__attribute__((always_inline)) static inline int tc_free(blk *b, int slow, const void *site)
{
	uint32_t size = b->size;
	if (size & (F_HUGE | (slow || !TRAILERS || TC_FAST_TRAILERS ? 0 : F_REQ)))
		return 0;
	size_t trailer = slow || TC_FAST_TRAILERS ? trailer_of(b) : 0;
	return tc_cache(b, (size & ~F_MASK) - trailer, trailer, slow, site);
}

/* Fast path of realloc: a live chunk block that holds n bytes with less than
 * MIN_BLOCK to spare changes only its slack (and its trailer's requester), which
 * only its owner writes: no lock.
 * 0: take the locked path. */
static int tc_resize(void *p, size_t n, const void *site)
{
	heap *h = G;
	blk *b = live_block(h, p);
	int done = 0;
	if (!b || (b->size & F_HUGE) || n > MAX_REQUEST || overflowed(b))
		return 0;
	size_t size = bsize(b), bs = block_size(n) + trailer_of(b), old = requested(b);
	if (bs > size || size - bs >= MIN_BLOCK)
		return 0;
	TC_ENTER();
	tcache *tc = TC_SELF();
	if (tc->state == TC_ACTIVE) {
		canary_put(h, b, usable(b) - n);
		STORE(b->slack, (uint32_t)(usable(b) - n));
		if ((b->size & F_REQ) && site)  /* realloc's caller is the requester now */
			trail_of(b)->site = site;
		LIBALLOC_ON_RESIZE(p, old, n);
		STORE(tc->in_use, tc->in_use + n - old);
		done = 1;
	}
	TC_LEAVE();
	return done;
}

/* malloc's slow path before the lock: register a new thread's cache; pop a block
 * from its bin (one with a trailer, which the fast path leaves), or adopt a segment
 * of the transfer stack into the empty bin and pop from that. */
static void *tc_alloc_unlocked(size_t n, const void *site)
{
	void *p = NULL;
	TC_ENTER();
	tcache *tc = tc_register(TC_SELF(), n);
	if (tc && tc->state == TC_ACTIVE && tc_adopt(G, tc, tc_bin_up(block_size(n))))
		p = tc_pop_block(G, tc, n, site, 1);
	TC_LEAVE();
	return p;
}

/* malloc's path under the lock: a cached request refills its bin (and, out of
 * memory, merges the transfer stacks back and tries once more); any other goes to
 * the heap. */
static void *tc_alloc_locked(heap *h, size_t n, size_t align, size_t *dirty, fault *f)
{
	void *p = NULL;
	TC_ENTER();
	tcache *tc = TC_SELF();
	int cached = align <= ALIGN && n <= TC_MAX - HDR - canary_room() &&
		     (tc->state == TC_ACTIVE || tc->state == TC_REGISTERING);  /* not IN_REGISTER */
	size_t cs = cached ? tc_size(tc_bin_up(block_size(n))) : 0;  /* the cache's class for n */
	for (int pass = 0; pass < 2; pass++) {
		if (cached && cs <= h->huge_threshold) {
			p = tc_refill(h, tc, cs, n, f);
			if (p && dirty)
				*dirty = n;
		} else {
			p = h_alloc(h, n, align, dirty, f);
		}
		if (p || f->code || pass)
			break;
		tc_xfer_drain(h, f);  /* out of memory: merge the transfer stacks back, give back */
		give_back(h, f);      /* what the heap holds unused, try again */
	}
	TC_LEAVE();
	return p;
}

/* trim: the caller's cached blocks and the transfer stacks back to the heap. */
static void tc_reclaim(heap *h, fault *f)
{
	TC_ENTER();
	tc_drain(h, TC_SELF(), f);
	TC_LEAVE();
	tc_xfer_drain(h, f);
}

/* Add the caches' counters, read as they are, to *out (lock held). O(threads). */
static void tc_stats(heap *h, struct liballoc_stats *out)
{
	(void)h;
	for (size_t i = 0; i < XFER_BINS; i++)
		out->cached += LOAD(T.xfer[i].n);
	out->live_blocks += LOAD(T.gone_live);
	STAT(out->allocs += LOAD(T.gone_allocs));
	STAT(out->frees += LOAD(T.gone_frees));
	out->cached += LOAD(T.gone_cached);
	list_lock();
	for (tlink *l = T.caches.next; l != &T.caches; l = l->next) {
		tcache *tc = (tcache *)l;
		out->in_use += LOAD(tc->in_use);
		out->live_blocks += LOAD(tc->allocs) - LOAD(tc->frees);
		STAT(out->allocs += LOAD(tc->allocs));
		STAT(out->frees += LOAD(tc->frees));
		out->cached += LOAD(tc->lost);
		for (size_t i = 0; i < TC_BINS; i++)
			out->cached += LOAD(tc->bin[i].n);
	}
	list_unlock();
}

/* The caches, for liballoc_check (lock held): the calling thread's bins are walked
 * (the others belong to running threads); everyone's counters are added to the
 * expected totals. *others: other threads' caches exist (or were abandoned by a
 * fork), whose counters and blocks move without the lock. */
static int tc_check(heap *h, tally *want, int *others)
{
	int e = LIBALLOC_OK;
	TC_ENTER();
	tcache *own = TC_SELF();
	*others = T.orphans;
	for (size_t i = 0; i < XFER_BINS; i++)
		want->cached += LOAD(T.xfer[i].n);
	want->live += LOAD(T.gone_live);
	want->cached += LOAD(T.gone_cached);
	list_lock();
	for (tlink *l = T.caches.next; l != &T.caches && !e; l = l->next) {
		tcache *tc = (tcache *)l;
		*others |= tc != own;
		want->in_use += LOAD(tc->in_use);
		want->live += LOAD(tc->allocs) - LOAD(tc->frees);
		want->cached += LOAD(tc->lost);
		for (size_t i = 0; i < TC_BINS && !e; i++) {
			uint32_t n = LOAD(tc->bin[i].n), seen = 0;
			want->cached += n;
			if (tc != own)
				continue;
			for (const blk *b = tc->bin[i].head; b && !e; b = tc_next(h, b)) {
				if (++seen > n || !tc_sound(h, b, i, 1))
					e = LIBALLOC_E_FREE_LIST;
				else if (LIBALLOC_HARDENED && !filled(fill_start(b), POISON, tc_fill_len(b)))
					e = LIBALLOC_E_USE_AFTER_FREE;
			}
			if (!e && seen != n)
				e = LIBALLOC_E_FREE_LIST;
		}
	}
	list_unlock();
	TC_LEAVE();
	return e;
}

/* Unlink cache tc, moving what it still holds to the layer's own counters (list
 * lock held): blocks a failed drain or lock left in its bins stay allocated and
 * counted as cached, its unfolded deltas stay counted. */
static void tc_retire(heap *h, tcache *tc)
{
	size_t cached = LOAD(tc->lost);
	for (size_t i = 0; i < TC_BINS; i++)
		cached += tc->bin[i].n;
	tc_unlink(tc);
	__atomic_fetch_add(&h->tc_in_use, tc->in_use, __ATOMIC_RELAXED);
	__atomic_fetch_add(&T.gone_live, tc->allocs - tc->frees, __ATOMIC_RELAXED);
	__atomic_fetch_add(&T.gone_allocs, tc->allocs, __ATOMIC_RELAXED);
	__atomic_fetch_add(&T.gone_frees, tc->frees, __ATOMIC_RELAXED);
	__atomic_fetch_add(&T.gone_cached, cached, __ATOMIC_RELAXED);
}

void liballoc_thread_exit(void)
{
	heap *h = G;
	TC_ENTER();
	tcache *tc = TC_SELF();
	if (tc->state == TC_ACTIVE) {
		fault f = NO_FAULT;
		int locked = enter(h);
		if (locked) {
			tc_drain(h, tc, &f);
			tc_fold(h, tc);
		}
		list_lock();
		tc_retire(h, tc);
		list_unlock();
		if (locked)
			leave(h, &f);
		else
			report_now(h, LIBALLOC_E_LOCK, NULL);
	}
	__builtin_memset(tc, 0, sizeof *tc);
	tc->state = TC_AFTER_EXIT;
	TC_LEAVE();
}

void liballoc_fork_child(void)
{
	heap *h = G;
	fault f = NO_FAULT;
	tcache *self = TC_SELF();
	T.list_lock = 0;  /* only this thread exists: whoever held it is gone */
	if (!enter(h))
		return;
	for (tlink *l = T.caches.next, *nx; l != &T.caches; l = nx) {
		nx = l->next;
		if (l == &self->link)
			continue;
		tc_fold(h, (tcache *)l);  /* as far as its frozen thread got */
		tc_retire(h, (tcache *)l);
		T.orphans = 1;
	}
	for (size_t i = 0; i < XFER_BINS; i++) {
		xstack *x = &T.xfer[i];
		if (LOAD(x->lock)) {  /* such a thread was changing it: abandon its blocks too */
			T.gone_cached += x->n;
			x->segs = 0;
			x->n = 0;
			xfer_unlock(x);
			T.orphans = 1;
		}
	}
	leave(h, &f);
}
