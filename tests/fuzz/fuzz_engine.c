/* fuzz_engine.c — decodes fuzz input into allocator operations on a fresh heap and checks a shadow model after each. */
/* SPDX-License-Identifier: MIT */
/*
 * Input format: a stream of operations, each an opcode byte (taken modulo the
 * number of operations the mode allows) followed by the bytes its arguments
 * consume; reading past the end yields zeros, so every input is valid.
 *
 * The model: SLOTS live blocks with their requested size, alignment and a fill
 * pattern; the pointers freed so far (stale); the number of misuse reports
 * expected. After every operation: liballoc_check() passes, the counters match the
 * model and the port (bytes in use, live blocks, bytes obtained == pages the port
 * handed out, hook call and failure counts), no report was made that the
 * operation did not expect, and the lock was never nested. At the end every block
 * is freed (pattern-checked), and after trim only the page map is left.
 */
#include "fuzz_engine.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_port.h"

#define PAGE ((size_t)LIBALLOC_PAGE_SIZE)
#define THRESHOLD ((size_t)LIBALLOC_HUGE_THRESHOLD)
#define SLOTS 24
#define STALE 16
#define BIT(e) (1u << (e))
/* What a wrong pointer may be classified as when the model cannot tell more. */
#define ANY_MISUSE \
	(BIT(LIBALLOC_E_FOREIGN_POINTER) | BIT(LIBALLOC_E_INTERIOR_POINTER) | BIT(LIBALLOC_E_DOUBLE_FREE) | BIT(LIBALLOC_E_REALLOC_FREED))

struct slot {
	unsigned char *p;  /* NULL: empty */
	size_t n;          /* bytes requested (what in_use counts) */
	size_t len;        /* bytes carrying the pattern (n, or the usable size) */
	size_t align;
	uint8_t seed;
};

static struct slot slot[SLOTS];
static void *stale[STALE];
static size_t stale_next, model_bytes, model_live, reports, refused0, op_no;
static bool trace;  /* FUZZ_TRACE=1: print every operation (for replaying a crash) */
static const uint8_t *in;
static size_t in_len, in_pos;

static void die(int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "fuzz_engine.c:%d: operation %zu (input byte %zu): ", line, op_no, in_pos);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}
#define CHECKF(c, ...) ((c) ? (void)0 : die(__LINE__, __VA_ARGS__))
#define CHECK(c) CHECKF(c, "%s", #c)

/* ---- input ------------------------------------------------------------ */

/* Each read is its own statement: the order of two calls in one expression is
 * unspecified, and gcc and clang differ, which would make replays decode another
 * input than the fuzzer ran. */
static uint8_t u8(void) { return in_pos < in_len ? in[in_pos++] : 0; }

static uint16_t u16(void)
{
	uint16_t lo = u8();
	return (uint16_t)(lo | u8() << 8);
}

static uint32_t u32(void)
{
	uint32_t lo = u16();
	return lo | (uint32_t)u16() << 16;
}

/* Mostly small, some up to chunk size, some huge, and the edges that matter. */
static size_t rd_size(void)
{
	static const size_t edge[] = {
		0, 1, 15, 16, 17, 31, 32, 33, 48, PAGE - 48, PAGE - 32, PAGE - 16, PAGE, PAGE + 1,
		THRESHOLD / 4, THRESHOLD - 48, THRESHOLD - 33, THRESHOLD - 32, THRESHOLD - 17, THRESHOLD - 16,
		THRESHOLD, THRESHOLD + 1, FUZZ_ARENA_BYTES / 2, FUZZ_ARENA_BYTES, SIZE_MAX, SIZE_MAX - 15,
		(size_t)PTRDIFF_MAX, (size_t)PTRDIFF_MAX + 1, (size_t)PTRDIFF_MAX - PAGE,
	};
	uint8_t k = u8();
	switch (k % 8) {
	case 0: case 1: case 2:
		return u8();
	case 3: case 4:
		return u16() % 4097;
	case 5:
		return u32() % (2 * THRESHOLD + 1);
	case 6:
		return u32() % (FUZZ_ARENA_BYTES / 8);
	default:
		return edge[u8() % (sizeof edge / sizeof edge[0])];
	}
}

/* ---- model ------------------------------------------------------------ */

