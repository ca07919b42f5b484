#!/bin/sh
# seeds.sh OUTDIR - the fuzz targets' seed corpora, made from small
# simulated guests of every layout and from the sample stream writer (no
# binary in git): OUTDIR/{stream,legacy,inspect,restore}/.
#   stream:  sample streams (64- and 32-bit, bare, xl, libxl, gzip,
#            VERIFY, CHECKPOINT, extra records), and gzipped guest images
#   legacy:  the same turned into pre-4.6 images (32/64-bit toolstack,
#            bare, xl- and xend-wrapped)
#   inspect, restore: the smallest guest of each layout (one vcpu; and
#            gzipped), a two-vcpu linux64 one, and four of the sample streams
# Needs the build's tools; abs_top_builddir or the current directory.
set -eu
out=$1
builddir=${abs_top_builddir:-$(pwd)}
sim=$builddir/tools/xg-sim/xg-sim
save=$builddir/tools/xc_save/xc_save
sample=$builddir/tests/stream/write_sample
legacy=$builddir/tests/tools/xg-legacy-write
mkdir -p "$out/stream" "$out/legacy" "$out/inspect" "$out/restore"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xg-seeds.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

n=0
for opts in "-n 8" "-n 8 -w 4" "-n 8 --wrap xl" "-n 8 --wrap libxl" "-n 8 -z" "-n 8 --wrap xl -z" \
            "-n 6 --verify" "-n 6 --checkpoint" "-n 6 --extras" "-n 6 --vcpus 2 -w 4" "-n 6 --empty-blobs"; do
    n=$((n + 1))
    # shellcheck disable=SC2086
    "$sample" $opts "$out/stream/sample-$n"
done
for bits in 32 64; do
    for wrap in none xl xend; do
        "$legacy" "$out/stream/sample-1" "$out/legacy/sample-$bits-$wrap" --bits $bits --wrap $wrap
    done
done
"$legacy" "$out/stream/sample-2" "$out/legacy/sample32-xtab" --bits 32 --xtab-pad --unmapped 2

# The smallest guest of a layout: the builder refuses a one-page guest and says how
# small one can be ("at least N KiB").  Small seeds are what makes the whole-image
# targets fast: their cost per input grows with the image.
smallest() {
    if "$sim" create "$tmp/host" --layout "$1" --vcpus "$2" --mem 4K >/dev/null 2>"$tmp/err"; then
        echo "seeds.sh: a 4 KiB $1 guest was accepted" >&2
        exit 1
    fi
    kib=$(sed -n 's/.*too small for this layout (at least \([0-9][0-9]*\) KiB).*/\1/p' "$tmp/err")
    [ -n "$kib" ] || { cat "$tmp/err" >&2; exit 1; }
    echo "${kib}K"
}
"$sim" init "$tmp/host" --frames 2048 >/dev/null
for layout in linux64 pae32 netbsd64; do
    dom=$("$sim" create "$tmp/host" --layout $layout --mem "$(smallest $layout 1)")
    "$save" -b "sim:$tmp/host" -d "$dom" --out "$out/inspect/$layout"
    "$save" -b "sim:$tmp/host" -d "$dom" --compress --out "$out/inspect/$layout.gz"
    cp "$out/inspect/$layout" "$out/restore/$layout"
    cp "$out/inspect/$layout.gz" "$out/stream/$layout.gz"
done
dom=$("$sim" create "$tmp/host" --layout linux64 --vcpus 2 --mem "$(smallest linux64 2)")
"$save" -b "sim:$tmp/host" -d "$dom" --out "$out/inspect/linux64-2vcpu"
cp "$out/inspect/linux64-2vcpu" "$out/restore/linux64-2vcpu"
"$legacy" "$out/inspect/pae32" "$out/legacy/pae32-xl" --bits 32 --wrap xl
# Small whole streams too (refused by validation, but 25 times faster to mutate than a guest).
for n in 1 2 7 10; do
    cp "$out/stream/sample-$n" "$out/inspect/sample-$n"
    cp "$out/stream/sample-$n" "$out/restore/sample-$n"
done
echo "seeds: $(find "$out" -type f | wc -l) files in $out"
