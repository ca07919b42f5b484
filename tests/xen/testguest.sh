# tests/xen/testguest.sh - the tier's tests of xg-testguest (tests/xen/guest),
# sourced by tests.sh (busybox sh, in dom0); it uses tests.sh's helpers
# (create_guest, save, restore, counts_past...) and adds its tests to
# ALL_TESTS.
#
# xg-testguest counts on its console as the Linux guest does (XGBOOT,
# XGCOUNT, XGBAD) and builds NetBSD-style address spaces: recursive entries
# in every top-level table and read-only linear entries from two "holder"
# tables to a "target" table that no cr3 reaches.  Its command line picks
# where the target's frames are:
#   xglayout=ordered  below the holders' (pins in pfn order work)
#   xglayout=cross    above them: Xen's own restore, which pins in pfn
#                     order after setting the vcpus, meets a holder before
#                     its target, whose linear entry Xen refuses then.
# The guest is named xgu like the Linux guest, so the helpers follow it.

TG_TESTS="tg64-boot tg64-xen tg64-xg tg64-xen-to-xg tg64-xg-to-xen tg64-cross
  tg32-boot tg32-xen tg32-xg tg32-xen-to-xg tg32-xg-to-xen tg32-cross"
ALL_TESTS="$ALL_TESTS $TG_TESTS"

# tg_guest BITS LAYOUT: a new test guest, counting; sets GID and IDS.
tg_guest() {
    k=/xg/guest/xg-testguest$1
    [ -f "$k" ] || { why="xg-testguest$1 was not built (tests/xen/guest/build.sh)"; return 1; }
    if [ "$1" = 32 ] && ! xl info 2>/dev/null | grep -q 'x86_32p'; then
        why="this hypervisor cannot run 32-bit PV guests (xen_caps: $(xl info | sed -n 's/^xen_caps *: //p'))"
        return 1
    fi
    CFG=$W/tg$1-$2.cfg
    # The guest the previous test left counting, if it is of this kind: a
    # boot saved (each boot takes 15-35 s under TCG).
    if [ "$TG_KIND" = "$1-$2" ] && [ -n "$TG_GID" ] && [ -n "$(domid)" ]; then
        GID=$TG_GID
        n=$(count)
        sleep 1
        if [ "$(count)" -gt "$n" ]; then
            IDS=$(boot_ids)
            echo "XGINFO test guest $GID (xg-testguest$1, $2) still counting in domain $(domid): reused"
            return 0
        fi
    fi
    TG_KIND= TG_GID=
    printf 'type = "pv"\nname = "xgu"\nmemory = 32\nmaxmem = 32\nvcpus = 1\nkernel = "%s"\nextra = "xglayout=%s"\non_crash = "preserve"\n' \
        "$k" "$2" >"$CFG"
    bad0=$(nbad)
    create_guest || return 1
    TG_KIND=$1-$2
    IDS=$(boot_ids)
    if [ "$(nbad)" != "$bad0" ]; then
        why="the new guest reports: $(logs | grep XGBAD | tail -n 1)"
        return 1
    fi
}

# tg_run CMD...: tests.sh's save or restore on the test guest, in this
# shell; its times are printed as tgsave/tgrestore so that they stay out
# of the Linux guest's timing medians, and it does not count as the
# working xg save that starts the Linux timing rounds.
tg_run() {
    xs=$XG_SAVES
    "$@" >"$W/tg.out"
    rc=$?
    XG_SAVES=$xs
    sed 's/^XGTIME \(save\|restore\) /XGTIME tg\1 /' "$W/tg.out"
    return $rc
}

# After a restore: the guest said it resumed with its spaces intact.
tg_intact() {
    n=$(logs | grep -c "^XGINFO $GID address spaces and canaries intact")
    [ "$n" -gt "${1:-0}" ] && return 0
    why="$why; but the guest did not report its address spaces intact after the resume"
    return 1
}

# tg_done [keep]: the test guest is no longer the one tests.sh follows
# (GID empty: ensure_guest makes a Linux guest anew, destroying this one);
# with keep, the next test of the same kind may take it up again.
TG_KIND= TG_GID=
tg_done() {
    if [ "${1:-}" = keep ] && [ -n "$GID" ]; then
        TG_GID=$GID
    else
        destroy_all
        TG_KIND= TG_GID=
    fi
    GID=
    CFG=/xg/guest/guest.cfg
}