/* Block contents: a pseudo-random byte sequence of prime period, from an offset
 * given by the seed, copied and compared with memcpy/memcmp (fast under ASan). */
#define PERIOD 4093
static uint8_t pattern[2 * PERIOD];

static void pattern_init(void)
{
	uint32_t x = 0x9e3779b9u;
	for (size_t i = 0; i < PERIOD; i++) {
		x = x * 1103515245u + 12345u;
		pattern[i] = pattern[i + PERIOD] = (uint8_t)(x >> 23);
	}
}

static size_t pat_at(const struct slot *s, size_t i) { return ((size_t)s->seed * 16 + i) % PERIOD; }

static void verify(const struct slot *s, size_t n)
{
	for (size_t i = 0; i < n; i += PERIOD) {
		size_t k = n - i < PERIOD ? n - i : PERIOD;
		if (memcmp(s->p + i, pattern + pat_at(s, i), k) != 0)
			for (size_t j = i; j < i + k; j++)
				CHECKF(s->p[j] == pattern[pat_at(s, j)], "block %p (%zu bytes) byte %zu corrupted",
				       (void *)s->p, s->n, j);
	}
}

static void fill(struct slot *s)
{
	for (size_t i = 0; i < s->len; i += PERIOD)
		memcpy(s->p + i, pattern + pat_at(s, i), s->len - i < PERIOD ? s->len - i : PERIOD);
}

static size_t extent(const struct slot *s) { return s->len ? s->len : 1; }

/* Index of the live block whose header or payload holds address a, or -1. */
static int live_at(uintptr_t a)
{
	for (int i = 0; i < SLOTS; i++)
		if (slot[i].p && a + 16 >= (uintptr_t)slot[i].p && a < (uintptr_t)slot[i].p + extent(&slot[i]))
			return i;
	return -1;
}

/* Record a fresh block: aligned, truthful usable size, overlapping nothing live. */
static void install(struct slot *s, void *p, size_t n, size_t align, bool zero)
{
	CHECK(s->p == NULL);
	CHECKF((uintptr_t)p % (align < 16 ? 16 : align) == 0, "%p not aligned to %zu", p, align);
	size_t u = liballoc_malloc_usable_size(p);
	CHECKF(u >= n && (!LIBALLOC_HARDENED || u == n), "usable size %zu for %zu bytes", u, n);
	for (int i = 0; i < SLOTS; i++)
		if (slot[i].p)
			CHECKF((uintptr_t)p + (n ? n : 1) <= (uintptr_t)slot[i].p ||
				       (uintptr_t)slot[i].p + extent(&slot[i]) <= (uintptr_t)p,
			       "new block %p (%zu) overlaps live %p (%zu)", p, n, (void *)slot[i].p, slot[i].len);
	static const uint8_t zeros[4096];
	for (size_t i = 0; zero && i < n; i += sizeof zeros)
		CHECKF(memcmp((unsigned char *)p + i, zeros, n - i < sizeof zeros ? n - i : sizeof zeros) == 0,
		       "calloc block %p not zero near byte %zu", p, i);
	s->p = p;
	s->n = s->len = n;
	s->align = align;
	s->seed = (uint8_t)(op_no * 37 + 11);
	fill(s);
	if (trace)
		fprintf(stderr, "  -> slot %d: %p, %zu bytes, align %zu\n", (int)(s - slot), p, n, align);
	model_bytes += n;
	model_live++;
}

static void forget(struct slot *s)
{
	stale[stale_next++ % STALE] = s->p;
	model_bytes -= s->n;
	model_live--;
	s->p = NULL;
}

static void drop(struct slot *s)
{
	verify(s, s->len);
	liballoc_free(s->p);
	forget(s);
}

/* ---- expectations ------------------------------------------------------- */

static void mark(void)
{
	refused0 = fp.alloc_refused;
	errno = 0;
}

/* A NULL result is legitimate only if the port refused pages during the call, or
 * the request could never fit the port's arena (the core may give up on those
 * without asking). */
static void null_ok(size_t n, size_t align, int err)
{
	CHECKF(fp.alloc_refused > refused0 || n >= FUZZ_ARENA_BYTES - align,
	       "NULL for %zu bytes (align %zu) though the port refused nothing", n, align);
	CHECKF(errno == err, "errno %d after a failed allocation, expected %d", errno, err);
}

