/* selftest.c — the freestanding allocator self-test shared by the QEMU examples (see selftest.h). */
/* SPDX-License-Identifier: MIT */
#include "selftest.h"

#include "liballoc.h"
#include "pattern.h"

#define MALLOC LIBALLOC_PREFIX(malloc)
#define FREE LIBALLOC_PREFIX(free)
#define CALLOC LIBALLOC_PREFIX(calloc)
#define REALLOC LIBALLOC_PREFIX(realloc)
#define MEMALIGN LIBALLOC_PREFIX(memalign)
#define ALIGNED_ALLOC LIBALLOC_PREFIX(aligned_alloc)
#define POSIX_MEMALIGN LIBALLOC_PREFIX(posix_memalign)
#define USABLE LIBALLOC_PREFIX(malloc_usable_size)

#define SLOTS 256
#define MAX_BLOCKS 8192

static const struct selftest_env *env;
static unsigned long checks;
static const char *failure;
static uint64_t rng;

/* ---- console -------------------------------------------------------------- */

static void say(const char *s) { env->write(s); }

static void say_num(unsigned long long v)
{
	char buf[24];
	int i = (int)sizeof buf - 1;
	buf[i] = 0;
	do
		buf[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	say(buf + i);
}

static void say_kv(const char *k, size_t v)
{
	say(" ");
	say(k);
	say("=");
	say_num(v);
}

/* Record a check; the first failure wins. */
static bool check(bool ok, const char *what)
{
	checks++;
	if (!ok && !failure)
		failure = what;
	return ok;
}

static uint64_t next(void) { return pattern_next(&rng); }
static size_t below(size_t n) { return pattern_below(&rng, n); }

/* ---- patterns ------------------------------------------------------------- */

struct slot {
	unsigned char *p;
	size_t size;
	unsigned char seed;
};

static void fill(struct slot *s) { pattern_fill(s->p, s->size, s->seed); }
static bool intact(const struct slot *s, size_t n) { return pattern_check(s->p, n, s->seed) == n; }

/* A heap over the page hooks (else one region: liballoc_init_region). */
static bool paged(void) { return env->port_pages != 0; }

static bool heap_ok(const char *what)
{
	struct liballoc_stats st;
	liballoc_stats(&st);
	return check(liballoc_check() == LIBALLOC_OK, what) &&
	       (!paged() || check(st.obtained == env->port_pages() * LIBALLOC_PAGE_SIZE, "stats.obtained == port pages"));
}

/* ---- phase 1: randomized operations -------------------------------------- */

static size_t random_size(size_t big)
{
	unsigned r = (unsigned)below(100);
	return r < 70 ? below(200) : r < 95 ? below(big / 16 + 1) : below(big + 1);
}

static void randomized(void)
{
	static struct slot slot[SLOTS];
	size_t big = env->heap_bytes / 64;
	for (unsigned op = 0; op < env->ops && !failure; op++) {
		struct slot *s = &slot[below(SLOTS)];
		unsigned kind = (unsigned)below(10);
		if (s->p && kind < 4) {
			check(intact(s, s->size), "pattern intact before free");
			FREE(s->p);
			s->p = 0;
		} else if (s->p && kind < 7) {
			size_t n = random_size(big) + 1, keep = n < s->size ? n : s->size;
			unsigned char *q = REALLOC(s->p, n);
			if (check(q != 0, "realloc") && check(((uintptr_t)q & 15) == 0, "realloc alignment")) {
				s->p = q;
				check(intact(s, keep), "realloc keeps content");
				s->size = n;
				fill(s);
			}
		} else if (!s->p) {
			size_t n = random_size(big), align = 16;
			void *p = 0;
			switch (kind) {
			case 0: case 1: case 2: case 3:
				p = MALLOC(n);
				break;
			case 4: case 5:
				p = CALLOC(1, n);
				for (size_t i = 0; p && i < n; i++)
					if (((unsigned char *)p)[i] && !check(false, "calloc returns zeroed memory"))
						break;
				break;
			case 6: case 7:
				align = (size_t)1 << (4 + below(9));
				p = MEMALIGN(align, n);
				break;
			case 8:
				align = (size_t)1 << (3 + below(10));
				if (POSIX_MEMALIGN(&p, align, n) != 0)
					p = 0;
				break;
			default:
				align = (size_t)1 << (4 + below(8));
				p = ALIGNED_ALLOC(align, n);
				break;
			}
			if (check(p != 0, "allocation") && check(((uintptr_t)p & (align - 1)) == 0, "alignment") &&
			    check(USABLE(p) >= n, "usable size")) {
				s->p = p;
				s->size = n;
				s->seed = (unsigned char)next();
				fill(s);
			}
		}
		if (op % 8 == 0)
			heap_ok("liballoc_check during randomized phase");
	}
	for (unsigned i = 0; i < SLOTS; i++)
		if (slot[i].p) {
			check(intact(&slot[i], slot[i].size), "pattern intact at the end");
			FREE(slot[i].p);
			slot[i].p = 0;
		}
	heap_ok("liballoc_check after randomized phase");
}

/* ---- phase 2: exhaustion and recovery ------------------------------------ */

/* Allocate until the port runs dry; returns how many blocks were live. */
static size_t exhaust(struct slot *b, size_t unit)
{
	size_t n = 0;
	while (n < MAX_BLOCKS) {
		size_t size = unit / 2 + below(unit) + (n % 7 == 0 ? unit * 8 : 0);
		b[n].p = MALLOC(size);
		if (!b[n].p)
			break;
		b[n].size = size;
		b[n].seed = (unsigned char)n;
		fill(&b[n]);
		n++;
	}
	return n;
}

static void exhaustion(void)
{
	static struct slot b[MAX_BLOCKS];
	size_t unit = env->heap_bytes / 2048 + 16;
	struct liballoc_stats st;
	liballoc_trim();
	liballoc_stats(&st);
	size_t before = paged() ? env->port_pages() : 0, failed = st.failed_allocs;
	size_t first = exhaust(b, unit);
	check(first > 16 && first < MAX_BLOCKS, "exhaustion ends in NULL");
	liballoc_stats(&st);
	if (LIBALLOC_STATS)
		check(st.failed_allocs > failed, "the failed allocation is counted");
	heap_ok("liballoc_check at exhaustion");
	for (size_t i = 0; i < first; i++) {
		check(intact(&b[i], b[i].size), "pattern intact at exhaustion");
		FREE(b[i].p);
	}
	liballoc_trim();
	liballoc_stats(&st);
	check(st.in_use == 0 && st.live_blocks == 0, "nothing live after freeing everything");
	if (paged()) {
		check(st.obtained == st.metadata, "every chunk and huge run returned after trim");
		check(env->port_pages() * LIBALLOC_PAGE_SIZE == st.metadata, "the port got every page back (page map aside)");
		check(env->port_pages() <= before + st.metadata / LIBALLOC_PAGE_SIZE, "no pages lost");
	} else {
		check(st.free_bytes == st.obtained - 48, "the region is one free block again");
	}
	size_t second = exhaust(b, unit);
	check(second * 10 >= first * 9, "the heap recovers after exhaustion");
	for (size_t i = 0; i < second; i++) {
		check(intact(&b[i], b[i].size), "pattern intact at second exhaustion");
		FREE(b[i].p);
	}
	liballoc_trim();
	heap_ok("liballoc_check after recovery");
}

/* ---- phase 3: trim returns (and unmaps) pages ----------------------------- */

static void trimming(void)
{
	liballoc_trim();
	size_t base = env->port_pages();
	/* Two chunk-sized blocks (below the huge threshold), freed: one chunk is kept
	 * as hysteresis until trim. */
	unsigned char *a = MALLOC(LIBALLOC_HUGE_THRESHOLD / 2), *c = MALLOC(LIBALLOC_HUGE_THRESHOLD / 2);
	if (!check(a && c, "allocation for the trim test"))
		return;
	a[0] = c[0] = 1;
	check(env->port_pages() > base, "chunks come from the port");
	FREE(a);
	FREE(c);
	size_t returned = liballoc_trim();
	check(returned > 0, "trim returns the kept chunk");
	check(env->port_pages() == base, "trim gave every chunk page back");
	if (env->touch_faults)
		check(env->touch_faults(a), "a trimmed page is unmapped (touching it faults)");
	/* A huge block goes straight back on free. */
	unsigned char *h = MALLOC(LIBALLOC_HUGE_THRESHOLD * 2);
	if (check(h != 0, "huge allocation")) {
		h[0] = 1;
		FREE(h);
		check(env->port_pages() == base, "a huge block's pages go back on free");
		if (env->touch_faults)
			check(env->touch_faults(h), "a freed huge block is unmapped");
	}
	heap_ok("liballoc_check after trim");
}

/* ---- report --------------------------------------------------------------- */

static void print_stats(void)
{
	struct liballoc_stats s;
	liballoc_stats(&s);
	say("liballoc stats:");
	say_kv("in_use_peak", s.in_use_peak);
	say_kv("obtained_peak", s.obtained_peak);
	say_kv("allocs", s.allocs);
	say_kv("frees", s.frees);
	say_kv("failed", s.failed_allocs);
	say_kv("errors", s.errors);
	say_kv("alloc_page", s.alloc_page_calls);
	say_kv("free_page", s.free_page_calls);
	say_kv("lock", s.lock_calls);
	say("\n");
}

bool selftest_run(const struct selftest_env *e)
{
	env = e;
	rng = e->seed ? e->seed : 0x2545f4914f6cdd1dull;
	checks = 0;
	failure = 0;
	say("liballoc-selftest: randomized phase\n");
	randomized();
	if (!failure) {
		say("liballoc-selftest: exhaustion phase\n");
		exhaustion();
	}
	if (!failure && paged()) {  /* a region heap gives nothing back */
		say("liballoc-selftest: trim phase\n");
		trimming();
	}
	struct liballoc_stats s;
	liballoc_stats(&s);
	check(s.errors == 0, "no misuse reported");
	print_stats();
	if (failure) {
		say("liballoc-selftest: FAIL ");
		say(failure);
		say("\n");
		return false;
	}
	say("liballoc-selftest: PASS ");
	say_num(checks);
	say(" checks\n");
	return true;
}
