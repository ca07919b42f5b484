#!/bin/sh
# damage.sh - a 1 MiB guest image of each layout, cut at every record
# boundary and at XG_DAMAGE_RANDOM random offsets (default 250; the
# issue's figure is 1000: XG_DAMAGE_RANDOM=1000, a few minutes), and
# with as many random byte flips, each restored (tests/fault/damage.c
# says what is checked).
set -u
builddir=${abs_top_builddir:-$(pwd)}
sim=$builddir/tools/xg-sim/xg-sim
save=$builddir/tools/xc_save/xc_save
unset XG_FAULTS XG_FAIL_ALLOC XG_BACKEND
dir=$(mktemp -d "${TMPDIR:-/tmp}/xg-damage.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM
"$sim" init "$dir/host" --frames 8192 >/dev/null || exit 1
for layout in linux64 pae32 netbsd64; do
    dom=$("$sim" create "$dir/host" --layout $layout --mem 1M) || exit 1
    "$save" -b "sim:$dir/host" -d "$dom" --out "$dir/$layout" || exit 1
done
"$builddir/tests/fault/damage" --random "${XG_DAMAGE_RANDOM:-250}" --seed "${XG_DAMAGE_SEED:-12}" \
    "$dir/linux64" "$dir/pae32" "$dir/netbsd64"
