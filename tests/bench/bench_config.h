/* bench_config.h — liballoc configuration of the latency benchmark's port (mmap pages, timed hooks). */
/* SPDX-License-Identifier: MIT */
#ifndef BENCH_CONFIG_H
#define BENCH_CONFIG_H

#include <stdint.h>

#define LIBALLOC_PAGES_ZEROED 1  /* anonymous mmap pages are zero */

void bench_port_on_error(int error, void *ptr);
#define LIBALLOC_ERROR_HANDLER bench_port_on_error

/* Ticks spent inside the page hooks since start, and how many hook calls: the
 * benchmark subtracts each operation's share so only the core is timed. */
extern volatile uint64_t bench_hook_ticks;
extern volatile uint64_t bench_hook_calls;

#endif
