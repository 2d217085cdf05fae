/* test_fork_safety.c — cmocka: fork() never hangs — beside stdio, the thread-cache transfer paths and trim, from atfork handlers that allocate, and from signal handlers that interrupted fork, malloc or free. */
/* SPDX-License-Identifier: MIT */
/*
 * Each case runs REPS times (20; FORK_SAFETY_REPS overrides; FORK_SAFETY_TEST=name
 * runs one test), each time in a fresh
 * process of its own process group. A run that has not ended after RUN_TIMEOUT
 * seconds is killed and fails its case ("hang in run k of 20"), so a hang 2 times
 * in 20 is a failure. A run exits 0 only if everything in it went well: every
 * child it forked exited as expected, and each child found a usable, consistent
 * heap (blocks allocated, written and freed; liballoc_check() == LIBALLOC_OK).
 *
 * The cases (see ports/linux/README.md for the contract they test):
 *   stdio_cycle        threads fork while others run getline() (FILE lock, then
 *                      realloc) and fflush(NULL) (list lock, then FILE locks):
 *                      glibc bug 19431's lock-order cycle.
 *   transfer_and_trim  threads fork while blocks pass between threads through
 *                      the transfer stacks and another thread trims.
 *   atfork_allocate    atfork handlers registered before and after liballoc's
 *                      allocate in prepare, parent and child.
 *   signal_single      one thread: a SIGUSR1 handler forks while the signal
 *                      interrupted fork, malloc, realloc or free (tst-mallocfork2);
 *                      the child either _exits in the handler or returns from it
 *                      and uses the heap. At most one signal per round of the
 *                      main flow (see `rounds`), however slow fork is.
 *   signal_threads     the same with threads, signals interrupting malloc and free
 *                      of the main thread (its fork is left alone: glibc's own fork
 *                      is not safe to interrupt in a multi-threaded process).
 *   locked_region      deterministic: the handler forks while this very thread
 *                      holds the heap lock (taken as malloc takes it).
 *   nested_in_prepare  deterministic: a fork from a signal handler that interrupted
 *                      this thread's fork while liballoc's prepare handler held the
 *                      stdio list lock and the heap lock; the nested child goes on
 *                      to finish the outer fork, and both of its processes must find
 *                      the heap and stdio usable by new threads.
 * and, once: a malloc from a signal handler that interrupted this thread while it
 * held the heap lock aborts with a message instead of hanging.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "liballoc_linux.h"

#define REPS 20
#define RUN_TIMEOUT 30  /* seconds for one run; a healthy run takes well under one */
#define RUN_MS 250      /* how long the randomized cases keep going per run */

/* ---- helpers ---------------------------------------------------------------- */

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *r)
{
	*r ^= *r << 13;
	*r ^= *r >> 7;
	*r ^= *r << 17;
	return *r;
}

/* Async-signal-safe message to stderr. */
static void say(const char *s)
{
	(void)!write(2, s, strlen(s));
}

static int use_heap(uint64_t seed);

/* Set in a child forked by a signal handler that returned from the handler: the
 * interrupted code goes on in the child, which must finish as soon as it notices
 * (use the heap and exit with the verdict) instead of acting as the parent. */
static volatile sig_atomic_t in_child;

static void if_child_finish(void)
{
	if (in_child)
		_exit(use_heap(11));
}

/* Wait for pid (retrying on EINTR); true if it exited with status `want`. */
static bool reaped(pid_t pid, int want)
{
	int st;
	pid_t r;
	while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	if_child_finish();  /* pid was the parent's child, not ours */
	return r == pid && WIFEXITED(st) && WEXITSTATUS(st) == want;
}

