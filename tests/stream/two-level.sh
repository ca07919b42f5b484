#!/bin/sh
# two-level.sh - legacy images of 2-level (non-PAE) 32-bit guests, the kind
# of image the 2008 report (../shared/xen-facts.md section 6) could not
# restore, are recognised, explained and refused.
#
# Images from tests/tools/xg-legacy-write --two-level: a clean one, one with
# some tables lost, wrapped ones, and the reconstruction of the 2008 image
# (every page table recorded as the old saver recorded frames its dom0
# could not map).  For each:
#   - xg-inspect says 2-level (non-PAE), counts the tables by level, names
#     vcpu0's cr3, gives the verdict (the release that dropped non-PAE Xen)
#     and what to do, exit 1; its --xml carries the same;
#   - xc_restore refuses it before creating anything, exit 1, with the same
#     error line; in xend's calling convention the empty domain stays empty;
#   - Xen's own convert-legacy-stream does what xg says it does: accepts the
#     image and reads it as a 3-level (PAE) guest.
# The 2008 image's report names the lost tables, the saving dom0 and what
# Xen logged at save time.  Conflicting evidence is named as a conflict; a
# PAE legacy image gets none of these lines.
set -u
name=two-level
. "${srcdir:-.}/tests/stream/legacy-common.sh"
has() { # NAME FILE TEXT
    grep -qF -- "$3" "$2" || { bad "$1: no \"$3\" in $2:"; sed 's/^/    /' "$2" >&2; return 1; }
}
xq() { # FILE PYTHON-EXPR over r (the root element)
    "$python" -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); print('"$2"')' "$1"
}

"$sim" init dst.host --frames 16384 >/dev/null || fail "xg-sim init"

# Bytes before the legacy stream, for Xen's converter (as in legacy.sh).
prefix_len() {
    case $1 in
    xl) echo $((32 + 16 + 4 + 17)) ;;
    xend) echo $((16 + 4 + 35)) ;;
    *) echo 0 ;;
    esac
}

