/* bench_timer.h — serialised time-stamp counter reads for the latency benchmark (clock_gettime off x86). */
/* SPDX-License-Identifier: MIT */
#ifndef BENCH_TIMER_H
#define BENCH_TIMER_H

#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define BENCH_TICK_UNIT "cycles"
/* lfence before: earlier instructions have completed; lfence after: later ones
 * have not started. rdtscp waits for earlier instructions itself. */
static inline uint64_t tick_start(void)
{
	_mm_lfence();
	uint64_t t = __rdtsc();
	_mm_lfence();
	return t;
}
static inline uint64_t tick_stop(void)
{
	unsigned aux;
	uint64_t t = __rdtscp(&aux);
	_mm_lfence();
	return t;
}
#else
#include <time.h>
#define BENCH_TICK_UNIT "ns"
static inline uint64_t tick_start(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#define tick_stop tick_start
#endif

#endif
