#!/bin/sh
# tests/pkg/divert.sh XG-XL-HELPER.deb - the divert package's maintainer
# scripts, without Xen: in a scratch root (dpkg --root, scripts run
# chrootless with DPKG_ROOT set, as dpkg-divert honours it) with a fake
# xen-utils-4.17 that ships /usr/lib/xen-4.17/bin/libxl-save-helper:
#   - installing xg-xl-helper diverts Xen's helper to libxl-save-helper.xen,
#     byte for byte, and puts a link to xg-libxl-save-helper in its place;
#   - an upgrade of Xen's package while diverted lands beside it, not on it;
#   - removing xg-xl-helper puts Xen's helper (the upgraded one) back, byte
#     for byte, with no diversion left; purging leaves nothing behind.
# The host's own dpkg database and files are not touched (checked).  Root.
set -eu

deb=${1:?usage: divert.sh XG-XL-HELPER.deb}
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
fail() { printf 'FAIL: divert: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (dpkg --root)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
helper=/usr/lib/xen-4.17/bin/libxl-save-helper
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
host_diversions=$(dpkg-divert --list)

# A stand-in for Debian's xen-utils-4.17: the helper's path, random bytes.
fake_xen() { # VERSION: builds $work/xen-VERSION.deb, keeps its helper in $work/helper-VERSION
    d=$work/xen-$1
    mkdir -p "$d/DEBIAN" "$d/usr/lib/xen-4.17/bin"
    cat >"$d/DEBIAN/control" <<CTL
Package: xen-utils-4.17
Version: $1
Architecture: amd64
Maintainer: xg tests <tests@invalid>
Description: stand-in for Xen 4.17's utilities (xg's divert test)
CTL
    head -c 65536 /dev/urandom >"$d$helper"
    chmod 755 "$d$helper"
    cp "$d$helper" "$work/helper-$1"
    dpkg-deb -b --root-owner-group "$d" "$work/xen-$1.deb" >/dev/null
}
fake_xen 4.17.0-1
fake_xen 4.17.0-2
rdpkg() { dpkg --root="$root" --force-script-chrootless --force-depends --log=/dev/null "$@" \
    >>"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg $*"; }; }
diversion() { dpkg-divert --root="$root" --list "$helper"; }

rdpkg -i "$work/xen-4.17.0-1.deb"
cmp -s "$root$helper" "$work/helper-4.17.0-1" || fail "the fake Xen helper is not in place"

rdpkg -i "$deb"
[ -L "$root$helper" ] || fail "after install, $helper is not xg's link"
[ "$(readlink -f "$root$helper")" = "$(readlink -f "$root/usr/bin/xg-libxl-save-helper")" ] ||
    fail "after install, $helper -> $(readlink "$root$helper"), not xg-libxl-save-helper"
cmp -s "$root$helper.xen" "$work/helper-4.17.0-1" || fail "Xen's helper is not kept as $helper.xen"
diversion | grep -q "to $helper.xen by xg-xl-helper" || fail "no diversion by xg-xl-helper: $(diversion)"

rdpkg -i "$work/xen-4.17.0-2.deb"
[ -L "$root$helper" ] || fail "upgrading Xen's package replaced xg's helper"
cmp -s "$root$helper.xen" "$work/helper-4.17.0-2" || fail "Xen's upgraded helper is not at $helper.xen"

rdpkg -r xg-xl-helper
[ ! -L "$root$helper" ] || fail "after removal, $helper is still a link"
cmp -s "$root$helper" "$work/helper-4.17.0-2" || fail "after removal, $helper is not Xen's, byte for byte"
[ ! -e "$root$helper.xen" ] || fail "after removal, $helper.xen is left"
[ -z "$(diversion)" ] || fail "after removal, a diversion is left: $(diversion)"
rdpkg -P xg-xl-helper
[ ! -e "$root/usr/bin/xg-libxl-save-helper" ] || fail "purge left xg-libxl-save-helper"
cmp -s "$root$helper" "$work/helper-4.17.0-2" || fail "purge touched Xen's helper"

[ "$(dpkg-divert --list)" = "$host_diversions" ] || fail "the host's diversions changed"
echo "PASS: divert: install diverts Xen's helper, a Xen upgrade lands beside it, removal puts it back byte for byte"
