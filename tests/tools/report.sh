#!/bin/sh
# report.sh - the XML reports (docs/report.md) say what the tools said.
#
# xc_save --report, xc_restore --report and xg-inspect --xml on a good
# guest and on bad ones (a save refused for a foreign PTE, an image whose
# tables were saved as ordinary pages).  Each report must be well-formed
# XML with the documented root; result/code must match the exit status;
# its figures must agree with what the tool printed (store-mfn, the
# inspect summary's table counts) and with each other (pages by type add
# up to the pfns); its findings must be the errors printed on stderr.
# Python 3's XML parser reads the reports (python3 is a test dependency).
set -u
builddir=${abs_top_builddir:-$(pwd)}
sim=$builddir/tools/xg-sim/xg-sim
save=$builddir/tools/xc_save/xc_save
restore=$builddir/tools/xc_restore/xc_restore
inspect=$builddir/tools/xg-inspect/xg-inspect
mutate=$builddir/tests/tools/xg-mutate

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
python=$(command -v python3) || fail "python3 not found (Debian: apt-get install python3)"
for t in "$sim" "$save" "$restore" "$inspect" "$mutate"; do
    [ -x "$t" ] || fail "$t is not built (make check builds it)"
done
work=$(mktemp -d "${TMPDIR:-/tmp}/xg-report.XXXXXX") || fail "mktemp"
trap 'rm -rf "$work"' EXIT INT TERM
cd "$work" || fail "cd"

passed=0
failed=0
# xq FILE EXPR: evaluate a python expression over the parsed report `r`
# (the root element); prints its value.  Exit 3 when the file is not XML.
xq() {
    "$python" - "$1" "$2" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    r = ET.parse(sys.argv[1]).getroot()
except Exception as e:
    print("not well-formed XML: %s" % e, file=sys.stderr)
    sys.exit(3)
def a(path, name):
    n = r.find(path)
    return None if n is None else n.get(name)
def types(path):
    return sum(int(t.get("pages")) for t in r.findall(path + "/types/type"))
def pinned_types(path):
    return sum(int(t.get("pages")) for t in r.findall(path + "/types/type") if "LPINTAB" in t.get("name"))
print(eval(sys.argv[2]))
PY
}
expect() { # WHAT WANT GOT
    if [ "$2" = "$3" ]; then
        passed=$((passed + 1))
    else
        echo "FAIL: $1: expected '$2', got '$3'" >&2
        failed=$((failed + 1))
    fi
}

"$sim" init src.host --frames 65536 >/dev/null || fail "xg-sim init"
"$sim" init dst.host --frames 65536 >/dev/null || fail "xg-sim init"
dom=$("$sim" create src.host --layout linux64 --mem 16M --vcpus 2 --seed 3) || fail "xg-sim create"

# ---- a good save, restore and inspection
"$save" --backend sim:src.host --domid "$dom" --out g.img --report save.xml || fail "xc_save"
expect "save: root" "xg-report xc_save ok XG_OK" "$(xq save.xml 'r.tag + " " + r.get("tool") + " " + r.get("result") + " " + r.get("code")')"
expect "save: domid" "$dom" "$(xq save.xml 'r.get("domid")')"
expect "save: pages by type add up to the pfns" "$(xq save.xml 'a("figures/save", "pfns")')" "$(xq save.xml 'types("figures/save")')"
expect "save: tables-pinned is the pinned types" "$(xq save.xml 'a("figures/save", "tables-pinned")')" "$(xq save.xml 'pinned_types("figures/save")')"
expect "save: bytes is the image size" "$(wc -c <g.img | tr -d ' ')" "$(xq save.xml 'a("figures/save", "bytes")')"
expect "save: no findings" "0" "$(xq save.xml 'r.find("diagnostics").get("errors")')"

out=$("$restore" --backend sim:dst.host --create --vcpus 2 --in g.img --report restore.xml) || fail "xc_restore"
expect "restore: result" "ok" "$(xq restore.xml 'r.get("result")')"
expect "restore: store-mfn as printed" "$(echo "$out" | awk '/^store-mfn/ {print $2}')" "$(xq restore.xml 'a("figures/restore", "store-mfn")')"
expect "restore: console-mfn as printed" "$(echo "$out" | awk '/^console-mfn/ {print $2}')" "$(xq restore.xml 'a("figures/restore", "console-mfn")')"
expect "restore: every pfn populated" "$(xq restore.xml 'a("figures/restore", "pfns")')" "$(xq restore.xml 'a("figures/restore", "pages")')"
expect "restore: pins made = tables marked pinned" "$(xq restore.xml 'a("figures/restore", "tables-recorded-pinned")')" "$(xq restore.xml 'a("figures/restore", "tables-pinned")')"
expect "restore: vcpus" "2" "$(xq restore.xml 'a("figures/restore", "vcpus")')"
expect "restore: not a check" "None" "$(xq restore.xml 'a("figures/restore", "check-only")')"