/* What every child does with its heap: 0 if usable and consistent. */
static int use_heap(uint64_t seed)
{
	uint64_t r = seed | 1;
	void *p[64];
	for (int i = 0; i < 64; i++) {
		size_t n = 1 + rnd(&r) % (i % 8 == 7 ? 300000 : 5000);
		if (!(p[i] = malloc(n)))
			return 5;
		memset(p[i], i, n < 256 ? n : 256);
	}
	for (int i = 0; i < 64; i += 2)
		free(p[i]);
	for (int i = 1; i < 64; i += 2) {
		if (((unsigned char *)p[i])[0] != (unsigned char)i)
			return 4;
		free(p[i]);
	}
	return liballoc_check() == LIBALLOC_OK ? 0 : 3;
}

static void *stdio_and_heap(void *arg)
{
	(void)arg;
	FILE *f = fopen("/dev/null", "w");  /* takes the stdio list lock */
	if (!f)
		return (void *)1;
	fprintf(f, "%d\n", 42);
	fclose(f);
	return (void *)(intptr_t)use_heap(7);
}

/* From a new thread: stdio's list lock and the heap lock are free. */
static int new_thread_can_work(void)
{
	pthread_t t;
	void *res;
	if (pthread_create(&t, NULL, stdio_and_heap, NULL) != 0)
		return 6;
	pthread_join(t, &res);
	return (int)(intptr_t)res;
}

static int reps(void)
{
	const char *e = getenv("FORK_SAFETY_REPS");
	return e && atoi(e) > 0 ? atoi(e) : REPS;
}

/* Run fn in a fresh process, reps() times; fail on a hang or a non-zero exit. */
static void run_case(const char *name, int (*fn)(void))
{
	int n = reps();
	for (int k = 1; k <= n; k++) {
		fflush(NULL);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			setpgid(0, 0);
			_exit(fn());
		}
		setpgid(pid, pid);
		double end = now() + RUN_TIMEOUT;
		siginfo_t si;
		bool ended = false;
		while (!ended && now() < end) {
			si.si_pid = 0;  /* waitid with WNOHANG leaves it 0 while the run goes on */
			if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
				ended = true;
			else
				usleep(2000);
		}
		kill(-pid, SIGKILL);  /* the run's leftovers, or the hung run itself */
		int st = 0;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (!ended)
			fail_msg("%s: hang in run %d of %d (killed after %d s)", name, k, n, RUN_TIMEOUT);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fail_msg("%s: run %d of %d %s %d", name, k, n, WIFSIGNALED(st) ? "killed by signal" : "exit status",
				 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	}
}

static atomic_bool stop;
static atomic_int failures;

static void failed(const char *what)
{
	atomic_fetch_add(&failures, 1);
	say(what);
}

/* Fork until stopped; each child uses its heap and stdio, then exits 17. */
static void *forker(void *arg)
{
	uint64_t r = (uintptr_t)arg;
	while (!atomic_load(&stop)) {
		pid_t pid = fork();
		if (pid < 0) {
			failed("fork failed\n");
			break;
		}
		if (pid == 0) {
			int code = use_heap(rnd(&r));
			FILE *f = fopen("/dev/null", "w");
			if (!f)
				code = 8;
			else
				fclose(f);
			_exit(code ? code : 17);
		}
		if (!reaped(pid, 17))
			failed("a fork child failed\n");
	}
	return NULL;
}

static void run_threads(void *(*fn)(void *), int n, pthread_t *t)
{
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, fn, (void *)(uintptr_t)(i * 7919 + 13)) != 0)
			failed("pthread_create failed\n");
}

static void join_threads(int n, pthread_t *t)
{
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

static void sleep_ms(int ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

/* ---- stdio_cycle ---------------------------------------------------------- */

static char line_path[64];

static void *reader(void *arg)
{
	(void)arg;
	FILE *f = fopen(line_path, "r");
	if (!f) {
		failed("fopen of the line file failed\n");
		return NULL;
	}
	while (!atomic_load(&stop)) {
		rewind(f);
		char *line = NULL;
		size_t cap = 0;
		if (getline(&line, &cap, f) < 0)  /* holds f's lock while it reallocs */
			failed("getline failed\n");
		free(line);
	}
	fclose(f);
	return NULL;
}

static void *flusher(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop))
		fflush(NULL);  /* holds the list lock while it takes every FILE's lock */
	return NULL;
}

