#!/bin/sh
# boot.sh — boot the x86_64 kernel for `meson test` through tests/qemu/run.sh, and also require the PASS line to name the CPU count.
# SPDX-License-Identifier: MIT
#
# usage: boot.sh RUN_SH CPUS EXPECTED_STATUS TIMEOUT_SECONDS QEMU [QEMU ARGS...]
# run.sh already requires the exact exit status and "liballoc-selftest: PASS <n>
# checks" as the last line (and reports SKIP, 77, without QEMU); this adds
# "on <CPUS> cpus" at its end, so a kernel that started fewer CPUs fails.
set -u
run=$1 cpus=$2
shift 2
out=$("$run" "$@")
status=$?
printf '%s\n' "$out"
[ "$status" -ne 0 ] && exit "$status"
if ! printf '%s\n' "$out" | grep -q "^liballoc-selftest: PASS [0-9][0-9]* checks on $cpus cpus\$"; then
	echo "FAIL: the PASS line does not say \"on $cpus cpus\""
	exit 1
fi
exit 0
