#!/bin/sh
# qemu_fault.sh — boot the Cortex-M3 firmware in its "hardfault" mode and require the fault handler's report of the faulting PC and exit status 3.
# SPDX-License-Identifier: MIT
#
# usage: qemu_fault.sh TIMEOUT_SECONDS QEMU [QEMU ARGS...]   (the args include -append hardfault)
# The firmware prints the address of the instruction it is about to fault on; the
# HardFault handler must report that same stacked PC, end the console with
# "liballoc-selftest: FAIL HardFault at pc=<it>" and exit through semihosting with
# status 3 (a handler that is missing or faults itself ends in QEMU's lockup, 134).
# Exits 0 on success, 1 on failure (with the log), 77 (SKIP) without QEMU.
set -u
limit=$1 qemu=$2
shift 2
if ! command -v "$qemu" >/dev/null 2>&1; then
	echo "SKIP: $qemu not installed (scripts/bootstrap.sh installs it)"
	exit 77
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
timeout "$limit" "$qemu" "$@" </dev/null >"$log" 2>&1
status=$?
pc=$(sed -n 's/^flat-cortex-m: fault test: executing udf at pc=\(0x[0-9a-f]\{8\}\)$/\1/p' "$log")
last=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)
if [ "$status" -eq 3 ] && [ -n "$pc" ] && grep -q "^flat-cortex-m: HardFault (exception 3) pc=$pc " "$log" &&
	[ "$last" = "liballoc-selftest: FAIL HardFault at pc=$pc" ]; then
	cat "$log"
	echo "OK: the HardFault handler reported pc=$pc and exited with status 3"
	exit 0
fi
echo "FAIL: $qemu exited with status $status (expected 3), expected fault pc '${pc:-none printed}'"
[ "$status" -eq 124 ] && echo "(timed out after $limit s)"
echo "---- console log ----"
cat "$log"
exit 1
