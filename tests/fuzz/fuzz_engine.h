/* fuzz_engine.h — the operation-sequence engine behind the three liballoc fuzz harnesses. */
/* SPDX-License-Identifier: MIT */
#ifndef FUZZ_ENGINE_H
#define FUZZ_ENGINE_H

#include <stddef.h>
#include <stdint.h>

enum fuzz_mode {
	FUZZ_OPS,     /* the malloc family, trim and alloc_page failures; nothing may be reported */
	FUZZ_MISUSE,  /* plus double/interior/foreign frees, stale reallocs, smashed headers,
	               * and in hardened builds overflows and use-after-free writes: each reported */
	FUZZ_HOOKS,   /* plus page supply running short, runs placed anywhere, free_page failing */
};

/* Decode `data` into operations on a fresh heap, checking everything after each;
 * aborts with a message on the first broken expectation. */
int fuzz_run(const uint8_t *data, size_t size, enum fuzz_mode mode);

#endif
