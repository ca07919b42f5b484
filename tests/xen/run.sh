#!/bin/sh
# tests/xen/run.sh [BUILDDIR] - the test tier on real Xen.
#
# Boots Xen 4.17 under qemu-system-x86_64 (TCG) with a small Debian dom0
# and a Linux PV domU.  The hypervisor is built from Debian's source package
# with shadow paging and 32-bit PV (build-xen.sh); everything else comes
# from Debian packages of the same version fetched with `apt-get download`
# and unpacked with `dpkg -x` into a cache folder (nothing of Xen is
# installed on this machine).  Runs tests/xen/tests.sh
# inside dom0, prints PASS/FAIL per test and powers the machine off.
# `make check-xen` runs it.  Details, timings and pitfalls: README.md here.
#
# BUILDDIR is an xg build tree (default: $abs_top_builddir, else the
# current directory); the tools are taken from it.  Environment:
#   XG_CACHE_DIR     cache root, outside the work tree (default
#                    /var/cache/xg-test): packages in xen-tier/, the built
#                    hypervisor in xen-VERSION/ (see build-xen.sh)
#   XG_XEN_TIMEOUT   seconds before QEMU is killed (default 1200, plus
#                    sim-diff's budget when it runs)
#   XG_XEN_KVM=1     use KVM instead of TCG (opt-in; CI machines have none)
#   XG_XEN_TESTS     run only these tests (space-separated names, see tests.sh)
#   XG_XEN_MIG_ROUNDS rounds of live migrations (default 3; fewer only to debug)
#   XG_SIMDIFF_MUTANTS mutants per layout in sim-diff (default 16: one of each
#                    kind; the issue's full run is 112, about an hour under load)
#   XG_SIMDIFF_BUDGET seconds sim-diff may take in the VM (default 900)
#   XG_XEN_VERBOSE=1 dom0 kernel messages on the console, set -x in tests.sh
#   XG_XEN_KEEP=1    keep the initrd and the output disk in the work folder
#   XG_XEN_DEBS      folder with libxg0_*.deb and xg-xl-helper_*.deb for
#                    xg-divert (default: built from the tree and cached, pkg.sh)
# The serial log of the last run is kept in BUILDDIR/tests/xen/serial.log.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
builddir=$(cd "${1:-${abs_top_builddir:-.}}" && pwd)
cache_root=${XG_CACHE_DIR:-/var/cache/xg-test}
cache=$cache_root/xen-tier
work=$builddir/tests/xen
timeout=${XG_XEN_TIMEOUT:-1200}
start=$(date +%s)

say() { printf 'xen-tier: %s\n' "$*"; }
die() {
    printf 'xen-tier: FAIL: %s\n' "$*" >&2
    printf 'xen-tier: 0 passed, 1 failed\n'
    exit 1
}

# ---------------------------------------------------------------- host tools
# QEMU and cpio are installed here with apt-get when missing (CI starts from
# a clean Debian 12 machine).  Xen itself never is.
need_host_tools() {
    missing=
    command -v qemu-system-x86_64 >/dev/null 2>&1 || missing="$missing qemu-system-x86"
    command -v cpio >/dev/null 2>&1 || missing="$missing cpio"
    command -v readelf >/dev/null 2>&1 || missing="$missing binutils"
    # To build the hypervisor (build-xen.sh).
    command -v gcc >/dev/null 2>&1 || missing="$missing gcc libc6-dev"
    command -v make >/dev/null 2>&1 || missing="$missing make"
    command -v flex >/dev/null 2>&1 || missing="$missing flex"
    command -v bison >/dev/null 2>&1 || missing="$missing bison"
    command -v dpkg-source >/dev/null 2>&1 || missing="$missing dpkg-dev"
    [ -z "$missing" ] && return 0
    command -v apt-get >/dev/null 2>&1 || die "missing:$missing, and no apt-get to install them"
    sudo=
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "missing:$missing (run as root, or install them)"
        sudo=sudo
    fi
    say "installing on this machine:$missing"
    export DEBIAN_FRONTEND=noninteractive
    # Other jobs may hold dpkg's lock for a while: wait for it.
    lock="-o DPkg::Lock::Timeout=600"
    # shellcheck disable=SC2086
    $sudo apt-get $lock install -y --no-install-recommends $missing >"$work/apt-install.log" 2>&1 ||
        { $sudo apt-get $lock update >>"$work/apt-install.log" 2>&1 &&
          $sudo apt-get $lock install -y --no-install-recommends $missing >>"$work/apt-install.log" 2>&1; } ||
        { cat "$work/apt-install.log" >&2; die "apt-get could not install:$missing"; }
}

# ---------------------------------------------------------------- packages
# Everything put in the VM that is not xg comes from these packages.  The
# Xen ones are taken at the version of the hypervisor's source (XEN_VERSION,
# from build-xen.sh); xen-hypervisor-4.17-amd64 only for its .config, to
# show how the built hypervisor differs.  The kernel is the one
# linux-image-amd64 points to now.
XEN_PKGS="xen-hypervisor-4.17-amd64 xen-utils-4.17 xen-utils-common xenstore-utils
  libxenmisc4.17 libxencall1 libxendevicemodel1 libxenevtchn1 libxenforeignmemory1
  libxengnttab1 libxenhypfs1 libxenstore4 libxentoolcore1 libxentoollog1"
