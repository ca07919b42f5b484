#!/bin/sh
# corrupt.sh - a damaged simulated host file is an error the tools report,
# never a crash: `xg-sim check HOST` and `xc_restore --backend sim:HOST`
# each exit 1 with one line that names the host as corrupt, said once,
# and no signal.
#
# Each case damages one field of a pristine host that holds a guest: a
# region offset and a size in the header, the undo journal's fill, a
# domain's vcpu count and shared-info frame, a foreign mapping's frame.
# Before sim_host_open checked them, the header cases were a SIGSEGV or
# SIGBUS; the table cases went unnoticed, indexing beyond their arrays.
set -u
builddir=${abs_top_builddir:-$(pwd)}
sim=$builddir/tools/xg-sim/xg-sim
save=$builddir/tools/xc_save/xc_save
restore=$builddir/tools/xc_restore/xc_restore
for t in "$sim" "$save" "$restore"; do
    [ -x "$t" ] || { echo "FAIL: $t is not built" >&2; exit 1; }
done
unset XG_FAULTS XG_FAIL_ALLOC XG_BACKEND

dir=$(mktemp -d "${TMPDIR:-/tmp}/xg-sim-corrupt.XXXXXX") || { echo "FAIL: mktemp" >&2; exit 1; }
trap 'rm -rf "$dir"' EXIT INT TERM
pristine=$dir/pristine
host=$dir/host
failed=0
passed=0
bad() {
    echo "FAIL: $*" >&2
    failed=$((failed + 1))
}

"$sim" init "$pristine" --frames 8192 >/dev/null || { echo "FAIL: xg-sim init" >&2; exit 1; }
dom=$("$sim" create "$pristine" --layout linux64 --mem 1M) || { echo "FAIL: xg-sim create" >&2; exit 1; }
"$save" -b "sim:$pristine" -d "$dom" --out "$dir/image" >/dev/null 2>&1 || {
    echo "FAIL: xc_save of the guest" >&2; exit 1; }
"$sim" check "$pristine" >/dev/null 2>&1 || { echo "FAIL: the pristine host fails its check" >&2; exit 1; }

# u64 FILE OFFSET: the little-endian 64-bit number at OFFSET.
u64() {
    od -An -tu8 -j "$2" -N 8 "$1" | tr -d ' '
}
# poke FILE OFFSET BYTES: write BYTES (printf octal escapes) at OFFSET.
poke() {
    printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
ones='\377\377\377\377\377\377\377\377'

# struct sim_hdr: nr_frames at 24, off_frames 32, off_m2p 40, off_domains 48,
# off_maps 64, bitmap_bytes 96, journal_size 104, journal_used 152.
# struct sim_domain: nr_vcpus at 32, shared_info_mfn at 64; the guest is in slot 0.
# struct sim_map_ref (24 bytes): proc at 0, mfn at 8, count at 16.
off_domains=$(u64 "$pristine" 48)
off_maps=$(u64 "$pristine" 64)

# expect_corrupt WHAT: both tools refuse $host with one line naming it corrupt.
expect_corrupt() {
    what=$1
    "$sim" check "$host" >"$dir/out" 2>"$dir/err"
    st=$?
    n=$(wc -l <"$dir/err")
    if [ "$st" -ne 1 ] || [ "$n" -ne 1 ] || [ -s "$dir/out" ] ||
        ! grep -q "^error: simulated host .* is corrupt: " "$dir/err"; then
        bad "$what: xg-sim check exit $st (want 1), $n error lines (want 1): $(cat "$dir/err")"
    else
        passed=$((passed + 1))
    fi
    "$restore" -b "sim:$host" --create -i "$dir/image" >"$dir/out" 2>"$dir/err"
    st=$?
    n=$(wc -l <"$dir/err")
    if [ "$st" -ne 1 ] || [ "$n" -ne 1 ] || [ -s "$dir/out" ] ||
        ! grep -q "^error: simulated host .* is corrupt: " "$dir/err"; then
        bad "$what: xc_restore exit $st (want 1), $n error lines (want 1): $(cat "$dir/err")"
    else
        passed=$((passed + 1))
    fi
}

# damage WHAT OFFSET BYTES: a fresh copy of the pristine host, damaged once.
damage() {
    cp "$pristine" "$host" || exit 1
    poke "$host" "$2" "$3"
    expect_corrupt "$1"
}

damage "off_frames" 32 "$ones"
damage "off_m2p" 40 '\0\0\0\0\1\0\0\0'
damage "off_maps" 64 "$ones"
damage "bitmap_bytes" 96 "$ones"
damage "journal_used" 152 "$ones"
damage "a domain's nr_vcpus" $((off_domains + 32)) '\377\0\0\0'
damage "a domain's shared_info_mfn" $((off_domains + 64)) "$ones"
damage "a mapping's mfn" "$off_maps" '\1\0\0\0\1\0\0\0\377\377\377\377\377\377\0\0\1'

# The pristine host is untouched by all this, and still opens.
if "$sim" check "$pristine" >/dev/null 2>&1; then passed=$((passed + 1)); else
    bad "the pristine host no longer passes its check"; fi

echo "corrupt.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
