#!/bin/sh
# format.sh - make check: the files in scripts/format.list are in the house format
# (.clang-format).  Skipped (77) where clang-format is not installed.
set -u
srcdir=${srcdir:-$(dirname "$0")/../..}
command -v "${CLANG_FORMAT:-clang-format}" >/dev/null 2>&1 || {
    echo "clang-format not installed: format check skipped"; exit 77; }
cd "$srcdir" && exec scripts/format.sh --check
