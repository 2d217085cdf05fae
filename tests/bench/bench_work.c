/* bench_work.c — the allocator benchmark workloads, modelled on the classic allocator benchmarks; one per run. */
/* SPDX-License-Identifier: MIT */
/*
 * usage: bench_work WORKLOAD [SCALE [THREADS]]
 *   WORKLOAD  churn | larson | prodcons | realloc | powerlaw | large | falseshare | fragphase |
 *             largebuf | threadlocal | espresso, or sweep (threads alive, one working)
 *   SCALE     full (1.0, about 0.5-3 s each on glibc), tiny (smoke test), or a number
 *   THREADS   threads of the multi-threaded workloads (default 4; 1-64), or for
 *             sweep the threads alive, the working one included (1-4096)
 *
 * Every workload draws from a deterministic PRNG, writes every block it gets and
 * verifies it before freeing it, and prints one line of key=value pairs:
 *   workload=... scale=... threads=... ops=... checksum=... peak_live=... vmhwm_kib=...
 * checksum depends only on the op sequence and the data written, never on
 * addresses or timing, so it must be identical under every allocator.
 * peak_live is the high-water mark of the bytes the workload itself held (sum of
 * requested sizes, bookkeeping arrays included), so peak RSS / peak_live measures
 * the allocator's fragmentation and overhead. Multi-threaded workloads publish
 * their live bytes in batches, so their peak is exact to within a few hundred KiB.
 * sweep adds ns_small=... ns_8k=... ns_mix=... ns_burst=... (ns per malloc+free).
 * A block whose content changed while it was live (an allocator handing out
 * overlapping memory) is reported and the program exits with status 3.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- common ------------------------------------------------------------- */

static double scale = 1.0;
static unsigned nthreads = 4;
static const char *wl_name;

/* Iteration counts scale linearly; never below `min` so tiny runs still do work. */
static uint64_t scaled(double full, uint64_t min)
{
	double n = full * scale;
	return n < (double)min ? min : (uint64_t)n;
}

typedef struct { uint64_t s; } rng;

static rng rng_seed(uint64_t seed)
{
	/* splitmix64, so nearby seeds give unrelated streams */
	uint64_t z = seed + 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (rng){ (z ^ (z >> 31)) | 1 };
}

static inline uint64_t next(rng *r)  /* xorshift64* */
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ull;
}

static inline uint64_t below(rng *r, uint64_t n)  /* uniform in [0, n), n <= 2^32 */
{
	return ((next(r) >> 32) * n) >> 32;
}

static inline double unit(rng *r)  /* uniform in [0, 1) */
{
	return (double)(next(r) >> 11) * 0x1.0p-53;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_work %s: %s\n", wl_name, what);
	exit(3);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p)
		die("out of memory");
	return p;
}

/* Fill a block: the 8-byte tag first, then its low byte everywhere else, so both
 * ends and the middle can be checked on free. */
static inline void fill(void *p, size_t n, uint64_t tag)
{
	memset(p, (int)(tag & 0xff), n);
	if (n >= 8)
		memcpy(p, &tag, 8);
}

/* Verify a block filled by fill() and return its checksum contribution. */
static inline uint64_t verify(const void *p, size_t n, uint64_t tag)
{
	const unsigned char *b = p;
	unsigned char low = (unsigned char)tag;
	if (n >= 8) {
		uint64_t t;
		memcpy(&t, b, 8);
		if (t != tag)
			die("block head overwritten while live");
	}
	if (n && (b[n - 1] != low || (n > 16 && b[n / 2] != low)))
		die("block body overwritten while live");
	return (tag ^ (n * 0x9e3779b97f4a7c15ull)) + (n > 8 ? b[n - 1] : 0);
}

/* Live-byte accounting. Single-threaded workloads use a plain tally; threads add
 * their pending deltas to the shared one in batches (an atomic per op would cost
 * more than some of the allocators being measured). */
typedef struct { int64_t live, peak; } tally;
static _Atomic int64_t g_live, g_peak;

static inline void tally_add(tally *t, int64_t d)
{
	t->live += d;
	if (t->live > t->peak)
		t->peak = t->live;
}

static void shared_add(int64_t d)
{
	int64_t v = atomic_fetch_add_explicit(&g_live, d, memory_order_relaxed) + d;
	int64_t p = atomic_load_explicit(&g_peak, memory_order_relaxed);
	while (v > p && !atomic_compare_exchange_weak_explicit(&g_peak, &p, v, memory_order_relaxed,
							       memory_order_relaxed))
		;
}

/* Per-thread pending delta, flushed when it exceeds 64 KiB either way. */
static inline void pending_add(int64_t *pend, int64_t d)
{
	*pend += d;
	if (*pend > 65536 || *pend < -65536) {
		shared_add(*pend);
		*pend = 0;
	}
}

static _Atomic uint64_t g_sum;  /* threads' checksums: a sum, so order does not matter */

static void run_threads(void *(*fn)(void *), void *args, size_t argsize)
{
	pthread_t *th = xmalloc(nthreads * sizeof *th);
	for (unsigned i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, fn, (char *)args + i * argsize))
			die("pthread_create failed");
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	free(th);
}

/* Peak RSS of this process from /proc (no allocation), as a cross-check of the
 * runner's wait4 figure. */
static long vmhwm_kib(void)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	const char *s = strstr(buf, "VmHWM:");
	return s ? strtol(s + 6, NULL, 10) : -1;
}

struct result {
	uint64_t ops, checksum;
	int64_t peak_live;
};

/* ---- churn: many short-lived 16-512 byte objects ------------------------- */

#define CHURN_SLOTS 4096

static struct result churn(void)
{
	struct slot { void *p; uint32_t n; uint64_t tag; } *slot = calloc(CHURN_SLOTS, sizeof *slot);
	if (!slot)
		die("out of memory");
	tally t = { 0, 0 };
	tally_add(&t, CHURN_SLOTS * (int64_t)sizeof *slot);
	rng r = rng_seed(1);
	uint64_t ops = scaled(30e6, 20000), sum = 0;
	for (uint64_t i = 0; i < ops; i++) {
		struct slot *s = &slot[below(&r, CHURN_SLOTS)];
		if (s->p) {
			sum += verify(s->p, s->n, s->tag);
			free(s->p);
			tally_add(&t, -(int64_t)s->n);
		}
		s->n = 16 + (uint32_t)below(&r, 497);
		s->tag = next(&r);
		s->p = xmalloc(s->n);
		fill(s->p, s->n, s->tag);
		tally_add(&t, s->n);
	}
	for (unsigned k = 0; k < CHURN_SLOTS; k++)
		if (slot[k].p) {
			sum += verify(slot[k].p, slot[k].n, slot[k].tag);
			free(slot[k].p);
		}
	free(slot);
	return (struct result){ ops, sum, t.peak };
}

/* ---- larson: a server replacing random blocks; blocks freed by other threads ---- */
/*
 * Larson & Krishnan, "Memory allocation for long-running server applications"
 * (ISMM 1998): each thread replaces random blocks of its own set. Here the sets
 * rotate between threads every round, so almost every free is of a block another
 * thread allocated, as when a server hands a connection's state to another worker.
 */

#define LARSON_SLOTS 4000  /* blocks per set */

struct lslot { void *p; uint32_t n; uint64_t tag; };
static struct lslot *larson_sets;
static pthread_barrier_t larson_bar;
static uint64_t larson_rounds, larson_ops;

