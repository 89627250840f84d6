#!/bin/bash
# Build the kernel of ../shared/vm (Linux 6.1: tinyconfig + its kernel-fragment.config) and
# keep its vmlinux, for the profile module's `vmlinux` test, which boots this bzImage and names
# the kernel's frames from this vmlinux. Nothing is written into ../shared.
#
#   Tests/vm/build-vmlinux.sh [DIR]     # default /var/tmp/lockstat-vmlinux; about 6 minutes on 2 CPUs
#
# Result: DIR/build/vmlinux and DIR/build/arch/x86/boot/bzImage. A finished build is kept.
set -euo pipefail

SHARED="${LOCKSTAT_SHARED:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../shared" && pwd)}"
DIR="${1:-/var/tmp/lockstat-vmlinux}"
OUT="$DIR/build"
if [ -f "$OUT/vmlinux" ] && [ -f "$OUT/arch/x86/boot/bzImage" ]; then
    echo "build-vmlinux: already built: $OUT/vmlinux"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq linux-source build-essential bc bison flex libelf-dev libssl-dev xz-utils cpio kmod >/dev/null
TARBALL="$(ls /usr/src/linux-source-6.1.tar.xz 2>/dev/null || ls /usr/src/linux-source-*.tar.xz | sort -V | tail -n1)"
SRC="$DIR/$(basename "$TARBALL" .tar.xz)"

mkdir -p "$OUT"
[ -f "$SRC/Makefile" ] || tar -C "$DIR" -xJf "$TARBALL"
make -C "$SRC" O="$OUT" -s tinyconfig
( cd "$OUT" && "$SRC/scripts/kconfig/merge_config.sh" -m -O "$OUT" "$OUT/.config" "$SHARED/vm/kernel-fragment.config" >/dev/null )
make -C "$SRC" O="$OUT" -s olddefconfig
start=$(date +%s)
make -C "$SRC" O="$OUT" -j"$(nproc)" -s bzImage
echo "build-vmlinux: $OUT/vmlinux, kernel $(cat "$OUT/include/config/kernel.release"), compiled in $(( $(date +%s) - start )) s"
