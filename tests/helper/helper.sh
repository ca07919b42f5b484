#!/bin/sh
# helper.sh - xg-libxl-save-helper under a fake libxl, on simulated hosts.
#
# tests/helper/fake_libxl forks the helper exactly as Xen 4.17's libxl
# does and checks every message byte by byte (fake_libxl.c says what);
# this script drives it through the cases libxl meets and checks what
# the guests look like afterwards:
#   - the argv contract: --help, argv of another Xen version -> exit 2, silent;
#   - round trips: non-live over a file, live over a pipe with a busy guest,
#     live+debug (VERIFY), each restored into an empty domain, `xg-sim
#     compare` equal and the guest's self-check passing;
#   - failures that must reach libxl as complete(-1, errno) with ERROR
#     lines, exit 0, and the guest left running: a guest with a foreign
#     mapping (non-live and live), no suspend callback in cbflags, a
#     suspend reply of 0, a reply of 1 for a guest that did not suspend,
#     SIGTERM at the suspend and in the middle of the stream, Remus/COLO
#     stream types, a log line too long for one message;
#   - restores that fail with restore_results(0, 0) still sent: tables
#     saved as ordinary pages, a truncated image (file and pipe), a
#     static_data_done reply of -3, a refused pin;
#   - fake_libxl itself catches helpers that break the rules (reading
#     past END, bytes after END, a level-0 log line, a callback without
#     its cbflags bit, exiting before complete's reply).
#
# Paths come from the build tree (abs_top_builddir, else the current
# directory), or from XG_HELPER, FAKE_LIBXL, XG_SIM and XG_MUTATE.
set -u
builddir=${abs_top_builddir:-$(pwd)}
helper=${XG_HELPER:-$builddir/tools/libxl-save-helper/xg-libxl-save-helper}
fake=${FAKE_LIBXL:-$builddir/tests/helper/fake_libxl}
sim=${XG_SIM:-$builddir/tools/xg-sim/xg-sim}
mutate=${XG_MUTATE:-$builddir/tests/tools/xg-mutate}
for t in "$helper" "$fake" "$sim" "$mutate"; do
    [ -x "$t" ] || { echo "helper.sh: $t is not built (make check builds it)" >&2; exit 99; }
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/xg-helper.XXXXXX") || { echo "FAIL: mktemp" >&2; exit 1; }
trap 'rm -rf "$dir"' EXIT INT TERM
cd "$dir" || exit 1
unset XG_BACKEND XG_FAULTS
passed=0
failed=0

ok() { passed=$((passed + 1)); }
bad() {
    echo "FAIL: $*" >&2
    failed=$((failed + 1))
}

