#!/bin/sh
# bootstrap.sh — install the Debian 12 packages liballoc's build, tests, demo and benchmarks need (idempotent).
# SPDX-License-Identifier: MIT
#
# Installs only what is missing, with --no-install-recommends (QEMU would otherwise
# pull in a desktop stack), using sudo only when not root. Safe to run repeatedly.
set -eu

packages="
meson ninja-build pkg-config gcc g++ libc6-dev libcmocka-dev
gcc-multilib
qemu-system-x86 qemu-system-arm gcc-arm-none-eabi
clang libclang-rt-14-dev llvm valgrind gdb
python3 git sqlite3
libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 gnuplot-nox
"

if [ "$(id -u)" -eq 0 ]; then sudo=; else sudo=sudo; fi

missing=
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "bootstrap: installing$missing"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
else
	echo "bootstrap: all packages present"
fi

# The -m32 UBSan build of the unit tests needs an i386 cmocka. Installing it through
# multiarch would need libc6:i386 at exactly the host's version; Debian's package is
# only unpacked instead (into /opt/liballoc/i386), which the build links with an
# rpath. Optional: without it that one test reports SKIP with the reason.
i386=/opt/liballoc/i386
if [ ! -e "$i386/usr/lib/i386-linux-gnu/libcmocka.so.0" ]; then
	tmp=$(mktemp -d)
	# Register i386 just long enough to fetch its package index (a partial index
	# failure elsewhere does not matter for one download), then drop it again so
	# later apt runs never depend on i386 mirrors.
	$sudo dpkg --add-architecture i386
	$sudo apt-get update -qq >/dev/null 2>&1 || true
	(cd "$tmp" && chmod 777 . && apt-get download -qq libcmocka0:i386 >/dev/null 2>&1) && got=1 || got=0
	$sudo dpkg --remove-architecture i386
	$sudo apt-get update -qq >/dev/null 2>&1 || true
	if [ "$got" = 1 ]; then
		$sudo mkdir -p "$i386"
		$sudo dpkg-deb -x "$tmp"/libcmocka0_*_i386.deb "$i386"
		echo "bootstrap: unpacked i386 cmocka into $i386"
	else
		echo "bootstrap: warning: could not download libcmocka0:i386; the -m32 unit tests will be skipped" >&2
	fi
	rm -rf "$tmp"
fi