# What those binaries link (readelf NEEDED, checked below), and busybox.
LIB_PKGS="libc6 libgcc-s1 libyajl2 libtinfo6 libncurses6 libncursesw6 libext2fs2
  libcom-err2 liblzma5 libuuid1 libzstd1 zlib1g busybox-static"

apt_download() { # DIR PKG...: apt-get download into DIR, with one apt-get update on failure
    dir=$1
    shift
    if ! (cd "$dir" && apt-get download "$@") >"$dir/download.log" 2>&1; then
        if [ "$(id -u)" = 0 ]; then
            say "apt-get download failed; running apt-get update once"
            apt-get update >>"$dir/download.log" 2>&1 || true
        fi
        (cd "$dir" && apt-get download "$@") >>"$dir/download.log" 2>&1 ||
            { cat "$dir/download.log" >&2; return 1; }
    fi
}

fetch_packages() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found: the tier takes Xen, the kernel and busybox from Debian packages"
    kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
    if [ -z "$kpkg" ] && [ "$(id -u)" = 0 ]; then
        apt-get update >/dev/null 2>&1 || true
        kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
    fi
    [ -n "$kpkg" ] || die "apt-cache does not know linux-image-amd64 (run apt-get update)"
    want=
    for p in $XEN_PKGS; do want="$want $p=$XEN_VERSION"; done
    want="$want $LIB_PKGS $kpkg"
    # shellcheck disable=SC2086
    want=$(printf '%s\n' $want | sort | tr '\n' ' ')
    if [ -f "$cache/root/.packages" ] && [ "$(cat "$cache/root/.packages")" = "$want" ]; then
        return 0
    fi
    say "fetching packages into $cache (apt-get download, dpkg -x): $want"
    mkdir -p "$cache"
    rm -rf "$cache/debs.new" "$cache/root.new"
    mkdir -p "$cache/debs.new" "$cache/root.new"
    chmod 755 "$cache/debs.new"
    # shellcheck disable=SC2086
    apt_download "$cache/debs.new" $want || die "apt-get download failed (see above)"
    for deb in "$cache"/debs.new/*.deb; do
        dpkg -x "$deb" "$cache/root.new" || die "dpkg -x $deb failed"
    done
    # Keep only what was asked for once unpacked: a half-made cache is never used.
    printf '%s' "$want" >"$cache/root.new/.packages"
    rm -rf "$cache/debs" "$cache/root"
    mv "$cache/debs.new" "$cache/debs"
    mv "$cache/root.new" "$cache/root"
}

# strace, for the syscall-counts test (tests.sh), from Debian like the
# rest, unpacked apart so that the main cache and its key stay as they are.
STRACE_PKGS="strace libunwind8"
strace_cache=$cache_root/xen-tier-strace
fetch_strace() {
    [ -x "$strace_cache/root/usr/bin/strace" ] && return 0
    say "fetching $STRACE_PKGS into $strace_cache (apt-get download, dpkg -x)"
    rm -rf "$strace_cache/debs.new" "$strace_cache/root.new"
    mkdir -p "$strace_cache/debs.new" "$strace_cache/root.new"
    chmod 755 "$strace_cache/debs.new"
    # shellcheck disable=SC2086
    if ! apt_download "$strace_cache/debs.new" $STRACE_PKGS; then
        say "no strace (apt-get download failed): syscall-counts will say so"
        return 0
    fi
    for deb in "$strace_cache"/debs.new/*.deb; do
        dpkg -x "$deb" "$strace_cache/root.new" || { say "dpkg -x $deb failed: no strace"; return 0; }
    done
    rm -rf "$strace_cache/debs" "$strace_cache/root"
    mv "$strace_cache/debs.new" "$strace_cache/debs"
    mv "$strace_cache/root.new" "$strace_cache/root"
}

# ---------------------------------------------------------------- the VM's files
R=    # the unpacked packages ($cache/root)

copy() { # SRC DEST: copy one file or symlink, making parents
    mkdir -p "$(dirname "$2")"
    cp -a "$1" "$2"
}

# ELF files under DIR whose NEEDED libraries are not in DIR's library folders.
check_needed() {
    dir=$1
    bad=
    for f in $(find "$dir" -type f \( -perm -u+x -o -name '*.so*' \)); do
        head -c 4 "$f" | grep -q 'ELF' || continue
        for lib in $(readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p'); do
            [ -e "$dir/lib/x86_64-linux-gnu/$lib" ] || [ -e "$dir/usr/lib/x86_64-linux-gnu/$lib" ] ||
                [ -e "$dir/xg/lib/$lib" ] || bad="$bad ${f#"$dir"}:$lib"
        done
    done
    [ -z "$bad" ] || die "libraries missing from the dom0 image:$bad"
}

# Kernel modules NAME... with their dependencies, in load order, as paths
# relative to lib/modules/VERSION.
modules_in_order() {
    mdir=$1
    shift
    seen=" "
    modpath() {
        p=$(find "$mdir/kernel" -name "$1.ko" -o -name "$(echo "$1" | tr _ -).ko" | head -n 1)
        [ -n "$p" ] || die "kernel module $1 not found in $mdir"
        echo "$p"
    }
    add_module() { # post-order: a module after everything it depends on
        case $seen in *" $1 "*) return 0 ;; esac
        seen="$seen$1 "
        for dep in $(tr '\0' '\n' <"$(modpath "$1")" | sed -n 's/^depends=//p' | tr , ' '); do
            add_module "$dep"
        done
        p=$(modpath "$1")
        echo "${p#"$mdir"/}"
    }
    for m in "$@"; do add_module "$m"; done
}

# A cpio (newc) archive of DIR on stdout.
mkcpio() {
    (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0)
}

# The xg tool NAME from the build tree (libtool may leave a wrapper script).
xg_tool() {
    f=$builddir/$1
    [ -f "$f" ] || return 1
    if ! head -c 4 "$f" | grep -q ELF; then
        f=$(dirname "$f")/.libs/$(basename "$f")
        [ -f "$f" ] || return 1
    fi
    echo "$f"
}

build_images() {
    kver=$(ls "$R/lib/modules" | head -n 1)
    [ -n "$kver" ] && [ -f "$R/boot/vmlinuz-$kver" ] || die "no kernel in $R"
    gunzip -c "$XEN_DIR/xen.gz" >"$work/xen" || die "cannot unpack $XEN_DIR/xen.gz"
    cp "$R/boot/vmlinuz-$kver" "$work/vmlinuz"

    # The domU: busybox and an /init that counts (domU-init).
    g=$work/guest.d
    rm -rf "$g"
    mkdir -p "$g/bin" "$g/dev" "$g/proc" "$g/sys" "$g/tmp"
    cp "$R/bin/busybox" "$g/bin/busybox"
    cp "$here/domU-init" "$g/init"
    chmod 755 "$g/init"
    mkcpio "$g" | gzip -9 >"$work/guest-initrd.gz"

    # dom0: busybox, the Xen tools and their libraries, the kernel's Xen and
    # virtio modules, the guest's kernel and initrd, and the xg payload.
    d=$work/dom0.d
    rm -rf "$d"
    mkdir -p "$d/bin" "$d/dev" "$d/proc" "$d/sys" "$d/run" "$d/tmp" "$d/etc/xen" \
        "$d/var/lib/xen" "$d/var/log/xen/console" "$d/var/lock" "$d/xg/bin" "$d/xg/lib" "$d/xg/guest"
    ln -s ../run "$d/var/run"
    cp "$R/bin/busybox" "$d/bin/busybox"
    cp "$here/dom0-init" "$d/init"
    cp "$here/tests.sh" "$d/xg/tests.sh"
    chmod 755 "$d/init"
    copy "$R/lib64/ld-linux-x86-64.so.2" "$d/lib64/ld-linux-x86-64.so.2"
    for ld in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu; do
        [ -d "$R/$ld" ] || continue
        mkdir -p "$d/$ld"
        (cd "$R/$ld" && find . -maxdepth 1 \( -name '*.so*' \) -print) | while read -r f; do
            cp -a "$R/$ld/$f" "$d/$ld/$f"
        done
    done
    # glibc loads libgcc_s (pthread_cancel) and libnss_* at run time; both
    # came with the copy above, check they are there.
    [ -e "$d/lib/x86_64-linux-gnu/libgcc_s.so.1" ] || die "libgcc_s.so.1 missing"
    if [ -x "$strace_cache/root/usr/bin/strace" ]; then
        copy "$strace_cache/root/usr/bin/strace" "$d/usr/bin/strace"
        for f in "$strace_cache"/root/usr/lib/x86_64-linux-gnu/*.so*; do
            [ -e "$f" ] && cp -a "$f" "$d/usr/lib/x86_64-linux-gnu/"
        done
    fi
    xb=usr/lib/xen-4.17/bin
    for f in xl xenstored xenconsoled xen-init-dom0 libxl-save-helper xenstore-control; do
        copy "$R/$xb/$f" "$d/$xb/$f"
    done
    for f in "$R"/usr/bin/xenstore*; do
        [ -f "$f" ] && [ ! -L "$f" ] && copy "$f" "$d/usr/bin/$(basename "$f")"
    done
    copy "$R/etc/xen/xl.conf" "$d/etc/xen/xl.conf"
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$d/etc/passwd"
    printf 'root:x:0:\n' >"$d/etc/group"
    printf 'passwd: files\ngroup: files\nhosts: files\n' >"$d/etc/nsswitch.conf"
    printf '127.0.0.1 localhost\n' >"$d/etc/hosts"

    mdir=$R/lib/modules/$kver
    : >"$d/etc/modules.order"
    for m in $(modules_in_order "$mdir" xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc virtio_pci virtio_blk); do
        copy "$mdir/$m" "$d/lib/modules/$kver/$m"
        echo "/lib/modules/$kver/$m" >>"$d/etc/modules.order"
    done

    # The guest's kernel as a plain ELF: the domain builder then has no xz
    # to undo, which under TCG takes longer than the guest's boot.
    if ! python3 - "$work/vmlinuz" "$d/xg/guest/vmlinuz" <<'PY' 2>"$work/vmlinux.log"; then
import lzma, sys
data = open(sys.argv[1], "rb").read()
at = data.find(b"\xfd7zXZ\x00")
assert at >= 0, "no xz stream in the kernel image"
elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[at:])
assert elf[:4] == b"\x7fELF", "the xz stream is not an ELF kernel"
open(sys.argv[2], "wb").write(elf)
PY
        say "cannot unpack the guest kernel ($(tail -n 1 "$work/vmlinux.log")): the guest boots from the bzImage (slower)"
        cp "$work/vmlinuz" "$d/xg/guest/vmlinuz"
    fi
    cp "$work/guest-initrd.gz" "$d/xg/guest/initrd.gz"
    cp "$here/guest.cfg" "$d/xg/guest/guest.cfg"
    # The test guest (tests/xen/guest, testguest.sh): its kernels, when built.
    cp "$here/testguest.sh" "$d/xg/testguest.sh"
    for k in xg-testguest64 xg-testguest32; do
        if [ -f "$builddir/tests/xen/guest/$k" ]; then cp "$builddir/tests/xen/guest/$k" "$d/xg/guest/$k"; fi
    done

    # xg-divert (divert.sh): xg's packages, dpkg and its database (pkg.sh).
    cp "$here/divert.sh" "$d/xg/divert.sh"
    divert_payload "$d"

    # The simulator's guests and their mutants (simdiff.sh, simdiff-host.sh),
    # judged by xg here before the VM boots.
    cp "$here/simdiff.sh" "$d/xg/simdiff.sh"
    if want_test sim-images || want_test sim-diff; then
        say "saving the simulator's guests and judging their mutants with xg (simdiff-host.sh)"
        "$here/simdiff-host.sh" prepare "$builddir" "$d/xg/sim" "$work/simdiff" ||
            die "simdiff-host.sh prepare failed (see above)"
    fi

    # xg: the tools and what they link that the VM does not have already.
    found=
    for t in tools/xc_save/xc_save tools/xc_restore/xc_restore tools/xg-inspect/xg-inspect \
             tools/libxl-save-helper/xg-libxl-save-helper tests/tools/xg-mutate tests/tools/xg-streamtap; do
        if f=$(xg_tool "$t"); then
            cp "$f" "$d/xg/bin/$(basename "$t")"
            found="$found $(basename "$t")"
            # The tools link libxg.so: find the one just built, not an installed one.
            for lib in $(LD_LIBRARY_PATH=$builddir/libxg/.libs ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do
                n=$(basename "$lib")
                [ -e "$d/lib/x86_64-linux-gnu/$n" ] || [ -e "$d/usr/lib/x86_64-linux-gnu/$n" ] ||
                    [ -e "$d/xg/lib/$n" ] || cp -L "$lib" "$d/xg/lib/$n"
            done
        fi
    done
    # The syscall-counts test's hypercall counter (hcount.c), preloaded into both helpers.
    if [ -f "$builddir/tests/xen/xg-hcount.so" ]; then
        cp "$builddir/tests/xen/xg-hcount.so" "$d/xg/lib/xg-hcount.so"
        found="$found xg-hcount.so"
    fi
    say "xg tools from $builddir:$found"
    check_needed "$d"

    mkcpio "$d" >"$work/dom0-initrd"
    rm -rf "$d" "$g"
}

. "$here/pkg.sh"

# Is test NAME selected (XG_XEN_TESTS, or all)?
want_test() {
    [ -z "${XG_XEN_TESTS:-}" ] && return 0
    case " $(echo $XG_XEN_TESTS) " in *" $1 "*) return 0 ;; esac
    return 1
}

# ---------------------------------------------------------------- run
run_vm() {
    out=$work/out.img
    rm -f "$out" "$work/serial.log"
    # Slots of 512 MiB: tests.sh writes the images the host checks there.
    truncate -s 2G "$out"
    accel="-accel tcg,thread=multi"
    [ "${XG_XEN_KVM:-0}" = 1 ] && accel="-accel kvm"
    kargs="console=hvc0 earlyprintk=xen"
    if [ "${XG_XEN_VERBOSE:-0}" = 1 ]; then kargs="$kargs loglevel=7 xgverbose"; else kargs="$kargs loglevel=3"; fi
    [ -n "${XG_XEN_TESTS:-}" ] && kargs="$kargs xgtests=$(echo "$XG_XEN_TESTS" | tr ' ' ':')"
    [ -n "${XG_XEN_MIG_ROUNDS:-}" ] && kargs="$kargs xgrounds=$XG_XEN_MIG_ROUNDS"
    [ -n "${XG_SIMDIFF_BUDGET:-}" ] && kargs="$kargs xgsimbudget=$XG_SIMDIFF_BUDGET"
    # QEMU's multiboot -initrd splits modules on commas: no comma may appear
    # in a path or a command line.
    case "$work$kargs" in *,*) die "the work folder or kernel arguments contain a comma: $work $kargs" ;; esac
    case "$work" in *" "*) die "the work folder contains a space: $work" ;; esac
    say "booting Xen $XEN_VERSION (built) under QEMU ($accel, -cpu qemu64 -smp 2 -m 2048); serial log: $work/serial.log"
    xenargs="dom0_mem=1024M,max:1024M console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all noreboot"
    # The command line, to boot the same machine by hand (XG_XEN_KEEP=1
    # keeps its files; replace -serial file:... by -serial mon:stdio).
    printf "qemu-system-x86_64 -machine pc %s -cpu qemu64 -smp 2 -m 2048 -display none -monitor none -nic none -no-reboot -serial 'file:%s' -drive 'file=%s,format=raw,if=virtio,cache=unsafe' -kernel '%s' -append '%s' -initrd '%s'\n" \
        "$accel" "$work/serial.log" "$out" "$work/xen" "$xenargs" "$work/vmlinuz $kargs,$work/dom0-initrd" >"$work/qemu.cmd"
    # shellcheck disable=SC2086
    qemu-system-x86_64 -machine pc $accel -cpu qemu64 -smp 2 -m 2048 \
        -display none -monitor none -nic none -no-reboot \
        -serial "file:$work/serial.log" \
        -drive "file=$out,format=raw,if=virtio,cache=unsafe" \
        -kernel "$work/xen" \
        -append "$xenargs" \
        -initrd "$work/vmlinuz $kargs,$work/dom0-initrd" \
        </dev/null >"$work/qemu.log" 2>&1 &
    qpid=$!
    # Interrupted: QEMU goes too.
    trap 'kill "$qpid" 2>/dev/null' EXIT
    trap 'kill "$qpid" 2>/dev/null; exit 130' INT TERM
    deadline=$(( $(date +%s) + timeout ))
    booted=
    vm_status=timeout
    while kill -0 "$qpid" 2>/dev/null; do
        if [ -z "$booted" ] && grep -q '^XGBOOTED' "$work/serial.log" 2>/dev/null; then
            booted=$(( $(date +%s) - vmstart ))
            say "dom0 up in ${booted} s"
        fi
        if grep -q '^XGDONE' "$work/serial.log" 2>/dev/null; then
            vm_status=done
            # dom0 powers off; give it a moment, then stop QEMU ourselves.
            i=0
            while kill -0 "$qpid" 2>/dev/null && [ $i -lt 30 ]; do sleep 1; i=$((i + 1)); done
            break
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            say "timeout after $timeout s: stopping QEMU"
            break
        fi
        sleep 2
    done
    if kill -0 "$qpid" 2>/dev/null; then
        kill "$qpid" 2>/dev/null || true
        sleep 1
        kill -9 "$qpid" 2>/dev/null || true
    fi
    wait "$qpid" 2>/dev/null || true
    trap - EXIT INT TERM
    vm_time=$(( $(date +%s) - vmstart ))
}

# A file tests.sh left in slot N of the output disk (XGOUT NAME SLOT BYTES).
extract_outputs() {
    tr -d '\r' <"$work/serial.log" | sed -n 's/^XGOUT \([A-Za-z0-9_.-]*\) \([0-9]*\) \([0-9]*\).*/\1 \2 \3/p' >"$work/outputs"
    mkdir -p "$work/out"
    rm -f "$work"/out/*
    while read -r name slot bytes; do
        dd if="$work/out.img" of="$work/out/$name" bs=1M skip=$((slot * 512)) count=$(( (bytes + 1048575) / 1048576 )) 2>/dev/null
        truncate -s "$bytes" "$work/out/$name"
    done <"$work/outputs"
}

verify_stream() { # NAME FORMAT: Xen's verify-stream-v2 on an image tests.sh put out
    v=$R/usr/lib/xen-4.17/bin/verify-stream-v2
    f=$work/out/$1
    [ -f "$f" ] || { echo "the VM did not write out $1"; return 1; }
    py=$(command -v python3 || true)
    [ -n "$py" ] || { echo "python3 not found: cannot run verify-stream-v2"; return 1; }
    PYTHONPATH=$R/usr/lib/xen-4.17/lib/python "$py" "$v" -f "$2" -i "$f" >"$work/out/$1.verify" 2>&1 ||
        { echo "verify-stream-v2 -f $2 rejects $1: $(tail -n 3 "$work/out/$1.verify" | tr '\n' ' ')"; return 1; }
}

# The built hypervisor against Debian's binary of the same version: the dom0
# tools must be of the hypervisor's version, and the configurations may
# differ only in the two options build-xen.sh adds.
check_xen_build() {
    utils=$(ls "$cache"/debs/xen-utils-4.17_*.deb 2>/dev/null | head -n 1)
    [ -n "$utils" ] || die "xen-utils-4.17 is not among the packages"
    uv=$(dpkg-deb -f "$utils" Version)
    [ "$uv" = "$XEN_VERSION" ] ||
        die "the dom0 tools (xen-utils-4.17 $uv) are not of the hypervisor's version ($XEN_VERSION)"
    dcfg=$R/boot/xen-4.17-amd64.config
    [ -f "$dcfg" ] || die "no $dcfg in xen-hypervisor-4.17-amd64 $XEN_VERSION"
    diff "$dcfg" "$XEN_DIR/xen.config" | sed -n 's/^[<>] //p' | grep -v '^#$' |
        grep -v '^# Xen/x86 .* Configuration$' >"$work/config.diff" || true
    extra=$(grep -v -e '^# CONFIG_SHADOW_PAGING is not set$' -e '^# CONFIG_PV32 is not set$'         -e '^CONFIG_SHADOW_PAGING=y$' -e '^CONFIG_PV32=y$' "$work/config.diff" || true)
    [ -z "$extra" ] || die "the built hypervisor's .config differs from Debian's in more than shadow paging and PV32: $extra"
    added=$(sed -n 's/^\(CONFIG_[A-Z0-9_]*=y\)$/\1/p' "$work/config.diff" | tr '\n' ' ')
    say "hypervisor: Xen $XEN_VERSION built from Debian's source ($XEN_DIR, cold build $(cat "$XEN_DIR/build.seconds" 2>/dev/null || echo ?) s); .config as Debian's binary of that version plus: ${added:-nothing}"
    say "dom0 tools: Debian's xen-utils-4.17 $uv (the hypervisor's version)"
}

# ---------------------------------------------------------------- main
# sim-diff runs for up to its own budget: the VM gets that much more time.
want_test sim-diff && timeout=$((timeout + ${XG_SIMDIFF_BUDGET:-900}))
mkdir -p "$work"
need_host_tools
xen_built=$("$here/build-xen.sh") || die "see above: the tier boots only a hypervisor built from Debian's source"
XEN_VERSION=${xen_built%% *}
XEN_DIR=${xen_built#* }
[ -n "$XEN_VERSION" ] && [ -s "$XEN_DIR/xen.gz" ] || die "build-xen.sh gave no hypervisor ('$xen_built')"
fetch_packages
fetch_strace
R=$cache/root
check_xen_build
build_images
vmstart=$(date +%s)
run_vm

serial=$work/serial.log
tr -d '\r' <"$serial" >"$work/serial.txt" 2>/dev/null || : >"$work/serial.txt"
extract_outputs
[ "${XG_XEN_KEEP:-0}" = 1 ] || rm -f "$work/out.img" "$work/dom0-initrd" "$work/guest-initrd.gz" "$work/xen" "$work/vmlinuz"

# Results: XGTEST NAME PASS|FAIL REASON lines from tests.sh; the host adds
# verify-stream-v2 on the images tests.sh wrote out.
passed=0
failed=0
report() { # NAME VERDICT REASON
    printf '%s: %s%s\n' "$2" "$1" "${3:+ ($3)}"
    if [ "$2" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}
sed -n 's/^XGTEST \([^ ]*\) \(PASS\|FAIL\) *\(.*\)$/\1 \2 \3/p' "$work/serial.txt" >"$work/results"
expected=$(sed -n 's/^XGPLAN \(.*\)$/\1/p' "$work/serial.txt" | tail -n 1)
# check_image VERDICT REASON FILE FORMAT: sets verdict and reason; an image
# that came out is checked even when the test failed later on.
check_image() {
    verdict=$1 reason=$2
    [ -f "$work/out/$3" ] || { [ "$verdict" = PASS ] && verdict=FAIL reason="$reason; the image did not come out of the VM"; return 0; }
    if r=$(verify_stream "$3" "$4"); then
        reason="$reason; verify-stream-v2 -f $4 accepts the image"
    else
        verdict=FAIL reason="$reason; $r"
    fi
}
# The differential test: the VM's verdicts (Xen's own restore) against
# xg's on this machine (simdiff-host.sh judge); the table is printed here.
simdiff_judge() { # NAME VERDICT REASON: sets verdict and reason
    verdict=$2 reason=$3
    if [ "$1" = sim-images ]; then
        base=$(sed -n 's/^XGSIMBASE //p' "$work/serial.txt" | while read -r l x; do
            p=$(awk -v l="$l" '$1 == l { print $2 }' "$work/simdiff/base-verdicts" 2>/dev/null)
            [ "$x" = "$p" ] || echo " $l (Xen's restore $x, the simulator in pfn order ${p:-?})"
        done)
        if [ -n "$base" ]; then
            verdict=FAIL reason="$reason; Xen and the simulator differ on:$base"
        else
            reason="$reason; Xen's own restore agrees with the simulator's pin-order model on every image"
        fi
        return 0
    fi
    "$here/simdiff-host.sh" judge "$work/simdiff" "$work/serial.txt" "$here/simdiff.explained" >"$work/simdiff.out" 2>&1
    say "differential test: Xen's own restore against xg (per layout: Xen accepts / xg refuses, Xen refuses / xg accepts):"
    grep -v '^RESULT ' "$work/simdiff.out"
    r=$(sed -n 's/^RESULT //p' "$work/simdiff.out" | tail -n 1)
    case $r in
        PASS*) reason="$reason; ${r#PASS }" ;;
        *) verdict=FAIL reason="$reason; ${r#FAIL }${r:-simdiff-host.sh judge printed no result}" ;;
    esac
}
while read -r name verdict reason; do
    case $name in
        xg-save-restore) check_image "$verdict" "$reason" xg-save.xl xl ;;
        xc-save) check_image "$verdict" "$reason" xc-save.img libxc ;;
        sim-images|sim-diff) simdiff_judge "$name" "$verdict" "$reason" ;;
    esac
    report "$name" "$verdict" "$reason"
done <"$work/results"
for name in $expected; do
    grep -q "^$name " "$work/results" || report "$name" FAIL "no result: the VM stopped before it ($vm_status)"
done
[ -n "$expected" ] || report boot FAIL "dom0 never started the tests ($vm_status); see $serial"

# xen-build: the hypervisor that ran is the one build-xen.sh made (its
# version), with 32-bit PV (xen_caps) and shadow paging (virt_caps), which
# is what PV log-dirty mode needs.  xl info, as dom0 saw it:
xlinfo() { sed -n "s/^XGXLINFO $1 //p" "$work/serial.txt" | head -n 1; }
if grep -q '^XGXLINFO' "$work/serial.txt"; then
    sed -n 's/^XGXLINFO \([^ ]*\) \(.*\)$/  xl info: \1 : \2/p' "$work/serial.txt"
    upstream=${XEN_VERSION%-*}
    xv=$(xlinfo xen_version)
    why="xl info: Xen $xv ($(xlinfo xen_changeset)), built $(xlinfo cc_compile_date) by $(xlinfo cc_compile_by)"
    case $upstream in
        "$xv"*) ;;
        *) why="$why; not the version built ($upstream)" ;;
    esac
    case " $(xlinfo xen_caps) " in
        *" xen-3.0-x86_32p "*) why="$why; 32-bit PV (xen-3.0-x86_32p)" ;;
        *) why="$why; no 32-bit PV in xen_caps" ;;
    esac
    case " $(xlinfo virt_caps) " in
        *" shadow "*) why="$why; shadow paging (virt_caps: $(xlinfo virt_caps))" ;;
        *) why="$why; no shadow in virt_caps ($(xlinfo virt_caps))" ;;
    esac
    case $why in
        *"not the version"*|*"no 32-bit"*|*"no shadow"*) report xen-build FAIL "$why" ;;
        *) report xen-build PASS "$why" ;;
    esac
else
    report xen-build FAIL "dom0 printed no xl info"
fi

# Times: every XGTIME line (OP HELPER SECONDS), the median per operation
# and helper, and xg's median over Xen's for save and restore.  Under TCG
# only the ratio means something.
if grep -q '^XGTIME' "$work/serial.txt"; then
    say "times in this boot, seconds (median of n; xen = Xen's own libxl-save-helper, xg = xg's):"
    sed -n 's/^XGTIME \([^ ]*\) \([^ ]*\) \([0-9.]*\).*/\1 \2 \3/p' "$work/serial.txt" |
        sort -k1,1 -k2,2 -k3,3n | awk '
        function flush() {
            if (c == 0) return
            m = (c % 2) ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
            med[key] = m
            printf "  %-8s %-4s %6.2f  (n=%d:%s)\n", op, h, m, c, all
        }
        { if ($1 " " $2 != key) { flush(); key = $1 " " $2; op = $1; h = $2; c = 0; all = "" }
          v[++c] = $3; all = all " " $3 }
        END {
            flush()
            n = split("save restore save512 restore512", ops, " ")
            for (i = 1; i <= n; i++)
                if (med[ops[i] " xen"] > 0 && (ops[i] " xg") in med)
                    printf "  %-8s ratio xg/xen %.2f\n", ops[i], med[ops[i] " xg"] / med[ops[i] " xen"]
        }'
