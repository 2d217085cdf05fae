/* test_hardened_linux.c — cmocka: liballoc.so and liballoc-hardened.so under LD_PRELOAD report every misuse of issues 13 and 16 — what, where, the block, its requester, a backtrace — then abort. */
/* SPDX-License-Identifier: MIT */
/*
 * usage: test_hardened_linux HARDENED_SO DEFAULT_SO MISUSE_PROG
 * Runs misuse_prog (misuse_prog.c lists the cases) under each library and requires
 * death by SIGABRT and on stderr:
 *   - first, exactly "liballoc: <what> at <pointer> (pid <pid>)", naming the
 *     pointer the program announced (the line scripts grep for);
 *   - then only lines starting "liballoc:   ": the block and its size (or, for a
 *     pointer outside the heap, the mapping it is in), where the block was
 *     allocated and freed when requesters are recorded (by default in the hardened
 *     build; LIBALLOC_REQUESTERS=1 in the default one), and a backtrace whose first
 *     frame is main.
 * The seven misuses of issue 16 are caught by both builds (the stale double free
 * after the address was reused: by the quarantine, so where requesters are
 * recorded); the canary and poison cases by the hardened build. LIBALLOC_VERBOSE=0
 * gives the first line alone; a clean run prints nothing.
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
	char out[256], err[16384];
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

/* Run misuse_prog MODE under lib with the environment's LIBALLOC_* knobs replaced
 * by `knob` (NULL: none). */
