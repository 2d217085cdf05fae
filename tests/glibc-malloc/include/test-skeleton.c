/* test-skeleton.c — glibc's older test entry point ("../test-skeleton.c"): TEST_FUNCTION is an expression there; adapt it to support/test-driver.c. */
/* SPDX-License-Identifier: MIT */
/*
 * Found through the -I of include/support: "../test-skeleton.c" is looked up
 * relative to each -I directory once the test's own directory has none.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "glibc_support.h"

static int skeleton_test_function(int argc, char **argv)
{
	(void)argc;
	(void)argv;
#ifdef TEST_FUNCTION
	return TEST_FUNCTION;
#else
	return do_test(argc, argv);
#endif
}
#undef TEST_FUNCTION
#define TEST_FUNCTION_ARGV skeleton_test_function

#ifdef PREPARE  /* a function-like macro taking (argc, argv) in the old skeleton */
static void skeleton_prepare(int argc, char **argv)
{
	PREPARE(argc, argv);
}
#undef PREPARE
#define PREPARE skeleton_prepare
#endif

#ifdef CLEANUP_HANDLER  /* an expression in the old skeleton */
static void skeleton_cleanup(void)
{
	CLEANUP_HANDLER;
}
#undef CLEANUP_HANDLER
#define CLEANUP_HANDLER skeleton_cleanup
#endif

#include "support/test-driver.c"
