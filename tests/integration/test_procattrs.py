"""ocirun.procattrs: each setter applied in a forked child, the effect read back exactly."""
import ast
import ctypes
import os
import platform
import resource
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocirun import procattrs, syscalls
from ocirun.errors import InvalidSpec, SyscallError
from conftest import in_child

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: changes ids, limits, scheduling")

U64 = (1 << 64) - 1
CAP_SYS_RESOURCE = 24
SYS = {"x86_64": {"ioprio_get": 252, "get_mempolicy": 239},
       "aarch64": {"ioprio_get": 31, "get_mempolicy": 236}}.get(platform.machine(), {})
LIBC = ctypes.CDLL(None, use_errno=True)


def raised(fn):
    """In a child: the (type name, message) fn raises."""
    got = in_child(fn)
    assert isinstance(got, tuple) and got[0] == "raised", got
    return got[1], got[2]


def drop_cap(n):
    eff, prm, inh = syscalls.capget()
    syscalls.capset(eff & ~(1 << n), prm & ~(1 << n), inh & ~(1 << n))


def read_proc(name):
    with open(f"/proc/self/{name}", "rb") as f:
        return f.read()


def no_new_privs():
    for line in read_proc("status").split(b"\n"):
        if line.startswith(b"NoNewPrivs:"):
            return int(line.split()[1])
    raise AssertionError("no NoNewPrivs line")


def ioprio_get():
    return LIBC.syscall(SYS["ioprio_get"], 1, 0)


