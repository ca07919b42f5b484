#!/bin/sh
# tests/pkg/packages.sh - the Debian packages, as a user gets them:
#   1. dpkg-buildpackage -us -uc -b in a copy of the tree (nocheck: make check
#      has its own stage) builds xg, libxg0, libxg-dev and xg-xl-helper;
#   2. lintian reports no error on them;
#   3. xg, libxg0 and libxg-dev install (apt-get, root), a small program
#      builds against the installed libxg.pc and checks the real Xen 4.17
#      image of tests/data, the installed tools and man pages work; then the
#      packages are purged and their files are gone;
#   4. xg-xl-helper's divert, in a scratch root (tests/pkg/divert.sh).
# Needs root (or sudo), dpkg-dev, debhelper, lintian; scripts/test.sh runs it.
#
#   tests/pkg/packages.sh [WORKDIR]    (default: a temporary folder, removed)
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-}
own_work=no
installed=no
if [ -z "$work" ]; then
    work=$(mktemp -d)
    own_work=yes
fi
cleanup() {
    [ $installed = no ] || purge || true
    [ $own_work = no ] || rm -rf "$work"
}
trap cleanup EXIT
say() { printf '%s\n' "pkg: $*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

for t in dpkg-buildpackage dh lintian apt-get pkg-config cc man; do
    command -v "$t" >/dev/null || fail "$t not found (Debian: dpkg-dev debhelper lintian pkg-config gcc man-db)"
done
if [ "$(id -u)" = 0 ]; then
    SUDO=
else
    sudo -n true 2>/dev/null || fail "installing packages needs root or sudo"
    SUDO="sudo -n"
fi

# 1. Build, in a copy: dpkg-buildpackage writes the .debs beside the tree.
version=$(sed -n '1s/^xg (\([^)]*\)).*/\1/p' "$src/debian/changelog")
tree=$work/xg-$version
rm -rf "$tree" && mkdir -p "$tree"
(cd "$src" && tar --exclude='./_build*' --exclude=./.git --exclude=./autom4te.cache -cf - .) |
    (cd "$tree" && tar -xf -)
say "dpkg-buildpackage -us -uc -b (log: $work/build.log)"
start=$(date +%s)
(cd "$tree" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -us -uc -b) \
    >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; fail "dpkg-buildpackage failed"; }
say "built in $(( $(date +%s) - start )) s"
for p in xg libxg0 libxg-dev xg-xl-helper; do
    [ -f "$work/${p}_${version}_amd64.deb" ] || fail "no ${p}_${version}_amd64.deb"
done

# 2. lintian: no error.  Each warning kept is explained in debian/README.source.
lintian "$work/xg_${version}_amd64.changes" >"$work/lintian.log" 2>&1 || true
grep -E '^[EW]: ' "$work/lintian.log" || true
! grep -q '^E: ' "$work/lintian.log" || fail "lintian reports errors (above)"
say "lintian: $(grep -c '^E: ' "$work/lintian.log") errors, $(grep -c '^W: ' "$work/lintian.log") warnings"

# 3. Install, compile against the installed library, run, purge.
apt() { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q "$@"; }
purge() { apt purge xg libxg0 libxg-dev >"$work/purge.log" 2>&1; }
installed=yes
apt install --no-install-recommends "$work/xg_${version}_amd64.deb" \
    "$work/libxg0_${version}_amd64.deb" "$work/libxg-dev_${version}_amd64.deb" \
    >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "apt-get install of the packages failed"; }
say "installed xg, libxg0, libxg-dev"

[ "$(PKG_CONFIG_PATH= pkg-config --modversion libxg)" = "${version%%-*}" ] ||
    fail "pkg-config does not find the installed libxg $version"
cat >"$work/check.c" <<'PROG'
/* Is an image restorable?  libxg through the installed libxg.pc only. */
#include <fcntl.h>
#include <stdio.h>
#include <xg/diag.h>
#include <xg/restore.h>

int main(int argc, char **argv)
{
    int fd = argc == 2 ? open(argv[1], O_RDONLY) : -1;
    if (fd < 0)
        return 2;
    xg_diag *d = xg_diag_new();
    struct xg_restore_result res = { 0 };
    int rc = xg_image_check(fd, NULL, &res, d);
    printf("%s width=%u tables=%llu\n", xg_err_name(rc), res.guest_width,
           (unsigned long long)res.tables);
    xg_diag_free(d);
    return rc != 0;
}
PROG
cc -std=gnu11 -Wall -Werror -o "$work/check" "$work/check.c" $(PKG_CONFIG_PATH= pkg-config --cflags --libs libxg) ||
    fail "the program does not build against the installed libxg"
ldd "$work/check" | grep -qE "libxg.so.0 => (/usr)?/lib/x86_64-linux-gnu/libxg.so.0 " || fail "the program does not use the installed libxg.so.0"
image=$src/tests/data/linux64-4.17-xl.img.gz
out=$("$work/check" "$image") || fail "the installed libxg refuses Xen 4.17's image: $out"
case $out in
    "XG_OK width=8 "*) say "libxg via pkg-config: $out" ;;
    *) fail "unexpected result from the installed libxg: $out" ;;
esac
/usr/bin/xg-inspect "$image" >"$work/inspect.log" 2>&1 || fail "the installed xg-inspect refuses the image"
for page in xc_save xc_restore xg-inspect xg-sim libxg; do
    man -w "$page" >/dev/null 2>&1 || fail "man $page: no installed page"
done
installed=no
purge || { cat "$work/purge.log" >&2; fail "apt-get purge failed"; }
for f in /usr/bin/xc_save /usr/include/xg/xg.h /usr/lib/x86_64-linux-gnu/libxg.so.0; do
    [ ! -e "$f" ] || fail "$f is left after purge"
done
say "purged; no file left"

# 4. The divert package, without Xen.
sh "$src/tests/pkg/divert.sh" "$work/xg-xl-helper_${version}_amd64.deb"
echo "PASS: packages build, lintian-clean, install, link, run and go away"
