/* test_tcache_whitebox.c — white-box regression tests of the thread-cache layer: the core included, over hooks of this file. */
/* SPDX-License-Identifier: MIT */
/*
 * The core is compiled into this file (#include "liballoc.c") with thread caches
 * (__thread, no register hook: threads call liballoc_thread_exit themselves),
 * the wb_ prefix (libc keeps its malloc, cmocka uses it) and hooks that can do what
 * the Linux port's cannot: pages from mmap(MAP_NORESERVE), so a 17 GiB block costs
 * only the pages the core touches; a lock that fails in one chosen thread. Each
 * test failed on the core before the thread cache became its own layer (commit
 * f7e455e; issue 11, "fix on the way"):
 *   test_realloc_headroom_fits_slack     3. realloc headroom above 4 GiB was stored
 *                                           in the 32-bit slack: check reported
 *                                           ACCOUNTING, free underflowed in_use
 *   test_thread_exit_lock_failure        5. a failed lock in liballoc_thread_exit left
 *                                           the dead cache linked; the next thread
 *                                           at the same TLS address broke the list
 *   test_fork_child_transfer_count       5. liballoc_fork_child emptied a transfer
 *                                           stack that a vanished thread held but
 *                                           left its block count
 *   test_check_skips_blocks_in_flight    2. hardened liballoc_check compared the
 *                                           canaries of blocks another thread's fast
 *                                           path was changing, and reported false
 *                                           overflows (built hardened only)
 *   test_trim_skips_busy_transfer_stack  trim waited for a transfer stack's
 *                                           try-lock, forever when the holder was
 *                                           its own thread (a signal handler)
 *   test_transfer_bound_alone            a thread alone filled every class's
 *                                           stack to 64 KiB, blocks of up to 16 KiB
 *                                           too: the peak RSS that espresso's and
 *                                           threadlocal's benchmarks measured
 * tests/linux/meson.build builds it twice: as is, and with LIBALLOC_HARDENED=1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

void wb_report(int error, void *ptr);
#define LIBALLOC_PREFIX(name) wb_##name
#define LIBALLOC_THREAD_LOCAL __thread
#define LIBALLOC_PAGES_ZEROED 1
#ifndef LIBALLOC_HARDENED
#define LIBALLOC_HARDENED 0
#endif
#define LIBALLOC_ERROR_HANDLER wb_report
#define LIBALLOC_DEBUG 1
#include "liballoc.c"

/* ---- the hooks ------------------------------------------------------------- */

static pthread_mutex_t lock_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t failing_thread;   /* liballoc_lock fails in this thread while set */
static atomic_int lock_fails_armed;

