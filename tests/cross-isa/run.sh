#!/bin/sh
# run.sh — run one cross-compiled test for `meson test`: natively, or under qemu-user over the architecture's sysroot.
# SPDX-License-Identifier: MIT
#
# usage: run.sh native EXE [ARGS...]
#        run.sh QEMU SYSROOT EXE [ARGS...]
#        run.sh skip REASON
# The test's status is the program's (qemu-user exits with it, and dies of the same
# signal); 77 (SKIP) with the reason when tests/cross-isa/probe.sh found at
# configure time that this machine can run the architecture's programs neither way.
set -u
case ${1:-} in
native)
	shift
	exec "$@" ;;
skip)
	echo "SKIP: $2"
	exit 77 ;;
'')
	echo "usage: run.sh native EXE [ARGS...] | run.sh QEMU SYSROOT EXE [ARGS...] | run.sh skip REASON" >&2
	exit 2 ;;
*)
	qemu=$1 sysroot=$2
	shift 2
	echo "run.sh: $qemu -L $sysroot $*"
	exec "$qemu" -L "$sysroot" "$@" ;;
esac
