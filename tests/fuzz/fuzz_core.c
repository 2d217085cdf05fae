/* fuzz_core.c — the core compiled into the fuzzers, plus a reset of its one global heap between inputs. */
/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer runs every input in one process. The core keeps its heap in a static
 * variable, so this unit includes liballoc.c unchanged and clears that variable
 * between inputs (after the harness has checked every page went back): each input
 * then starts from a fresh heap and a crash file replays on its own.
 */
#include "liballoc.c"

#include "fuzz_port.h"

void fuzz_core_reset(void)
{
	__builtin_memset(&g_heap, 0, sizeof g_heap);
}