static int case_stdio_cycle(void)
{
	strcpy(line_path, "/tmp/liballoc-fork-line-XXXXXX");
	int fd = mkstemp(line_path);
	if (fd < 0)
		return 10;
	FILE *f = fdopen(fd, "w");
	for (int i = 0; i < 50000; i++)  /* one long line: getline grows its buffer past the caches */
		fputc('x', f);
	fputc('\n', f);
	fclose(f);
	pthread_t readers[6], flushers[1], forkers[2];
	run_threads(reader, 6, readers);
	run_threads(flusher, 1, flushers);
	run_threads(forker, 2, forkers);
	sleep_ms(RUN_MS);
	atomic_store(&stop, true);
	join_threads(2, forkers);
	join_threads(1, flushers);
	join_threads(6, readers);
	unlink(line_path);
	return atomic_load(&failures) ? 1 : use_heap(3);
}

/* ---- transfer_and_trim ---------------------------------------------------- */

/* Mailboxes: a producer fills one with blocks of one size, a consumer frees them
 * all, so whole bins go to the transfer stacks and are adopted back. */
struct mailbox {
	pthread_mutex_t m;
	void *blocks[256];
	int n;
};
static struct mailbox boxes[4] = {
	{.m = PTHREAD_MUTEX_INITIALIZER}, {.m = PTHREAD_MUTEX_INITIALIZER},
	{.m = PTHREAD_MUTEX_INITIALIZER}, {.m = PTHREAD_MUTEX_INITIALIZER},
};

static void *producer(void *arg)
{
	uint64_t r = (uintptr_t)arg | 1;
	while (!atomic_load(&stop)) {
		struct mailbox *b = &boxes[rnd(&r) % 4];
		pthread_mutex_lock(&b->m);
		if (b->n == 0) {
			size_t size = 16 * (1 + rnd(&r) % 256);  /* every cached class up to 4 KiB */
			for (b->n = 0; b->n < 256; b->n++)
				if (!(b->blocks[b->n] = malloc(size)))
					break;
		}
		pthread_mutex_unlock(&b->m);
		sched_yield();
	}
	return NULL;
}

static void *consumer(void *arg)
{
	uint64_t r = (uintptr_t)arg | 1;
	while (!atomic_load(&stop)) {
		struct mailbox *b = &boxes[rnd(&r) % 4];
		pthread_mutex_lock(&b->m);
		while (b->n > 0)
			free(b->blocks[--b->n]);
		pthread_mutex_unlock(&b->m);
		sched_yield();
	}
	return NULL;
}

static void *trimmer(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		malloc_trim(0);  /* drains the transfer stacks under the heap lock */
		usleep(200);
	}
	return NULL;
}

static int case_transfer_and_trim(void)
{
	pthread_t prod[2], cons[2], trim[1], forkers[2];
	run_threads(producer, 2, prod);
	run_threads(consumer, 2, cons);
	run_threads(trimmer, 1, trim);
	run_threads(forker, 2, forkers);
	sleep_ms(RUN_MS);
	atomic_store(&stop, true);
	join_threads(2, forkers);
	join_threads(1, trim);
	join_threads(2, cons);
	join_threads(2, prod);
	for (int i = 0; i < 4; i++)
		while (boxes[i].n > 0)
			free(boxes[i].blocks[--boxes[i].n]);
	return atomic_load(&failures) ? 1 : use_heap(5);
}

/* ---- atfork handlers that allocate -------------------------------------------- */

/* Registered before liballoc's handlers (a constructor of higher priority than
 * liballoc's), so its prepare handler runs after liballoc's — while liballoc holds
 * the heap — and its parent and child handlers run before liballoc's. Only the
 * cases that ask for it make it act. */
static volatile sig_atomic_t early_allocates;    /* atfork_allocate */
static volatile sig_atomic_t early_raises;       /* nested_in_prepare: raise SIGUSR2 once */
static void *volatile atfork_sink;

