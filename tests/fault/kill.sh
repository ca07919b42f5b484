#!/bin/sh
# kill.sh - SIGKILL in the middle of xc_save, xc_restore and `xg-sim run`,
# at fixed points (XG_FAULTS=OP@N=kill: the process kills itself inside
# that hypervisor call: after N page batches, between live passes, inside
# the pin sequence, while vcpus are set) and, for xg-sim run, at times.
# After each kill: the simulated host is consistent (its journal recovers
# it); a killed save leaves no image under the --out name, and the
# half-written temporary is never taken for a complete image (xg-inspect
# exits non-zero on it); the guest runs or resumes, and saves again; a
# killed restore's domain destroys.
set -u
builddir=${abs_top_builddir:-$(pwd)}
sim=$builddir/tools/xg-sim/xg-sim
save=$builddir/tools/xc_save/xc_save
restore=$builddir/tools/xc_restore/xc_restore
inspect=$builddir/tools/xg-inspect/xg-inspect
unset XG_FAULTS XG_FAULTS_COUNT XG_FAIL_ALLOC XG_BACKEND
dir=$(mktemp -d "${TMPDIR:-/tmp}/xg-kill.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM
failed=0 kills=0
bad() { echo "FAIL: $*" >&2; failed=$((failed + 1)); }
state() { "$sim" list "$dir/h" | awk -v d="$1" 'NR > 2 && $1 == d { print $3 }'; }
consistent() { "$sim" check "$dir/h" >/dev/null 2>"$dir/check" || bad "$1: host inconsistent: $(cat "$dir/check")"; }

"$sim" init "$dir/base" --frames 32768 >/dev/null || exit 1
dom=$("$sim" create "$dir/base" --layout netbsd64 --mem 16M --vcpus 2) || exit 1
cp "$dir/base" "$dir/h"
"$save" -b "sim:$dir/h" -d "$dom" --out "$dir/image" || exit 1
"$sim" create "$dir/base" --empty --mem 16M --vcpus 2 >/dev/null || exit 1
empty=$("$sim" list "$dir/base" | awk -v d="$dom" 'NR > 2 && $1 != d { print $1 }')

# ---- xc_save
for point in "plain map@2" "plain map@5" "plain suspend@1" "plain vcpu_get@2" "plain vcpu_blob_get@3" \
             "live map@3" "live logdirty@3" "live logdirty@4" "live suspend@1" "live map@9"; do
    set -- $point
    cp "$dir/base" "$dir/h"
    rm -f "$dir"/out*
    live=
    [ "$1" = live ] && live=--live
    XG_FAULTS="$2=kill" "$save" -b "sim:$dir/h" -d "$dom" $live --out "$dir/out" 2>/dev/null
    st=$?
    kills=$((kills + 1))
    [ "$st" -eq 137 ] || { bad "save $point: exit $st, expected to be killed (137)"; continue; }
    consistent "save $point"
    [ ! -e "$dir/out" ] || bad "save $point: the --out file exists"
    for tmp in "$dir"/out.xg-tmp.*; do
        [ -e "$tmp" ] || continue
        "$inspect" "$tmp" >/dev/null 2>&1 && bad "save $point: xg-inspect takes the half-written $tmp for a good image"
    done
    case $(state "$dom") in
    running) ;;
    suspended) "$sim" resume "$dir/h" "$dom" >/dev/null || bad "save $point: the suspended guest does not resume" ;;
    *) bad "save $point: the guest is $(state "$dom")" ;;
    esac
    # The guest saves again (a live save switches off the log-dirty mode the killed one left on).
    "$save" -b "sim:$dir/h" -d "$dom" --live --out "$dir/out.again" 2>"$dir/err" ||
        bad "save $point: the next save fails: $(cat "$dir/err")"
    consistent "save $point, saved again"
done

# ---- xc_save to standard output (a pipe to a file): what arrived is never a complete image
# The writer writes from a thread of its own and the saver waits for a record only one batch
# later, so a kill before the third batch's map (map@6 here) may find nothing written yet:
# the points start there, so that each one cuts an image that has begun.
for point in map@6 map@7 vcpu_blob_get@4; do
    cp "$dir/base" "$dir/h"
    XG_FAULTS="$point=kill" "$save" -b "sim:$dir/h" -d "$dom" --out - >"$dir/piped" 2>/dev/null
    st=$?
    kills=$((kills + 1))
    [ "$st" -eq 137 ] || { bad "save to stdout $point: exit $st, expected 137"; continue; }
    [ -s "$dir/piped" ] || bad "save to stdout $point: nothing was written before the kill (a weak test)"
    "$inspect" "$dir/piped" >/dev/null 2>&1 && bad "save to stdout $point: xg-inspect takes the cut image for good"
    consistent "save to stdout $point"
done

# ---- xc_restore
for point in "create populate@2" "create populate@3" "create pin@1" "create pin@4" "create vcpu_set@1" \
             "create gnttab_seed@1" "domid pin@3" "domid vcpu_set@2"; do
    set -- $point
    cp "$dir/base" "$dir/h"
    if [ "$1" = create ]; then
        XG_FAULTS="$2=kill" "$restore" -b "sim:$dir/h" --create --vcpus 2 -i "$dir/image" >/dev/null 2>&1
    else
        XG_FAULTS="$2=kill" "$restore" -b "sim:$dir/h" -d "$empty" -i "$dir/image" >/dev/null 2>&1
    fi
    st=$?
    kills=$((kills + 1))
    [ "$st" -eq 137 ] || { bad "restore $point: exit $st, expected to be killed (137)"; continue; }
    consistent "restore $point"
    target=$empty
    [ "$1" = create ] && target=$("$sim" list "$dir/h" | awk -v a="$dom" -v b="$empty" 'NR > 2 && $1 != a && $1 != b { print $1 }')
    [ -n "$target" ] || { bad "restore $point: no domain left to destroy"; continue; }
    "$sim" destroy "$dir/h" "$target" >/dev/null 2>"$dir/err" || bad "restore $point: domain $target does not destroy: $(cat "$dir/err")"
    consistent "restore $point, destroyed"
done

# ---- xg-sim run (a busy guest), killed at times
cp "$dir/base" "$dir/h"
for t in 0.05 0.2 0.5 1; do
    "$sim" run "$dir/h" "$dom" --dirty-rate 20000 --seconds 10 >/dev/null 2>&1 &
    pid=$!
    sleep "$t"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    kills=$((kills + 1))
    consistent "xg-sim run killed after ${t}s"
    "$sim" self-check "$dir/h" "$dom" >/dev/null 2>"$dir/err" || bad "xg-sim run killed after ${t}s: self-check: $(cat "$dir/err")"
done
echo "kill: $kills kills, $failed failures"
[ "$failed" -eq 0 ]
