/* test_diag.c — cmocka: the Linux port's run-time knobs and reports: leak report, stats, stats file, LIBALLOC_ONLY, LIBALLOC_CHECK, boolean parsing, version. */
/* SPDX-License-Identifier: MIT */
/*
 * usage: test_diag LIBALLOC_SO HARDENED_SO LEAK_PROG LEAK_PROG_STATIC LEAK_SOURCE MISUSE_PROG VERSION
 * Runs the programs (leak_prog.c, misuse_prog.c) under LD_PRELOAD with the knobs of
 * README.md "Run-time knobs" and checks what they print. LEAK_PROG_STATIC is
 * leak_prog linked with liballoc.a (no LD_PRELOAD). LEAK_SOURCE is leak_prog.c,
 * where the lines of the two leaking malloc calls are found (LEAK_SMALL, LEAK_BIG).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "liballoc_linux.h"

static const char *lib, *hardened, *leak_prog, *leak_static, *leak_src, *misuse, *version;
static char tmp[] = "/tmp/liballoc-diag.XXXXXX";
static int line_small, line_big;

struct outcome {
	int status;
	pid_t pid;
	char out[4096], err[32768];
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

/* Run argv with LD_PRELOAD=preload (unless NULL) and the NAME=VALUE pairs of env
 * (NULL-terminated), stdout and stderr captured. stderr is read after stdout: the
 * programs write little to stdout. */
static struct outcome *run(const char *preload, const char *const *env, const char *const *argv)
{
	static struct outcome o;
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
		for (char **e = environ; *e;)  /* a clean slate: no knob from outside */
			if (strncmp(*e, "LIBALLOC_", 9) == 0)
				unsetenv(strndup(*e, (size_t)(strchr(*e, '=') - *e)));
			else
				e++;
		if (preload)
			setenv("LD_PRELOAD", preload, 1);
		for (; env && *env; env++)
			putenv((char *)*env);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	slurp(out[0], o.out, sizeof o.out);
	slurp(err[0], o.err, sizeof o.err);
	assert_int_equal(waitpid(pid, &o.status, 0), pid);
	o.pid = pid;
	return &o;
}

static void expect_exit0(const struct outcome *o, const char *what)
{
	if (!WIFEXITED(o->status) || WEXITSTATUS(o->status) != 0)
		fail_msg("%s: status 0x%x; stderr:\n%s", what, o->status, o->err);
}

/* Lines of text starting with `start`, counted; the first copied into first. */
static int lines_with(const char *text, const char *start, const char *contains, char *first, size_t cap)
{
	int n = 0;
	for (const char *l = text; *l;) {
		const char *end = strchr(l, '\n');
		size_t len = end ? (size_t)(end - l) : strlen(l);
		char line[1024];
		snprintf(line, sizeof line, "%.*s", (int)len, l);
		if (strncmp(line, start, strlen(start)) == 0 && (!contains || strstr(line, contains))) {
			if (n == 0 && first)
				snprintf(first, cap, "%s", line);
			n++;
		}
		l = end ? end + 1 : l + len;
	}
	return n;
}

/* ---- the leak report (issue 13's Done-when) ------------------------------------ */

/* Exactly two site lines, largest first: 5000 bytes in 1 block from leak_big, then
 * 300 bytes in 3 blocks from leak_small, each with leak_prog.c:<its line>. */
static void expect_leak_lines(const struct outcome *o, const char *what)
{
	char big[1024], small[1024], want[128];
	expect_exit0(o, what);
	int sites = lines_with(o->err, "liballoc:   ", " allocated by ", NULL, 0);
	if (sites != 2)
		fail_msg("%s: %d site lines, wanted 2:\n%s", what, sites, o->err);
	assert_int_equal(lines_with(o->err, "liballoc: leak report at exit", "4 blocks, 5300 bytes still live, from 2 sites",
				    NULL, 0), 1);
	lines_with(o->err, "liballoc:   5000 bytes in 1 block allocated by leak_big+0x", NULL, big, sizeof big);
	lines_with(o->err, "liballoc:   300 bytes in 3 blocks allocated by leak_small+0x", NULL, small, sizeof small);
	if (!big[0] || !small[0])
		fail_msg("%s: the site lines are not leak_big's and leak_small's:\n%s", what, o->err);
	snprintf(want, sizeof want, "leak_prog.c:%d)", line_big);
	if (!strstr(big, want))
		fail_msg("%s: leak_big's line lacks %s: %s", what, want, big);
	snprintf(want, sizeof want, "leak_prog.c:%d)", line_small);
	if (!strstr(small, want))
		fail_msg("%s: leak_small's line lacks %s: %s", what, want, small);
	assert_true(strstr(o->err, big) < strstr(o->err, small));  /* largest first */
	assert_non_null(strstr(o->out, "leaked 4 blocks"));
}

