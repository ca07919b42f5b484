#!/bin/sh
# legacy.sh - legacy (pre-Xen 4.6) PV images are read, checked and restored.
#
# For a 64-bit Linux-like guest with two vcpus, a 32-bit PAE guest and a
# NetBSD-like one on a simulated host: save it (a v2 image), rewrite that
# image in the legacy layout with tests/tools/xg-legacy-write (64- and
# 32-bit toolstack words, bare, in a pre-4.6 xl save file, in a xend
# save file, gzip'd, with the XTAB fillers and bogus unmapped pfns old
# savers left), then:
#   - Xen's own convert-legacy-stream accepts every legacy image, and its
#     v2 output passes Xen's verify-stream-v2: the writer writes what Xen
#     reads, so what xg reads is the legacy format and not a private one;
#   - xg-inspect --records lists the same records, lengths and page types
#     for the legacy image as for Xen's conversion of it;
#   - xc_restore restores the legacy image onto a second host, and the
#     guest there equals the original (xg-sim compare) and passes its
#     self-check;
#   - a truncated legacy image is refused with one line, exit status 1.
# Xen's tools come from tests/stream/xen-utils.sh; when they cannot be had
# this test FAILS, saying so.
set -u
name=legacy
. "${srcdir:-.}/tests/stream/legacy-common.sh"

"$sim" init src.host --frames 65536 >/dev/null || fail "xg-sim init src.host"
"$sim" init dst.host --frames 131072 >/dev/null || fail "xg-sim init dst.host"

# The record listing without its first line (which names the container)
# and the byte count (the files differ in size by design).
records() {
    "$inspect" --records "$1" 2>&1 | sed -e 1d -e '/ records, .* page entries, .* bytes$/d' -e '/^image:/d'
}

# Bytes before the legacy stream, for Xen's converter: its --xl option
# does not work under python3 (it compares bytes with str), so the xl
# header is cut off here instead; xend's is not known to it at all.
prefix_len() { # WRAP
    case $1 in
    xl) echo $((32 + 16 + 4 + 17)) ;;   # magic, 4 u32s, config length, config (xg-legacy-write's)
    xend) echo $((16 + 4 + 35)) ;;      # "LinuxGuestRecord", length, SXP config (with its NUL)
    *) echo 0 ;;
    esac
}

check_image() { # NAME V2 BITS WRAP [EXTRA ARGS...]
    name=$1 v2=$2 bits=$3 wrap=$4
    shift 4
    "$legacy_write" "$v2" "$name.legacy" --bits "$bits" --wrap "$wrap" "$@" || { bad "$name: xg-legacy-write failed"; return 1; }
    tail -c +"$(($(prefix_len "$wrap") + 1))" "$name.legacy" >"$name.raw"
    if ! PYTHONPATH=$pylib "$python" "$converter" -i "$name.raw" -o "$name.xen" -w "$bits" -g pv >"$name.conv" 2>&1; then
        cat "$name.conv" >&2
        bad "$name: Xen's convert-legacy-stream refuses the legacy image"
        return 1
    fi
    if ! PYTHONPATH=$pylib "$python" "$verifier" -i "$name.xen" >"$name.verify" 2>&1; then
        cat "$name.verify" >&2
        bad "$name: Xen's conversion of the legacy image fails verify-stream-v2"
        return 1
    fi
    head=$("$inspect" --records "$name.legacy" 2>&1 | head -n 1)
    case $head in
    *"legacy (pre-Xen 4.6) stream from a $bits-bit toolstack"*) ;;
    *) bad "$name: xg-inspect does not say what the image is: $head"; return 1 ;;
    esac
    records "$name.legacy" >"$name.xg-records"
    records "$name.xen" >"$name.xen-records"
    if ! cmp -s "$name.xg-records" "$name.xen-records"; then
        diff "$name.xg-records" "$name.xen-records" | head -n 20 >&2
        bad "$name: xg reads the legacy image differently from Xen's converter"
        return 1
    fi
    pass "$name: Xen converts and verifies it; xg reads the same $(grep -c '' "$name.xg-records") lines"
    return 0
}

restore_and_compare() { # NAME IMAGE SRC_DOMID VCPUS
    name=$1 img=$2 dom=$3 vcpus=$4
    if ! out=$("$restore" --backend sim:dst.host --create --vcpus "$vcpus" --in "$img" 2>"$name.err"); then
        cat "$name.err" >&2
        bad "$name: xc_restore fails on the legacy image"
        return
    fi
    new=$(echo "$out" | awk '/^domid/ {print $2}')
    if ! "$sim" compare src.host "$dom" dst.host "$new" >"$name.cmp" 2>&1; then
        cat "$name.cmp" >&2
        bad "$name: the guest restored from the legacy image differs from the original"
    elif ! "$sim" self-check dst.host "$new" >/dev/null 2>&1; then
        bad "$name: the guest restored from the legacy image fails its self-check"
    else
        pass "$name: restored, equal to the original, self-check passes"
    fi
    "$sim" destroy dst.host "$new" >/dev/null 2>&1
}

guest() { # LAYOUT MEM VCPUS SEED -> v2 image $LAYOUT.img, prints the domid
    dom=$("$sim" create src.host --layout "$1" --mem "$2" --vcpus "$3" --seed "$4") || fail "xg-sim create $1"
    "$save" --backend sim:src.host --domid "$dom" --out "$1.img" >/dev/null 2>&1 || fail "xc_save of the $1 guest"
    echo "$dom"
}

d64=$(guest linux64 32M 2 11)
d32=$(guest pae32 32M 1 12)
dbsd=$(guest netbsd64 16M 1 13)

check_image linux64-w64 linux64.img 64 none --xtab-pad --unmapped 5 &&
    restore_and_compare linux64-w64 linux64-w64.legacy "$d64" 2
check_image linux64-w32-xl linux64.img 32 xl &&
    restore_and_compare linux64-w32-xl linux64-w32-xl.legacy "$d64" 2
check_image pae32-w32-xend pae32.img 32 xend --xtab-pad &&
    restore_and_compare pae32-w32-xend pae32-w32-xend.legacy "$d32" 1
if check_image netbsd64-w64-gz netbsd64.img 64 none; then
    gzip -c netbsd64-w64-gz.legacy >netbsd64.legacy.gz
    restore_and_compare netbsd64-w64-gz netbsd64.legacy.gz "$dbsd" 1
fi

# A legacy image cut short in its page data: one line, status 1, no domain left behind.
head -c 300000 linux64-w64.legacy >cut.legacy
before=$("$sim" list dst.host | grep -c '')
if "$restore" --backend sim:dst.host --create --vcpus 2 --in cut.legacy >cut.out 2>cut.err; then
    bad "truncated legacy image: xc_restore succeeded"
elif ! grep -q 'legacy image truncated' cut.err || [ "$(grep -c '' cut.err)" -gt 3 ]; then
    cat cut.err >&2
    bad "truncated legacy image: the error does not say it is truncated, in a few lines"
elif [ "$("$sim" list dst.host | grep -c '')" != "$before" ]; then
    bad "truncated legacy image: xc_restore --create left a domain behind"
else
    pass "truncated legacy image refused: $(head -n 1 cut.err)"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
