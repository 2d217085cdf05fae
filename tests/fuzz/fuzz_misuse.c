/* fuzz_misuse.c — libFuzzer harness: double, interior, foreign and stale frees, smashed headers, overflows and use-after-free writes, each reported. */
/* SPDX-License-Identifier: MIT */
#include "fuzz_engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_run(data, size, FUZZ_MISUSE);
}
