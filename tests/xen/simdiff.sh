# tests/xen/simdiff.sh - the simulator meets the real hypervisor, the VM's
# half (sourced by tests.sh, busybox sh in dom0; simdiff-host.sh is the
# build machine's half; README.md, "The simulator meets the real
# hypervisor").
#
# /xg/sim holds images of the simulator's guests, saved by xg from the
# simulator on the build machine: linux64, pae32, netbsd64 (its alternate
# recursive entry pointing down, so pfn order pins it) and netbsd64-cross
# (as xg-sim builds it: the entry points up).  Every restore leaves the
# domain paused, never run, and destroys it.
#   sim-images  each image restored by xc_restore --backend xen --create
#               and by `xl restore -p` with Xen's own helper (the image in
#               an xl wrapper with a minimal config)
#   sim-diff    XG_SIMDIFF_MUTANTS mutants per layout (xg-mutate --seed N,
#               made here from the same image as on the build machine),
#               each restored by `xl restore -p` with Xen's own helper;
#               one line each: XGSIMDIFF LAYOUT SEED XL-EXIT MD5.  The
#               host compares them with xg's verdicts.

SIM_TESTS="sim-images sim-diff"
ALL_TESTS="$ALL_TESTS $SIM_TESTS"
SIM=/xg/sim
SIM_TIMEOUT=120   # seconds for one restore of a 4 MiB guest

# sim_cfg LAYOUT NAME: a minimal xl config for a restore (the stream sets
# the guest's width; the kernel is never loaded on a restore).
sim_cfg() {
    printf 'type = "pv"\nname = "%s"\nmemory = 16\nmaxmem = 16\nvcpus = 1\nkernel = "/xg/guest/vmlinuz"\non_crash = "destroy"\n' \
        "$2" >"$W/sim-$1.cfg"
}

# sim_xl_restore LAYOUT NAME IMAGE: xl restore -p with Xen's helper, then
# the domain destroyed, whatever happened.  Returns xl's exit status.
sim_xl_restore() {
    sim_cfg "$1" "$2"
    cat "$SIM/xl.head" "$3" "$SIM/xl.tail" >"$W/sim.xl"
    timeout $SIM_TIMEOUT xl restore -p "$W/sim-$1.cfg" "$W/sim.xl" >"$W/sim-xl.log" 2>&1
    r=$?
    sim_destroy "$2"
    return $r
}

# sim_destroy NAME|DOMID...: destroy and wait (bounded) until the domain
# is gone by its id (a dying domain loses its name at once but keeps its
# id until Xen has freed it).
sim_destroy() {
    for x in "$@"; do
        id=$(xl domid "$x" 2>/dev/null) || id=$x
        xl destroy "$x" >/dev/null 2>&1
        wait_for 60 "domain $x (id $id) destroyed" sh -c "! xl list $id >/dev/null 2>&1" ||
            echo "XGINFO $why"
    done
}

# sim_dying DOMID: Xen is still freeing it (xl list's state has a d).
sim_dying() {
    xl list "$1" 2>/dev/null | awk 'NR == 2 { exit !($5 ~ /d/) }'
}

# sim_leftovers: fails (why) for a domain left alive; a domain Xen keeps
# dying after the wait is named with the mutant that made it (the ids in
# $W/simdoms) and reported, not failed: a zombie is Xen's own doing with a
# restore it refused, the differential test judges only the verdicts.
sim_leftovers() {
    for d in $(others); do sim_destroy "$d"; done
    alive=
    for d in $(others); do
        if sim_dying "$d"; then
            echo "XGINFO domain $d is still dying after 60 s (Xen's restore of $(awk -v d="$d" '$1 == d { print $2 " seed " $3 }' "$W/simdoms" 2>/dev/null | tail -n 1)): a zombie of Xen's"
        else
            alive="$alive $d"
        fi
    done
    [ -z "$alive" ] || { why="domains left behind:$alive"; return 1; }
    return 0
}

sim_have() {
    [ -s "$SIM/xl.head" ] && [ -s "$SIM/mutants" ] && return 0
    why="no images of the simulator's guests in $SIM (simdiff-host.sh prepare did not run)"
    return 1
}

