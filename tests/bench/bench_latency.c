/* bench_latency.c — cycles per malloc and per free over a steady-state mixed sequence: median, p99, p99.99, max, and the machine's cost of one cold line beside them. */
/* SPDX-License-Identifier: MIT */
/*
 * usage: bench_latency [OPS [PASSES]]   (defaults 10000000 and 7)
 *
 * Built twice from this file:
 *   bench_latency_core  liballoc's core linked in directly, on bench_port.c (page
 *                       runs from a pre-faulted pool, no system call; no-op lock);
 *                       the ticks spent inside the page hooks during an operation
 *                       are subtracted from it. Configured as a kernel port is
 *                       (no thread cache: every call takes the bounded TLSF
 *                       path).
 *   bench_latency_core_tc  the same, configured like the Linux port: thread cache
 *                       and a rising huge threshold (bench_config.h).
 *   bench_latency_sys   the process's malloc/free: glibc's, or whatever LD_PRELOAD
 *                       supplies (jemalloc, mimalloc, tcmalloc, liballoc.so). These
 *                       have no hooks to subtract: their figures are raw, page
 *                       faults and system calls included.
 *
 * The sequence: 16384 slots; each operation picks a slot at random and frees its
 * block if it holds one, else allocates a block of a size drawn from a mix like
 * real programs' (half of them 16-64 bytes, a tail up to 1 MiB). Occupancy settles
 * at one half, so mallocs and frees alternate irregularly in a steady state. A
 * warm-up of the same kind runs first, untimed.
 *
 * Noise. Each timed interval is lfence/rdtsc ... rdtscp/lfence; the cost of an
 * empty interval (the timer overhead) is measured, reported and subtracted. An
 * interrupt or preemption landing inside one operation, or cache lines another
 * program evicted just before it, would make the maximum a property of the
 * machine, not of the allocator; so the whole sequence runs PASSES times, each in
 * a fresh child forked before any allocation, and every operation's latency is its
 * minimum over the passes (the heap goes through the same states, touching the
 * same lines, in every pass). The single-pass maximum is reported beside it. On
 * the shared VM this project is developed on, 7 passes rather than 3 took a fifth
 * off the mean of the 100 slowest mallocs of one build (two alternating pairs of
 * runs: 1 354 and 1 193 cycles with 3 passes, 1 057 and 954 with 7).
 *
 * Resolution. Some timers advance in steps of many cycles (26 on that VM, whose
 * TSC moves in 10 ns steps): a sample is then only known to one step, and the
 * median of operations two or three steps long would be decided by which step
 * holds the 50th percent sample — the max/median ratio of one build jumped by half
 * between runs. The step is measured (the greatest common divisor of the gaps
 * between distinct empty-interval samples) and reported, and the medians (of the
 * operations and of the timer overhead) are interpolated within their step, as
 * for grouped data: each sample counts as spread evenly over one step centred on
 * its value. The other percentiles are far above one step and are sample values.
 *
 * Output: key=value lines, parsed by bench.py (medians and the overhead with one
 * decimal, the rest net of the overhead, rounded to whole units):
 *   latency impl=... ops=... passes=... mallocs=... frees=... checksum=... unit=cycles
 *           tsc_ghz=... timer_overhead=... resolution=... hooks=excluded|included hook_calls=...
 *           hook_ticks=...
 *   op=malloc median=... p99=... p9999=... max=... max_1pass=...
 *   op=free   ...
 *   op=coldline ...
 * checksum depends only on the op sequence, so it is the same for every malloc.
 *
 * The machine's floor (op=coldline). Every 64th operation is followed, outside
 * its own interval, by one timed load from a line of the heap nothing touched for
 * long: a random line inside a live block of 8-64 KiB (below every allocator's
 * huge or mmap threshold; the benchmark writes only a block's first and last
 * byte), chosen by a generator of its own, so the operation sequence and its
 * checksum do not change. It is reduced exactly as the operations are (same timer,
 * minimum over the passes, the same line at the same point of every pass): what
 * one such line costs on this machine, cache and TLB misses and in a VM the
 * host's nested page walk. A malloc that splits a big free block reads at least
 * that block's header, a line of this kind, and writes a few more; so where
 * coldline's max is near 20 x the malloc median, an allocator with in-band
 * boundary tags cannot meet max <= 20 x median there. For the core rows the heap
 * is the pre-written pool; for the raw rows a line may be in a page the program
 * never touched, its first read a page fault.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_timer.h"

#ifdef BENCH_CORE
#include "liballoc.h"
#define MALLOC liballoc_malloc
#define FREE liballoc_free
#ifdef BENCH_TCACHE
#define IMPL "liballoc-core-tc"
#else
#define IMPL "liballoc-core"
#endif
#define HOOK_TICKS() bench_hook_ticks
#define HOOKS "excluded"
#else
#define MALLOC malloc
#define FREE free
#define IMPL "malloc"
#define HOOK_TICKS() 0
#define HOOKS "included"
#endif

#define SLOTS 16384
#define COLD_EVERY 64  /* one cold-line sample per this many operations */