# fake NAME ARGS...: run fake_libxl, transcript in NAME.out; it must pass its own checks.
fake() {
    name=$1
    shift
    if "$fake" "$@" >"$name.out" 2>"$name.err"; then
        ok
    else
        bad "$name: fake_libxl $*: $(cat "$name.err")"
    fi
    # The helper's stderr is fake_libxl's: a sanitizer report fails the case whatever the exit status.
    if grep -q -e 'runtime error' -e 'Sanitizer' "$name.err"; then bad "$name: $(cat "$name.err")"; fi
}
# has NAME REGEX / lacks NAME REGEX: a line of NAME.out matches / none does.
has() {
    if grep -q -e "$2" "$1.out"; then ok; else bad "$1: no line matching '$2' in $1.out:
$(grep -v '^progress' "$1.out")"; fi
}
lacks() {
    if grep -q -e "$2" "$1.out"; then bad "$1: unexpected '$2' in $1.out:
$(grep -e "$2" "$1.out")"; else ok; fi
}
# state HOST DOMID STATE: xg-sim list shows the domain in that state.
state() {
    got=$("$sim" list "$1" | awk -v d="$2" 'NR > 2 && $1 == d { print $3 }')
    if [ "$got" = "$3" ]; then ok; else bad "domain $2 on $1 is '$got', expected '$3'"; fi
}
# running HOST DOMID: left running and healthy.
running() {
    state "$1" "$2" running
    if "$sim" self-check "$1" "$2" >/dev/null 2>self.err; then ok; else bad "self-check $1 $2: $(cat self.err)"; fi
}
# after_failure HOST DOMID: a failed save leaves the guest running, or
# suspended for libxl to resume (xl does, as libxenguest expects); resume
# it the way libxl would, then it must be running and healthy.
after_failure() {
    st=$("$sim" list "$1" | awk -v d="$2" 'NR > 2 && $1 == d { print $3 }')
    case $st in
    running) ok ;;
    suspended) if "$sim" resume "$1" "$2" >/dev/null 2>self.err; then ok; else bad "resume $1 $2 after a failed save: $(cat self.err)"; fi ;;
    *) bad "domain $2 on $1 is '$st' after a failed save" ;;
    esac
    running "$1" "$2"
}
create() { "$sim" create "$@" || { echo "FAIL: xg-sim create $*" >&2; exit 1; }; }
empty() { create h2 --empty --mem "$1" --vcpus "$2"; }
# same NAME SRC_DOMID DST_DOMID: the guest restored on h2 equals the source on h1 and checks itself.
same() {
    if [ "$("$sim" compare h1 "$2" h2 "$3" 2>&1)" = equal ]; then ok; else bad "$1: xg-sim compare h1 $2 h2 $3: $("$sim" compare h1 "$2" h2 "$3" 2>&1)"; fi
    if "$sim" self-check h2 "$3" >/dev/null 2>self.err; then ok; else bad "$1: self-check h2 $3: $(cat self.err)"; fi
}

"$sim" init h1 --frames 131072 >/dev/null && "$sim" init h2 --frames 131072 >/dev/null || { echo "FAIL: xg-sim init" >&2; exit 1; }

# ---- argv: libxl of Xen 4.14-4.19 only; anything else is refused with exit 2 and not one byte on stdout
argv_refused() {
    what=$1
    shift
    "$helper" "$@" >argv.out 2>argv.err
    st=$?
    if [ "$st" -eq 2 ] && [ ! -s argv.out ] && [ -s argv.err ]; then ok; else bad "$what: exit $st, stdout $(wc -c <argv.out) bytes, stderr: $(cat argv.err)"; fi
}
"$helper" --help >argv.out 2>&1 && grep -q 'LIBXL_SAVE_HELPER=' argv.out && ok || bad "--help"
argv_refused "no arguments"
argv_refused "unknown mode" --frob-domain 14 11 1 0 136 0
argv_refused "Xen 4.13's save argv (hvm)" --save-domain 14 11 1 0 136 0 0
argv_refused "Xen 4.13's restore argv (hvm pae)" --restore-domain 14 -1 1 1 0 2 0 0 1 768 0
argv_refused "a domid that is not a number" --save-domain 14 11 one 0 136 0

# ---- round trips
d1=$(create h1 --layout linux64 --mem 32M --vcpus 2 --seed 1)
fake save-nonlive save "$helper" h1 "$d1" nonlive.img
has save-nonlive '^suspend -> 1$'
has save-nonlive '^complete 0 0$'
has save-nonlive '^image: libxc stream v3, .* END at byte \([0-9]*\) of \1$'
has save-nonlive '^progress xg: Frames 8192/8192$'
lacks save-nonlive '^log [789] '
state h1 "$d1" suspended
r1=$(empty 32M 2)
fake restore-file restore "$helper" h2 "$r1" nonlive.img
has restore-file '^static_data_done 3 -> 0$'
has restore-file '^restore_results 0x[0-9a-f]* 0x[0-9a-f]*$'
has restore-file '^left on the descriptor: 48 bytes'
state h2 "$r1" restored
same restore-file "$d1" "$r1"

# live, over pipes (xl migrate), while the guest dirties memory
d2=$(create h1 --layout pae32 --mem 32M --vcpus 2 --seed 2)
"$sim" run h1 "$d2" --dirty-rate 5000 --seconds 1 >/dev/null 2>&1 &
work=$!
fake save-live --flags 1 --io pipe save "$helper" h1 "$d2" live.img
wait "$work"
has save-live '^progress xg: Frames iteration 1 '
has save-live '^suspend -> 1$'
has save-live '^complete 0 0$'
state h1 "$d2" suspended
r2=$(empty 32M 2)
fake restore-pipe --io pipe restore "$helper" h2 "$r2" live.img
has restore-pipe '^complete 0 0$'
has restore-pipe '^left on the descriptor: 48 bytes'
same restore-pipe "$d2" "$r2"

