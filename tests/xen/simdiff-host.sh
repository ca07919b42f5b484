#!/bin/sh
# tests/xen/simdiff-host.sh - the build machine's half of the tier's
# differential test (simdiff.sh is the VM's half; README.md, "The
# simulator meets the real hypervisor").
#
#   simdiff-host.sh prepare BUILDDIR PAYLOAD WORK
#       Builds a small guest of each simulated layout (linux64, pae32,
#       netbsd64) with xg-sim, saves it with xc_save into PAYLOAD (the
#       VM's /xg/sim), with the xl wrapper that lets `xl restore` read a
#       bare libxc stream.  Then makes every mutant (xg-mutate --seed N,
#       N = 0 .. XG_SIMDIFF_MUTANTS-1) and judges it here: xg-inspect's
#       verdict, xg's restore on a simulated host as Xen's own restore
#       pins (--pin-order pfn) and in xg's own order (dependency).  One
#       line per mutant in WORK/xg-verdicts:
#         LAYOUT SEED MD5 INSPECT-RC SIMPFN-RC SIMDEP-RC DESCRIPTION
#   simdiff-host.sh judge WORK SERIAL EXPLAINED
#       Reads the VM's XGSIMDIFF lines (LAYOUT SEED XEN-RC MD5) from the
#       cleaned serial log, prints the agreement table and the
#       disagreements, and ends with one line "PASS|FAIL WHY".  A
#       disagreement listed in EXPLAINED (LAYOUT SEED JUDGE DESCRIPTION,
#       or "kind KIND DIRECTION JUDGE" for every mutant of that kind, with
#       a reference to docs/xen-mm-rules.md) is counted apart.
set -u

die() { echo "simdiff-host: $*" >&2; exit 1; }
LAYOUTS="linux64 pae32 netbsd64"
NMUT=${XG_SIMDIFF_MUTANTS:-16}

# The xl wrapper (tools/xl/xl.h, libxl_sr_stream_format.h of Xen 4.17):
# the 32-byte magic, byte order 0x01020304, mandatory flags STREAMv2 (the
# config comes from the file given to xl restore), no optional data; then
# libxl's stream header ("LibxlFmt", version 2, options 0, big-endian) and
# a LIBXC_CONTEXT record (type 1, length 0): the libxc stream follows.
# After it, libxl's END record (type 0, length 0).
xl_head() {
    printf 'Xen saved domain, xl format\n \0 \r'
    printf '\004\003\002\001\002\0\0\0\0\0\0\0\0\0\0\0'
    printf 'LibxlFmt\0\0\0\002\0\0\0\0'
    printf '\001\0\0\0\0\0\0\0'
}
xl_tail() { printf '\0\0\0\0\0\0\0\0'; }

