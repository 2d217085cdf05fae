/* fuzz_hooks.c — libFuzzer harness: alloc_page failing or running short, runs placed anywhere, free_page failing, frees in any order. */
/* SPDX-License-Identifier: MIT */
#include "fuzz_engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_run(data, size, FUZZ_HOOKS);
}