void *liballoc_alloc_page(size_t pages)
{
	void *p = mmap(NULL, pages * LIBALLOC_PAGE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int liballoc_free_page(void *addr, size_t pages) { return munmap(addr, pages * LIBALLOC_PAGE_SIZE); }

int liballoc_lock(void)
{
	if (atomic_load(&lock_fails_armed) && pthread_equal(pthread_self(), failing_thread))
		return -1;
	return pthread_mutex_lock(&lock_mu);
}

int liballoc_unlock(void) { return pthread_mutex_unlock(&lock_mu); }

static atomic_size_t reports;
static atomic_int last_code;

void wb_report(int error, void *ptr)
{
	(void)ptr;
	atomic_store(&last_code, error);
	atomic_fetch_add(&reports, 1);
}

static struct liballoc_stats stats(void)
{
	struct liballoc_stats s;
	liballoc_stats(&s);
	return s;
}

/* ---- 3. realloc headroom fits the 32-bit slack -------------------------------- */

/* A block grown by a small step from 16 GiB to 17 GiB gets headroom (a quarter of
 * it before the fix: 4.25 GiB, which wrapped in the 32-bit slack word). The new
 * block is made by the core's own realloc step, h_alloc_grown, without copying
 * 16 GiB; only its headers are touched. */
static void test_realloc_headroom_fits_slack(void **state)
{
	(void)state;
#if UINTPTR_MAX > 0xffffffffu
	const size_t GiB = (size_t)1 << 30, old = 16 * GiB, n = 17 * GiB;
	void *probe = liballoc_alloc_page(22 * GiB / LIBALLOC_PAGE_SIZE);
	if (!probe)
		skip();  /* no room for 22 GiB of address space without commitment (vm.overcommit_memory=2?) */
	liballoc_free_page(probe, 22 * GiB / LIBALLOC_PAGE_SIZE);
	struct liballoc_stats base = stats();
	void *p = wb_malloc(old);
	assert_non_null(p);
	fault f = {0};
	heap *h = &g_heap;
	assert_true(enter(h));
	void *q = h_alloc_grown(h, n, old, &f);
	leave(h, &f);
	assert_int_equal(f.code, 0);
	assert_non_null(q);
	assert_true(wb_malloc_usable_size(q) >= n);
	struct liballoc_stats s = stats();
	assert_int_equal(s.in_use, base.in_use + old + n);  /* headroom is not in use */
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	wb_free(p);
	wb_free(q);
	s = stats();
	assert_int_equal(s.in_use, base.in_use);
	assert_int_equal(s.live_blocks, base.live_blocks);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	assert_int_equal(atomic_load(&reports), 0);
#else
	skip();  /* a 32-bit address space has no 16 GiB block */
#endif
}

/* ---- 2. hardened check: blocks another thread's fast path is changing ------------- */

#if LIBALLOC_HARDENED
static void *_Atomic in_flight;
static atomic_int in_flight_done;

static void *owner(void *arg)
{
	(void)arg;
	void *q = wb_malloc(100);
	wb_free(wb_malloc(100));  /* the cache is active: the block is this thread's to change */
	atomic_store(&in_flight, q);
	while (!atomic_load(&in_flight_done))
		usleep(100);
	wb_free(q);
	liballoc_thread_exit();
	return NULL;
}
#endif

/* A thread's fast paths rewrite a block's slack word and its canary (or poison its
 * payload and then mark it cached) without the lock, one store after the other.
 * Here another thread's block is put in each state in between, as its owner's
 * fast path leaves it for a moment; a concurrent liballoc_check must not call that
 * an overflow. */
static void test_check_skips_blocks_in_flight(void **state)
{
	(void)state;
#if LIBALLOC_HARDENED
	pthread_t t;
	atomic_store(&in_flight, NULL);
	atomic_store(&in_flight_done, 0);
	assert_int_equal(pthread_create(&t, NULL, owner, NULL), 0);
	while (!atomic_load(&in_flight))
		usleep(100);
	unsigned char *q = atomic_load(&in_flight);
	blk *b = blk_of(q);
	uint32_t slack = slack_of(b);
	unsigned char saved[128];
	size_t usable_bytes = bsize(b) - HDR;
	assert_true(usable_bytes <= sizeof saved);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	memcpy(saved, q, usable_bytes);
	/* realloc in place (tc_resize) or malloc (tc_pop_block): the slack already says
	 * 8 bytes less, the canary is not yet written there */
	STORE(b->slack, slack + 8);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	STORE(b->slack, slack);
	/* free (tc_free): the payload poisoned over the canary, the block not yet cached */
	memset(q + 16, POISON, usable_bytes - 16);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	memcpy(q, saved, usable_bytes);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	atomic_store(&in_flight_done, 1);
	pthread_join(t, NULL);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	assert_int_equal(atomic_load(&reports), 0);
#else
	skip();  /* canaries exist in hardened builds only */
#endif
}

/* ---- 5. a thread whose lock fails at exit leaves the cache list sound ------------ */

static void *short_lived(void *arg)
{
	int fail = arg != NULL;
	void *p[40];
	for (int i = 0; i < 40; i++)
		p[i] = wb_malloc((size_t)16 + (size_t)i * 24);  /* registers and links this thread's cache */
	for (int i = 0; i < 40; i++)
		wb_free(p[i]);  /* ... and fills its bins */
	if (fail) {
		failing_thread = pthread_self();
		atomic_store(&lock_fails_armed, 1);
	}
	liballoc_thread_exit();
	atomic_store(&lock_fails_armed, 0);
	return NULL;
}

static void run_thread(int fail)
{
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, short_lived, fail ? (void *)1 : NULL), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
}

static void test_thread_exit_lock_failure(void **state)
{
	(void)state;
	alarm(60);  /* a cycle in the cache list makes stats loop forever */
	struct liballoc_stats base = stats();
	size_t seen = atomic_load(&reports);
	run_thread(1);
	assert_int_equal(atomic_load(&reports), seen + 1);  /* the failed lock was reported */
	assert_int_equal(atomic_load(&last_code), LIBALLOC_E_LOCK);
	struct liballoc_stats s = stats();
	assert_true(s.cached > base.cached);  /* its blocks stay allocated, counted as cached */
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	/* New threads get the exited thread's stack and TLS (glibc reuses them): their
	 * caches are linked and unlinked over the same address. */
	for (int i = 0; i < 50; i++) {
		size_t before = s.cached;
		run_thread(i % 10 == 9);
		s = stats();
		if (i % 10 == 9)
			assert_true(s.cached > before);
		else  /* a thread that exits normally gives everything back */
			assert_int_equal(s.cached, before);
		assert_int_equal(s.live_blocks, base.live_blocks);
		assert_int_equal(liballoc_check(), LIBALLOC_OK);
	}
	assert_int_equal(atomic_load(&reports), seen + 6);
	alarm(0);
}

/* ---- 5. fork child: a transfer stack a vanished thread held is emptied whole ----- */

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x)) {                                                                        \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #x);                    \
			_exit(1);                                                                  \
		}                                                                                  \
	} while (0)

