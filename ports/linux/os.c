/* os.c — the Linux port's hooks and OS services: pages from mmap/munmap, a mutex, fork safety, thread exit, errno, entropy. */
/* SPDX-License-Identifier: MIT */
/*
 * Preconditions (the core's contract, liballoc.h section 2): alloc_page and
 * free_page run with the heap lock held and must not allocate. So this file calls
 * only system calls and pthread mutex functions, none of which allocates.
 *
 * LIBALLOC_PAGE_SIZE must be a multiple of the kernel's page size, so every range
 * the core passes to free_page (whole runs or page-aligned sub-ranges) is one that
 * munmap accepts; the constructor checks it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/single_threaded.h>
#include <unistd.h>

#include "liballoc.h"

static pthread_mutex_t heap_lock = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;

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

/* While the process has one thread (glibc's __libc_single_threaded), the mutex is
 * skipped, as glibc skips its arena locks. This is safe because the flag only
 * turns false in pthread_create, which the allocator never calls, so it cannot
 * change between a lock and its unlock; and it never turns true again. */
int liballoc_lock(void)
{
	return __libc_single_threaded ? 0 : pthread_mutex_lock(&heap_lock);
}

int liballoc_unlock(void)
{
	return __libc_single_threaded ? 0 : pthread_mutex_unlock(&heap_lock);
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

/* fork() while another thread holds the heap lock would leave the child with a lock
 * nobody will release. Take it before forking, release it on both sides. */
static void before_fork(void) { pthread_mutex_lock(&heap_lock); }
static void after_fork_parent(void) { pthread_mutex_unlock(&heap_lock); }

static void after_fork_child(void)
{
	pthread_mutex_unlock(&heap_lock);
	liballoc_fork_child();  /* only this thread exists now */
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
