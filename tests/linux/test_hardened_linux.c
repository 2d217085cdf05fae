/* test_hardened_linux.c — cmocka: a hardened liballoc.so under LD_PRELOAD reports overflow, use-after-free and double free with the pointer, then aborts. */
/* SPDX-License-Identifier: MIT */
/*
 * usage: test_hardened_linux HARDENED_SO DEFAULT_SO MISUSE_PROG
 * Runs misuse_prog under each library and requires: death by SIGABRT, and on
 * stderr exactly one line "liballoc: <what> at <pointer> (pid <pid>)" naming the
 * pointer the program announced. The default build must still catch the cheap
 * misuses (double free, interior pointer); a clean run must print nothing.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static const char *hardened_so, *default_so, *prog;

struct outcome {
	int status;
	pid_t pid;
	char out[256], err[1024];
};

static void slurp(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t k;
	while (n + 1 < cap && (k = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)k;
	buf[n] = 0;
	close(fd);
}

static struct outcome run(const char *lib, const char *mode)
{
	struct outcome o = {0};
	int out[2], err[2];
	assert_int_equal(pipe(out), 0);
	assert_int_equal(pipe(err), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(out[0]);
		close(err[0]);
		setenv("LD_PRELOAD", lib, 1);
		execl(prog, prog, mode, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	slurp(out[0], o.out, sizeof o.out);
	slurp(err[0], o.err, sizeof o.err);
	assert_int_equal(waitpid(pid, &o.status, 0), pid);
	o.pid = pid;
	return o;
}

/* SIGABRT after exactly one report line naming `what` and the announced pointer. */
static void expect_report(const char *lib, const char *mode, const char *what)
{
	struct outcome o = run(lib, mode);
	char ptr[64], want[160];
	if (!WIFSIGNALED(o.status) || WTERMSIG(o.status) != SIGABRT)
		fail_msg("%s under %s: not killed by SIGABRT (status 0x%x); stderr: %s", mode, lib, o.status, o.err);
	assert_int_equal(sscanf(o.out, "%63s", ptr), 1);
	snprintf(want, sizeof want, "liballoc: %s at %s (pid %d)\n", what, ptr, (int)o.pid);
	if (strcmp(o.err, want) != 0)
		fail_msg("%s under %s: stderr is\n  %s\nwanted exactly\n  %s", mode, lib, o.err, want);
}

static void test_hardened_write_past_end(void **state)
{
	(void)state;
	expect_report(hardened_so, "overflow", "write past the end of a block");
}

static void test_hardened_use_after_free_write(void **state)
{
	(void)state;
	expect_report(hardened_so, "uaf", "write to freed memory (poison overwritten)");
}

static void test_hardened_double_free(void **state)
{
	(void)state;
	expect_report(hardened_so, "double-free", "double free (block already free)");
}

static void test_default_keeps_cheap_checks(void **state)
{
	(void)state;
	expect_report(default_so, "double-free", "double free (block already free)");
	expect_report(default_so, "interior", "pointer into the middle of a block");
	expect_report(hardened_so, "interior", "pointer into the middle of a block");
}

static void test_clean_run_is_silent(void **state)
{
	(void)state;
	const char *libs[] = {hardened_so, default_so};
	for (int i = 0; i < 2; i++) {
		struct outcome o = run(libs[i], "clean");
		assert_true(WIFEXITED(o.status));
		assert_int_equal(WEXITSTATUS(o.status), 0);
		assert_string_equal(o.err, "");
	}
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s HARDENED_SO DEFAULT_SO MISUSE_PROG\n", argv[0]);
		return 2;
	}
	hardened_so = argv[1];
	default_so = argv[2];
	prog = argv[3];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hardened_write_past_end),
		cmocka_unit_test(test_hardened_use_after_free_write),
		cmocka_unit_test(test_hardened_double_free),
		cmocka_unit_test(test_default_keeps_cheap_checks),
		cmocka_unit_test(test_clean_run_is_silent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