def get_mempolicy():
    mode = ctypes.c_int()
    mask = (ctypes.c_ulong * 16)()
    assert LIBC.syscall(SYS["get_mempolicy"], ctypes.byref(mode), mask, 1024, None, 0) == 0
    return mode.value, {i for i in range(1024) if mask[i // 64] >> (i % 64) & 1}


# --- rlimits ------------------------------------------------------------------

def test_rlimits_set_exactly():
    """config.md#posix-process: getrlimit MUST return the configured soft and hard values."""
    rl = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
          {"type": "RLIMIT_CORE", "soft": U64, "hard": U64},
          {"type": "RLIMIT_FSIZE", "soft": U64 - 1, "hard": U64 - 1},  # below infinity: sign handling
          {"type": "RLIMIT_NPROC", "soft": 0, "hard": 4000}]

    def child():
        procattrs.set_rlimits(rl)
        return [resource.getrlimit(r) for r in (resource.RLIMIT_NOFILE, resource.RLIMIT_CORE,
                                                 resource.RLIMIT_FSIZE, resource.RLIMIT_NPROC)]

    got = in_child(child)
    assert [(s & U64, h & U64) for s, h in got] == [(e["soft"], e["hard"]) for e in rl]


def test_rlimit_raise_without_cap_sys_resource_names_the_rlimit():
    def child():
        drop_cap(CAP_SYS_RESOURCE)
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        procattrs.set_rlimits([{"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
                               {"type": "RLIMIT_NOFILE", "soft": hard + 1, "hard": hard + 1}])

    kind, msg = raised(child)
    assert kind == "SyscallError"
    # runc: "error setting rlimit type 7: operation not permitted"
    assert msg == "error setting rlimit type 7: operation not permitted (process.rlimits[1] RLIMIT_NOFILE)"


@pytest.mark.parametrize("rl, path, words", [
    ([{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}], "process.rlimits[0].type", "wrong rlimit value: 'RLIMIT_FOO'"),
    ([{"type": "RLIMIT_CORE", "soft": 1, "hard": 1}, {"type": "RLIMIT_CORE", "soft": 2, "hard": 2}],
     "process.rlimits[1].type", "duplicate"),
    ([{"type": "RLIMIT_CORE", "soft": 2, "hard": 1}], "process.rlimits[0].soft", "is greater than hard limit"),
    ([{"type": "RLIMIT_CORE", "soft": -1, "hard": 1}], "process.rlimits[0].soft", "integer"),
    ([{"type": "RLIMIT_CORE", "soft": 1, "hard": 1 << 64}], "process.rlimits[0].hard", "integer"),
])
def test_rlimit_config_errors(rl, path, words):
    """config.md#posix-process: unknown and duplicated types MUST generate an error."""
    with pytest.raises(InvalidSpec) as ei:
        procattrs.parse_rlimits(rl)
    assert ei.value.path == path and words in str(ei.value)


# --- oom_score_adj --------------------------------------------------------------

def test_oom_score_adj_self():
    def child():
        procattrs.set_oom_score_adj(500)
        return int(read_proc("oom_score_adj"))

    assert in_child(child) == 500


def test_oom_score_adj_for_another_pid():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        os._exit(0)
    os.close(r)
    try:
        assert procattrs.oom_score_adj_path(pid) == f"/proc/{pid}/oom_score_adj"
        procattrs.set_oom_score_adj(321, pid)
        with open(procattrs.oom_score_adj_path(pid)) as f:
            assert int(f.read()) == 321
    finally:
        os.close(w)
        os.waitpid(pid, 0)


def test_oom_score_adj_lowering_unprivileged_fails_with_field():
    def child():
        drop_cap(CAP_SYS_RESOURCE)
        procattrs.set_oom_score_adj(1000)
        procattrs.set_oom_score_adj(-1000)

    kind, msg = raised(child)
    assert kind == "SyscallError"
    assert msg == "write /proc/self/oom_score_adj: permission denied (process.oomScoreAdj)"


@pytest.mark.parametrize("value", [1001, -1001, "5", True])
def test_oom_score_adj_range(value):
    with pytest.raises(InvalidSpec) as ei:
        procattrs.set_oom_score_adj(value)
    assert ei.value.path == "process.oomScoreAdj"


# --- no_new_privs ---------------------------------------------------------------

def test_no_new_privs():
    def child():
        before = no_new_privs()
        procattrs.set_no_new_privs()
        return before, no_new_privs()

    assert in_child(child) == (0, 1)


# --- personality ------------------------------------------------------------------

def test_personality_linux32_and_back():
    def child():
        procattrs.set_personality({"domain": "LINUX32"})
        first = os.uname().machine, syscalls.personality(0xFFFFFFFF)
        procattrs.set_personality({"domain": "LINUX"})
        return first, (os.uname().machine, syscalls.personality(0xFFFFFFFF))

    (m32, p32), (m64, p64) = in_child(child)
    assert p32 == 0x0008 and p64 == 0
    assert m64 == os.uname().machine
    if os.uname().machine == "x86_64":
        assert m32 == "i686"


def test_personality_flags_are_ignored():
    """As runc (and as validate says: a warning): the spec defines no flags yet."""
    assert procattrs.personality_value({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}) == 0


@pytest.mark.parametrize("p, path", [({"domain": "LINUX64"}, "linux.personality.domain")])
def test_personality_errors(p, path):
    with pytest.raises(InvalidSpec) as ei:
        procattrs.set_personality(p)
    assert ei.value.path == path


# --- scheduler ----------------------------------------------------------------------

SCHED_RESET_ON_FORK = 0x40000000


@pytest.mark.parametrize("s, policy, prio, nice", [
    ({"policy": "SCHED_BATCH", "nice": 5}, os.SCHED_BATCH, 0, 5),
    ({"policy": "SCHED_IDLE"}, os.SCHED_IDLE, 0, 0),
    ({"policy": "SCHED_OTHER", "nice": -3}, os.SCHED_OTHER, 0, -3),
    ({"policy": "SCHED_FIFO", "priority": 10}, os.SCHED_FIFO, 10, 0),
    ({"policy": "SCHED_RR", "priority": 99, "flags": ["SCHED_FLAG_RESET_ON_FORK"]},
     os.SCHED_RR | SCHED_RESET_ON_FORK, 99, 0),
    ({"policy": "SCHED_DEADLINE", "runtime": 10_000_000, "deadline": 30_000_000, "period": 30_000_000},
     6, 0, 0),
])
def test_scheduler(s, policy, prio, nice):
    def child():
        procattrs.set_scheduler(s)
        return (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority,
                os.getpriority(os.PRIO_PROCESS, 0))

    assert in_child(child) == (policy, prio, nice)


def test_scheduler_kernel_refusal_names_the_field():
    kind, msg = raised(lambda: procattrs.set_scheduler({"policy": "SCHED_ISO"}))
    assert kind == "SyscallError"
    assert msg == "sched_setattr: invalid argument (process.scheduler SCHED_ISO)"


@pytest.mark.parametrize("s, path", [
    ({"policy": "SCHED_FOO"}, "process.scheduler.policy"),
    ({"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_FOO"]}, "process.scheduler.flags[0]"),
    ({"policy": "SCHED_OTHER", "nice": 20}, "process.scheduler.nice"),
    ({"policy": "SCHED_FIFO", "priority": 100}, "process.scheduler.priority"),
])
def test_scheduler_config_errors(s, path):
    with pytest.raises(InvalidSpec) as ei:
        procattrs.scheduler_args(s)
    assert ei.value.path == path


# --- I/O priority ----------------------------------------------------------------------

@pytest.mark.skipif(not SYS, reason="ioprio_get syscall number unknown for this machine")
@pytest.mark.parametrize("cls, num", [("IOPRIO_CLASS_RT", 1), ("IOPRIO_CLASS_BE", 2), ("IOPRIO_CLASS_IDLE", 3)])
def test_io_priority(cls, num):
    def child():
        procattrs.set_io_priority({"class": cls, "priority": 6})
        return ioprio_get()

    assert in_child(child) == num << 13 | 6


@pytest.mark.parametrize("p, path", [({"class": "IOPRIO_CLASS_NONE", "priority": 0}, "process.ioPriority.class"),
                                     ({"class": "IOPRIO_CLASS_BE", "priority": 8}, "process.ioPriority.priority")])
def test_io_priority_config_errors(p, path):
    with pytest.raises(InvalidSpec) as ei:
        procattrs.set_io_priority(p)
    assert ei.value.path == path


# --- CPU lists and execCPUAffinity -------------------------------------------------------

@pytest.mark.parametrize("s, want", [("0-3,7", {0, 1, 2, 3, 7}), ("", set()), (" ", set()), ("5", {5}),
                                     ("1-1", {1}), ("2, 4-5", {2, 4, 5}), ("3,1-2,2", {1, 2, 3})])
def test_parse_cpu_list(s, want):
    assert procattrs.parse_cpu_list(s) == want


@pytest.mark.parametrize("s", ["a", "1-", "-1", "3-1", "1,,2", "1-2-3", "0x1", "١", "70000", "1;2"])
def test_parse_cpu_list_rejects(s):
    with pytest.raises(InvalidSpec) as ei:
        procattrs.parse_cpu_list(s, "linux.memoryPolicy.nodes")
    assert ei.value.path == "linux.memoryPolicy.nodes"


@st.composite
def cpu_list_text(draw):
    """A set of CPUs and one of its many spellings (ranges split anywhere, any order)."""
    cpus = draw(st.sets(st.integers(0, 4095), max_size=40))
    runs = []
    for c in sorted(cpus):
        if runs and runs[-1][1] == c - 1 and draw(st.booleans()):
            runs[-1][1] = c
        else:
            runs.append([c, c])
    items = [str(a) if a == b and draw(st.booleans()) else f"{a}-{b}" for a, b in runs]
    items = draw(st.permutations(items))
    return cpus, ",".join(items)


@given(cpu_list_text())
def test_parse_cpu_list_round_trip(case):
    cpus, text = case
    assert procattrs.parse_cpu_list(text) == cpus


@given(st.text(alphabet="0123456789-, x", max_size=12))
def test_parse_cpu_list_total(text):
    """Any text either parses to a set of ints or raises InvalidSpec, nothing else."""
    try:
        got = procattrs.parse_cpu_list(text)
    except InvalidSpec:
        return
    assert all(isinstance(c, int) and 0 <= c < 1 << 16 for c in got)


CPUS = sorted(os.sched_getaffinity(0))


def test_exec_cpu_affinity_initial_then_final():
    a = {"initial": str(CPUS[-1]), "final": ",".join(map(str, CPUS))}

    def child():
        procattrs.set_exec_cpu_affinity(a, initial=True)
        first = sorted(os.sched_getaffinity(0))
        procattrs.set_exec_cpu_affinity(a, initial=False)
        return first, sorted(os.sched_getaffinity(0))

    assert in_child(child) == ([CPUS[-1]], CPUS)


@pytest.mark.parametrize("a", [None, {}, {"initial": "0"}, {"final": ""}])
def test_exec_cpu_affinity_final_absent_leaves_affinity(a):
    """config.md#linux-process: final omitted or empty: SHOULD NOT change the affinity."""
    def child():
        os.sched_setaffinity(0, {CPUS[0]})
        procattrs.set_exec_cpu_affinity(a, initial=False)
        return sorted(os.sched_getaffinity(0))

    assert in_child(child) == [CPUS[0]]


def test_exec_cpu_affinity_offline_cpu_names_the_field():
    kind, msg = raised(lambda: procattrs.set_exec_cpu_affinity({"initial": "4000"}, initial=True))
    assert kind == "SyscallError"
    assert msg == "sched_setaffinity: invalid argument (process.execCPUAffinity.initial '4000')"


# --- memory policy ----------------------------------------------------------------------

MPOL_F_STATIC_NODES = 1 << 15


@pytest.mark.skipif(not os.path.exists("/sys/devices/system/node/node0") or not SYS,
                    reason="needs NUMA node 0 and a known get_mempolicy number")
@pytest.mark.parametrize("mp, mode, nodes", [
    ({"mode": "MPOL_BIND", "nodes": "0"}, 2, {0}),
    ({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}, 3 | MPOL_F_STATIC_NODES, {0}),
    ({"mode": "MPOL_PREFERRED_MANY", "nodes": "0"}, 5, {0}),
    ({"mode": "MPOL_LOCAL"}, 4, set()),
    ({"mode": "MPOL_DEFAULT"}, 0, set()),
])
def test_memory_policy(mp, mode, nodes):
    def child():
        before = get_mempolicy()
        procattrs.set_memory_policy(mp)
        return before, get_mempolicy()

    before, after = in_child(child)
    assert after == (mode, nodes)
    assert before == (0, set()) or mode != 0  # MPOL_DEFAULT is only meaningful if it could differ


def test_memory_policy_kernel_refusal_names_the_field():
    kind, msg = raised(lambda: procattrs.set_memory_policy({"mode": "MPOL_BIND", "nodes": "1000"}))
    assert kind == "SyscallError"
    assert msg == "set_mempolicy: invalid argument (linux.memoryPolicy MPOL_BIND)"


@pytest.mark.parametrize("mp, path", [
    ({"mode": "MPOL_FOO"}, "linux.memoryPolicy.mode"),
    ({"mode": "MPOL_DEFAULT", "nodes": "0"}, "linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_LOCAL", "nodes": "0"}, "linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_BIND"}, "linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_INTERLEAVE", "nodes": ""}, "linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_BIND", "nodes": "0-a"}, "linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_FOO"]}, "linux.memoryPolicy.flags[0]"),
])
def test_memory_policy_config_errors(mp, path):
    with pytest.raises(InvalidSpec) as ei:
        procattrs.mempolicy_args(mp)
    assert ei.value.path == path


