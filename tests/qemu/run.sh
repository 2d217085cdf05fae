#!/bin/sh
# run.sh — boot a QEMU image for `meson test`: require the exact exit status and the PASS line, print the log on failure.
# SPDX-License-Identifier: MIT
#
# usage: run.sh EXPECTED_STATUS TIMEOUT_SECONDS QEMU [QEMU ARGS...]
# QEMU's stdin is /dev/null. Exits 0 on success, 1 on failure (with the console
# log), 77 (SKIP) when the QEMU binary is missing. A status other than the
# expected one is a failure: an x86 triple fault under -no-reboot exits 0.
set -u
expect=$1 limit=$2 qemu=$3
shift 3
if ! command -v "$qemu" >/dev/null 2>&1; then
	echo "SKIP: $qemu not installed (scripts/bootstrap.sh installs it)"
	exit 77
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
timeout "$limit" "$qemu" "$@" </dev/null >"$log" 2>&1
status=$?
pass=$(grep -c '^liballoc-selftest: PASS [0-9][0-9]* checks' "$log")
last=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)
if [ "$status" -eq "$expect" ] && [ "$pass" -eq 1 ] && echo "$last" | grep -q '^liballoc-selftest: PASS'; then
	cat "$log"
	exit 0
fi
echo "FAIL: $qemu exited with status $status (expected $expect), PASS lines: $pass"
[ "$status" -eq 124 ] && echo "(timed out after $limit s)"
echo "---- console log ----"
cat "$log"
exit 1
