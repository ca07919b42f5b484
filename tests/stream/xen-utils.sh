# xen-utils.sh - sourced by tests: Xen's own pure-python stream tools
# (verify-stream-v2, convert-legacy-stream) from Debian's xen-utils-4.17,
# fetched once into a cache folder:
#   apt-get download xen-utils-4.17; dpkg -x *.deb "$cache/xen-utils-4.17"
# with cache = ${XG_CACHE_DIR:-~/.cache/xg}: outside the build tree (make
# distcheck wants nothing left behind), shared by every build, one folder
# per Xen version.
# Sets: x, pkg, verifier, converter, pylib, python; defines get_xen_utils
# (0 when the tools are there).  The caller defines fail().

cache=${XG_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/xg}
pkg=xen-utils-4.17
x=$cache/$pkg
verifier=$x/usr/lib/xen-4.17/bin/verify-stream-v2
converter=$x/usr/lib/xen-4.17/bin/convert-legacy-stream
pylib=$x/usr/lib/xen-4.17/lib/python
python=$(command -v python3 || true)
[ -n "$python" ] || fail "python3 not found: cannot run Xen's stream tools (Debian: apt-get install python3)"

get_xen_utils() {
    [ -f "$verifier" ] && [ -f "$converter" ] && return 0
    command -v apt-get >/dev/null 2>&1 || { echo "apt-get not found" >&2; return 1; }
    command -v dpkg >/dev/null 2>&1 || { echo "dpkg not found" >&2; return 1; }
    mkdir -p "$cache" || return 1
    dl=$(mktemp -d "$cache/download.XXXXXX") || return 1
    echo "xen-utils: fetching $pkg (apt-get download) into $x"
    if ! (cd "$dl" && apt-get download "$pkg") >"$dl/log" 2>&1; then
        # A machine whose package lists were never fetched knows no such package.
        if [ "$(id -u)" = 0 ]; then
            echo "xen-utils: apt-get download failed; running apt-get update once"
            apt-get update >>"$dl/log" 2>&1
            (cd "$dl" && apt-get download "$pkg") >>"$dl/log" 2>&1
        fi
    fi
    deb=$(ls "$dl"/"$pkg"_*.deb 2>/dev/null | head -n 1)
    if [ -z "$deb" ]; then
        cat "$dl/log" >&2
        rm -rf "$dl"
        return 1
    fi
    # Unpack beside the final place, then move: a half-unpacked cache is
    # never used, and of two tests fetching at once (make -j check) the
    # first to finish wins while the other drops its copy.
    new=$(mktemp -d "$x.new.XXXXXX") || { rm -rf "$dl"; return 1; }
    if ! dpkg -x "$deb" "$new"; then
        rm -rf "$dl" "$new"
        return 1
    fi
    if [ -f "$verifier" ] && [ -f "$converter" ]; then
        rm -rf "$new"
    else
        rm -rf "$x"
        mv -T "$new" "$x" 2>/dev/null || rm -rf "$new"
    fi
    rm -rf "$dl"
    [ -f "$verifier" ] && [ -f "$converter" ]
}

