#!/bin/sh
# structure.sh - libxg's structure check (scripts/structure.py), as make check runs it,
# and its self-test on a fixture tree.
#
# On libxg: the checks XG_STRUCTURE_ENFORCE names (all, or a comma list of
# folders,cycles,files,functions,width) fail the test, the others are a report.
# Unset, it is "folders": a call cycle between libxg's folders, or a call against
# their layer order (top -> save, restore -> hv -> hv/sim -> pv, stream -> util),
# fails make check.  A run that cannot work (no ctags, no python3) fails the test
# whatever the mode.
# On tests/structure/fixture: two files calling each other (a cycle between files and
# between folders), a one-way call that must not count, and a 129-line function.
set -u
srcdir=${srcdir:-$(dirname "$0")/../..}
script=$srcdir/scripts/structure.py
fixture=$srcdir/tests/structure/fixture/lib
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xg-structure.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# The self-test sets its own modes; XG_STRUCTURE_ENFORCE applies to the tree only.
enforce=${XG_STRUCTURE_ENFORCE-all}
unset XG_STRUCTURE_ENFORCE

# Self-test first: the check must find what it exists to find.
python3 "$script" --root "$fixture" --calls --enforce=all >"$tmp/fx.out" 2>&1
rc=$?
cat "$tmp/fx.out"
[ $rc -eq 1 ] || fail "fixture, enforced: exit $rc, want 1"
grep -q '^  file cycle: .*lib/low/b.c <-> .*lib/top/a.c$' "$tmp/fx.out" ||
    fail "fixture: the a.c <-> b.c cycle was not reported"
grep -q '^  folder cycle: lib/low <-> lib/top$' "$tmp/fx.out" ||
    fail "fixture: the folder cycle was not reported"
grep -q 'c\.c <->\|<-> .*c\.c' "$tmp/fx.out" && fail "fixture: c.c (one-way) put in a cycle"
grep -q '^  function over 120 lines: .*b\.c:11 b_long (129)$' "$tmp/fx.out" ||
    fail "fixture: b_long (129 lines) not reported"
grep -q 'b_ping_local' "$tmp/fx.out" && fail "fixture: a static call counted as cross-file"
python3 "$script" --root "$fixture" >/dev/null 2>&1
rc=$?
[ $rc -eq 0 ] || fail "fixture, report only: exit $rc, want 0"
python3 "$script" --root "$fixture" --enforce=functions >/dev/null 2>&1
rc=$?
[ $rc -eq 1 ] || fail "fixture, --enforce=functions: exit $rc, want 1"
python3 "$script" --root "$fixture" --enforce=bogus >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] || fail "--enforce=bogus: exit $rc, want 2"
# The layer order: top above low, so b.c's call back up is the one finding.
python3 "$script" --root "$fixture" --layers "top | low" --enforce=folders >"$tmp/ly.out" 2>&1
rc=$?
[ $rc -eq 1 ] || fail "fixture, --layers 'top | low': exit $rc, want 1"
grep -q '^  call upward: lib/low -> lib/top$' "$tmp/ly.out" ||
    fail "fixture: the upward call low -> top was not reported"
grep -q 'call .*: lib/top -> lib/low' "$tmp/ly.out" && fail "fixture: the downward call reported"
python3 "$script" --root "$fixture" --layers "top low" >"$tmp/ly.out" 2>&1
grep -q '^  call within one layer: lib/low -> lib/top$' "$tmp/ly.out" ||
    fail "fixture: a call within one layer was not reported"
python3 "$script" --root "$fixture" --layers "top" >"$tmp/ly.out" 2>&1
grep -q '^  folder not in the layer order: lib/low ' "$tmp/ly.out" ||
    fail "fixture: a folder missing from --layers was not reported"
python3 "$script" --root "$fixture" --layers "top | | low" >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] || fail "--layers with an empty layer: exit $rc, want 2"
CTAGS=$tmp/no-such-ctags python3 "$script" --root "$fixture" >"$tmp/noctags" 2>&1
rc=$?
[ $rc -eq 99 ] || fail "without ctags: exit $rc, want 99"
grep -q 'cannot run' "$tmp/noctags" || fail "without ctags: no clear message"
[ $fails -eq 0 ] || { echo "structure self-test: $fails failures"; exit 1; }

# The tree: a report, or enforced checks from XG_STRUCTURE_ENFORCE.
cd "$srcdir" || exit 99
python3 scripts/structure.py --root libxg --calls --enforce="$enforce"
rc=$?
case $rc in
0) exit 0 ;;
1) echo "structure: an enforced check failed (XG_STRUCTURE_ENFORCE=$enforce)"; exit 1 ;;
*) echo "structure: the check could not run (exit $rc)"; exit 99 ;;
esac