fi
# Counts: XGCOST OP HELPER GUEST-MIB WHAT N (tests.sh, syscall-counts), what
# one helper's process tree asked of dom0's kernel for one save or restore
# of the guest; per GiB of guest, side by side, and xg over Xen, for the
# totals, the ioctls by device and the syscalls that move the image (every
# syscall's count is in the XGCOST lines of serial.txt).
if grep -q '^XGCOST' "$work/serial.txt"; then
    say "syscalls and ioctls of one save and one restore, per GiB of guest (strace -f of the helper):"
    sed -n 's/^XGCOST //p' "$work/serial.txt" | awk '
        { per[$1 " " $4 " " $2] = $5 * 1024 / $3 }
        END {
            nk = split("syscalls ioctl privcmd-hypercall privcmd-mmapbatch privcmd-mmap-resource " \
                       "privcmd-other evtchn gntdev ioctl-other mmap munmap read write writev futex", keys, " ")
            n = 0
            for (o = 1; o <= 2; o++)
                for (j = 1; j <= nk; j++)
                    order[++n] = (o == 1 ? "save" : "restore") " " keys[j]
            printf "  %-8s %-26s %12s %12s %8s\n", "op", "what", "xen /GiB", "xg /GiB", "xg/xen"
            for (i = 1; i <= n; i++) {
                split(order[i], a, " ")
                x = per[order[i] " xen"] + 0; g = per[order[i] " xg"] + 0
                r = "-"
                if (x > 0) r = sprintf("%.2f", g / x)
                printf "  %-8s %-26s %12.0f %12.0f %8s\n", a[1], a[2], x, g, r
            }
        }'
