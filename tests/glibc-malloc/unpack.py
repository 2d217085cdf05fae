#!/usr/bin/env python3
# unpack.py — copy the named files of glibc's malloc/ directory out of the glibc source tarball into a build directory.
# SPDX-License-Identifier: MIT
"""usage: unpack.py TARBALL OUTDIR FILE...

Reads TARBALL (Debian's glibc-source ships /usr/src/glibc/glibc-2.36.tar.xz) once,
as a stream, and writes each FILE found under <top>/malloc/ to OUTDIR/FILE.
Fails naming the files it did not find. Nothing of glibc's is kept in this
repository: the build directory gets the copies.
"""
import os
import sys
import tarfile


def main(argv):
    if len(argv) < 4:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    tarball, outdir, wanted = argv[1], argv[2], set(argv[3:])
    if not os.path.isfile(tarball):
        print(f'unpack.py: {tarball}: no such file (Debian package glibc-source)', file=sys.stderr)
        return 1
    os.makedirs(outdir, exist_ok=True)
    found = set()
    with tarfile.open(tarball, 'r|*') as tar:
        for member in tar:
            parts = member.name.split('/')
            if len(parts) != 3 or parts[1] != 'malloc' or parts[2] not in wanted or not member.isfile():
                continue
            data = tar.extractfile(member).read()
            tmp = os.path.join(outdir, parts[2] + '.tmp')
            with open(tmp, 'wb') as f:
                f.write(data)
            os.replace(tmp, os.path.join(outdir, parts[2]))
            found.add(parts[2])
            if found == wanted:
                break
    missing = sorted(wanted - found)
    if missing:
        print(f'unpack.py: not in {tarball}: ' + ' '.join('malloc/' + m for m in missing), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
