#!/usr/bin/env python3
"""structure.py - the shape of libxg: cross-file calls, call cycles, sizes.

Reports, for the C files under ROOT (default libxg):
  calls      the cross-file function calls, by folder and by file (--calls)
  folders    every call cycle between folders, and every call between folders
             that the layer order (--layers) does not allow
  cycles     every call cycle between files
  files      every .c file over 900 lines
  functions  every function over 120 lines
  width      every line wider than 100 columns

Each check is a report unless enforced: --enforce=all or --enforce=folders,cycles,...
(or XG_STRUCTURE_ENFORCE with the same value); an enforced check that finds
something makes the exit status 1.  Exit 0: nothing enforced was found; 1: an
enforced check failed; 2: usage error; 99: the check could not run (ctags
missing or failing, no function found) -- never a silent pass.

Method and its limits.  Universal Ctags (`ctags`, or $CTAGS) gives every
function definition: its name, file, first and last line, and whether it is
static.  A small tokenizer then reads each function's body with comments,
string and character literals and preprocessor lines removed, and takes
every identifier followed by "(" as a call.  A call to a name resolves to
the static function of that name in the same file if there is one, else to
every file that defines it non-static; calls to names defined nowhere under
ROOT (libc, libxml2, Xen) are ignored.  So the graph does NOT see: calls
made through function pointers (the hv backends' ops tables, callbacks),
calls written inside macro bodies (a macro's uses are seen only if the
macro expands to a visible "name("), nor code ctags cannot parse.  A macro
named like a function counts as a call only if a function of that name
exists.  A static inline function in a header belongs to that header, so a
header whose inline calls back into a .c file that includes it makes a cycle.
Lines are counted as ctags gives them (the closing brace included).

Cycles are reported as groups of files (or folders) that all reach each
other (strongly connected components), each with the calls between its
members, so every circle in a group can be read off its edges.  A folder is
a file's directory, named from ROOT's parent (libxg, libxg/hv), except the
files PLACED puts elsewhere: ROOT/internal.h, the library-wide header that
declares util/'s functions and includes its headers, belongs to ROOT/util, so
a static inline added there is a bottom-layer helper, not a call to the top.

The layer order.  --layers lists the folders from the top down, "|" between
layers, e.g. ". | save restore | hv | hv/sim | pv stream | util": a call may go
from a folder to a folder in a lower layer only; a call within one layer
between two folders, a call upward, and a folder the order does not name are
each a "folders" finding.  For ROOT libxg the default is libxg's order
(LIBXG_LAYERS: the public entries and the XML report at the top, the engines,
the hypervisor interface and its simulator, the stream codec and PV page-table
logic, util/ -- findings, allocation, I/O, byte order -- at the bottom); for
another ROOT, no order unless --layers gives one (cycles are still found).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict

CHECKS = ("folders", "cycles", "files", "functions", "width")
LIBXG_LAYERS = ". | save restore | hv | hv/sim | pv stream | util"
PLACED = {"internal.h": "util"}
MAX_FILE_LINES = 900
MAX_FUNCTION_LINES = 120
MAX_COLUMNS = 100
EXIT_HARD = 99

KEYWORDS = {
    "if", "while", "for", "switch", "return", "sizeof", "_Alignof", "alignof", "_Generic",
    "__attribute__", "__typeof__", "typeof", "defined", "do", "else", "case", "_Static_assert",
    "static_assert", "__builtin_expect", "offsetof",
}

TOKEN = re.compile(
    r"""//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|([A-Za-z_]\w*)(?=\s*\()""",
    re.S)


def hard(msg):
    print("structure: " + msg, file=sys.stderr)
    sys.exit(EXIT_HARD)


def c_files(root):
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                out.append(os.path.join(d, f))
    return out


def ctags_functions(ctags, files):
    """Every function definition: dicts with name, path, line, end, static."""
    cmd = [ctags, "--output-format=json", "--sort=no", "--languages=C", "--language-force=C",
           "--kinds-C=f", "--fields=+neF", "-o", "-"] + files
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as e:
        hard("cannot run %s: %s (install Universal Ctags)" % (ctags, e.strerror))
    if res.returncode != 0:
        hard("%s failed (exit %d): %s" % (ctags, res.returncode, res.stderr.strip()[:200]))
    funcs = []
    for line in res.stdout.splitlines():
        try:
            t = json.loads(line)
        except ValueError:
            hard("%s printed something that is not JSON: %.80s" % (ctags, line))
        if t.get("_type") != "tag" or t.get("kind") != "function":
            continue
        if "end" not in t:
            hard("%s gave no end line for %s (Universal Ctags needed)" % (ctags, t["name"]))
        funcs.append({"name": t["name"], "path": t["path"], "line": int(t["line"]),
                      "end": int(t["end"]), "static": bool(t.get("file"))})
    if not funcs:
        hard("%s found no function under the root" % ctags)
    return funcs