static void test_fork_child_transfer_count(void **state)
{
	(void)state;
	/* Fill a bin and more: the full bin passes whole to its transfer stack. */
	enum { N = 100 };
	void *p[N];
	size_t bin = tc_bin_up(block_size(100));
	xstack *x = &T.xfer[bin];
	liballoc_trim();  /* this thread's bins and the transfer stacks: empty */
	size_t stranded = stats().cached;  /* blocks of caches whose lock failed at exit (the test before) */
	for (int i = 0; i < N; i++)
		p[i] = wb_malloc(100);
	for (int i = 0; i < N; i++)
		wb_free(p[i]);
	assert_true(x->segs >= 1);
	size_t cached = stats().cached;
	uint32_t in_stack = x->n;
	assert_true(in_stack > 0);
	/* Fork as if another thread held the stack's try-lock at that moment. */
	__atomic_store_n(&x->lock, 1, __ATOMIC_RELEASE);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		liballoc_fork_child();
		CHECK(x->lock == 0);
		CHECK(x->segs == 0);
		CHECK(x->n == 0);  /* its blocks are abandoned: no longer the stack's */
		CHECK(stats().cached == cached);  /* ... but still allocated, and counted */
		CHECK(liballoc_check() == LIBALLOC_OK);
		/* the stack takes and gives segments again, and trim empties it */
		void *q[N];
		for (int i = 0; i < N; i++)
			CHECK((q[i] = wb_malloc(100)) != NULL);
		for (int i = 0; i < N; i++)
			wb_free(q[i]);
		CHECK(x->segs >= 1 && x->n > 0);
		liballoc_trim();
		CHECK(x->segs == 0 && x->n == 0);
		CHECK(stats().cached == stranded + in_stack);  /* only the abandoned blocks */
		CHECK(liballoc_check() == LIBALLOC_OK);
		_exit(0);
	}
	__atomic_store_n(&x->lock, 0, __ATOMIC_RELEASE);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
}

/* ---- trim with a transfer stack held -------------------------------------- */

/* trim (and an allocation that runs out of memory) drained the transfer stacks
 * waiting on each one's try-lock; when its holder is the calling thread itself —
 * a signal handler that came in while tc_give or tc_adopt held the stack — that
 * wait never ends. Now the busy class keeps its blocks for the next trim. Run in
 * a child with an alarm: a hang is SIGALRM, not a stuck test. */
