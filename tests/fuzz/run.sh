#!/bin/sh
# run.sh runs|seconds N [TARGET...] - run the libFuzzer targets of an
# --enable-fuzzing build: each for N executions (make fuzz-smoke; the
# whole-image targets inspect and restore, 20 times slower, for
# $FUZZ_RUNS_IMAGE, default N/20) or N seconds (make fuzz), over its
# corpus (tests/fuzz/corpus/TARGET, kept between runs) and its seeds
# (tests/fuzz/seeds/TARGET); make check replays the kept crash inputs
# (replay.sh).  Prints each target's executions; a crash leaves
# tests/fuzz/crash-TARGET-* and makes the exit status 1.
set -u
mode=$1 n=$2
shift 2
[ $# -gt 0 ] || set -- stream legacy inspect restore
case $mode in
runs) limit=-runs=$n ;;
seconds) limit=-max_total_time=$n ;;
*) echo "usage: run.sh runs|seconds N [TARGET...]" >&2; exit 2 ;;
esac
status=0 total=0
for t in "$@"; do
    mkdir -p "tests/fuzz/corpus/$t"
    # -max_len: inspect and restore need whole guest images (the biggest seed, and a
    # little room to grow); the reader targets mutate faster on prefixes, and a short one
    # still reaches every record type.
    max_len=131072
    case $t in
    inspect | restore)
        biggest=$(wc -c tests/fuzz/seeds/$t/* | sort -n | tail -2 | head -1 | awk '{print $1}')
        max_len=$((${biggest:-1048576} + 65536)) ;;
    esac
    [ "$mode" = runs ] && case $t in inspect | restore) limit=-runs=${FUZZ_RUNS_IMAGE:-$((n / 20))} ;; *) limit=-runs=$n ;; esac
    "./tests/fuzz/lf_$t" "$limit" -max_len=$max_len -timeout=20 -rss_limit_mb=4096 -reload=0 -print_final_stats=1 \
        -artifact_prefix="tests/fuzz/crash-$t-" "tests/fuzz/corpus/$t" "tests/fuzz/seeds/$t" \
        >"tests/fuzz/$t.log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "tests/fuzz/$t.log")
    echo "fuzz_$t: ${execs:-?} executions, exit $rc"
    total=$((total + ${execs:-0}))
    if [ "$rc" -ne 0 ]; then
        grep -E 'ERROR|SUMMARY|Test unit written' "tests/fuzz/$t.log" | head -5
        status=1
    fi
done
echo "fuzz: $total executions in all"
exit $status
