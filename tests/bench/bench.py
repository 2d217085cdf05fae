#!/usr/bin/env python3
# bench.py — the allocator benchmark runner: every workload under every allocator, as ratios to glibc; smoke checks.
# SPDX-License-Identifier: MIT
"""
usage:
  bench.py suite --work BENCH_WORK --spawn BENCH_SPAWN --liballoc LIBALLOC_SO [options] [NAME=PATH ...]
  bench.py smoke --preload SO -- COMMAND [ARG ...]

suite: runs every workload of BENCH_WORK under every allocator by LD_PRELOAD —
glibc (no preload), jemalloc, mimalloc, tcmalloc, liballoc, plus any NAME=PATH
given (a hardened liballoc.so, say) — RUNS times each, round-robin over the
allocators within each repetition (the starting allocator rotates), so a burst
of load on this shared machine hits every allocator alike. Each run goes through
BENCH_SPAWN, which measures wall time and the child's own peak RSS (wait4).
Prints, and writes to OUTDIR as bench.csv, bench-latency.csv, bench-runs.csv and
bench.svg (gnuplot):
  - per workload, median wall time and median peak RSS, as ratios to glibc, with
    a geometric-mean row, and fragmentation = peak RSS / peak live bytes;
  - the latency benchmark (cycles per malloc/free: median, p99, p99.99, max);
  - real programs (examples/host/workloads.sh) timed the same way;
  - the issue's targets, checked for liballoc against this run's figures.
Every run's checksum must equal glibc's; a crash or a wrong checksum is listed
with the command that reproduces it, and the runner then exits 1.

Environment (for `ninja bench`): BENCH_QUICK=1 (a quick development run),
BENCH_RUNS=N, BENCH_WORKLOADS=a,b, BENCH_SECTIONS=workloads,latency,programs,
BENCH_ALLOCATORS="name=path ..." (extra allocators).

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
MULTI_THREADED = ("larson", "prodcons", "falseshare")
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
    env.pop("LIBALLOC_STATS", None)
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
        return {"status": "timeout", "wall": None, "cpu": None, "rss": None, "stdout": "", "stderr": "timed out"}
    finally:
        os.unlink(res)
    if not r:
        return {"status": p.returncode, "wall": None, "cpu": None, "rss": None, "stdout": out, "stderr": err}
    return {
        "status": int(r["status"]),
        "wall": int(r["wall_ns"]) / 1e9,
        "cpu": (int(r["utime_us"]) + int(r["stime_us"])) / 1e6,
        "rss": int(r["maxrss_kib"]),
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
        scale = {"full": 1.0, "tiny": 0.002}.get(a.size) or float(a.size)
        self.frag_min = FRAG_MIN_LIVE * min(1.0, scale)
        self.out = []        # everything printed, also kept for the log

    def say(self, s=""):
        print(s, flush=True)

    def order(self, rep):
        """Round-robin over the allocators, starting one further on each repetition."""
        k = rep % len(self.present)
        return self.present[k:] + self.present[:k]

    # -- workloads --
    def workloads(self):
        a = self.a
        res = {}  # (workload, alloc) -> list of run dicts
        self.say("== workloads: %s, scale %s, %d thread(s), %d run(s) each, allocators alternating"
                 % (" ".join(a.workloads), a.size, a.threads, a.runs))
        for rep in range(a.runs):
            for w in a.workloads:
                cmd = [a.work, w, a.size, str(a.threads)]
                line = []
                for name, path in self.order(rep):
                    r = spawn(a.spawn, path, cmd)
                    info = kv(r["stdout"], "workload=") or {}
                    r["checksum"] = info.get("checksum")
                    r["peak_live"] = int(info["peak_live"]) if "peak_live" in info else None
                    r["ok"] = r["status"] == 0 and r["checksum"] is not None
                    if not r["ok"]:
                        self.failures.append((w, name, "exit status %s: %s" % (r["status"], r["stderr"].strip()[-300:]),
                                              repro(path, cmd)))
                    res.setdefault((w, name), []).append(r)
                    self.runs.append({"section": "workload", "item": w, "allocator": name, "rep": rep,
                                      "status": r["status"], "wall_s": r["wall"], "cpu_s": r["cpu"],
                                      "maxrss_kib": r["rss"], "peak_live_bytes": r["peak_live"],
                                      "checksum": r["checksum"]})
                    line.append("%s %s" % (name, fmt(r["wall"], "{:.2f}s") if r["ok"] else "FAIL(%s)" % r["status"]))
                self.say("  [%d/%d] %-10s %s" % (rep + 1, a.runs, w, "  ".join(line)))
        # checksums must agree with glibc's (or, if glibc failed, with the first good run)
        for w in a.workloads:
            good = [r["checksum"] for n, _ in self.present for r in res.get((w, n), []) if r["ok"]]
            ref = next((r["checksum"] for r in res.get((w, "glibc"), []) if r["ok"]), good[0] if good else None)
            for n, p in self.present:
                for r in res.get((w, n), []):
                    if r["ok"] and r["checksum"] != ref:
                        r["ok"] = False
                        self.failures.append((w, n, "wrong checksum %s (glibc: %s)" % (r["checksum"], ref),
                                              repro(p, [a.work, w, a.size, str(a.threads)])))
        return self.summarise("workload", a.workloads, res)

    def summarise(self, section, items, res):
        """Median time and RSS per (item, allocator), ratios to glibc, fragmentation."""
        table = {}
        for it in items:
            for n in self.names:
                rs = [r for r in res.get((it, n), []) if r["ok"]]
                if n in self.missing:
                    st = "missing"
                elif not res.get((it, n)):
                    st = "skipped"
                elif len(rs) < len(res[(it, n)]):
                    st = "FAIL"
                else:
                    st = "ok"
                t, rss = median([r["wall"] for r in rs]), median([r["rss"] for r in rs])
                live = max([r.get("peak_live") or 0 for r in rs], default=0) or None
                table[(it, n)] = {"status": st, "time": t, "rss": rss, "cpu": median([r["cpu"] for r in rs]),
                                  "min_time": min([r["wall"] for r in rs], default=None), "runs": len(res.get((it, n), [])),
                                  "ok_runs": len(rs), "live": live,
                                  "frag": rss * 1024 / live if rss and live and live >= self.frag_min else None}
        for it in items:
            g = table[(it, "glibc")]
            for n in self.names:
                c = table[(it, n)]
                c["time_ratio"] = ratio(c["time"], g["time"])
                c["rss_ratio"] = ratio(c["rss"], g["rss"])
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
            for o, d in ops_.items():
                self.lat.append({"impl": label, "allocator": alloc, "op": o, "n": int(d["n"]),
                                 "median": int(d["median"]), "p99": int(d["p99"]), "p9999": int(d["p9999"]),
                                 "max": int(d["max"]), "max_1pass": int(d["max_1pass"]), "unit": head["unit"],
                                 "timer_overhead": int(head["timer_overhead"]), "hooks": head["hooks"],
                                 "hook_calls": int(head["hook_calls"]), "passes": int(head["passes"]),
                                 "tsc_ghz": float(head["tsc_ghz"])})

    def show_latency(self):
        l0 = self.lat[0]
        self.say("Latency, %s per operation (TSC %.2f GHz), each the minimum over %d identical passes, net of the "
                 "timer's own %d; max/med = max / median; '1-pass max' includes interrupts and preemption"
                 % (l0["unit"], l0["tsc_ghz"], l0["passes"], l0["timer_overhead"]))
        w0 = max(len(x["impl"]) for x in self.lat) + 2
        hdr = "%-*s %5s %8s %8s %8s %8s %8s %10s" % (w0, "", "op", "median", "p99", "p99.99", "max", "max/med", "1-pass max")
        self.say("  " + hdr)
        for x in self.lat:
            self.say("  %-*s %5s %8d %8d %8d %8d %8s %10d" % (
                w0, x["impl"], x["op"], x["median"], x["p99"], x["p9999"], x["max"],
                fmt(ratio(x["max"], max(x["median"], 1)), "{:.1f}"), x["max_1pass"]))
        core = {x["impl"]: x["hook_calls"] for x in self.lat if x["hooks"] == "excluded"}
        if core:
            self.say("  liballoc core rows: the core linked in, on a port with a no-op lock; the time of its page hooks "
                     "is subtracted (%s)." % ", ".join("%s: %d hook calls" % kv_ for kv_ in core.items()))
            self.say("  'raw' rows: the process's malloc (LD_PRELOAD), system calls, page faults and locks included.")
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
                                      "maxrss_kib": r["rss"], "peak_live_bytes": None, "checksum": r["digest"][:16]})
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
    def targets(self, wl, wtab, progs, ptab):
        self.say("Targets (issue 6), for %s, from this run's figures:" % OURS)
        out = []

        def check(ok, text):
            out.append(("pass" if ok else "MISS") if ok is not None else "n/a ")
            self.say("  [%s] %s" % (out[-1], text))

        def t(it, n, k="time_ratio"):
            return wtab[(it, n)][k] if (it, n) in wtab and wtab[(it, n)]["status"] == "ok" else None

        if wtab:
            g = t("geomean", OURS)
            others = {n: t("geomean", n) for n, _ in SYSTEM_ALLOCATORS if n not in self.missing}
            best = min((v for v in others.values() if v), default=None)
            check(g is not None and g <= 0.9, "time: geomean %s x glibc (<= 0.90)" % fmt(g))
            check(g is not None and best is not None and g <= 1.15 * best if best else None,
                  "time: geomean %s x the best of jemalloc/mimalloc/tcmalloc (<= 1.15); best %s" % (
                      fmt(ratio(g, best)), ", ".join("%s %s" % (n, fmt(v)) for n, v in others.items())))
            slow = [(it, t(it, OURS)) for it in wl if t(it, OURS) is not None]
            worst = max(slow, key=lambda x: x[1], default=(None, None))
            check(worst[1] is not None and worst[1] <= 1.3,
                  "time: no workload slower than 1.3 x glibc; slowest %s %s" % (worst[0], fmt(worst[1])))
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
        gl = {x["op"]: x for x in self.lat if x["allocator"] == "glibc"}
        for alloc, what in ((OURS + "-core", "core, no thread cache"), (OURS + "-core-tc", "core + thread cache"),
                            (OURS, "liballoc.so, raw")):
            mine = {x["op"]: x for x in self.lat if x["allocator"] == alloc}
            if not mine:
                continue
            r = {o: x["max"] / max(x["median"], 1) for o, x in mine.items()}
            check(all(v <= 20 for v in r.values()), "real-time: %s: max <= 20 x median: malloc %.1f, free %.1f" % (
                what, r.get("malloc", 0), r.get("free", 0)))
            if gl:
                check(all(mine[o]["max"] < gl[o]["max"] for o in mine),
                      "real-time: %s: max below glibc's (raw): malloc %d vs %d, free %d vs %d" % (
                          what, mine["malloc"]["max"], gl["malloc"]["max"], mine["free"]["max"], gl["free"]["max"]))
        if ptab:
            for it in progs:
                c = ptab[(it, OURS)]
                if c["status"] != "ok":
                    check(False, "programs: %s %s" % (it, c["status"]))
                    continue
                check(c["time_ratio"] <= 1.0 and c["rss_ratio"] <= 1.0,
                      "programs: %-7s time %s x glibc, RSS %s x glibc (both <= 1)" % (
                          it, fmt(c["time_ratio"], "{:.3f}"), fmt(c["rss_ratio"], "{:.3f}")))
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
                                   "min_wall_s", "wall_ratio", "median_cpu_s", "median_maxrss_kib", "rss_ratio",
                                   "peak_live_bytes", "fragmentation"])
        if self.lat:
            w("bench-latency.csv", self.lat, ["impl", "allocator", "op", "n", "median", "p99", "p9999", "max",
                                              "max_1pass", "unit", "timer_overhead", "hooks", "hook_calls",
                                              "passes", "tsc_ghz"])
        w("bench-runs.csv", self.runs, ["section", "item", "allocator", "rep", "status", "wall_s", "cpu_s",
                                        "maxrss_kib", "peak_live_bytes", "checksum"])
        return paths

    def chart(self, wl, wtab, progs, ptab):
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
                           dat("time.dat", items, names, cell(wtab, "time_ratio")), len(names), True, False))
            panels.append(("Workloads: peak RSS / glibc's (lower is better)",
                           dat("rss.dat", items, names, cell(wtab, "rss_ratio")), len(names), True, False))
            panels.append(("Workloads: fragmentation = peak RSS / peak live bytes (lower is better)",
                           dat("frag.dat", list(wl), names, cell(wtab, "frag")), len(names), True, False))
        if ptab:
            items = list(progs) + ["geomean"]
            panels.append(("Real programs: wall time / glibc's (lower is better)",
                           dat("ptime.dat", items, names, cell(ptab, "time_ratio")), len(names), True, False))
            panels.append(("Real programs: peak RSS / glibc's (lower is better)",
                           dat("prss.dat", items, names, cell(ptab, "rss_ratio")), len(names), True, False))
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
                           dat("lat.dat", impls, cols, lget), len(cols), False, True))
        panels = [p for p in panels if p[1]]
        if not panels:
            return []
        common = ["set datafile separator '\\t'", "set datafile missing '?'",
                  "set style data histograms", "set style histogram clustered gap 1",
                  "set style fill solid 0.85 border -1", "set boxwidth 0.9", "set grid ytics",
                  "set key outside right top vertical", "set xtics nomirror",
                  "set multiplot layout %d,1 title 'liballoc benchmark (%s run, %s)'" % (
                      len(panels), "quick" if a.quick else "full", time.strftime("%Y-%m-%d %H:%M"))]
        for title, path, ncol, unity, logy in panels:
            common.append("set title \"%s\"" % title)
            common.append("set logscale y" if logy else "unset logscale y")
            common.append("set yrange [%s:*]" % ("1" if logy else "0"))
            common.append("unset arrow")
            if unity:
                common.append("set arrow from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 linecolor rgb '#444444'")
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
        wl, wtab, progs, ptab = a.workloads, None, [], None
        if "workloads" in a.sections and wl:
            wtab = self.workloads()
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
        if self.lat:
            self.show_latency()
        if ptab:
            self.show(progs, ptab, "Real programs")
        self.targets(wl if wtab else [], wtab or {}, progs, ptab)
        charts = self.chart(wl, wtab, progs, ptab)
        if self.failures:
            self.say("FAILURES (crashes, wrong checksums or output) — reproduce with the command shown:")
            for what, n, detail, cmd in self.failures:
                self.say("  %s under %s: %s\n    %s" % (what, n, detail, cmd))
            self.say()
        files = self.write_csv()
        self.say("CSV:   " + "\n       ".join(files))
        if charts:
            self.say("chart: " + "\n       ".join(charts))
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
    s.add_argument("--prog-runs", type=int, help="runs per real program and allocator (default 3, quick 1)")
    s.add_argument("--size", help="workload size: full, tiny or a scale factor (default full, quick 0.25)")
    s.add_argument("--threads", type=int, default=4, help="threads of the multi-threaded workloads")
    s.add_argument("--workloads", help="comma-separated subset of the workloads")
    s.add_argument("--sections", help="comma-separated: workloads,latency,programs (default all)")
    s.add_argument("--lat-ops", type=int, help="latency benchmark operations (default 10^7, quick 10^6)")
    s.add_argument("--lat-passes", type=int, help="latency passes, minimum taken per op (default 3, quick 2)")
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
    a.prog_runs = a.prog_runs or int(env.get("BENCH_PROG_RUNS") or (1 if a.quick else 3))
    a.size = a.size or ("0.25" if a.quick else "full")
    a.lat_ops = a.lat_ops or (1000000 if a.quick else 10000000)
    a.lat_passes = a.lat_passes or (2 if a.quick else 3)
    a.sections = (a.sections or env.get("BENCH_SECTIONS") or "workloads,latency,programs").split(",")
    extra = a.extra + env.get("BENCH_ALLOCATORS", "").replace(",", " ").split()
    a.extra = []
    for e in extra:
        if "=" not in e:
            ap.error("extra allocators are NAME=PATH, not %r" % e)
        n, p = e.split("=", 1)
        a.extra.append((n, os.path.abspath(p)))
    # the workload names, from bench_work's own usage message
    u = subprocess.run([a.work], capture_output=True, text=True).stderr
    known = re.search(r"workloads:(.*)", u).group(1).split()
    chosen = a.workloads or env.get("BENCH_WORKLOADS")
    a.workloads = chosen.split(",") if chosen else known
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