fi
# Hypercalls by kind: XGHCALL OP HELPER GUEST-MIB KIND CALLS UNITS (tests.sh,
# syscall-counts, counted by xg-hcount.so preloaded into the helper): per
# GiB of guest, side by side.  hypercall/NAME rows count every hypercall
# once; the rows under them (domctl/..., memory_op/...) split them by
# command.  UNITS are the requests mmu_update and mmuext_op carry and the
# frames a mmapbatch maps, shown where they differ from the calls.
if grep -q '^XGHCALL' "$work/serial.txt"; then
    say "privcmd hypercalls by kind of one save and one restore, per GiB of guest (xg-hcount.so in the helper):"
    printf '  %-8s %-36s %10s %10s %7s %14s %14s\n' op kind "xen /GiB" "xg /GiB" xg/xen "xen units" "xg units"
    sed -n 's/^XGHCALL //p' "$work/serial.txt" | awk '
        $4 == "processes" { next }
        { k = $1 " " $4; c[k " " $2] = $5 * 1024 / $3; u[k " " $2] = $6 * 1024 / $3; keys[k] = 1 }
        END {
            for (k in keys) {
                split(k, a, " ")
                rank = (a[2] ~ /^hypercall\//) ? 0 : (a[2] ~ /^in-multicall\//) ? 1 : (a[2] ~ /^privcmd\//) ? 2 : 3
                printf "%s %d %s %.0f %.0f %.0f %.0f\n", a[1], rank, a[2], c[k " xen"], c[k " xg"], u[k " xen"], u[k " xg"]
            }
        }' | sort -k1,1r -k2,2n -k3,3 | awk '{
            r = ($4 > 0) ? sprintf("%.2f", $5 / $4) : "-"
            line = sprintf("  %-8s %-36s %10s %10s %7s", $1, $3, $4, $5, r)
            if ($6 != $4 || $7 != $5) line = line sprintf(" %14s %14s", $6, $7)
            print line
        }'
    sed -n 's/^XGHCALL //p' "$work/serial.txt" | awk '$4 ~ /^hypercall\// { t[$1 " " $2] += $5 * 1024 / $3 }
        END {
            for (o = 1; o <= 2; o++) {
                op = (o == 1) ? "save" : "restore"
                if (t[op " xen"] > 0)
                    printf "  %-8s %-36s %10.0f %10.0f %7.2f\n", op, "all hypercalls", t[op " xen"], t[op " xg"], t[op " xg"] / t[op " xen"]
            }
        }'
fi
# Live migrations: XGMIG SENDER RECEIVER ROUND LIVE-PASSES FINAL TOTAL
# GUEST-PAGES DOWNTIME XL-SECONDS, one per migration (tests.sh).  The pages
# sent depend on the saver only; the downtime (the longest stop the guest
# saw) and xl's time on both sides.  Medians per saver, and xg over Xen.
if grep -q '^XGMIG' "$work/serial.txt"; then
    say "live migrations (pages; passes = live passes + the one after suspend; downtime as the guest saw it):"
    sed -n 's/^XGMIG //p' "$work/serial.txt" | awk '
        function med(k, n,   i, j, t, a) {
            n = split(list[k], a, " ")
            for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
            return n == 0 ? -1 : (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2)
        }
        function add(k, v) { list[k] = list[k] " " v }
        function ratio(what, a, b,   x, y) {
            x = med(a); y = med(b)
            if (x >= 0 && y > 0) printf "  %-34s xg %8.2f  xen %8.2f  xg/xen %.2f\n", what, x, y, x / y
        }
        {
            s = $1; r = $2; np = split($4, p, ",") + 1
            ratio_sent = $6 / $7
            printf "  %-3s -> %-3s round %s: %d passes (%s, then %s after suspend), sent %d = %.2f x guest (%d pages), downtime %s s, xl %s s\n",
                s, r, $3, np, $4, $5, $6, ratio_sent, $7, $8, $9
            add("passes " s, np); add("sent " s, ratio_sent); add("final " s, $5)
            if (s == r) { add("down " s, $8); add("secs " s, $9) }
        }
        END {
            print "  medians, xg/Xen (saver; downtime and time with the same helper on both sides):"
            ratio("passes", "passes xg", "passes xen")
            ratio("total sent / guest size", "sent xg", "sent xen")
            ratio("pages sent after suspend", "final xg", "final xen")
            ratio("downtime, s", "down xg", "down xen")
            ratio("xl migrate, s", "secs xg", "secs xen")
        }'
fi
say "dom0 up after ${booted:-?} s; VM ran ${vm_time} s; whole run $(( $(date +%s) - start )) s; serial log $serial"
echo "xen-tier: $passed passed, $failed failed"
[ "$failed" = 0 ]
