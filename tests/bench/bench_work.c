/* bench_work.c — the allocator benchmark workloads, modelled on the classic allocator benchmarks; one per run. */
/* SPDX-License-Identifier: MIT */
/*
 * usage: bench_work WORKLOAD [SCALE [THREADS]]
 *   WORKLOAD  churn | larson | prodcons | realloc | powerlaw | large | falseshare | fragphase
 *   SCALE     full (1.0, about 0.5-3 s each on glibc), tiny (smoke test), or a number
 *   THREADS   threads of the multi-threaded workloads (default 4)
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

/* ---- main ----------------------------------------------------------------- */

static const struct { const char *name; struct result (*fn)(void); } workloads[] = {
	{ "churn", churn }, { "larson", larson }, { "prodcons", prodcons }, { "realloc", realloc_builders },
	{ "powerlaw", powerlaw }, { "large", large }, { "falseshare", falseshare }, { "fragphase", fragphase },
};

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: %s WORKLOAD [full|tiny|SCALE [THREADS]]\nworkloads:", argv[0]);
		for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++)
			fprintf(stderr, " %s", workloads[i].name);
		fprintf(stderr, "\n");
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
	if (argc > 3) {
		nthreads = (unsigned)strtoul(argv[3], NULL, 10);
		if (nthreads < 1 || nthreads > 64) {
			fprintf(stderr, "threads must be 1..64\n");
			return 2;
		}
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
