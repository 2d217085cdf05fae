/* test_fork.c — cmocka: fork from several threads while others allocate; children free inherited blocks, allocate, start threads and exit cleanly. */
/* SPDX-License-Identifier: MIT */
/*
 * A fork while another thread holds the heap lock (or is between cache and
 * heap) must leave the child a usable, consistent heap: the port's atfork
 * handlers take the lock around fork. Here two threads fork repeatedly while
 * three others allocate, reallocate and free blocks of every size, huge ones
 * included (mmap/munmap). Each child frees blocks its parent made before the
 * fork, checks their content, allocates, runs a thread of its own, checks the
 * heap, and exits through exit() (atexit handlers run) or _exit(). A deadlock
 * ends in SIGALRM.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
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

#define INHERITED 64
#define FORKS_PER_THREAD 150

static unsigned char *inherited[INHERITED];
static size_t inherited_n[INHERITED];
static atomic_bool stop;
static atomic_int failed;
static void *volatile sink;

static uint64_t next(uint64_t *r)
{
	*r ^= *r << 13;
	*r ^= *r >> 7;
	*r ^= *r << 17;
	return *r;
}

static size_t any_size(uint64_t *r)
{
	unsigned bits = (unsigned)(next(r) % 21);  /* up to 2 MiB: chunks and huge runs */
	return (size_t)(next(r) % ((size_t)1 << bits)) + 1;
}

static void *load(void *arg)
{
	uint64_t r = (uintptr_t)arg;
	void *keep[32] = {0};
	while (!atomic_load(&stop)) {
		size_t i = next(&r) % 32, n = any_size(&r);
		if (keep[i] && next(&r) % 2) {
			void *q = realloc(keep[i], n);
			if (q)
				keep[i] = q;
		} else {
			free(keep[i]);
			keep[i] = malloc(n);
			if (keep[i])
				memset(keep[i], 0x5c, n < 64 ? n : 64);
		}
	}
	for (int i = 0; i < 32; i++)
		free(keep[i]);
	return NULL;
}

static void *child_thread(void *arg)
{
	uint64_t r = (uintptr_t)arg;
	for (int i = 0; i < 200; i++) {
		void *p = malloc(any_size(&r) % 5000);
		sink = p;
		free(p);
	}
	return arg;
}

/* Runs in the child: 0 when all went well. */
static int child(uint64_t r)
{
	alarm(20);
	for (int i = 0; i < INHERITED; i += 2) {  /* half of the parent's blocks */
		for (size_t k = 0; k < inherited_n[i]; k++)
			if (inherited[i][k] != (unsigned char)(i + k))
				return 4;
		free(inherited[i]);
	}
	void *p[100];
	for (int k = 0; k < 100; k++)
		if (!(p[k] = malloc(any_size(&r))))
			return 5;
	pthread_t t;
	if (pthread_create(&t, NULL, child_thread, (void *)(uintptr_t)(r | 1)) != 0)
		return 6;
	pthread_join(t, NULL);
	for (int k = 0; k < 100; k++)
		free(p[k]);
	return liballoc_check() == LIBALLOC_OK ? 0 : 3;
}

static void *forker(void *arg)
{
	uint64_t r = (uintptr_t)arg;
	for (int i = 0; i < FORKS_PER_THREAD; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			atomic_fetch_add(&failed, 1);
			break;
		}
		if (pid == 0) {
			int code = child(next(&r));
			if (i % 2)
				exit(code);  /* atexit handlers and stdio flushing run too */
			_exit(code);
		}
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "fork %d: child %s %d\n", i, WIFSIGNALED(st) ? "killed by signal" : "exit status",
				WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
			atomic_fetch_add(&failed, 1);
		}
	}
	return NULL;
}

static void test_fork_from_threads_under_load(void **state)
{
	(void)state;
	for (int i = 0; i < INHERITED; i++) {
		inherited_n[i] = (size_t)1 << (i % 20);
		inherited[i] = malloc(inherited_n[i]);
		assert_non_null(inherited[i]);
		for (size_t k = 0; k < inherited_n[i]; k++)
			inherited[i][k] = (unsigned char)(i + k);
	}
	pthread_t busy[3], forkers[2];
	atomic_store(&stop, false);
	for (uintptr_t i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&busy[i], NULL, load, (void *)(i * 7919 + 17)), 0);
	for (uintptr_t i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&forkers[i], NULL, forker, (void *)(i * 104729 + 3)), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(forkers[i], NULL);
	atomic_store(&stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(busy[i], NULL);
	assert_int_equal(atomic_load(&failed), 0);
	for (int i = 0; i < INHERITED; i++) {  /* the parent's copies are untouched */
		for (size_t k = 0; k < inherited_n[i]; k++)
			assert_int_equal(inherited[i][k], (unsigned char)(i + k));
		free(inherited[i]);
	}
	assert_int_equal(liballoc_check(), LIBALLOC_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork_from_threads_under_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
