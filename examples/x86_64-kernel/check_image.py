#!/usr/bin/env python3
# check_image.py — verify that the x86_64 kernel ELF is loadable through its Multiboot address fields (the "a.out kludge"), as QEMU loads it.
# SPDX-License-Identifier: MIT
"""usage: check_image.py kernel.elf stamp

QEMU copies the file from the Multiboot header's offset minus (header_addr -
load_addr) to load_addr, load_end_addr - load_addr bytes, and zeroes up to
bss_end_addr. So every loaded ELF segment must sit in the file exactly where
that copy puts it at its physical address, and the copy must cover it. Writes
the stamp on success; prints what is wrong and exits 1 otherwise."""
import struct
import sys


def fail(msg):
    print(f"check_image.py: {sys.argv[1]}: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    data = open(sys.argv[1], 'rb').read()
    if data[:4] != b'\x7fELF' or data[4] != 2:
        fail("not an ELF64 file")
    phoff, = struct.unpack_from('<Q', data, 32)
    phentsize, phnum = struct.unpack_from('<HH', data, 54)
    header = None
    for off in range(0, min(len(data), 8192) - 48 + 1, 4):
        magic, flags, checksum = struct.unpack_from('<III', data, off)
        if magic == 0x1BADB002 and (magic + flags + checksum) & 0xFFFFFFFF == 0:
            header = off, flags
            break
    if header is None:
        fail("no Multiboot header in the first 8 KiB")
    off, flags = header
    if not flags & 0x10000:
        fail("the Multiboot header does not set the address fields flag (bit 16)")
    header_addr, load_addr, load_end, bss_end, entry = struct.unpack_from('<IIIII', data, off + 12)
    start = off - (header_addr - load_addr)
    if start < 0 or load_end < load_addr or bss_end < load_end:
        fail("inconsistent Multiboot address fields")
    if start + load_end - load_addr > len(data):
        fail(f"load_end_addr {load_end:#x} lies beyond the end of the file")
    loads = 0
    for i in range(phnum):
        p_type, _, p_offset, _, p_paddr, p_filesz, p_memsz, _ = struct.unpack_from('<IIQQQQQQ', data, phoff + i * phentsize)
        if p_type != 1 or p_memsz == 0:
            continue
        loads += 1
        if p_paddr < load_addr or p_paddr + p_memsz > bss_end:
            fail(f"segment at physical {p_paddr:#x} (+{p_memsz:#x}) outside [{load_addr:#x}, {bss_end:#x})")
        if p_filesz and p_offset - p_paddr != start - load_addr:
            fail(f"segment at physical {p_paddr:#x} is at file offset {p_offset:#x}, the loader copies {start + p_paddr - load_addr:#x} there")
        if p_filesz and p_paddr + p_filesz > load_end:
            fail(f"segment at physical {p_paddr:#x} has file content past load_end_addr {load_end:#x}")
        if p_memsz > p_filesz and p_paddr + p_filesz < load_end:
            fail(f"segment at physical {p_paddr:#x} has bss before load_end_addr {load_end:#x}: the loader would fill it from the file")
    if loads == 0:
        fail("no loadable segment")
    if not load_addr <= entry < load_end:
        fail(f"entry {entry:#x} outside the loaded image")
    open(sys.argv[2], 'w').write(f"multiboot header at file offset {off:#x}: load {load_addr:#x}-{load_end:#x}, bss to {bss_end:#x}, entry {entry:#x}\n")


main()
