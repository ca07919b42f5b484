#!/bin/sh
# tests/xen/build-xen.sh - the hypervisor the Xen tier boots, built from
# Debian's `xen` source package.
#
# Debian's own binary lacks what the tier tests: its 4.17.7 security update
# is built without shadow paging (so no log-dirty mode for PV guests, so no
# live migration) and every 4.17 build without 32-bit PV.  This script
# builds the hypervisor exactly as debian/rules does (debian/xen-kconfig,
# `make -C xen olddefconfig`, the same make variables) with two options
# added: CONFIG_SHADOW_PAGING=y and CONFIG_PV32=y.  Nothing else changes.
#
# The source comes through apt with a private configuration: a deb-src
# entry for each of the machine's own Debian entries (same URI, suites,
# components and key), with its own lists and cache folders, so the
# machine's apt configuration and package lists are never touched.  The
# newest source version whose dom0 tools (xen-utils-4.17) apt can also
# fetch is built; the tier then takes the tools at that same version.
#
# The result is cached outside the work tree, keyed by the source version:
#   $XG_CACHE_DIR/xen-VERSION/  xen.gz, xen.config (the build's .config),
#                               config.diff (against Debian's binary of the
#                               same version, when there is one), build.log,
#                               build.seconds
# A second run with the same version builds nothing.  Progress goes to
# stderr; the last line on stdout is "VERSION DIR".  A machine where this
# cannot work (no deb-src answer, no compiler) gets one clear line and a
# non-zero exit: the tier never falls back to Debian's binary.
#
# Environment: XG_CACHE_DIR (default /var/cache/xg-test).
set -eu

cache=${XG_CACHE_DIR:-/var/cache/xg-test}
apt_dir=$cache/apt-src
say() { printf 'xen-tier: %s\n' "$*" >&2; }
die() { printf 'xen-tier: FAIL: cannot build the hypervisor: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- apt, privately
# deb-src lines for the machine's own Debian entries, from deb822 .sources
# files and one-line .list files.
machine_src_entries() {
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && uris != "" && suites != "")
                    for (i = 1; i <= nu; i++)
                        for (j = 1; j <= ns; j++)
                            printf "deb-src %s%s %s %s\n", key == "" ? "" : "[signed-by=" key "] ", u[i], s[j], comps
                types = uris = suites = comps = key = ""; nu = ns = 0
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            { v = $0; sub(/^[^:]*:[ \t]*/, "", v) }
            tolower($1) == "types:" { types = v }
            tolower($1) == "uris:" { uris = v; nu = split(v, u, /[ \t]+/) }
            tolower($1) == "suites:" { suites = v; ns = split(v, s, /[ \t]+/) }
            tolower($1) == "components:" { comps = v }
            tolower($1) == "signed-by:" { key = v }
            END { flush() }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -n 's/^[ \t]*deb[ \t]\+/deb-src /p' "$f"
    done
}

apt_private() { # apt-get or apt-cache with the private configuration
    tool=$1
    shift
    "$tool" -o Dir::Etc::sourcelist="$apt_dir/sources.list" -o Dir::Etc::sourceparts=- \
        -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache" \
        -o APT::Sandbox::User=root "$@"
}

update_sources() {
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/src"
    machine_src_entries | grep -i debian >"$apt_dir/sources.list.new" || true
    [ -s "$apt_dir/sources.list.new" ] ||
        die "no Debian entry in /etc/apt/sources.list{,.d} to derive a deb-src entry from"
    mv "$apt_dir/sources.list.new" "$apt_dir/sources.list"
    apt_private apt-get update >"$apt_dir/update.log" 2>&1 ||
        { sed 's/^/  | /' "$apt_dir/update.log" >&2; die "apt-get update of the deb-src entries failed"; }
}

# Source versions of xen, newest first.
source_versions() {
    apt_private apt-cache showsrc xen 2>/dev/null | sed -n 's/^Version: //p' | sort -u |
        while read -r v; do printf '%s\n' "$v"; done | sort -r -V
}