static void *larson_thread(void *arg)
{
	unsigned id = *(unsigned *)arg;
	uint64_t sum = 0;
	int64_t pend = 0;
	for (uint64_t round = 0; round < larson_rounds; round++) {
		struct lslot *set = larson_sets + ((id + round) % nthreads) * LARSON_SLOTS;
		rng r = rng_seed(1000003 * round + id);
		for (uint64_t i = 0; i < larson_ops; i++) {
			struct lslot *s = &set[below(&r, LARSON_SLOTS)];
			sum += verify(s->p, s->n, s->tag);
			free(s->p);
			pending_add(&pend, -(int64_t)s->n);
			s->n = 16 + (uint32_t)below(&r, 1009);
			s->tag = next(&r);
			s->p = xmalloc(s->n);
			fill(s->p, s->n, s->tag);
			pending_add(&pend, s->n);
		}
		pthread_barrier_wait(&larson_bar);
	}
	shared_add(pend);
	atomic_fetch_add(&g_sum, sum);
	return NULL;
}

static struct result larson(void)
{
	size_t nslots = (size_t)nthreads * LARSON_SLOTS;
	larson_sets = xmalloc(nslots * sizeof *larson_sets);
	shared_add((int64_t)(nslots * sizeof *larson_sets));
	rng r = rng_seed(2);
	for (size_t k = 0; k < nslots; k++) {  /* the main thread allocates the first blocks */
		struct lslot *s = &larson_sets[k];
		s->n = 16 + (uint32_t)below(&r, 1009);
		s->tag = next(&r);
		s->p = xmalloc(s->n);
		fill(s->p, s->n, s->tag);
		shared_add(s->n);
	}
	larson_ops = 20000;
	larson_rounds = scaled(800.0 / nthreads, 2);
	pthread_barrier_init(&larson_bar, NULL, nthreads);
	unsigned ids[64];
	for (unsigned i = 0; i < nthreads; i++)
		ids[i] = i;
	run_threads(larson_thread, ids, sizeof ids[0]);
	pthread_barrier_destroy(&larson_bar);
	uint64_t sum = atomic_load(&g_sum);
	for (size_t k = 0; k < nslots; k++) {
		sum += verify(larson_sets[k].p, larson_sets[k].n, larson_sets[k].tag);
		free(larson_sets[k].p);
	}
	free(larson_sets);
	return (struct result){ larson_rounds * larson_ops * nthreads, sum, atomic_load(&g_peak) };
}

/* ---- prodcons: producers allocate messages, consumers on other threads free them ---- */

#define PC_BATCH 512  /* messages per batch handed over */
#define PC_QUEUE 8    /* batches in flight per queue */

struct msg { uint64_t n, tag; };  /* the head of every message */
struct batch { size_t count, bytes; struct msg *m[PC_BATCH]; };
struct pcq {
	pthread_mutex_t mu;
	pthread_cond_t nonempty, nonfull;
	struct batch *ring[PC_QUEUE];
	unsigned head, count;
	uint64_t batches;
	unsigned id;
	char pad[64];
};

