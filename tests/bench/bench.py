#!/usr/bin/env python3
# bench.py — the allocator benchmark runner: every workload under every allocator, as ratios to glibc; smoke checks.
# SPDX-License-Identifier: MIT
"""
usage:
  bench.py suite --work BENCH_WORK --spawn BENCH_SPAWN --liballoc LIBALLOC_SO [options] [NAME=PATH ...]
  bench.py smoke --preload SO -- COMMAND [ARG ...]

suite: runs every workload of BENCH_WORK under every allocator by LD_PRELOAD —
glibc (no preload), jemalloc, mimalloc, tcmalloc, liballoc, the hardened
liballoc.so when given (--hardened), plus any NAME=PATH given — RUNS times each,
round-robin over the allocators within each repetition (the starting allocator
rotates), so a burst of load on this shared machine hits every allocator alike.
Each run goes through BENCH_SPAWN, which measures wall time, the child's own peak
RSS and its minor page faults (wait4). Sections (--sections, all by default):
  workloads  per workload, median wall time and median peak RSS, as ratios to
             glibc, with a geometric-mean row, fragmentation = peak RSS / peak
             live bytes; for largebuf also page faults and the memory system
             calls of one run under `strace -c -f` (if strace is installed);
  scaling    threadlocal and larson with 1 and with 2 threads: work per second
             of 2 threads / of 1;
  sweep      ns per malloc+free with 1, 2, 8, 64, 1000 threads alive and one
             working, as cost at N / cost at 1 (four loops, see bench_work.c);
  latency    cycles per malloc/free: median, p99, p99.99, max;
  programs   real programs (examples/host/workloads.sh) timed the same way, with
             the range of the per-run ratios;
then the targets of issue 15 (and the remaining ones of issue 6), checked for
liballoc against this run's figures. Writes to OUTDIR bench.csv, bench-runs.csv
(every run), bench-scaling.csv, bench-sweep.csv, bench-syscalls.csv,
bench-latency.csv, bench-targets.csv, the chart bench.svg / bench.png
(gnuplot) and, for each workload with a fragmentation figure, liballoc's heap map
at its exit, heap-<workload>.svg (LIBALLOC_MAP, one more untimed run). Every
run's checksum must equal glibc's; a crash or a wrong checksum
is listed with the command that reproduces it, and the runner then exits 1.

Environment (for `ninja bench`): BENCH_QUICK=1 (a quick development run),
BENCH_RUNS=N, BENCH_PROG_RUNS=N, BENCH_WORKLOADS=a,b,
BENCH_SECTIONS=workloads,scaling,sweep,latency,programs, BENCH_SWEEP=1,2,8,64,1000,
BENCH_HARDENED=PATH or 0, BENCH_ALLOCATORS="name=path ..." (extra allocators).

smoke: runs COMMAND plainly and with LD_PRELOAD=SO; both must exit 0 and print the
same checksum=... value (what `meson test --suite bench` checks for every workload).
"""
import argparse
import csv
import hashlib
import math
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

LIBDIR = "/usr/lib/x86_64-linux-gnu"
SYSTEM_ALLOCATORS = [
    ("jemalloc", LIBDIR + "/libjemalloc.so.2"),
    ("mimalloc", LIBDIR + "/libmimalloc.so.2"),
    ("tcmalloc", LIBDIR + "/libtcmalloc_minimal.so.4"),
]
OURS = "liballoc"
HARDENED = "hardened"
MULTI_THREADED = ("larson", "prodcons", "falseshare", "threadlocal")
# Threads per workload where it is not --threads: threadlocal models the issue's
# glibc-thread run, two working threads on this two-core machine.
WORKLOAD_THREADS = {"threadlocal": 2}
# Scaling: these run with 1 and with 2 threads; work per second of 2 / of 1.
SCALING = ("threadlocal", "larson")
# Sweep: threads alive (one working), and the loops bench_work times.
SWEEP = (1, 2, 8, 64, 1000)
SWEEP_LOOPS = ("small", "8k", "mix", "burst")
# Workloads whose memory system calls are counted (strace -c -f), once per allocator.
SYSCALL_WORKLOADS = ("largebuf",)
SYSCALLS = ("mmap", "munmap", "mremap", "madvise", "brk", "mprotect")
# Fragmentation is shown only for workloads holding at least this much at full size
# (scaled with the size): below it, peak RSS is mostly the process image.
FRAG_MIN_LIVE = 4 << 20
PROGRAMS = ("python", "git", "sqlite", "gcc", "cxx")


# ---- running things --------------------------------------------------------

def kv(text, prefix):
    """key=value pairs of the first line of text starting with prefix."""
    for line in text.splitlines():
        if line.startswith(prefix):
            return dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
    return None


def base_env():
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    for k in [k for k in env if k.startswith("LIBALLOC_")]:
        env.pop(k)  # no knob from outside changes what is measured
    env.pop("MALLOC_PERTURB_", None)  # meson test sets it; it would slow glibc down
    env.pop("MALLOC_CHECK_", None)
    return env


def spawn(spawn_exe, preload, cmd, cwd=None, extra_env=(), timeout=900):
    """Run cmd through bench_spawn; returns wall, cpu, rss, status, stdout, stderr."""
    fd, res = tempfile.mkstemp(prefix="bench-spawn-", suffix=".txt")
    os.close(fd)
    args = [spawn_exe, res] + (["LD_PRELOAD=" + preload] if preload else []) + list(extra_env) + ["--"] + cmd
    try:
        p = subprocess.run(args, cwd=cwd, env=base_env(), capture_output=True, timeout=timeout)
        out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        with open(res) as f:
            r = kv(f.read(), "wall_ns=")
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "wall": None, "cpu": None, "rss": None, "minflt": None, "stdout": "",
                "stderr": "timed out"}
    finally:
        os.unlink(res)
    if not r:
        return {"status": p.returncode, "wall": None, "cpu": None, "rss": None, "minflt": None, "stdout": out,
                "stderr": err}
    return {
        "status": int(r["status"]),
        "wall": int(r["wall_ns"]) / 1e9,
        "cpu": (int(r["utime_us"]) + int(r["stime_us"])) / 1e6,
        "rss": int(r["maxrss_kib"]),
        "minflt": int(r["minflt"]),
        "stdout": out,
        "stderr": err,
    }


def repro(preload, cmd):
    return ("LD_PRELOAD=" + shlex.quote(preload) + " " if preload else "") + " ".join(shlex.quote(c) for c in cmd)


def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(x, spec="{:.2f}", none="-"):
    return none if x is None else spec.format(x)


# ---- the suite ---------------------------------------------------------------

