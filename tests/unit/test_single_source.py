"""Issue 12 §3, one source of truth: each table, constant and check lives in
one module and the others import it. These tests fail when one is written
again somewhere else (a copied table, a second MS_* list, a "1.3.0"
literal, a second CPU-list parser or path cleaner, a check with other words).
"""
import ast
import os
import pathlib
import string
import threading

import pytest
from hypothesis import given, settings, strategies as st

from ocirun import SPEC_VERSION, cpulist, fileio, mountopts, namespaces, paths, procattrs, seccomp, syscalls
from ocirun.errors import InvalidSpec
from ocirun.spec import validate

PKG = pathlib.Path(__file__).resolve().parents[2] / "ocirun"
SOURCES = {str(p.relative_to(PKG.parent)): ast.parse(p.read_text()) for p in sorted(PKG.rglob("*.py"))}

# Each table of names, and the one file that may spell it out.
TABLES = {
    "rlimit types": (procattrs.RLIMITS, "ocirun/procattrs.py"),
    "scheduler policies": (procattrs.SCHED_POLICIES, "ocirun/procattrs.py"),
    "scheduler flags": (procattrs.SCHED_FLAGS, "ocirun/procattrs.py"),
    "ioprio classes": (procattrs.IOPRIO_CLASSES, "ocirun/procattrs.py"),
    "mempolicy modes": (procattrs.MPOL_MODES, "ocirun/procattrs.py"),
    "mempolicy flags": (procattrs.MPOL_FLAGS, "ocirun/procattrs.py"),
    "namespace types": (namespaces.ORDER, "ocirun/namespaces.py"),
    "rootfs propagations": (mountopts._PROPAGATION, "ocirun/mountopts.py"),
    "seccomp actions": (seccomp.ACTIONS, "ocirun/seccomp.py"),
    "seccomp architectures": (seccomp.ARCHS, "ocirun/seccomp.py"),
    "seccomp operators": (seccomp.OPERATORS, "ocirun/seccomp.py"),
    "seccomp flags": (seccomp.FLAGS, "ocirun/seccomp.py"),
}
# Literals that share names with a table but are not a copy of it.
NOT_COPIES = {
    # runc's template: the namespaces `ocirun spec` writes, not an order or a list of types
    ("ocirun/spec/defaults.py", frozenset({"pid", "ipc", "uts", "mount", "user"})),
    ("ocirun/spec/defaults.py", frozenset({"pid", "network", "ipc", "uts", "mount"})),
}


def string_literals():
    """(file, set of strings) for every tuple, list, set or dict key list of
    three or more string constants in the package."""
    for name, tree in SOURCES.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                items = node.elts
            elif isinstance(node, ast.Dict):
                items = node.keys
            else:
                continue
            if len(items) >= 3 and all(isinstance(i, ast.Constant) and isinstance(i.value, str) for i in items):
                yield name, frozenset(i.value for i in items)


@pytest.mark.parametrize("what", sorted(TABLES))
def test_no_table_is_spelled_out_twice(what):
    """No other file holds the table, or three or more of its names as a list
    of their own (validate's old copies, initproc's and execproc's orders)."""
    table, owner = TABLES[what]
    names = frozenset(table)
    copies = [(f, sorted(s)) for f, s in string_literals()
              if f != owner and s <= names and (f, s) not in NOT_COPIES]
    assert not copies, f"{what} are {owner}'s: {copies}"


def test_validate_holds_no_table_of_its_own():
    """validate names the owners' objects (or none at all), never a copy."""
    assert validate.NAMESPACE_TYPES is namespaces.ORDER
    for name in ("RLIMITS", "SCHED_POLICIES", "SCHED_FLAGS", "IOPRIO_CLASSES", "MPOL_MODES", "MPOL_FLAGS",
                 "PERSONALITY_DOMAINS", "ROOTFS_PROPAGATIONS"):
        assert getattr(validate, name, None) in (None, getattr(procattrs, name, None)), name
    for name in ("_lexical_clean", "parse_id_list", "_q"):
        assert not hasattr(validate, name), name