static void churn(void)
{
	void *p = malloc(100);
	atfork_sink = p;  /* escapes: the compiler may not drop the pair */
	void *q = malloc(70000);  /* above the thread caches: takes the heap lock */
	atfork_sink = q;
	free(q);
	free(p);
}

static void early_prepare(void)
{
	if (early_allocates)
		churn();
	if (early_raises) {
		early_raises = 0;
		raise(SIGUSR2);
	}
}

static void early_after(void)
{
	if (early_allocates)
		churn();
}

__attribute__((constructor(101))) static void register_early(void)
{
	pthread_atfork(early_prepare, early_after, early_after);
}

static void late_handler(void)
{
	churn();
}

static void *loader(void *arg)
{
	uint64_t r = (uintptr_t)arg | 1;
	void *keep[16] = {0};
	while (!atomic_load(&stop)) {
		size_t i = rnd(&r) % 16;
		free(keep[i]);
		keep[i] = malloc(1 + rnd(&r) % (i < 2 ? 400000 : 6000));
	}
	for (int i = 0; i < 16; i++)
		free(keep[i]);
	return NULL;
}

static int case_atfork_allocate(void)
{
	early_allocates = 1;
	pthread_atfork(late_handler, late_handler, late_handler);
	pthread_t load[2], forkers[2];
	run_threads(loader, 2, load);
	run_threads(forker, 2, forkers);
	sleep_ms(RUN_MS);
	atomic_store(&stop, true);
	join_threads(2, forkers);
	join_threads(2, load);
	return atomic_load(&failures) ? 1 : use_heap(9);
}

/* ---- fork from a signal handler ------------------------------------------------ */

/* The handler forks. Every other time the child returns from the handler instead
 * of _exiting in it: the interrupted call then completes in the child, and the
 * main flow, seeing in_child, uses the heap and exits with the verdict. */
static volatile sig_atomic_t handler_failures;
static volatile sig_atomic_t handled;
static volatile sig_atomic_t child_returns;  /* 1: the child returns from the handler */

static void fork_in_handler(int sig)
{
	(void)sig;
	int saved = errno;
	bool ret = child_returns && (handled & 1);
	handled++;
	pid_t pid = fork();
	if (pid == 0) {
		if (ret) {
			in_child = 1;
			errno = saved;
			return;
		}
		_exit(0);
	}
	if (pid < 0) {
		say("fork in a signal handler failed\n");
		handler_failures++;
	} else {
		int st;
		pid_t r;
		while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
			;
		if (r != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			say("a child forked in a signal handler failed\n");
			handler_failures++;
		}
	}
	errno = saved;
}