# --- user ----------------------------------------------------------------------------------

def test_set_user():
    def child():
        procattrs.set_user({"uid": 1000, "gid": 1001, "umask": 0o077, "additionalGids": [5, 6]})
        return os.getresuid(), os.getresgid(), sorted(os.getgroups()), os.umask(0)

    assert in_child(child) == ((1000,) * 3, (1001,) * 3, [5, 6], 0o077)


def test_set_user_defaults_umask_and_clears_groups():
    """Absent umask -> 0022 (runc's behaviour, checked with runc 1.1.5 under umask 077)."""
    def child():
        os.setgroups([4, 7])
        os.umask(0o077)
        procattrs.set_user({"uid": 0, "gid": 0})
        return sorted(os.getgroups()), os.umask(0)

    assert in_child(child) == ([], 0o022)


def test_set_user_setgroups_denied():
    def child():
        os.setgroups([4])
        procattrs.set_user({"uid": 0, "gid": 2}, allow_setgroups=False)
        return os.getgroups(), os.getresgid()

    assert in_child(child) == ([4], (2, 2, 2))
    with pytest.raises(InvalidSpec) as ei:
        procattrs.set_user({"uid": 0, "gid": 0, "additionalGids": [1]}, allow_setgroups=False)
    assert ei.value.path == "process.user.additionalGids"