# ---------------------------------------------------------------- build
build() { # VERSION DIR
    v=$1 dir=$2
    src=$apt_dir/src
    rm -rf "$src" "$dir.new"
    mkdir -p "$src" "$dir.new"
    (cd "$src" && apt_private apt-get source --download-only "xen=$v") >"$dir.new/fetch.log" 2>&1 ||
        return 1
    for t in gcc make flex bison python3 dpkg-source; do
        command -v $t >/dev/null 2>&1 || die "$t not found (the tier installs gcc make flex bison python3 dpkg-dev)"
    done
    say "building Xen $v from Debian's source (+ CONFIG_SHADOW_PAGING=y CONFIG_PV32=y); log: $dir.new/build.log"
    t0=$(date +%s)
    dsc=$(ls "$src"/xen_*.dsc)
    (cd "$src" && dpkg-source -x "$dsc" tree) >"$dir.new/build.log" 2>&1 ||
        { tail -n 5 "$dir.new/build.log" >&2; die "dpkg-source -x $dsc failed"; }
    tree=$src/tree
    [ -f "$tree/debian/xen-kconfig" ] || die "no debian/xen-kconfig in xen $v"
    # debian/rules: make_args_common and make_args_xen, without V=1 and the
    # prefix maps (these only make the build reproducible).
    args="XEN_COMPILE_ARCH=x86_64 XEN_TARGET_ARCH=x86_64"
    # debian/rules: cp debian/xen-kconfig xen/.config; make -C xen olddefconfig.
    cp "$tree/debian/xen-kconfig" "$tree/xen/.config"
    printf '# The Xen tier (xg): log-dirty for PV guests, and 32-bit PV.\nCONFIG_SHADOW_PAGING=y\nCONFIG_PV32=y\n' \
        >>"$tree/xen/.config"
    # shellcheck disable=SC2086
    make -C "$tree/xen" olddefconfig $args >>"$dir.new/build.log" 2>&1 ||
        { tail -n 15 "$dir.new/build.log" >&2; die "make -C xen olddefconfig failed"; }
    for opt in CONFIG_SHADOW_PAGING CONFIG_PV32; do
        grep -q "^$opt=y" "$tree/xen/.config" || die "$opt=y did not survive olddefconfig"
    done
    # shellcheck disable=SC2086
    nice -n 5 make -C "$tree/xen" -j"$(nproc 2>/dev/null || echo 2)" $args >>"$dir.new/build.log" 2>&1 ||
        { tail -n 15 "$dir.new/build.log" >&2; die "make -C xen failed (log: $dir.new/build.log)"; }
    [ -s "$tree/xen/xen.gz" ] || die "make -C xen made no xen/xen.gz"
    cp "$tree/xen/xen.gz" "$dir.new/xen.gz"
    cp "$tree/xen/.config" "$dir.new/xen.config"
    echo $(( $(date +%s) - t0 )) >"$dir.new/build.seconds"
    printf '%s\n' "$v" >"$dir.new/version"
    rm -rf "$dir" "$src"
    mv "$dir.new" "$dir"
    say "built Xen $v in $(cat "$dir/build.seconds") s: $dir/xen.gz"
}

# ---------------------------------------------------------------- main
mkdir -p "$cache"
update_sources
versions=$(source_versions)
[ -n "$versions" ] ||
    die "apt knows no source package xen from the deb-src entries ($(tr '\n' ';' <"$apt_dir/sources.list"))"
chosen=
for v in $versions; do
    # The dom0 tools must be of the same version as the hypervisor.
    if ! apt-cache show "xen-utils-4.17=$v" >/dev/null 2>&1; then
        say "xen $v: apt has no xen-utils-4.17 of that version; skipped"
        continue
    fi
    dir=$cache/xen-$v
    if [ -s "$dir/xen.gz" ] && [ -s "$dir/version" ]; then
        chosen=$v
        break
    fi
    if build "$v" "$dir"; then
        chosen=$v
        break
    fi
    say "xen $v: the source could not be fetched ($(grep -E '^E:' "$dir.new/fetch.log" | head -n 1)); trying an older one"
    rm -rf "$dir.new"
done
[ -n "$chosen" ] || die "none of the source versions of xen apt offers ($(echo $versions)) could be fetched with xen-utils-4.17 of the same version"
echo "$chosen $cache/xen-$chosen"