static void *producer(void *arg)
{
	struct pcq *q = arg;
	rng r = rng_seed(3000 + q->id);
	for (uint64_t b = 0; b < q->batches; b++) {
		struct batch *bt = xmalloc(sizeof *bt);
		bt->count = PC_BATCH;
		bt->bytes = sizeof *bt;
		for (unsigned i = 0; i < PC_BATCH; i++) {
			/* mostly small, some up to 2 KiB: 16 + uniform below 32 << (0..6) */
			size_t n = 16 + below(&r, 32u << below(&r, 7));
			struct msg *m = xmalloc(n);
			uint64_t tag = next(&r);
			fill(m, n, tag);
			m->n = n;
			m->tag = tag;
			bt->m[i] = m;
			bt->bytes += n;
		}
		shared_add((int64_t)bt->bytes);
		pthread_mutex_lock(&q->mu);
		while (q->count == PC_QUEUE)
			pthread_cond_wait(&q->nonfull, &q->mu);
		q->ring[(q->head + q->count++) % PC_QUEUE] = bt;
		pthread_cond_signal(&q->nonempty);
		pthread_mutex_unlock(&q->mu);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct pcq *q = arg;
	uint64_t sum = 0;
	for (uint64_t b = 0; b < q->batches; b++) {
		pthread_mutex_lock(&q->mu);
		while (q->count == 0)
			pthread_cond_wait(&q->nonempty, &q->mu);
		struct batch *bt = q->ring[q->head];
		q->head = (q->head + 1) % PC_QUEUE;
		q->count--;
		pthread_cond_signal(&q->nonfull);
		pthread_mutex_unlock(&q->mu);
		for (size_t i = 0; i < bt->count; i++) {
			struct msg *m = bt->m[i];
			const unsigned char *body = (const unsigned char *)m;
			size_t n = m->n;
			unsigned char low = (unsigned char)m->tag;
			if (n < 16 || (n > 16 && (body[n - 1] != low || body[16 + (n - 16) / 2] != low)))
				die("message overwritten in flight");
			sum += (m->tag ^ (n * 0x9e3779b97f4a7c15ull)) + low;
			free(m);
		}
		int64_t bytes = (int64_t)bt->bytes;
		free(bt);
		shared_add(-bytes);
	}
	atomic_fetch_add(&g_sum, sum);
	return NULL;
}

struct pcarg { struct pcq *q; int producer; };

static void *pc_dispatch(void *arg)
{
	struct pcarg *a = arg;
	return a->producer ? producer(a->q) : consumer(a->q);
}

/* nthreads/2 producer-consumer pairs, each with its own bounded queue of batches. */
static struct result prodcons(void)
{
	unsigned pairs = nthreads / 2 ? nthreads / 2 : 1;
	unsigned saved = nthreads;
	nthreads = 2 * pairs;
	struct pcq *qs = xmalloc(pairs * sizeof *qs);
	struct pcarg *args = xmalloc(nthreads * sizeof *args);
	uint64_t batches = scaled(24000.0 / pairs, 2);
	for (unsigned i = 0; i < pairs; i++) {
		memset(&qs[i], 0, sizeof qs[i]);
		pthread_mutex_init(&qs[i].mu, NULL);
		pthread_cond_init(&qs[i].nonempty, NULL);
		pthread_cond_init(&qs[i].nonfull, NULL);
		qs[i].batches = batches;
		qs[i].id = i;
		args[2 * i] = (struct pcarg){ &qs[i], 1 };
		args[2 * i + 1] = (struct pcarg){ &qs[i], 0 };
	}
	run_threads(pc_dispatch, args, sizeof *args);
	for (unsigned i = 0; i < pairs; i++) {
		pthread_mutex_destroy(&qs[i].mu);
		pthread_cond_destroy(&qs[i].nonempty);
		pthread_cond_destroy(&qs[i].nonfull);
	}
	free(qs);
	free(args);
	nthreads = saved;
	return (struct result){ batches * pairs * PC_BATCH, atomic_load(&g_sum), atomic_load(&g_peak) };
}

/* ---- realloc: string and vector builders growing by realloc ------------- */
/*
 * 256 builders grow side by side, so a block can seldom grow into the space after
 * it just because nothing else was allocated. Strings grow to their exact length
 * plus a terminator on every append (naive C code; up to 32 KiB); vectors of
 * 8-byte elements double their capacity (up to 1 MiB). Contents are a function of
 * the position, sampled on completion, so a realloc that loses data is caught.
 */

#define RB_BUILDERS 256

struct builder { unsigned char *p; size_t len, cap, target; int vector; uint64_t tag; };

static inline unsigned char rb_byte(uint64_t tag, size_t i) { return (unsigned char)(tag + i * 131u); }

static uint64_t rb_finish(struct builder *b)
{
	uint64_t sum = b->len ^ b->tag;
	for (unsigned k = 0; k <= 16; k++) {
		size_t i = k < 16 ? b->len / 16 * k : b->len - 1;
		if (b->vector) {
			i &= ~(size_t)7;
			uint64_t v;
			memcpy(&v, b->p + i, 8);
			if (v != (b->tag ^ (i / 8)))
				die("vector content lost by realloc");
			sum += v;
		} else {
			if (b->p[i] != rb_byte(b->tag, i))
				die("string content lost by realloc");
			sum += b->p[i];
		}
	}
	if (!b->vector && b->p[b->len] != 0)
		die("string terminator lost by realloc");
	free(b->p);
	return sum;
}

static struct result realloc_builders(void)
{
	struct builder *bs = calloc(RB_BUILDERS, sizeof *bs);
	if (!bs)
		die("out of memory");
	tally t = { 0, 0 };
	tally_add(&t, RB_BUILDERS * (int64_t)sizeof *bs);
	rng r = rng_seed(4);
	uint64_t ops = scaled(24e6, 20000), sum = 0;
	for (uint64_t op = 0; op < ops; op++) {
		struct builder *b = &bs[below(&r, RB_BUILDERS)];
		if (!b->p) {
			b->vector = (int)below(&r, 2);
			b->target = (size_t)(b->vector ? 64.0 * exp2(14.0 * unit(&r)) : 16.0 * exp2(11.0 * unit(&r)));
			b->tag = next(&r);
			b->len = b->cap = 0;
		}
		size_t need, k;
		if (b->vector) {
			k = 8 * (1 + below(&r, 16));
			need = b->len + k;
			if (need > b->cap) {
				size_t cap = b->cap ? b->cap : 64;
				while (cap < need)
					cap *= 2;
				unsigned char *q = realloc(b->p, cap);
				if (!q)
					die("out of memory");
				tally_add(&t, (int64_t)cap - (int64_t)b->cap);
				b->p = q;
				b->cap = cap;
			}
			for (size_t i = b->len; i < need; i += 8) {
				uint64_t v = b->tag ^ (i / 8);
				memcpy(b->p + i, &v, 8);
			}
		} else {
			k = 1 + below(&r, 32);
			need = b->len + k;
			unsigned char *q = realloc(b->p, need + 1);
			if (!q)
				die("out of memory");
			tally_add(&t, (int64_t)(need + 1) - (int64_t)b->cap);
			b->p = q;
			b->cap = need + 1;
			for (size_t i = b->len; i < need; i++)
				b->p[i] = rb_byte(b->tag, i);
			b->p[need] = 0;
		}
		b->len = need;
		if (b->len >= b->target) {
			sum += rb_finish(b);
			tally_add(&t, -(int64_t)b->cap);
			b->p = NULL;
		}
	}
	for (unsigned i = 0; i < RB_BUILDERS; i++)
		if (bs[i].p)
			sum += rb_finish(&bs[i]);
	free(bs);
	return (struct result){ ops, sum, t.peak };
}

/* ---- powerlaw: long-running mix of power-law sizes and lifetimes --------- */
/*
 * Sizes follow a Pareto law (alpha 1.2, 16 bytes to 1 MiB), like the object sizes
 * measured in real programs; which slot is replaced follows another power law, so
 * a few slots churn constantly while most hold long-lived blocks that pin the
 * memory around them: the classic recipe for fragmentation over a long run.
 */

static size_t pareto_size(rng *r)
{
	double n = 16.0 / pow(1.0 - unit(r), 1.0 / 1.2);
	return n > 1048576.0 ? 1048576 : (size_t)n;
}

static struct result powerlaw(void)
{
	size_t nslots = scaled(300000, 1000);
	struct slot { void *p; uint32_t n; uint32_t tag; } *slot = calloc(nslots, sizeof *slot);
	if (!slot)
		die("out of memory");
	tally t = { 0, 0 };
	tally_add(&t, (int64_t)(nslots * sizeof *slot));
	rng r = rng_seed(5);
	uint64_t ops = scaled(8e6, 20000), sum = 0;
	for (uint64_t i = 0; i < nslots + ops; i++) {
		double u = unit(&r);
		struct slot *s = &slot[i < nslots ? i : (size_t)((double)nslots * u * u * u)];
		if (s->p) {
			sum += verify(s->p, s->n, s->tag);
			free(s->p);
			tally_add(&t, -(int64_t)s->n);
		}
		s->n = (uint32_t)pareto_size(&r);
		s->tag = (uint32_t)next(&r);
		s->p = xmalloc(s->n);
		fill(s->p, s->n, s->tag);
		tally_add(&t, s->n);
	}
	for (size_t k = 0; k < nslots; k++) {
		sum += verify(slot[k].p, slot[k].n, slot[k].tag);
		free(slot[k].p);
	}
	free(slot);
	return (struct result){ nslots + ops, sum, t.peak };
}

/* ---- large: blocks of 64 KiB to 64 MiB, every page touched --------------- */

#define LARGE_SLOTS 6

static struct result large(void)
{
	struct { unsigned char *p; size_t n; uint64_t tag; } slot[LARGE_SLOTS] = { { 0, 0, 0 } };
	tally t = { 0, 0 };
	rng r = rng_seed(6);
	uint64_t ops = scaled(500, 12), sum = 0;
	for (uint64_t i = 0; i < ops; i++) {
		unsigned k = (unsigned)below(&r, LARGE_SLOTS);
		/* log-uniform 64 KiB .. 64 MiB, and in tiny runs at most 1 MiB */
		double top = scale < 0.05 ? 4.0 : 10.0;
		size_t n = (size_t)(65536.0 * exp2(top * unit(&r)));
		if (slot[k].p) {
			for (size_t o = 0; o < slot[k].n; o += 4096)
				if (slot[k].p[o] != (unsigned char)(slot[k].tag + o / 4096))
					die("large block page overwritten while live");
			uint64_t tag;
			memcpy(&tag, slot[k].p, 8);
			if (tag != slot[k].tag)
				die("large block head overwritten while live");
			sum += tag + slot[k].n;
			free(slot[k].p);
			tally_add(&t, -(int64_t)slot[k].n);
		}
		slot[k].n = n;
		slot[k].tag = next(&r);
		slot[k].p = xmalloc(n);
		tally_add(&t, (int64_t)n);
		for (size_t o = 0; o < n; o += 4096)  /* touch every page, as a real user would */
			slot[k].p[o] = (unsigned char)(slot[k].tag + o / 4096);
		memcpy(slot[k].p, &slot[k].tag, 8);
		slot[k].p[0] = (unsigned char)slot[k].tag;  /* what the page loop expects at 0 */
	}
	for (unsigned k = 0; k < LARGE_SLOTS; k++)
		free(slot[k].p);
	return (struct result){ ops, sum, t.peak };
}

/* ---- falseshare: threads' small objects on shared cache lines ------------ */
/*
 * Berger et al.'s cache-scratch and cache-thrash (Hoard, ASPLOS 2000) in one: the
 * main thread allocates one small object per thread back to back and hands them
 * out; each thread frees its object (passive false sharing: an allocator that
 * reuses it keeps the threads on one cache line), then repeatedly allocates a few
 * small objects, writes them many times and frees them (active false sharing: an
 * allocator that interleaves threads' objects makes every write a line transfer).
 */

#define FS_OBJS 4
#define FS_WRITES 250

static void *fs_thread(void *arg)
{
	void **handed = arg;
	unsigned id = (unsigned)(uintptr_t)handed[1];
	uint64_t iters = (uint64_t)(uintptr_t)handed[2], sum = 0;
	free(handed[0]);
	rng r = rng_seed(7000 + id);
	tally t = { 0, 0 };
	for (uint64_t it = 0; it < iters; it++) {
		volatile uint64_t *p[FS_OBJS];
		size_t n[FS_OBJS];
		for (unsigned j = 0; j < FS_OBJS; j++) {
			n[j] = 8 + 8 * below(&r, 8);
			p[j] = xmalloc(n[j]);
			p[j][0] = j;
			tally_add(&t, (int64_t)n[j]);
		}
		for (unsigned w = 0; w < FS_WRITES; w++)
			for (unsigned j = 0; j < FS_OBJS; j++)
				p[j][0] += w;
		for (unsigned j = 0; j < FS_OBJS; j++) {
			sum += p[j][0] * n[j];
			free((void *)p[j]);
			tally_add(&t, -(int64_t)n[j]);
		}
	}
	atomic_fetch_add(&g_peak, t.peak);  /* sum of the threads' peaks: a bound on the true peak */
	atomic_fetch_add(&g_sum, sum);
	return NULL;
}

static struct result falseshare(void)
{
	void *(*args)[3] = xmalloc(nthreads * sizeof *args);
	uint64_t iters = scaled(1200000.0 / nthreads, 200);
	for (unsigned i = 0; i < nthreads; i++) {
		args[i][0] = xmalloc(8);
		args[i][1] = (void *)(uintptr_t)i;
		args[i][2] = (void *)(uintptr_t)iters;
	}
	g_peak = 8 * (int64_t)nthreads;
	run_threads(fs_thread, args, sizeof *args);
	free(args);
	return (struct result){ iters * nthreads * FS_OBJS, atomic_load(&g_sum), atomic_load(&g_peak) };
}

/* ---- fragphase: allocate a size mix, free most of it, switch mixes ------- */
/*
 * Each phase allocates LIMIT bytes from one size range, then frees 90% of all
 * live blocks at random; the survivors pin memory that the next phase, in another
 * size range, can use only if the allocator splits and coalesces well. The live
 * blocks are kept on a list threaded through the blocks themselves, so the
 * workload's own bookkeeping takes no memory.
 */

struct fblk { struct fblk *next; uint64_t n; };

static struct result fragphase(void)
{
	static const size_t mix[][2] = {
		{ 16, 64 }, { 1024, 4096 }, { 64, 256 }, { 4096, 32768 }, { 256, 1024 }, { 32768, 131072 },
	};
	size_t limit = scaled(64.0 * 1048576, 262144);
	tally t = { 0, 0 };
	rng r = rng_seed(8);
	uint64_t ops = 0, sum = 0;
	struct fblk *head = NULL;
	for (unsigned cycle = 0; cycle < 2; cycle++) {
		for (unsigned m = 0; m < sizeof mix / sizeof mix[0]; m++) {
			for (size_t got = 0; got < limit; ops++) {
				size_t n = mix[m][0] + below(&r, mix[m][1] - mix[m][0] + 1);
				struct fblk *b = xmalloc(n);
				memset(b, (int)(n & 0xff), n);
				b->next = head;
				b->n = n;
				head = b;
				got += n;
				tally_add(&t, (int64_t)n);
			}
			for (struct fblk **pp = &head; *pp;) {
				struct fblk *b = *pp;
				if (below(&r, 10) == 0) {
					pp = &b->next;
					continue;
				}
				const unsigned char *c = (const unsigned char *)b;
				if (b->n > 16 && (c[b->n - 1] != (unsigned char)b->n || c[16 + (b->n - 16) / 2] != (unsigned char)b->n))
					die("block overwritten while live");
				sum += b->n * (ops | 1);
				*pp = b->next;
				tally_add(&t, -(int64_t)b->n);
				free(b);
			}
		}
	}
	while (head) {
		struct fblk *b = head;
		head = b->next;
		sum += b->n;
		free(b);
	}
	return (struct result){ ops, sum, t.peak };
}

/* ---- largebuf: zero-initialised buffers of 5-25 MiB replacing each other ---- */
/*
 * The pattern of C++ code holding a few big scratch buffers and replacing one at
 * a time: `slot[k] = std::make_unique<char[]>(n)`. That expression first gets the
 * new buffer (operator new, which under LD_PRELOAD is malloc) and value-initialises
 * it (a memset to zero), and only then frees the old one, so for a moment 21
 * buffers are live. 20 slots, 2 000 replacements of a random slot by a buffer of
 * 5-25 MiB (uniform); tiny runs use an eighth of that size. Stresses the policy for
 * big blocks: mmap threshold, reuse of freed big blocks, page faults, trimming.
 */

#define LB_SLOTS 20

static struct result largebuf(void)
{
	struct { unsigned char *p; size_t n; uint64_t tag; } slot[LB_SLOTS] = { { 0, 0, 0 } };
	tally t = { 0, 0 };
	rng r = rng_seed(9);
	size_t lo = (size_t)5 << 20, span = (size_t)20 << 20;
	if (scale < 0.05) {
		lo /= 8;
		span /= 8;
	}
	uint64_t ops = scaled(2000, 20), sum = 0;
	for (uint64_t i = 0; i < ops; i++) {
		unsigned k = (unsigned)below(&r, LB_SLOTS);
		size_t n = lo + below(&r, span + 1);
		uint64_t tag = next(&r);
		unsigned char *p = xmalloc(n);
		/* keep the compiler from fusing malloc + memset into calloc: make_unique
		 * does operator new, then value-initialisation */
		__asm__ volatile("" : : "r"(p) : "memory");
		memset(p, 0, n);
		tally_add(&t, (int64_t)n);
		memcpy(p, &tag, 8);  /* the program's use: a tag at each end */
		memcpy(p + n - 8, &tag, 8);
		if (slot[k].p) {  /* the old buffer goes only after the new one exists */
			unsigned char *q = slot[k].p;
			uint64_t a, b;
			memcpy(&a, q, 8);
			memcpy(&b, q + slot[k].n - 8, 8);
			if (a != slot[k].tag || b != slot[k].tag)
				die("large buffer's tag overwritten while live");
			for (size_t o = 4096; o + 8 < slot[k].n; o += 4096)
				if (q[o])
					die("large buffer not zero, or overwritten while live");
			sum += a + slot[k].n;
			free(q);
			tally_add(&t, -(int64_t)slot[k].n);
		}
		slot[k].p = p;
		slot[k].n = n;
		slot[k].tag = tag;
	}
	for (unsigned k = 0; k < LB_SLOTS; k++)
		if (slot[k].p) {
			sum += slot[k].n;
			free(slot[k].p);
		}
	return (struct result){ ops, sum, t.peak };
}

/* ---- threadlocal: each thread allocates and frees its own small blocks ---- */
/*
 * The pattern of glibc's malloc-thread benchmark: every thread keeps its own
 * array of TL_SLOTS blocks and replaces a random one, again and again; no block
 * ever crosses threads. Sizes 8 B to 32 KiB, 8 * 2^(12 u^2) for uniform u: median
 * 64 B, a quarter above 1 KiB, 9% above 8 KiB (drawn once into a table, so the
 * loop costs a lookup, not an exp2). Each block gets a tag at its head and its
 * last byte, checked before it is freed, and a write to each of its pages, as a
 * program touches its objects. The
 * work per thread is fixed, so with 2 threads on 2 cores a scalable allocator
 * does twice the work of 1 thread in the same wall time.
 */

#define TL_SLOTS 2000
#define TL_TABLE 4096

static uint32_t tl_sizes[TL_TABLE];
static uint64_t tl_ops;

struct tlslot { unsigned char *p; uint32_t n, tag; };

static inline void tl_mark(unsigned char *p, uint32_t n, uint32_t tag)
{
	memcpy(p, &tag, 4);
	for (uint32_t o = 4096; o < n; o += 4096)  /* every page, so peak RSS reflects the live bytes */
		p[o] = 0;
	p[n - 1] = (unsigned char)(tag >> 8);
}

static inline uint64_t tl_check(const unsigned char *p, uint32_t n, uint32_t tag)
{
	uint32_t t;
	memcpy(&t, p, 4);
	if (t != tag || p[n - 1] != (unsigned char)(tag >> 8))
		die("block overwritten while live");
	return tag + n;
}

static void *tl_thread(void *arg)
{
	unsigned id = *(unsigned *)arg;
	struct tlslot *s = calloc(TL_SLOTS, sizeof *s);
	if (!s)
		die("out of memory");
	int64_t pend = TL_SLOTS * (int64_t)sizeof *s;
	rng r = rng_seed(11000 + id);
	uint64_t sum = 0;
	for (uint64_t i = 0; i < tl_ops; i++) {
		struct tlslot *x = &s[below(&r, TL_SLOTS)];
		if (x->p) {
			sum += tl_check(x->p, x->n, x->tag);
			free(x->p);
			pending_add(&pend, -(int64_t)x->n);
		}
		x->n = tl_sizes[below(&r, TL_TABLE)];
		x->tag = (uint32_t)next(&r);
		x->p = xmalloc(x->n);
		tl_mark(x->p, x->n, x->tag);
		pending_add(&pend, x->n);
	}
	for (unsigned k = 0; k < TL_SLOTS; k++)
		if (s[k].p) {
			sum += tl_check(s[k].p, s[k].n, s[k].tag);
			free(s[k].p);
		}
	free(s);
	shared_add(pend);
	atomic_fetch_add(&g_sum, sum);
	return NULL;
}

static struct result threadlocal(void)
{
	rng r = rng_seed(10);
	for (unsigned k = 0; k < TL_TABLE; k++) {
		double u = unit(&r);
		tl_sizes[k] = (uint32_t)(8.0 * exp2(12.0 * u * u));
	}
	tl_ops = scaled(8e6, 20000);
	unsigned ids[64];
	for (unsigned i = 0; i < nthreads; i++)
		ids[i] = i;
	run_threads(tl_thread, ids, sizeof ids[0]);
	return (struct result){ tl_ops * nthreads, atomic_load(&g_sum), atomic_load(&g_peak) };
}

/* ---- espresso: a two-level logic minimiser ------------------------------- */
/*
 * The allocation pattern of espresso (Berkeley's two-level logic minimiser, the
 * classic allocator benchmark since Grunwald & Zorn) comes from its data: a cube
 * is a bit vector, 2 bits per input variable (01: x = 0, 10: x = 1, 11: don't
 * care); a cover (a set of cubes, the sum of products) is a small header plus one
 * data block of capacity * cube words, grown by realloc as cubes are added. The
 * algorithms build and drop covers constantly: every recursion level of the
 * unate recursive paradigm allocates two cofactors and a merged result, sorting
 * allocates pointer arrays, counting allocates per-variable arrays, trying a
 * cube allocates a temporary cube.
 *
 * This model really minimises. For each function: random variable count (12-40,
 * so cubes of 1-3 words) and a hidden cover of 3-7 cubes of 2-5 literals; the
 * ON-set F splits each hidden cube over 0-3 more variables, dropping a quarter
 * of the pieces. Then espresso's three core steps, once each:
 *   complement  OFF-set R = not F, by Shannon expansion on the most binate
 *               variable, merging the two halves (identical cubes join),
 *               single-cube containment on results of up to 256 cubes;
 *   expand      each cube of F raises its literals one by one while it stays
 *               disjoint from R, then contained cubes go;
 *   irredundant a cube goes when the others cover it: the cofactor of the rest
 *               by it is a tautology (the same recursion).
 * Lifetimes are mixed as in the real program: the whole PLA (2 000 functions
 * at full size, each with its variables' names as small strings) is read first
 * and lives through the run; each ON-set is then replaced by its minimised cover
 * (made of new blocks, interleaved with everything else); each OFF-set lives on
 * for the next 64 functions, then is checked to be disjoint from its minimised
 * cover and freed; recursion temporaries die at once. Finally every cover is
 * written out (hashed with its names, in canonical order) and freed. The checksum
 * depends only on the algorithm, never on addresses.
 */

struct ecover { uint32_t magic, n, cap, ws; uint32_t *data; };
#define ECOVER_MAGIC 0xc0e55e55u
#define E_KEEP 64
#define E_SCC_MAX 256

static unsigned e_nv, e_ws;      /* variables, 32-bit words per cube */
static uint32_t e_last;          /* the valid bits of a cube's last word */
static tally e_t;

static void *e_alloc(size_t n)
{
	tally_add(&e_t, (int64_t)n);
	return xmalloc(n);
}

static void e_free(void *p, size_t n)
{
	tally_add(&e_t, -(int64_t)n);
	free(p);
}

#define ECUBE(F, i) ((F)->data + (size_t)(i) * e_ws)
#define E_CUBE_BYTES ((size_t)e_ws * sizeof(uint32_t))

static struct ecover *cov_new(uint32_t cap)
{
	struct ecover *F = e_alloc(sizeof *F);
	F->magic = ECOVER_MAGIC;
	F->n = 0;
	F->cap = cap ? cap : 1;
	F->ws = e_ws;
	F->data = e_alloc(F->cap * E_CUBE_BYTES);
	return F;
}

static void cov_free(struct ecover *F)
{
	if (F->magic != ECOVER_MAGIC || F->ws != e_ws || F->n > F->cap)
		die("cover header overwritten while live");
	F->magic = 0;
	e_free(F->data, F->cap * E_CUBE_BYTES);
	e_free(F, sizeof *F);
}

/* Append a cube (copied from c, or uninitialised if c is NULL); grows the data
 * block by half as espresso does. */
static uint32_t *cov_add(struct ecover *F, const uint32_t *c)
{
	if (F->n == F->cap) {
		uint32_t cap = F->cap + F->cap / 2 + 1;
		uint32_t *d = realloc(F->data, cap * E_CUBE_BYTES);
		if (!d)
			die("out of memory");
		tally_add(&e_t, (int64_t)((cap - F->cap) * E_CUBE_BYTES));
		F->data = d;
		F->cap = cap;
	}
	uint32_t *dst = ECUBE(F, F->n++);
	if (c)
		memcpy(dst, c, E_CUBE_BYTES);
	return dst;
}

static inline unsigned lit(const uint32_t *c, unsigned v)
{
	return (c[v >> 4] >> (2 * (v & 15))) & 3;
}

static inline void setlit(uint32_t *c, unsigned v, unsigned l)
{
	unsigned s = 2 * (v & 15);
	c[v >> 4] = (c[v >> 4] & ~(3u << s)) | (l << s);
}

static inline uint32_t e_mask(unsigned w)
{
	return w + 1 == e_ws ? e_last : 0xffffffffu;
}

static void e_universe(uint32_t *c)
{
	for (unsigned w = 0; w < e_ws; w++)
		c[w] = e_mask(w);
}

static int e_is_universe(const uint32_t *c)
{
	for (unsigned w = 0; w < e_ws; w++)
		if (c[w] != e_mask(w))
			return 0;
	return 1;
}

/* a & b has a variable with neither value: the cubes are disjoint */
static inline int e_disjoint(const uint32_t *a, const uint32_t *b)
{
	for (unsigned w = 0; w < e_ws; w++) {
		uint32_t x = (a[w] & b[w]) | ~e_mask(w);
		if (((x | (x >> 1)) & 0x55555555u) != 0x55555555u)
			return 1;
	}
	return 0;
}

static inline int e_contains(const uint32_t *big, const uint32_t *small)
{
	for (unsigned w = 0; w < e_ws; w++)
		if (small[w] & ~big[w])
			return 0;
	return 1;
}

static int e_cmp(const void *x, const void *y)
{
	const uint32_t *a = *(const uint32_t *const *)x, *b = *(const uint32_t *const *)y;
	for (unsigned w = 0; w < e_ws; w++)
		if (a[w] != b[w])
			return a[w] < b[w] ? -1 : 1;
	return 0;
}

/* The variable to split on: the most binate (appears in both polarities, in the
 * most cubes), else the most often specified; e_nv if every cube is universal. */
static unsigned e_split_var(const struct ecover *F, int *binate)
{
	uint32_t *cnt = e_alloc(2 * e_nv * sizeof *cnt);
	memset(cnt, 0, 2 * e_nv * sizeof *cnt);
	for (uint32_t i = 0; i < F->n; i++) {
		const uint32_t *c = ECUBE(F, i);
		for (unsigned v = 0; v < e_nv; v++) {
			unsigned l = lit(c, v);
			if (l == 1)
				cnt[2 * v]++;
			else if (l == 2)
				cnt[2 * v + 1]++;
		}
	}
	unsigned best = e_nv, bestb = e_nv;
	uint32_t score = 0, scoreb = 0;
	for (unsigned v = 0; v < e_nv; v++) {
		uint32_t s = cnt[2 * v] + cnt[2 * v + 1];
		if (s > score) {
			score = s;
			best = v;
		}
		if (cnt[2 * v] && cnt[2 * v + 1] && s > scoreb) {
			scoreb = s;
			bestb = v;
		}
	}
	e_free(cnt, 2 * e_nv * sizeof *cnt);
	*binate = bestb < e_nv;
	return *binate ? bestb : best;
}

/* Cofactor by the literal v = l (l: 1 for x = 0, 2 for x = 1). */
static struct ecover *e_cofactor_lit(const struct ecover *F, unsigned v, unsigned l)
{
	struct ecover *R = cov_new(F->n / 2 + 1);
	for (uint32_t i = 0; i < F->n; i++) {
		const uint32_t *c = ECUBE(F, i);
		if (lit(c, v) & l)
			setlit(cov_add(R, c), v, 3);
	}
	return R;
}

/* Cofactor by the cube p, leaving out cube `skip` (and cubes marked dead). */
static struct ecover *e_cofactor_cube(const struct ecover *F, const uint32_t *p, uint32_t skip,
				      const unsigned char *dead)
{
	struct ecover *R = cov_new(F->n);
	for (uint32_t i = 0; i < F->n; i++) {
		const uint32_t *c = ECUBE(F, i);
		if (i == skip || dead[i] || e_disjoint(c, p))
			continue;
		uint32_t *d = cov_add(R, c);
		for (unsigned w = 0; w < e_ws; w++)
			d[w] = (c[w] | ~p[w]) & e_mask(w);
	}
	return R;
}

/* Single-cube containment: a new cover without the cubes contained in another
 * (of equal cubes the first stays); F is freed. */
static struct ecover *e_scc(struct ecover *F)
{
	unsigned char *dead = e_alloc(F->n + 1);
	memset(dead, 0, F->n + 1);
	uint32_t alive = F->n;
	for (uint32_t i = 0; i < F->n; i++)
		for (uint32_t j = 0; j < F->n && !dead[i]; j++)
			if (j != i && !dead[j] && e_contains(ECUBE(F, j), ECUBE(F, i)) &&
			    (j < i || !e_contains(ECUBE(F, i), ECUBE(F, j)))) {
				dead[i] = 1;
				alive--;
			}
	struct ecover *R = cov_new(alive);
	for (uint32_t i = 0; i < F->n; i++)
		if (!dead[i])
			cov_add(R, ECUBE(F, i));
	e_free(dead, F->n + 1);
	cov_free(F);
	return R;
}

static struct ecover *e_complement(const struct ecover *F)
{
	struct ecover *R;
	if (F->n == 0) {
		R = cov_new(1);
		e_universe(cov_add(R, NULL));
		return R;
	}
	for (uint32_t i = 0; i < F->n; i++)
		if (e_is_universe(ECUBE(F, i)))
			return cov_new(1);
	if (F->n == 1) {  /* De Morgan */
		const uint32_t *c = ECUBE(F, 0);
		R = cov_new(4);
		for (unsigned v = 0; v < e_nv; v++)
			if (lit(c, v) != 3) {
				uint32_t *d = cov_add(R, NULL);
				e_universe(d);
				setlit(d, v, 3 ^ lit(c, v));
			}
		return R;
	}
	int binate;
	unsigned v = e_split_var(F, &binate);
	struct ecover *half[2];
	for (unsigned h = 0; h < 2; h++) {
		struct ecover *cf = e_cofactor_lit(F, v, h + 1);
		half[h] = e_complement(cf);
		cov_free(cf);
	}
	/* merge: sort both halves; a cube in both loses the split literal */
	const uint32_t **s[2];
	for (unsigned h = 0; h < 2; h++) {
		s[h] = e_alloc((half[h]->n + 1) * sizeof *s[h]);
		for (uint32_t i = 0; i < half[h]->n; i++)
			s[h][i] = ECUBE(half[h], i);
		qsort(s[h], half[h]->n, sizeof *s[h], e_cmp);
	}
	R = cov_new(half[0]->n + half[1]->n);
	uint32_t i = 0, j = 0;
	while (i < half[0]->n || j < half[1]->n) {
		int c = i == half[0]->n ? 1 : j == half[1]->n ? -1 : e_cmp(&s[0][i], &s[1][j]);
		if (c == 0) {
			cov_add(R, s[0][i++]);
			j++;
		} else if (c < 0) {
			setlit(cov_add(R, s[0][i++]), v, 1);
		} else {
			setlit(cov_add(R, s[1][j++]), v, 2);
		}
	}
	for (unsigned h = 0; h < 2; h++) {
		e_free(s[h], (half[h]->n + 1) * sizeof *s[h]);
		cov_free(half[h]);
	}
	return R->n <= E_SCC_MAX ? e_scc(R) : R;
}

static int e_tautology(const struct ecover *F)
{
	for (uint32_t i = 0; i < F->n; i++)
		if (e_is_universe(ECUBE(F, i)))
			return 1;
	if (F->n == 0)
		return 0;
	int binate;
	unsigned v = e_split_var(F, &binate);
	if (!binate)  /* a unate cover is a tautology only if it holds the universe */
		return 0;
	for (unsigned h = 0; h < 2; h++) {
		struct ecover *cf = e_cofactor_lit(F, v, h + 1);
		int t = e_tautology(cf);
		cov_free(cf);
		if (!t)
			return 0;
	}
	return 1;
}

static struct ecover *e_expand(const struct ecover *F, const struct ecover *R, unsigned start)
{
	struct ecover *E = cov_new(F->n);
	for (uint32_t i = 0; i < F->n; i++) {
		uint32_t *t = e_alloc(E_CUBE_BYTES);
		memcpy(t, ECUBE(F, i), E_CUBE_BYTES);
		for (unsigned k = 0; k < e_nv; k++) {
			unsigned v = (start + k) % e_nv, l = lit(t, v);
			if (l == 3)
				continue;
			setlit(t, v, 3);
			for (uint32_t j = 0; j < R->n; j++)
				if (!e_disjoint(t, ECUBE(R, j))) {
					setlit(t, v, l);
					break;
				}
		}
		cov_add(E, t);
		e_free(t, E_CUBE_BYTES);
	}
	return e_scc(E);
}

static struct ecover *e_irredundant(struct ecover *E)
{
	unsigned char *dead = e_alloc(E->n + 1);
	memset(dead, 0, E->n + 1);
	uint32_t alive = E->n;
	for (uint32_t i = 0; i < E->n; i++) {
		struct ecover *cf = e_cofactor_cube(E, ECUBE(E, i), i, dead);
		if (e_tautology(cf)) {
			dead[i] = 1;
			alive--;
		}
		cov_free(cf);
	}
	struct ecover *M = cov_new(alive);
	for (uint32_t i = 0; i < E->n; i++)
		if (!dead[i])
			cov_add(M, ECUBE(E, i));
	e_free(dead, E->n + 1);
	cov_free(E);
	return M;
}

static void e_set_vars(unsigned nv)
{
	e_nv = nv;
	e_ws = (nv + 15) / 16;
	e_last = nv % 16 ? (1u << (2 * (nv % 16))) - 1 : 0xffffffffu;
}

/* One output of the PLA: its variables' names, its ON-set (replaced by the
 * minimised cover) and, for a while, its OFF-set. */
struct efunc { struct ecover *F, *R; char **names; unsigned nv; };

/* Read one function: names, then the ON-set, a hidden cover's cubes each split
 * over a few more variables with a quarter of the pieces dropped. */
static void e_read(struct efunc *f, rng *r)
{
	f->nv = 12 + (unsigned)below(r, 29);
	e_set_vars(f->nv);
	f->names = e_alloc(e_nv * sizeof *f->names);
	for (unsigned v = 0; v < e_nv; v++) {
		char buf[32];
		int len = snprintf(buf, sizeof buf, "%s%u_%llu", below(r, 2) ? "in" : "sig", v,
				   (unsigned long long)below(r, 100000));
		f->names[v] = e_alloc((size_t)len + 1);
		memcpy(f->names[v], buf, (size_t)len + 1);
	}
	struct ecover *F = cov_new(8);
	unsigned g = 3 + (unsigned)below(r, 5);
	uint32_t *c = e_alloc(E_CUBE_BYTES);
	for (unsigned k = 0; k < g; k++) {
		e_universe(c);
		unsigned lits = 2 + (unsigned)below(r, 4), extra = (unsigned)below(r, 4);
		unsigned vars[9], nvars = 0;
		while (nvars < lits + extra) {
			unsigned v = (unsigned)below(r, e_nv), dup = 0;
			for (unsigned q = 0; q < nvars; q++)
				dup |= vars[q] == v;
			if (!dup)
				vars[nvars++] = v;
		}
		for (unsigned q = 0; q < lits; q++)
			setlit(c, vars[q], 1 + (unsigned)below(r, 2));
		for (unsigned m = 0; m < 1u << extra; m++) {
			if (extra && below(r, 4) == 0)
				continue;
			uint32_t *d = cov_add(F, c);
			for (unsigned q = 0; q < extra; q++)
				setlit(d, vars[lits + q], 1 + ((m >> q) & 1));
		}
	}
	e_free(c, E_CUBE_BYTES);
	f->F = F;
	f->R = NULL;
}

/* The minimised cover must be disjoint from the OFF-set: checked when the OFF-set
 * is dropped, E_KEEP functions later. */
static void e_retire(struct efunc *f)
{
	e_set_vars(f->nv);
	for (uint32_t i = 0; i < f->F->n; i++)
		for (uint32_t j = 0; j < f->R->n; j++)
			if (!e_disjoint(ECUBE(f->F, i), ECUBE(f->R, j)))
				die("minimised cover meets its OFF-set: a cover was corrupted");
	cov_free(f->R);
	f->R = NULL;
}

static struct result espresso(void)
{
	rng r = rng_seed(12);
	uint64_t funcs = scaled(2000, 12), sum = 0, ops = 0;
	/* read the whole PLA: the long-lived core */
	struct efunc *fs = e_alloc(funcs * sizeof *fs);
	for (uint64_t fn = 0; fn < funcs; fn++)
		e_read(&fs[fn], &r);
	/* minimise each output in turn */
	for (uint64_t fn = 0; fn < funcs; fn++) {
		struct efunc *f = &fs[fn];
		e_set_vars(f->nv);
		struct ecover *F = f->F, *R = e_complement(F);
		struct ecover *M = e_irredundant(e_expand(F, R, (unsigned)below(&r, e_nv)));
		ops += F->n + R->n + M->n;
		sum += (uint64_t)F->n << 32 | R->n;
		cov_free(F);
		f->F = M;
		f->R = R;
		if (fn >= E_KEEP)
			e_retire(&fs[fn - E_KEEP]);
	}
	/* write the result: each cover in canonical order, with its names */
	for (uint64_t fn = 0; fn < funcs; fn++) {
		struct efunc *f = &fs[fn];
		if (f->R)
			e_retire(f);
		e_set_vars(f->nv);
		struct ecover *M = f->F;
		const uint32_t **s = e_alloc((M->n + 1) * sizeof *s);
		for (uint32_t i = 0; i < M->n; i++)
			s[i] = ECUBE(M, i);
		qsort(s, M->n, sizeof *s, e_cmp);
		uint64_t h = 1469598103934665603ull;
		for (uint32_t i = 0; i < M->n; i++)
			for (unsigned v = 0; v < e_nv; v++)
				if (lit(s[i], v) != 3)
					for (const char *q = f->names[v]; *q; q++)
						h = (h ^ (unsigned char)*q ^ lit(s[i], v) << 8) * 1099511628211ull;
		e_free(s, (M->n + 1) * sizeof *s);
		sum += h ^ ((uint64_t)M->n << 48);
		for (unsigned v = 0; v < e_nv; v++)
			e_free(f->names[v], strlen(f->names[v]) + 1);
		e_free(f->names, e_nv * sizeof *f->names);
		cov_free(M);
	}
	e_free(fs, funcs * sizeof *fs);
	return (struct result){ ops, sum, e_t.peak };
}

/* ---- sweep: cost of malloc/free with N threads alive, one working -------- */
/*
 * N - 1 idle threads each allocate and free one block (so every allocator has
 * registered them: a thread cache, an arena), then block on a condition variable
 * until the end; the main thread then times four loops, each replacing a random
 * slot's block by a new one: small blocks (256 slots, 16-256 bytes); 8 KiB blocks
 * (16 slots; above the thread caches of glibc and liballoc, so a locked path
 * there); a mix (one op in 8 of 8 KiB, the rest small); and bursts (512 blocks of
 * 8 KiB allocated, then all freed: the heap grows and may shrink). Each prints
 * ns per malloc+free pair (ns_small, ns_8k, ns_mix, ns_burst: the fastest of 5
 * equal parts of the loop, see SW_PARTS); the runner
 * divides the cost at N threads by the cost at 1. A cost that grows with the
 * number of threads (a list of threads walked on some path) shows up here.
 */

#define SW_SMALL 256
#define SWEEP_MAX_THREADS 4096
#define SW_BIG 16

static pthread_mutex_t sw_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sw_ready_cv = PTHREAD_COND_INITIALIZER, sw_done_cv = PTHREAD_COND_INITIALIZER;
static unsigned sw_ready, sw_idle_n;
static int sw_done;
static char g_extra[256];  /* workload-specific key=value pairs for the result line */

static void *sw_idle(void *arg)
{
	size_t n = 16 + (uintptr_t)arg % 241;
	unsigned char *p = xmalloc(n);
	fill(p, n, n);
	verify(p, n, n);
	free(p);
	pthread_mutex_lock(&sw_mu);
	if (++sw_ready == sw_idle_n)
		pthread_cond_signal(&sw_ready_cv);
	while (!sw_done)
		pthread_cond_wait(&sw_done_cv, &sw_mu);
	pthread_mutex_unlock(&sw_mu);
	return NULL;
}

struct swslot { unsigned char *p; uint32_t n; uint32_t tag; };

static inline uint64_t sw_replace(struct swslot *x, uint32_t n, uint32_t tag)
{
	uint64_t sum = 0;
	if (x->p) {
		uint32_t t;
		memcpy(&t, x->p, 4);
		if (t != x->tag || x->p[x->n - 1] != (unsigned char)x->tag)
			die("block overwritten while live");
		sum = t + x->n;
		free(x->p);
	}
	x->p = NULL;
	if (n) {  /* 0: free only */
		x->p = xmalloc(n);
		x->n = n;
		x->tag = tag;
		memcpy(x->p, &tag, 4);
		x->p[n - 1] = (unsigned char)tag;
	}
	return sum;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Each loop runs in SW_PARTS equal parts, each timed; the cost is that of the
 * fastest part, so a preemption by another process on this shared machine does
 * not count, while a path that is slow every so often still falls in every part. */
#define SW_PARTS 5

/* kind 0: small, 1: 8 KiB, 2: mix; returns ns per op */
static double sw_loop(rng *r, struct swslot *small, struct swslot *big, int kind, uint64_t ops, uint64_t *sum)
{
	double best = 1e30;
	for (unsigned part = 0; part < SW_PARTS; part++) {
		double t0 = now_ns();
		for (uint64_t i = 0; i < ops / SW_PARTS; i++) {
			uint64_t x = next(r);
			uint32_t tag = (uint32_t)(x >> 32);
			if (kind == 1 || (kind == 2 && (x & 7) == 0))
				*sum += sw_replace(&big[(x >> 3) % SW_BIG], 8192, tag);
			else
				*sum += sw_replace(&small[(x >> 3) % SW_SMALL], 16 + (uint32_t)((x >> 11) % 241), tag);
		}
		double t = (now_ns() - t0) / (double)(ops / SW_PARTS);
		best = t < best ? t : best;
	}
	return best;
}

/* Bursts: SW_BURST blocks of 8 KiB (4 MiB) allocated, then all freed, so the heap
 * grows and (if the allocator gives memory back) shrinks; ns per malloc+free. */
#define SW_BURST 512
static double sw_bursts(rng *r, struct swslot *slots, uint64_t bursts, uint64_t *sum)
{
	double best = 1e30;
	for (unsigned part = 0; part < SW_PARTS; part++) {
		double t0 = now_ns();
		for (uint64_t b = 0; b < bursts / SW_PARTS; b++) {
			for (unsigned k = 0; k < SW_BURST; k++)
				*sum += sw_replace(&slots[k], 8192, (uint32_t)next(r));
			for (unsigned k = 0; k < SW_BURST; k++)
				*sum += sw_replace(&slots[k], 0, 0);
		}
		double t = (now_ns() - t0) / (double)(bursts / SW_PARTS * SW_BURST);
		best = t < best ? t : best;
	}
	return best;
}

static struct result sweep(void)
{
	sw_idle_n = nthreads - 1;
	pthread_t *th = xmalloc((sw_idle_n + 1) * sizeof *th);
	for (unsigned i = 0; i < sw_idle_n; i++)  /* default stacks, as a program's threads have */
		if (pthread_create(&th[i], NULL, sw_idle, (void *)(uintptr_t)i))
			die("pthread_create failed (too many threads?)");
	pthread_mutex_lock(&sw_mu);
	while (sw_ready < sw_idle_n)
		pthread_cond_wait(&sw_ready_cv, &sw_mu);
	pthread_mutex_unlock(&sw_mu);

	struct swslot small[SW_SMALL], big[SW_BIG];
	memset(small, 0, sizeof small);
	memset(big, 0, sizeof big);
	rng r = rng_seed(13);
	uint64_t sum = 0, n_small = scaled(4e6, 20000), n_big = scaled(4e5, 2000), n_mix = scaled(2e6, 10000);
	uint64_t n_bursts = scaled(200, 2 * SW_PARTS);
	sw_loop(&r, small, big, 2, n_mix / 4, &sum);  /* warm-up: fill the slots, settle the caches */
	double ns_small = sw_loop(&r, small, big, 0, n_small, &sum);
	double ns_big = sw_loop(&r, small, big, 1, n_big, &sum);
	double ns_mix = sw_loop(&r, small, big, 2, n_mix, &sum);
	struct swslot *burst = calloc(SW_BURST, sizeof *burst);
	if (!burst)
		die("out of memory");
	double ns_burst = sw_bursts(&r, burst, n_bursts, &sum);
	free(burst);
	for (unsigned k = 0; k < SW_SMALL; k++)
		if (small[k].p)
			free(small[k].p);
	for (unsigned k = 0; k < SW_BIG; k++)
		if (big[k].p)
			free(big[k].p);

	pthread_mutex_lock(&sw_mu);
	sw_done = 1;
	pthread_cond_broadcast(&sw_done_cv);
	pthread_mutex_unlock(&sw_mu);
	for (unsigned i = 0; i < sw_idle_n; i++)
		pthread_join(th[i], NULL);
	free(th);
	snprintf(g_extra, sizeof g_extra, " ns_small=%.2f ns_8k=%.2f ns_mix=%.2f ns_burst=%.2f", ns_small, ns_big,
		 ns_mix, ns_burst);
	int64_t live = SW_SMALL * 256 + SW_BIG * 8192 + SW_BURST * (8192 + (int64_t)sizeof *burst);
	return (struct result){ n_mix / 4 + n_small + n_big + n_mix + n_bursts * SW_BURST, sum, live };
}

/* ---- main ----------------------------------------------------------------- */

static const struct { const char *name; struct result (*fn)(void); } workloads[] = {
	{ "churn", churn }, { "larson", larson }, { "prodcons", prodcons }, { "realloc", realloc_builders },
	{ "powerlaw", powerlaw }, { "large", large }, { "falseshare", falseshare }, { "fragphase", fragphase },
	{ "largebuf", largebuf }, { "threadlocal", threadlocal }, { "espresso", espresso },
};

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: %s WORKLOAD [full|tiny|SCALE [THREADS]]\nworkloads:", argv[0]);
		for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++)
			fprintf(stderr, " %s", workloads[i].name);
		fprintf(stderr, "\nsweep: %s sweep [full|tiny|SCALE [THREADS]]  (1..%u threads alive, one working)\n",
			argv[0], SWEEP_MAX_THREADS);
		return 2;
	}
	if (argc > 2) {
		if (!strcmp(argv[2], "full"))
			scale = 1.0;
		else if (!strcmp(argv[2], "tiny"))
			scale = 0.002;
		else
			scale = strtod(argv[2], NULL);
		if (!(scale > 0 && scale <= 100)) {
			fprintf(stderr, "bad scale %s\n", argv[2]);
			return 2;
		}
	}
	int is_sweep = !strcmp(argv[1], "sweep");
	if (argc > 3) {
		char *end;
		unsigned long t = strtoul(argv[3], &end, 10);
		unsigned most = is_sweep ? SWEEP_MAX_THREADS : 64;
		if (*end || t < 1 || t > most) {
			fprintf(stderr, "threads must be 1..%u, not %s\n", most, argv[3]);
			return 2;
		}
		nthreads = (unsigned)t;
	}
	if (is_sweep) {
		wl_name = "sweep";
		struct result res = sweep();
		printf("workload=sweep scale=%g threads=%u ops=%llu checksum=%016llx peak_live=%lld vmhwm_kib=%ld%s\n",
		       scale, nthreads, (unsigned long long)res.ops, (unsigned long long)res.checksum,
		       (long long)res.peak_live, vmhwm_kib(), g_extra);
		return 0;
	}
	for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++) {
		if (strcmp(argv[1], workloads[i].name))
			continue;
		wl_name = workloads[i].name;
		struct result res = workloads[i].fn();
		printf("workload=%s scale=%g threads=%u ops=%llu checksum=%016llx peak_live=%lld vmhwm_kib=%ld\n",
		       wl_name, scale, nthreads, (unsigned long long)res.ops, (unsigned long long)res.checksum,
		       (long long)res.peak_live, vmhwm_kib());
		return 0;
	}
	fprintf(stderr, "unknown workload %s\n", argv[1]);
	return 2;
}