class Suite:
    def __init__(self, a):
        self.a = a
        self.allocs = [("glibc", None)] + SYSTEM_ALLOCATORS + [(OURS, a.liballoc)] + a.extra
        self.present = [(n, p) for n, p in self.allocs if p is None or os.path.exists(p)]
        self.missing = [n for n, p in self.allocs if not (p is None or os.path.exists(p))]
        self.names = [n for n, _ in self.allocs]
        self.failures = []   # (what, allocator, detail, reproduce)
        self.runs = []       # raw rows for bench-runs.csv
        self.rows = []       # summary rows for bench.csv
        self.lat = []        # latency rows
        self.scale_rows, self.sweep_rows, self.sys_rows = [], [], []  # rows of the other CSV files
        self.wres = None     # the workloads section's runs, reused by the scaling section
        self.tgt = []        # the targets block, for bench-targets.csv
        scale = {"full": 1.0, "tiny": 0.002}.get(a.size) or float(a.size)
        self.frag_min = FRAG_MIN_LIVE * min(1.0, scale)
        self.out = []        # everything printed, also kept for the log

    def say(self, s=""):
        print(s, flush=True)

    def order(self, rep):
        """Round-robin over the allocators, starting one further on each repetition."""
        k = rep % len(self.present)
        return self.present[k:] + self.present[:k]

    # -- running items (a workload at some thread count, a sweep point) --
    def run_items(self, section, items, runs):
        """Each (label, argv) item under every allocator, RUNS times, allocators alternating;
        checksums checked against glibc's. Returns {(label, allocator): [run dicts]}."""
        a = self.a
        res = {}
        w0 = max([10] + [len(label) for label, _ in items])
        for rep in range(runs):
            for label, args in items:
                cmd = [a.work] + args
                line = []
                for name, path in self.order(rep):
                    r = spawn(a.spawn, path, cmd)
                    info = kv(r["stdout"], "workload=") or {}
                    r["rep"] = rep
                    r["info"] = info
                    r["checksum"] = info.get("checksum")
                    r["ops"] = int(info["ops"]) if "ops" in info else None
                    r["peak_live"] = int(info["peak_live"]) if "peak_live" in info else None
                    r["ok"] = r["status"] == 0 and r["checksum"] is not None
                    if not r["ok"]:
                        self.failures.append((label, name, "exit status %s: %s" % (r["status"], r["stderr"].strip()[-300:]),
                                              repro(path, cmd)))
                    res.setdefault((label, name), []).append(r)
                    self.runs.append({"section": section, "item": label, "allocator": name, "rep": rep,
                                      "status": r["status"], "wall_s": r["wall"], "cpu_s": r["cpu"],
                                      "maxrss_kib": r["rss"], "minflt": r["minflt"], "ops": r["ops"],
                                      "peak_live_bytes": r["peak_live"], "checksum": r["checksum"],
                                      "extra": " ".join("%s=%s" % (k, v) for k, v in info.items() if k.startswith("ns_"))})
                    line.append("%s %s" % (name, fmt(r["wall"], "{:.2f}s") if r["ok"] else "FAIL(%s)" % r["status"]))
                self.say("  [%d/%d] %-*s %s" % (rep + 1, runs, w0, label, "  ".join(line)))
        # checksums must agree with glibc's (or, if glibc failed, with the first good run)
        for label, args in items:
            good = [r["checksum"] for n, _ in self.present for r in res.get((label, n), []) if r["ok"]]
            ref = next((r["checksum"] for r in res.get((label, "glibc"), []) if r["ok"]), good[0] if good else None)
            for n, p in self.present:
                for r in res.get((label, n), []):
                    if r["ok"] and r["checksum"] != ref:
                        r["ok"] = False
                        self.failures.append((label, n, "wrong checksum %s (glibc: %s)" % (r["checksum"], ref),
                                              repro(p, [a.work] + args)))
        return res

    def status(self, res, key, n):
        rs = res.get(key, [])
        if n in self.missing:
            return "missing"
        if not rs:
            return "skipped"
        return "FAIL" if any(not r["ok"] for r in rs) else "ok"

    # -- workloads --
    def workload_threads(self, w):
        return WORKLOAD_THREADS.get(w, self.a.threads)

    def workloads(self):
        a = self.a
        self.say("== workloads: %s, scale %s, %d thread(s) (%s), %d run(s) each, allocators alternating"
                 % (" ".join(a.workloads), a.size, a.threads,
                    ", ".join("%s %d" % kv_ for kv_ in WORKLOAD_THREADS.items()), a.runs))
        items = [(w, [w, a.size, str(self.workload_threads(w))]) for w in a.workloads]
        self.wres = self.run_items("workload", items, a.runs)
        return self.summarise("workload", a.workloads, self.wres)

    # -- heap maps: liballoc's heap at the end of each fragmentation workload --
    def heap_maps(self, wl, wtab):
        """One more (untimed) run under liballoc of each workload with a fragmentation
        figure, with LIBALLOC_MAP=OUTDIR/heap-<workload>.svg: the chunks it still holds
        at exit and what is in them (README, "Debugging reports")."""
        a = self.a
        out = []
        for w in [w for w in wl if wtab.get((w, OURS), {}).get("frag") is not None]:
            path = os.path.join(a.outdir, "heap-%s.svg" % w)
            cmd = [a.work, w, a.size, str(self.workload_threads(w))]
            r = spawn(a.spawn, a.liballoc, cmd, extra_env=["LIBALLOC_MAP=" + path])
            if r["status"] == 0 and os.path.exists(path):
                out.append(path)
            else:
                self.failures.append(("heap map", OURS, "LIBALLOC_MAP wrote no %s (exit %s)" % (path, r["status"]),
                                      "LIBALLOC_MAP=%s %s" % (shlex.quote(path), repro(a.liballoc, cmd))))
        return out

    # -- scaling: work per second with 2 threads / with 1 --
    def scaling(self):
        a = self.a
        ws = [w for w in SCALING if w in a.known]
        plan, todo = {}, []
        for w in ws:
            for t in (1, 2):
                if w in a.workloads and self.wres is not None and self.workload_threads(w) == t:
                    plan[(w, t)] = (self.wres, w)  # the workloads section ran it already
                else:
                    plan[(w, t)] = (None, "%s@%d" % (w, t))
                    todo.append(("%s@%d" % (w, t), [w, a.size, str(t)]))
        self.say("== scaling: %s with 1 and 2 threads (work per second), %d run(s) each, allocators alternating%s"
                 % (", ".join(ws), a.runs, "; reusing the workloads section's " +
                    ", ".join("%s (%d threads)" % (w, t) for (w, t), (src, _) in plan.items() if src is not None)
                    if any(src is not None for src, _ in plan.values()) else ""))
        res = self.run_items("scaling", todo, a.runs) if todo else {}
        table = {}
        for w in ws:
            for n in self.names:
                c = {"status": "ok"}
                for t in (1, 2):
                    src, label = plan[(w, t)]
                    src = res if src is None else src
                    st = self.status(src, (label, n), n)
                    if st != "ok":
                        c["status"] = st
                    rs = [r for r in src.get((label, n), []) if r["ok"] and r["wall"] and r["ops"]]
                    c["ops_per_s_%d" % t] = median([r["ops"] / r["wall"] for r in rs])
                    c["cpus_%d" % t] = median([r["cpu"] / r["wall"] for r in rs if r["cpu"] is not None])
                c["ratio"] = ratio(c["ops_per_s_2"], c["ops_per_s_1"])
                table[(w, n)] = c
                self.scale_rows.append(dict(workload=w, allocator=n, **c))
        return ws, table

    def show_scaling(self, ws, table):
        cw = max(9, max(len(n) for n in self.names) + 1)
        self.say("Scaling: work per second with 2 threads / with 1 (2 is perfect on 2 cores; target >= 1.8); "
                 "1-thread rate in M ops/s in brackets")
        self.say("  " + "%-12s" % "" + "".join("%*s" % (cw + 8, n) for n in self.names))
        for w in ws:
            cells = []
            for n in self.names:
                c = table[(w, n)]
                cells.append(c["status"] if c["status"] != "ok" else "%s (%s)" % (
                    fmt(c["ratio"]), fmt(c["ops_per_s_1"] and c["ops_per_s_1"] / 1e6, "{:.1f}")))
            self.say("  " + "%-12s" % w + "".join("%*s" % (cw + 8, x) for x in cells))
        self.say("  CPUs busy in the 2-thread runs (CPU time / wall time, median): " + "; ".join(
            "%s: %s" % (w, ", ".join("%s %s" % (n, fmt(table[(w, n)].get("cpus_2"))) for n in self.names)) for w in ws))
        g = [table[(w, "glibc")].get("cpus_2") for w in ws if table[(w, "glibc")].get("cpus_2")]
        if g and min(g) < 1.6:
            self.say("  WARNING: glibc's 2-thread runs got %s CPUs: the machine was busy, so these scaling figures "
                     "say more about the load than about the allocators" % fmt(min(g)))
        self.say()

    # -- sweep: cost per op with N threads alive, one working --
    def sweep(self):
        a = self.a
        self.say("== sweep: %s threads alive, one working; %d run(s) each, allocators alternating"
                 % (", ".join(map(str, a.sweep)), a.runs))
        items = [("sweep@%d" % t, ["sweep", a.size, str(t)]) for t in a.sweep]
        res = self.run_items("sweep", items, a.runs)
        table = {}
        base = a.sweep[0]
        for n in self.names:
            for t in a.sweep:
                rs = [r for r in res.get(("sweep@%d" % t, n), []) if r["ok"]]
                c = {"status": self.status(res, ("sweep@%d" % t, n), n), "rss": median([r["rss"] for r in rs])}
                for lp in SWEEP_LOOPS:
                    c[lp] = median([float(r["info"]["ns_" + lp]) for r in rs if "ns_" + lp in r["info"]])
                table[(t, n)] = c
            for t in a.sweep:
                c = table[(t, n)]
                for lp in SWEEP_LOOPS:
                    c[lp + "_ratio"] = ratio(c[lp], table[(base, n)][lp])
                c["worst_ratio"] = max([c[lp + "_ratio"] for lp in SWEEP_LOOPS if c[lp + "_ratio"]], default=None)
                row = {"threads": t, "allocator": n, "status": c["status"], "rss": c["rss"],
                       "worst_ratio": c["worst_ratio"]}
                for lp in SWEEP_LOOPS:
                    row["ns_" + lp], row[lp + "_ratio"] = c[lp], c[lp + "_ratio"]
                self.sweep_rows.append(row)
        return table

    def show_sweep(self, table):
        a = self.a
        base = a.sweep[0]
        cw = max(10, max(len(n) for n in self.names) + 2)
        self.say("Sweep: ns per malloc+free with N threads alive, one working; the %d-thread row in ns, the others "
                 "as cost at N / cost at %d (target: <= 1.2 at %d)" % (base, base, a.sweep[-1]))
        self.say("  %-10s" % "threads" + "".join("%*s" % (cw, n) for n in self.names))
        for lp, what in (("small", "small blocks, 16-256 B"), ("8k", "8 KiB blocks"),
                         ("mix", "mix, 1 op in 8 of 8 KiB"), ("burst", "bursts of 512 x 8 KiB, then all freed")):
            self.say("  %s" % what)
            for t in a.sweep:
                cells = []
                for n in self.names:
                    c = table[(t, n)]
                    if c["status"] != "ok":
                        cells.append(c["status"])
                    elif t == base:
                        cells.append(fmt(c[lp], "{:.1f}"))
                    else:
                        cells.append(fmt(c[lp + "_ratio"]))
                self.say("    %6d    " % t + "".join("%*s" % (cw, x) for x in cells))
        self.say("  peak RSS, MiB")
        for t in a.sweep:
            self.say("    %6d    " % t + "".join("%*s" % (cw, fmt(table[(t, n)]["rss"] and table[(t, n)]["rss"] / 1024,
                                                                 "{:.1f}")) for n in self.names))
        self.say()

    # -- page faults and memory system calls --
    def strace_count(self, strace, preload, cmd):
        fd, out = tempfile.mkstemp(prefix="bench-strace-", suffix=".txt")
        os.close(fd)
        try:
            args = [strace, "-f", "-qq", "-c", "-U", "calls,name", "-e", "trace=" + ",".join(SYSCALLS), "-o", out]
            args += (["-E", "LD_PRELOAD=" + preload] if preload else []) + cmd
            p = subprocess.run(args, env=base_env(), capture_output=True, text=True, timeout=900)
            counts = {k: 0 for k in SYSCALLS}
            with open(out) as f:
                for line in f:
                    m = re.match(r"\s*(\d+)\s+(\w+)\s*$", line)
                    if m and m.group(2) in counts:
                        counts[m.group(2)] = int(m.group(1))
            return p.returncode, counts
        finally:
            os.unlink(out)

    def syscalls(self, wtab):
        a = self.a
        strace = shutil.which("strace")
        ws = [w for w in SYSCALL_WORKLOADS if w in a.workloads]
        if not ws:
            return None
        if not strace:
            self.say("strace not found: no system-call counts (apt-get install strace)")
            return None
        self.say("== system calls: %s once per allocator under strace -c -f, net of a run that only starts "
                 "(bench_work's usage message)" % ", ".join(ws))
        table = {}
        for w in ws:
            cmd = [a.work, w, a.size, str(self.workload_threads(w))]
            for n, p in self.present:
                st, counts = self.strace_count(strace, p, cmd)
                _, base = self.strace_count(strace, p, [a.work])
                if st != 0:
                    self.failures.append((w + " (strace)", n, "exit status %s" % st, repro(p, cmd)))
                    continue
                c = {k: counts[k] - base[k] for k in SYSCALLS}
                c["minflt"] = wtab[(w, n)].get("minflt") if (w, n) in wtab else None
                table[(w, n)] = c
                self.sys_rows.append(dict(workload=w, allocator=n, **c))
        return ws, table

    def show_syscalls(self, ws, table):
        cw = max(9, max(len(n) for n in self.names) + 1)
        for w in ws:
            self.say("%s: minor page faults (median of the timed runs) and memory system calls (one run under strace, "
                     "net of process start)" % w)
            self.say("  %-10s" % "" + "".join("%*s" % (cw, n) for n in self.names))
            for k in ("minflt",) + SYSCALLS:
                cells = [fmt(table[(w, n)][k], "{:.0f}") if (w, n) in table else "-" for n in self.names]
                self.say("  %-10s" % k + "".join("%*s" % (cw, x) for x in cells))
            self.say()

    def summarise(self, section, items, res):
        """Median time and RSS per (item, allocator), ratios to glibc, fragmentation."""
        table = {}
        for it in items:
            for n in self.names:
                rs = [r for r in res.get((it, n), []) if r["ok"]]
                st = self.status(res, (it, n), n)
                t, rss = median([r["wall"] for r in rs]), median([r["rss"] for r in rs])
                live = max([r.get("peak_live") or 0 for r in rs], default=0) or None
                table[(it, n)] = {"status": st, "time": t, "rss": rss, "cpu": median([r["cpu"] for r in rs]),
                                  "min_time": min([r["wall"] for r in rs], default=None), "runs": len(res.get((it, n), [])),
                                  "ok_runs": len(rs), "live": live, "minflt": median([r["minflt"] for r in rs]),
                                  "frag": rss * 1024 / live if rss and live and live >= self.frag_min else None}
        for it in items:
            g = table[(it, "glibc")]
            gruns = {r["rep"]: r for r in res.get((it, "glibc"), []) if r["ok"]}
            for n in self.names:
                c = table[(it, n)]
                c["time_ratio"] = ratio(c["time"], g["time"])
                c["rss_ratio"] = ratio(c["rss"], g["rss"])
                # spread: each run against glibc's run of the same repetition
                pairs = [(r, gruns[r["rep"]]) for r in res.get((it, n), []) if r["ok"] and r["rep"] in gruns]
                for k, key in (("time", "wall"), ("rss", "rss")):
                    rr = [ratio(x[key], y[key]) for x, y in pairs if ratio(x[key], y[key])]
                    c[k + "_lo"], c[k + "_hi"] = (min(rr), max(rr)) if rr else (None, None)
        for n in self.names:
            table[("geomean", n)] = {
                "status": "ok", "time_ratio": geomean([table[(it, n)]["time_ratio"] for it in items]),
                "rss_ratio": geomean([table[(it, n)]["rss_ratio"] for it in items]),
                "frag": geomean([table[(it, n)]["frag"] for it in items])}
        for it in list(items) + ["geomean"]:
            for n in self.names:
                c = table[(it, n)]
                self.rows.append({"section": section, "item": it, "allocator": n, "status": c["status"],
                                  "runs": c.get("runs"), "ok_runs": c.get("ok_runs"),
                                  "median_wall_s": c.get("time"), "min_wall_s": c.get("min_time"),
                                  "wall_ratio": c["time_ratio"], "median_cpu_s": c.get("cpu"),
                                  "median_maxrss_kib": c.get("rss"), "rss_ratio": c["rss_ratio"],
                                  "time_ratio_lo": c.get("time_lo"), "time_ratio_hi": c.get("time_hi"),
                                  "rss_ratio_lo": c.get("rss_lo"), "rss_ratio_hi": c.get("rss_hi"),
                                  "median_minflt": c.get("minflt"),
                                  "peak_live_bytes": c.get("live"), "fragmentation": c.get("frag")})
        return table

    def print_table(self, title, items, table, key, glibc_fmt, other_fmt="{:.2f}"):
        w0 = max(10, max(len(i) for i in list(items) + ["geomean"]))
        cw = max(9, max(len(n) for n in self.names) + 1)
        self.say(title)
        self.say("  " + "".join(["%-*s" % (w0, "")] + ["%*s" % (cw, n) for n in self.names]))
        for it in list(items) + (["geomean"] if key != "frag" else []):
            cells = []
            for n in self.names:
                c = table[(it, n)]
                if c["status"] in ("missing", "skipped", "FAIL"):
                    cells.append(c["status"])
                elif n == "glibc" and it != "geomean" and glibc_fmt:
                    cells.append(glibc_fmt(c))
                else:
                    cells.append(fmt(c[key], other_fmt))
            self.say("  " + "".join(["%-*s" % (w0, it)] + ["%*s" % (cw, x) for x in cells]))
        self.say()

    def show(self, items, table, what):
        self.print_table("%s: median wall time, ratio to glibc (glibc's own in seconds; lower is better)" % what,
                         items, table, "time_ratio", lambda c: fmt(c["time"], "{:.3f}s"))
        self.print_table("%s: median peak RSS, ratio to glibc (glibc's own in MiB; lower is better)" % what,
                         items, table, "rss_ratio", lambda c: fmt(c["rss"] and c["rss"] / 1024, "{:.1f}M"))

    def show_spread(self, items, table, what):
        """The range of per-run ratios, each run against glibc's run of the same repetition."""
        w0 = max(10, max(len(i) for i in items))
        names = [n for n in self.names if n != "glibc"]
        rows = []
        for it in items:
            cells = []
            for n in names:
                c = table[(it, n)]
                cells.append(c["status"] if c["status"] != "ok" or c.get("time_lo") is None else "%s-%s / %s-%s" % (
                    fmt(c["time_lo"]), fmt(c["time_hi"]), fmt(c["rss_lo"]), fmt(c["rss_hi"])))
            rows.append((it, cells))
        cw = max([len(n) for n in names] + [len(x) for _, cells in rows for x in cells]) + 2
        self.say("%s: range of the per-run ratios to glibc (each run against glibc's of the same repetition), "
                 "time / RSS" % what)
        self.say("  " + "%-*s" % (w0, "") + "".join("%*s" % (cw, n) for n in names))
        for it, cells in rows:
            self.say("  " + "%-*s" % (w0, it) + "".join("%*s" % (cw, x) for x in cells))
        self.say()

    # -- latency --
    def latency(self):
        a = self.a
        ops, passes = str(a.lat_ops), str(a.lat_passes)
        self.say("== latency: %s ops, each op's minimum over %s pass(es)" % (ops, passes))
        jobs = []
        if a.latency_core:
            jobs.append(("liballoc core, no thread cache", OURS + "-core", None, [a.latency_core, ops, passes]))
        if a.latency_core_tc:
            jobs.append(("liballoc core + thread cache", OURS + "-core-tc", None, [a.latency_core_tc, ops, passes]))
        if a.latency_sys:
            for n, p in self.present:
                jobs.append(("%s, raw" % n, n, p, [a.latency_sys, ops, passes]))
        ref = None
        for label, alloc, path, cmd in jobs:
            r = spawn(a.spawn, path, cmd)
            head = kv(r["stdout"], "latency ")
            ops_ = {o: kv(r["stdout"], "op=" + o + " ") for o in ("malloc", "free")}
            if r["status"] != 0 or not head or not all(ops_.values()):
                self.failures.append(("latency", alloc, "exit status %s: %s" % (r["status"], r["stderr"].strip()[-300:]),
                                      repro(path, cmd)))
                continue
            if ref is None:
                ref = head["checksum"]
            elif head["checksum"] != ref:
                self.failures.append(("latency", alloc, "wrong checksum %s (first: %s)" % (head["checksum"], ref),
                                      repro(path, cmd)))
            self.say("  %-32s malloc median %s, max %s; free median %s, max %s  (%.1f s)" % (
                label, ops_["malloc"]["median"], ops_["malloc"]["max"], ops_["free"]["median"], ops_["free"]["max"],
                r["wall"]))
            cold = kv(r["stdout"], "op=coldline ")
            if cold:  # the machine's floor, measured in the same run (bench_latency.c)
                ops_["coldline"] = cold
            for o, d in ops_.items():
                self.lat.append({"impl": label, "allocator": alloc, "op": o, "n": int(d["n"]),
                                 "median": float(d["median"]), "p99": int(d["p99"]), "p9999": int(d["p9999"]),
                                 "max": int(d["max"]), "max_1pass": int(d["max_1pass"]), "unit": head["unit"],
                                 "timer_overhead": float(head["timer_overhead"]),
                                 "resolution": int(head["resolution"]), "hooks": head["hooks"],
                                 "hook_calls": int(head["hook_calls"]), "passes": int(head["passes"]),
                                 "tsc_ghz": float(head["tsc_ghz"])})

    def show_latency(self):
        l0 = self.lat[0]
        self.say("Latency, %s per operation (TSC %.2f GHz, advancing in steps of %d), each the minimum over %d "
                 "identical passes, net of the timer's own %.1f; medians interpolated within their step; max/med = "
                 "max / median; '1-pass max' includes interrupts and preemption"
                 % (l0["unit"], l0["tsc_ghz"], l0["resolution"], l0["passes"], l0["timer_overhead"]))
        w0 = max(len(x["impl"]) for x in self.lat) + 2
        hdr = "%-*s %8s %8s %8s %8s %8s %8s %10s" % (w0, "", "op", "median", "p99", "p99.99", "max", "max/med", "1-pass max")
        self.say("  " + hdr)
        for x in self.lat:
            self.say("  %-*s %8s %8.1f %8d %8d %8d %8s %10d" % (
                w0, x["impl"], x["op"], x["median"], x["p99"], x["p9999"], x["max"],
                fmt(ratio(x["max"], max(x["median"], 1)), "{:.1f}"), x["max_1pass"]))
        core = {x["impl"]: x["hook_calls"] for x in self.lat if x["hooks"] == "excluded"}
        if core:
            self.say("  liballoc core rows: the core linked in, on a port with a no-op lock; the time of its page hooks "
                     "is subtracted (%s)." % ", ".join("%s: %d hook calls" % kv_ for kv_ in core.items()))
            self.say("  'raw' rows: the process's malloc (LD_PRELOAD), system calls, page faults and locks included.")
            self.say("  'coldline' rows: one load from a line of the heap nothing touched for long, timed and "
                     "reduced as the operations are: the machine's floor under an operation that must read such "
                     "a line (in the raw rows a line may lie in a page the program never touched, its first read "
                     "a page fault).")
        self.say()

    # -- real programs --
    def programs(self):
        a = self.a
        res = {}
        work = os.path.join(a.outdir, "programs-work")
        path = "/usr/bin:/bin:" + os.environ.get("PATH", "")
        self.say("== real programs (examples/host/workloads.sh), %d run(s) each, allocators alternating; "
                 "PATH starts /usr/bin so python3 is the system interpreter, not a version-manager shim" % a.prog_runs)
        skipped = set()
        for rep in range(a.prog_runs):
            for prog in PROGRAMS:
                if prog in skipped:
                    continue
                line = []
                for name, p in self.order(rep):
                    wd = os.path.join(work, name, prog)
                    cmd = [a.workloads_sh, prog, wd, a.cxx_demo or "", a.core_source or ""]
                    r = spawn(a.spawn, p, cmd, extra_env=["PATH=" + path])
                    r["rep"] = rep
                    if r["status"] == 77:
                        skipped.add(prog)
                        self.say("  %-10s skipped: %s" % (prog, r["stderr"].strip()))
                        break
                    r["digest"] = hashlib.sha256(r["stdout"].encode()).hexdigest()
                    r["ok"] = r["status"] == 0
                    if not r["ok"]:
                        self.failures.append((prog, name, "exit status %s: %s" % (r["status"], r["stderr"].strip()[-300:]),
                                              repro(p, cmd)))
                    res.setdefault((prog, name), []).append(r)
                    self.runs.append({"section": "program", "item": prog, "allocator": name, "rep": rep,
                                      "status": r["status"], "wall_s": r["wall"], "cpu_s": r["cpu"],
                                      "maxrss_kib": r["rss"], "minflt": r["minflt"], "peak_live_bytes": None,
                                      "checksum": r["digest"][:16]})
                    line.append("%s %s" % (name, fmt(r["wall"], "{:.2f}s") if r["ok"] else "FAIL(%s)" % r["status"]))
                if line and prog not in skipped:
                    self.say("  [%d/%d] %-10s %s" % (rep + 1, a.prog_runs, prog, "  ".join(line)))
        progs = [p for p in PROGRAMS if p not in skipped]
        for prog in progs:
            ref = next((r["digest"] for r in res.get((prog, "glibc"), []) if r["ok"]), None)
            for n, p in self.present:
                for r in res.get((prog, n), []):
                    if r["ok"] and ref and r["digest"] != ref:
                        r["ok"] = False
                        self.failures.append((prog, n, "output differs from glibc's run",
                                              repro(p, [a.workloads_sh, prog, "WORKDIR", a.cxx_demo or "", a.core_source or ""])))
        shutil.rmtree(work, ignore_errors=True)
        if not progs:
            return progs, None
        return progs, self.summarise("program", progs, res)

    # -- targets of the issue, for liballoc --
    def targets(self, wl, wtab, progs, ptab, stab, swtab):
        """The goals of issue 15 (and those of issue 6 it does not replace), checked for liballoc against
        this run's figures. Each line: pass, MISS, or n/a when this run lacks the figures."""
        a = self.a
        self.tgt = []

        def check(ok, text):
            st = ("pass" if ok else "MISS") if ok is not None else "n/a "
            self.tgt.append({"target": text, "result": st.strip()})
            self.say("  [%s] %s" % (st, text))

        def t(it, n, k="time_ratio"):
            return wtab[(it, n)][k] if (it, n) in wtab and wtab[(it, n)]["status"] in ("ok", None) and \
                wtab[(it, n)].get(k) is not None else None

        def spread(c, k):
            lo, hi = c.get(k + "_lo"), c.get(k + "_hi")
            return "" if lo is None else " [%s-%s]" % (fmt(lo), fmt(hi))

        failed = [it for it in wl if (it, OURS) in wtab and wtab[(it, OURS)]["status"] not in ("ok",)]
        self.say("Targets (issue 15), for %s, from this run's figures:" % OURS)
        if wtab:
            g = t("geomean", OURS)
            if failed:  # a geomean over the workloads that ran is not the suite's
                g = None
            others = {n: t("geomean", n) for n, _ in SYSTEM_ALLOCATORS if n not in self.missing}
            best_n = min((n for n in others if others[n]), key=lambda n: others[n], default=None)
            best = others.get(best_n)
            check(g is not None and g <= 0.80 if g is not None or failed else None,
                  "time: geomean over the %d workloads %s x glibc (<= 0.80)%s" % (
                      len(wl), fmt(g), "; failed: " + ", ".join(failed) if failed else ""))
            check(g <= 1.1 * best if g is not None and best else None,
                  "time: geomean %s x the best of jemalloc/mimalloc/tcmalloc (<= 1.10); best %s %s (%s)" % (
                      fmt(ratio(g, best)), best_n, fmt(best),
                      ", ".join("%s %s" % (n, fmt(v)) for n, v in others.items())))
            slow = sorted([(it, t(it, OURS)) for it in wl if t(it, OURS) is not None], key=lambda x: -x[1])
            check(not [x for x in slow if x[1] > 1.3] and not failed if slow else None,
                  "time: no workload above 1.3 x glibc; above: %s; slowest %s" % (
                      ", ".join("%s %.2f" % x for x in slow if x[1] > 1.3) or "none",
                      ", ".join("%s %.2f" % x for x in slow[:3])))
            gr = t("geomean", OURS, "rss_ratio")
            check(gr <= 1.0 if gr is not None and not failed else None,
                  "memory: peak RSS geomean %s x glibc (<= 1.00)" % fmt(gr))
            big = sorted([(it, t(it, OURS, "rss_ratio")) for it in wl if t(it, OURS, "rss_ratio") is not None],
                         key=lambda x: -x[1])
            check(not [x for x in big if x[1] > 1.3] and not failed if big else None,
                  "memory: no workload's peak RSS above 1.3 x glibc; above: %s; largest %s" % (
                      ", ".join("%s %.2f" % x for x in big if x[1] > 1.3) or "none",
                      ", ".join("%s %.2f" % x for x in big[:3])))
            h = t("geomean", HARDENED) if HARDENED in self.names else None
            check(ratio(h, g) <= 1.4 if h is not None and g is not None else None,
                  "hardened: time %s x the default build's (<= 1.40): geomean %s vs %s x glibc%s" % (
                      fmt(ratio(h, g)), fmt(h), fmt(g),
                      "" if HARDENED in self.names else " (no hardened column in this run)"))
        if swtab:
            lo, hi = a.sweep[0], a.sweep[-1]
            c = swtab.get((hi, OURS), {})
            worst = c.get("worst_ratio") if c.get("status") == "ok" and swtab[(lo, OURS)]["status"] == "ok" else None
            check(worst <= 1.2 if worst is not None else None,
                  "sweep: cost with %d threads alive <= 1.2 x with %d: %s" % (hi, lo, ", ".join(
                      "%s %s" % (lp, fmt(c.get(lp + "_ratio"))) for lp in SWEEP_LOOPS)))
        if stab:
            for w in sorted({w for w, _ in stab}):
                c = stab[(w, OURS)]
                r = c["ratio"] if c["status"] == "ok" else None
                check(r >= 1.8 if r is not None else None,
                      "scaling: %s, 2 threads do %s x the work of 1 (>= 1.80; glibc %s)" % (
                          w, fmt(r), fmt(stab[(w, "glibc")]["ratio"])))
        if ptab:
            for it in progs:
                c = ptab[(it, OURS)]
                if c["status"] != "ok":
                    check(False, "programs: %s %s" % (it, c["status"]))
                    continue
                check(c["time_ratio"] <= 1.0 and c["rss_ratio"] <= 1.0,
                      "programs: %-7s time %s%s, RSS %s%s x glibc (both <= 1; median, [range over %d paired runs])" % (
                          it, fmt(c["time_ratio"], "{:.3f}"), spread(c, "time"), fmt(c["rss_ratio"], "{:.3f}"),
                          spread(c, "rss"), c["ok_runs"]))
        self.say()
        self.say("Targets (issue 6) not superseded by issue 15:")
        if wtab:
            big = [(it, t(it, OURS, "rss_ratio")) for it in wl if t(it, OURS, "rss_ratio") is not None]
            over = [x for x in big if x[1] > 1.0]
            check(bool(big) and not over, "memory: peak RSS <= glibc's on every workload; above: %s" % (
                ", ".join("%s %.3f" % x for x in over) or "none"))
            fr = [(it, t(it, OURS, "frag"), t(it, "glibc", "frag")) for it in wl]
            fr = [x for x in fr if x[1] and x[2]]
            worse = [x for x in fr if x[1] >= x[2]]
            check(bool(fr) and not worse, "memory: fragmentation (RSS / peak live) below glibc's; not below: %s" % (
                ", ".join("%s %.2f vs %.2f" % x for x in worse) or "none"))
            mt = []
            for it in wl:
                rivals = [t(it, n) for n in ["glibc"] + [n for n, _ in SYSTEM_ALLOCATORS] if t(it, n)]
                if it in MULTI_THREADED and t(it, OURS) is not None and rivals:
                    mt.append((it, t(it, OURS) / min(rivals)))
            check(bool(mt) and all(x[1] <= 1.2 for x in mt) if mt else None,
                  "scalability: multi-threaded workloads within 1.2 x the best of the others: %s" % (
                      ", ".join("%s %.2f" % x for x in mt) or "none run"))
        timed = ("malloc", "free")
        gl = {x["op"]: x for x in self.lat if x["allocator"] == "glibc" and x["op"] in timed}
        for alloc, what in ((OURS + "-core", "core, no thread cache"), (OURS + "-core-tc", "core + thread cache"),
                            (OURS, "liballoc.so, raw")):
            mine = {x["op"]: x for x in self.lat if x["allocator"] == alloc and x["op"] in timed}
            if not mine:
                continue
            r = {o: x["max"] / max(x["median"], 1) for o, x in mine.items()}
            cold = [x["max"] for x in self.lat if x["allocator"] == alloc and x["op"] == "coldline"]
            check(all(v <= 20 for v in r.values()), "real-time: %s: max <= 20 x median: malloc %.1f, free %.1f%s" % (
                what, r.get("malloc", 0), r.get("free", 0),
                "; one cold line's max alone %.1f x the malloc median" % (cold[0] / max(mine["malloc"]["median"], 1))
                if cold and "malloc" in mine else ""))
            if gl:
                check(all(mine[o]["max"] < gl[o]["max"] for o in mine),
                      "real-time: %s: max below glibc's (raw): malloc %d vs %d, free %d vs %d" % (
                          what, mine["malloc"]["max"], gl["malloc"]["max"], mine["free"]["max"], gl["free"]["max"]))
        self.say("  (time figures from a shared, noisy machine are indicative; measure on a quiet one for the README)")
        self.say()

    # -- files --
    def write_csv(self):
        a = self.a
        paths = []

        def w(name, rows, cols):
            p = os.path.join(a.outdir, name)
            with open(p, "w", newline="") as f:
                cw = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
                cw.writeheader()
                for r in rows:
                    cw.writerow({k: ("%.6g" % v if isinstance(v, float) else v) for k, v in r.items()})
            paths.append(p)

        w("bench.csv", self.rows, ["section", "item", "allocator", "status", "runs", "ok_runs", "median_wall_s",
                                   "min_wall_s", "wall_ratio", "time_ratio_lo", "time_ratio_hi", "median_cpu_s",
                                   "median_maxrss_kib", "rss_ratio", "rss_ratio_lo", "rss_ratio_hi", "median_minflt",
                                   "peak_live_bytes", "fragmentation"])
        if self.scale_rows:
            w("bench-scaling.csv", self.scale_rows, ["workload", "allocator", "status", "ops_per_s_1", "ops_per_s_2",
                                                     "ratio", "cpus_1", "cpus_2"])
        if self.sweep_rows:
            w("bench-sweep.csv", self.sweep_rows, ["threads", "allocator", "status", "rss"] +
              [x for lp in SWEEP_LOOPS for x in ("ns_" + lp, lp + "_ratio")] + ["worst_ratio"])
        if self.tgt:
            w("bench-targets.csv", self.tgt, ["target", "result"])
        if self.sys_rows:
            w("bench-syscalls.csv", self.sys_rows, ["workload", "allocator", "minflt"] + list(SYSCALLS))
        if self.lat:
            w("bench-latency.csv", self.lat, ["impl", "allocator", "op", "n", "median", "p99", "p9999", "max",
                                              "max_1pass", "unit", "timer_overhead", "resolution", "hooks", "hook_calls",
                                              "passes", "tsc_ghz"])
        w("bench-runs.csv", self.runs, ["section", "item", "allocator", "rep", "status", "wall_s", "cpu_s",
                                        "maxrss_kib", "minflt", "ops", "peak_live_bytes", "checksum", "extra"])
        return paths

    def chart(self, wl, wtab, progs, ptab, stab=None, swtab=None):
        gp = shutil.which("gnuplot")
        if not gp:
            self.say("gnuplot not found: no chart")
            return []
        a = self.a
        d = os.path.join(a.outdir, "bench-chart")
        os.makedirs(d, exist_ok=True)
        panels = []

        def dat(name, items, cols, get):
            """A gnuplot data file, or None when it would hold no number at all."""
            rows = [[get(it, c) for c in cols] for it in items]
            if all(v is None for r in rows for v in r):
                return None
            p = os.path.join(d, name)
            with open(p, "w") as f:
                f.write("\t".join(["item"] + cols) + "\n")
                for it, r in zip(items, rows):
                    f.write("\t".join([it] + [fmt(v, "{:.6g}", "?") for v in r]) + "\n")
            return p

        def cell(tab, k):
            return lambda it, n: tab[(it, n)].get(k) if tab[(it, n)]["status"] == "ok" else None

        names = self.names
        if wtab:
            items = list(wl) + ["geomean"]
            panels.append(("Workloads: median wall time / glibc's (lower is better)",
                           dat("time.dat", items, names, cell(wtab, "time_ratio")), len(names), 1, False, 0))
            panels.append(("Workloads: peak RSS / glibc's (lower is better)",
                           dat("rss.dat", items, names, cell(wtab, "rss_ratio")), len(names), 1, False, 0))
            panels.append(("Workloads: fragmentation = peak RSS / peak live bytes (lower is better)",
                           dat("frag.dat", list(wl), names, cell(wtab, "frag")), len(names), 1, False, 0))
        if ptab:
            items = list(progs) + ["geomean"]
            panels.append(("Real programs: wall time / glibc's (lower is better)",
                           dat("ptime.dat", items, names, cell(ptab, "time_ratio")), len(names), 1, False, 0))
            panels.append(("Real programs: peak RSS / glibc's (lower is better)",
                           dat("prss.dat", items, names, cell(ptab, "rss_ratio")), len(names), 1, False, 0))
        if stab:
            ws = sorted({w for w, _ in stab}, key=SCALING.index)
            panels.append(("Scaling: work per second with 2 threads / with 1, on 2 cores (higher is better; "
                           "dashed: the 1.8 target)",
                           dat("scaling.dat", ws, names, lambda it, n: stab[(it, n)]["ratio"]
                               if stab[(it, n)]["status"] == "ok" else None), len(names), 1.8, False, 0))
        if swtab:
            base, ns_ = self.a.sweep[0], self.a.sweep[1:]
            items = ["%d threads" % t for t in ns_]
            panels.append(("Sweep: cost per malloc+free with N threads alive / with %d, worst of the four loops "
                           "(log scale; lower is better; dashed: the 1.2 target)" % base,
                           dat("sweep.dat", items, names, lambda it, n: swtab[(int(it.split()[0]), n)]["worst_ratio"]
                               if swtab[(int(it.split()[0]), n)]["status"] == "ok" else None),
                           len(names), 1.2, True, 0.5))
        if self.lat:
            short = {OURS: OURS + ".so"}  # the raw row of ours; core rows keep their names
            impls = []
            for x in self.lat:
                if short.get(x["allocator"], x["allocator"]) not in impls:
                    impls.append(short.get(x["allocator"], x["allocator"]))
            cols = ["malloc median", "malloc p99.99", "malloc max", "free median", "free p99.99", "free max"]
            look = {(short.get(x["allocator"], x["allocator"]), x["op"]): x for x in self.lat}

            def lget(it, c):
                op, stat = c.split()
                x = look.get((it, op))
                return x and max(1, x[{"median": "median", "p99.99": "p9999", "max": "max"}[stat]])
            panels.append(("Latency, %s per operation (log scale; each op's minimum over the passes; "
                           "core rows without page-hook time, the others raw)" % self.lat[0]["unit"],
                           dat("lat.dat", impls, cols, lget), len(cols), None, True, 1))
        panels = [p for p in panels if p[1]]
        if not panels:
            return []
        common = ["set datafile separator '\\t'", "set datafile missing '?'",
                  "set style data histograms", "set style histogram clustered gap 1",
                  "set style fill solid 0.85 border -1", "set boxwidth 0.9", "set grid ytics",
                  "set key outside right top vertical", "set xtics nomirror",
                  "set multiplot layout %d,1 title 'liballoc benchmark (%s run, %s)'" % (
                      len(panels), "quick" if a.quick else "full", time.strftime("%Y-%m-%d %H:%M"))]
        for title, path, ncol, ref, logy, ymin in panels:
            common.append("set title \"%s\"" % title)
            common.append("set logscale y" if logy else "unset logscale y")
            top = "*"
            if ref is not None:  # room for the reference line even when every bar is below it
                vals = [float(x) for line in open(path).read().splitlines()[1:] for x in line.split("\t")[1:]
                        if x != "?"]
                if vals and max(vals) < ref:
                    top = "%g" % (ref * 1.15)
            common.append("set yrange [%g:%s]" % (ymin, top))
            common.append("unset arrow")
            if ref is not None:
                common.append("set arrow from graph 0, first %g to graph 1, first %g nohead dashtype 2 "
                              "linecolor rgb '#444444'" % (ref, ref))
            common.append("plot " + ", ".join("'%s' using %d%s title columnhead(%d)" % (
                path if i == 0 else "", i + 2, ":xtic(1)" if i == 0 else "", i + 2) for i in range(ncol)))
        common.append("unset multiplot")
        out = []
        height = 330 * len(panels) + 40
        for ext, term in (("svg", "svg size 1200,%d dynamic font 'Helvetica,12' background '#ffffff'" % height),
                          ("png", "pngcairo size 1200,%d font 'Helvetica,10' background '#ffffff'" % height)):
            chart = os.path.join(a.outdir, "bench." + ext)
            script = os.path.join(d, "bench-%s.gp" % ext)
            with open(script, "w") as f:
                f.write("\n".join(["set terminal " + term, "set output '%s'" % chart] + common) + "\n")
            p = subprocess.run([gp, script], capture_output=True, text=True)
            if p.returncode != 0 or not os.path.exists(chart):
                if ext == "svg":
                    self.failures.append(("chart", "-", "gnuplot failed: " + p.stderr.strip()[-500:], gp + " " + script))
                continue  # pngcairo is optional in some gnuplot builds
            out.append(chart)
        return out

    def run(self):
        a = self.a
        os.makedirs(a.outdir, exist_ok=True)
        t0 = time.time()
        self.say("liballoc benchmark: %s mode (size %s); allocators: %s%s" % (
            "QUICK" if a.quick else "full", a.size, ", ".join(n for n, _ in self.present),
            "; not installed: " + ", ".join(self.missing) if self.missing else ""))
        self.say("  machine: %d CPU(s), load average %s (a shared machine: read ratios, not absolutes)" % (
            os.cpu_count(), " ".join("%.2f" % x for x in os.getloadavg())))
        for n, p in self.present:
            self.say("  %-9s %s" % (n, p or "(no LD_PRELOAD: glibc's malloc)"))
        self.say()
        wl, wtab, progs, ptab, stab, swtab, sys_, maps = a.workloads, None, [], None, None, None, None, []
        scaled_ws = []
        if "workloads" in a.sections and wl:
            wtab = self.workloads()
            self.say()
            sys_ = self.syscalls(wtab)
            if sys_:
                self.say()
            maps = self.heap_maps(wl, wtab)
        if "scaling" in a.sections:
            scaled_ws, stab = self.scaling()
            self.say()
        if "sweep" in a.sections and a.sweep:
            swtab = self.sweep()
            self.say()
        if "latency" in a.sections and (a.latency_core or a.latency_core_tc or a.latency_sys):
            self.latency()
            self.say()
        if "programs" in a.sections and a.workloads_sh:
            progs, ptab = self.programs()
            self.say()
        if wtab:
            self.show(wl, wtab, "Workloads")
            self.print_table("Workloads: fragmentation = median peak RSS / peak live bytes (lower is better; '-': "
                             "holds under %.1f MiB, RSS would be mostly the process image)" % (self.frag_min / 1048576),
                             wl, wtab, "frag", None)
        if sys_:
            self.show_syscalls(*sys_)
        if stab:
            self.show_scaling(scaled_ws, stab)
        if swtab:
            self.show_sweep(swtab)
        if self.lat:
            self.show_latency()
        if ptab:
            self.show(progs, ptab, "Real programs")
            self.show_spread(progs, ptab, "Real programs")
        self.targets(wl if wtab else [], wtab or {}, progs, ptab, stab, swtab)
        charts = self.chart(wl, wtab, progs, ptab, stab, swtab)
        if self.failures:
            self.say("FAILURES (crashes, wrong checksums or output) — reproduce with the command shown:")
            for what, n, detail, cmd in self.failures:
                self.say("  %s under %s: %s\n    %s" % (what, n, detail, cmd))
            self.say()
        files = self.write_csv()
        self.say("CSV:   " + "\n       ".join(files))
        if charts:
            self.say("chart: " + "\n       ".join(charts))
        if maps:
            self.say("heap maps (liballoc at exit): " + "\n       ".join(maps))
        self.say("total %.0f s" % (time.time() - t0))
        return 1 if self.failures else 0


