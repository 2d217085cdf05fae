/* bench_config.h — liballoc configuration of the latency benchmark's port (mmap pages, timed hooks). */
/* SPDX-License-Identifier: MIT */
#ifndef BENCH_CONFIG_H
#define BENCH_CONFIG_H

#include <stdint.h>

#define LIBALLOC_PAGES_ZEROED 1  /* anonymous mmap pages are zero */

/* BENCH_TCACHE: configured like the Linux port (thread caches, a huge threshold
 * that rises to 32 MiB); without it, the plain locked path a kernel port gets. */
#ifdef BENCH_TCACHE
#define LIBALLOC_THREAD_LOCAL __thread __attribute__((tls_model("initial-exec")))
#define LIBALLOC_HUGE_THRESHOLD_MAX (32u << 20)
#endif

void bench_port_on_error(int error, void *ptr);
#define LIBALLOC_ERROR_HANDLER bench_port_on_error

/* Ticks spent inside the page hooks since start, and how many hook calls: the
 * benchmark subtracts each operation's share so only the core is timed. */
extern volatile uint64_t bench_hook_ticks;
extern volatile uint64_t bench_hook_calls;

#endif
