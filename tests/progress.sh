#!/bin/sh
# progress.sh — run a long test for `meson test` and print a progress line every few seconds, so its log (and the console, for verbose tests) shows it is alive.
# SPDX-License-Identifier: MIT
#
# usage: progress.sh NAME INTERVAL_SECONDS CMD [ARGS...]
# CMD's output passes through unchanged; every INTERVAL seconds while it runs a line
# "NAME: still running after N s" is added, and "NAME: finished in N s (status S)"
# at the end. The status is CMD's: a CMD killed by a signal kills this script with
# the same signal, so meson reports the signal. meson's timeout kills the whole
# process group, CMD included.
set -u
if [ $# -lt 3 ]; then
	echo "usage: progress.sh NAME INTERVAL_SECONDS CMD [ARGS...]" >&2
	exit 2
fi
name=$1 interval=$2
shift 2
start=$(date +%s)
"$@" &
child=$!
(
	# sleep must not hold meson's output pipe open after the test has ended
	while sleep "$interval" </dev/null >/dev/null 2>&1; do
		kill -0 "$child" 2>/dev/null || exit 0
		echo "$name: still running after $(( $(date +%s) - start )) s"
	done
) &
ticker=$!
wait "$child"
status=$?
kill "$ticker" 2>/dev/null
wait "$ticker" 2>/dev/null
echo "$name: finished in $(( $(date +%s) - start )) s (status $status)"
if [ "$status" -gt 128 ] && [ "$status" -lt 160 ]; then
	sig=$(( status - 128 ))
	trap - "$sig" 2>/dev/null
	kill -s "$(kill -l "$sig")" $$
fi
exit "$status"
