/* support/test-driver.c — included at the end of each glibc test: builds our driver's configuration from the test's macros and runs it. */
/* SPDX-License-Identifier: MIT */
/*
 * The macros a test may define before including this file (glibc's names):
 *   TEST_FUNCTION       a function int f(void) to run instead of do_test
 *   TEST_FUNCTION_ARGV  a function int f(int, char **) (set by test-skeleton.c)
 *   PREPARE             void f(int, char **) run before it, in the test process
 *   CLEANUP_HANDLER     void f(void) run by the driver when the test times out
 *   EXPECTED_STATUS     the exit status that passes (default 0)
 *   EXPECTED_SIGNAL     the test passes only if killed by this signal
 *   TIMEOUT             seconds (default DEFAULT_TIMEOUT)
 *   TEST_NO_SETVBUF     leave stdout buffered (default: unbuffered)
 * TEST_NO_MALLOPT needs nothing: this driver never calls mallopt.
 */
#include "../glibc_support.h"

int main(int argc, char **argv)
{
	struct glibc_test_config config = {0};
#if defined(TEST_FUNCTION_ARGV)
	config.test_function_argv = TEST_FUNCTION_ARGV;
#elif defined(TEST_FUNCTION)
	config.test_function = TEST_FUNCTION;
#else
	config.test_function = do_test;
#endif
#ifdef PREPARE
	config.prepare_function = PREPARE;
#endif
#ifdef CLEANUP_HANDLER
	config.cleanup_function = CLEANUP_HANDLER;
#endif
#ifdef EXPECTED_STATUS
	config.expected_status = EXPECTED_STATUS;
#endif
#ifdef EXPECTED_SIGNAL
	config.expected_signal = EXPECTED_SIGNAL;
#endif
#ifdef TIMEOUT
	config.timeout = TIMEOUT;
#endif
#ifdef TEST_NO_SETVBUF
	config.no_setvbuf = 1;
#endif
	return glibc_test_main(argc, argv, &config);
}
