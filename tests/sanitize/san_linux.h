/* san_linux.h — the Linux port's configuration with a la_ prefix, so sanitizer runtimes keep their own malloc. */
/* SPDX-License-Identifier: MIT */
/*
 * ASan and TSan replace malloc themselves. The stress test therefore builds the
 * Linux port (os.c: mmap pages, the mutex, thread-cache registration, fork
 * handlers; diag.c) and the core with this header instead of liballoc_linux.h:
 * the same knobs, but the API named la_malloc, la_free, ... beside the runtime's.
 */
#ifndef SAN_LINUX_H
#define SAN_LINUX_H

#include <stdint.h>

#define LIBALLOC_PREFIX(name) la_##name
#define LIBALLOC_PAGES_ZEROED 1

#define LIBALLOC_THREAD_LOCAL __thread __attribute__((tls_model("initial-exec")))
void liballoc_linux_thread_register(void);
#define LIBALLOC_THREAD_REGISTER() liballoc_linux_thread_register()

#define LIBALLOC_HUGE_THRESHOLD_MAX (32u << 20)

void liballoc_linux_set_errno(int e);
void liballoc_linux_report(int error, void *ptr);
uint64_t liballoc_linux_entropy(void);

#define LIBALLOC_SET_ERRNO(e) liballoc_linux_set_errno(e)
#define LIBALLOC_ERROR_HANDLER liballoc_linux_report
#define LIBALLOC_ENTROPY() liballoc_linux_entropy()

#endif
