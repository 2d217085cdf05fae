/* support.c — our stand-in for glibc's support/ test driver and helpers, linked into each glibc malloc test (see include/glibc_support.h). */
/* SPDX-License-Identifier: MIT */
/*
 * The driver (glibc_test_main) checks first that malloc is the one the runner
 * meant to test: with GLIBC_MALLOC_EXPECT=NAME in the environment, the object
 * that defines malloc, as the dynamic linker bound it, must have NAME in its path
 * (liballoc.so under LD_PRELOAD, libc.so.6 for the control run). Then it makes a
 * private directory for the test's files, runs the test in a child process of its
 * own process group, kills the group on timeout, and turns the outcome into the
 * exit status: 0 pass, 1 fail, 77 unsupported.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "glibc_support.h"

const char *test_dir = "/tmp";
unsigned int test_verbose;

/* ---- failures -------------------------------------------------------------- */

/* Failures recorded in any process of the test: a shared page made by the driver
 * before it forks (a plain counter when a test runs without the driver). */
static unsigned int local_failures;
static unsigned int *failures = &local_failures;

void support_record_failure(void)
{
	__atomic_add_fetch(failures, 1, __ATOMIC_RELAXED);
}

static void vreport(const char *file, int line, const char *fmt, va_list ap)
{
	fflush(stdout);
	printf("error: %s:%d: ", file, line);
	vprintf(fmt, ap);
	if (!*fmt || fmt[strlen(fmt) - 1] != '\n')
		putchar('\n');
	fflush(stdout);
}

void glibc_support_fail(int exit_status, const char *file, int line, const char *fmt, ...)
{
	(void)exit_status;
	va_list ap;
	va_start(ap, fmt);
	vreport(file, line, fmt, ap);
	va_end(ap);
	support_record_failure();
}

void glibc_support_fail_exit(int exit_status, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(file, line, fmt, ap);
	va_end(ap);
	if (exit_status != EXIT_UNSUPPORTED)
		support_record_failure();
	exit(exit_status);
}

void glibc_support_verify_failed(const char *expr, const char *file, int line, int exit_now)
{
	int e = errno;
	fflush(stdout);
	printf("error: %s:%d: not true: %s (errno %d: %s)\n", file, line, expr, e, strerror(e));
	fflush(stdout);
	support_record_failure();
	if (exit_now)
		exit(1);
}

void glibc_support_compare(int left_negative, unsigned long long left, int right_negative, unsigned long long right,
			   const char *left_expr, const char *right_expr, const char *file, int line)
{
	if (left_negative == right_negative && left == right)
		return;
	fflush(stdout);
	printf("error: %s:%d: numeric comparison failure\n", file, line);
	if (left_negative)
		printf("   left: %lld; from: %s\n", (long long)left, left_expr);
	else
		printf("   left: %llu (0x%llx); from: %s\n", left, left, left_expr);
	if (right_negative)
		printf("  right: %lld; from: %s\n", (long long)right, right_expr);
	else
		printf("  right: %llu (0x%llx); from: %s\n", right, right, right_expr);
	fflush(stdout);
	support_record_failure();
}

/* ---- support/support.h ----------------------------------------------------- */

static void *nonnull(void *p, const char *what, size_t n)
{
	if (!p && n)
		FAIL_EXIT1("%s (%zu bytes): out of memory", what, n);
	return p;
}

void *xmalloc(size_t n)
{
	return nonnull(malloc(n), "malloc", n ? n : 1);
}

void *xcalloc(size_t n, size_t m)
{
	return nonnull(calloc(n, m), "calloc", n && m ? n * m : 1);
}

void *xrealloc(void *p, size_t n)
{
	return nonnull(realloc(p, n), "realloc", n);
}

char *xstrdup(const char *s)
{
	return nonnull(strdup(s), "strdup", strlen(s) + 1);
}

void write_message(const char *message)
{
	int e = errno;  /* called from signal handlers */
	size_t n = strlen(message);
	while (n) {
		ssize_t w = write(STDOUT_FILENO, message, n);
		if (w <= 0 && errno != EINTR)
			break;
		if (w > 0) {
			message += w;
			n -= (size_t)w;
		}
	}
	errno = e;
}