check_two_level() { # NAME LOST WRAP [WRITER ARGS...]
    name=$1 lost=$2 wrap=$3
    shift 3
    "$legacy_write" --two-level "$name.img" --unmapped "$lost" --wrap "$wrap" "$@" ||
        { bad "$name: xg-legacy-write --two-level failed"; return; }
    ok=1
    if "$inspect" "$name.img" --xml "$name.xml" >"$name.out" 2>"$name.err"; then
        bad "$name: xg-inspect exits 0 on a 2-level image"
        ok=0
    fi
    has "$name" "$name.out" "32-bit PV, 2 page-table levels (non-PAE)" || ok=0
    has "$name" "$name.out" "paging:      a 32-bit non-PAE (2-level) PV guest, saved by Xen 3.x" || ok=0
    has "$name" "$name.out" "vcpu0      cr3 pfn 0x76b" || ok=0
    has "$name" "$name.out" "non-PAE 32-bit hypervisors were dropped in Xen 3.3 (xen-project/xen commit 84d54d5d8b31" || ok=0
    has "$name" "$name.out" "what to do:  boot the guest's disk with a PAE" || ok=0
    tables=$(sed -n 's/^tables: *\([0-9]*\) by level: L2=\([0-9]*\) L1=\([0-9]*\).*/\1 \2 \3/p' "$name.out")
    set -- $tables
    if [ $# != 3 ] || [ "$1" != $((43 - lost)) ] || [ $(($2 + $3)) != "$1" ]; then
        bad "$name: tables by level \"$tables\", expected $((43 - lost)) in all"
        ok=0
    fi
    [ "$(xq "$name.xml" 'r.find("figures/restore/paging").get("verdict")')" = 2-level ] ||
        { bad "$name: --xml has no <paging verdict=\"2-level\">"; ok=0; }
    [ "$(xq "$name.xml" 'int(r.find("figures/restore/paging/tables-by-level").get("l2")) + int(r.find("figures/restore/paging/tables-by-level").get("l1"))')" = $((43 - lost)) ] ||
        { bad "$name: --xml counts the tables differently"; ok=0; }
    xq "$name.xml" 'r.find("figures/restore/paging/verdict").text' | grep -q "Xen 3.3" ||
        { bad "$name: --xml has no verdict"; ok=0; }

    # xc_restore: refused before anything is created, with the same error line.
    before=$("$sim" list dst.host)
    if "$restore" --backend sim:dst.host --create --vcpus 1 --in "$name.img" >"$name.rout" 2>"$name.rerr"; then
        bad "$name: xc_restore restored a 2-level image"
        ok=0
    fi
    [ "$("$sim" list dst.host)" = "$before" ] || { bad "$name: xc_restore --create left something on the host"; ok=0; }
    grep '^error:' "$name.err" | head -n 1 >"$name.e1"
    grep '^error:' "$name.rerr" | head -n 1 >"$name.e2"
    if ! [ -s "$name.e1" ] || ! cmp -s "$name.e1" "$name.e2"; then
        bad "$name: xc_restore does not say what xg-inspect says"
        diff "$name.e1" "$name.e2" >&2
        ok=0
    fi
    has "$name" "$name.rerr" "nothing was created" || ok=0

    # Xen's converter: accepts it, as a 3-level guest (what xg-inspect says it does).
    tail -c +"$(($(prefix_len "$wrap") + 1))" "$name.img" >"$name.raw"
    if ! PYTHONPATH=$pylib "$python" "$converter" -i "$name.raw" -o "$name.xen" -w 32 -g pv >"$name.conv" 2>&1; then
        cat "$name.conv" >&2
        bad "$name: Xen's convert-legacy-stream refuses it, where xg-inspect says it accepts it"
        ok=0
    elif ! "$inspect" --structure --records "$name.xen" 2>&1 | grep -q 'X86_PV_INFO .*32-bit guest, 3 levels'; then
        bad "$name: Xen's converter does not read it as a 3-level guest, as xg-inspect says it does"
        ok=0
    fi
    has "$name" "$name.out" "convert:     Xen's convert-legacy-stream accepts the image, but as a 3-level (PAE) guest" || ok=0
    # ... and where tables were lost, keeps the XTAB|mfn entries as pfns beyond the guest.
    if [ "$lost" -gt 0 ]; then
        has "$name" "$name.out" "it keeps the $lost XTAB|mfn entries as pfns beyond the guest" || ok=0
        "$inspect" "$name.xen" >/dev/null 2>"$name.xen-err"
        has "$name" "$name.xen-err" "is outside the domain's maximum" || ok=0
    fi
    [ "$ok" = 1 ] && pass "$name: 2-level, $(($(sed -n 's/^tables: *\([0-9]*\).*/\1/p' "$name.out"))) tables by level, refused before anything was created; Xen's converter takes it for PAE"
}

check_two_level clean 0 none --seed 3
check_two_level some-lost 5 xl --seed 4
check_two_level xend 0 xend --seed 5
check_two_level y2008 43 none

# The 2008 image: the lost tables (named through the guest's p2m), the saving dom0 as the
# cause, and the very line its Xen logged at save time (R2008: "saw 58000001 ... mfn 1ee3a (pfn 76b)").
ok=1
has y2008 y2008.out "lost:        the saving dom0 could not map the guest's page tables (confidence high)" || ok=0
has y2008 y2008.out "43 page-batch entries carry XTAB with a machine frame" || ok=0
has y2008 y2008.out "(43 in all), vcpu0's cr3 (pfn 0x76b, mfn 0x1ee3a) among them" || ok=0
has y2008 y2008.out "Bad type (saw 58000001 != exp e0000000) for mfn 1ee3a (pfn 76b)" || ok=0
has y2008 y2008.out "privcmd" || ok=0
has y2008 y2008.err "vcpu0's cr3 (pfn 0x76b) was recorded as invalid (XTAB, no data)" || ok=0
[ "$(xq y2008.xml 'r.find("figures/restore/lost-tables").get("confidence")')" = high ] ||
    { bad "y2008: --xml has no <lost-tables confidence=\"high\">"; ok=0; }
[ "$ok" = 1 ] && pass "y2008: the lost tables, the saving dom0 and Xen's save-time log line are named"

# Five tables lost, cr3 intact: named through the p2m, as the tables the guest's L2s point to.
if has some-lost some-lost.out "lost:        the saving dom0 could not map the guest's page tables (confidence high)" &&
    has some-lost some-lost.out "5 page-batch entries carry XTAB with a machine frame" &&
    grep -qE "; [1-9][0-9]* entries of the guest's tables point to them as page tables" some-lost.out &&
    has some-lost some-lost.out "Bad type (saw 28000001 != exp e0000000) for mfn 1e"; then
    pass "some-lost: the 5 lost tables named ($(grep -o 'names them: pfns [^;]*' some-lost.out | head -n 1))"
fi

# The clean image lost nothing: no such claim.
if grep -q '^lost:' clean.out; then bad "clean: xg-inspect claims lost tables in an image that lost none"; else pass "clean: no lost tables claimed"; fi

# xend's calling convention: into an empty domain the toolstack made, which stays empty.
dom=$("$sim" create dst.host --empty --mem 16M --vcpus 1 --width 4) || fail "xg-sim create --empty"
before=$("$sim" list dst.host; "$sim" check dst.host 2>&1)
if XG_BACKEND=sim:dst.host "$restore" 3 "$dom" 1 2 0 0 0 3<y2008.img >xend.out 2>xend.err; then
    bad "xend mode: a 2-level image restored"
elif ! grep -q '^ERROR: the image is of a 32-bit non-PAE (2-level) PV guest' xend.err ||
    ! grep -q 'Restore exit with rc=1' xend.err; then
    cat xend.err >&2
    bad "xend mode: not refused with the 2-level explanation"
elif [ "$("$sim" list dst.host; "$sim" check dst.host 2>&1)" != "$before" ]; then
    bad "xend mode: the host changed (the domain was populated)"
else
    pass "xend mode: refused, $(grep -c '' xend.err) lines, ending \"$(tail -n 1 xend.err)\""
fi
"$sim" destroy dst.host "$dom" >/dev/null 2>&1

# From a pipe the image cannot be read twice: the restore refuses it at the end of the
# reading, with the same error, and destroys the domain it created.
before=$("$sim" list dst.host)
cat clean.img | "$restore" --backend sim:dst.host --create --vcpus 1 >pipe.out 2>pipe.err
status=$?
grep '^error:' pipe.err | head -n 1 >pipe.e1
if [ "$status" != 1 ]; then
    bad "pipe: xc_restore exits $status on a 2-level image"
elif ! cmp -s clean.e1 pipe.e1; then
    diff clean.e1 pipe.e1 >&2
    bad "pipe: xc_restore does not say what xg-inspect says"
elif [ "$("$sim" list dst.host)" != "$before" ] || ! "$sim" check dst.host >/dev/null 2>&1; then
    bad "pipe: a domain or frames were left on the host"
else
    pass "pipe: refused after the reading, the domain it created destroyed"
fi

# The 2008 pattern in a v2 image restored onto a host (the pages mapped one at a time):
# tables recorded as ordinary pages, contents intact.
mutate=$builddir/tests/tools/xg-mutate
d64=$("$sim" create dst.host --layout linux64 --mem 16M --vcpus 2 --seed 21) || fail "xg-sim create linux64"
"$save" --backend sim:dst.host --domid "$d64" --out l64.img >/dev/null 2>&1 || fail "xc_save linux64"
"$mutate" l64.img notab.img --tables-as NOTAB >/dev/null || fail "xg-mutate"
if "$restore" --backend sim:dst.host --create --vcpus 2 --in notab.img >notab.out 2>notab.err; then
    bad "notab: restored an image without page tables"
elif has notab notab.err "the saving host could not map the guest's page tables: vcpu0's cr3" &&
    has notab notab.err "(confidence high:" && has notab notab.err "privcmd"; then
    pass "notab: xc_restore names the lost tables ($(grep -o 'confidence high: [0-9]* pages' notab.err))"
fi

# Conflicting evidence: start info says PAE, the tables say 2-level.
"$python" -c '
import sys
d = open(sys.argv[1], "rb").read()
open(sys.argv[2], "wb").write(d.replace(b"xen-3.0-x86_32\x00", b"xen-3.0-x86_32p", 1))' clean.img conflict.img
"$inspect" conflict.img >conflict.out 2>conflict.err
if has conflict conflict.out "paging:      the evidence conflicts (read as PAE): 2-level:" &&
    has conflict conflict.out "but PAE: its start info says \"x86_32p\" (PAE)"; then
    pass "conflict: named ($(sed -n 's/^paging: *//p' conflict.out | cut -c1-60)...)"
fi

# A PAE legacy image reads as before: none of these lines.
d32=$("$sim" create dst.host --layout pae32 --mem 16M --vcpus 1 --seed 12) || fail "xg-sim create pae32"
"$save" --backend sim:dst.host --domid "$d32" --out pae32.v2 >/dev/null 2>&1 || fail "xc_save pae32"
"$legacy_write" pae32.v2 pae32.img --bits 32 || fail "xg-legacy-write pae32"
if ! "$inspect" pae32.img >pae32.out 2>pae32.err; then
    bad "pae32: xg-inspect refuses a PAE legacy image"
elif grep -qE '^(paging|lost|convert):|non-PAE' pae32.out pae32.err; then
    bad "pae32: a PAE image gets a 2-level or lost-table line"
else
    pass "pae32: read as before ($(grep '^guest:' pae32.out | cut -c14-))"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