typedef struct { uint64_t s; } rng;

static inline uint64_t next(rng *r)  /* xorshift64* */
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ull;
}

static inline uint64_t below(rng *r, uint64_t n)
{
	return ((next(r) >> 32) * n) >> 32;
}

/* Request sizes, by count: 50% 16-64, 30% 65-256, 13% 257-1024, 5% 1-8 KiB,
 * 1.9% 8-64 KiB, 0.1% 64 KiB-1 MiB (past liballoc's and glibc's huge thresholds). */
static size_t mix_size(rng *r)
{
	uint64_t c = below(r, 1000);
	if (c < 500)
		return 16 + below(r, 49);
	if (c < 800)
		return 65 + below(r, 192);
	if (c < 930)
		return 257 + below(r, 768);
	if (c < 980)
		return 1025 + below(r, 7168);
	if (c < 999)
		return 8193 + below(r, 57344);
	return 65537 + below(r, 983040);
}

/* Shared between the passes (children) and the parent. */
struct shared {
	uint64_t mallocs, frees, checksum, hook_calls, hook_ticks;
	uint64_t max_1pass[3];
	int failed;
};

static void *map_shared(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED) {
		perror("bench_latency: mmap");
		exit(1);
	}
	return p;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* The median of n sorted samples taken with a timer of step `res`, interpolated
 * within the step that holds it (grouped data: each sample spread evenly over
 * [v - res/2, v + res/2)). */
static double step_median(const uint32_t *sorted, uint64_t n, uint32_t res)
{
	uint64_t m = n / 2, lo = m, hi = m;
	while (lo > 0 && sorted[lo - 1] == sorted[m])
		lo--;
	while (hi < n && sorted[hi] == sorted[m])
		hi++;
	return sorted[m] - res / 2.0 + ((double)n / 2 - (double)lo) / (double)(hi - lo) * res;
}

static uint32_t gcd(uint32_t a, uint32_t b)
{
	while (b) {
		uint32_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* n empty timed intervals: what every sample carries on top (their median, into
 * *ovh) and the timer's step (into *res: the gcd of the gaps between them, 1 if
 * they are all equal). */
static void timer_overhead(uint32_t *scratch, size_t n, double *ovh, uint32_t *res)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = tick_start();
		__asm__ volatile("" ::: "memory");
		uint64_t t1 = tick_stop();
		scratch[i] = (uint32_t)(t1 - t0);
	}
	qsort(scratch, n, sizeof *scratch, cmp_u32);
	uint32_t g = 0;
	for (size_t i = 1; i < n; i++)
		g = gcd(scratch[i] - scratch[i - 1], g);
	*res = g ? g : 1;
	*ovh = step_median(scratch, n, *res);
}

static double tsc_ghz(void)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	uint64_t t0 = tick_start();
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 20000000L);
	uint64_t t1 = tick_stop();
	return (double)(t1 - t0) / (double)((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec));
}