@pytest.mark.parametrize("user, path", [
    ({"uid": "1000", "gid": 0}, "process.user.uid"),
    ({"uid": "root", "gid": 0}, "process.user.uid"),
    ({"uid": -1, "gid": 0}, "process.user.uid"),
    ({"uid": 0, "gid": 4294967295}, "process.user.gid"),
    ({"uid": 0, "gid": 0, "additionalGids": [1, "wheel"]}, "process.user.additionalGids[1]"),
    ({"uid": 0, "gid": 0, "umask": -1}, "process.user.umask"),
    ({"gid": 0}, "process.user.uid"),
])
def test_set_user_config_errors(user, path):
    """Numeric ids only: a name is never looked up (CVE-2016-3697)."""
    with pytest.raises(InvalidSpec) as ei:
        procattrs.user_ids(user)
    assert ei.value.path == path


def test_umask_takes_any_uint32_like_runc():
    """runc passes any uint32 to umask(2), which keeps the permission bits."""
    assert procattrs.user_ids({"uid": 0, "gid": 0, "umask": 0o7777})[3] == 0o777
    assert procattrs.user_ids({"uid": 0, "gid": 0, "umask": 0o10022})[3] == 0o022


def test_set_user_failure_names_the_field():
    def child():
        procattrs.set_user({"uid": 1000, "gid": 1000})
        procattrs.set_user({"uid": 0, "gid": 0})

    kind, msg = raised(child)
    assert kind == "SyscallError" and msg == "setgroups: operation not permitted (process.user.additionalGids)"