static void test_leak_report(void **state)
{
	(void)state;
	const char *env[] = {"LIBALLOC_LEAKS=1", NULL};
	const char *argv[] = {leak_prog, NULL};
	expect_leak_lines(run(lib, env, argv), "liballoc.so");
	expect_leak_lines(run(hardened, env, argv), "liballoc-hardened.so");
	const char *stat_argv[] = {leak_static, NULL};
	expect_leak_lines(run(NULL, env, stat_argv), "linked with liballoc.a");
}

static void test_leak_report_threads(void **state)
{
	(void)state;
	const char *env[] = {"LIBALLOC_LEAKS=on", NULL};
	const char *argv[] = {leak_prog, "threads", NULL};
	expect_leak_lines(run(lib, env, argv), "leaks made by a thread");
}

/* No LIBALLOC_LEAKS: no report. LIBALLOC_LEAKS=0: none either. */
static void test_no_leak_report_unless_asked(void **state)
{
	(void)state;
	const char *argv[] = {leak_prog, NULL};
	const char *off[] = {"LIBALLOC_LEAKS=0", NULL};
	struct outcome *o = run(lib, NULL, argv);
	expect_exit0(o, "no knobs");
	assert_string_equal(o->err, "");
	o = run(lib, off, argv);
	expect_exit0(o, "LIBALLOC_LEAKS=0");
	assert_string_equal(o->err, "");
}

/* mallinfo2().uordblks, printed by leak_prog just before it returns, equals the
 * live bytes the walk finds at exit: the report's plus those it does not list
 * (LIBALLOC_VERBOSE=2 says how many). */
static void test_uordblks_is_live_bytes(void **state)
{
	(void)state;
	const char *env[] = {"LIBALLOC_LEAKS=1", "LIBALLOC_VERBOSE=2", NULL};
	const char *argv[] = {leak_prog, NULL};
	struct outcome *o = run(lib, env, argv);
	char line[1024];
	unsigned long early, ld, std, uord;
	expect_exit0(o, "verbose leak report");
	assert_int_equal(lines_with(o->err, "liballoc:   not listed: ", NULL, line, sizeof line), 1);
	assert_int_equal(sscanf(line, "liballoc:   not listed: %lu bytes in %*u block%*[s] allocated before recording began "
				      "(the C library's and other libraries' start-up), %lu bytes in %*u block%*[s] "
				      "allocated by the dynamic linker (dlopen, threads' TLS), %lu bytes",
				&early, &ld, &std), 3);
	const char *u = strstr(o->out, "uordblks ");
	assert_non_null(u);
	uord = strtoul(u + 9, NULL, 10);
	if (uord != 5300 + early + ld + std)
		fail_msg("mallinfo2().uordblks = %lu; the report: 5300 listed + %lu + %lu + %lu not listed\n%s", uord, early, ld,
			 std, o->err);
}

/* ---- LIBALLOC_STATS and its file --------------------------------------------------- */

/* The byte rows of a stats block: obtained equals the sum of the eight rows under it
 * (each "(N B)"), and in_use is what mallinfo2 said. */