static void test_trim_skips_busy_transfer_stack(void **state)
{
	(void)state;
	enum { N = 100 };
	void *p[N];
	size_t bin = tc_bin_up(block_size(100));
	xstack *x = &T.xfer[bin];
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(10);
		liballoc_fork_child();
		liballoc_trim();
		for (int i = 0; i < N; i++)
			CHECK((p[i] = wb_malloc(100)) != NULL);
		for (int i = 0; i < N; i++)
			wb_free(p[i]);
		CHECK(x->segs >= 1);
		uint32_t segs = x->segs, n = x->n;
		__atomic_store_n(&x->lock, 1, __ATOMIC_RELEASE);  /* held, as by this very thread */
		liballoc_trim();
		CHECK(x->segs == segs && x->n == n);  /* skipped, untouched */
		CHECK(liballoc_check() == LIBALLOC_OK);
		__atomic_store_n(&x->lock, 0, __ATOMIC_RELEASE);
		liballoc_trim();
		CHECK(x->segs == 0 && x->n == 0);  /* the next trim takes them */
		CHECK(liballoc_check() == LIBALLOC_OK);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- transfer stacks hold less while one cache is active ----------------------- */

static pthread_mutex_t idle_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cv = PTHREAD_COND_INITIALIZER;
static int idle_state;  /* 1: the idle thread's cache is active; 2: it may exit */

static void *idle_thread(void *arg)
{
	(void)arg;
	wb_free(wb_malloc(100));  /* its cache is linked at this first locked call */
	pthread_mutex_lock(&idle_mu);
	idle_state = 1;
	pthread_cond_broadcast(&idle_cv);
	while (idle_state != 2)
		pthread_cond_wait(&idle_cv, &idle_mu);
	pthread_mutex_unlock(&idle_mu);
	liballoc_thread_exit();
	return NULL;
}

/* Free MANY blocks of 100 bytes; the bytes the class's stack then holds. */
static size_t fill_stack(xstack *x, size_t bin)
{
	enum { MANY = 2000 };
	static void *p[MANY];
	for (int i = 0; i < MANY; i++)
		assert_non_null(p[i] = wb_malloc(100));
	for (int i = 0; i < MANY; i++)
		wb_free(p[i]);
	assert_true(x->segs >= 2);
	return x->n * tc_size(bin);
}

/* Blocks above 4 KiB have no transfer stack: freeing many leaves at most a bin's
 * worth cached. */
static void free_big_blocks(void)
{
	enum { BIG = 50 };
	void *p[BIG];
	size_t cached = stats().cached, i = tc_bin_up(block_size(8000));
	for (int k = 0; k < BIG; k++)
		assert_non_null(p[k] = wb_malloc(8000));
	for (int k = 0; k < BIG; k++)
		wb_free(p[k]);
	assert_true(i >= XFER_BINS);
	assert_true(stats().cached <= cached + tc_limit(tc_size(i)));
}

/* One cache active (a single-threaded program): a class's stack holds at most
 * XFER_ALONE_BYTES; with a second cache active, all XFER_SEGS segments (64 blocks
 * of 112 bytes each) up to XFER_BYTES beyond the first. Classes above 4 KiB never
 * have one. */
static void test_transfer_bound_alone(void **state)
{
	(void)state;
	size_t bin = tc_bin_up(block_size(100));
	xstack *x = &T.xfer[bin];
	liballoc_trim();
	assert_true(tc_alone());
	assert_true(fill_stack(x, bin) <= XFER_ALONE_BYTES);
	assert_true(x->segs < XFER_SEGS);
	free_big_blocks();
	liballoc_trim();
	assert_int_equal(x->segs, 0);

	pthread_t t;
	idle_state = 0;
	assert_int_equal(pthread_create(&t, NULL, idle_thread, NULL), 0);
	pthread_mutex_lock(&idle_mu);
	while (idle_state != 1)
		pthread_cond_wait(&idle_cv, &idle_mu);
	pthread_mutex_unlock(&idle_mu);
	assert_false(tc_alone());
	size_t shared = fill_stack(x, bin);
	assert_int_equal(x->segs, XFER_SEGS);
	assert_true(shared > XFER_ALONE_BYTES && shared - x->seg[0].n * tc_size(bin) <= XFER_BYTES);
	free_big_blocks();
	pthread_mutex_lock(&idle_mu);
	idle_state = 2;
	pthread_cond_broadcast(&idle_cv);
	pthread_mutex_unlock(&idle_mu);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(tc_alone());
	liballoc_trim();
	assert_int_equal(x->segs, 0);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_realloc_headroom_fits_slack),
		cmocka_unit_test(test_check_skips_blocks_in_flight),
		cmocka_unit_test(test_thread_exit_lock_failure),
		cmocka_unit_test(test_fork_child_transfer_count),
		cmocka_unit_test(test_trim_skips_busy_transfer_stack),
		cmocka_unit_test(test_transfer_bound_alone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
