/* test_fault.c — cmocka fault-injection suite: alloc_page failing every k-th call, free_page failing, full recovery. */
/* SPDX-License-Identifier: MIT */
/*
 * Each scenario runs in a forked child, so it starts from a pristine heap (the
 * first hook calls — page map nodes, the first chunk — fail too) and a broken
 * expectation ends the child with a message instead of unwinding cmocka.
 *
 * Throughout a long randomized run with failures injected: every allocation
 * either succeeds or returns NULL with ENOMEM, and NULL only when the port refused
 * pages during that call; every live block keeps its pattern; liballoc_check()
 * passes after every operation; the counters match the model and the port (bytes
 * obtained == pages the port has out, hook calls and failures). Then failures stop
 * and the heap must recover fully: every allocation succeeds, everything frees,
 * and trim gives every page back but the page map's.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pattern.h"
#include "test_port.h"

#define PAGE ((size_t)LIBALLOC_PAGE_SIZE)
#define THRESHOLD ((size_t)LIBALLOC_HUGE_THRESHOLD)
#define SLOTS 256
#ifndef FAULT_OPS
#define FAULT_OPS 1000  /* operations per scenario with failures on */
#endif
#ifndef FAULT_K_MAX
#define FAULT_K_MAX 64  /* alloc_page fails every k-th call for k = 1 .. FAULT_K_MAX, and a few larger */
#endif

static void die(int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "test_fault.c:%d: ", line);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	_exit(1);
}
#define CHECKF(c, ...) ((c) ? (void)0 : die(__LINE__, __VA_ARGS__))
#define CHECK(c) CHECKF(c, "%s", #c)

struct slot {
	unsigned char *p;
	size_t n;
	unsigned seed;
};
static struct slot slot[SLOTS];
static size_t model_bytes, model_live;
static uint64_t rng;

static uint64_t next(void) { return pattern_next(&rng); }
static size_t below(size_t n) { return pattern_below(&rng, n); }

static size_t random_size(void)
{
	unsigned r = (unsigned)below(100);
	return r < 55 ? below(300) : r < 85 ? below(5000) : r < 96 ? below(THRESHOLD) : THRESHOLD + below(3 * THRESHOLD);
}

static void verify(const struct slot *s, size_t n)
{
	size_t i = pattern_check(s->p, n, s->seed);
	CHECKF(i == n, "block %p (%zu bytes) byte %zu corrupted", (void *)s->p, s->n, i);
}

static void install(struct slot *s, void *p, size_t n, size_t align, bool zero)
{
	CHECK((uintptr_t)p % align == 0);
	CHECK(liballoc_malloc_usable_size(p) >= n);
	for (size_t i = 0; zero && i < n; i++)
		CHECKF(((unsigned char *)p)[i] == 0, "calloc byte %zu not zero", i);
	s->p = p;
	s->n = n;
	s->seed = (unsigned)next();
	pattern_fill(s->p, n, s->seed);
	model_bytes += n;
	model_live++;
}

static void uninstall(struct slot *s)
{
	model_bytes -= s->n;
	model_live--;
	s->p = NULL;
}

static void drop(struct slot *s)
{
	verify(s, s->n);
	liballoc_free(s->p);
	uninstall(s);
}

/* A NULL may come only from a refusal by the port during the call, with ENOMEM. */
static void null_ok(size_t refused0, bool failing, int err)
{
	CHECKF(failing && tp.alloc_refused > refused0, "allocation failed though the port refused nothing");
	CHECKF(err == ENOMEM, "errno %d after a failed allocation", err);
}

static void counters(void)
{
	struct liballoc_stats st;
	int e = liballoc_check();
	CHECKF(e == LIBALLOC_OK, "liballoc_check: %s", liballoc_strerror(e));
	liballoc_stats(&st);
	CHECKF(st.in_use == model_bytes && st.live_blocks == model_live, "in_use %zu/%zu, live %zu/%zu", st.in_use,
	       model_bytes, st.live_blocks, model_live);
	CHECKF(st.obtained == test_port_pages_out() * PAGE, "obtained %zu, port has %zu pages out", st.obtained,
	       test_port_pages_out());
	CHECK(st.alloc_page_calls == tp.alloc_calls && st.alloc_page_failures == tp.alloc_refused);
	CHECK(st.free_page_calls == tp.free_calls && st.free_page_failures == tp.free_refused);
	CHECKF(tp.errors == 0, "unexpected report: %s at %p", liballoc_strerror(tp.last_error), tp.last_ptr);
	CHECK(tp.max_lock_depth <= 1 && !tp.hook_outside_lock);
}

