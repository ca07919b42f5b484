#!/bin/sh
# run.sh - the scenario harness's quick matrix, as `make check` runs it
# (from the top of the build tree).  Arguments go to the harness, so
# `tests/scenario/run.sh --full` runs the full matrix.
#
# The JUnit results go to tests/scenario/junit.xml in the build tree
# unless XG_SCENARIO_JUNIT names another file.
set -u
builddir=${abs_top_builddir:-$(pwd)}
harness=$builddir/tests/scenario/harness
if [ ! -x "$harness" ]; then
    echo "run.sh: $harness is not built (make check builds it)" >&2
    exit 99
fi
exec "$harness" --builddir "$builddir" --junit "${XG_SCENARIO_JUNIT:-$builddir/tests/scenario/junit.xml}" "$@"
