/* fuzz_ops.c — libFuzzer harness: operation sequences (malloc family, trim, alloc_page failures) against a shadow model. */
/* SPDX-License-Identifier: MIT */
#include "fuzz_engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_run(data, size, FUZZ_OPS);
}
