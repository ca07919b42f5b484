# tests/xen/divert.sh - sourced by tests.sh in dom0: the xg-divert test.
#
# xg-xl-helper installed the way a Debian dom0 gets it: `dpkg -i` of the
# packages built from this tree (run.sh and pkg.sh put them, dpkg and a
# dpkg database of the image's packages into the image), so that its
# maintainer scripts run and dpkg-divert moves Xen's libxl-save-helper
# aside.  Then `xl save` / `xl restore` with no LIBXL_SAVE_HELPER in the
# environment must run xg's helper (its lines in xl's log) and the guest
# must count on; `dpkg -r` must put Xen's helper back byte for byte (the
# sha256 of Debian's package) with no diversion left, and xl must run
# Xen's helper again.

ALL_TESTS="$ALL_TESTS xg-divert"

XEN_HELPER=/usr/lib/xen-4.17/bin/libxl-save-helper
DEBS=/xg/debs

# Debian's dpkg, not busybox's applets of the same names (dpkg, dpkg-deb
# in /bin): its folders first in PATH, for dpkg and for what it runs
# (dpkg-deb, the maintainer scripts' dpkg-divert, ldconfig and
# start-stop-daemon, which dpkg wants in PATH).
DV_PATH=/usr/sbin:/usr/bin:/sbin:$PATH
dv_dpkg() { # LOG ARGS...
    dv_log=$1
    shift
    echo "# dpkg $*" >>"$dv_log"
    PATH=$DV_PATH timeout $OP_TIMEOUT /usr/bin/dpkg "$@" >>"$dv_log" 2>&1
}
dv_sum() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }
dv_diversions() { PATH=$DV_PATH /usr/bin/dpkg-divert --list "$XEN_HELPER" 2>&1; }
dv_query() { PATH=$DV_PATH /usr/bin/dpkg-query "$@" 2>&1; }

# xl with no LIBXL_SAVE_HELPER at all: libxl runs $XEN_HELPER.
dv_xl() { (unset LIBXL_SAVE_HELPER; timeout $OP_TIMEOUT xl "$@"); }

# dv_round xg|xen SAVE-MARKER RESTORE-MARKER [NOT]: xl -v save + xl -v
# restore with no LIBXL_SAVE_HELPER; the logs must show the markers (grep
# -E) of that helper and no line matching NOT, and the guest must count on.
# Sets why.
dv_round() {
    dv_tag=$1
    set -- "$(helper_name "$1")" "$2" "$3" "${4:-}"
    SAVED_BY="$1 (xl's default helper path)"
    ensure_guest || return 1
    t=$(now)
    if ! dv_xl -v save xgu "$W/dv.xl" >"$W/dv-save.log" 2>&1; then
        show "$W/dv-save.log"
        context
        why="xl save with no LIBXL_SAVE_HELPER failed ($1)"
        return 1
    fi
    echo "XGTIME save-dpkg $dv_tag $(since "$t")"
    SAVED_AT=$(count)
    if ! grep -qE "$2" "$W/dv-save.log"; then
        show "$W/dv-save.log"
        why="xl save with no LIBXL_SAVE_HELPER: its log has no line of $1 ('$2')"
        return 1
    fi
    t=$(now)
    if ! dv_xl -v restore -e "$W/dv.xl" >"$W/dv-restore.log" 2>&1; then
        show "$W/dv-restore.log"
        context
        why="xl restore with no LIBXL_SAVE_HELPER failed ($1)"
        return 1
    fi
    echo "XGTIME restore-dpkg $dv_tag $(since "$t")"
    rm -f "$W/dv.xl"
    if ! grep -qE "$3" "$W/dv-restore.log"; then
        show "$W/dv-restore.log"
        why="xl restore with no LIBXL_SAVE_HELPER: its log has no line of $1 ('$3')"
        return 1
    fi
    if [ -n "${4:-}" ] && grep -hE "$4" "$W/dv-save.log" "$W/dv-restore.log" >"$W/dv-not.log"; then
        show "$W/dv-not.log" 4
        why="xl save/restore with no LIBXL_SAVE_HELPER: lines of another helper than $1 ('$4')"
        return 1
    fi
    counts_past "$SAVED_AT" "xl save/restore, no LIBXL_SAVE_HELPER, $1" || { context; return 1; }
}

# Lines of xg's helper in xl's log (tools/libxl-save-helper/main.c), and
# of libxenguest, which Xen's helper runs (its "xc" context).
XG_SAVE_LINE='Saving domain [0-9]+, type x86 PV, non-live \(xg, backend'
XG_RESTORE_LINE='xg restore: io_fd'
XEN_LINE='xc: [a-z]+: '

