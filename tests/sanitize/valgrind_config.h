/* valgrind_config.h — unit-test configuration that tells Valgrind's memcheck about every liballoc block. */
/* SPDX-License-Identifier: MIT */
/*
 * The core calls these hooks with the block's payload pointer. Memcheck then
 * treats each block like a malloc'd one: its bytes are undefined until written
 * (or defined, for calloc), a freed block is unaddressable to the program, and
 * blocks still reachable at exit are leak-checked. The core itself writes free-list
 * links and poison into a block it has just freed, so those bytes are handed back
 * to it as addressable (undefined) right after memcheck has recorded the free. A
 * shrink in place has already written the tail's new header and the canary when
 * the hook runs, so the tail is handed back as defined.
 */
#ifndef VALGRIND_CONFIG_H
#define VALGRIND_CONFIG_H

#include "test_config.h"

#include <valgrind/memcheck.h>

#define LIBALLOC_ON_ALLOC(p, n, zeroed) VALGRIND_MALLOCLIKE_BLOCK((p), (n), 0, (zeroed))
#define LIBALLOC_ON_FREE(p, usable)                          \
	do {                                                 \
		VALGRIND_FREELIKE_BLOCK((p), 0);             \
		VALGRIND_MAKE_MEM_UNDEFINED((p), (usable));  \
	} while (0)
#define LIBALLOC_ON_RESIZE(p, old, new)                                                    \
	do {                                                                               \
		VALGRIND_RESIZEINPLACE_BLOCK((p), (old), (new), 0);                        \
		if ((new) < (old))                                                         \
			VALGRIND_MAKE_MEM_DEFINED((char *)(p) + (new), (old) - (new));     \
	} while (0)

#endif
