/* bench_spawn.c — runs one command and reports its wall time, CPU time and peak RSS, free of the caller's own RSS. */
/* SPDX-License-Identifier: MIT */
/*
 * usage: bench_spawn RESULT_FILE [NAME=VALUE ...] -- PROGRAM [ARG ...]
 *
 * Why not measure from Python directly: Linux carries a process's peak RSS across
 * exec (the pre-exec image counts), and a child forked or vforked by a Python
 * runner starts out as a copy of the interpreter, so its ru_maxrss would never be
 * below the runner's. This launcher is a few hundred KiB, so the figure it gets
 * from wait4 is the program's own. NAME=VALUE pairs (LD_PRELOAD=...) are set in
 * the child only, so the launcher itself never runs on the allocator under test.
 *
 * RESULT_FILE receives one line: wall_ns=... utime_us=... stime_us=... maxrss_kib=...
 * minflt=... majflt=... status=... (the exit code, or 128 + signal; page faults are
 * the child's own, from the same wait4). The launcher exits with that status.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int dash = 2;
	while (dash < argc && strcmp(argv[dash], "--"))
		dash++;
	if (argc < 2 || dash + 1 >= argc) {
		fprintf(stderr, "usage: %s RESULT_FILE [NAME=VALUE ...] -- PROGRAM [ARG ...]\n", argv[0]);
		return 2;
	}
	FILE *out = fopen(argv[1], "w");
	if (!out) {
		perror(argv[1]);
		return 2;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		for (int i = 2; i < dash; i++)
			if (!strchr(argv[i], '=') || putenv(argv[i])) {
				fprintf(stderr, "bench_spawn: bad NAME=VALUE %s\n", argv[i]);
				_exit(127);
			}
		execvp(argv[dash + 1], argv + dash + 1);
		perror(argv[dash + 1]);
		_exit(127);
	}
	int st;
	struct rusage ru;
	if (wait4(pid, &st, 0, &ru) != pid) {
		perror("wait4");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	long long wall = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
	fprintf(out, "wall_ns=%lld utime_us=%lld stime_us=%lld maxrss_kib=%ld minflt=%ld majflt=%ld status=%d\n", wall,
		(long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
		(long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec, ru.ru_maxrss, ru.ru_minflt,
		ru.ru_majflt, status);
	if (fclose(out)) {
		perror(argv[1]);
		return 2;
	}
	return status;
}