/* Keep the smaller of a pass's sample and the earlier passes' (the first pass
 * just stores it), and the pass's own maximum. */
static void keep(int k, uint32_t *at, uint64_t d, uint64_t *max)
{
	uint32_t v = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
	if (k == 0 || v < *at)
		*at = v;
	if (v > *max)
		*max = v;
}

/* One pass: warm-up, then `ops` timed operations. Malloc samples fill cyc[] from
 * the front, free samples from the back, so the layout is the same every pass;
 * the cold-line samples go to cold[]. */
static void pass(int k, uint64_t ops, uint32_t *cyc, uint32_t *cold, struct shared *sh)
{
	struct slot { unsigned char *p; size_t n; } *slot = mmap(NULL, SLOTS * sizeof *slot, PROT_READ | PROT_WRITE,
								 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (slot == MAP_FAILED)
		_exit(1);
	rng r = { 0x2545f4914f6cdd1dull }, rc = { 0x9e3779b97f4a7c15ull };
	uint64_t warm = ops / 10 > 4 * SLOTS ? ops / 10 : 4 * SLOTS;
	uint64_t im = 0, jf = ops, sum = 0, max[3] = { 0, 0, 0 };
	unsigned char cold_sink = 0;
	for (uint64_t i = 0; i < warm + ops; i++) {
		struct slot *s = &slot[below(&r, SLOTS)];
		int timed = i >= warm;
		uint64_t h0 = HOOK_TICKS(), t0, t1;
		if (s->p) {
			sum += s->p[0] + s->p[s->n - 1] * 3u + s->n;
			t0 = tick_start();
			FREE(s->p);
			t1 = tick_stop();
			s->p = NULL;
		} else {
			s->n = mix_size(&r);
			t0 = tick_start();
			s->p = MALLOC(s->n);
			t1 = tick_stop();
			if (!s->p) {
				fprintf(stderr, "bench_latency: malloc(%zu) failed\n", s->n);
				_exit(1);
			}
			s->p[0] = (unsigned char)i;  /* first use of the block, outside the timing */
			s->p[s->n - 1] = (unsigned char)(i >> 8);
			sum += (unsigned char)i;
		}
		if (!timed)
			continue;
		int isfree = s->p == NULL;
		keep(k, isfree ? &cyc[--jf] : &cyc[im++], t1 - t0 - (HOOK_TICKS() - h0), &max[isfree]);
		if ((i - warm) % COLD_EVERY == 0) {
			struct slot *c;
			unsigned tries = 0;
			do
				if (++tries > 1u << 20) {  /* ~150 such blocks are live: never in practice */
					fprintf(stderr, "bench_latency: no live block of 8-64 KiB\n");
					_exit(1);
				}
			while (!(c = &slot[below(&rc, SLOTS)])->p || c->n < 8192 || c->n > 65536);
			volatile unsigned char *line = c->p + 64 + below(&rc, c->n / 64 - 2) * 64;
			t0 = tick_start();
			cold_sink ^= *line;
			t1 = tick_stop();
			keep(k, &cold[(i - warm) / COLD_EVERY], t1 - t0, &max[2]);
		}
	}
	__asm__ volatile("" ::"r"(cold_sink));
	for (unsigned i = 0; i < SLOTS; i++)
		FREE(slot[i].p);
#ifdef BENCH_CORE
	int bad = liballoc_check();
	if (bad) {
		fprintf(stderr, "bench_latency: liballoc_check: %s\n", liballoc_strerror(bad));
		_exit(3);
	}
	sh->hook_calls = bench_hook_calls;
	sh->hook_ticks = bench_hook_ticks;
#endif
	if (jf != im) {
		fprintf(stderr, "bench_latency: sample layout broken\n");
		_exit(1);
	}
	if (k == 0) {
		sh->mallocs = im;
		sh->frees = ops - im;
		sh->checksum = sum;
	} else if (sh->mallocs != im || sh->checksum != sum) {
		fprintf(stderr, "bench_latency: pass %d took a different sequence\n", k);
		_exit(1);
	}
	for (int j = 0; j < 3; j++)
		if (max[j] > sh->max_1pass[j])
			sh->max_1pass[j] = max[j];
	_exit(0);
}

/* A sample net of the timer overhead, rounded to a whole unit. */
static unsigned long long net(uint32_t v, double ovh)
{
	return v > ovh ? (unsigned long long)(v - ovh + 0.5) : 0;
}

/* Nearest rank: the smallest sample with at least a fraction p of all at or below it. */
static uint32_t rank(const uint32_t *sorted, uint64_t n, double p)
{
	uint64_t i = (uint64_t)(p * (double)n + 0.999999);
	return sorted[i == 0 ? 0 : i > n ? n - 1 : i - 1];
}

static void report(const char *op, uint32_t *v, uint64_t n, double ovh, uint32_t res, uint64_t max_1pass)
{
	if (n == 0) {
		printf("op=%s n=0\n", op);
		return;
	}
	qsort(v, n, sizeof *v, cmp_u32);
	double med = step_median(v, n, res) - ovh;
	printf("op=%s n=%llu median=%.1f p99=%llu p9999=%llu max=%llu max_1pass=%llu\n", op, (unsigned long long)n,
	       med > 0 ? med : 0.0, net(rank(v, n, 0.99), ovh), net(rank(v, n, 0.9999), ovh), net(v[n - 1], ovh),
	       net(max_1pass > UINT32_MAX ? UINT32_MAX : (uint32_t)max_1pass, ovh));
}

int main(int argc, char **argv)
{
	uint64_t ops = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
	int passes = argc > 2 ? atoi(argv[2]) : 7;
	if (argc > 3 || ops < 1000 || passes < 1 || passes > 100) {
		fprintf(stderr, "usage: %s [OPS >= 1000 [PASSES 1..100]]\n", argv[0]);
		return 2;
	}
	/* Everything the benchmark itself needs comes from mmap, never from the malloc
	 * being measured, and is faulted in before the first pass. */
	uint32_t *cyc = map_shared(ops * sizeof *cyc);
	uint64_t ncold = (ops + COLD_EVERY - 1) / COLD_EVERY;
	uint32_t *cold = map_shared(ncold * sizeof *cold);
	struct shared *sh = map_shared(sizeof *sh);
	double ovh;
	uint32_t res;
	timer_overhead(cyc, ops < 1000000 ? ops : 1000000, &ovh, &res);
	double ghz = tsc_ghz();
	for (int k = 0; k < passes; k++) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0) {
			perror("bench_latency: fork");
			return 1;
		}
		if (pid == 0)
			pass(k, ops, cyc, cold, sh);
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "bench_latency: pass %d failed (status %#x)\n", k, st);
			return WIFEXITED(st) && WEXITSTATUS(st) ? WEXITSTATUS(st) : 1;
		}
	}
	printf("latency impl=%s ops=%llu passes=%d mallocs=%llu frees=%llu checksum=%016llx unit=%s tsc_ghz=%.3f "
	       "timer_overhead=%.1f resolution=%u hooks=%s hook_calls=%llu hook_ticks=%llu\n",
	       IMPL, (unsigned long long)ops, passes, (unsigned long long)sh->mallocs, (unsigned long long)sh->frees,
	       (unsigned long long)sh->checksum, BENCH_TICK_UNIT, ghz, ovh, res, HOOKS,
	       (unsigned long long)sh->hook_calls, (unsigned long long)sh->hook_ticks);
	report("malloc", cyc, sh->mallocs, ovh, res, sh->max_1pass[0]);
	report("free", cyc + sh->mallocs, sh->frees, ovh, res, sh->max_1pass[1]);
	report("coldline", cold, ncold, ovh, res, sh->max_1pass[2]);
	return 0;
}
