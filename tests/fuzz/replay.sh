#!/bin/sh
# replay.sh - every fuzz target over its seed corpus (made now by
# seeds.sh) and over the inputs kept in tests/fuzz/regress/TARGET/ (each a
# crash, hang or leak a fuzzer found, fixed since), with the standalone
# driver of the default build: each must run them all without a crash.
set -u
builddir=${abs_top_builddir:-$(pwd)}
src=${abs_top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
dir=$(mktemp -d "${TMPDIR:-/tmp}/xg-replay.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM
abs_top_builddir=$builddir sh "$src/tests/fuzz/seeds.sh" "$dir" >/dev/null || { echo "FAIL: seeds.sh" >&2; exit 1; }
failed=0
for t in stream legacy inspect restore; do
    set -- "$dir/$t"
    [ -d "$src/tests/fuzz/regress/$t" ] && set -- "$@" "$src/tests/fuzz/regress/$t"
    if ! XG_FUZZ_STATS=1 "$builddir/tests/fuzz/fuzz_$t" "$@" >"$dir/out" 2>&1; then
        echo "FAIL: fuzz_$t: $(tail -5 "$dir/out")" >&2
        failed=$((failed + 1))
    else
        tail -1 "$dir/out"
    fi
done
# The restore target restores the three seed guests (not only refusals).
n=$(abs_top_builddir=$builddir XG_FUZZ_STATS=1 "$builddir/tests/fuzz/fuzz_restore" \
    "$dir/restore/linux64" "$dir/restore/pae32" "$dir/restore/netbsd64" 2>&1 |
    sed -n 's/^fuzz_restore: \([0-9]*\) of .*/\1/p')
[ "${n:-0}" -eq 3 ] || { echo "FAIL: fuzz_restore restored ${n:-0} of the 3 seed guests" >&2; failed=$((failed + 1)); }
[ "$failed" -eq 0 ]