void ignore_stderr(void)
{
	int fd = open("/dev/null", O_WRONLY);
	if (fd < 0)
		FAIL_EXIT1("open /dev/null: %m");
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* A size header in front keeps support_shared_free's munmap exact. */
void *support_shared_allocate(size_t size)
{
	size_t total = size + 64;
	void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		FAIL_EXIT1("mmap (MAP_SHARED, %zu): %m", total);
	*(size_t *)p = total;
	return (char *)p + 64;
}

void support_shared_free(void *q)
{
	char *p = (char *)q - 64;
	munmap(p, *(size_t *)p);
}

/* ---- support/xthread.h ----------------------------------------------------- */

static void check_errno(int err, const char *what)
{
	if (err) {
		errno = err;
		FAIL_EXIT1("%s: %m", what);
	}
}

pthread_t xpthread_create(pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	pthread_t t;
	check_errno(pthread_create(&t, attr, fn, arg), "pthread_create");
	return t;
}

void *xpthread_join(pthread_t thr)
{
	void *r;
	check_errno(pthread_join(thr, &r), "pthread_join");
	return r;
}

void xpthread_barrier_init(pthread_barrier_t *barrier, pthread_barrierattr_t *attr, unsigned int count)
{
	check_errno(pthread_barrier_init(barrier, attr, count), "pthread_barrier_init");
}

int xpthread_barrier_wait(pthread_barrier_t *barrier)
{
	int r = pthread_barrier_wait(barrier);
	if (r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD)
		check_errno(r, "pthread_barrier_wait");
	return r == PTHREAD_BARRIER_SERIAL_THREAD;
}

void xpthread_barrier_destroy(pthread_barrier_t *barrier)
{
	check_errno(pthread_barrier_destroy(barrier), "pthread_barrier_destroy");
}

void xpthread_barrierattr_init(pthread_barrierattr_t *attr)
{
	check_errno(pthread_barrierattr_init(attr), "pthread_barrierattr_init");
}

void xpthread_barrierattr_setpshared(pthread_barrierattr_t *attr, int pshared)
{
	check_errno(pthread_barrierattr_setpshared(attr, pshared), "pthread_barrierattr_setpshared");
}

void xpthread_barrierattr_destroy(pthread_barrierattr_t *attr)
{
	check_errno(pthread_barrierattr_destroy(attr), "pthread_barrierattr_destroy");
}

void xpthread_kill(pthread_t thr, int sig)
{
	check_errno(pthread_kill(thr, sig), "pthread_kill");
}

void xpthread_mutex_lock(pthread_mutex_t *m)
{
	check_errno(pthread_mutex_lock(m), "pthread_mutex_lock");
}

void xpthread_mutex_unlock(pthread_mutex_t *m)
{
	check_errno(pthread_mutex_unlock(m), "pthread_mutex_unlock");
}

/* ---- support/xunistd.h, xsignal.h ------------------------------------------ */

pid_t xfork(void)
{
	pid_t p = fork();
	if (p < 0)
		FAIL_EXIT1("fork: %m");
	return p;
}

pid_t xwaitpid(pid_t pid, int *status, int flags)
{
	pid_t r;
	while ((r = waitpid(pid, status, flags)) < 0 && errno == EINTR)
		;
	if (r < 0)
		FAIL_EXIT1("waitpid (%d): %m", (int)pid);
	return r;
}

int xopen(const char *path, int flags, mode_t mode)
{
	int fd = open(path, flags, mode);
	if (fd < 0)
		FAIL_EXIT1("open (\"%s\", 0x%x): %m", path, flags);
	return fd;
}

void xclose(int fd)
{
	if (close(fd) != 0 && errno != EINTR)
		FAIL_EXIT1("close (%d): %m", fd);
}

long xsysconf(int name)
{
	errno = 0;
	long r = sysconf(name);
	if (r < 0)
		FAIL_EXIT1("sysconf (%d): %m", name);
	return r;
}

void *xmmap(void *addr, size_t length, int prot, int flags, int fd)
{
	void *p = mmap(addr, length, prot, flags, fd, 0);
	if (p == MAP_FAILED)
		FAIL_EXIT1("mmap (%zu bytes, prot 0x%x, flags 0x%x): %m", length, prot, flags);
	return p;
}

void xmunmap(void *addr, size_t length)
{
	if (munmap(addr, length) != 0)
		FAIL_EXIT1("munmap (%p, %zu): %m", addr, length);
}

sighandler_t xsignal(int sig, sighandler_t handler)
{
	sighandler_t old = signal(sig, handler);
	if (old == SIG_ERR)
		FAIL_EXIT1("signal (%d): %m", sig);
	return old;
}

/* ---- support/temp_file.h --------------------------------------------------- */

int create_temp_file(const char *base, char **filename)
{
	char path[4096];
	int n = snprintf(path, sizeof path, "%s/%sXXXXXX", test_dir, base);
	if (n < 0 || (size_t)n >= sizeof path) {
		printf("error: create_temp_file: name too long\n");
		return -1;
	}
	int fd = mkstemp(path);
	if (fd < 0) {
		printf("error: mkstemp (\"%s\"): %m\n", path);
		return -1;
	}
	if (filename)
		*filename = xstrdup(path);
	return fd;
}

void add_temp_file(const char *name)
{
	(void)name;  /* every file lives in test_dir, which the driver removes whole */
}

/* ---- the driver ------------------------------------------------------------ */

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		char path[4096];
		while ((e = readdir(d)) != NULL) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			if (unlink(path) != 0 && errno == EISDIR)
				remove_dir(path);
		}
		closedir(d);
	}
	rmdir(dir);
}