def module_level_numbers(tree, prefixes):
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Constant, ast.BinOp)):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id.startswith(prefixes):
                    if all(isinstance(n, ast.Constant) for n in ast.walk(node.value) if not isinstance(
                            n, (ast.BinOp, ast.operator))):
                        yield target.id


def test_kernel_constants_live_in_syscalls():
    """MS_*, MOUNT_ATTR_* and CLONE_NEW* are given their numbers once, in syscalls."""
    prefixes = ("MS_", "MOUNT_ATTR_", "CLONE_NEW", "MNT_")
    found = {name: sorted(module_level_numbers(tree, prefixes)) for name, tree in SOURCES.items()}
    assert {n: v for n, v in found.items() if v and n != "ocirun/syscalls.py"} == {}
    for name in dir(mountopts):
        if name.startswith(("MS_", "MOUNT_ATTR_")) and name != "MS_PROPAGATION":
            assert getattr(mountopts, name) == getattr(syscalls, name), name


def test_spec_version_is_written_once():
    hits = [(f, node.lineno) for f, tree in SOURCES.items() for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SPEC_VERSION in node.value]
    assert hits == [("ocirun/__init__.py", 1), ("ocirun/__init__.py", 4)]


def test_namespace_order_is_one_constant():
    assert set(namespaces.ORDER) == set(namespaces.FLAGS) == set(namespaces.PROC_NAMES)
    assert len(namespaces.ORDER) == len(set(namespaces.ORDER))
    assert namespaces.ORDER[0] == "user"  # it owns what follows
    assert namespaces.ORDER[-len(namespaces.FOR_CHILDREN):] == namespaces.FOR_CHILDREN
    assert namespaces.ORDER.index("mount") > max(namespaces.ORDER.index(t)
                                                 for t in ("ipc", "uts", "network", "cgroup"))
    assert namespaces.INIT_ENTERS == ("ipc", "uts", "network", "cgroup", "mount")


def test_dead_code_is_gone():
    assert not hasattr(namespaces, "INIT_ORDER")
    assert "clear_flags" not in mountopts.MountSpec.__slots__


# ---- one check each, the same words from validate and from the code that applies it ---------------

