/* glibc_support.h — our stand-in for the parts of glibc's support/ test library that glibc's malloc tests use. */
/* SPDX-License-Identifier: MIT */
/*
 * glibc's malloc/tst-*.c include <support/check.h>, <support/xthread.h>, ... and
 * end with #include <support/test-driver.c>. The headers of the same names in
 * this directory all include this one; support.c implements it. Written for
 * liballoc from the interface the tests use (names, arguments, exit statuses),
 * not from glibc's code. Only what the tests of tests/glibc-malloc/meson.build
 * need is here; a test that uses more does not compile, which is the signal to
 * add it.
 *
 * Conventions kept from glibc's harness, because the tests rely on them:
 *   - exit status 0 passes, 77 (EXIT_UNSUPPORTED) is "unsupported", anything
 *     else fails; a test may also expect a signal (EXPECTED_SIGNAL);
 *   - the test runs in a child process in its own process group, killed after
 *     TIMEOUT seconds (DEFAULT_TIMEOUT unless the test sets it, times the
 *     TIMEOUTFACTOR environment variable); --direct runs it in-process;
 *   - failures recorded by TEST_VERIFY, TEST_COMPARE or FAIL in any process of
 *     the test (forked ones too) make it fail even if do_test returns 0.
 */
#ifndef GLIBC_SUPPORT_H
#define GLIBC_SUPPORT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
	EXIT_UNSUPPORTED = 77,  /* the test cannot run here */
	DEFAULT_TIMEOUT = 20,   /* seconds */
};

/* ---- the driver (support/test-driver.h) ---- */
struct glibc_test_config {
	int (*test_function)(void);
	int (*test_function_argv)(int argc, char **argv);
	void (*prepare_function)(int argc, char **argv);
	void (*cleanup_function)(void);
	int expected_status;
	int expected_signal;
	int timeout;            /* seconds; 0: DEFAULT_TIMEOUT */
	int no_setvbuf;
};
int glibc_test_main(int argc, char **argv, const struct glibc_test_config *config);
extern const char *test_dir;      /* a private directory for the test's files */
extern unsigned int test_verbose; /* --verbose given */

/* ---- failures (support/check.h) ---- */
void support_record_failure(void);
void glibc_support_fail(int exit_status, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
__attribute__((noreturn)) void glibc_support_fail_exit(int exit_status, const char *file, int line,
						       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void glibc_support_verify_failed(const char *expr, const char *file, int line, int exit_now);
void glibc_support_compare(int left_negative, unsigned long long left, int right_negative, unsigned long long right,
			   const char *left_expr, const char *right_expr, const char *file, int line);

#define FAIL(...) glibc_support_fail(0, __FILE__, __LINE__, __VA_ARGS__)
#define FAIL_EXIT(status, ...) glibc_support_fail_exit(status, __FILE__, __LINE__, __VA_ARGS__)
#define FAIL_EXIT1(...) FAIL_EXIT(1, __VA_ARGS__)
#define FAIL_RET(...) return (FAIL(__VA_ARGS__), 1)
#define FAIL_UNSUPPORTED(...) FAIL_EXIT(EXIT_UNSUPPORTED, __VA_ARGS__)
#define TEST_VERIFY(expr) ((expr) ? (void)0 : glibc_support_verify_failed(#expr, __FILE__, __LINE__, 0))
#define TEST_VERIFY_EXIT(expr) ((expr) ? (void)0 : glibc_support_verify_failed(#expr, __FILE__, __LINE__, 1))
/* Integers of any types, compared by value (a negative never equals a large unsigned). */
#define TEST_COMPARE(left, right)                                                                   \
	do {                                                                                        \
		__typeof__(left) tc_left_ = (left);                                                 \
		__typeof__(right) tc_right_ = (right);                                              \
		glibc_support_compare(tc_left_ < 0, (unsigned long long)tc_left_, tc_right_ < 0,    \
				      (unsigned long long)tc_right_, #left, #right, __FILE__, __LINE__); \
	} while (0)

/* ---- support/support.h ---- */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
void write_message(const char *message);           /* write(2) to stdout: for signal handlers */
void ignore_stderr(void);                           /* stderr to /dev/null */
void *support_shared_allocate(size_t size);         /* zeroed, shared with forked children */
void support_shared_free(void *p);

/* ---- support/xthread.h ---- */
pthread_t xpthread_create(pthread_attr_t *attr, void *(*fn)(void *), void *arg);
void *xpthread_join(pthread_t thr);
void xpthread_barrier_init(pthread_barrier_t *barrier, pthread_barrierattr_t *attr, unsigned int count);
int xpthread_barrier_wait(pthread_barrier_t *barrier);  /* 1 in exactly one thread, else 0 */
void xpthread_barrier_destroy(pthread_barrier_t *barrier);
void xpthread_barrierattr_init(pthread_barrierattr_t *attr);
void xpthread_barrierattr_setpshared(pthread_barrierattr_t *attr, int pshared);
void xpthread_barrierattr_destroy(pthread_barrierattr_t *attr);
void xpthread_kill(pthread_t thr, int sig);
void xpthread_mutex_lock(pthread_mutex_t *m);
void xpthread_mutex_unlock(pthread_mutex_t *m);

/* ---- support/xunistd.h ---- */
pid_t xfork(void);
pid_t xwaitpid(pid_t pid, int *status, int flags);
int xopen(const char *path, int flags, mode_t mode);
void xclose(int fd);
long xsysconf(int name);
void *xmmap(void *addr, size_t length, int prot, int flags, int fd);
void xmunmap(void *addr, size_t length);

/* ---- support/xsignal.h ---- */
sighandler_t xsignal(int sig, sighandler_t handler);

/* ---- support/temp_file.h ---- */
/* A new file in test_dir named after base; *filename (if not NULL) gets its
 * malloc'd path. Returns the open descriptor, or -1. Removed when the test ends. */
int create_temp_file(const char *base, char **filename);
void add_temp_file(const char *name);

#ifdef __cplusplus
}
#endif
#endif