summary=$("$inspect" g.img --xml inspect.xml) || fail "xg-inspect g.img"
tables=$(echo "$summary" | sed -n 's/^tables: *\([0-9]*\) (\([0-9]*\) pinned; \([0-9]*\) live, \([0-9]*\) stale)$/\1 \2 \3 \4/p')
expect "inspect: table counts as printed" "$tables" "$(xq inspect.xml '" ".join(a("figures/restore", k) for k in ("tables", "tables-recorded-pinned", "tables-live", "tables-stale"))')"
expect "inspect: a check, without pages, pins or vcpus" "yes None None None" "$(xq inspect.xml '" ".join(str(a("figures/restore", k)) for k in ("check-only", "pages", "tables-pinned", "vcpus"))')"
expect "inspect: vcpus as printed" "$(echo "$summary" | sed -n 's/^vcpus: *//p')" "$(xq inspect.xml 'a("figures/restore", "image-vcpus")')"
expect "inspect: vcpu1's tables as printed" \
    "$(echo "$summary" | sed -n 's/^  vcpu1 *cr3 pfn \(0x[0-9a-f]*\) (\([^)]*\)), user cr3 pfn \(0x[0-9a-f]*\) (\([^)]*\))$/\1 \2 \3 \4/p')" \
    "$(xq inspect.xml '" ".join(r.findall("figures/restore/vcpu")[1].get(k) for k in ("cr3-pfn", "cr3-type", "user-cr3-pfn", "user-cr3-type"))')"
expect "inspect: vcpu1 starts on a pinned L4" "L4TAB|LPINTAB" "$(xq inspect.xml 'r.findall("figures/restore/vcpu")[1].get("cr3-type")')"
expect "inspect: the image parameter" "g.img" "$(xq inspect.xml 'r.find("params/param[@name=\"image\"]").get("value")')"

# ---- an image whose tables were saved as ordinary pages
"$mutate" g.img notab.img --tables-as NOTAB >/dev/null || fail "xg-mutate"
if "$inspect" notab.img --xml notab.xml >/dev/null 2>notab.err; then
    expect "inspect notab: exit status" 1 0
fi
expect "inspect notab: result" "failed XG_E_IMAGE" "$(xq notab.xml 'r.get("result") + " " + r.get("code")')"
expect "inspect notab: errors = error lines on stderr" "$(grep -c '^error:' notab.err)" "$(xq notab.xml 'r.find("diagnostics").get("errors")')"
first_pfn=$(sed -n '1s/.*points to pfn \(0x[0-9a-f]*\).*/\1/p' notab.err)
expect "inspect notab: first finding's pfn as printed" "$first_pfn" "$(xq notab.xml 'r.find("diagnostics/finding/context").get("pfn")')"
expect "inspect notab: first finding's message as printed" "$(sed -n '1s/^error: \(.*\) \[.*$/\1/p' notab.err)" "$(xq notab.xml 'r.find("diagnostics/finding/message").text')"
expect "inspect notab: what Xen would log" "True" "$(xq notab.xml 'bool(r.find("diagnostics/finding/xen").text)')"
expect "inspect notab: vcpu0 starts on an ordinary page" "NOTAB" "$(xq notab.xml 'r.find("figures/restore/vcpu").get("cr3-type")')"

# ---- a save refused: a guest L1 maps another domain's frame
bad=$("$sim" create src.host --layout linux64 --mem 16M --seed 4 --fault foreign-pte) || fail "xg-sim create --fault"
if "$save" --backend sim:src.host --domid "$bad" --out bad.img --report bad.xml 2>bad.err; then
    expect "foreign-pte save: exit status" 1 0
fi
expect "foreign-pte save: result" "failed" "$(xq bad.xml 'r.get("result")')"
expect "foreign-pte save: no figures of an image never written" "None" "$(xq bad.xml 'r.find("figures/save")')"
expect "foreign-pte save: the owner is named" "True" "$(xq bad.xml 'any(c.get("owner") not in (None, "'"$bad"'") for c in r.findall("diagnostics/finding/context"))')"
expect "foreign-pte save: the level and slot" "1 True" "$(xq bad.xml 'r.find("diagnostics/finding/context").get("level") + " " + str(r.find("diagnostics/finding/context").get("slot") is not None)')"
[ ! -e bad.img ] || expect "foreign-pte save: no image left" "absent" "present"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