static void invariants(void)
{
	struct liballoc_stats st;
	CHECK(fp.lock_depth == 0);
	CHECKF(fp.errors == reports, "unexpected report: %s at %p", liballoc_strerror(fp.last_error), fp.last_ptr);
	int e = liballoc_check();
	CHECKF(e == LIBALLOC_OK, "liballoc_check: %s", liballoc_strerror(e));
	liballoc_stats(&st);
	CHECKF(st.in_use == model_bytes, "in_use %zu, model %zu", st.in_use, model_bytes);
	CHECKF(st.live_blocks == model_live, "live %zu, model %zu", st.live_blocks, model_live);
	CHECKF(st.obtained == fp.pages_out * PAGE, "obtained %zu, port has %zu pages out", st.obtained, fp.pages_out);
	CHECK(st.alloc_page_calls == fp.alloc_calls && st.alloc_page_failures == fp.alloc_refused);
	CHECK(st.free_page_calls == fp.free_calls && st.free_page_failures == fp.free_refused);
	CHECK(st.errors == reports);
}

/* Misuse: the call must be reported exactly once, naming `ptr` with one of the
 * `allowed` codes, and leave the heap as it was. */
static struct liballoc_stats before;

static void misuse_begin(void)
{
	liballoc_stats(&before);
	CHECK(fp.errors == reports);
}

static void misuse_end(const void *ptr, unsigned allowed)
{
	struct liballoc_stats a;
	CHECKF(fp.errors == reports + 1, "%zu reports for a misuse of %p", fp.errors - reports, ptr);
	CHECKF(fp.last_ptr == ptr, "report names %p, misuse was %p", fp.last_ptr, ptr);
	CHECKF(allowed & BIT(fp.last_error), "misuse of %p reported as: %s", ptr, liballoc_strerror(fp.last_error));
	reports++;
	liballoc_stats(&a);
	CHECK(a.in_use == before.in_use && a.live_blocks == before.live_blocks && a.free_bytes == before.free_bytes);
	CHECK(a.obtained == before.obtained && a.chunks == before.chunks && a.huge_blocks == before.huge_blocks);
	CHECK(a.alloc_page_calls == before.alloc_page_calls && a.free_page_calls == before.free_page_calls);
}

/* free, realloc or malloc_usable_size of a bad pointer. */
static void misuse_call(void *x, unsigned how)
{
	switch (how % 4) {
	case 0:
		liballoc_free(x);
		break;
	case 1:
		errno = 0;
		CHECK(liballoc_realloc(x, 1 + u8()) == NULL);
		CHECK(errno == EINVAL);
		break;
	case 2:
		liballoc_free(liballoc_realloc(x, 0));  /* realloc(p, 0) is free(p) */
		break;
	default:
		CHECK(liballoc_malloc_usable_size(x) == 0);
		break;
	}
}

/* A wrong pointer x: inside a live block it must be called interior; anywhere
 * else any misuse code will do. Returns false if x is a live block's start. */
static bool expect_for(void *x, unsigned *allowed)
{
	int i = live_at((uintptr_t)x);
	if (i >= 0 && slot[i].p == x)
		return false;
	*allowed = i >= 0 ? BIT(LIBALLOC_E_INTERIOR_POINTER) : ANY_MISUSE;
	return true;
}

/* ---- operations ----------------------------------------------------------- */

enum op {
	OP_MALLOC, OP_CALLOC, OP_REALLOC, OP_REALLOCARRAY, OP_ALIGNED, OP_FREE, OP_TRIM, OP_FAIL_ALLOC, OP_USABLE,
	OP_VERIFY,
	/* hooks */
	OP_LIMIT, OP_PLACE, OP_FAIL_FREE, OP_FREE_MANY,
	/* misuse */
	OP_STALE, OP_INTERIOR, OP_FOREIGN, OP_SMASH, OP_OVERFLOW, OP_UAF,
};

