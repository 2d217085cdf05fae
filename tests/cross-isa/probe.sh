#!/bin/sh
# probe.sh — configure-time check that a cross toolchain builds a cmocka program, and how that program runs here: natively or under qemu-user.
# SPDX-License-Identifier: MIT
#
# usage: probe.sh ARCH WORKDIR CMOCKA_PREFIX MULTIARCH QEMU SYSROOT CC [CC ARGS...]
#   CMOCKA_PREFIX/usr/include/cmocka.h and CMOCKA_PREFIX/usr/lib/MULTIARCH/libcmocka.so
#   are the architecture's cmocka (scripts/bootstrap.sh unpacks Debian's there).
# Prints one line: "native" (the kernel runs it), "qemu" (QEMU -L SYSROOT runs it)
# or "skip: REASON". LIBALLOC_CROSS_NO_NATIVE=1 in the environment of `meson setup`
# skips the native attempt (to exercise the qemu-user path on a machine that can
# run i386 programs itself). Exits 0 in all three cases (the caller turns a skip into
# tests that report SKIP with the reason); non-zero only on bad usage.
set -u
if [ $# -lt 7 ]; then
	echo "usage: probe.sh ARCH WORKDIR CMOCKA_PREFIX MULTIARCH QEMU SYSROOT CC [CC ARGS...]" >&2
	exit 2
fi
arch=$1 work=$2 cmocka=$3 multiarch=$4 qemu=$5 sysroot=$6
shift 6
skip() { echo "skip: $*"; exit 0; }

command -v "$1" >/dev/null 2>&1 || skip "no $arch compiler ($1; scripts/bootstrap.sh installs Debian's cross compilers)"
libdir=$cmocka/usr/lib/$multiarch
[ -e "$cmocka/usr/include/cmocka.h" ] && [ -e "$libdir/libcmocka.so" ] ||
	skip "no $arch cmocka in $cmocka (scripts/bootstrap.sh unpacks Debian's libcmocka0/libcmocka-dev:$arch there)"

mkdir -p "$work" || skip "cannot create $work"
src=$work/probe-$arch.c exe=$work/probe-$arch log=$work/probe-$arch.log
# A cmocka test that passes only when it really ran: the byte order it reports
# must be the one the compiler built for. It includes the hosted headers the unit
# tests use (errno.h needs the kernel's asm headers for the target).
cat >"$src" <<'PROBE'
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
static void byte_order(void **state)
{
	(void)state;
	uint32_t word = 0x01020304u;
	unsigned char first;
	memcpy(&first, &word, 1);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	assert_int_equal(first, 1);
#else
	assert_int_equal(first, 4);
#endif
	errno = ENOMEM;
	assert_int_equal(errno, ENOMEM);
}
int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(byte_order) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
PROBE
if ! "$@" -I"$cmocka/usr/include" "$src" -o "$exe" -L"$libdir" -Wl,-rpath,"$libdir" -lcmocka >"$log" 2>&1; then
	skip "$* cannot build a cmocka program: $(grep -m1 -i 'error' "$log" || head -n1 "$log")"
fi
native_why="not tried (LIBALLOC_CROSS_NO_NATIVE=1)"
if [ "${LIBALLOC_CROSS_NO_NATIVE:-0}" != 1 ]; then
	if "$exe" >"$log" 2>&1; then
		echo native
		exit 0
	fi
	native_why=$(head -n1 "$log")
fi
command -v "$qemu" >/dev/null 2>&1 ||
	skip "this machine cannot run $arch programs (${native_why:-exit status non-zero}) and $qemu is missing (scripts/bootstrap.sh installs qemu-user)"
if "$qemu" -L "$sysroot" "$exe" >"$log" 2>&1; then
	echo qemu
	exit 0
fi
skip "$qemu -L $sysroot could not run a $arch cmocka program: $(head -n1 "$log")"