static bool trace;  /* FAULT_TRACE=1 with FAULT_SCENARIO: print every operation */

static void step(bool failing)
{
	struct slot *s = &slot[below(SLOTS)];
	unsigned op = (unsigned)below(100);
	size_t n = random_size(), refused0 = tp.alloc_refused;
	if (trace)
		fprintf(stderr, "slot %d (%p, %zu) op %u size %zu, alloc_page calls %zu\n", (int)(s - slot),
			(void *)s->p, s->n, op, n, tp.alloc_calls);
	errno = 0;
	if (s->p && op < 40) {
		drop(s);
	} else if (s->p && op < 75) {
		verify(s, s->n);
		n = n ? n : 1;
		unsigned char *q = liballoc_realloc(s->p, n);
		if (!q) {
			null_ok(refused0, failing, errno);
			verify(s, s->n);  /* the old block survives a failed realloc */
			return;
		}
		size_t keep = s->n < n ? s->n : n;
		s->p = q;
		verify(s, keep);
		uninstall(s);
		install(s, q, n, 16, false);
	} else if (!s->p) {
		void *p;
		size_t align = 16;
		bool zero = false;
		if (op < 55) {
			p = liballoc_malloc(n);
		} else if (op < 75) {
			zero = true;
			p = liballoc_calloc(1, n);
		} else {
			align = (size_t)1 << (4 + below(13));
			int e = liballoc_posix_memalign(&p, align, n);
			if (e) {
				CHECK(e == ENOMEM && errno == 0);  /* posix_memalign returns, does not set, ENOMEM */
				null_ok(refused0, failing, e);
				return;
			}
		}
		if (!p) {
			null_ok(refused0, failing, errno);
			return;
		}
		install(s, p, n, align, zero);
	} else if (op < 85) {
		struct liballoc_stats a, b;
		liballoc_stats(&a);
		size_t back = liballoc_trim();
		liballoc_stats(&b);
		CHECKF(a.obtained - b.obtained == back, "trim returned %zu but obtained fell by %zu", back,
		       a.obtained - b.obtained);
	}
}

static void run(size_t ops, bool failing)
{
	for (size_t i = 0; i < ops; i++) {
		step(failing);
		counters();
		if (i % 200 == 0)
			for (size_t k = 0; k < SLOTS; k++)
				if (slot[k].p)
					verify(&slot[k], slot[k].n);
	}
}

/* Failures off: after a trim all allocations succeed, everything frees, trim
 * returns every page but the page map's, and a big allocation works again. */
static void recover(void)
{
	struct liballoc_stats st;
	tp.fail_alloc_every = tp.fail_free_every = tp.fail_alloc_at = tp.fail_free_at = 0;
	tp.fail_alloc_all = tp.fail_free_all = false;
	/* Runs whose free_page failed are retried by trim only (the port contract), and
	 * with free_page failing they can fill the arena: give them back first. */
	liballoc_trim();
	counters();
	run(FAULT_OPS / 3, false);
	for (size_t k = 0; k < SLOTS; k++)
		if (slot[k].p)
			drop(&slot[k]);
	liballoc_trim();
	counters();
	liballoc_stats(&st);
	CHECK(st.in_use == 0 && st.live_blocks == 0 && st.chunks == 0 && st.huge_blocks == 0);
	CHECKF(st.obtained == st.metadata, "after trim %zu bytes held, %zu of them page map", st.obtained, st.metadata);
	void *big = liballoc_malloc(TEST_ARENA_BYTES / 4), *many[64];
	CHECK(big != NULL);
	for (int i = 0; i < 64; i++)
		CHECK((many[i] = liballoc_malloc(1000 + (size_t)i * 50)) != NULL);
	for (int i = 0; i < 64; i++)
		liballoc_free(many[i]);
	liballoc_free(big);
	liballoc_trim();
	liballoc_stats(&st);
	CHECK(st.obtained == st.metadata && st.obtained == test_port_pages_out() * PAGE);
}

