# tests/xen/pkg.sh - sourced by run.sh (host side of the xg-divert test,
# divert.sh): puts xg's Debian packages and a working dpkg into the dom0
# image, so that dom0 installs xg-xl-helper with dpkg as a Debian machine
# would, maintainer scripts and dpkg-divert included.
#
#   - the packages: xg-xl-helper and libxg0 (what it depends on among xg's
#     packages), built with `dpkg-buildpackage -us -uc -b` from a copy of
#     the source tree (the files git tracks, and the untracked ones it does
#     not ignore), cached under $cache_root/xg-debs/KEY, KEY being the
#     sha256 of those files but the tier's own (tests/xen/) and *.md: a
#     tree built once is not built again.
#     XG_XEN_DEBS=DIR takes them from DIR instead (dpkg-buildpackage's
#     output, for instance that of tests/pkg/packages.sh);
#   - dpkg itself and what it and libxg0 need that the image does not have
#     (dpkg; GNU tar, as dpkg-deb passes busybox tar options it lacks;
#     libc-bin's ldconfig; libacl1, libbz2-1.0, libmd0, libselinux1,
#     libpcre2-8-0, libxml2, libicu72), from Debian packages as the rest of
#     the image (apt-get download, dpkg -x; cache: $cache_root/xen-tier-dpkg).
#     busybox's applets of the same names (dpkg, dpkg-deb, tar) stay in
#     /bin; divert.sh runs Debian's first, and /bin/tar is GNU tar (busybox
#     --install does not replace a file);
#   - dpkg's database in the image: every package the image was unpacked
#     from, registered as installed with its control fields and file list
#     (what debootstrap's first stage amounts to).  So dpkg knows that
#     /usr/lib/xen-4.17/bin/libxl-save-helper belongs to xen-utils-4.17 and
#     would refuse to overwrite it without the diversion.
#
# Nothing here installs anything on the host.

DIVERT_PKGS="dpkg tar libacl1 libc-bin libbz2-1.0 libmd0 libselinux1 libpcre2-8-0 libxml2 libicu72"

# Whether the run includes xg-divert (all tests, or it is named).
divert_selected() {
    [ -z "${XG_XEN_TESTS:-}" ] && return 0
    case " $XG_XEN_TESTS " in *" xg-divert "*) return 0 ;; esac
    return 1
}

