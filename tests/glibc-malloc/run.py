#!/usr/bin/env python3
# run.py — run one of glibc's malloc tests under a given malloc (LD_PRELOAD of liballoc.so, or glibc's own), repeated, each run with a timeout.
# SPDX-License-Identifier: MIT
"""usage:
  run.py --exe TEST --expect NAME [--preload SO] [--repeat N] [--timeout S]
         [--check-bindings] [--xfail REASON]
  run.py --skip REASON

Runs TEST N times (times GLIBC_MALLOC_REPEAT if set) with LD_PRELOAD=SO (or with
no LD_PRELOAD), stdin from /dev/null, each run in its own session. Our support
driver (support.c) checks that malloc is bound to the object whose path contains
NAME and kills a test that outlives its TIMEOUT (times TIMEOUTFACTOR, 3 unless
set); this runner also kills a run's whole session after S seconds. A test with
its own main() (mallocbug) has no driver: --check-bindings asks the dynamic
linker (LD_DEBUG=bindings) where malloc went instead.

Exit status: 0 if every run passed, 77 if the test reports itself unsupported,
1 otherwise (the failing run's output is shown). --xfail prints why the test is
expected to fail (meson's should_fail inverts the status). --skip prints the
reason and exits 77.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time


def run_once(exe, env, timeout):
    """(status, output, seconds); status None on timeout."""
    start = time.monotonic()
    p = subprocess.Popen([exe], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
        status = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        status = None
    try:
        os.killpg(p.pid, signal.SIGKILL)  # whatever the test left running
    except ProcessLookupError:
        pass
    return status, out.decode(errors='replace'), time.monotonic() - start


def bound_to(debug_dir, exe, expect):
    """Did the dynamic linker bind EXE's malloc to EXPECT? (None: no record)"""
    seen = None
    for name in os.listdir(debug_dir):
        with open(os.path.join(debug_dir, name), errors='replace') as f:
            for line in f:
                m = re.search(r"binding file (\S+) \[0\] to (\S+) \[0\]: normal symbol `malloc'", line)
                if m and os.path.realpath(m.group(1)) == os.path.realpath(exe):
                    seen = m.group(2)
    if seen is None:
        return None
    return expect in seen


def main():
    ap = argparse.ArgumentParser(description='run a glibc malloc test under a given malloc')
    ap.add_argument('--exe')
    ap.add_argument('--expect', default='')
    ap.add_argument('--preload', default='')
    ap.add_argument('--repeat', type=int, default=1)
    ap.add_argument('--timeout', type=float, default=300)
    ap.add_argument('--check-bindings', action='store_true')
    ap.add_argument('--xfail', default='')
    ap.add_argument('--skip', default='')
    a = ap.parse_args()
    if a.skip:
        print('SKIP: ' + a.skip)
        return 77
    if not a.exe or not a.expect:
        ap.error('--exe and --expect are needed')
    name = os.path.basename(a.exe)
    under = os.path.basename(a.preload) if a.preload else 'glibc'
    if a.xfail:
        print(f'{name} is expected to fail under {under}: {a.xfail}')

    env = dict(os.environ)
    env.pop('LD_PRELOAD', None)
    if a.preload:
        if not os.path.isfile(a.preload):
            print(f'error: {a.preload}: no such file')
            return 1
        env['LD_PRELOAD'] = a.preload
    env['GLIBC_MALLOC_EXPECT'] = a.expect
    env.setdefault('TIMEOUTFACTOR', '3')
    repeat = a.repeat * max(1, int(os.environ.get('GLIBC_MALLOC_REPEAT', '1') or 1))

    times = []
    for i in range(1, repeat + 1):
        with tempfile.TemporaryDirectory(prefix='glibc-malloc-ld-') as debug_dir:
            if a.check_bindings:
                env['LD_DEBUG'] = 'bindings'
                env['LD_DEBUG_OUTPUT'] = os.path.join(debug_dir, 'ld')
            status, out, secs = run_once(a.exe, env, a.timeout)
            verdict = bound_to(debug_dir, a.exe, a.expect) if a.check_bindings else True
        times.append(secs)
        if status is None:
            print(out[-6000:])
            print(f'FAIL: {name} under {under}: run {i} of {repeat} hung: killed after {a.timeout:.0f} s')
            return 1
        if status == 77:
            print(out[-6000:])
            print(f'SKIP: {name} reports itself unsupported here')
            return 77
        if verdict is not True:
            print(f'FAIL: {name}: malloc was not bound to {a.expect} '
                  f'({"no binding recorded" if verdict is None else "bound elsewhere"})')
            return 1
        if status != 0:
            print(out[-6000:])
            print(f'FAIL: {name} under {under}: run {i} of {repeat} exited with status {status}')
            return 1
        if i == 1:
            print(out[-3000:])
    print(f'PASS: {name} under {under}: {repeat} of {repeat} runs, '
          f'{sum(times) / len(times):.2f} s each (longest {max(times):.2f} s)')
    if a.xfail:
        print(f'{name} passed but is listed as expected to fail: remove it from the list in tests/glibc-malloc/meson.build')
    return 0


if __name__ == '__main__':
    sys.exit(main())
