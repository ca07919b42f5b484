#!/bin/sh
# scripts/demo.sh - the main job on a simulated Xen host, from a fresh
# Debian 12 machine: install what is missing, build, then
#   1. create a simulated host and a 64-bit Linux-like PV guest on it,
#   2. save it with xc_save, restore it onto a second host with xc_restore,
#   3. compare the two guests in PFN space and run the guest self-check,
#   4. show what a bad guest looks like: a dom0 that maps foreign pages
#      writable (the 2008 failure), and an image whose page tables were
#      recorded as ordinary pages, checked offline by xg-inspect,
#   5. end with the 2008 image itself, reconstructed: a 2-level (non-PAE)
#      NetBSD-like guest saved by Xen 3.1 from a dom0 that could not map its
#      page tables; xg-inspect's verdict next to the line Xen printed then.
# Usage: scripts/demo.sh [--mem SIZE] [--keep]
set -eu
. "$(dirname "$0")/lib.sh"

mem=256M
keep=no
while [ $# -gt 0 ]; do
    case $1 in
    --mem) mem=$2; shift 2 ;;
    --keep) keep=yes; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
done

need_deps
need_configure
build _build/demo
B=$XG_SRC/_build/demo
export PATH="$B/tools/xg-sim:$B/tools/xc_save:$B/tools/xc_restore:$B/tools/xg-inspect:$PATH"

work=$(mktemp -d "${TMPDIR:-/tmp}/xg-demo.XXXXXX")
[ "$keep" = yes ] || trap 'rm -rf "$work"' EXIT
cd "$work"
run() { printf '$ %s\n' "$*"; "$@"; }

say "two simulated Xen 4.17 hosts, and a linux64 guest of $mem on the first"
run xg-sim init src.host --frames 262144
run xg-sim init dst.host --frames 262144
dom=$(xg-sim create src.host --layout linux64 --mem "$mem" --vcpus 2 --seed 42)
echo "guest domid: $dom"
run xg-sim self-check src.host "$dom"

say "save it (xc_save suspends the guest, writes a migration stream v2 image)"
run xc_save --backend sim:src.host --domid "$dom" --out guest.img --verbose
run xg-inspect guest.img

say "restore it onto the second host"
out=$(xc_restore --backend sim:dst.host --create --vcpus 2 --in guest.img --verbose)
echo "$out"
new=$(echo "$out" | awk '/^domid/ {print $2}')

say "the restored guest equals the original, and runs its own self-check"
run xg-sim compare src.host "$dom" dst.host "$new"
run xg-sim self-check dst.host "$new"
run xg-sim resume dst.host "$new"
run xg-sim self-check dst.host "$new"
run xg-sim list dst.host

say "a bad host: dom0 maps foreign pages writable (NetBSD's privcmd in 2008)"
bad=$(xg-sim create src.host --layout linux64 --mem 64M --fault dom0-writable-map)
printf '$ xc_save --backend sim:src.host --domid %s --out bad.img\n' "$bad"
if xc_save --backend sim:src.host --domid "$bad" --out bad.img; then
    die "the save of a guest on a writable-mapping dom0 should have failed"
fi
echo "(xc_save refused, named the frame and the cause, left the guest running and wrote no image)"
run xg-sim list src.host

say "a bad image: page tables recorded as ordinary pages, as the 2008 saver wrote them"
mutate=$B/tests/tools/xg-mutate
[ -x "$mutate" ] || (cd "$B" && make -s tests/tools/xg-mutate >/dev/null)
"$mutate" guest.img broken.img --tables-as NOTAB
printf '$ xg-inspect broken.img\n'
if xg-inspect broken.img; then
    die "xg-inspect should have refused the broken image"
fi

say "the 2008 image: a non-PAE NetBSD guest, saved by Xen 3.1 from a dom0 that could not map its page tables"
legacy_write=$B/tests/tools/xg-legacy-write
[ -x "$legacy_write" ] || (cd "$B" && make -s tests/tools/xg-legacy-write >/dev/null)
"$legacy_write" --two-level y2008.img --unmapped 43
echo "(reconstructed from the report: 3840 pfns, cr3 at pfn 1899, 43 page tables recorded"
echo " as the Xen 3.1 saver recorded frames its dom0 could not map)"
printf '$ xg-inspect y2008.img\n'
if xg-inspect y2008.img 2>/dev/null; then
    die "xg-inspect should have refused the 2008 image"
fi
echo
echo "What Xen's tools printed for this image in June 2008 (NetBSD port-xen, 2008-06-12):"
echo "  ERROR Internal error: PT base is bad. pfn=1899 nr=3840 type=00000000 20000000"

say "done"
[ "$keep" = yes ] && echo "files kept in $work"
exit 0