def validate_error(process=None, linux=None):
    cfg = {"ociVersion": SPEC_VERSION, "root": {"path": "rootfs"},
           "process": dict({"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}}, **(process or {})),
           "linux": dict({"namespaces": [{"type": "mount"}]}, **(linux or {}))}
    try:
        validate.check(cfg, None, warn=lambda *a: None)
    except InvalidSpec as e:
        return e.path, e.message
    return None


def own_error(fn, *args):
    try:
        fn(*args)
    except InvalidSpec as e:
        return e.path, e.message
    return None


limits = st.one_of(st.integers(0, 5), st.integers(0, 2**64 - 1))
rlimit_entries = st.fixed_dictionaries({
    "type": st.one_of(st.sampled_from(sorted(procattrs.RLIMITS)), st.sampled_from(["RLIMIT_X", "rlimit_core", ""])),
    "soft": limits, "hard": limits})


@settings(max_examples=200, deadline=None)
@given(st.lists(rlimit_entries, max_size=5))
def test_rlimits_one_check(rlimits):
    assert validate_error(process={"rlimits": rlimits}) == own_error(procattrs.parse_rlimits, rlimits)


small = st.integers(-30, 2000)
schedulers = st.fixed_dictionaries({"policy": st.sampled_from(sorted(procattrs.SCHED_POLICIES) + ["SCHED_X"])},
                                   optional={"nice": small, "priority": small, "runtime": small,
                                             "deadline": small, "period": small,
                                             "flags": st.lists(st.sampled_from(
                                                 sorted(procattrs.SCHED_FLAGS) + ["SCHED_FLAG_X"]), max_size=2)})


@settings(max_examples=300, deadline=None)
@given(schedulers)
def test_scheduler_one_check(s):
    assert validate_error(process={"scheduler": s}) == own_error(procattrs.scheduler_args, s)


@settings(max_examples=100, deadline=None)
@given(st.fixed_dictionaries({"class": st.sampled_from(sorted(procattrs.IOPRIO_CLASSES) + ["IOPRIO_X"]),
                              "priority": st.integers(-2, 9)}))
def test_io_priority_one_check(p):
    assert validate_error(process={"ioPriority": p}) == own_error(procattrs.ioprio_value, p)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({"mode": st.sampled_from(sorted(procattrs.MPOL_MODES) + ["MPOL_X"])}, optional={
    "nodes": st.sampled_from(["", "0", "0-3", "1,,2", "3-1", "0-"]),
    "flags": st.lists(st.sampled_from(sorted(procattrs.MPOL_FLAGS) + ["MPOL_F_X"]), max_size=3)}))
def test_memory_policy_one_check(mp):
    assert validate_error(linux={"memoryPolicy": mp}) == own_error(procattrs.mempolicy_args, mp)


@pytest.mark.parametrize("domain", ["LINUX", "LINUX32", "LINUX64", ""])
def test_personality_one_check(domain):
    p = {"domain": domain}
    assert validate_error(linux={"personality": p}) == own_error(procattrs.personality_value, p)


@pytest.mark.parametrize("value", ["rshared", "private", "rshard", "Shared", "bind"])
def test_rootfs_propagation_one_check(value):
    assert (validate_error(linux={"rootfsPropagation": value})
            == own_error(mountopts.propagation_flags, value))


ALLOW = "SCMP_ACT_ALLOW"
SECCOMP_CASES = [
    {"defaultAction": "SCMP_ACT_BOGUS"},
    {"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/s"},
    {"defaultAction": ALLOW, "defaultErrnoRet": 1},
    {"defaultAction": ALLOW, "architectures": ["SCMP_ARCH_Z80"]},
    {"defaultAction": ALLOW, "flags": ["SECCOMP_FILTER_FLAG_X"]},
    {"defaultAction": ALLOW, "listenerMetadata": "m"},
    {"defaultAction": ALLOW, "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]},
    {"defaultAction": ALLOW, "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOPE"}]},
    {"defaultAction": ALLOW, "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]},
    {"defaultAction": ALLOW, "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                                           "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
    {"defaultAction": ALLOW, "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                                           "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]}]},
    {"defaultAction": ALLOW, "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]},
]


@pytest.mark.parametrize("sc", SECCOMP_CASES, ids=range(len(SECCOMP_CASES)))
def test_seccomp_one_check(sc):
    """config-linux.md#seccomp: each of these MUST fail, with the same words from
    validate (create) and from prepare() (which exec reaches without validate)."""
    got = validate_error(linux={"seccomp": sc})
    assert got is not None
    assert got == own_error(seccomp.prepare, sc, {})


# ---- the one CPU/node list parser, against the three it replaced ----------------------------------

def old_validate_parse_id_list(text):
    ranges = []
    if not text.strip():
        return ranges
    for item in text.split(","):
        lo, sep, hi = (part.strip() for part in item.partition("-"))
        ok = lo.isascii() and lo.isdigit() and (not sep or (hi.isascii() and hi.isdigit()))
        if not ok:
            raise ValueError(text)
        first = int(lo)
        last = int(hi) if sep else first
        if first > last:
            raise ValueError(text)
        ranges.append((first, last))
    return ranges


def old_procattrs_parse_cpu_list(s):
    out = set()
    if not s.strip():
        return out
    for item in s.split(","):
        lo, dash, hi = item.strip().partition("-")
        if not dash:
            hi = lo
        if not lo or not hi or not set("0123456789").issuperset(lo) or not set("0123456789").issuperset(hi):
            raise ValueError(s)
        a, b = int(lo), int(hi)
        if a > b or b >= 1 << 16:
            raise ValueError(s)
        out.update(range(a, b + 1))
    return out