static const uint8_t ops_basic[] = {
	OP_MALLOC, OP_MALLOC, OP_CALLOC, OP_REALLOC, OP_REALLOC, OP_REALLOCARRAY, OP_ALIGNED, OP_FREE, OP_FREE,
	OP_TRIM, OP_FAIL_ALLOC, OP_USABLE, OP_VERIFY,
};
static const uint8_t ops_hooks[] = {
	OP_MALLOC, OP_MALLOC, OP_CALLOC, OP_REALLOC, OP_ALIGNED, OP_FREE, OP_FREE, OP_TRIM, OP_FAIL_ALLOC,
	OP_LIMIT, OP_PLACE, OP_PLACE, OP_FAIL_FREE, OP_FAIL_FREE, OP_FREE_MANY,
};
static const uint8_t ops_misuse[] = {
	OP_MALLOC, OP_MALLOC, OP_CALLOC, OP_REALLOC, OP_ALIGNED, OP_FREE, OP_FREE, OP_TRIM, OP_FAIL_ALLOC,
	OP_STALE, OP_STALE, OP_INTERIOR, OP_FOREIGN, OP_SMASH, OP_OVERFLOW, OP_UAF, OP_UAF,
};

static void fail_arm(size_t *next, size_t *every)
{
	uint8_t k = u8();
	switch (k % 4) {
	case 0: *next = 1 + (k >> 2) % 4; break;
	case 1: *every = 1 + (k >> 2) % 8; break;
	case 2: *next = *every = 0; break;
	default: *next = 1; break;
	}
}

static void do_malloc(struct slot *s)
{
	size_t n = rd_size();
	if (s->p)
		drop(s);
	mark();
	void *p = liballoc_malloc(n);
	if (p)
		install(s, p, n, 16, false);
	else
		null_ok(n, 16, ENOMEM);
}

static void do_calloc(struct slot *s)
{
	size_t nmemb = (u8() & 0x80) ? (size_t)u32() << 16 : u8() % 9, size = rd_size(), n;
	if (s->p)
		drop(s);
	mark();
	void *p = liballoc_calloc(nmemb, size);
	if (__builtin_mul_overflow(nmemb, size, &n)) {
		CHECK(p == NULL && errno == ENOMEM);
	} else if (p) {
		install(s, p, n, 16, true);
	} else {
		null_ok(n, 16, ENOMEM);
	}
}

static void do_realloc(struct slot *s, bool array)
{
	size_t nmemb = array ? u8() % 5 : 1, size = rd_size(), n;
	bool overflow = __builtin_mul_overflow(nmemb, size, &n);
	mark();
	unsigned char *q = array ? liballoc_reallocarray(s->p, nmemb, size) : liballoc_realloc(s->p, n);
	if (overflow) {
		CHECK(q == NULL && errno == ENOMEM);
		if (s->p)
			verify(s, s->len);
		return;
	}
	if (!s->p) {  /* realloc(NULL, n) is malloc(n) */
		if (q)
			install(s, q, n, 16, false);
		else
			null_ok(n, 16, ENOMEM);
		return;
	}
	if (n == 0) {  /* realloc(p, 0) frees p (reallocarray too, being realloc(p, nmemb * size)) */
		CHECK(q == NULL);
		forget(s);
		return;
	}
	if (!q) {
		null_ok(n, 16, ENOMEM);
		verify(s, s->len);  /* the old block is intact */
		return;
	}
	size_t keep = s->len < n ? s->len : n;
	verify(&(struct slot){.p = q, .seed = s->seed, .n = n}, keep);
	if (q != s->p)
		stale[stale_next++ % STALE] = s->p;
	model_bytes -= s->n;
	model_live--;
	s->p = NULL;
	install(s, q, n, 16, false);
}