# live + debug: a VERIFY pass
d3=$(create h1 --layout netbsd64 --mem 16M --vcpus 1 --seed 3)
fake save-debug --flags 3 save "$helper" h1 "$d3" debug.img
has save-debug '^progress xg: Frames (verify) '
r3=$(empty 16M 1)
fake restore-debug --io pipe restore "$helper" h2 "$r3" debug.img
has restore-debug 'VERIFY record'
same restore-debug "$d3" "$r3"

# restore without the restore_results bit: the helper must not send message 9
r4=$(empty 32M 2)
fake restore-nobit --cbflags 256 restore "$helper" h2 "$r4" nonlive.img
lacks restore-nobit '^restore_results'
has restore-nobit '^complete 0 0$'

# ---- saves that fail: complete(-1, errno) after ERROR lines, exit 0, guest running or left for libxl to resume
f1=$(create h1 --layout linux64 --mem 16M --vcpus 1 --seed 4 --fault foreign-pte)
for flags in 0 1; do
    fake "foreign-pte-$flags" --expect fail --flags "$flags" save "$helper" h1 "$f1" foreign.img
    has "foreign-pte-$flags" '^log 8 -1 xg: L1 table at pfn 0x[0-9a-f]*, slot [0-9]*, maps mfn 0x[0-9a-f]*, a frame of domain [0-9]*'
    has "foreign-pte-$flags" '^log 8 -1 xg:   hint: '
    has "foreign-pte-$flags" '^complete -1 [1-9]'
    after_failure h1 "$f1"
done

d5=$(create h1 --layout linux64 --mem 16M --vcpus 2 --seed 5)
fake no-suspend-bit --expect fail --cbflags 128 save "$helper" h1 "$d5" x.img
lacks no-suspend-bit '^suspend'
has no-suspend-bit '^log 8 .*no suspend callback'
has no-suspend-bit '^complete -1 22$'
after_failure h1 "$d5"

fake suspend-0 --expect fail --suspend-reply 0 save "$helper" h1 "$d5" x.img
has suspend-0 '^suspend -> 0$'
has suspend-0 '^log 8 -1 xg: libxl could not suspend domain'
after_failure h1 "$d5"

fake suspend-noop --expect fail --suspend-noop save "$helper" h1 "$d5" x.img
has suspend-noop '^log 8 -1 xg: domain [0-9]* has not suspended'
after_failure h1 "$d5"

fake term-suspend --expect fail --term-at-suspend --flags 1 save "$helper" h1 "$d5" x.img
has term-suspend '^log 8 .*stopped by libxl (SIGTERM)'
after_failure h1 "$d5"

fake term-stream --expect fail --io pipe --term-at-progress 5 save "$helper" h1 "$d5" x.img
has term-stream '^(SIGTERM)$'
has term-stream '^complete -1 9$'
after_failure h1 "$d5"

fake remus --expect fail --stream-type 1 save "$helper" h1 "$d5" x.img
has remus '^log 8 .*stream type 1 (Remus) is not supported'
lacks remus '^suspend'
after_failure h1 "$d5"

long=$dir/$(head -c 70000 /dev/zero | tr '\0' x)
fake long-line --expect fail save "$helper" "$long" "$d5" x.img
has long-line ' \[truncated\]$'