# --- import-free ---------------------------------------------------------------------------

def test_setters_import_nothing():
    """Every setter, and its error path, with sys.meta_path emptied (as after the root switch)."""
    assert "colorsys" not in sys.modules

    def child():
        try:
            import colorsys  # noqa: F401  (proves the guard is live)
            guard = "import worked"
        except ImportError:
            guard = "import blocked"
        procattrs.set_oom_score_adj(200)
        procattrs.set_rlimits([{"type": "RLIMIT_NOFILE", "soft": 256, "hard": 512},
                               {"type": "RLIMIT_CORE", "soft": U64, "hard": U64}])
        procattrs.set_personality({"domain": "LINUX"})
        procattrs.set_scheduler({"policy": "SCHED_BATCH", "nice": 2})
        procattrs.set_io_priority({"class": "IOPRIO_CLASS_BE", "priority": 3})
        procattrs.set_exec_cpu_affinity({"final": "0-%d" % CPUS[-1]}, initial=False)
        procattrs.set_memory_policy({"mode": "MPOL_LOCAL"})
        procattrs.set_user({"uid": 1000, "gid": 1000, "additionalGids": [3], "umask": 0o027})
        procattrs.set_no_new_privs()
        errors = []
        for fn in (lambda: procattrs.set_rlimits([{"type": "RLIMIT_NOFILE", "soft": 1 << 20, "hard": 1 << 20}]),
                   lambda: procattrs.set_rlimits([{"type": "RLIMIT_X", "soft": 1, "hard": 1}]),
                   lambda: procattrs.set_oom_score_adj(-1000),
                   lambda: procattrs.set_scheduler({"policy": "SCHED_FIFO", "priority": 1}),
                   lambda: procattrs.set_memory_policy({"mode": "MPOL_BIND", "nodes": "1000"}),
                   lambda: procattrs.set_exec_cpu_affinity({"initial": "4000"}, True),
                   lambda: procattrs.set_user({"uid": 0, "gid": 0})):
            try:
                fn()
                errors.append(None)
            except (InvalidSpec, SyscallError) as e:
                errors.append(type(e).__name__)
        return guard, errors, no_new_privs(), os.getresuid(), os.umask(0)

    guard, errors, nnp, uids, umask = in_child(child, empty_meta_path=True)
    assert guard == "import blocked"
    assert errors == ["SyscallError", "InvalidSpec"] + ["SyscallError"] * 5
    assert (nnp, uids, umask) == (1, (1000, 1000, 1000), 0o027)


def test_module_functions_contain_no_import():
    tree = ast.parse(Path(procattrs.__file__).read_text())
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for node in ast.walk(fn):
                assert not isinstance(node, (ast.Import, ast.ImportFrom)), f"import inside {fn.name}"
