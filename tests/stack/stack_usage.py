#!/usr/bin/env python3
# stack_usage.py — worst-case stack of liballoc's entry points from GCC's -fcallgraph-info=su graph, checked against liballoc.h.
# SPDX-License-Identifier: MIT
"""Reads the .ci call graph GCC writes with -fcallgraph-info=su (a frame size per
function, an edge per call), computes for each public entry point the deepest
path of frames through the core (calls to the port's hooks, memset/memcpy and
the error handler count 0: their stack is the port's), and compares it with the
"Stack use" table in liballoc.h: a figure above the documented one fails (the
stack cannot grow silently), and so does a documented figure more than
max(64 bytes, 25 %) above the measured one (the header stays true).

usage: stack_usage.py CI_FILE COLUMN LIBALLOC_H [--print]
COLUMN names the table column (e.g. i686, x86_64, cortex-m3).
"""
import re
import sys


def parse(path):
    frames, edges = {}, {}
    node = re.compile(r'node: \{ title: "([^"]+)" label: "([^"]*)"')
    edge = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')
    for line in open(path, encoding='utf-8'):
        m = node.match(line)
        if m:
            title, label = m.groups()
            size = re.search(r'\\n(\d+) bytes \((static|dynamic,bounded|dynamic)\)', label)
            if size and size.group(2) == 'dynamic':
                sys.exit(f'{title}: unbounded dynamic stack')
            frames[title] = int(size.group(1)) if size else 0  # external: the port's
            continue
        m = edge.match(line)
        if m:
            edges.setdefault(m.group(1), set()).add(m.group(2))
    return frames, edges


def depth(fn, frames, edges, memo, path):
    if fn in memo:
        return memo[fn]
    if fn in path:
        sys.exit('recursion: ' + ' -> '.join(p.split(':')[-1] for p in path + [fn]))
    path.append(fn)
    d = frames.get(fn, 0) + max((depth(c, frames, edges, memo, path) for c in edges.get(fn, ())), default=0)
    path.pop()
    memo[fn] = d
    return d


def documented(header, column):
    """The table between 'Stack use' markers: | entry | col1 | col2 ... |"""
    text = open(header, encoding='utf-8').read()
    m = re.search(r'Stack use \(bytes\).*?\n(.*?)\n \*/', text, re.S)
    if not m:
        sys.exit('no "Stack use (bytes)" table in ' + header)
    rows = [r.strip(' *').strip() for r in m.group(1).splitlines()]
    rows = [r for r in rows if r.startswith('|')]
    head = [c.strip() for c in rows[0].strip('|').split('|')]
    if column not in head:
        sys.exit(f'no column {column} in the table: {head}')
    k = head.index(column)
    table = {}
    for r in rows[1:]:
        cells = [c.strip() for c in r.strip('|').split('|')]
        if cells[0].startswith('-'):
            continue
        if cells[k] != '-':  # not in this configuration
            table[cells[0]] = int(cells[k])
    return table


def main():
    ci, column, header = sys.argv[1:4]
    frames, edges = parse(ci)
    memo = {}
    want = documented(header, column)
    bad = []
    for name, doc in sorted(want.items()):
        fns = [f for f in frames if f.split(':')[-1] == name or f.split(':')[-1].startswith(name + '.')]
        if not fns:
            bad.append(f'{name}: not in the call graph')
            continue
        got = max(depth(f, frames, edges, memo, []) for f in fns)
        status = 'ok'
        if got > doc:
            status = 'ABOVE the documented figure'
        elif doc > got + max(64, got // 4):
            status = 'the documented figure is stale (far above)'
        if status != 'ok':
            bad.append(f'{name}: measured {got}, documented {doc}: {status}')
        if '--print' in sys.argv or status != 'ok':
            print(f'{column:10} {name:28} measured {got:5} documented {doc:5} {status}')
    if bad:
        print('\n'.join(bad))
        sys.exit(1)
    print(f'{column}: {len(want)} entry points within their documented stack use')


if __name__ == '__main__':
    main()
