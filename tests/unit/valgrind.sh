#!/bin/sh
# valgrind.sh - run a Check test program under valgrind's memcheck.
#
#   tests/unit/valgrind.sh PROGRAM [ARGS...]      (make check-valgrind)
#
# CK_FORK=no keeps every test in the process valgrind watches.  Fails
# (exit 1) on any memory error or leak (definite, indirect or possible),
# and when valgrind is missing: a check that cannot run is not a pass.
set -u
prog=${1:?usage: valgrind.sh PROGRAM [ARGS...]}
shift
vg=${VALGRIND:-}
[ -n "$vg" ] || vg=$(command -v valgrind || true)
if [ -z "$vg" ]; then
    echo "FAIL: valgrind not found (Debian: apt-get install valgrind)" >&2
    exit 1
fi
CK_FORK=no XGT_VALGRIND=1 CK_DEFAULT_TIMEOUT=0 exec "$vg" --quiet --error-exitcode=1 \
    --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible \
    --suppressions="$(dirname "$0")/valgrind.supp" \
    --track-fds=no "$prog" "$@"
