#!/bin/sh
# tests/xen/guest/build.sh CC BITS OUT SRC...: builds xg-testguest, the
# freestanding PV guest kernel of the real-Xen tier, for BITS 64 or 32
# (PAE).  The 32-bit build needs a compiler that can do -m32; when it
# cannot, gcc-multilib is installed from Debian (as root or with sudo), as
# tests/xen/run.sh installs the tier's other host tools.  `make check-xen`
# runs it; the rest of the project never does.
set -eu
cc=$1 bits=$2 out=$3
shift 3
srcdir=$(dirname "$1")
flags="-std=gnu11 -ffreestanding -fno-pic -fno-pie -no-pie -fno-stack-protector
  -fno-asynchronous-unwind-tables -mno-red-zone -mno-sse -mno-mmx -mno-80387
  -mgeneral-regs-only -nostdlib -static -O2 -Wall -Wextra -Werror
  -Wl,--build-id=none -Wl,-z,noexecstack -Wl,--no-warn-rwx-segments"
probe() { # can CC build a -mBITS freestanding object?
    printf '#include <stdint.h>\nuint64_t x;\n' |
        $cc -m"$bits" -ffreestanding -c -x c -o /dev/null - 2>/dev/null
}
if ! probe; then
    [ "$bits" = 32 ] || { echo "build.sh: $cc cannot build for -m$bits" >&2; exit 1; }
    sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "build.sh: $cc cannot build -m32; installing gcc-multilib"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y --no-install-recommends gcc-multilib >/dev/null 2>&1 ||
        { $sudo apt-get update >/dev/null 2>&1 &&
          $sudo apt-get install -y --no-install-recommends gcc-multilib >/dev/null 2>&1; } ||
        { echo "build.sh: apt-get could not install gcc-multilib" >&2; exit 1; }
    probe || { echo "build.sh: $cc still cannot build -m32" >&2; exit 1; }
fi
mkdir -p "$(dirname "$out")"
# shellcheck disable=SC2086
$cc -m"$bits" $flags -I"$srcdir" -Wl,-T,"$srcdir/guest.ld" -o "$out.tmp" "$@"
mv "$out.tmp" "$out"
