/* test_programs.c — cmocka suite: real programs under LD_PRELOAD=liballoc.so give the same output as without it. */
/* SPDX-License-Identifier: MIT */
/*
 * usage: test_programs LIBALLOC_SO WORKLOADS_SH CXX_DEMO CORE_SOURCE
 * Each workload (examples/host/workloads.sh) runs twice, on glibc's malloc and on
 * liballoc; stdout must match byte for byte, the preloaded run must exit 0, and
 * LIBALLOC_STATS=1 must show liballoc really served it. A workload whose program
 * is missing is skipped, never passed.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static const char *lib, *workloads, *cxx, *core;
static char tmp[] = "/tmp/liballoc-programs.XXXXXX";

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return strdup("");
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = malloc((size_t)n + 1);
	s[fread(s, 1, (size_t)n, f)] = 0;
	fclose(f);
	return s;
}

/* Run a shell command line; returns its exit status (or 128 + signal). */
static int run(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void compare(const char *name)
{
	int plain = run("'%s' %s '%s/plain-%s' '%s' '%s' >'%s/%s.plain' 2>'%s/%s.plain.err'", workloads, name, tmp, name,
			cxx, core, tmp, name, tmp, name);
	if (plain == 77)
		skip();
	assert_int_equal(plain, 0);
	int pre = run("LD_PRELOAD='%s' LIBALLOC_STATS=1 '%s' %s '%s/pre-%s' '%s' '%s' >'%s/%s.pre' 2>'%s/%s.pre.err'", lib,
		      workloads, name, tmp, name, cxx, core, tmp, name, tmp, name);
	char path[512];
	snprintf(path, sizeof path, "%s/%s.pre.err", tmp, name);
	char *err = slurp(path);
	if (pre != 0)
		fail_msg("%s on liballoc exited %d:\n%s", name, pre, err);
	snprintf(path, sizeof path, "%s/%s.plain", tmp, name);
	char *a = slurp(path);
	snprintf(path, sizeof path, "%s/%s.pre", tmp, name);
	char *b = slurp(path);
	if (strcmp(a, b) != 0)
		fail_msg("%s output differs.\n--- glibc:\n%s\n--- liballoc:\n%s", name, a, b);
	assert_true(strlen(a) > 0);
	/* liballoc served it: every process printed stats, at least one did real work,
	 * and none reported a misuse. */
	char *s = strstr(err, "liballoc stats"), *allocs;
	assert_non_null(s);
	size_t most = 0;
	for (allocs = err; (allocs = strstr(allocs, " allocs=")) != NULL; allocs++) {
		size_t n = strtoul(allocs + 8, NULL, 10);
		most = n > most ? n : most;
	}
	assert_true(most > 1000);
	assert_null(strstr(err, " errors=1"));
	free(a);
	free(b);
	free(err);
}

static void test_python(void **state) { (void)state; compare("python"); }
static void test_git(void **state) { (void)state; compare("git"); }
static void test_sqlite(void **state) { (void)state; compare("sqlite"); }
static void test_gcc(void **state) { (void)state; compare("gcc"); }
static void test_cxx(void **state) { (void)state; compare("cxx"); }

/* The dynamic linker must bind malloc & co. of the program and of libc itself to
 * liballoc.so, not glibc. */
static void test_bindings(void **state)
{
	(void)state;
	if (run("command -v python3 >/dev/null") != 0)
		skip();
	assert_int_equal(run("LD_DEBUG=bindings LD_PRELOAD='%s' python3 -c 'import json; json.dumps(list(range(9)))' "
			     "2>'%s/bindings' >/dev/null", lib, tmp), 0);
	char path[512];
	snprintf(path, sizeof path, "%s/bindings", tmp);
	char *log = slurp(path);
	const char *names[] = {"malloc", "free", "calloc", "realloc"};
	for (size_t i = 0; i < 4; i++) {
		char want[64];
		snprintf(want, sizeof want, "normal symbol `%s'", names[i]);
		int ours = 0, theirs = 0;
		for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n"))
			if (strstr(line, want)) {
				if (strstr(line, "liballoc.so"))
					ours++;
				else if (strstr(line, "to /lib") || strstr(line, "to /usr/lib"))
					theirs++;
			}
		free(log);
		log = slurp(path);
		if (ours == 0 || theirs != 0)
			fail_msg("%s: %d bindings to liballoc.so, %d elsewhere", names[i], ours, theirs);
	}
	free(log);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s LIBALLOC_SO WORKLOADS_SH CXX_DEMO CORE_SOURCE\n", argv[0]);
		return 2;
	}
	lib = argv[1], workloads = argv[2], cxx = argv[3], core = argv[4];
	if (!mkdtemp(tmp))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bindings), cmocka_unit_test(test_python), cmocka_unit_test(test_git),
		cmocka_unit_test(test_sqlite),   cmocka_unit_test(test_gcc),    cmocka_unit_test(test_cxx),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	if (!failed)
		run("rm -rf '%s'", tmp);
	return failed;
}
