#!/bin/sh
# test_cmake_package.sh — installs liballoc into a temporary DESTDIR and builds a CMake project against it with find_package(liballoc).
# SPDX-License-Identifier: MIT
#
# usage: test_cmake_package.sh BUILD_DIR PREFIX VERSION
# Installs the build (meson install --destdir, no rebuild), then configures, builds
# and runs a tiny CMake project twice — linked with liballoc::liballoc (the .so)
# and with liballoc::liballoc_static — each printing liballoc_version() and
# checking that its malloc is liballoc's (liballoc_stats counts it). Also checks
# that the version file refuses a newer and an incompatible 0.x version. Exit 77
# (skip) without cmake.
set -eu
build=$1 prefix=$2 version=$3
if ! command -v cmake >/dev/null 2>&1; then
	echo "cmake is not installed (scripts/bootstrap.sh installs it): skipped"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/liballoc-cmake.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --no-rebuild --quiet --destdir "$tmp/dest" >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; exit 1; }
root=$tmp/dest$prefix
config=$(find "$root" -name liballocConfig.cmake)
[ -n "$config" ] || { echo "no liballocConfig.cmake installed under $root"; exit 1; }
echo "installed: ${config#$tmp/dest}"

mkdir "$tmp/proj"
cat >"$tmp/proj/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.13)
project(uses_liballoc C)
find_package(liballoc $version REQUIRED)
add_executable(app_shared app.c)
target_link_libraries(app_shared PRIVATE liballoc::liballoc)
add_executable(app_static app.c)
target_link_libraries(app_static PRIVATE liballoc::liballoc_static)
file(WRITE "\${CMAKE_BINARY_DIR}/found.txt" "\${liballoc_VERSION} \${liballoc_HARDENED_LIBRARY}")
CMAKE
cat >"$tmp/proj/app.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <liballoc_linux.h>
int main(void)
{
	struct liballoc_stats before, after;
	liballoc_stats(&before);
	void *volatile p = malloc(1000);
	liballoc_stats(&after);
	free(p);
	if (after.allocs != before.allocs + 1) {
		printf("malloc is not liballoc's\n");
		return 1;
	}
	printf("%s\n", liballoc_version());
	return 0;
}
C
cmake -S "$tmp/proj" -B "$tmp/out" -DCMAKE_PREFIX_PATH="$root" >"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log"; exit 1; }
cmake --build "$tmp/out" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
status=0
for app in app_shared app_static; do
	got=$("$tmp/out/$app") || { echo "$app failed: $got"; status=1; continue; }
	if [ "$got" = "$version" ]; then
		echo "$app: liballoc $got"
	else
		echo "$app: printed '$got', wanted '$version'"
		status=1
	fi
done
set -- $(cat "$tmp/out/found.txt")
[ "$1" = "$version" ] || { echo "liballoc_VERSION is '$1'"; status=1; }
[ -f "$2" ] || { echo "liballoc_HARDENED_LIBRARY $2 does not exist"; status=1; }
# The shared app must really link liballoc.so (not only the static archive).
ldd "$tmp/out/app_shared" | grep -q 'liballoc\.so' || { echo "app_shared does not link liballoc.so"; status=1; }

# Versions the package must refuse: a newer one, and another 0.x minor.
major=${version%%.*} rest=${version#*.} minor=${rest%%.*}
for want in "$major.$((minor + 1))" "$((major + 1)).0"; do
	sed "s/find_package(liballoc $version REQUIRED)/find_package(liballoc $want REQUIRED)/" "$tmp/proj/CMakeLists.txt" >"$tmp/proj/c2" &&
		mv "$tmp/proj/c2" "$tmp/proj/CMakeLists.txt"
	version=$want
	if cmake -S "$tmp/proj" -B "$tmp/out-$want" -DCMAKE_PREFIX_PATH="$root" >"$tmp/cmake-$want.log" 2>&1; then
		echo "find_package(liballoc $want) succeeded against $3"
		status=1
	else
		echo "find_package(liballoc $want) refused, as it should be"
	fi
done
exit $status