t_sim_images() {
    sim_have || return 1
    destroy_all
    fails= res=
    for l in linux64 pae32 netbsd64 netbsd64-cross; do
        img=$SIM/$l.img
        t=$(now)
        if timeout $SIM_TIMEOUT xc_restore --backend xen --create --vcpus 1 --in "$img" >"$W/sim-xc.log" 2>&1; then
            d=$(sed -n 's/^domid //p' "$W/sim-xc.log")
            st=$(xl list "$d" 2>/dev/null | awk 'NR == 2 { print $5 }')
            case $st in *p*) ;; *) fails="$fails; $l: xc_restore left domain $d in state '$st', not paused" ;; esac
            sim_destroy "$d"
            res="$res; $l: xc_restore ok ($(since "$t") s)"
        else
            show "$W/sim-xc.log" 8
            fails="$fails; xc_restore --backend xen refused $l: $(grep -m1 -i error "$W/sim-xc.log")"
            for d in $(others); do sim_destroy "$d"; done
        fi
        t=$(now)
        if sim_xl_restore "$l" "xgs-$l" "$img"; then
            r=ok
        else
            r="refused ($(grep -m1 -iE 'error|fail' "$W/sim-xl.log" | cut -c1-120))"
            show "$W/sim-xl.log" 8
        fi
        echo "XGSIMBASE $l $([ "$r" = ok ] && echo 0 || echo 1)"
        # netbsd64-cross: Xen's pfn-order pins must refuse it (its linear
        # entry meets an L4 not yet validated), as the simulator predicts.
        if [ "$l" = netbsd64-cross ]; then
            [ "$r" = ok ] && fails="$fails; Xen's own restore accepted netbsd64-cross, which the simulator says it refuses"
        else
            [ "$r" = ok ] || fails="$fails; xl restore -p (Xen's helper) of $l: $r"
        fi
        res="$res, xl restore $r ($(since "$t") s)"
    done
    sim_leftovers || fails="$fails; $why"
    why=${res#; }
    [ -z "$fails" ] || { why="${fails#; } [${res#; }]"; return 1; }
}

# sim_mutant LAYOUT SEED: one mutant, made and restored; its XGSIMDIFF line.
sim_mutant() {
    m=$W/mut-$1-$2
    if ! xg-mutate "$SIM/$1.img" "$m.img" --seed "$2" >"$m.log" 2>&1; then
        echo "XGINFO xg-mutate $1 --seed $2 failed: $(head -n 1 "$m.log")"
        echo "XGSIMDIFF $1 $2 mutate-failed -"
        rm -f "$m.img" "$m.log"
        return 0
    fi
    sum=$(md5sum <"$m.img" | cut -c1-32)
    cat "$SIM/xl.head" "$m.img" "$SIM/xl.tail" >"$m.xl"
    rm -f "$m.img"
    sim_cfg "$1-$2" "xgm-$1-$2"
    timeout $SIM_TIMEOUT xl restore -p "$W/sim-$1-$2.cfg" "$m.xl" >"$m.log" 2>&1
    r=$?
    # Which domain it was, for a zombie's report: xl's own id, or libxl's "Domain N:" lines of a
    # refused restore (xl has destroyed that domain already).
    id=$(xl domid "xgm-$1-$2" 2>/dev/null) ||
        id=$(grep -o 'Domain [0-9]*' "$m.log" | head -n 1 | cut -d' ' -f2)
    [ -z "$id" ] || echo "$id $1 $2" >>"$W/simdoms"
    sim_destroy "xgm-$1-$2"
    echo "XGSIMDIFF $1 $2 $r $sum"
    rm -f "$m.xl" "$m.log" "$W/sim-$1-$2.cfg"
}

# The mutants, seed by seed and layout by layout in turn (a run cut short
# still covers every layout), SIM_JOBS at a time (dom0 has 2 vcpus), until
# XG_SIMDIFF_BUDGET seconds have gone (the host then fails the test for
# the mutants never run).
SIM_JOBS=2
t_sim_diff() {
    sim_have || return 1
    destroy_all
    n=$(cat "$SIM/mutants")
    budget=${XG_SIMDIFF_BUDGET:-900}
    t0=$(now)
    end=$(in_secs "$budget")
    s=0 started=0 running=0
    while [ "$s" -lt "$n" ] && not_past "$end"; do
        for l in linux64 pae32 netbsd64; do
            sim_mutant "$l" "$s" &
            running=$((running + 1))
            started=$((started + 1))
            if [ "$running" -ge "$SIM_JOBS" ]; then
                wait
                running=0
            fi
        done
        s=$((s + 1))
    done
    wait
    # A destroy that took longer than sim_destroy waits (a loaded TCG): once more, then judge.
    sim_leftovers || return 1
    why="$started of $((3 * n)) mutants restored by xl restore -p with Xen's helper in $(since "$t0") s ($SIM_JOBS at a time); the host compares"
    [ "$started" = $((3 * n)) ] || { why="$why; stopped at the budget of $budget s"; return 1; }
}