static void do_aligned(struct slot *s)
{
	uint8_t k = u8(), how = u8() % 5;
	size_t align = (k & 0x80) ? (size_t)(k & 0x7f) : (size_t)1 << (k % 24), n = rd_size();
	void *p = (void *)&p;
	if (s->p)
		drop(s);
	mark();
	switch (how) {
	case 0: {
		int e = liballoc_posix_memalign(&p, align, n);
		bool bad = align % sizeof(void *) || (align & (align - 1)) || !align;
		CHECK(errno == 0);  /* posix_memalign reports through its result only */
		if (bad) {
			CHECK(e == EINVAL && p == (void *)&p);
			return;
		}
		if (e) {
			CHECK(e == ENOMEM && p == (void *)&p);
			errno = ENOMEM;
			null_ok(n, align, ENOMEM);
			return;
		}
		break;
	}
	case 1:
		p = liballoc_aligned_alloc(align, n);
		if (!align || (align & (align - 1))) {
			CHECK(p == NULL && errno == EINVAL);
			return;
		}
		break;
	case 2:
		p = liballoc_memalign(align, n);
		{
			size_t a = 1;
			while (a < align)
				a <<= 1;
			align = a;
		}
		break;
	case 3:
		p = liballoc_valloc(n);
		align = PAGE;
		break;
	default:
		p = liballoc_pvalloc(n);
		align = PAGE;
		if (n > SIZE_MAX - PAGE) {
			CHECK(p == NULL && errno == ENOMEM);
			return;
		}
		n = n ? (n + PAGE - 1) & ~(PAGE - 1) : PAGE;
		break;
	}
	if (p)
		install(s, p, n, align, false);
	else
		null_ok(n, align, ENOMEM);
}

static void do_trim(void)
{
	struct liballoc_stats a, b;
	liballoc_stats(&a);
	size_t back = liballoc_trim();
	liballoc_stats(&b);
	CHECKF(a.obtained - b.obtained == back, "trim says %zu bytes, obtained fell by %zu", back, a.obtained - b.obtained);
}

static void do_usable(struct slot *s)
{
	if (!s->p) {
		CHECK(liballoc_malloc_usable_size(NULL) == 0);
		return;
	}
	size_t u = liballoc_malloc_usable_size(s->p);
	CHECK(u >= s->n && (!LIBALLOC_HARDENED || u == s->n));
	verify(s, s->len);
	s->len = u;  /* every usable byte may be written */
	fill(s);
}

/* Free every block in an order the input picks (chunks empty, and go back to
 * the port, in that order). */
static void do_free_many(void)
{
	static const uint8_t steps[] = {1, 5, 7, 11, 13, 17, 19, 23};  /* coprime with SLOTS */
	size_t start = u8(), step = steps[u8() % sizeof steps];
	for (size_t i = 0; i < SLOTS; i++) {
		struct slot *s = &slot[(start + i * step) % SLOTS];
		if (s->p)
			drop(s);
	}
}

static void do_stale(void)
{
	void *x = stale[u8() % STALE];
	unsigned allowed, how = u8();
	if (!x || !expect_for(x, &allowed))
		return;
	misuse_begin();
	misuse_call(x, how);
	misuse_end(x, allowed);
}

static void do_interior(struct slot *s)
{
	if (!s->p)
		return;
	long off = (long)(u16() % (s->len + 48)) - 16;
	unsigned char *x = s->p + off;
	unsigned allowed, how = u8();
	if (!expect_for(x, &allowed))
		return;
	misuse_begin();
	misuse_call(x, how);
	misuse_end(x, allowed);
}

static char static_buf[64] __attribute__((aligned(16)));

static void do_foreign(void)
{
	char stack_buf[64] __attribute__((aligned(16)));
	uint8_t k = u8();
	unsigned how = u8(), allowed = BIT(LIBALLOC_E_FOREIGN_POINTER);
	void *x;
	switch (k % 8) {
	case 0: x = stack_buf; break;
	case 1: x = static_buf + (k >> 3) % 2 * 16; break;
	case 2: x = (void *)(uintptr_t)(16 + (k >> 3) * 4096); break;
	case 3: x = (void *)(UINTPTR_MAX & ~(uintptr_t)15); break;
	case 4: x = (void *)(uintptr_t)(UINTPTR_MAX > 0xffffffffu ? (uintptr_t)1 << (sizeof(uintptr_t) * 8 - 1) : 0xfffff000u); break;
	case 5: x = &fp; break;
	default:  /* anywhere in the arena: free pages, page map, run headers, blocks */
		x = fuzz_port_arena() + u32() % FUZZ_ARENA_BYTES;
		if (!expect_for(x, &allowed))
			return;
		break;
	}
	misuse_begin();
	misuse_call(x, how);
	misuse_end(x, allowed);
}

/* A write before the block, into its header: reported, never trusted. The size and
 * check words are covered by the check word, so any use reports them; the boundary
 * tag is cross-checked against the predecessor, which only free consults (it is
 * the one call that merges); the slack word is the block's own (the core leaves it
 * out of the check word), so it is not smashed here. */