def strip_preprocessor(text):
    """Blank the preprocessor lines (with their continuations), keeping line numbers."""
    out, cont = [], False
    for line in text.split("\n"):
        pp = cont or line.lstrip().startswith("#")
        cont = pp and line.endswith("\\")
        out.append("" if pp else line)
    return "\n".join(out)


def called_names(text):
    """(line, name) of every identifier followed by "(", outside comments and literals."""
    for m in TOKEN.finditer(text):
        if m.group(1) and m.group(1) not in KEYWORDS:
            yield text.count("\n", 0, m.start()) + 1, m.group(1)


def call_graph(root, funcs):
    """Cross-file calls: {(caller file, callee file): [(caller, callee), ...]}."""
    static_in = defaultdict(set)
    extern_in = defaultdict(set)
    for f in funcs:
        if f["static"]:
            static_in[f["path"]].add(f["name"])
        else:
            extern_in[f["name"]].add(f["path"])
    by_file = defaultdict(list)
    for f in funcs:
        by_file[f["path"]].append(f)
    edges = defaultdict(set)
    for path, fs in by_file.items():
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = strip_preprocessor(fh.read())
        fs.sort(key=lambda f: f["line"])
        calls = list(called_names(text))
        for fn in fs:
            for line, name in calls:
                if line < fn["line"] or line > fn["end"] or name == fn["name"]:
                    continue
                if name in static_in[path]:
                    continue
                for target in extern_in.get(name, ()):
                    if target != path:
                        edges[(path, target)].add((fn["name"], name))
    return edges


