#!/bin/sh
# sweep.sh - every hypervisor op and every allocation a save (plain, live,
# --check) and a restore (--domid, --create) of a small simulated guest
# reach, failed once, one at a time; then every rollback step of those
# failures failed too.
#
# A run with XG_FAULTS_COUNT says how often each op (and the allocation
# hook) is called; then for each (op, index) the run is repeated from a
# fresh copy of the host with XG_FAULTS=op@index (XG_FAIL_ALLOC=index) and
# must: exit 1 with a message naming the op ("OP refused", "out of
# memory"), print no success line; after a save the guest runs, out of
# log-dirty mode, and no image or temporary is left; after a restore
# nothing the restore pinned stays pinned, a created domain is gone, the
# given one destroys; the host is consistent (xg-sim check).  A fault in a
# rollback step itself (resume, unpin, domain_destroy, the last log-dirty
# switch-off) must instead leave a warning that names what is left and the
# command that ends it, and the host is then recovered by that command.
#
# XG_SWEEP_BIG=1 sweeps a bigger guest (4 vcpus, 32 MiB).
set -u
builddir=${abs_top_builddir:-$(pwd)}
sim=$builddir/tools/xg-sim/xg-sim
save=$builddir/tools/xc_save/xc_save
restore=$builddir/tools/xc_restore/xc_restore
for t in "$sim" "$save" "$restore"; do [ -x "$t" ] || { echo "FAIL: $t is not built" >&2; exit 1; }; done
unset XG_FAULTS XG_FAULTS_COUNT XG_FAIL_ALLOC XG_BACKEND

dir=$(mktemp -d "${TMPDIR:-/tmp}/xg-sweep.XXXXXX") || { echo "FAIL: mktemp" >&2; exit 1; }
trap 'rm -rf "$dir"' EXIT INT TERM
mem=8M vcpus=2 frames=16384
[ "${XG_SWEEP_BIG:-}" = 1 ] && mem=32M vcpus=4 frames=32768
failed=0 points=0 rollback_points=0 tolerated=0
bad() { echo "FAIL: $*" >&2; failed=$((failed + 1)); }

# The source host: one guest; the image it saves; the target host: one empty domain.
"$sim" init "$dir/src.base" --frames $frames >/dev/null || exit 1
dom=$("$sim" create "$dir/src.base" --layout linux64 --mem $mem --vcpus $vcpus) || exit 1
cp "$dir/src.base" "$dir/h"
"$save" -b "sim:$dir/h" -d "$dom" --out "$dir/image" || { echo "FAIL: the fault-free save" >&2; exit 1; }
"$sim" init "$dir/dst.base" --frames $frames >/dev/null || exit 1
empty=$("$sim" create "$dir/dst.base" --empty --mem $mem --vcpus $vcpus) || exit 1

# state DOMID: the domain's line of xg-sim list (empty when it is gone).
state() {
    "$sim" list "$dir/h" | awk -v d="$1" 'NR > 2 && $1 == d { print $3 ($NF == "log-dirty" ? " log-dirty" : "") }'
}

# pinned DOMID: tables pinned and not unpinned in the host's trace.
pinned() {
    "$sim" log "$dir/h" --trace | awk -v d="d$1" '
        $3 == "mmuext" && $8 == d && $10 == "0" && $4 ~ /^PIN_L/ { n++ }
        $3 == "mmuext" && $8 == d && $10 == "0" && $4 == "UNPIN_TABLE" { n-- }
        END { print n + 0 }'
}

# run SCENARIO: one run of the scenario on a fresh host copy, output in $dir/err.
run() {
    rm -f "$dir"/out*
    case $1 in
    save-*) cp "$dir/src.base" "$dir/h" ;;
    restore-*) cp "$dir/dst.base" "$dir/h" ;;
    esac
    case $1 in
    save-plain) "$save" -b "sim:$dir/h" -d "$dom" -v --out "$dir/out" ;;
    save-live) "$save" -b "sim:$dir/h" -d "$dom" --live -v --out "$dir/out" ;;
    save-check) "$save" -b "sim:$dir/h" -d "$dom" -v --check ;;
    restore-domid) "$restore" -b "sim:$dir/h" -d "$empty" -v -i "$dir/image" ;;
    restore-create) "$restore" -b "sim:$dir/h" --create --vcpus $vcpus -v -i "$dir/image" ;;
    esac >"$dir/stdout" 2>"$dir/err"
    status=$?
}

# counts SCENARIO [FAULTS]: "op n" lines of one run.
counts() {
    rm -f "$dir/count"
    XG_FAULTS=${2:-} XG_FAULTS_COUNT=$dir/count run "$1"
    cat "$dir/count" 2>/dev/null
}