/* Run `scenario` in a child with a pristine heap; it must exit 0. */
static void in_child(void (*scenario)(size_t), size_t k, const char *what)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(120);
		rng = 0x5eed0000u + k * 7919u;
		test_port_reset();
		scenario(k);
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("%s, k = %zu: %s %d", what, k, WIFSIGNALED(st) ? "killed by signal" : "exit status",
			 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

static void alloc_every(size_t k)
{
	tp.fail_alloc_every = k;
	run(FAULT_OPS, true);
	for (size_t more = 0; tp.alloc_refused < 2; more++) {  /* large k: go on until it bit twice */
		CHECKF(more < 200, "only %zu alloc_page calls", tp.alloc_calls);
		run(100, true);
	}
	recover();
}

static void alloc_at(size_t k)
{
	tp.fail_alloc_at = k;  /* exactly the k-th call from a pristine heap */
	run(FAULT_OPS / 5, true);
	recover();
}

static void free_every(size_t k)
{
	tp.fail_free_every = k;
	run(FAULT_OPS, false);
	for (size_t more = 0; tp.free_refused < 2; more++) {
		CHECKF(more < 200, "only %zu free_page calls", tp.free_calls);
		run(100, false);
	}
	recover();
}

static void both_every(size_t k)
{
	tp.fail_alloc_every = k;
	tp.fail_free_every = k / 2 + 1;
	run(FAULT_OPS, true);
	recover();
}

/* free_page refusing everything: nothing goes back, nothing is lost or counted
 * twice, and trim returns it all once the port accepts pages again. */
static void free_all_refused(size_t k)
{
	(void)k;
	tp.fail_free_all = true;
	run(FAULT_OPS / 2, false);
	for (size_t i = 0; i < SLOTS; i++)
		if (slot[i].p)
			drop(&slot[i]);
	struct liballoc_stats a, b;
	liballoc_stats(&a);
	CHECK(liballoc_trim() == 0);
	counters();
	liballoc_stats(&b);
	CHECK(b.obtained == a.obtained && a.obtained > a.metadata);
	tp.fail_free_all = false;
	tp.fail_free_every = 2;  /* half of the retries fail too: trim keeps retrying */
	size_t refused = tp.free_refused;
	for (size_t rounds = 0;; rounds++) {
		liballoc_trim();
		counters();
		liballoc_stats(&b);
		if (b.obtained == b.metadata)
			break;
		CHECKF(rounds < 100, "%zu bytes still held after %zu trims", b.obtained - b.metadata, rounds);
	}
	CHECK(tp.free_refused > refused);
	recover();
}

static void test_alloc_page_fails_every_kth(void **state)
{
	(void)state;
	static const size_t large[] = {80, 97, 128, 200};
	for (size_t k = 1; k <= FAULT_K_MAX; k++)
		in_child(alloc_every, k, "alloc_page failing every k-th call");
	for (size_t i = 0; i < sizeof large / sizeof large[0]; i++)
		in_child(alloc_every, large[i], "alloc_page failing every k-th call");
}

static void test_alloc_page_fails_at_kth(void **state)
{
	(void)state;
	for (size_t k = 1; k <= (FAULT_K_MAX < 40 ? FAULT_K_MAX : 40); k++)
		in_child(alloc_at, k, "alloc_page failing at call k");
}

static void test_free_page_fails_every_kth(void **state)
{
	(void)state;
	for (size_t k = 1; k <= (FAULT_K_MAX < 16 ? FAULT_K_MAX : 16); k++)
		in_child(free_every, k, "free_page failing every k-th call");
	in_child(free_every, 50, "free_page failing every k-th call");
}

static void test_both_fail(void **state)
{
	(void)state;
	for (size_t k = 2; k <= 12; k++)
		in_child(both_every, k, "alloc_page and free_page failing");
}

static void test_free_page_refuses_all(void **state)
{
	(void)state;
	in_child(free_all_refused, 0, "free_page refusing everything");
}

/* FAULT_SCENARIO=name:k runs one scenario in this process, for gdb. */
static int run_one(const char *spec)
{
	static const struct {
		const char *name;
		void (*fn)(size_t);
	} table[] = {{"alloc_every", alloc_every}, {"alloc_at", alloc_at}, {"free_every", free_every},
		     {"both_every", both_every}, {"free_all_refused", free_all_refused}};
	const char *colon = strchr(spec, ':');
	size_t k = colon ? strtoul(colon + 1, NULL, 0) : 0, len = colon ? (size_t)(colon - spec) : strlen(spec);
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (strlen(table[i].name) == len && !strncmp(spec, table[i].name, len)) {
			rng = 0x5eed0000u + k * 7919u;
			test_port_reset();
			table[i].fn(k);
			printf("%s passed\n", spec);
			return 0;
		}
	fprintf(stderr, "unknown scenario %s\n", spec);
	return 2;
}

int main(void)
{
	trace = getenv("FAULT_TRACE") != NULL;
	if (getenv("FAULT_SCENARIO"))
		return run_one(getenv("FAULT_SCENARIO"));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_page_fails_every_kth),
		cmocka_unit_test(test_alloc_page_fails_at_kth),
		cmocka_unit_test(test_free_page_fails_every_kth),
		cmocka_unit_test(test_both_fail),
		cmocka_unit_test(test_free_page_refuses_all),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
