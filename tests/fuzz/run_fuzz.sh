#!/bin/sh
# run_fuzz.sh — runs one libFuzzer harness for a bounded time over its seed corpus; any crash fails the test.
# SPDX-License-Identifier: MIT
#
# usage: run_fuzz.sh FUZZER SECONDS SEED_DIR ARTIFACT_DIR REPLAY
# LIBALLOC_FUZZ_SECONDS overrides SECONDS (longer local campaigns). New corpus
# entries go to a temporary directory, never into the source tree; a crash input is
# kept in ARTIFACT_DIR for the replay driver.
set -eu
fuzzer=$1 seconds=${LIBALLOC_FUZZ_SECONDS:-$2} seeds=$3 artifacts=$4 replay=$5
name=$(basename "$fuzzer")
mkdir -p "$artifacts"
work=$(mktemp -d "${TMPDIR:-/tmp}/liballoc-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
status=0
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=2048 -print_final_stats=1 \
	-artifact_prefix="$artifacts/$name-" "$work" "$seeds" || status=$?
if [ "$status" -ne 0 ]; then
	echo "run_fuzz: $name failed (status $status); the crash input is in $artifacts/$name-*" >&2
	echo "run_fuzz: replay it with: $replay $artifacts/$name-<crash file>   (or under gdb --args)" >&2
	exit 1
fi
echo "run_fuzz: $name ran ${seconds} s without a crash ($(ls "$work" | wc -l) new corpus entries discarded)"
