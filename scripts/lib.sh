# scripts/lib.sh - shared by demo.sh and test.sh: dependencies and the build.
# Sourced, not run.

XG_SRC=$(cd "$(dirname "$0")/.." && pwd)

say() { printf '\n== %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Debian 12 packages: the build, the libraries xg uses, and what the tests run.
XG_DEPS="gcc make autoconf automake libtool pkg-config zlib1g-dev libxml2-dev check python3 valgrind dpkg-dev libxen-dev debhelper lintian man-db universal-ctags clang-format"
# The fuzz smoke step (tests/fuzz, ./configure --enable-fuzzing): clang, libFuzzer and its sanitizers.
XG_DEPS="$XG_DEPS clang libclang-rt-dev"

# Install what is missing (needs root and apt-get; says so otherwise).
need_deps() {
    missing=""
    for p in $XG_DEPS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    say "installing:$missing"
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || die "missing packages:$missing (run as root, or install them)"
        SUDO=sudo
    else
        SUDO=
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y --no-install-recommends $missing >/dev/null 2>&1 ||
        { $SUDO apt-get update >/dev/null 2>&1 && $SUDO apt-get install -y --no-install-recommends $missing >/dev/null; } ||
        die "apt-get could not install:$missing"
}

# Generate configure once (and again when configure.ac or Makefile.am change).
need_configure() {
    if [ ! -x "$XG_SRC/configure" ] || [ "$XG_SRC/configure.ac" -nt "$XG_SRC/configure" ] ||
       [ "$XG_SRC/Makefile.am" -nt "$XG_SRC/Makefile.in" ]; then
        say "autoreconf"
        (cd "$XG_SRC" && autoreconf -fi >/dev/null 2>&1) || (cd "$XG_SRC" && autoreconf -fi) || die "autoreconf failed"
    fi
}

# build DIR CONFIGURE-ARGS...: an out-of-tree build in $XG_SRC/DIR.
build() {
    dir="$XG_SRC/$1"; shift
    mkdir -p "$dir"
    if [ ! -f "$dir/Makefile" ] || [ "$dir/config.status" -ot "$XG_SRC/configure" ]; then
        (cd "$dir" && "$XG_SRC/configure" -q "$@") || die "configure failed in $dir"
    fi
    (cd "$dir" && make -s -j"$(nproc)" >/dev/null) || (cd "$dir" && make -j"$(nproc)") || die "build failed in $dir"
}
