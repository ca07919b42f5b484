#!/bin/sh
# scripts/test.sh - the whole test suite, from a fresh Debian 12 machine:
# install what is missing, then
#   1. build with -Werror and run `make check` (unit tests, the simulated
#      host's rules, Xen's own verify-stream-v2 on xg's images, the real
#      Xen 4.17 fixture, the scenario harness),
#   2. build with AddressSanitizer + UBSan and run `make check` again,
#   2b. build the libFuzzer targets with clang and run `make fuzz-smoke`,
#   3. run the unit tests under valgrind,
#   4. boot Xen 4.17 under QEMU and run the tools against the real
#      hypervisor (make check-xen: xl save/restore with xg's libxl helper,
#      interoperability with Xen's own helper both ways, xc_save, a bad
#      image refused),
#   5. make distcheck (the tarball builds, passes make check, installs and
#      cleans up after itself),
#   6. the Debian packages: build, lintian, install, compile against the
#      installed libxg.pc, purge; xg-xl-helper's divert (tests/pkg).
# Results of each stage, and the JUnit XML of the scenario harness, are in
# _build/*/test-suite.log and _build/check/tests/scenario/junit.xml.
set -eu
. "$(dirname "$0")/lib.sh"

need_deps
need_configure
status=0
start=$(date +%s)

say "build (-Werror) and make check"
build _build/check --enable-werror --with-xen=auto
(cd "$XG_SRC/_build/check" && make -j2 check) || { status=1; cat "$XG_SRC/_build/check/test-suite.log" || true; }

say "sanitizers (ASan + UBSan) and make check"
build _build/san --enable-werror --enable-sanitizers --with-xen=auto
(cd "$XG_SRC/_build/san" && ASAN_OPTIONS=detect_leaks=1 make -j2 check) || { status=1; cat "$XG_SRC/_build/san/test-suite.log" || true; }

say "fuzz smoke (libFuzzer, clang, ASan + UBSan; docs/fuzzing.md)"
t=$(date +%s)
# No --enable-werror: clang warns where gcc does not; the gcc builds above hold -Werror.
build _build/fuzz --enable-fuzzing --with-xen=no
(cd "$XG_SRC/_build/fuzz" && make fuzz-smoke) || status=1
echo "fuzz smoke: $(( $(date +%s) - t )) s"

say "valgrind"
(cd "$XG_SRC/_build/check" && make check-valgrind) || status=1

say "the tier on real Xen (Xen 4.17 under QEMU, TCG; tests/xen/README.md)"
(cd "$XG_SRC/_build/check" && make check-xen) || status=1

say "make distcheck"
t=$(date +%s)
(cd "$XG_SRC/_build/check" && make -j2 distcheck >distcheck.log 2>&1) ||
    { status=1; tail -n 40 "$XG_SRC/_build/check/distcheck.log"; }
echo "distcheck: $(( $(date +%s) - t )) s"

say "Debian packages (tests/pkg/packages.sh)"
t=$(date +%s)
sh "$XG_SRC/tests/pkg/packages.sh" || status=1
echo "packages: $(( $(date +%s) - t )) s"

say "done in $(( $(date +%s) - start )) s: $( [ $status = 0 ] && echo PASS || echo FAIL )"
exit $status
