/* test_linux.c — cmocka tests of the Linux port in-process: binding, errno, threads, fork under load, misuse aborts. */
/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "liballoc_linux.h"

static struct liballoc_stats stats(void)
{
	struct liballoc_stats s;
	liballoc_stats(&s);
	return s;
}

/* Keep the compiler from pairing or removing malloc/free calls in tests, and from
 * rejecting the deliberate misuse at compile time. */
static void *volatile sink;
static volatile size_t huge = SIZE_MAX;

static void *opaque(void *p)
{
	sink = p;
	return sink;
}

static void test_malloc_is_liballoc(void **state)
{
	(void)state;
	size_t allocs = stats().allocs;
	void *p = malloc(100);
	sink = p;
	assert_int_equal(stats().allocs, allocs + 1);
	assert_true(malloc_usable_size(p) >= 100);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	free(p);
	/* glibc's internal names reach the same heap */
	extern void *__libc_malloc(size_t);
	extern void __libc_free(void *);
	p = __libc_malloc(10);
	assert_int_equal(stats().allocs, allocs + 2);
	free(p);
	p = malloc(10);
	__libc_free(p);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
}

static void test_errno(void **state)
{
	(void)state;
	errno = 0;
	sink = malloc(huge);
	assert_null(sink);
	assert_int_equal(errno, ENOMEM);
	errno = 0;
	sink = calloc(huge / 2, 3);
	assert_null(sink);
	assert_int_equal(errno, ENOMEM);
	void *p = (void *)1;
	errno = 0;
	assert_int_equal(posix_memalign(&p, 24, 10), EINVAL);
	assert_ptr_equal(p, (void *)1);
	assert_int_equal(errno, 0);
	errno = 0;
	sink = aligned_alloc(3, 10);
	assert_null(sink);
	assert_int_equal(errno, EINVAL);
	p = malloc(10);
	errno = 77;
	free(p);
	free(NULL);
	p = malloc(1 << 22);  /* huge: free calls munmap */
	free(p);
	assert_int_equal(errno, 77);
}

/* Threads swap blocks through shared slots, so most frees happen on a thread other
 * than the allocating one; sizes cover every class and the huge path. */
#define SLOTS 1024
static _Atomic(unsigned char *) slots[SLOTS];

static size_t pick_size(uint64_t *r)
{
	*r ^= *r << 13, *r ^= *r >> 7, *r ^= *r << 17;
	switch (*r % 16) {
	case 0:
		return (size_t)(*r >> 20) % (1 << 20);  /* up to 1 MiB: chunks and huge runs */
	case 1: case 2:
		return (size_t)(*r >> 20) % 16384;
	default:
		return (size_t)(*r >> 20) % 512;
	}
}

static void *churn(void *arg)
{
	uint64_t r = (uintptr_t)arg * 0x9e3779b97f4a7c15u + 1;
	for (int i = 0; i < 100000; i++) {
		size_t n = pick_size(&r);
		unsigned char *p = (r & 64) ? malloc(n) : (r & 128) ? calloc(1, n) : memalign(64, n);
		assert_non_null(p);
		if (n)
			p[0] = p[n - 1] = (unsigned char)n;
		unsigned char *old = atomic_exchange(&slots[(r >> 40) % SLOTS], NULL);
		if (old && (r & 32)) {
			old = realloc(old, n + 1);  /* realloc of another thread's block */
			assert_non_null(old);
		}
		free(old);
		old = atomic_exchange(&slots[(r >> 30) % SLOTS], p);
		free(old);
	}
	return NULL;
}

static void *idle(void *arg) { return arg; }

static void test_threads(void **state)
{
	(void)state;
	pthread_t t[8];
	/* glibc keeps a few allocations per cached thread stack (its DTV): fill the
	 * stack cache first, so the baseline counts them. */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 8; i++)
			pthread_create(&t[i], NULL, idle, NULL);
		for (int i = 0; i < 8; i++)
			pthread_join(t[i], NULL);
	}
	size_t live = stats().live_blocks;
	for (uintptr_t i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn, (void *)(i + 1)), 0);
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
	for (int i = 0; i < SLOTS; i++)
		free(atomic_exchange(&slots[i], NULL));
	assert_int_equal(stats().live_blocks, live);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
}

static atomic_bool stop;

static void *background(void *arg)
{
	uint64_t r = (uintptr_t)arg;
	while (!atomic_load(&stop)) {
		void *p = malloc(pick_size(&r));
		sink = p;
		free(p);
	}
	return NULL;
}

/* fork() while other threads hold or want the heap lock: the child must be able to
 * allocate (no deadlock) and find a consistent heap. */
static void test_fork_under_load(void **state)
{
	(void)state;
	pthread_t t[3];
	atomic_store(&stop, false);
	for (uintptr_t i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, background, (void *)(i + 7));
	for (int i = 0; i < 200; i++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			alarm(10);  /* a deadlock ends in SIGALRM, which the parent sees */
			void *p[100];
			for (int k = 0; k < 100; k++)
				p[k] = malloc((size_t)k * 37);
			for (int k = 0; k < 100; k++)
				free(p[k]);
			_exit(liballoc_check() == LIBALLOC_OK ? 0 : 3);
		}
		int st;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fail_msg("child %d: %s %d", i, WIFSIGNALED(st) ? "signal" : "status",
				 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
}

/* Run `misuse` in a child; it must die of SIGABRT after a report on stderr whose first
 * line names the error and the pointer. */
static void expect_abort(void (*misuse)(char *out), const char *error)
{
	int fd[2];
	char ptr[64] = {0}, got[16384] = {0};
	assert_int_equal(pipe(fd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fd[1], 2);
		misuse(ptr);
		_exit(0);
	}
	close(fd[1]);
	ssize_t n = 0, k;
	while ((k = read(fd[0], got + n, sizeof got - 1 - (size_t)n)) > 0)
		n += k;
	close(fd[0]);
	int st;
	waitpid(pid, &st, 0);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
	/* The first line names the error and the pointer; the lines after it (the
	 * block, its requester, the backtrace: test_diag.c checks them) all carry the
	 * prefix, and the report ends with its line. */
	char *eol = strchr(got, '\n');
	assert_non_null(eol);
	*eol = '\0';
	assert_true(strncmp(got, "liballoc: ", 10) == 0);
	assert_non_null(strstr(got, error));
	assert_non_null(strstr(got, " at 0x"));
	for (char *line = eol + 1; line < got + n; line = strchr(line, '\n') + 1) {
		assert_true(strncmp(line, "liballoc:", 9) == 0);
		assert_non_null(strchr(line, '\n'));
	}
}

static void double_free(char *out)
{
	char *p = opaque(malloc(40));
	free(p);
	free(sink);
	(void)out;
}

static void interior_free(char *out)
{
	char *p = opaque(malloc(40));
	free(opaque(p + 16));
	(void)out;
}

static void stack_free(char *out)
{
	char buf[32] __attribute__((aligned(16)));
	sink = buf;
	free(sink);
	(void)out;
}

static void realloc_freed(char *out)
{
	char *p = malloc(40);
	sink = p;
	free(p);
	sink = realloc(sink, 80);
	(void)out;
}

static void test_misuse_aborts(void **state)
{
	(void)state;
	expect_abort(double_free, "double free");
	expect_abort(interior_free, "middle of a block");
	expect_abort(stack_free, "not from this heap");
	expect_abort(realloc_freed, "realloc or usable size of a freed block");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_malloc_is_liballoc),
		cmocka_unit_test(test_errno),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_fork_under_load),
		cmocka_unit_test(test_misuse_aborts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
