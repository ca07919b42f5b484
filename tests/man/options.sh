#!/bin/sh
# tests/man/options.sh - the man pages render cleanly and say what --help says.
#
# For every page man/*.[1-8]:
#   - `man --warnings -l` renders it with no warning (as lintian runs it);
# and for every installed program (bin_PROGRAMS):
#   - it has a page, man/NAME.1 or man/NAME.8;
#   - every option of its --help (--long and -s) is in the page's SYNOPSIS,
#     OPTIONS or COMMANDS sections, and every option there is in --help.
# An option added to a tool and not to its page (or the reverse) fails, with
# the option named.
#
#   tests/man/options.sh [BUILDDIR]
set -eu

srcdir=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${1:-${abs_top_builddir:-$(pwd)}}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
bad() { echo "FAIL: $*" >&2; status=1; }

command -v man >/dev/null || { echo "SKIP: man not found (Debian: man-db)"; exit 77; }

# 1. Every page renders without a warning.
pages=$(ls "$srcdir"/man/*.[1-8])
for page in $pages; do
    LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
        man --warnings -E UTF-8 -l -Tutf8 -Z "$page" >/dev/null 2>"$tmp/warn" ||
        bad "man -l ${page##*/} failed"
    [ ! -s "$tmp/warn" ] || bad "${page##*/} renders with warnings: $(cat "$tmp/warn")"
done

# The options in a text, one a line: --long-name and -x, as words.
options() {
    grep -oE '(^|[^A-Za-z0-9_-])--?[A-Za-z][A-Za-z0-9-]*' |
        sed -E 's/^[^-]*//' | grep -E '^(--[A-Za-z][A-Za-z0-9-]*|-[A-Za-z])$' | LC_ALL=C sort -u
}

# The options a page documents: its SYNOPSIS, OPTIONS and COMMANDS sections,
# with roff's escapes turned back into text (\- is -, fonts dropped).
page_options() {
    awk '/^\.SH/ { keep = ($2 ~ /^"?(SYNOPSIS|OPTIONS|COMMANDS)"?$/); next } keep' "$1" |
        sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(dq/"/g' -e 's/\\&//g' -e 's/\\c$//' |
        sed -E 's/^\.[A-Z]+ ?//' | options
}

# 2. The programs make install puts in bindir, as the Makefile knows them.
# (A make of its own: not the jobserver or the messages of the make running us.)
printf 'xg-print-bin-programs:\n\t@echo "bin_PROGRAMS: $(bin_PROGRAMS)"\n' >"$tmp/print.mk"
programs=$(cd "$builddir" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
    make -s --no-print-directory -f Makefile -f "$tmp/print.mk" xg-print-bin-programs) ||
    { echo "FAIL: cannot list bin_PROGRAMS in $builddir" >&2; exit 1; }
programs=$(printf '%s\n' "$programs" | sed -n 's/^bin_PROGRAMS: //p')
[ -n "$programs" ] || { echo "FAIL: no programs in bin_PROGRAMS" >&2; exit 1; }
n=0
for prog in $programs; do
    name=$(basename "$prog")
    name=${name%.exe}
    page=
    for s in 1 8; do
        [ -f "$srcdir/man/$name.$s" ] && page=$srcdir/man/$name.$s
    done
    [ -n "$page" ] || { bad "$name has no man page (man/$name.1 or man/$name.8)"; continue; }
    [ -x "$builddir/$prog" ] || { bad "$prog is not built"; continue; }
    "$builddir/$prog" --help >"$tmp/help" 2>&1 || bad "$name --help exits non-zero"
    # --help is an option even where the text does not list it, and so is -h
    # when it prints the same text.
    { options <"$tmp/help"; echo --help
      "$builddir/$prog" -h >"$tmp/h" 2>&1 && cmp -s "$tmp/h" "$tmp/help" && echo -h
    } | LC_ALL=C sort -u >"$tmp/help.opts"
    page_options "$page" >"$tmp/page.opts"
    missing=$(LC_ALL=C comm -23 "$tmp/help.opts" "$tmp/page.opts" | tr '\n' ' ')
    [ -z "$missing" ] || bad "$name: in --help but not in ${page##*/}: $missing"
    extra=$(LC_ALL=C comm -13 "$tmp/help.opts" "$tmp/page.opts" | tr '\n' ' ')
    [ -z "$extra" ] || bad "$name: in ${page##*/} but not in --help: $extra"
    n=$((n + 1))
done
[ $status = 0 ] || exit 1
echo "PASS: $(echo $pages | wc -w) pages render cleanly; $n programs' --help match their pages"