static void do_smash(struct slot *s)
{
	if (!s->p)
		return;
	uint8_t k = u8();
	bool tag = k & 0x80;  /* the boundary tag (prev), else the size or check word */
	unsigned char *h = s->p - 16 + (tag ? k % 4 : (k & 1 ? 4 : 12) + (k >> 1) % 4);
	unsigned char bit = (unsigned char)(1u << (u8() % 8));
	unsigned how = tag ? 0 : u8();
	if (trace)
		fprintf(stderr, "  header byte %d ^= %#x (was %#x), then %s\n", (int)(h - (s->p - 16)), bit, *h,
			(const char *[]){"free", "realloc", "realloc(p, 0)", "malloc_usable_size"}[how % 4]);
	*h ^= bit;
	int e = liballoc_check();
	if (tag && e == LIBALLOC_OK) {  /* a huge block: its run header, not the tag, says where it is */
		*h ^= bit;
		return;
	}
	CHECKF(e == LIBALLOC_E_HEADER || (tag && e == LIBALLOC_E_BOUNDARY_TAG),
	       "header of %p smashed; liballoc_check: %s", (void *)s->p, liballoc_strerror(e));
	misuse_begin();
	misuse_call(s->p, how);
	/* (A zero-byte block aligned beyond the page size ends its run: its payload
	 * address is not in the run, so a smashed header makes it look foreign.) */
	misuse_end(s->p, BIT(LIBALLOC_E_HEADER) | BIT(LIBALLOC_E_INTERIOR_POINTER) |
				 (s->n == 0 ? BIT(LIBALLOC_E_FOREIGN_POINTER) : 0));
	*h ^= bit;
}

/* Hardened: one byte written past the requested size. */
static void do_overflow(struct slot *s)
{
	if (!LIBALLOC_HARDENED || !s->p)
		return;
	unsigned char bit = (unsigned char)(1u << (u8() % 8));
	unsigned how = u8();
	s->p[s->n] ^= bit;
	int e = liballoc_check();
	CHECKF(e == LIBALLOC_E_OVERFLOW, "wrote past %p; liballoc_check: %s", (void *)s->p, liballoc_strerror(e));
	misuse_begin();
	misuse_call(s->p, how);
	misuse_end(s->p, BIT(LIBALLOC_E_OVERFLOW));
	s->p[s->n] ^= bit;
}

/* Hardened: a byte of a just-freed block modified. liballoc_check sees it; so does
 * the malloc that reuses the memory, which reports it and still succeeds. */
static void do_uaf(struct slot *s)
{
	if (!LIBALLOC_HARDENED || !s->p || s->n <= 16 || s->align > 16 || s->n + 64 >= THRESHOLD / 2)
		return;
	size_t n = s->n, off = 16 + u16() % (n - 16);
	bool reuse = u8() & 1;
	unsigned char *w = s->p + off, *old = s->p;
	drop(s);
	if (!fuzz_port_given(w))
		return;  /* its chunk went back to the port */
	*w ^= 0xff;
	int e = liballoc_check();
	CHECKF(e == LIBALLOC_E_USE_AFTER_FREE, "freed byte %p modified; liballoc_check: %s", (void *)w,
	       liballoc_strerror(e));
	if (!reuse) {
		*w ^= 0xff;
		return;
	}
	mark();
	unsigned char *q = liballoc_malloc(n);
	if (fp.errors != reports) {
		/* reported at the block that reuses the byte, or at the freed block itself
		 * when it leaves the quarantine */
		CHECKF(fp.errors == reports + 1 && fp.last_error == LIBALLOC_E_USE_AFTER_FREE &&
			       ((fp.last_ptr == q && q && w >= q + 16 && w < q + n + 64) || fp.last_ptr == old),
		       "modified byte %p, malloc gave %p, report %s at %p", (void *)w, (void *)q,
		       liballoc_strerror(fp.last_error), fp.last_ptr);
		reports++;
	} else {
		CHECKF(!(q && w >= q + 16 && w <= q + n), "modified freed byte %p reused in %p unreported", (void *)w,
		       (void *)q);
	}
	if (q)
		install(s, q, n, 16, false);
	else
		null_ok(n, 16, ENOMEM);
	e = liballoc_check();
	if (e == LIBALLOC_E_USE_AFTER_FREE) {  /* still in free memory: undo it */
		CHECK(live_at((uintptr_t)w) < 0);
		*w ^= 0xff;
	} else {
		CHECKF(e == LIBALLOC_OK, "liballoc_check: %s", liballoc_strerror(e));
	}
}