def sccs(nodes, succ):
    """Tarjan's strongly connected components with more than one node, each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(succ.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return sorted(out)


def parse_layers(text, top):
    """{folder: layer index, 0 at the top} from "a | b c | d", each folder named as
    top/a (top: the root's own name); None for no order."""
    if text is None or not text.strip():
        return None
    rank = {}
    for i, layer in enumerate(text.split("|")):
        names = layer.split()
        if not names:
            raise ValueError("an empty layer in '%s'" % text)
        for name in names:
            name = os.path.normpath(os.path.join(top, name))
            if name in rank:
                raise ValueError("folder '%s' named twice in '%s'" % (name, text))
            rank[name] = i
    return rank


def layer_findings(fedges, folders, rank):
    """Calls between folders that the layer order does not allow, and unnamed folders."""
    out = []
    for f in sorted(folders):
        if f not in rank:
            out.append("folder not in the layer order: %s (name it in --layers)" % f)
    for (a, b) in sorted(fedges):
        if a not in rank or b not in rank or rank[a] < rank[b]:
            continue
        how = "upward" if rank[a] > rank[b] else "within one layer"
        out.append("call %s: %s -> %s" % (how, a, b))
        out.append("    " + " ".join(sorted("%s->%s" % p for p in fedges[(a, b)])[:6]))
    return out


def rel(path, root):
    return os.path.relpath(path, os.path.dirname(os.path.abspath(root)) or ".")


def main():
    ap = argparse.ArgumentParser(description="libxg's cross-file calls, call cycles and sizes")
    ap.add_argument("--root", default="libxg", help="the tree to read (default libxg)")
    ap.add_argument("--calls", action="store_true", help="list the cross-file calls")
    ap.add_argument("--layers", default=None,
                    help="the folders from the top down, '|' between layers (default for "
                    "libxg: '%s')" % LIBXG_LAYERS)
    ap.add_argument("--enforce", default=os.environ.get("XG_STRUCTURE_ENFORCE", ""),
                    help="checks that fail the run: all, or a comma list of "
                    + ",".join(CHECKS) + " (default $XG_STRUCTURE_ENFORCE, else none)")
    args = ap.parse_args()
    enforce = set()
    for word in filter(None, args.enforce.split(",")):
        if word == "all":
            enforce.update(CHECKS)
        elif word in CHECKS:
            enforce.add(word)
        else:
            print("structure: unknown check '%s' (want all or %s)" % (word, ",".join(CHECKS)),
                  file=sys.stderr)
            return 2
    if not os.path.isdir(args.root):
        print("structure: %s is not a directory" % args.root, file=sys.stderr)
        return 2
    layers = args.layers
    if layers is None and os.path.basename(os.path.normpath(args.root)) == "libxg":
        layers = LIBXG_LAYERS
    try:
        rank = parse_layers(layers, os.path.basename(os.path.normpath(args.root)))
    except ValueError as e:
        print("structure: --layers: %s" % e, file=sys.stderr)
        return 2
    ctags = os.environ.get("CTAGS") or shutil.which("ctags") or "ctags"
    files = c_files(args.root)
    if not files:
        hard("no C file under %s" % args.root)
    funcs = ctags_functions(ctags, files)
    edges = call_graph(args.root, funcs)
    R = lambda p: rel(p, args.root)
    found = {}

    # Folders: the directory of each file, named from the root's parent (libxg/hv).
    top = os.path.basename(os.path.normpath(args.root))
    placed = {os.path.join(top, k): os.path.join(top, v) for k, v in PLACED.items()}
    F = lambda p: placed.get(R(p), os.path.dirname(R(p)))
    folders = {F(p) for p in files}
    fedges = defaultdict(set)
    for (a, b), pairs in edges.items():
        da, db = F(a), F(b)
        if da != db:
            fedges[(da, db)].update((os.path.basename(a) + ":" + x, os.path.basename(b) + ":" + y)
                                    for x, y in pairs)
    if args.calls:
        print("cross-folder calls (caller folder -> callee folder: count)")
        for (a, b) in sorted(fedges):
            print("  %s -> %s: %d" % (a, b, len(fedges[(a, b)])))
        print("cross-file calls (caller file -> callee file: functions)")
        for (a, b) in sorted(edges, key=lambda e: (R(e[0]), R(e[1]))):
            names = sorted({y for _, y in edges[(a, b)]})
            print("  %s -> %s: %s" % (R(a), R(b), " ".join(names)))

    succ = defaultdict(set)
    for a, b in edges:
        succ[a].add(b)
    fsucc = defaultdict(set)
    for a, b in fedges:
        fsucc[a].add(b)
    lines = []
    for comp in sccs(set(succ) | {b for bs in succ.values() for b in bs}, succ):
        lines.append("file cycle: " + " <-> ".join(R(p) for p in comp))
        members = set(comp)
        for (a, b) in sorted(edges):
            if a in members and b in members:
                lines.append("    %s -> %s: %s" % (R(a), R(b),
                                                  " ".join(sorted({y for _, y in edges[(a, b)]}))))
    found["cycles"] = lines
    lines = []
    for comp in sccs(set(fsucc) | {b for bs in fsucc.values() for b in bs}, fsucc):
        lines.append("folder cycle: " + " <-> ".join(comp))
        for (a, b) in sorted(fedges):
            if a in comp and b in comp:
                lines.append("    %s -> %s: %s" % (a, b, " ".join(
                    sorted("%s->%s" % p for p in fedges[(a, b)])[:6])))
    if rank is not None:
        lines += layer_findings(fedges, folders, rank)
    found["folders"] = lines

    found["files"] = []
    found["width"] = []
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read().split("\n")
        if text and text[-1] == "":
            text.pop()
        if path.endswith(".c") and len(text) > MAX_FILE_LINES:
            found["files"].append("file over %d lines: %s (%d)" % (MAX_FILE_LINES, R(path),
                                                                    len(text)))
        wide = [i + 1 for i, l in enumerate(text) if len(l.expandtabs(8)) > MAX_COLUMNS]
        if wide:
            found["width"].append("lines over %d columns: %s: %d (first at line %d)"
                                  % (MAX_COLUMNS, R(path), len(wide), wide[0]))
    found["functions"] = [
        "function over %d lines: %s:%d %s (%d)" % (MAX_FUNCTION_LINES, R(f["path"]), f["line"],
                                                   f["name"], f["end"] - f["line"] + 1)
        for f in sorted(funcs, key=lambda f: (R(f["path"]), f["line"]))
        if f["end"] - f["line"] + 1 > MAX_FUNCTION_LINES]

    failed = False
    for check in CHECKS:
        mode = "error" if check in enforce else "report"
        print("%s (%s): %d found" % (check, mode, sum(1 for l in found[check]
                                                   if not l.startswith("    "))))
        for l in found[check]:
            print(("  " if not l.startswith("    ") else "") + l)
        if check in enforce and found[check]:
            failed = True
    print("structure: %d functions in %d files read; %d cross-file call edges" %
          (len(funcs), len(files), len(edges)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