static void expect_stats_sum(const char *text, unsigned long in_use)
{
	static const char *const rows[] = {"= in_use", "+ slack", "+ free", "+ cached", "+ quarantined", "+ headers",
					   "+ runs", "+ metadata"};
	char line[1024];
	unsigned long obtained, v, sum = 0;
	assert_int_equal(lines_with(text, "  bytes:   obtained ", NULL, line, sizeof line), 1);
	assert_int_equal(sscanf(strchr(line, '(') + 1, "%lu B)", &obtained), 1);
	for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
		char start[64];
		snprintf(start, sizeof start, "  bytes: %s ", rows[i]);
		if (lines_with(text, start, NULL, line, sizeof line) != 1)
			fail_msg("no stats row '%s' in:\n%s", rows[i], text);
		assert_int_equal(sscanf(strchr(line, '(') + 1, "%lu B)", &v), 1);
		if (i == 0 && in_use != (unsigned long)-1 && v != in_use)
			fail_msg("in_use row %lu, mallinfo2 said %lu", v, in_use);
		sum += v;
	}
	if (sum != obtained)
		fail_msg("the rows add up to %lu, obtained is %lu:\n%s", sum, obtained, text);
	assert_null(strstr(text, "the walk found"));  /* no disagreement noted */
	/* Every counter of struct liballoc_stats, by its name. */
	static const char *const fields[] = {"obtained=", "obtained_peak=", "in_use=", "in_use_peak=", "free_bytes=",
					     "cached=", "quarantined=", "metadata=", "live_blocks=", "huge_blocks=",
					     "chunks=", "allocs=", "frees=", "failed_allocs=", "errors=", "caches=",
					     "cache_slabs=", "cache_objects=", "alloc_page_calls=", "alloc_page_failures=",
					     "free_page_calls=", "free_page_failures=", "lock_calls=", "lock_failures="};
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		const char *at = text;
		size_t n = strlen(fields[i]);
		while ((at = strstr(at, fields[i])) != NULL && at > text && at[-1] != ' ' && at[-1] != '(')
			at += n;
		if (!at || at[n] < '0' || at[n] > '9')
			fail_msg("stats lack %s", fields[i]);
	}
}

static void test_stats_add_up(void **state)
{
	(void)state;
	const char *env[] = {"LIBALLOC_STATS=1", NULL};
	const char *argv[] = {leak_prog, NULL};
	const char *targv[] = {leak_prog, "threads", NULL};
	const char *libs[] = {lib, hardened};
	for (int i = 0; i < 2; i++) {
		struct outcome *o = run(libs[i], env, argv);
		expect_exit0(o, "LIBALLOC_STATS=1");
		const char *u = strstr(o->out, "uordblks ");
		assert_non_null(u);
		assert_int_equal(lines_with(o->err, "liballoc stats pid=", " prog=leak_prog", NULL, 0), 1);
		expect_stats_sum(o->err, strtoul(u + 9, NULL, 10));
		o = run(libs[i], env, targv);  /* thread caches, a thread gone */
		expect_exit0(o, "LIBALLOC_STATS=1, threads");
		expect_stats_sum(o->err, strtoul(strstr(o->out, "uordblks ") + 9, NULL, 10));
	}
}

static char *read_file(const char *path)
{
	static char buf[16384];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	slurp(fd, buf, sizeof buf);
	return buf;
}

static void test_stats_file(void **state)
{
	(void)state;
	char knob[256], path[256];
	snprintf(knob, sizeof knob, "LIBALLOC_STATS_FILE=%s/stats.%%p", tmp);
	const char *env[] = {knob, NULL};
	const char *argv[] = {leak_prog, NULL};
	struct outcome *o = run(lib, env, argv);
	expect_exit0(o, "LIBALLOC_STATS_FILE");
	assert_string_equal(o->err, "");  /* the file, not stderr */
	snprintf(path, sizeof path, "%s/stats.%d", tmp, (int)o->pid);
	char *text = read_file(path);
	if (!text)
		fail_msg("LIBALLOC_STATS_FILE=%s/stats.%%p wrote no %s", tmp, path);
	char want[64];
	snprintf(want, sizeof want, "liballoc stats pid=%d prog=leak_prog\n", (int)o->pid);
	assert_int_equal(strncmp(text, want, strlen(want)), 0);
	expect_stats_sum(text, (unsigned long)-1);
	/* LIBALLOC_STATS=0 wins over the file. */
	const char *off[] = {knob, "LIBALLOC_STATS=off", NULL};
	o = run(lib, off, argv);
	snprintf(path, sizeof path, "%s/stats.%d", tmp, (int)o->pid);
	assert_null(read_file(path));
	/* A file that cannot be opened: said so, and the stats go to stderr. */
	const char *bad[] = {"LIBALLOC_STATS_FILE=/nonexistent/dir/stats", NULL};
	o = run(lib, bad, argv);
	expect_exit0(o, "unwritable LIBALLOC_STATS_FILE");
	assert_non_null(strstr(o->err, "liballoc: LIBALLOC_STATS_FILE=/nonexistent/dir/stats: cannot be opened"));
	assert_non_null(strstr(o->err, "liballoc stats pid="));
}

