/* os.c — the Linux port's hooks and OS services: pages from mmap/munmap, the heap lock, fork safety, thread exit, errno, entropy. */
/* SPDX-License-Identifier: MIT */
/*
 * Preconditions (the core's contract, liballoc.h section 2): alloc_page and
 * free_page run with the heap lock held and must not allocate. So this file calls
 * only system calls, atomics and pthread functions that do not allocate.
 *
 * LIBALLOC_PAGE_SIZE must be a multiple of the kernel's page size, so every range
 * the core passes to free_page (whole runs or page-aligned sub-ranges) is one that
 * munmap accepts; the constructor checks it.
 *
 * The fork contract this file keeps is stated in README.md beside it ("fork").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "liballoc.h"

void *liballoc_alloc_page(size_t pages)
{
	size_t bytes;
	if (__builtin_mul_overflow(pages, (size_t)LIBALLOC_PAGE_SIZE, &bytes))
		return NULL;
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int liballoc_free_page(void *addr, size_t pages)
{
	int saved = errno;  /* free() must preserve errno */
	int r = munmap(addr, pages * (size_t)LIBALLOC_PAGE_SIZE);
	errno = saved;
	return r;
}

/*
 * ---- The heap lock ------------------------------------------------------------
 *
 * A futex lock whose word is its holder's thread number: 0 when free, else the
 * holder's number, with LOCK_WAITERS set when a thread may be asleep on it
 * (U. Drepper, "Futexes Are Tricky", 2011, mutex 2 — with the owner in the word).
 * A pthread mutex records its owner only after it has taken the lock, so a signal
 * handler running between the two could not tell that its own thread holds the
 * lock; here taking the lock and recording the owner are one compare-and-swap. The
 * fork handlers rely on that: a fork() from a signal handler that interrupted this
 * thread inside the allocator sees that the lock is its own and does not wait for
 * it (which would never end).
 *
 * While the process has one thread (glibc's __libc_single_threaded), the lock is
 * skipped, as glibc skips its arena locks. This is safe because the flag only turns
 * false in pthread_create, which the allocator never calls, so it cannot change
 * between a lock and its unlock; and it never turns true again.
 */
#define LOCK_WAITERS 0x80000000u
#define LOCK_SPINS 100  /* tries before sleeping, as glibc's adaptive mutex */

static uint32_t heap_lock;
static uint32_t thread_numbers;                  /* the last number handed out */
static LIBALLOC_THREAD_LOCAL uint32_t thread_no; /* this thread's number; 0 until it needs one */

/* Set only by the thread holding the lock, read by it (and by a fork child, which
 * is that thread): the lock is held across fork() by this thread's atfork handler;
 * how many liballoc_lock calls it has since re-entered (see lock_contended); a fork
 * child whose interrupted allocator call still holds the lock must call
 * liballoc_fork_child() when it lets go. */
static bool fork_hold;
static uint32_t lock_nest;
static bool fork_child_pending;

/* A number unique to the calling thread among the process's threads (1 to 2^31-1),
 * kept across fork by the one thread a child has. No system call, no allocation. */
static uint32_t self_no(void)
{
	uint32_t n = thread_no;
	while (__builtin_expect(n == 0, 0))
		thread_no = n = __atomic_add_fetch(&thread_numbers, 1, __ATOMIC_RELAXED) & ~LOCK_WAITERS;
	return n;
}