static void on_signal(int sig, void (*fn)(int))
{
	struct sigaction sa = {.sa_handler = fn, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/* Rounds of the main flow (churn_until) done, in memory shared with a sender
 * process. A sender sends its next signal only when the main flow has finished a
 * round since the last one (glibc's tst-mallocfork2 paces its senders with a
 * barrier for the same reason): otherwise a handler slower than the sending period
 * (its fork and the wait for the child took 3.6 ms against 30 us on one VM) meets
 * the next signal as it returns, and the main flow stops making progress. */
static atomic_ulong *rounds;

static void share_rounds(void)
{
	void *m = mmap(NULL, sizeof *rounds, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	rounds = m;
	atomic_init(rounds, 0);
}

/* Send SIGUSR1 (to thread t, or to process pid when pid > 0); then wait for a
 * round of the main flow to end, until `stop` or the process is gone. False once
 * the target is gone. */
static bool signal_paced(pid_t pid, pthread_t t)
{
	unsigned long seen = atomic_load(rounds);
	if ((pid > 0 ? kill(pid, SIGUSR1) : pthread_kill(t, SIGUSR1)) != 0)
		return false;
	usleep(30);
	while (atomic_load(rounds) == seen && !atomic_load(&stop)) {
		if (pid > 0 && kill(pid, 0) != 0)
			return false;
		usleep(30);
	}
	return true;
}

/* The randomized main flow of tst-mallocfork2: free, malloc, sometimes realloc or
 * fork first; checked after every call for having become a handler's child. */
static int churn_until(double end, bool with_fork)
{
	static void *objects[509];
	uint64_t r = 88172645463325252ull;
	for (; now() < end; atomic_fetch_add(rounds, 1)) {
		size_t slot = rnd(&r) % 509, size = rnd(&r) % 70000;
		if (with_fork && rnd(&r) % 7 == 0) {
			pid_t pid = fork();
			if_child_finish();
			if (pid == 0)
				_exit(0);
			if (pid < 0 || !reaped(pid, 0))
				return 12;
		}
		free(objects[slot]);
		if_child_finish();
		if (rnd(&r) % 3 == 0) {
			objects[slot] = realloc(NULL, size / 2 + 1);
			if_child_finish();
			void *q = objects[slot] ? realloc(objects[slot], size + 1) : NULL;
			if_child_finish();
			if (q)
				objects[slot] = q;
		} else {
			objects[slot] = malloc(size + 1);
			if_child_finish();
		}
		if (!objects[slot])
			return 13;
		memset(objects[slot], 1, size < 64 ? size : 64);
	}
	for (size_t i = 0; i < 509; i++) {
		free(objects[i]);
		if_child_finish();
		objects[i] = NULL;
	}
	if_child_finish();
	return 0;
}

/* Hold off SIGUSR1 (the caller is done with signals), then finish if a handler's
 * child got here. */
static void signals_done(void)
{
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	if_child_finish();
}

static int case_signal_single(void)
{
	child_returns = 1;
	on_signal(SIGUSR1, fork_in_handler);
	share_rounds();
	pid_t me = getpid();
	pid_t sender = fork();
	if (sender == 0) {  /* a process, so that this one keeps a single thread */
		while (signal_paced(me, pthread_self()))
			;
		_exit(0);
	}
	int code = churn_until(now() + RUN_MS / 1000.0, true);
	signals_done();
	kill(sender, SIGKILL);
	reaped(sender, 0);
	if (!code && handled == 0)
		code = 14;  /* no signal arrived: the run tested nothing */
	return code ? code : handler_failures ? 15 : use_heap(13);
}

static pthread_t main_thread;

static void *signal_sender(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop) && signal_paced(0, main_thread))
		;
	return NULL;
}

static int case_signal_threads(void)
{
	child_returns = 1;
	on_signal(SIGUSR1, fork_in_handler);
	share_rounds();
	main_thread = pthread_self();
	sigset_t usr1, old;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, &old);  /* the threads inherit it: only main is signalled */
	pthread_t load[2], send[1];
	run_threads(loader, 2, load);
	run_threads(signal_sender, 1, send);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	int code = churn_until(now() + RUN_MS / 1000.0, false);
	signals_done();
	atomic_store(&stop, true);
	join_threads(1, send);
	join_threads(2, load);
	if (!code && handled == 0)
		code = 14;
	return code ? code : handler_failures ? 15 : atomic_load(&failures) ? 1 : use_heap(17);
}

static void *idle_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop))
		sleep_ms(5);
	return NULL;
}

/* The handler forks while this thread holds the heap lock, as a signal arriving
 * inside malloc finds it; once the child _exits in the handler, once it returns,
 * lets go of the lock (as the interrupted malloc would) and uses the heap. */
static int case_locked_region(void)
{
	pthread_t idle[1];
	run_threads(idle_thread, 1, idle);  /* with threads, the lock is really taken */
	child_returns = 1;
	on_signal(SIGUSR1, fork_in_handler);
	for (int i = 0; i < 2; i++) {
		if (liballoc_lock() != 0)
			return 20;
		raise(SIGUSR1);
		if (in_child) {
			liballoc_unlock();
			_exit(use_heap(19));
		}
		liballoc_unlock();
	}
	atomic_store(&stop, true);
	join_threads(1, idle);
	return handled != 2 ? 21 : handler_failures ? 15 : use_heap(21);
}

/* A fork from a handler of SIGUSR2, raised by early_prepare: it runs after
 * liballoc's prepare handler has taken the stdio list lock and the heap lock. */
