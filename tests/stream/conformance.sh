#!/bin/sh
# conformance.sh - streams written by xg pass Xen's own verifier.
#
# Gets `verify-stream-v2` from Debian's xen-utils-4.17 (pure python,
# tests/stream/xen-utils.sh), then runs it on streams that tests/stream/write_sample writes with xg's writer:
# 64- and 32-bit PV, every record and page type, empty vcpu blobs, VERIFY
# and CHECKPOINT rounds, a gzip one (decompressed first: the verifier does
# not read gzip), and inside xl and libxl wrappers (-f xl, -f libxl).
# Each is also read back by xg-inspect.  Two control streams the verifier
# must refuse show it really checks.
#
# When the verifier cannot be had this test FAILS, saying so: a check
# that did not run is not a pass.
set -u

srcdir=${srcdir:-.}
builddir=${abs_top_builddir:-$(pwd)}
write_sample=$builddir/tests/stream/write_sample
inspect=$builddir/tools/xg-inspect/xg-inspect

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

. "$srcdir/tests/stream/xen-utils.sh"

get_xen_utils || fail "cannot obtain Xen's verify-stream-v2: 'apt-get download $pkg' + 'dpkg -x' into $x did not work (see above); without it xg's streams cannot be checked against Xen"

[ -x "$write_sample" ] || fail "$write_sample is not built (make check builds it)"
[ -x "$inspect" ] || fail "$inspect is not built"

work=$(mktemp -d "${TMPDIR:-/tmp}/xg-conformance.XXXXXX") || fail "mktemp"
trap 'rm -rf "$work"' EXIT INT TERM

verify() { # FORMAT FILE
    PYTHONPATH=$pylib "$python" "$verifier" -f "$1" -i "$2"
}

passed=0
failed=0
check() { # NAME FORMAT FILE: the verifier and xg-inspect must both accept FILE
    name=$1 fmt=$2 file=$3
    if verify "$fmt" "$file" >"$work/$name.verify" 2>&1; then
        :
    else
        echo "FAIL: verify-stream-v2 -f $fmt rejects $name:" >&2
        cat "$work/$name.verify" >&2
        failed=$((failed + 1))
        return
    fi
    if ! "$inspect" --structure "$file" >"$work/$name.inspect" 2>&1; then
        echo "FAIL: xg-inspect rejects $name:" >&2
        cat "$work/$name.inspect" >&2
        failed=$((failed + 1))
        return
    fi
    echo "PASS: $name (verify-stream-v2 -f $fmt, xg-inspect: $(tail -n 1 "$work/$name.inspect"))"
    passed=$((passed + 1))
}

refused() { # NAME FORMAT FILE: the verifier must refuse FILE
    name=$1 fmt=$2 file=$3
    if verify "$fmt" "$file" >"$work/$name.verify" 2>&1; then
        echo "FAIL: verify-stream-v2 accepts the control stream $name: is it checking anything?" >&2
        failed=$((failed + 1))
    else
        echo "PASS: $name refused by verify-stream-v2, as it must be"
        passed=$((passed + 1))
    fi
}

sample() { # NAME ARGS...
    name=$1
    shift
    "$write_sample" "$@" "$work/$name" || fail "write_sample $* failed"
}

sample pv64 --vcpus 2
check pv64 libxc "$work/pv64"
sample pv32 -w 4 --vcpus 3 --empty-blobs
check pv32 libxc "$work/pv32"
sample pv64-big -n 20000 --empty-blobs
check pv64-big libxc "$work/pv64-big"
sample pv64-rounds --verify --checkpoint -b 100 -n 1500
check pv64-rounds libxc "$work/pv64-rounds"
sample pv64-gzip -z --vcpus 2
"$python" -c 'import gzip, sys; sys.stdout.buffer.write(gzip.open(sys.argv[1]).read())' \
    "$work/pv64-gzip" >"$work/pv64-gunzipped" || fail "cannot decompress the gzip sample"
check pv64-gunzipped libxc "$work/pv64-gunzipped"
"$inspect" --structure "$work/pv64-gzip" >/dev/null || { echo "FAIL: xg-inspect rejects the gzip sample" >&2; failed=$((failed + 1)); }
sample xl --wrap xl --vcpus 2
check xl xl "$work/xl"
sample libxl --wrap libxl -w 4
check libxl libxl "$work/libxl"

# Controls: valid for xg, not for Xen's verifier (an unknown optional
# record, a back-channel record); and a stream with a reserved byte of
# X86_PV_INFO set (record 0, body at offset 48).
sample extras --extras
refused extras libxc "$work/extras"
"$python" - "$work/pv64" "$work/bad-reserved" <<'PY' || fail "cannot build the bad-reserved control"
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
assert struct.unpack_from("<II", data, 40) == (2, 8), "record 0 is not X86_PV_INFO"
data[48 + 7] = 0x01
open(sys.argv[2], "wb").write(data)
PY
refused bad-reserved libxc "$work/bad-reserved"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
