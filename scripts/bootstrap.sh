#!/bin/sh
# bootstrap.sh — install the Debian 12 packages liballoc's build, tests, demo and benchmarks need (idempotent).
# SPDX-License-Identifier: MIT
#
# Installs only what is missing, with --no-install-recommends (QEMU would otherwise
# pull in a desktop stack), using sudo only when not root. Safe to run repeatedly;
# when everything is present it only checks (about a second).
set -eu

# The i386 programs (the -m32 UBSan unit tests and the cross-isa suite) are built
# with Debian's i686-linux-gnu cross compiler, like the other ISAs: Debian's
# gcc-multilib conflicts with every cross gcc, so it is not used. gcc-12-multilib
# (which does not conflict) still provides the 32-bit libgcc the freestanding x86
# kernel links with `gcc -m32 ... -lgcc`.
# qemu-user runs the foreign executables (qemu-i386 where the kernel cannot exec
# i386 binaries itself); the libc6-dev-*-cross packages are the cross sysroots
# under /usr/<triplet>, which qemu-user is pointed at with -L.
packages="
meson ninja-build pkg-config gcc g++ libc6-dev libcmocka-dev binutils
gcc-12-multilib
qemu-system-x86 qemu-system-arm gcc-arm-none-eabi qemu-user
gcc-i686-linux-gnu gcc-arm-linux-gnueabihf gcc-aarch64-linux-gnu gcc-riscv64-linux-gnu gcc-s390x-linux-gnu
libc6-dev-i386-cross libc6-dev-armhf-cross libc6-dev-arm64-cross libc6-dev-riscv64-cross libc6-dev-s390x-cross
clang libclang-rt-14-dev llvm valgrind gdb
python3 git sqlite3 cmake strace
libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 gnuplot-nox
glibc-source libc6-dbg
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

# cmocka for each foreign ISA the tests run under qemu-user (tests/cross-isa and
# the -m32 UBSan tests): Debian's libcmocka0 and libcmocka-dev for that
# architecture, unpacked (not installed) into /opt/liballoc/<arch>, which the
# build uses for headers and links with an rpath. Installing them through dpkg
# multiarch would need each architecture's libc6 at exactly the host's version;
# unpacking needs neither that nor `dpkg --add-architecture`: a private apt state
# (its own package lists, in a temporary folder) indexes the foreign
# architectures from the mirror the system already uses. riscv64 is an official
# Debian architecture only from Debian 13 (trixie) on, so on Debian 12 its cmocka
# comes from trixie (it needs libc6 >= 2.27; the riscv64 cross libc is 2.36).
# Without these, the cross-isa tests of that architecture report SKIP with the reason.
prefix=/opt/liballoc
triplet() {
	case $1 in
	i386) echo i386-linux-gnu ;; armhf) echo arm-linux-gnueabihf ;; arm64) echo aarch64-linux-gnu ;;
	riscv64) echo riscv64-linux-gnu ;; s390x) echo s390x-linux-gnu ;;
	esac
}
need=
for arch in i386 armhf arm64 riscv64 s390x; do
	dir=$prefix/$arch
	[ -e "$dir/usr/lib/$(triplet "$arch")/libcmocka.so" ] && [ -e "$dir/usr/include/cmocka.h" ] || need="$need $arch"
done
if [ -n "$need" ]; then
	echo "bootstrap: fetching Debian's cmocka for$need"
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
	mirror=$(apt-get indextargets --format '$(CODENAME) $(REPO_URI)' 'Identifier: Packages' 2>/dev/null |
		awk -v c="$codename" '$1 == c { print $2; exit }')
	if [ -z "$mirror" ]; then
		echo "bootstrap: warning: no Debian $codename mirror in the apt sources; the cross-isa tests will be skipped" >&2
		exit 0
	fi
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	mkdir -p "$tmp/lists/partial" "$tmp/archives/partial"
	archopts="-o APT::Architecture=amd64"
	official=
	for arch in $need; do
		archopts="$archopts -o APT::Architectures::=$arch"
		[ "$arch" = riscv64 ] || official="$official,$arch"
	done
	official=${official#,}
	: >"$tmp/sources.list"
	[ -n "$official" ] && echo "deb [arch=$official] $mirror $codename main" >>"$tmp/sources.list"
	case " $need " in
	*" riscv64 "*)
		rv_suite=$codename
		[ "$codename" = bookworm ] && rv_suite=trixie
		echo "deb [arch=riscv64] $mirror $rv_suite main" >>"$tmp/sources.list" ;;
	esac
	chmod -R a+rwX "$tmp"  # apt downloads as its sandbox user
	opts="$archopts -o Dir::Etc::SourceList=$tmp/sources.list -o Dir::Etc::SourceParts=-
		-o Dir::State::Lists=$tmp/lists -o Dir::Cache::Archives=$tmp/archives
		-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o Debug::NoLocking=1"
	if apt-get $opts update -qq >"$tmp/update.log" 2>&1; then
		for arch in $need; do
			if (cd "$tmp" && apt-get $opts download -qq "libcmocka0:$arch" "libcmocka-dev:$arch" >"$tmp/$arch.log" 2>&1); then
				$sudo rm -rf "$prefix/$arch"
				$sudo mkdir -p "$prefix/$arch"
				for deb in "$tmp"/libcmocka0_*_"$arch".deb "$tmp"/libcmocka-dev_*_"$arch".deb; do
					$sudo dpkg-deb -x "$deb" "$prefix/$arch"
				done
				echo "bootstrap: unpacked $arch cmocka into $prefix/$arch"
			else
				echo "bootstrap: warning: could not download cmocka for $arch; its cross-isa tests will be skipped" >&2
				cat "$tmp/$arch.log" >&2
			fi
		done
	else
		echo "bootstrap: warning: could not index the foreign architectures; the cross-isa tests will be skipped" >&2
		cat "$tmp/update.log" >&2
	fi
fi