static inline uint32_t lock_holder(void)
{
	return __atomic_load_n(&heap_lock, __ATOMIC_RELAXED) & ~LOCK_WAITERS;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static long futex(uint32_t *word, int op, uint32_t val)
{
	int saved = errno;  /* free() must preserve errno; EAGAIN/EINTR here are routine */
	long r = syscall(SYS_futex, word, op, val, NULL, NULL, 0);
	errno = saved;
	return r;
}

static inline bool try_take(uint32_t expect, uint32_t word)
{
	return __atomic_compare_exchange_n(&heap_lock, &expect, word, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/* Take the lock for thread `me`, spinning a little, then sleeping on the futex. */
static void take_slow(uint32_t me)
{
	for (int i = 0; i < LOCK_SPINS; i++) {
		cpu_relax();
		if (__atomic_load_n(&heap_lock, __ATOMIC_RELAXED) == 0 && try_take(0, me))
			return;
	}
	for (;;) {
		uint32_t v = __atomic_load_n(&heap_lock, __ATOMIC_RELAXED);
		if (v == 0) {
			if (try_take(0, me | LOCK_WAITERS))  /* others may sleep: keep the mark */
				return;
			continue;
		}
		if (!(v & LOCK_WAITERS)) {
			if (!try_take(v, v | LOCK_WAITERS))
				continue;
			v |= LOCK_WAITERS;
		}
		futex(&heap_lock, FUTEX_WAIT_PRIVATE, v);
	}
}

static inline void take(uint32_t me)
{
	if (!try_take(0, me))
		take_slow(me);
}

static void run_pending_fork_child(void);

static inline void release(void)
{
	if (__atomic_exchange_n(&heap_lock, 0, __ATOMIC_RELEASE) & LOCK_WAITERS)
		futex(&heap_lock, FUTEX_WAKE_PRIVATE, 1);
	if (__builtin_expect(fork_child_pending, 0))
		run_pending_fork_child();
}

/* The lock was not free. If this thread holds it, it is either a fork() whose
 * atfork handler holds the heap (consistent: no allocator call of this thread is
 * under way) and whose later atfork handlers allocate — let them in — or an
 * allocator call from a signal handler that interrupted this thread inside the
 * allocator, which cannot be served: say so and abort rather than hang. */
__attribute__((noinline)) static int lock_contended(uint32_t me)
{
	if (lock_holder() == me) {
		if (fork_hold) {
			lock_nest++;
			return 0;
		}
		static const char msg[] = "liballoc: malloc/free called from a signal handler that interrupted "
					  "malloc/free in the same thread\n";
		(void)!write(2, msg, sizeof msg - 1);
		abort();
	}
	take_slow(me);
	return 0;
}

int liballoc_lock(void)
{
	if (__libc_single_threaded)
		return 0;
	uint32_t me = self_no();
	if (__builtin_expect(try_take(0, me), 1))
		return 0;
	return lock_contended(me);
}

int liballoc_unlock(void)
{
	if (__libc_single_threaded)
		return 0;
	if (lock_nest) {  /* a re-entry by the forking thread (see lock_contended) */
		lock_nest--;
		return 0;
	}
	release();
	return 0;
}

void liballoc_linux_set_errno(int e)
{
	errno = e;
}

/* 8 of the 16 random bytes the kernel gives every process (AT_RANDOM): no system
 * call, no allocation, available before any constructor runs. */
uint64_t liballoc_linux_entropy(void)
{
	uint64_t seed = 0;
	const void *r = (const void *)getauxval(AT_RANDOM);
	if (r)
		memcpy(&seed, (const char *)r + 8, sizeof seed);  /* bytes 0-7 are glibc's stack guard */
	return seed;
}

/* A thread's cache goes back to the heap when the thread ends: the key's
 * destructor runs for every thread that set a non-NULL value. The key is made on
 * first use (malloc runs before constructors), with pthread_once; keys below 32
 * need no allocation in glibc, and this one is among the first. */
static pthread_key_t cache_key;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

static void thread_ends(void *unused)
{
	(void)unused;
	liballoc_thread_exit();
}

static void make_cache_key(void)
{
	pthread_key_create(&cache_key, thread_ends);
}

void liballoc_linux_thread_register(void)
{
	pthread_once(&cache_key_once, make_cache_key);
	pthread_setspecific(cache_key, (void *)1);
}

/*
 * ---- fork ---------------------------------------------------------------------
 *
 * fork() while another thread holds the heap lock would leave the child a lock no
 * one will release and a heap caught mid-update. So, when the process has threads,
 * the prepare handler takes the heap lock (the heap is then consistent) and holds
 * it across fork; the parent releases it, the child resets it and abandons the
 * caches of the threads it does not have (liballoc_fork_child).
 *
 * Lock order. glibc's fork() runs the prepare handlers first, then takes its stdio
 * list lock (_IO_list_lock); fflush(NULL) holds that lock while it waits for each
 * FILE's lock, and a getline() holds its FILE's lock while it calls realloc. Holding
 * the heap lock while waiting for the list lock would close the cycle
 * heap -> list -> FILE -> heap (glibc bug 19431). So the prepare handler takes the
 * list lock FIRST (it is recursive: glibc's own take in fork then just counts), and
 * every thread takes these locks in the order list -> FILE -> heap. No code holding
 * the heap lock waits for any other lock: the allocator calls only mmap/munmap and
 * futex under it, and a thread that waits for the heap lock in prepare holds only
 * the list lock, which no holder of the heap lock ever waits for. The child does
 * not release the list lock: glibc resets it in every multi-threaded fork, and so
 * does the child handler, in case glibc's idea of "multi-threaded" differed.
 *
 * The prepare handler runs after the prepare handlers registered after it (glibc
 * runs them last-registered first); it is registered by this library's constructor,
 * so it is normally the last to run, as glibc's own malloc locking is. Handlers
 * registered before it run while it holds the heap: their calls to the allocator
 * are let in (lock_contended), since the heap is consistent and only this thread
 * runs it until the child or parent handler.
 *
 * Signals. A fork() from a signal handler (POSIX no longer requires fork to be
 * async-signal-safe; glibc makes it so for single-threaded processes):
 *  - while the process has one thread, nothing is taken (the lock is skipped
 *    anyway), so a handler's fork() that interrupted fork, malloc or free cannot
 *    wait for anything of ours; the child's heap is the parent's, and the
 *    interrupted call completes in both when the handler returns;
 *  - with threads, a handler's fork() that interrupted this thread while it held
 *    the heap lock (inside malloc or free, or inside an outer fork's handlers) sees
 *    that the lock is its own and takes nothing; the child then runs
 *    liballoc_fork_child() when the interrupted call lets go of the lock. Signals
 *    are blocked while the handlers below take or give back the locks, so a
 *    nested fork never sees them half taken. (glibc's own fork takes its atfork and
 *    malloc locks without such care: a fork from a handler that interrupted
 *    glibc's fork in a multi-threaded process may hang inside glibc.)
 *
 * fork_depth counts this thread's fork() calls under way (nested by signal
 * handlers); fork_took is the depth whose prepare handler took the locks (0: none).
 * Both are the forking thread's own, and a child inherits them with that thread.
 */
extern void _IO_list_lock(void) __attribute__((weak));   /* glibc exports these; elsewhere absent */
extern void _IO_list_unlock(void) __attribute__((weak));
extern void _IO_list_resetlock(void) __attribute__((weak));

static LIBALLOC_THREAD_LOCAL uint32_t fork_depth;
static LIBALLOC_THREAD_LOCAL uint32_t fork_took;

static void block_signals(sigset_t *old)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, old);
}

static void restore_signals(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

static void before_fork(void)
{
	uint32_t depth = ++fork_depth;
	if (__libc_single_threaded)
		return;
	sigset_t old;
	block_signals(&old);
	uint32_t me = self_no();
	if (lock_holder() != me) {  /* else an interrupted call of this thread holds it: take nothing */
		if (_IO_list_lock)
			_IO_list_lock();
		take(me);
		fork_hold = true;
		fork_took = depth;
	}
	restore_signals(&old);
}

static void after_fork_parent(void)
{
	if (fork_took == fork_depth && fork_took) {
		sigset_t old;
		block_signals(&old);
		fork_took = 0;
		fork_hold = false;
		release();
		if (_IO_list_unlock)
			_IO_list_unlock();
		restore_signals(&old);
	}
	fork_depth--;
}

static void after_fork_child(void)
{
	uint32_t depth = fork_depth--;
	if (__libc_single_threaded)
		return;  /* the parent had one thread: its heap is ours as it was */
	if (fork_took == depth) {
		/* Only this thread exists now, and it holds the lock: reset it (waiters
		 * marked in it were the parent's threads) and drop the other caches. */
		fork_took = 0;
		fork_hold = false;
		lock_nest = 0;
		fork_child_pending = false;
		__atomic_store_n(&heap_lock, 0, __ATOMIC_RELEASE);
		/* glibc has reset the list lock if it too saw threads; make sure. */
		if (_IO_list_resetlock)
			_IO_list_resetlock();
		liballoc_fork_child();
		return;
	}
	/* A fork from a signal handler: the interrupted code of this thread holds the
	 * heap lock (an allocator call, or an outer fork's prepare handler) and will
	 * release it when the handler returns; the other threads' caches are dropped
	 * then. An outer fork's handler also holds the stdio list lock, which glibc
	 * has just reset in this child: take it again for that handler to release. */
	fork_child_pending = true;
	if (fork_took && _IO_list_lock)
		_IO_list_lock();
}

/* In a fork child, the interrupted call that held the heap lock has let go of it. */
__attribute__((noinline)) static void run_pending_fork_child(void)
{
	fork_child_pending = false;
	liballoc_fork_child();
}

__attribute__((constructor)) static void linux_port_init(void)
{
	if (getauxval(AT_PAGESZ) > LIBALLOC_PAGE_SIZE || LIBALLOC_PAGE_SIZE % getauxval(AT_PAGESZ)) {
		static const char msg[] = "liballoc: LIBALLOC_PAGE_SIZE is not a multiple of the system page size\n";
		(void)!write(2, msg, sizeof msg - 1);
		abort();
	}
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}