static struct outcome run(const char *lib, const char *mode, const char *knob)
{
	struct outcome o;
	int out[2], err[2];
	memset(&o, 0, sizeof o);
	assert_int_equal(pipe(out), 0);
	assert_int_equal(pipe(err), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(out[0]);
		close(err[0]);
		for (char **e = environ; *e;)
			if (strncmp(*e, "LIBALLOC_", 9) == 0)
				unsetenv(strndup(*e, (size_t)(strchr(*e, '=') - *e)));
			else
				e++;
		if (knob)
			putenv((char *)knob);
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

static const char *name(const char *lib) { return lib == hardened_so ? "liballoc-hardened.so" : "liballoc.so"; }

/* SIGABRT; the first line names `what` and the announced pointer; every later line
 * is part of the report; each of `want` (NULL-terminated) occurs; `unwanted` not. */
static void expect(const char *lib, const char *mode, const char *knob, const char *what, const char *const *want,
		   const char *unwanted)
{
	struct outcome o = run(lib, mode, knob);
	char ptr[64], first[256];
	if (!WIFSIGNALED(o.status) || WTERMSIG(o.status) != SIGABRT)
		fail_msg("%s under %s (%s): not killed by SIGABRT (status 0x%x); stderr: %s", mode, name(lib),
			 knob ? knob : "no knobs", o.status, o.err);
	assert_int_equal(sscanf(o.out, "%63s", ptr), 1);
	snprintf(first, sizeof first, "liballoc: %s at %s (pid %d)\n", what, ptr, (int)o.pid);
	if (strncmp(o.err, first, strlen(first)) != 0)
		fail_msg("%s under %s: stderr is\n%s\nwanted it to start with\n  %s", mode, name(lib), o.err, first);
	for (const char *l = o.err + strlen(first); *l; l = strchr(l, '\n') + 1) {
		if (strncmp(l, "liballoc:   ", 12) != 0 || !strchr(l, '\n'))
			fail_msg("%s under %s: a line not of the report: %s", mode, name(lib), l);
	}
	for (; want && *want; want++)
		if (!strstr(o.err, *want))
			fail_msg("%s under %s (%s): no \"%s\" in\n%s", mode, name(lib), knob ? knob : "no knobs", *want, o.err);
	if (unwanted && strstr(o.err, unwanted))
		fail_msg("%s under %s: \"%s\" in\n%s", mode, name(lib), unwanted, o.err);
}

/* The requester and a backtrace from main, in every report of a block's misuse. */
#define BT "liballoc:   backtrace:\nliballoc:     #0 main+0x", "misuse_prog.c:"

/* ---- the seven misuses of issue 16, both builds -------------------------------- */

static void test_overflow_into_next_header(void **state)
{
	(void)state;
	const char *want[] = {": 48 bytes requested (", ", live\n", BT, NULL};
	expect(default_so, "overflow16", NULL, "write past the end of a block", want, NULL);
	const char *named[] = {": 48 bytes requested (", "allocated by alloc_small+0x", BT, NULL};
	expect(hardened_so, "overflow16", NULL, "write past the end of a block", named, NULL);
}

static void test_double_free(void **state)
{
	(void)state;
	const char *hint[] = {"freed, held in a thread cache", "(LIBALLOC_REQUESTERS=1 records where each block is allocated)",
			      BT, NULL};
	expect(default_so, "double-free", NULL, "double free (block already free)", hint, NULL);
	/* Issue 13's Done-when: a double free names the function that allocated it. */
	const char *named[] = {"freed, held in a thread cache", "allocated by alloc_small+0x", "freed by main+0x", BT, NULL};
	expect(default_so, "double-free", "LIBALLOC_REQUESTERS=1", "double free (block already free)", named, NULL);
	expect(default_so, "double-free", "LIBALLOC_LEAKS=1", "double free (block already free)", named, NULL);
	expect(hardened_so, "double-free", NULL, "double free (block already free)", named, NULL);
}

/* p = malloc(1 MiB); free(p); q = malloc(1 MiB); free(p): the quarantine keeps p
 * from being reused, so the second free is a double free naming both sites. */
static void test_stale_double_free(void **state)
{
	(void)state;
	const char *want[] = {"freed, held in the quarantine; its own page run of", "allocated by alloc_big+0x",
			      "freed by main+0x", BT, NULL};
	expect(hardened_so, "stale-double-free", NULL, "double free (block already free)", want, NULL);
	expect(default_so, "stale-double-free", "LIBALLOC_REQUESTERS=true", "double free (block already free)", want, NULL);
}

static void test_interior_pointer(void **state)
{
	(void)state;
	const char *want[] = {" is 16 bytes into block 0x", ": 64 bytes requested (", BT, NULL};
	expect(default_so, "interior", NULL, "pointer into the middle of a block", want, NULL);
	expect(hardened_so, "interior", NULL, "pointer into the middle of a block", want, NULL);
}

static void test_stack_pointer(void **state)
{
	(void)state;
	const char *want[] = {" is not in liballoc's heap; it is in [stack] (rw", BT, NULL};
	expect(default_so, "stack", NULL, "pointer not from this heap", want, NULL);
	expect(hardened_so, "stack", NULL, "pointer not from this heap", want, NULL);
}

static void test_static_pointer(void **state)
{
	(void)state;
	const char *want[] = {" is not in liballoc's heap; it is in /", "misuse_prog (rw", ", static_object+0x0\n", BT, NULL};
	expect(default_so, "static", NULL, "pointer not from this heap", want, NULL);
	expect(hardened_so, "static", NULL, "pointer not from this heap", want, NULL);
}

/* Reported as what it is, not as a double free. */
static void test_realloc_of_freed_block(void **state)
{
	(void)state;
	const char *want[] = {"freed, held in a thread cache", BT, NULL};
	expect(default_so, "realloc-freed", NULL, "realloc or usable size of a freed block", want, "double free");
	const char *named[] = {"freed, held in a thread cache", "allocated by alloc_small+0x", BT, NULL};
	expect(hardened_so, "realloc-freed", NULL, "realloc or usable size of a freed block", named, "double free");
}

/* ---- hardened only ------------------------------------------------------------- */

static void test_hardened_canary(void **state)
{
	(void)state;
	const char *want[] = {": 40 bytes requested (", "allocated by alloc_small+0x", BT, NULL};
	expect(hardened_so, "overflow", NULL, "write past the end of a block", want, NULL);
}

static void test_hardened_use_after_free_write(void **state)
{
	(void)state;
	const char *want[] = {BT, NULL};
	expect(hardened_so, "uaf", NULL, "write to freed memory (poison overwritten)", want, NULL);
}

/* ---- terse reports, clean runs --------------------------------------------------- */

static void test_verbose_0_is_one_line(void **state)
{
	(void)state;
	const char *libs[] = {hardened_so, default_so};
	for (int i = 0; i < 2; i++) {
		struct outcome o = run(libs[i], "double-free", "LIBALLOC_VERBOSE=0");
		char ptr[64], want[160];
		assert_true(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGABRT);
		assert_int_equal(sscanf(o.out, "%63s", ptr), 1);
		snprintf(want, sizeof want, "liballoc: double free (block already free) at %s (pid %d)\n", ptr, (int)o.pid);
		assert_string_equal(o.err, want);
	}
}

static void test_clean_run_is_silent(void **state)
{
	(void)state;
	const char *libs[] = {hardened_so, default_so};
	for (int i = 0; i < 2; i++) {
		struct outcome o = run(libs[i], "clean", NULL);
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
		cmocka_unit_test(test_overflow_into_next_header),
		cmocka_unit_test(test_double_free),
		cmocka_unit_test(test_stale_double_free),
		cmocka_unit_test(test_interior_pointer),
		cmocka_unit_test(test_stack_pointer),
		cmocka_unit_test(test_static_pointer),
		cmocka_unit_test(test_realloc_of_freed_block),
		cmocka_unit_test(test_hardened_canary),
		cmocka_unit_test(test_hardened_use_after_free_write),
		cmocka_unit_test(test_verbose_0_is_one_line),
		cmocka_unit_test(test_clean_run_is_silent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