# check SCENARIO WHAT EXPECT_MSG ROLLBACK_OP: the state after a failed run.
check() {
    sc=$1 what=$2 msg=$3 rb=$4
    if [ "$status" -ne 1 ]; then
        bad "$sc $what: exit $status, expected 1: $(head -3 "$dir/err")"
        return
    fi
    grep -q -- "$msg" "$dir/err" || bad "$sc $what: no \"$msg\" in: $(head -3 "$dir/err")"
    # No success line (the tools run with -v, so every step they log is seen): not of the
    # whole run, nor of the rollback step that was failed.
    case $rb in
    resume) done_re='was resumed' ;;
    unpin) done_re='unpinned the|holds nothing pinned' ;;
    domain_destroy) done_re='was destroyed' ;;
    *) done_re='^NOTHING$' ;;
    esac
    if grep -Eq "saved domain|restored domain|no problem found|$done_re" "$dir/err" "$dir/stdout"; then
        bad "$sc $what: a success message after a failure: $(grep -E "saved domain|restored|$done_re" "$dir/err")"
    fi
    case $sc in
    save-*)
        ls "$dir"/out* >/dev/null 2>&1 && bad "$sc $what: an image or temporary is left: $(ls "$dir")"
        st=$(state "$dom")
        case $rb in
        resume)
            grep -q 'could not be resumed' "$dir/err" || bad "$sc $what: no warning that the guest stays suspended"
            "$sim" resume "$dir/h" "$dom" >/dev/null 2>&1; st=$(state "$dom")
            grep -q 'left in log-dirty mode' "$dir/err" && st=$(echo "$st" | sed 's/ *log-dirty//') ;;
        logdirty)
            case $st in *log-dirty*) ;; *) bad "$sc $what: the switch-off failed but log-dirty is off?" ;; esac
            grep -q 'left in log-dirty mode' "$dir/err" || bad "$sc $what: no warning about log-dirty"
            st=$(echo "$st" | sed 's/ *log-dirty//') ;;
        esac
        case $st in
        running) ;;
        *) bad "$sc $what: the guest is \"$st\", not running" ;;
        esac
        ;;
    restore-*)
        d=$empty
        [ "$sc" = restore-create ] && d=$(awk '/^domid / { print $2 }' "$dir/stdout")
        [ "$sc" = restore-create ] && [ -z "$d" ] &&
            d=$("$sim" list "$dir/h" | awk -v e="$empty" 'NR > 2 && $1 != e { print $1 }' | tail -1)
        if [ -n "$d" ]; then
            n=$(pinned "$d")
            if [ "$rb" = unpin ]; then
                grep -q 'stay pinned' "$dir/err" || bad "$sc $what: no warning naming the tables left pinned"
            elif [ "$n" -ne 0 ]; then
                bad "$sc $what: $n tables of domain $d stay pinned"
            fi
        fi
        if [ "$sc" = restore-create ]; then
            left=$("$sim" list "$dir/h" | awk -v e="$empty" 'NR > 2 && $1 != e { print $1 }')
            if [ "$rb" = domain_destroy ]; then
                grep -q "xl destroy $left" "$dir/err" || bad "$sc $what: no \"xl destroy $left\" in the warning"
                "$sim" destroy "$dir/h" "$left" >/dev/null || bad "$sc $what: domain $left does not destroy"
            elif [ -n "$left" ]; then
                bad "$sc $what: the created domain $left is left"
            fi
        else
            "$sim" destroy "$dir/h" "$empty" >/dev/null || bad "$sc $what: domain $empty does not destroy"
        fi
        ;;
    esac
    "$sim" check "$dir/h" >/dev/null 2>"$dir/check" || bad "$sc $what: host inconsistent: $(cat "$dir/check")"
}

# Rollback steps: ops called only to undo, and the op whose last call undoes.
rollback_ops="resume unpin domain_destroy"

for sc in save-plain save-live save-check restore-domid restore-create; do
    counts "$sc" >"$dir/base.count"
    [ "$status" -eq 0 ] || { bad "$sc: the fault-free run failed: $(cat "$dir/err")"; continue; }
    while read -r op n; do
        i=1
        while [ "$i" -le "$n" ]; do
            if [ "$op" = alloc ]; then
                XG_FAIL_ALLOC=$i run "$sc"
                what="alloc@$i" msg="out of memory"
            else
                rm -f "$dir/count"
                XG_FAULTS=$op@$i XG_FAULTS_COUNT=$dir/count run "$sc"
                what="$op@$i" msg="$op.* refused"
            fi
            points=$((points + 1))
            # The switch-off of log-dirty an earlier toolstack left on is refused when it was off: ignored.
            if [ "$sc $what" = "save-live logdirty@1" ] && [ "$status" -eq 0 ]; then
                tolerated=$((tolerated + 1))
            elif [ "$sc $op $i" = "save-live logdirty $n" ]; then
                check "$sc" "$what" "$msg" logdirty # the switch-off in the cleanup: a rollback step
            else
                check "$sc" "$what" "$msg" ""
            fi
            # Then fail each rollback step that this failure leads to.
            if [ "$op" != alloc ] && [ "$status" -eq 1 ]; then
                cp "$dir/count" "$dir/fault.count" 2>/dev/null || : >"$dir/fault.count"
                for rb in $rollback_ops logdirty; do
                    c=$(awk -v o="$rb" '$1 == o { print $2 }' "$dir/fault.count")
                    [ -n "$c" ] || continue
                    [ "$rb" = logdirty ] && { [ "$sc" = save-live ] && [ "$op" != logdirty ] || continue; }
                    j=1
                    [ "$rb" = logdirty ] && j=$c
                    while [ "$j" -le "$c" ]; do
                        XG_FAULTS=$op@$i,$rb@$j run "$sc"
                        rollback_points=$((rollback_points + 1))
                        check "$sc" "$op@$i,$rb@$j" "$rb.* refused" "$rb"
                        j=$((j + 1))
                    done
                done
            fi
            i=$((i + 1))
        done
    done <"$dir/base.count"
done

echo "fault sweep: $points single points (ops and allocations), $rollback_points rollback points," \
     "$tolerated tolerated, $failed failures"
[ "$failed" -eq 0 ]
