"""The package's shape (issue 12): short functions, no import cycle, no copied logic.

Each check reads the source (AST, or the `duplicates` command) and never runs
ocirun. The lists below are explicit exceptions; an entry that no longer
applies fails too, so that none outlives its reason.
"""
import ast
import os
import re
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG = os.path.join(REPO, "ocirun")
MAX_LINES = 60  # from the `def` line to the last line of the body, docstring included

# Functions that are a data table and nothing else may be longer. Expected empty:
# a table belongs in a module-level constant, with a short function around it.
DATA_TABLE_FUNCTIONS = set()

# Being split on branch proto/seam (issue 12) while this list was written; the
# lead empties it at merge.
BEING_SPLIT = set()

# Import cycles being broken on branch proto (issue 12); the lead empties it at merge.
CYCLES_BEING_BROKEN = [
]


def sources():
    """{path relative to ocirun/: parsed module} for every .py file of the package."""
    out = {}
    for dirpath, dirs, files in os.walk(PKG):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as f:
                    out[os.path.relpath(path, PKG)] = ast.parse(f.read(), path)
    return out


# -- (a) function length --------------------------------------------------------------


def function_lengths():
    """{"file.py:Qual.name": lines} for every function, methods and nested ones included."""
    out = {}

    def visit(node, rel, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                qual = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    out[f"{rel}:{qual}"] = child.end_lineno - child.lineno + 1
                visit(child, rel, qual + ".")
            else:
                visit(child, rel, prefix)

    for rel, tree in sources().items():
        visit(tree, rel, "")
    return out


def test_no_function_is_over_60_lines():
    lengths = function_lengths()
    assert lengths, "no function found: is PKG right?"
    long = {name: n for name, n in lengths.items() if n > MAX_LINES}
    unexpected = {name: n for name, n in long.items() if name not in DATA_TABLE_FUNCTIONS | BEING_SPLIT}
    assert not unexpected, f"functions over {MAX_LINES} lines (split them): {unexpected}"


def test_length_exceptions_are_still_needed():
    lengths = function_lengths()
    stale = sorted(name for name in DATA_TABLE_FUNCTIONS | BEING_SPLIT if lengths.get(name, 0) <= MAX_LINES)
    assert not stale, f"gone or no longer over {MAX_LINES} lines: remove from the lists above: {stale}"


# -- (b) import cycles ----------------------------------------------------------------


def module_name(rel):
    """"cgroups/base.py" -> "ocirun.cgroups.base"; a package's __init__.py is the package."""
    parts = ["ocirun"] + rel[:-3].split(os.sep)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph():
    """{module: set of ocirun modules it imports}, function-level imports included.

    `from X import a` is an edge to X.a when that is a module, else to X.
    Importing a submodule also runs its package's __init__ first, but that is
    not counted as an edge: a package whose __init__ imports its own
    submodules would otherwise always be a cycle. A submodule that names the
    package (`from ocirun.cgroups import load_manager`) is an edge to it.
    Imports built at run time (cli's `__import__(f"ocirun.commands.{cmd}")`)
    cannot be seen and do not count.
    """
    trees = sources()
    names = {module_name(rel): (rel, tree) for rel, tree in trees.items()}
    graph = {}
    for mod, (rel, tree) in names.items():
        package = mod if rel.endswith("__init__.py") else mod.rpartition(".")[0]
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package
                    for _ in range(node.level - 1):
                        base = base.rpartition(".")[0]
                    base = f"{base}.{node.module}" if node.module else base
                else:
                    base = node.module or ""
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    if sub in names:
                        edges.add(sub)
                    elif base in names:
                        edges.add(base)
        edges.discard(mod)
        graph[mod] = edges
    return graph


def strongly_connected(graph):
    """Tarjan's algorithm, iteratively: the components with more than one module."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_tarjan_finds_cycles_and_only_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": {"a"}, "g": set()}
    assert sorted(map(sorted, strongly_connected(graph))) == [["a", "b", "c"], ["d", "e"]]
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_graph_counts_function_level_and_relative_imports():
    graph = import_graph()
    # cgroups/__init__.py imports .v1 / .v2 inside create_manager() only.
    assert {"ocirun.cgroups.v1", "ocirun.cgroups.v2", "ocirun.cgroups.mounts"} <= graph["ocirun.cgroups"]
    # cli.py imports help inside usage() only.
    assert "ocirun.help" in graph["ocirun.cli"]


def test_no_import_cycle_in_the_package():
    cycles = strongly_connected(import_graph())
    unexpected = [sorted(c) for c in cycles if c not in CYCLES_BEING_BROKEN]
    assert not unexpected, f"import cycles (move what both need into a lower module): {unexpected}"


def test_cycle_exceptions_are_still_needed():
    cycles = strongly_connected(import_graph())
    stale = [sorted(c) for c in CYCLES_BEING_BROKEN if c not in cycles]
    assert not stale, f"no longer a cycle: remove from CYCLES_BEING_BROKEN: {stale}"


# -- (c) duplicated logic ---------------------------------------------------------------
#
# `duplicates` (/work/.library/duplicates/README.md) lists pairs of places sharing
# 6 or more lines, blank lines, comments and imports aside. What counts here:
# - a row without `shape`: at least one run is the same to the letter in both
#   places. That is copied logic, always: it fails unless listed below.
# - a row with `shape`: the same lines but for names, strings and numbers. That
#   is often one pattern applied to different data (a clause per schema keyword,
#   a check per config section), which is no logic to share; and sometimes the
#   same algorithm written twice with other names (paths.clean and
#   validate._lexical_clean). The tool cannot tell which, so each shape pair is
#   reviewed by hand once and listed with its verdict; a new one fails until
#   someone factors it out or adds it here with the reason.
# - `left out:` runs (a run in more than 8 places, which the tool does not name):
#   bisecting the package showed them to be rows of the flag tables in cli.py
#   and of the mount-option tables in mountopts.py (data). Their count is pinned:
#   a new one fails until it has been looked at the same way.
# Pairs are keyed by their two files (lines move with every edit).

SHAPE_ONLY = {  # reviewed: the same pattern over different data, nothing to share
    ("spec/validate.py", "spec/validate.py"):
        "one check per config section: take the object, look a field up in its table, name the path",
    ("mountopts.py", "mountopts.py"):
        "option tables: rows of (clears?, bit), MS_* for mount(2), MOUNT_ATTR_* for mount_setattr(2)",
    ("spec/fastschema.py", "spec/fastschema.py"):
        "one compiler clause per JSON-schema keyword (minLength/maxLength, minItems/maxItems, ...)",
}
LEFT_OUT_RUNS = 3  # rows of tables: cli.py flags, mountopts.py options, sysops.py operations

# Shared logic known and being factored out elsewhere (a stopgap while another
# branch restructures the files); empty: every such pair has been removed.
SHARED_BEING_REMOVED = {}

ROW = re.compile(r"^D\d+ (\S+):\d+-\d+ ~ (\S+):\d+-\d+(.*)$")


def duplicates_report():
    exe = shutil.which("duplicates")
    if exe is None:
        pytest.skip("the `duplicates` command is not on PATH (a workplace tool, not a package)")
    p = subprocess.run([exe, "--repo", PKG, "--most", "200", "--seconds", "120"], capture_output=True,
                       text=True, timeout=300, cwd=REPO)
    assert p.returncode == 0, p.stderr
    return p.stdout.splitlines()


def classify(lines):
    """(rows [(file pair, is_shape)], left-out run count, problems)."""
    rows, left_out, problems = [], 0, []
    for line in lines[1:]:
        m = ROW.match(line)
        if m:
            pair = tuple(sorted((m.group(1), m.group(2))))
            rows.append((pair, "shape" in m.group(3).split()))
        elif line.startswith("left out:"):
            n = re.search(r"(\d+) runs? of \d+ lines that stand in more than", line)
            if n:
                left_out += int(n.group(1))
            else:
                problems.append(line)
        elif line.strip():
            problems.append(line)  # "incomplete: ...", "(+N more pairs)": not everything was judged
    return rows, left_out, problems


def test_classify_reads_the_report_format():
    rows, left_out, problems = classify([
        "3 pairs of places (9 files read), ...",
        "D1 b.py:1-9 ~ a.py:3-11 (+2 more runs)",
        "D2 a.py:1-9 ~ a.py:20-28 shape boilerplate",
        "left out: 2 runs of 6 lines that stand in more than 8 places each (too common to list)",
        "incomplete: time: ...",
    ])
    assert rows == [(("a.py", "b.py"), False), (("a.py", "a.py"), True)]
    assert left_out == 2 and problems == ["incomplete: time: ..."]


def test_duplicates_finds_no_shared_logic():
    rows, left_out, problems = classify(duplicates_report())
    assert not problems, problems
    bad = [f"{a} ~ {b}{' (shape)' if shape else ''}" for (a, b), shape in rows
           if (a, b) not in SHARED_BEING_REMOVED and (not shape or (a, b) not in SHAPE_ONLY)]
    assert not bad, f"duplicated logic (run `duplicates` in ocirun/ and factor it out): {bad}"
    assert left_out <= LEFT_OUT_RUNS, f"{left_out} runs too common to list (was {LEFT_OUT_RUNS}): find them"


def test_duplicates_exceptions_are_still_needed():
    rows, _left_out, _problems = classify(duplicates_report())
    pairs = {pair for pair, _shape in rows}
    stale = sorted(set(SHAPE_ONLY) - pairs) + sorted(set(SHARED_BEING_REMOVED) - pairs)
    assert not stale, f"no longer reported: remove from the lists above: {stale}"
