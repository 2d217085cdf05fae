#!/bin/sh
# demo.sh — the main demo: python3, git, sqlite3, gcc and a C++ program running on liballoc through LD_PRELOAD.
# SPDX-License-Identifier: MIT
#
# usage: demo.sh LIBALLOC_SO CXX_DEMO CORE_SOURCE HELLO
# Each program runs with LD_PRELOAD=LIBALLOC_SO and LIBALLOC_STATS=1; its output is
# shown, then how many processes liballoc served (git and gcc start several, and so
# does the shell script around them) and the stats of the busiest one.
set -u
lib=$1 cxx=$2 src=$3 hello=$4
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/liballoc-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
status=0

for w in python git sqlite gcc cxx; do
	echo "=== $w, on liballoc"
	LD_PRELOAD=$lib LIBALLOC_STATS=1 "$here/workloads.sh" "$w" "$work/$w" "$cxx" "$src" 2>"$work/$w.err" | tail -n 8
	rc=$?
	grep -v '^liballoc stats\|^  bytes:\|^  blocks:\|^  hooks:' "$work/$w.err" | grep -v '^$' | head -5
	if grep -q 'not installed' "$work/$w.err"; then
		echo "(skipped: $(head -1 "$work/$w.err"))"
		continue
	fi
	procs=$(grep -c '^liballoc stats' "$work/$w.err")
	echo "--- liballoc served $procs process(es); the busiest one:"
	# Stats come as 4-line blocks; print the block with the most allocations.
	awk '/^liballoc stats/ { blk = $0; next }
	     { blk = blk "\n" $0 }
	     /^  blocks:/ { split($0, f, "allocs="); n = f[2] + 0 }
	     /^  hooks:/ { if (n >= best) { best = n; keep = blk } }
	     END { print keep }' "$work/$w.err"
	[ "$procs" -gt 0 ] || status=1
done

echo "=== a host program linked with liballoc.a (no LD_PRELOAD)"
"$hello" || status=1

echo "=== who answers python3's malloc? (LD_DEBUG=bindings)"
LD_DEBUG=bindings LD_PRELOAD=$lib python3 -c pass 2>&1 | grep -m 3 "normal symbol \`\(malloc\|free\|realloc\)'" |
	sed 's/^ *[0-9]*: *//'
exit $status