/* Booleans: 1/0, true/false, on/off, yes/no in any case; anything else is
 * reported and leaves the knob off (LIBALLOC_STATS=false used to turn stats on). */
static void test_boolean_knobs(void **state)
{
	(void)state;
	static const char *const off[] = {"0", "false", "off", "no", "FALSE", "Off", ""};
	static const char *const on[] = {"1", "true", "on", "yes", "TRUE", "On"};
	const char *argv[] = {leak_prog, NULL};
	char knob[64];
	const char *env[] = {knob, NULL};
	for (size_t i = 0; i < sizeof off / sizeof *off; i++) {
		snprintf(knob, sizeof knob, "LIBALLOC_STATS=%s", off[i]);
		struct outcome *o = run(lib, env, argv);
		expect_exit0(o, knob);
		if (o->err[0])
			fail_msg("%s printed:\n%s", knob, o->err);
	}
	for (size_t i = 0; i < sizeof on / sizeof *on; i++) {
		snprintf(knob, sizeof knob, "LIBALLOC_STATS=%s", on[i]);
		struct outcome *o = run(lib, env, argv);
		expect_exit0(o, knob);
		if (!strstr(o->err, "liballoc stats pid="))
			fail_msg("%s printed no stats:\n%s", knob, o->err);
	}
	snprintf(knob, sizeof knob, "LIBALLOC_STATS=maybe");
	struct outcome *o = run(lib, env, argv);
	expect_exit0(o, knob);
	assert_string_equal(o->err, "liballoc: LIBALLOC_STATS=maybe: not a boolean (1/0, true/false, on/off, yes/no): "
				    "ignored, off\n");
	snprintf(knob, sizeof knob, "LIBALLOC_VERBOSE=3");
	o = run(lib, env, argv);
	assert_string_equal(o->err, "liballoc: LIBALLOC_VERBOSE=3: not 0, 1 or 2: ignored, 1\n");
}

/* LIBALLOC_ONLY: only the processes it names (program name or pid) act on the
 * knobs. A shell runs leak_prog, then misuse_prog; dash itself leaves with _exit,
 * so it never prints stats. */
static void test_only(void **state)
{
	(void)state;
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "'%s' && '%s' clean", leak_prog, misuse);
	const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	const char *all[] = {"LIBALLOC_STATS=1", NULL};
	struct outcome *o = run(lib, all, argv);
	expect_exit0(o, "two programs");
	assert_int_equal(lines_with(o->err, "liballoc stats pid=", NULL, NULL, 0), 2);
	const char *one[] = {"LIBALLOC_STATS=1", "LIBALLOC_ONLY=nothing,leak_prog", NULL};
	o = run(lib, one, argv);
	assert_int_equal(lines_with(o->err, "liballoc stats pid=", NULL, NULL, 0), 1);
	assert_int_equal(lines_with(o->err, "liballoc stats pid=", " prog=leak_prog", NULL, 0), 1);
	const char *other[] = {"LIBALLOC_STATS=1", "LIBALLOC_ONLY=misuse_prog", NULL};
	o = run(lib, other, argv);
	assert_int_equal(lines_with(o->err, "liballoc stats pid=", NULL, NULL, 0), 1);
	assert_int_equal(lines_with(o->err, "liballoc stats pid=", " prog=misuse_prog", NULL, 0), 1);
	/* By process id: the shell's own, which leak_prog keeps when the shell execs it. */
	char pid[64];
	snprintf(cmd, sizeof cmd, "LIBALLOC_ONLY=$$ exec '%s'", leak_prog);
	const char *byid[] = {"LIBALLOC_LEAKS=1", NULL};
	o = run(lib, byid, argv);
	snprintf(pid, sizeof pid, "(pid %d, leak_prog)", (int)o->pid);
	assert_int_equal(lines_with(o->err, "liballoc: leak report at exit", pid, NULL, 0), 1);
	snprintf(cmd, sizeof cmd, "LIBALLOC_ONLY=1 exec '%s'", leak_prog);
	o = run(lib, byid, argv);
	assert_string_equal(o->err, "");
}

