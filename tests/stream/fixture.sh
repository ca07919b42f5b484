#!/bin/sh
# fixture.sh - xg-inspect --records on the real image that Xen 4.17.7's
# `xl save` wrote (tests/data/linux64-4.17-xl.img.gz: gzip, xl header,
# libxl stream v2, libxc stream v3 of a 128 MiB 64-bit Linux PV guest).
# The counts are those of tests/data/README.md.
set -u
srcdir=${srcdir:-.}
builddir=${abs_top_builddir:-$(pwd)}
img=$srcdir/tests/data/linux64-4.17-xl.img.gz
inspect=$builddir/tools/xg-inspect/xg-inspect

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
[ -f "$img" ] || fail "missing fixture $img"
[ -x "$inspect" ] || fail "$inspect is not built"

out=$(mktemp "${TMPDIR:-/tmp}/xg-fixture.XXXXXX") || fail "mktemp"
trap 'rm -f "$out"' EXIT INT TERM
"$inspect" --records "$img" >"$out" 2>&1 || { cat "$out" >&2; fail "xg-inspect --records rejects $img"; }

passed=0
expect() { # WHAT WANT GOT
    if [ "$2" = "$3" ]; then
        passed=$((passed + 1))
    else
        echo "FAIL: $1: expected '$2', got '$3'" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
}

expect "first line" "xl save file (gzip), libxc stream version 3, x86 PV domain, saved by Xen 4.17" "$(head -n 1 "$out")"
expect "summary" "42 records, 32768 page entries, 134492557 bytes" "$(grep -x '42 records, 32768 page entries, 134492557 bytes' "$out")"
expect "verdict" "verdict:     the image would restore" "$(grep '^verdict:' "$out")"
expect "PAGE_DATA lines" 32 "$(grep -c ' PAGE_DATA ' "$out")"
# Page entries per type, summed over the PAGE_DATA lines ("NOTAB=1016 L1TAB=2 ...").
total() {
    awk -v t="$1" '/ PAGE_DATA /{ for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == t) n += kv[2] } } END { print n + 0 }' "$out"
}
expect "L4TAB|LPINTAB" 7 "$(total 'L4TAB|LPINTAB')"
expect "L4TAB" 0 "$(total L4TAB)"
expect "L3TAB" 74 "$(total L3TAB)"
expect "L3TAB|LPINTAB" 1 "$(total 'L3TAB|LPINTAB')"
expect "L2TAB" 14 "$(total L2TAB)"
expect "L1TAB" 40 "$(total L1TAB)"
expect "L1TAB|LPINTAB" 48 "$(total 'L1TAB|LPINTAB')"
expect "NOTAB" 32584 "$(total NOTAB)"
expect "vcpu0 basic" 1 "$(grep -c 'X86_PV_VCPU_BASIC .*vcpu0, 5168 bytes' "$out")"
echo "$passed passed, 0 failed"