# tg-boot: the guest boots, counts, and its spaces check out every count.
tg_boot() {
    TG_KIND=     # a new boot, always
    tg_guest "$1" ordered || { tg_done; return 1; }
    logs | grep "^XGINFO $GID" | head -n 8 | sed 's/^/  | /'
    n=$(count)
    counts_past "$n" "xg-testguest$1 boots and counts in domain $(domid)" || { tg_done; return 1; }
    tg_done keep
}

# tg-roundtrip BITS SAVER RESTORER: xl save / xl restore, ordered layout.
tg_roundtrip() {
    [ "$2" = xg ] || [ "$3" = xg ] && { have_xg_helper || return 1; }
    tg_guest "$1" ordered || { tg_done; return 1; }
    i0=$(logs | grep -c "^XGINFO $GID address spaces and canaries intact")
    SAVED_BY=$(helper_name "$2")
    tg_run save "$2" "$W/tg.xl" && tg_run restore "$3" "$W/tg.xl" && tg_intact "$i0"
    r=$?
    rm -f "$W/tg.xl"
    if [ $r = 0 ]; then
        why="xg-testguest$1: $why"
        tg_done keep
    else
        tg_done
    fi
    return $r
}

# tg-cross BITS: the cross-linked layout.  Saved by Xen's own helper; Xen's
# restore must fail (its message is recorded), xg's must bring the guest
# back counting with its spaces intact.
tg_cross() {
    have_xg_helper || return 1
    tg_guest "$1" cross || { tg_done; return 1; }
    logs | grep "^XGINFO $GID space" | sed 's/^/  | /'
    i0=$(logs | grep -c "^XGINFO $GID address spaces and canaries intact")
    SAVED_BY="Xen's helper"
    tg_run save xen "$W/tg.xl" || { tg_done; return 1; }
    xl dmesg -c >/dev/null 2>&1
    if xlh xen -v restore -e "$W/tg.xl" >"$W/tg-xen.log" 2>&1; then
        xen_said="Xen's own helper RESTORED the cross-linked image"
        counts_past "$SAVED_AT" "$xen_said" && xen_said="$xen_said, and the guest counts on ($why)"
        echo "XGINFO $xen_said"
        why="$xen_said: the pin order does not matter here"
        rm -f "$W/tg.xl"
        tg_done
        return 1
    fi
    xen_said=$(grep -iE 'pin|error|fail' "$W/tg-xen.log" | grep -v '^ *$' | head -n 3 | tr -d '\r' |
        sed 's/^.*xc: //' | tr '\n' ' ' | cut -c1-240)
    echo "XGINFO Xen's own helper refuses the cross-linked image; it said:"
    grep -iE 'pin|error|fail' "$W/tg-xen.log" | head -n 6 | tr -d '\r' | sed 's/^/  | /'
    xl dmesg 2>&1 | tail -n 4 | tr -d '\r' | sed 's/^/  | xl dmesg: /'
    destroy_all
    tg_run restore xg "$W/tg.xl" && tg_intact "$i0"
    r=$?
    rm -f "$W/tg.xl"
    why="xg-testguest$1, target table above its holders: Xen's own helper fails ($xen_said); $why"
    tg_done
    return $r
}

t_tg64_boot() { tg_boot 64; }
t_tg64_xen() { tg_roundtrip 64 xen xen; }
t_tg64_xg() { tg_roundtrip 64 xg xg; }
t_tg64_xen_to_xg() { tg_roundtrip 64 xen xg; }
t_tg64_xg_to_xen() { tg_roundtrip 64 xg xen; }
t_tg64_cross() { tg_cross 64; }
t_tg32_boot() { tg_boot 32; }
t_tg32_xen() { tg_roundtrip 32 xen xen; }
t_tg32_xg() { tg_roundtrip 32 xg xg; }
t_tg32_xen_to_xg() { tg_roundtrip 32 xen xg; }
t_tg32_xg_to_xen() { tg_roundtrip 32 xg xen; }
t_tg32_cross() { tg_cross 32; }