static void step(enum fuzz_mode mode)
{
	const uint8_t *table = mode == FUZZ_OPS ? ops_basic : mode == FUZZ_HOOKS ? ops_hooks : ops_misuse;
	size_t count = mode == FUZZ_OPS ? sizeof ops_basic : mode == FUZZ_HOOKS ? sizeof ops_hooks : sizeof ops_misuse;
	static const char *const names[] = {"malloc", "calloc", "realloc", "reallocarray", "aligned", "free", "trim",
		"fail_alloc", "usable", "verify", "limit", "place", "fail_free", "free_many", "stale", "interior",
		"foreign", "smash", "overflow", "uaf"};
	enum op op = table[u8() % count];
	struct slot *s = &slot[u8() % SLOTS];
	if (trace)
		fprintf(stderr, "op %zu: %s slot %d (%p, %zu bytes)\n", op_no, names[op], (int)(s - slot), (void *)s->p,
			s->n);
	switch (op) {
	case OP_MALLOC: do_malloc(s); break;
	case OP_CALLOC: do_calloc(s); break;
	case OP_REALLOC: do_realloc(s, false); break;
	case OP_REALLOCARRAY: do_realloc(s, true); break;
	case OP_ALIGNED: do_aligned(s); break;
	case OP_FREE:
		if (s->p) {
			drop(s);
		} else {
			errno = 42;
			liballoc_free(NULL);
			CHECK(errno == 42);
		}
		break;
	case OP_TRIM: do_trim(); break;
	case OP_FAIL_ALLOC: fail_arm(&fp.fail_alloc_next, &fp.fail_alloc_every); break;
	case OP_USABLE: do_usable(s); break;
	case OP_VERIFY:
		for (int i = 0; i < SLOTS; i++)
			if (slot[i].p)
				verify(&slot[i], slot[i].len);
		break;
	case OP_LIMIT: {
		uint16_t k = u16();
		fp.page_limit = k & 1 ? 0 : fp.pages_out + (k >> 1) % 64;
		break;
	}
	case OP_PLACE: fp.place = u16() % FUZZ_PAGES; break;
	case OP_FAIL_FREE: fail_arm(&fp.fail_free_next, &fp.fail_free_every); break;
	case OP_FREE_MANY: do_free_many(); break;
	case OP_STALE: do_stale(); break;
	case OP_INTERIOR: do_interior(s); break;
	case OP_FOREIGN: do_foreign(); break;
	case OP_SMASH: do_smash(s); break;
	case OP_OVERFLOW: do_overflow(s); break;
	case OP_UAF: do_uaf(s); break;
	}
}

int fuzz_run(const uint8_t *data, size_t size, enum fuzz_mode mode)
{
	struct liballoc_stats st;
	fuzz_port_reset();
	if (!pattern[0] && !pattern[1])
		pattern_init();
	trace = getenv("FUZZ_TRACE") != NULL;
	memset(slot, 0, sizeof slot);
	memset(stale, 0, sizeof stale);
	stale_next = model_bytes = model_live = reports = op_no = 0;
	in = data;
	in_len = size;
	in_pos = 0;
	while (in_pos < in_len) {
		step(mode);
		invariants();
		op_no++;
	}
	/* Pages available again: everything frees, and trim returns all but the page map. */
	fp.fail_alloc_next = fp.fail_alloc_every = fp.fail_free_next = fp.fail_free_every = fp.page_limit = 0;
	for (int i = 0; i < SLOTS; i++)
		if (slot[i].p)
			drop(&slot[i]);
	liballoc_trim();
	invariants();
	liballoc_stats(&st);
	CHECK(st.in_use == 0 && st.live_blocks == 0 && st.chunks == 0 && st.huge_blocks == 0);
	CHECKF(st.obtained == st.metadata, "after trim %zu bytes obtained, %zu of them page map", st.obtained, st.metadata);
	CHECK(fp.max_lock_depth <= 1 && !fp.hook_outside_lock);
	return 0;
}