def old_stats_list(text):
    out = []
    for part in (text or "").strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            out.extend(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            continue
    return out


def outcome(fn, text):
    try:
        return fn(text)
    except (ValueError, InvalidSpec):
        return "error"


list_text = st.text(alphabet="0123456789-, \t", max_size=14) | st.text(max_size=6)


@settings(max_examples=500, deadline=None)
@given(list_text)
def test_cpulist_is_validates_old_parser(text):
    assert outcome(cpulist.ranges, text) == outcome(old_validate_parse_id_list, text)


@settings(max_examples=500, deadline=None)
@given(list_text)
def test_cpulist_keeps_what_procattrs_accepted(text):
    """Whatever the init's old parser took gives the same CPUs; what it refused
    is refused too, but for blanks around '-' ("1 - 2"), which validate always
    let through to the init (and which now work there too)."""
    old, new = outcome(old_procattrs_parse_cpu_list, text), outcome(procattrs.parse_cpu_list, text)
    if old != "error":
        assert new == old
    elif new != "error":
        assert any(" -" in item.strip() or "- " in item.strip() or "\t" in item.strip()
                   for item in text.split(","))


@st.composite
def kernel_lists(draw):
    """cpuset.cpus as the kernel writes it: sorted ranges, a newline at the end."""
    cpus = sorted(draw(st.sets(st.integers(0, 300), max_size=30)))
    runs = []
    for c in cpus:
        if runs and runs[-1][1] == c - 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs) + "\n"


@settings(max_examples=200, deadline=None)
@given(kernel_lists())
def test_cpulist_numbers_is_stats_old_parser(text):
    assert cpulist.numbers(text) == old_stats_list(text)
    assert cpulist.numbers(None) == old_stats_list(None) == []


# ---- the one lexical path cleaner ------------------------------------------------------------------

def old_validate_lexical_clean(path):
    parts = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


path_text = st.lists(st.sampled_from(["", ".", "..", "a", "b.", "..c", " "]), max_size=8).map("/".join)


@settings(max_examples=500, deadline=None)
@given(st.one_of(path_text, path_text.map(lambda p: "/" + p), st.text(alphabet="/.ab", max_size=12)))
def test_clean_is_validates_old_cleaner(path):
    got = paths.clean(path)
    assert "/" + got == old_validate_lexical_clean(path)
    assert not got.startswith("/") and paths.clean(got) == got
    assert not {"", ".", ".."} & set(got.split("/")) or got == ""


# ---- fileio ------------------------------------------------------------------------------------------

def test_write_value_vets_before_writing_and_closes(tmp_path):
    target = tmp_path / "attr"
    target.write_bytes(b"")
    seen = []

    def refuse(fd):
        seen.append(fd)
        raise InvalidSpec("x", "refused")

    with pytest.raises(InvalidSpec):
        fileio.write_value(str(target), "label", check=refuse)
    assert target.read_bytes() == b""
    with pytest.raises(OSError):
        os.fstat(seen[0])  # closed
    fileio.write_value(str(target), "label", check=seen.append)
    assert target.read_bytes() == b"label"
    with pytest.raises(FileNotFoundError):
        fileio.write_value(str(tmp_path / "missing"), b"1")  # never creates


def test_write_new_refuses_what_exists_and_symlinks(tmp_path):
    data = bytes(range(256)) * 5000
    fileio.write_new(str(tmp_path / "f"), data, 0o600)
    assert (tmp_path / "f").read_bytes() == data and (tmp_path / "f").stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        fileio.write_new(str(tmp_path / "f"), b"x")
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError):
        fileio.write_new(str(tmp_path / "link"), b"x")
    assert not (tmp_path / "elsewhere").exists()


def test_write_all_survives_short_writes():
    r, w = os.pipe()
    try:
        os.set_blocking(w, True)
        data = string.ascii_letters.encode() * 4000  # > the pipe's 64 KiB: write(2) returns short
        got = bytearray()

        def read_to_eof():
            while chunk := os.read(r, 65536):
                got.extend(chunk)

        reader = threading.Thread(target=read_to_eof, daemon=True)
        reader.start()
        fileio.write_all(w, data)
        os.close(w)
        w = None
        reader.join(10)
        assert bytes(got) == data
    finally:
        os.close(r)
        if w is not None:
            os.close(w)