# ---- smoke ----------------------------------------------------------------------

def smoke(a):
    """Plain and preloaded runs must both succeed and print the same checksum."""
    sums = []
    for preload in (None, a.preload):
        env = base_env()
        if preload:
            env["LD_PRELOAD"] = preload
        t0 = time.time()
        p = subprocess.run(a.command, env=env, capture_output=True, text=True, timeout=600)
        dt = time.time() - t0
        label = "LD_PRELOAD=" + os.path.basename(preload) if preload else "plain"
        sys.stdout.write("%s (%.2f s, exit %d):\n%s" % (label, dt, p.returncode, p.stdout))
        if p.stderr:
            sys.stdout.write(p.stderr)
        m = re.search(r"\bchecksum=(\S+)", p.stdout)
        if p.returncode != 0 or not m:
            print("FAIL: %s run %s" % (label, "exited %d" % p.returncode if p.returncode else "printed no checksum"))
            return 1
        sums.append(m.group(1))
    if sums[0] != sums[1]:
        print("FAIL: checksums differ: %s (plain) vs %s (preloaded)" % tuple(sums))
        return 1
    print("ok: checksum %s both ways" % sums[0])
    return 0


# ---- command line ---------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("suite", help="run the benchmark suite")
    s.add_argument("--work", required=True, help="the bench_work executable")
    s.add_argument("--spawn", required=True, help="the bench_spawn executable")
    s.add_argument("--liballoc", required=True, help="liballoc.so to preload")
    s.add_argument("--latency-core", help="bench_latency_core executable")
    s.add_argument("--latency-core-tc", help="bench_latency_core_tc executable")
    s.add_argument("--latency-sys", help="bench_latency_sys executable")
    s.add_argument("--workloads-sh", help="examples/host/workloads.sh (real programs)")
    s.add_argument("--cxx-demo", default="", help="the C++ demo program for workloads.sh")
    s.add_argument("--core-source", default="", help="liballoc.c, compiled by the gcc workload")
    s.add_argument("--outdir", default=".", help="where the CSV files and the chart go")
    s.add_argument("--runs", type=int, help="runs per workload and allocator (default 5, quick 2)")
    s.add_argument("--prog-runs", type=int, help="runs per real program and allocator (default 5, quick 2)")
    s.add_argument("--size", help="workload size: full, tiny or a scale factor (default full, quick 0.25)")
    s.add_argument("--threads", type=int, default=4, help="threads of the multi-threaded workloads")
    s.add_argument("--workloads", help="comma-separated subset of the workloads")
    s.add_argument("--sections", help="comma-separated: workloads,scaling,sweep,latency,programs (default all)")
    s.add_argument("--sweep", help="threads alive in the sweep, comma-separated (default 1,2,8,64,1000)")
    s.add_argument("--hardened", help="the hardened liballoc.so: a '%s' column (also BENCH_HARDENED=PATH; "
                   "BENCH_HARDENED=0 leaves it out)" % HARDENED)
    s.add_argument("--lat-ops", type=int, help="latency benchmark operations (default 10^7, quick 10^6)")
    s.add_argument("--lat-passes", type=int, help="latency passes, minimum taken per op (default 7, quick 2)")
    s.add_argument("--quick", action="store_true", help="a quick development run (also BENCH_QUICK=1)")
    s.add_argument("extra", nargs="*", help="extra allocators as NAME=PATH (e.g. hardened=build-h/ports/linux/liballoc.so)")
    m = sub.add_parser("smoke", help="plain vs preloaded: same checksum, both exit 0")
    m.add_argument("--preload", required=True)
    m.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if a.mode == "smoke":
        if a.command and a.command[0] == "--":
            a.command = a.command[1:]
        if not a.command:
            ap.error("smoke needs a command")
        return smoke(a)

    env = os.environ
    a.quick = a.quick or env.get("BENCH_QUICK", "") not in ("", "0")
    a.runs = a.runs or int(env.get("BENCH_RUNS") or (2 if a.quick else 5))
    a.prog_runs = a.prog_runs or int(env.get("BENCH_PROG_RUNS") or (2 if a.quick else 5))
    a.size = a.size or ("0.25" if a.quick else "full")
    a.lat_ops = a.lat_ops or (1000000 if a.quick else 10000000)
    a.lat_passes = a.lat_passes or (2 if a.quick else 7)
    a.sections = (a.sections or env.get("BENCH_SECTIONS") or "workloads,scaling,sweep,latency,programs").split(",")
    bad = [x for x in a.sections if x not in ("workloads", "scaling", "sweep", "latency", "programs")]
    if bad:
        ap.error("unknown section(s) %s" % ", ".join(bad))
    try:
        a.sweep = [int(x) for x in (a.sweep or env.get("BENCH_SWEEP") or ",".join(map(str, SWEEP))).split(",") if x]
    except ValueError:
        ap.error("--sweep takes thread counts, like 1,2,8,64,1000")
    if any(x < 1 or x > 4096 for x in a.sweep):
        ap.error("sweep thread counts are 1..4096")
    extra = a.extra + env.get("BENCH_ALLOCATORS", "").replace(",", " ").split()
    a.extra = []
    for e in extra:
        if "=" not in e:
            ap.error("extra allocators are NAME=PATH, not %r" % e)
        n, p = e.split("=", 1)
        a.extra.append((n, os.path.abspath(p)))
    hard = env.get("BENCH_HARDENED", a.hardened or "")
    if hard not in ("", "0") and HARDENED not in [n for n, _ in a.extra]:
        a.extra.append((HARDENED, os.path.abspath(hard)))
    # the workload names, from bench_work's own usage message
    u = subprocess.run([a.work], capture_output=True, text=True).stderr
    known = re.search(r"workloads:(.*)", u).group(1).split()
    chosen = a.workloads or env.get("BENCH_WORKLOADS")
    a.workloads = chosen.split(",") if chosen else known
    a.known = known
    bad = [w for w in a.workloads if w not in known]
    if bad:
        ap.error("unknown workload(s) %s; known: %s" % (", ".join(bad), " ".join(known)))
    for k in ("work", "spawn", "liballoc", "latency_core", "latency_core_tc", "latency_sys", "workloads_sh",
              "cxx_demo", "core_source", "outdir"):
        if getattr(a, k):  # the programs run in their own directories
            setattr(a, k, os.path.abspath(getattr(a, k)))
    return Suite(a).run()


if __name__ == "__main__":
    sys.exit(main())
