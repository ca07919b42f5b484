#!/bin/sh
# ops.sh - the one list of injectable hypervisor ops (libxg/hv/ops.h)
# against its users: every op has an INJECT (or its own injected() call)
# in libxg/hv/hv.c, is named in docs/tools.md, and is accepted by
# XG_FAULTS; an unknown name is refused.
set -u
src=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${abs_top_builddir:-$(pwd)}
sim=$builddir/tools/xg-sim/xg-sim
save=$builddir/tools/xc_save/xc_save
failed=0
bad() { echo "FAIL: $*" >&2; failed=$((failed + 1)); }

ops=$(sed -n 's/^ *X(\([a-z_0-9]*\)).*/\1/p' "$src/libxg/hv/ops.h")
[ "$(echo "$ops" | wc -w)" -ge 28 ] || bad "libxg/hv/ops.h lists only: $ops"
docs=$(tr '\n' ' ' <"$src/docs/tools.md")
for op in $ops; do
    case $op in
    pin | unpin | new_baseptr) grep -q "XG_HV_OP_$op" "$src/libxg/hv/hv.c" || bad "$op: not injected in hv.c" ;;
    frame_owner) grep -q "injected(hv, XG_HV_OP_frame_owner)" "$src/libxg/hv/hv.c" || bad "$op: not injected" ;;
    *) grep -q "INJECT($op," "$src/libxg/hv/hv.c" || bad "$op: no INJECT($op, ...) in hv.c" ;;
    esac
    case $docs in *"\`$op\`"*) ;; *) bad "$op: not named in docs/tools.md" ;; esac
done
# Every public wrapper that can fail is in the list.
for w in $(sed -n 's/^\(XG_HV_MUST_CHECK \)\{0,1\}int xg_hv_\([a-z_0-9]*\)(.*/\2/p' "$src/include/xg/hv.h"); do
    case $w in open | set_faults | mmuext) continue ;; esac
    echo "$ops" | grep -qx "$w" || bad "xg_hv_$w is not in libxg/hv/ops.h"
done

# XG_FAULTS takes every name and refuses others, with one clear line.
dir=$(mktemp -d "${TMPDIR:-/tmp}/xg-ops.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM
"$sim" init "$dir/h" --frames 8192 >/dev/null || exit 1
for op in $ops; do
    XG_FAULTS="$op@1000000" "$save" -b "sim:$dir/h" -d 999 --check >/dev/null 2>"$dir/err"
    grep -q 'unknown operation' "$dir/err" && bad "XG_FAULTS=$op refused: $(cat "$dir/err")"
done
XG_FAULTS=frob@1 "$save" -b "sim:$dir/h" -d 999 --check >/dev/null 2>"$dir/err"
[ $? -eq 1 ] && grep -q 'unknown operation "frob"' "$dir/err" || bad "XG_FAULTS=frob: $(cat "$dir/err")"
echo "ops: $(echo "$ops" | wc -w) injectable ops checked, $failed failures"
[ "$failed" -eq 0 ]