t_xg_divert() {
    log=$W/dpkg.log
    : >"$log"
    [ -f "$DEBS/WHY" ] && { why="no packages in the image: $(cat "$DEBS/WHY")"; return 1; }
    [ -x /usr/bin/dpkg ] || { why="no dpkg in the dom0 image"; return 1; }
    helper_deb=$(ls "$DEBS"/xg-xl-helper_*.deb 2>/dev/null)
    lib_deb=$(ls "$DEBS"/libxg0_*.deb 2>/dev/null)
    [ -n "$helper_deb" ] && [ -n "$lib_deb" ] ||
        { why="no xg-xl-helper or libxg0 package in $DEBS"; return 1; }
    xen_sum=$(cat "$DEBS/xen-helper.sha256")
    sum0=$(dv_sum "$XEN_HELPER")
    [ "$sum0" = "$xen_sum" ] ||
        { why="$XEN_HELPER is not Debian's before the install ($sum0, not $xen_sum)"; return 1; }
    [ -z "$(dv_diversions)" ] ||
        { why="a diversion exists before the install: $(dv_diversions)"; return 1; }
    echo "XGINFO xg-divert: Xen's helper sha256 $sum0;" \
        "$(dv_query -W xen-utils-4.17) registered;" \
        "$(dv_query -S "$XEN_HELPER")"

    # The install.  libxg0's shlibs want the libxen* of the build host
    # (4.17.7 on Debian 12); dom0 runs the tier's 4.17.5: a version
    # mismatch only, which dpkg is told to take as a warning.
    if ! dv_dpkg "$log" -i --force-depends-version "$lib_deb" "$helper_deb"; then
        show "$log" 25
        dv_dpkg "$W/purge.log" -P xg-xl-helper libxg0
        why="dpkg -i of libxg0 and xg-xl-helper failed"
        return 1
    fi
    sed 's/^/  | /' "$log" |
        grep -iE 'warning|diversion|Setting up|Unpacking|depends on|Version of' | head -n 20
    fails=
    dv=$(dv_diversions)
    case $dv in
        *"diversion of $XEN_HELPER to $XEN_HELPER.xen by xg-xl-helper"*) ;;
        *) fails="$fails; no diversion by xg-xl-helper ($dv)" ;;
    esac
    [ "$(readlink -f "$XEN_HELPER")" = /usr/bin/xg-libxl-save-helper ] ||
        fails="$fails; $XEN_HELPER -> '$(readlink -f "$XEN_HELPER")', not xg-libxl-save-helper"
    "$XEN_HELPER" --help 2>&1 | grep -q "xg's stand-in for Xen's libxl-save-helper" ||
        fails="$fails; $XEN_HELPER --help is not xg's"
    [ "$(dv_sum "$XEN_HELPER.xen")" = "$sum0" ] ||
        fails="$fails; $XEN_HELPER.xen is not Xen's helper byte for byte"
    st=$(dv_query -W -f '${Status}' xg-xl-helper)
    [ "$st" = "install ok installed" ] || fails="$fails; dpkg-query: xg-xl-helper is '$st'"
    echo "XGINFO xg-divert after dpkg -i: $dv; $XEN_HELPER -> $(readlink "$XEN_HELPER")"

    # xl's own path to the helper, no LIBXL_SAVE_HELPER: xg's.
    if [ -z "$fails" ]; then
        dv_round xg "$XG_SAVE_LINE" "$XG_RESTORE_LINE" || fails="$fails; $why"
        grep -E "$XG_SAVE_LINE|$XG_RESTORE_LINE" "$W/dv-save.log" "$W/dv-restore.log" 2>/dev/null |
            head -n 2 | sed 's/^/  | /'
        diverted=$why
    fi

    # Removal puts Xen's back, byte for byte, and nothing of the diversion.
    : >"$log"
    if ! dv_dpkg "$log" -r xg-xl-helper; then
        show "$log"
        fails="$fails; dpkg -r xg-xl-helper failed"
    fi
    sum1=$(dv_sum "$XEN_HELPER")
    [ ! -L "$XEN_HELPER" ] && [ "$sum1" = "$sum0" ] ||
        fails="$fails; after dpkg -r, $XEN_HELPER is not Xen's" \
            "(sha256 $sum1, link '$(readlink "$XEN_HELPER")')"
    [ ! -e "$XEN_HELPER.xen" ] || fails="$fails; after dpkg -r, $XEN_HELPER.xen is left"
    dv=$(dv_diversions)
    [ -z "$dv" ] || fails="$fails; after dpkg -r, a diversion is left: $dv"
    dv_dpkg "$log" -P xg-xl-helper libxg0 || fails="$fails; dpkg -P xg-xl-helper libxg0 failed"
    [ ! -e /usr/bin/xg-libxl-save-helper ] ||
        fails="$fails; /usr/bin/xg-libxl-save-helper is left after purge"
    echo "XGINFO xg-divert after dpkg -r: $XEN_HELPER sha256 $sum1; dpkg-divert --list: '${dv}'"
    # A failure so far ends the test: xl with Xen's helper would show nothing new.
    if [ -n "$fails" ]; then
        why=${fails#; }
        return 1
    fi

    # and xl runs Xen's helper again.
    dv_round xen "$XEN_LINE" "$XEN_LINE" "$XG_SAVE_LINE|$XG_RESTORE_LINE" ||
        { why="after removal: $why"; return 1; }
    grep -hE "$XEN_LINE" "$W/dv-save.log" | head -n 1 | sed 's/^/  | /'
    short=${sum0%"${sum0#????????????}"}
    back=$why
    why="dpkg -i: Xen's helper diverted to $XEN_HELPER.xen, xg's in its place; $diverted;"
    why="$why dpkg -r: Xen's helper back (sha256 $short...), no diversion; then $back"
}
