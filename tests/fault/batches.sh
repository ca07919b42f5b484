#!/bin/sh
# batches.sh - the engines call the hypervisor once per batch of pages, not
# once per page or per part of a batch: on real Xen every call is a
# hypercall (issue 15 counts them against Xen's helper, and a restore that
# populated in quarter batches made 2.5 times Xen's hypercalls).  Counted
# with XG_FAULTS_COUNT over a save and a restore of a 64 MiB guest
# (16384 pfns, so 16 batches of XG_MAX_BATCH = 1024):
#   save:    page_types and map at most once per batch, plus a few for
#            the vcpus, the p2m and the start info;
#   restore: populate at most once per PAGE_DATA record (one per batch),
#            map at most once per batch plus the few frames it fixes up;
# and the save never asks for the whole domain info (on Xen 3 hypercalls,
# one per vcpu, and xenstore reads), only the domain's state (one
# getdomaininfolist): at the start, after the suspend and before the vcpus,
# a live save before the suspend too; which vcpus are online once (Xen's
# saver asks getdomaininfo twice); and a plain save types each batch once
# and nothing more (cr3's type is the one it recorded for that pfn).
set -u
builddir=${abs_top_builddir:-$(pwd)}
sim=$builddir/tools/xg-sim/xg-sim
save=$builddir/tools/xc_save/xc_save
restore=$builddir/tools/xc_restore/xc_restore
unset XG_FAULTS XG_FAULTS_COUNT XG_FAIL_ALLOC XG_BACKEND
dir=$(mktemp -d "${TMPDIR:-/tmp}/xg-batches.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM
failed=0
bad() { echo "FAIL: $*" >&2; failed=$((failed + 1)); }
# count FILE OP: how often OP was reached (0 if never).
count() { awk -v op="$2" '$1 == op { n = $2 } END { print n + 0 }' "$1"; }
# atmost FILE OP LIMIT WHAT
atmost() {
    n=$(count "$1" "$2")
    echo "$4: $2 $n (at most $3)"
    [ "$n" -le "$3" ] || bad "$4 reached $2 $n times, more than $3: $(tr '\n' ' ' <"$1")"
}
# atleast FILE OP MIN WHAT: the count is real (the op was reached at all).
atleast() { [ "$(count "$1" "$2")" -ge "$3" ] || bad "$4 reached $2 fewer than $3 times: $(tr '\n' ' ' <"$1")"; }

batches=16
"$sim" init "$dir/src" --frames 32768 >/dev/null || exit 1
"$sim" init "$dir/dst" --frames 32768 >/dev/null || exit 1
dom=$("$sim" create "$dir/src" --layout linux64 --mem 64M --vcpus 2 --seed 3) || exit 1

XG_FAULTS_COUNT=$dir/save.count "$save" -b "sim:$dir/src" -d "$dom" --out "$dir/image" ||
    { echo "FAIL: the save failed" >&2; exit 1; }
atleast "$dir/save.count" page_types $batches save
atmost "$dir/save.count" page_types $batches save
atmost "$dir/save.count" map $((batches + 12)) save
atmost "$dir/save.count" domain_info 0 save
atmost "$dir/save.count" domain_state 3 save
atleast "$dir/save.count" domain_state 3 save
atmost "$dir/save.count" vcpus_online 1 save

# A live save of a running guest: one more run-state query, before the suspend.
# (The plain save above left the guest suspended, as xl save does.)
"$sim" resume "$dir/src" "$dom" >/dev/null || exit 1
"$sim" run "$dir/src" "$dom" --seconds 2 --dirty-rate 500 --seed 5 >/dev/null 2>&1 &
runner=$!
sleep 0.2
XG_FAULTS_COUNT=$dir/live.count "$save" -b "sim:$dir/src" -d "$dom" --live --out "$dir/live" ||
    bad "the live save failed"
wait $runner
atmost "$dir/live.count" domain_info 0 "live save"
atmost "$dir/live.count" domain_state 4 "live save"
atleast "$dir/live.count" domain_state 4 "live save"
atmost "$dir/live.count" vcpus_online 1 "live save"

XG_FAULTS_COUNT=$dir/restore.count "$restore" -b "sim:$dir/dst" --create --vcpus 2 -i "$dir/image" >/dev/null ||
    { echo "FAIL: the restore failed" >&2; exit 1; }
atleast "$dir/restore.count" populate $batches restore
atmost "$dir/restore.count" populate $batches restore
atmost "$dir/restore.count" map $((batches + 12)) restore

echo "batches: $failed failures"
[ "$failed" -eq 0 ]
