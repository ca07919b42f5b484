# legacy-common.sh - sourced by the legacy-image tests (legacy.sh,
# two-level.sh): the tools they drive, Xen's converter, a scratch folder
# to work in (removed on exit), and pass/bad counters.
# The caller sets `name` (the scratch folder's prefix) first.
srcdir=${srcdir:-.}
builddir=${abs_top_builddir:-$(pwd)}
sim=$builddir/tools/xg-sim/xg-sim
save=$builddir/tools/xc_save/xc_save
restore=$builddir/tools/xc_restore/xc_restore
inspect=$builddir/tools/xg-inspect/xg-inspect
legacy_write=$builddir/tests/tools/xg-legacy-write

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

. "$srcdir/tests/stream/xen-utils.sh"
get_xen_utils || fail "cannot obtain Xen's convert-legacy-stream: 'apt-get download $pkg' + 'dpkg -x' into $x did not work (see above)"
for t in "$sim" "$save" "$restore" "$inspect" "$legacy_write"; do
    [ -x "$t" ] || fail "$t is not built (make check builds it)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/xg-$name.XXXXXX") || fail "mktemp"
trap 'rm -rf "$work"' EXIT INT TERM
cd "$work" || fail "cd $work"

passed=0
failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*" >&2; failed=$((failed + 1)); }