prepare() {
    b=$1 payload=$2 work=$3
    sim=$b/tools/xg-sim/xg-sim save=$b/tools/xc_save/xc_save
    restore=$b/tools/xc_restore/xc_restore inspect=$b/tools/xg-inspect/xg-inspect
    mutate=$b/tests/tools/xg-mutate
    for t in "$sim" "$save" "$restore" "$inspect" "$mutate"; do
        [ -x "$t" ] || die "$t is not built"
    done
    mkdir -p "$payload" "$work"
    rm -f "$work"/*.host
    xl_head >"$payload/xl.head"
    xl_tail >"$payload/xl.tail"
    "$sim" init "$work/src.host" --frames 8192 >/dev/null || die "xg-sim init"
    "$sim" init "$work/dst.host" --frames 8192 >/dev/null || die "xg-sim init"
    for l in $LAYOUTS; do
        d=$("$sim" create "$work/src.host" --layout "$l" --mem 4M --vcpus 1 --seed 1) || die "xg-sim create $l"
        "$save" --backend "sim:$work/src.host" --domid "$d" --out "$payload/$l.img" >/dev/null ||
            die "xc_save of the simulated $l guest"
        "$inspect" "$payload/$l.img" >/dev/null || die "xg-inspect refuses the simulated $l guest's image"
    done
    # netbsd64's alternate recursive entry (slot 254 of the first L4) names
    # an L4 of a higher pfn: Xen's own restore, pinning in pfn order, meets
    # it before its target is validated and refuses it (README.md,
    # tg64-cross).  The same guest with that entry moved the other way
    # (the last L4 names the first) is "netbsd64"; the original is kept as
    # "netbsd64-cross", which only xg's dependency order restores.
    mv "$payload/netbsd64.img" "$payload/netbsd64-cross.img"
    cr3=$("$inspect" "$payload/netbsd64-cross.img" | sed -n 's/^  vcpu0 *cr3 pfn \(0x[0-9a-f]*\).*/\1/p')
    apte=$("$mutate" "$payload/netbsd64-cross.img" /dev/null --print "$cr3:254" | sed -n 's/^.*=//p')
    [ -n "$cr3" ] && [ -n "$apte" ] && [ $((apte & 1)) = 1 ] && [ $((apte >> 12)) -gt $((cr3)) ] ||
        die "the simulated netbsd64 guest has no alternate recursive entry to a higher L4 (cr3 $cr3, slot 254: $apte)"
    "$mutate" "$payload/netbsd64-cross.img" "$payload/netbsd64.img" --entry "$cr3:254=0" \
        --entry "$(printf '%#x' $((apte >> 12))):254=$(printf '%#x' $(( (cr3 << 12) | (apte & 0xfff) )))" >/dev/null ||
        die "xg-mutate: the ordered netbsd64 image"
    "$inspect" "$payload/netbsd64.img" >/dev/null || die "xg-inspect refuses the ordered netbsd64 image"
    for l in $LAYOUTS netbsd64-cross; do
        echo "$l $(sim_restore "$payload/$l.img" pfn) $(sim_restore "$payload/$l.img" dependency)"
    done >"$work/base-verdicts"
    printf '%s\n' "$NMUT" >"$payload/mutants"
    # The same images, tools and count as last time: the verdicts stand.
    stamp=$( (cat "$payload"/*.img; echo "$NMUT"
              cat "$sim" "$save" "$restore" "$inspect" "$mutate" "$b"/libxg/.libs/*.so* 2>/dev/null) |
             md5sum | cut -c1-32)
    if [ -s "$work/xg-verdicts" ] && [ "$(cat "$work/stamp" 2>/dev/null)" = "$stamp" ]; then
        echo "simdiff-host: xg's verdicts of $NMUT mutants per layout kept from the last run (same images and tools)"
        return 0
    fi
    rm -f "$work/xg-verdicts" "$work/stamp"
    for l in $LAYOUTS; do
        s=0
        while [ "$s" -lt "$NMUT" ]; do
            m=$work/m.img
            desc=$("$mutate" "$payload/$l.img" "$m" --seed "$s" 2>&1) || die "xg-mutate $l --seed $s: $desc"
            desc=${desc#seed "$s": }
            sum=$(md5sum <"$m" | cut -c1-32)
            "$inspect" "$m" >/dev/null 2>&1
            ri=$?
            rp=$(sim_restore "$m" pfn)
            rd=$(sim_restore "$m" dependency)
            echo "$l $s $sum $ri $rp $rd $desc" >>"$work/xg-verdicts"
            s=$((s + 1))
        done
    done
    rm -f "$work/m.img" "$work/src.host" "$work/dst.host"
    echo "$stamp" >"$work/stamp"
}

# sim_restore IMAGE ORDER: xc_restore --create on the simulated host (the
# domain destroyed after); prints its exit status.
sim_restore() {
    out=$("$restore" --backend "sim:$work/dst.host" --create --vcpus 1 --pin-order "$2" --in "$1" 2>/dev/null)
    r=$?
    d=$(echo "$out" | sed -n 's/^domid //p')
    [ -n "$d" ] && "$sim" destroy "$work/dst.host" "$d" >/dev/null 2>&1
    # A refused restore may leave its domain (as xl would destroy it).
    for d in $("$sim" list "$work/dst.host" 2>/dev/null | awk 'NR > 1 && $1 != 0 { print $1 }'); do
        "$sim" destroy "$work/dst.host" "$d" >/dev/null 2>&1
    done
    echo "$r"
}

judge() {
    work=$1 serial=$2 explained=$3
    [ -s "$work/xg-verdicts" ] || { echo "RESULT FAIL no xg verdicts (prepare did not run)"; return 0; }
    sed -n 's/^XGSIMDIFF //p' "$serial" >"$work/xen-verdicts"
    awk -v explained="$explained" -v nmut="$NMUT" '
        BEGIN {
            while ((getline line < explained) > 0) {
                if (line ~ /^#/ || line ~ /^[ \t]*$/) continue
                split(line, f, " ")
                if (f[1] == "kind") { kind_ok[f[2] " " f[3] " " f[4]] = 1; continue }
                d = line; sub(/^[^ ]+ [^ ]+ [^ ]+ /, "", d); sub(/ *#.*$/, "", d)
                ok[f[1] " " f[2] " " f[3]] = d
            }
        }
        FNR == NR { xen[$1 " " $2] = $3; xsum[$1 " " $2] = $4; next }
        {
            key = $1 " " $2; l = $1; total[l]++; kind = $7; sub(/:$/, "", kind)
            d = $0; for (i = 1; i <= 6; i++) sub(/^[^ ]+ /, "", d)
            if (!(key in xen)) { missing[l]++; next }
            if (xsum[key] != $3) { badsum[l]++; print "  mutant differs (md5): " key; next }
            run[l]++
            xa = xen[key] == 0
            xenacc[l] += xa
            split("inspect simpfn", judges, " ")
            rc["inspect"] = $4; rc["simpfn"] = $5
            for (j = 1; j <= 2; j++) {
                jn = judges[j]; ga = rc[jn] == 0
                if (xa == ga) continue
                dir = xa ? "xen-accepts" : "xen-refuses"
                what = sprintf("%s %s %s: %s (Xen %s, xg %s %s; xg restore in its own order %s)",
                    l, $2, jn, d, xa ? "accepts" : "refuses", jn, ga ? "accepts" : "refuses",
                    $6 == 0 ? "accepts" : "refuses")
                # xg-inspect judges the restore of xg, which pins in dependency
                # order; Xen pins in pfn order.  When the simulator in pfn
                # order agrees with Xen and in dependency order with
                # xg-inspect, the order is the whole difference.
                if (jn == "inspect" && ($5 == 0) == xa && ($6 == 0) == ga) {
                    order[l]++; print "  pin order: " what
                } else if (((l " " $2 " " jn) in ok && ok[l " " $2 " " jn] == d) ||
                           ((kind " " dir " " jn) in kind_ok)) {
                    expl[l " " jn]++; print "  explained: " what
                } else {
                    dis[l " " jn " " dir]++; bad++; print "  DISAGREE: " what
                }
            }
        }
        END {
            printf "  %-9s %7s %9s | %-32s | %-32s\n", "layout", "mutants", "Xen acc.", "xg-inspect: X acc/xg ref, X ref/xg acc", "sim restore (pfn order): same"
            n = split("linux64 pae32 netbsd64", L, " ")
            for (i = 1; i <= n; i++) {
                l = L[i]
                printf "  %-9s %3d/%-3d %9d | %15d %16d | %15d %16d\n", l, run[l], total[l], xenacc[l],
                    dis[l " inspect xen-accepts"], dis[l " inspect xen-refuses"],
                    dis[l " simpfn xen-accepts"], dis[l " simpfn xen-refuses"]
                if (order[l]) printf "  %-9s xg-inspect differs from Xen by the pin order alone (xg restores, Xen refuses): %d\n", l, order[l]
                if (expl[l " inspect"] + expl[l " simpfn"]) printf "  %-9s explained disagreements: inspect %d, sim %d\n", l, expl[l " inspect"], expl[l " simpfn"]
                if (missing[l] || badsum[l]) printf "  %-9s %d mutants not run in the VM, %d made differently\n", l, missing[l], badsum[l]
                short += (run[l] < nmut) || (missing[l] + badsum[l] > 0)
                runs += run[l]; acc += xenacc[l]
            }
            if (bad || short)
                printf "RESULT FAIL %d unexplained disagreements; %d of %d mutants judged by both sides\n", bad, runs, n * nmut
            else
                printf "RESULT PASS %d mutants (%d per layout), Xen accepted %d: no unexplained disagreement with xg-inspect or with xg restore on the simulator\n", runs, nmut, acc
        }' "$work/xen-verdicts" "$work/xg-verdicts"
}

case ${1:-} in
    prepare) shift; prepare "$@" ;;
    judge) shift; judge "$@" ;;
    *) die "usage: simdiff-host.sh prepare BUILDDIR PAYLOAD WORK | judge WORK SERIAL EXPLAINED" ;;
esac
