#!/usr/bin/env python3
# make_seeds.py — regenerates the small seed corpus of the fuzz harnesses (input format: see fuzz_engine.c).
# SPDX-License-Identifier: MIT
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
# Indices into the op tables of fuzz_engine.c (ops_basic, ops_hooks, ops_misuse).
BASIC = dict(malloc=0, calloc=2, realloc=3, reallocarray=5, aligned=6, free=7, trim=9, fail_alloc=10, usable=11, verify=12)
HOOKS = dict(malloc=0, calloc=2, realloc=3, aligned=4, free=5, trim=7, fail_alloc=8, limit=9, place=10, fail_free=12,
             free_many=14)
MISUSE = dict(malloc=0, calloc=2, realloc=3, aligned=4, free=5, trim=7, fail_alloc=8, stale=9, interior=11, foreign=12,
              smash=13, overflow=14, uaf=15)


def small(n):      # size class 0: one byte
    return bytes([0, n & 255])


def medium(n):     # size class 3: u16 % 4097
    return bytes([3]) + struct.pack('<H', n)


def large(n):      # size class 5: u32 % (2 * threshold + 1)
    return bytes([5]) + struct.pack('<I', n)


def huge(n):       # size class 6: u32 % (arena / 8)
    return bytes([6]) + struct.pack('<I', n)


def edge(i):       # size class 7: the edge table
    return bytes([7, i])


def op(table, name, slot, *args):
    return bytes([table[name], slot]) + b''.join(args)


def write(harness, name, data):
    d = os.path.join(HERE, 'corpus', harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def workload(t):
    s = b''
    for i in range(12):
        s += op(t, 'malloc', i, small(i * 20) if i % 3 else medium(i * 300))
    for i in range(0, 12, 2):
        s += op(t, 'free', i)
    s += op(t, 'realloc', 1, medium(3000)) + op(t, 'realloc', 3, small(5)) + op(t, 'realloc', 5, large(70000))
    s += op(t, 'calloc', 0, bytes([4]), small(100)) + op(t, 'aligned', 2, bytes([12, 0]), small(64))
    s += op(t, 'aligned', 4, bytes([6, 1]), medium(1000)) + op(t, 'aligned', 6, bytes([20, 2]), small(10))
    s += op(t, 'malloc', 8, huge(300000)) + op(t, 'realloc', 8, huge(200000)) + op(t, 'trim', 0)
    return s


def main():
    rnd = random.Random(1234)
    for h, t in (('ops', BASIC), ('hooks', HOOKS), ('misuse', MISUSE)):
        write(h, 'workload', workload(t))
        write(h, 'random', bytes(rnd.randrange(256) for _ in range(600)))
    b = BASIC
    write('ops', 'edges', b''.join(op(b, 'malloc', i, edge(i)) for i in range(29)) +
          op(b, 'reallocarray', 1, bytes([200]), edge(24)) + op(b, 'usable', 3) + op(b, 'verify', 0))
    write('ops', 'oom', op(b, 'fail_alloc', 0, bytes([1 | 8])) + workload(b) + op(b, 'fail_alloc', 0, bytes([2])) +
          workload(b))
    h = HOOKS
    write('hooks', 'placed', op(h, 'place', 0, struct.pack('<H', 300)) + workload(h) + op(h, 'place', 0, struct.pack('<H', 5)) +
          op(h, 'limit', 0, struct.pack('<H', 20)) + workload(h) + op(h, 'fail_free', 0, bytes([1 | 4])) +
          op(h, 'free_many', 0, bytes([3, 2])) + op(h, 'trim', 0))
    m = MISUSE
    s = workload(m)
    for i in range(8):
        s += op(m, 'stale', 0, bytes([i, i])) + op(m, 'interior', 2 * i + 1, struct.pack('<H', 7 * i), bytes([i]))
        s += op(m, 'foreign', 0, bytes([i, i])) + op(m, 'smash', 2 * i + 1, bytes([0x80 | i, i]) if i % 2 else bytes([i, i, i]))
        s += op(m, 'overflow', 2 * i + 1, bytes([i, i])) + op(m, 'uaf', 2 * i + 1, struct.pack('<H', 3), bytes([i]))
    write('misuse', 'every-misuse', s)


if __name__ == '__main__':
    main()