# The source files of the tree, NUL-separated, relative to it.
src_files() { # SRC
    if git -C "$1" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$1" ls-files -z --cached --others --exclude-standard |
            (cd "$1" && xargs -0 -r sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' sh)
    else
        (cd "$1" && find . \( -name .git -o -name '_build*' -o -name autom4te.cache \) -prune \
            -o -type f -print0)
    fi
}

# Sets DEBS_DIR to a folder with xg-xl-helper_*.deb and libxg0_*.deb, built
# from SRC unless XG_XEN_DEBS names one; on failure sets DEBS_WHY.
xg_debs() { # SRC
    DEBS_DIR='' DEBS_WHY=''
    if [ -n "${XG_XEN_DEBS:-}" ]; then
        DEBS_DIR=$(cd "$XG_XEN_DEBS" 2>/dev/null && pwd) ||
            { DEBS_WHY="XG_XEN_DEBS=$XG_XEN_DEBS: no such folder"; return 1; }
        say "xg's packages from XG_XEN_DEBS=$DEBS_DIR"
    else
        command -v dpkg-buildpackage >/dev/null 2>&1 && command -v dh >/dev/null 2>&1 ||
            { DEBS_WHY="dpkg-buildpackage or dh not found on the host (dpkg-dev, debhelper)"
              return 1; }
        # The key leaves out what no package contains, the tier's own
        # scripts (tests/xen/) and the Markdown documents, so that editing
        # them does not cost a build.
        key=$(src_files "$1" | tr '\0\n' '\n\0' | grep -v -e '^tests/xen/' -e '\.md$' |
            tr '\0\n' '\n\0' | (cd "$1" && xargs -0 -r sha256sum) | sha256sum | cut -c1-16)
        DEBS_DIR=$cache_root/xg-debs/$key
        if [ ! -f "$DEBS_DIR/.done" ]; then
            version=$(sed -n '1s/^xg (\([^)]*\)).*/\1/p' "$1/debian/changelog")
            b=$work/pkg-build
            rm -rf "$b" "$DEBS_DIR"
            mkdir -p "$b/xg-$version" "$DEBS_DIR"
            src_files "$1" | (cd "$1" && tar --null -T - -cf -) | (cd "$b/xg-$version" && tar -xf -)
            say "building xg's packages for xg-divert (dpkg-buildpackage -us -uc -b, nocheck;" \
                "log: $work/pkg-build.log)"
            t0=$(date +%s)
            if ! (cd "$b/xg-$version" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
                    dpkg-buildpackage -us -uc -b) >"$work/pkg-build.log" 2>&1; then
                tail -n 20 "$work/pkg-build.log" >&2
                rm -rf "$b" "$DEBS_DIR"
                DEBS_WHY="dpkg-buildpackage failed on the host (see $work/pkg-build.log)"
                return 1
            fi
            cp "$b"/xg-xl-helper_*.deb "$b"/libxg0_*.deb "$DEBS_DIR/"
            rm -rf "$b"
            : >"$DEBS_DIR/.done"
            say "built xg's packages in $(( $(date +%s) - t0 )) s, cached in $DEBS_DIR"
            # Keep the newest few trees' packages only.
            ls -dt "$cache_root"/xg-debs/*/ 2>/dev/null | tail -n +5 |
                while read -r old; do rm -rf "$old"; done
        else
            say "xg's packages of this tree from the cache: $DEBS_DIR"
        fi
    fi
    for p in xg-xl-helper libxg0; do
        [ "$(ls "$DEBS_DIR/${p}"_*_amd64.deb 2>/dev/null | wc -l)" = 1 ] ||
            { DEBS_WHY="not exactly one ${p}_*_amd64.deb in $DEBS_DIR"; return 1; }
    done
}

# dpkg and the libraries it and libxg0 need, unpacked in $cache_root/xen-tier-dpkg/root.
fetch_dpkg() {
    dc=$cache_root/xen-tier-dpkg
    # shellcheck disable=SC2086
    want=$(printf '%s\n' $DIVERT_PKGS | sort | tr '\n' ' ')
    [ -f "$dc/root/.packages" ] && [ "$(cat "$dc/root/.packages")" = "$want" ] && return 0
    say "fetching dpkg for the dom0 into $dc: $want"
    rm -rf "$dc/debs.new" "$dc/root.new"
    mkdir -p "$dc/debs.new" "$dc/root.new"
    chmod 755 "$dc/debs.new"
    # shellcheck disable=SC2086
    apt_download "$dc/debs.new" $want || return 1
    for deb in "$dc"/debs.new/*.deb; do dpkg -x "$deb" "$dc/root.new" || return 1; done
    printf '%s' "$want" >"$dc/root.new/.packages"
    rm -rf "$dc/debs" "$dc/root"
    mv "$dc/debs.new" "$dc/debs"
    mv "$dc/root.new" "$dc/root"
}

# DEB registered as installed in the dpkg database under DIR: its control
# fields with a Status line, and its file list (info/NAME.list, NAME:amd64
# for a Multi-Arch: same package, as dpkg names them).
register_deb() { # DIR DEB
    name=$(dpkg-deb -f "$2" Package)
    [ "$(dpkg-deb -f "$2" Multi-Arch)" = same ] && name="$name:$(dpkg-deb -f "$2" Architecture)"
    dpkg-deb -f "$2" |
        awk 'NR == 1 { print; print "Status: install ok installed"; next } { print }' \
        >>"$1/var/lib/dpkg/status"
    echo >>"$1/var/lib/dpkg/status"
    dpkg-deb --fsys-tarfile "$2" | tar -tf - | sed -e 's|^\./|/|' -e 's|/$||' -e 's|^$|/.|' \
        >"$1/var/lib/dpkg/info/$name.list"
}

# The hook run.sh calls while it builds the dom0 image DIR.
divert_payload() { # DIR
    divert_selected || return 0
    d0=$1
    mkdir -p "$d0/xg/debs"
    if ! xg_debs "$here/../.."; then
        say "xg-divert: $DEBS_WHY"
        echo "$DEBS_WHY" >"$d0/xg/debs/WHY"
        return 0
    fi
    if ! fetch_dpkg; then
        say "xg-divert: apt-get download of dpkg for the dom0 failed"
        echo "apt-get download of $DIVERT_PKGS failed on the host" >"$d0/xg/debs/WHY"
        return 0
    fi
    dr=$cache_root/xen-tier-dpkg/root
    cp "$DEBS_DIR"/xg-xl-helper_*_amd64.deb "$DEBS_DIR"/libxg0_*_amd64.deb "$d0/xg/debs/"
    # Xen's helper as Debian ships it, for the byte-for-byte check in dom0.
    sha256sum "$R/usr/lib/xen-4.17/bin/libxl-save-helper" | cut -d' ' -f1 \
        >"$d0/xg/debs/xen-helper.sha256"
    # dpkg's programs and configuration, tar, ldconfig (dpkg wants it in PATH).
    for p in etc bin sbin usr/bin usr/sbin usr/lib/dpkg usr/share/dpkg; do
        [ -d "$dr/$p" ] || continue
        mkdir -p "$d0/$p"
        cp -a "$dr/$p/." "$d0/$p/"
    done
    for ld in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu; do
        [ -d "$dr/$ld" ] || continue
        mkdir -p "$d0/$ld"
        (cd "$dr/$ld" && find . -maxdepth 1 -name '*.so*' -print) | while read -r f; do
            [ -e "$d0/$ld/$f" ] || cp -a "$dr/$ld/$f" "$d0/$ld/$f"
        done
    done
    # The database: every package the image's files came from.
    for s in info updates triggers alternatives; do mkdir -p "$d0/var/lib/dpkg/$s"; done
    # Format 1: file lists of Multi-Arch: same packages are NAME:ARCH.list.
    echo 1 >"$d0/var/lib/dpkg/info/format"
    : >"$d0/var/lib/dpkg/status"
    : >"$d0/var/lib/dpkg/available"
    for deb in "$cache"/debs/*.deb "$cache_root"/xen-tier-dpkg/debs/*.deb; do
        register_deb "$d0" "$deb"
    done
    dpkg_version=$(dpkg-deb -f "$(ls "$cache_root"/xen-tier-dpkg/debs/dpkg_*.deb)" Version)
    registered=$(grep -c '^Package:' "$d0/var/lib/dpkg/status")
    debs=
    for f in "$d0"/xg/debs/*.deb; do debs="$debs ${f##*/}"; done
    say "xg-divert: dpkg $dpkg_version in dom0, $registered packages registered;$debs"
}