/* LIBALLOC_CHECK: silent when the heap is sound; a heap broken without any call
 * noticing (a write over the next block's header, nothing freed) is reported at
 * exit and the process aborts. */
static void test_check_at_exit(void **state)
{
	(void)state;
	const char *env[] = {"LIBALLOC_CHECK=yes", NULL};
	const char *clean[] = {misuse, "clean", NULL}, *scribble[] = {misuse, "scribble", NULL};
	const char *libs[] = {lib, hardened};
	for (int i = 0; i < 2; i++) {
		struct outcome *o = run(libs[i], env, clean);
		expect_exit0(o, "LIBALLOC_CHECK=yes, clean");
		assert_string_equal(o->err, "");
		o = run(libs[i], NULL, scribble);
		expect_exit0(o, "scribble without LIBALLOC_CHECK");
		o = run(libs[i], env, scribble);
		if (!WIFSIGNALED(o->status) || WTERMSIG(o->status) != SIGABRT)
			fail_msg("scribble with LIBALLOC_CHECK: status 0x%x, stderr:\n%s", o->status, o->err);
		char want[128];
		snprintf(want, sizeof want, " (pid %d, misuse_prog)\n", (int)o->pid);
		if (strncmp(o->err, "liballoc: heap check at exit failed: ", 37) != 0 || !strstr(o->err, want))
			fail_msg("scribble with LIBALLOC_CHECK: stderr:\n%s", o->err);
	}
}

/* liballoc_version() is the project's version (meson.build), as the header says. */
static void test_version(void **state)
{
	(void)state;
	assert_string_equal(liballoc_version(), version);
	assert_string_equal(LIBALLOC_VERSION_STRING, version);
	char v[32];
	snprintf(v, sizeof v, "%d.%d.%d", LIBALLOC_VERSION_MAJOR, LIBALLOC_VERSION_MINOR, LIBALLOC_VERSION_PATCH);
	assert_string_equal(v, version);
}

static int find_line(const char *path, const char *mark)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int n = 0, found = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f) && !found) {
		n++;
		if (strstr(line, mark) && strstr(line, "malloc("))
			found = n;
	}
	fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: %s LIBALLOC_SO HARDENED_SO LEAK_PROG LEAK_PROG_STATIC LEAK_SOURCE MISUSE_PROG VERSION\n",
			argv[0]);
		return 2;
	}
	lib = argv[1], hardened = argv[2], leak_prog = argv[3], leak_static = argv[4], leak_src = argv[5];
	misuse = argv[6], version = argv[7];
	line_small = find_line(leak_src, "LEAK_SMALL");
	line_big = find_line(leak_src, "LEAK_BIG");
	if (!line_small || !line_big || !mkdtemp(tmp)) {
		fprintf(stderr, "%s: cannot find the LEAK_ lines in %s, or make %s\n", argv[0], leak_src, tmp);
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_leak_report),
		cmocka_unit_test(test_leak_report_threads),
		cmocka_unit_test(test_no_leak_report_unless_asked),
		cmocka_unit_test(test_uordblks_is_live_bytes),
		cmocka_unit_test(test_stats_add_up),
		cmocka_unit_test(test_stats_file),
		cmocka_unit_test(test_boolean_knobs),
		cmocka_unit_test(test_only),
		cmocka_unit_test(test_check_at_exit),
		cmocka_unit_test(test_version),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		failed++;
	return failed;
}