/* Is malloc the one GLIBC_MALLOC_EXPECT names? */
static bool malloc_is_expected(void)
{
	const char *want = getenv("GLIBC_MALLOC_EXPECT");
	if (!want || !*want)
		return true;
	void *(*volatile m)(size_t) = malloc;
	Dl_info info;
	if (!dladdr((void *)m, &info) || !info.dli_fname) {
		printf("error: cannot tell which object defines malloc (dladdr failed)\n");
		return false;
	}
	if (!strstr(info.dli_fname, want)) {
		printf("error: malloc is %s's, not %s's: LD_PRELOAD=%s did not take effect\n", info.dli_fname, want,
		       getenv("LD_PRELOAD") ? getenv("LD_PRELOAD") : "");
		return false;
	}
	if (test_verbose)
		printf("info: malloc is defined by %s\n", info.dli_fname);
	return true;
}

static int run_test(const struct glibc_test_config *c, int argc, char **argv)
{
	if (c->prepare_function)
		c->prepare_function(argc, argv);
	return c->test_function_argv ? c->test_function_argv(argc, argv) : c->test_function();
}

static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
}

static int verdict(const struct glibc_test_config *c, int status)
{
	unsigned int recorded = __atomic_load_n(failures, __ATOMIC_RELAXED);
	if (c->expected_signal) {
		if (WIFSIGNALED(status) && WTERMSIG(status) == c->expected_signal)
			return recorded ? 1 : 0;
		if (WIFSIGNALED(status))
			printf("error: expected signal %d (%s), got signal %d (%s)\n", c->expected_signal,
			       strsignal(c->expected_signal), WTERMSIG(status), strsignal(WTERMSIG(status)));
		else
			printf("error: expected signal %d (%s), but the test exited with status %d\n", c->expected_signal,
			       strsignal(c->expected_signal), WEXITSTATUS(status));
		return 1;
	}
	if (WIFSIGNALED(status)) {
		printf("error: the test was killed by signal %d (%s)\n", WTERMSIG(status), strsignal(WTERMSIG(status)));
		return 1;
	}
	int code = WEXITSTATUS(status);
	if (code == EXIT_UNSUPPORTED && c->expected_status != EXIT_UNSUPPORTED) {
		printf("info: the test reports it is unsupported here\n");
		return EXIT_UNSUPPORTED;
	}
	if (code != c->expected_status) {
		printf("error: expected exit status %d, got %d\n", c->expected_status, code);
		return 1;
	}
	if (recorded) {
		printf("error: %u test failure%s recorded\n", recorded, recorded == 1 ? "" : "s");
		return 1;
	}
	return 0;
}

int glibc_test_main(int argc, char **argv, const struct glibc_test_config *c)
{
	bool direct = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--direct"))
			direct = true;
		else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v"))
			test_verbose++;
		else {
			printf("usage: %s [--direct] [--verbose]\n", argv[0]);
			return 1;
		}
	}
	if (!c->no_setvbuf)
		setvbuf(stdout, NULL, _IONBF, 0);
	if (!malloc_is_expected())
		return 1;

	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED) {
		printf("error: mmap: %m\n");
		return 1;
	}
	failures = page;

	const char *tmp = getenv("TMPDIR");
	static char dir[4096];
	snprintf(dir, sizeof dir, "%s/glibc-malloc-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		printf("error: mkdtemp (\"%s\"): %m\n", dir);
		return 1;
	}
	test_dir = dir;

	if (direct) {
		int r = run_test(c, argc, argv);
		remove_dir(dir);
		return verdict(c, W_EXITCODE(r & 0xff, 0));
	}

	int timeout = c->timeout ? c->timeout : DEFAULT_TIMEOUT;
	const char *factor = getenv("TIMEOUTFACTOR");
	if (factor && atoi(factor) > 0)
		timeout *= atoi(factor);

	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		printf("error: fork: %m\n");
		return 1;
	}
	if (pid == 0) {
		setpgid(0, 0);
		exit(run_test(c, argc, argv));
	}
	setpgid(pid, pid);  /* also here: either may run first */

	struct sigaction sa = {.sa_handler = on_alarm};  /* no SA_RESTART: waitpid returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	alarm((unsigned)timeout);
	/* Wait without reaping: while the test's process is a zombie, its process
	 * group id cannot be reused, so killing the group kills only its processes. */
	siginfo_t info;
	int r;
	while ((r = waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT)) < 0 && errno == EINTR && !timed_out)
		;
	alarm(0);
	kill(-pid, SIGKILL);  /* on timeout the test; otherwise whatever it left running */
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	int result;
	if (r != 0) {
		if (c->cleanup_function)
			c->cleanup_function();
		printf("error: timed out after %d s: killed the test's process group\n", timeout);
		result = 1;
	} else {
		result = verdict(c, status);
	}
	remove_dir(dir);
	return result;
}
