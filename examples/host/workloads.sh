#!/bin/sh
# workloads.sh — real programs doing real work, for the demo and the LD_PRELOAD test suite.
# SPDX-License-Identifier: MIT
#
# usage: workloads.sh NAME WORKDIR [CXX_DEMO] [CORE_SOURCE]
#   NAME: python | git | sqlite | gcc | cxx
# Prints deterministic output (the same with and without LD_PRELOAD), so runs on
# liballoc and on glibc's malloc can be compared byte for byte. Exits 77 when the
# program is not installed (meson reads 77 as SKIP).
set -eu
name=$1 work=$2 cxx=${3:-} src=${4:-}
mkdir -p "$work"
cd "$work"
need() { command -v "$1" >/dev/null 2>&1 || { echo "$1 not installed" >&2; exit 77; }; }

case $name in
python)
	need python3
	python3 - <<'PY'
import collections, hashlib, json, random, re
random.seed(1234)
words = ["".join(random.choice("abcdefghij") for _ in range(random.randint(1, 12))) for _ in range(200000)]
counts = collections.Counter(words)
table = {w: [i, str(i) * (i % 7), {"n": i}] for i, w in enumerate(sorted(counts))}
blob = json.dumps(table, sort_keys=True)
again = json.loads(blob)
big = [bytearray(random.randint(1, 300000)) for _ in range(40)]
text = " ".join(words[:50000])
found = len(re.findall(r"\b[a-c]+\b", text))
print(len(words), len(counts), len(blob), len(again), sum(map(len, big)), found)
print(hashlib.sha256(blob.encode()).hexdigest())
PY
	;;
git)
	need git
	rm -rf repo && mkdir repo && cd repo
	export GIT_AUTHOR_NAME=demo GIT_AUTHOR_EMAIL=demo@example.org GIT_COMMITTER_NAME=demo \
		GIT_COMMITTER_EMAIL=demo@example.org GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" \
		GIT_COMMITTER_DATE="2026-01-01T00:00:00Z" HOME="$work" GIT_CONFIG_NOSYSTEM=1
	git init -q -b main .
	for c in 1 2 3 4 5; do
		i=0
		while [ $i -lt 60 ]; do
			seq $((i * c)) $((i * c + 400)) > "file$i.txt"
			i=$((i + 1))
		done
		git add -A && git commit -q -m "commit $c"
	done
	git log --stat --format='%H %s' | head -40
	git gc -q --aggressive
	git fsck --full --strict && echo "fsck ok"
	git count-objects -v | grep -v size
	git diff --stat HEAD~4 HEAD | tail -1
	;;
sqlite)
	need sqlite3
	rm -f demo.db
	sqlite3 demo.db <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v INTEGER, pad BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)
INSERT INTO t(k, v, pad) SELECT 'key' || (x * 7919 % 1000), x * 31 % 9973, zeroblob(x % 300) FROM c;
CREATE INDEX t_k ON t(k);
SELECT k, count(*), sum(v), max(length(pad)) FROM t GROUP BY k ORDER BY sum(v) DESC LIMIT 5;
SELECT count(*) FROM t a JOIN t b ON a.k = b.k AND a.id < b.id WHERE a.v < 50;
UPDATE t SET pad = randomblob(0) WHERE id % 3 = 0;
DELETE FROM t WHERE v % 5 = 0;
VACUUM;
PRAGMA integrity_check;
SELECT count(*), sum(v) FROM t;
SQL
	;;
gcc)
	need gcc
	[ -n "$src" ] || { echo "usage: workloads.sh gcc WORKDIR CXX_DEMO CORE_SOURCE" >&2; exit 2; }
	# gcc compiles liballoc's own core, freestanding, with optimisation.
	cp "$src" core.c
	cp "$(dirname "$src")/liballoc.h" liballoc.h
	gcc -std=c11 -O2 -ffreestanding -Wall -Wextra -c core.c -o core.o
	gcc -std=c11 -O2 -ffreestanding -m32 -c core.c -o core32.o 2>/dev/null || true
	sha256sum core.o | cut -c1-64
	wc -c < core.o
	;;
cxx)
	[ -n "$cxx" ] && [ -x "$cxx" ] || { echo "C++ demo not built" >&2; exit 77; }
	"$cxx"
	;;
*)
	echo "unknown workload $name" >&2
	exit 2
	;;
esac