# ---- restores that fail: restore_results(0, 0), then complete(-1, errno)
"$mutate" nonlive.img notab.img --tables-as NOTAB >/dev/null || bad "xg-mutate --tables-as NOTAB"
"$mutate" nonlive.img cut.img --truncate 1000000 >/dev/null || bad "xg-mutate --truncate"
r=$(empty 32M 2)
fake bad-notab --expect fail restore "$helper" h2 "$r" notab.img
has bad-notab "^log 8 -1 xg: vcpu0's cr3 points to pfn 0x[0-9a-f]*, which the image records as an ordinary page"
has bad-notab '^log 8 -1 xg:   Xen would log: '
has bad-notab '^restore_results 0 0$'
for io in file pipe; do
    r=$(empty 32M 2)
    fake "bad-cut-$io" --expect fail --io "$io" restore "$helper" h2 "$r" cut.img
    has "bad-cut-$io" '^log 8 -1 xg: image truncated'
    has "bad-cut-$io" '^restore_results 0 0$'
done
r=$(empty 32M 2)
fake sdd-refused --expect fail --sdd-reply -3 restore "$helper" h2 "$r" nonlive.img
has sdd-refused '^static_data_done 3 -> -3$'
has sdd-refused '^restore_results 0 0$'
r=$(empty 32M 2)
fake colo --expect fail --stream-type 2 restore "$helper" h2 "$r" nonlive.img
has colo '^log 8 .*stream type 2 (COLO) is not supported'
has colo '^restore_results 0 0$'
r=$(empty 32M 2)
XG_FAULTS=pin@2
export XG_FAULTS
fake pin-refused --expect fail restore "$helper" h2 "$r" nonlive.img
unset XG_FAULTS
has pin-refused '^restore_results 0 0$'
has pin-refused '^complete -1 [1-9]'
# the failed restore into the existing domain left it with nothing pinned, and the good image still restores
r=$(empty 32M 2)
fake after-failures restore "$helper" h2 "$r" nonlive.img
same after-failures "$d1" "$r"

# ---- fake_libxl catches helpers that break libxl's rules (each a bash script playing a bad helper:
# bash, because dash cannot redirect descriptor 14)
mkbad() {
    printf '#!/bin/bash\n%s\n' "$2" >"$1"
    chmod +x "$1"
}
# complete(0, 0) and wait for the reply; restore_results(0x11, 0x22) first
complete='printf "\012\000\012\000\000\000\000\000\000\000\000\000"; head -c 4 >/dev/null'
results='printf "\022\000\011\000\021\000\000\000\000\000\000\000\042\000\000\000\000\000\000\000"'
mkbad overreader.sh "cat <&14 >/dev/null; $results; $complete"
mkbad trailing.sh "cat '$dir/nonlive.img' >&14; printf junk >&14; $complete"
mkbad level0.sh "printf '\024\000\001\000\000\000\000\000\377\377\377\377\001\000\000\000\000\001\000\000\000\000'; $complete"
mkbad nobit.sh "printf '\002\000\003\000'; head -c 4 >/dev/null; $complete"
mkbad hasty.sh 'printf "\012\000\012\000\000\000\000\000\000\000\000\000"; exit 0'
caught() {
    name=$1
    want=$2
    shift 2
    "$fake" --timeout 20 "$@" >"$name.out" 2>"$name.err"
    st=$?
    if [ "$st" -eq 1 ] && grep -q -e "$want" "$name.err"; then ok; else bad "fake_libxl missed a bad helper ($name): exit $st, stderr: $(cat "$name.err")"; fi
}
r=$(empty 32M 2)
caught overreader 'consumed more than the libxc stream' restore "$dir/overreader.sh" h2 "$r" nonlive.img
caught trailing 'bytes after the libxc END record' save "$dir/trailing.sh" h1 "$d1" t.img
caught level0 'log level 0 outside 1..9' save "$dir/level0.sh" h1 "$d1" t.img
caught nobit 'libxl would call a NULL pointer' --cbflags 128 --suspend-noop save "$dir/nobit.sh" h1 "$d1" t.img
caught hasty 'exited before libxl.s reply to complete' save "$dir/hasty.sh" h1 "$d1" t.img

# ---- both hosts consistent after all of it
for h in h1 h2; do
    if "$sim" check "$h" 2>&1 | grep -q '^host consistent$'; then ok; else bad "xg-sim check $h: $("$sim" check "$h" 2>&1)"; fi
done

echo "helper.sh: $passed checks passed, $failed failed"
[ "$failed" -eq 0 ]