static volatile sig_atomic_t nested_child;
static volatile sig_atomic_t nested_forks;

static void nested_fork(int sig)
{
	(void)sig;
	int saved = errno;
	nested_forks++;
	pid_t pid = fork();
	if (pid == 0) {
		nested_child = 1;  /* return into the outer fork, which goes on in this process */
		errno = saved;
		return;
	}
	if (pid < 0 || !reaped(pid, 0)) {
		say("the nested fork's child failed\n");
		handler_failures++;
	}
	errno = saved;
}

static int case_nested_in_prepare(void)
{
	pthread_t idle[1];
	run_threads(idle_thread, 1, idle);
	on_signal(SIGUSR2, nested_fork);
	early_raises = 1;
	pid_t pid = fork();
	if (pid == 0)  /* the outer fork's child, in the original process or in the nested child */
		_exit(use_heap(23) ? 30 : new_thread_can_work() ? 31 : 0);
	if (nested_child) {  /* the nested child, having finished the outer fork as a parent */
		if (pid < 0)
			_exit(32);
		if (!reaped(pid, 0))
			_exit(33);
		_exit(use_heap(25) ? 34 : new_thread_can_work() ? 35 : 0);
	}
	if (pid < 0 || !reaped(pid, 0))
		return 22;
	atomic_store(&stop, true);
	join_threads(1, idle);
	if (nested_forks != 1)
		return 24;  /* the signal did not come inside fork: nothing was tested */
	return handler_failures ? 15 : new_thread_can_work() ? 25 : use_heap(27);
}

/* ---- the tests ---------------------------------------------------------------- */

static void test_stdio_cycle(void **state)
{
	(void)state;
	run_case("stdio_cycle", case_stdio_cycle);
}

static void test_transfer_and_trim(void **state)
{
	(void)state;
	run_case("transfer_and_trim", case_transfer_and_trim);
}

static void test_atfork_allocate(void **state)
{
	(void)state;
	run_case("atfork_allocate", case_atfork_allocate);
}

static void test_signal_single(void **state)
{
	(void)state;
	run_case("signal_single", case_signal_single);
}

static void test_signal_threads(void **state)
{
	(void)state;
	run_case("signal_threads", case_signal_threads);
}

static void test_locked_region(void **state)
{
	(void)state;
	run_case("locked_region", case_locked_region);
}

static void test_nested_in_prepare(void **state)
{
	(void)state;
	run_case("nested_in_prepare", case_nested_in_prepare);
}

/* malloc from a handler that interrupted this thread inside the allocator: the
 * process aborts with one line on stderr instead of hanging. */
static void malloc_in_handler(int sig)
{
	(void)sig;
	atfork_sink = malloc(10);
}

static void test_reentry_aborts(void **state)
{
	(void)state;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 2);
		alarm(20);
		pthread_t idle[1];
		run_threads(idle_thread, 1, idle);
		on_signal(SIGUSR1, malloc_in_handler);
		liballoc_lock();
		raise(SIGUSR1);
		_exit(0);  /* not reached */
	}
	close(fds[1]);
	char buf[512] = {0};
	size_t got = 0;
	ssize_t n;
	while (got < sizeof buf - 1 && (n = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0)
		got += (size_t)n;
	close(fds[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
	assert_non_null(strstr(buf, "liballoc: malloc/free called from a signal handler that interrupted"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stdio_cycle),
		cmocka_unit_test(test_transfer_and_trim),
		cmocka_unit_test(test_atfork_allocate),
		cmocka_unit_test(test_signal_single),
		cmocka_unit_test(test_signal_threads),
		cmocka_unit_test(test_locked_region),
		cmocka_unit_test(test_nested_in_prepare),
		cmocka_unit_test(test_reentry_aborts),
	};
	if (getenv("FORK_SAFETY_TEST"))  /* e.g. FORK_SAFETY_TEST=test_stdio_cycle */
		cmocka_set_test_filter(getenv("FORK_SAFETY_TEST"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
