/* compat11.c — the core vendored as a liballoc 1.1 drop-in: 1.1-style hooks that refuse any partial or unknown free, under a long kmalloc/krealloc/kcalloc/kfree workload. */
/* SPDX-License-Identifier: MIT */
/*
 * The core (liballoc.c) is compiled separately exactly as a hobby OS that vendored
 * liballoc 1.1 would: -std=gnu99 -ffreestanding -Werror -DLIBALLOC_COMPAT_1_1
 * '-DPREFIX(func)=k ## func', and a kernel's own `#define bool int` (-Dbool=int).
 * This file plays the kernel: the four hooks with 1.1's names and signatures over a
 * page allocator (ports/flat/flat_pages.c on a static arena), recording every run
 * handed out; liballoc_free of anything but exactly such a run is refused and
 * counted as a bad hook call. The workload checks every block's pattern.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flat_pages.h"
#include "liballoc.h"

#ifndef COMPAT_OPS
#define COMPAT_OPS 200000
#endif
#define ARENA ((size_t)32 << 20)
#define PAGE 4096u
#define MAX_RUNS 4096

static _Alignas(4096) unsigned char arena[ARENA];
static uint32_t bits[2 * (ARENA / PAGE / 32 + 1)];
static struct flat_pages pages;
static struct {
	void *p;
	size_t n;
} runs[MAX_RUNS];
static size_t nruns, bad_calls, alloc_calls, free_calls, locked, max_locked;

/* ---- the kernel's hooks, as liballoc 1.1 declares them ---- */

int liballoc_lock()
{
	if (++locked > max_locked)
		max_locked = locked;
	return 0;
}

int liballoc_unlock()
{
	locked--;
	return 0;
}

void *liballoc_alloc(size_t n)
{
	static int ready;
	if (!ready) {
		flat_pages_init(&pages, (uintptr_t)arena, ARENA / PAGE, 12, bits);
		flat_pages_release(&pages, (uintptr_t)arena, ARENA);
		ready = 1;
	}
	alloc_calls++;
	if (locked != 1)
		bad_calls++;
	void *p = nruns < MAX_RUNS ? flat_pages_alloc(&pages, n, UINTPTR_MAX) : NULL;
	if (p) {
		runs[nruns].p = p;
		runs[nruns++].n = n;
	}
	return p;
}

int liballoc_free(void *p, size_t n)
{
	free_calls++;
	if (locked != 1)
		bad_calls++;
	for (size_t i = 0; i < nruns; i++)
		if (runs[i].p == p) {
			if (runs[i].n != n)
				break;  /* a part of a run: 1.1's hooks cannot take it */
			if (flat_pages_free(&pages, p, n) != 0)
				break;
			runs[i] = runs[--nruns];
			return 0;
		}
	bad_calls++;
	return -1;
}

/* ---- the workload ---- */

#define SLOTS 512
static struct {
	unsigned char *p;
	size_t n;
	unsigned char seed;
} slot[SLOTS];
static uint64_t rng = 0x1234567887654321ull;
static size_t checks, failures;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void check(int ok, const char *what)
{
	checks++;
	if (!ok && failures++ < 10)
		fprintf(stderr, "compat11: FAIL %s\n", what);
}

static void fill(unsigned i)
{
	for (size_t k = 0; k < slot[i].n; k++)
		slot[i].p[k] = (unsigned char)(slot[i].seed + k * 31);
}

static int intact(unsigned i, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (slot[i].p[k] != (unsigned char)(slot[i].seed + k * 31))
			return 0;
	return 1;
}

/* Mostly small sizes, some up to 64 KiB, a few huge (their own runs, which the
 * heap must give back whole: with 1.1's contract even a krealloc shrinking one). */
static size_t pick_size(void)
{
	uint64_t r = next() % 1000;
	if (r < 700)
		return (size_t)(next() % 512);
	if (r < 970)
		return (size_t)(next() % 65536);
	return (size_t)(256 * 1024 + next() % (1024 * 1024));
}

int main(void)
{
	for (size_t op = 0; op < COMPAT_OPS; op++) {
		unsigned i = (unsigned)(next() % SLOTS);
		uint64_t r = next() % 10;
		if (!slot[i].p) {
			size_t n = pick_size();
			slot[i].p = r < 7 ? kmalloc(n) : kcalloc(1, n);
			check(slot[i].p != NULL, "allocation");
			if (!slot[i].p)
				continue;
			if (r >= 7)
				for (size_t k = 0; k < n; k++)
					if (slot[i].p[k])
						check(0, "kcalloc zeroed");
			slot[i].n = n;
			slot[i].seed = (unsigned char)next();
			fill(i);
		} else if (r < 4) {
			size_t n = pick_size();
			unsigned char *q = krealloc(slot[i].p, n);
			if (n == 0) {  /* as 1.1 and glibc: krealloc(p, 0) frees p */
				check(q == NULL, "krealloc(p, 0) frees");
				slot[i].p = NULL;
				continue;
			}
			check(q != NULL, "krealloc");
			if (!q)
				continue;
			slot[i].p = q;
			check(intact(i, n < slot[i].n ? n : slot[i].n), "pattern kept by krealloc");
			slot[i].n = n;
			fill(i);
		} else {
			check(intact(i, slot[i].n), "pattern intact before kfree");
			kfree(slot[i].p);
			slot[i].p = NULL;
		}
		if (op % 20000 == 0)
			check(liballoc_check() == LIBALLOC_OK, "liballoc_check");
	}
	for (unsigned i = 0; i < SLOTS; i++)
		if (slot[i].p) {
			check(intact(i, slot[i].n), "pattern intact at the end");
			kfree(slot[i].p);
		}
	liballoc_trim();
	struct liballoc_stats st;
	liballoc_stats(&st);
	check(liballoc_check() == LIBALLOC_OK, "liballoc_check at the end");
	check(st.live_blocks == 0 && st.chunks == 0 && st.huge_blocks == 0, "nothing live, no chunk held");
	size_t held = 0;
	for (size_t k = 0; k < nruns; k++)
		held += runs[k].n * PAGE;
	check(held == st.metadata, "every run back but the page map's nodes");
	check(bad_calls == 0, "no bad hook call (partial or unknown free, or a hook outside the lock)");
	check(max_locked == 1, "the lock never nested");
	printf("compat11: %zu checks, %zu failures; hooks: %zu alloc, %zu free, %zu bad; %zu runs left (page map)\n",
	       checks, failures, alloc_calls, free_calls, bad_calls, nruns);
	return failures != 0;
}
