#!/bin/sh
# format.sh - the house format (.clang-format at the top of the tree) on chosen files.
#
#   scripts/format.sh --check [FILE...]   exit 1 naming each file clang-format would change
#   scripts/format.sh --fix [FILE...]     reformat them in place
#
# Without FILE, the files listed in scripts/format.list (one path a line, from the top
# of the tree; # comments) -- the files CI keeps formatted.  Add a file there once it
# conforms; do not reformat the rest of the tree wholesale.  Exit 2 on a usage error,
# 99 when clang-format ($CLANG_FORMAT, else clang-format) cannot run.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cf=${CLANG_FORMAT:-clang-format}
usage() { echo "usage: scripts/format.sh --check|--fix [FILE...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
mode=$1
shift
case $mode in --check|--fix) ;; *) usage ;; esac
if ! "$cf" --version >/dev/null 2>&1; then
    echo "format.sh: cannot run $cf (install clang-format)" >&2
    exit 99
fi
if [ $# -eq 0 ]; then
    cd "$top" || exit 99
    set -- $(sed -e 's/#.*//' scripts/format.list)
    [ $# -gt 0 ] || { echo "format.sh: scripts/format.list names no file" >&2; exit 99; }
fi
bad=0
for f in "$@"; do
    if [ ! -f "$f" ]; then
        echo "format.sh: $f: no such file" >&2
        bad=$((bad + 1))
        continue
    fi
    if [ "$mode" = --fix ]; then
        "$cf" -i --style=file "$f" || bad=$((bad + 1))
        continue
    fi
    out=$("$cf" --style=file "$f" | diff -u "$f" -) && continue
    n=$(printf '%s\n' "$out" | grep -c '^-[^-]')
    echo "$f: not in the house format ($n lines would change; scripts/format.sh --fix $f)"
    bad=$((bad + 1))
done
[ $bad -eq 0 ]
