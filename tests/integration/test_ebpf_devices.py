"""cgroup v2 device filtering with the real kernel (root).

The eBPF program is attached to throw-away groups under the cgroup2 mount
(on a hybrid host: /sys/fs/cgroup/unified, which needs no controller for
this), and a child process that joined the group tries to open devices. The
v1 devices controller serves as the oracle: the same rules written there in
order must give the same devices.list as our emulation, and the same
open(2) results as the program.
"""
import errno
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocirun.cgroups import devices as dv
from ocirun.cgroups import ebpf
from ocirun.cgroups.base import controllers_of
from ocirun.cgroups.mounts import detect_layout
from ocirun.cgroups.v2 import V2Manager

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def _v2_mount():
    h = detect_layout().get("unified")
    return h.mountpoint if h else None


def _v1_devices():
    h = next((h for h in detect_layout().hierarchies if "devices" in controllers_of(h.name)), None)
    return h.mountpoint if h else None


V2 = _v2_mount()
V1_DEVICES = _v1_devices()
need_v2 = pytest.mark.skipif(V2 is None, reason="no cgroup2 mount")
need_v1 = pytest.mark.skipif(V1_DEVICES is None, reason="no v1 devices controller")


def device_rule(rule, index):
    """'c 1:3 rwm': the line a v1 devices.allow/deny takes for a linux.resources.devices entry."""
    _allow, kind, major, minor, mask = dv.parse_rule(rule, index)
    return dv.line(kind, major, minor, mask)

# A child that joins the cgroups given as argv[1:] (cgroup.procs paths), then
# tries every (path, mode) from stdin and prints the results.
CHILD = r"""
import json, os, sys
for procs in sys.argv[1:]:
    with open(procs, "w") as f:
        f.write(str(os.getpid()))
out = []
for path, mode in json.loads(sys.stdin.read()):
    flags = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR}[mode]
    try:
        os.close(os.open(path, flags))
        out.append("ok")
    except OSError as e:
        out.append(os.strerror(e.errno))
print(json.dumps(out))
"""

PROBES = [(p, m) for p in ("/dev/null", "/dev/zero", "/dev/full") for m in ("r", "w", "rw")]
EPERM = os.strerror(errno.EPERM)


def opens(groups, probes=PROBES):
    """{(path, mode): "ok" or the error text} for a fresh process in `groups`."""
    p = subprocess.run([sys.executable, "-S", "-c", CHILD, *[os.path.join(g, "cgroup.procs") for g in groups]],
                       input=json.dumps(probes), capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return dict(zip(probes, json.loads(p.stdout)))


def _rmdir(d, timeout=5.0):
    deadline = time.monotonic() + timeout
    while os.path.isdir(d):
        try:
            os.rmdir(d)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@pytest.fixture
def v2group():
    d = os.path.join(V2, f"ocirun-test-ebpf-{uuid.uuid4().hex[:12]}")
    os.mkdir(d)
    yield d
    _rmdir(d)


@pytest.fixture
def v1group():
    d = os.path.join(V1_DEVICES, f"ocirun-test-ebpf-{uuid.uuid4().hex[:12]}")
    os.mkdir(d)
    yield d
    _rmdir(d)


def attached(d):
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return ebpf.query(fd, d)
    finally:
        os.close(fd)


DENY_ALL = {"allow": False, "access": "rwm"}


def cdev(major, minor, access="rwm", allow=True):
    return {"allow": allow, "type": "c", "major": major, "minor": minor, "access": access}


@need_v2
def test_only_the_allowed_device_opens(v2group):
    """config-linux.md#allowed-device-list on cgroup v2: null allowed, zero refused with EPERM."""
    ebpf.set_devices(v2group, [DENY_ALL, cdev(1, 3)])
    assert len(attached(v2group)) == 1
    got = opens([v2group])
    assert got[("/dev/null", "r")] == got[("/dev/null", "w")] == got[("/dev/null", "rw")] == "ok"
    assert got[("/dev/zero", "r")] == got[("/dev/zero", "rw")] == EPERM
    assert got[("/dev/full", "w")] == EPERM
    # the program binds the group, not us
    assert opens([])[("/dev/zero", "r")] == "ok"


@need_v2
def test_access_letters_are_enforced(v2group):
    ebpf.set_devices(v2group, [DENY_ALL, cdev(1, 5, "r"), cdev(1, 7, "w")])
    got = opens([v2group])
    assert got[("/dev/zero", "r")] == "ok"
    assert got[("/dev/zero", "w")] == got[("/dev/zero", "rw")] == EPERM
    assert got[("/dev/full", "w")] == "ok"
    assert got[("/dev/full", "r")] == EPERM


@need_v2
def test_allow_all_with_one_device_denied(v2group):
    ebpf.set_devices(v2group, [{"allow": True, "access": "rwm"}, cdev(1, 5, allow=False)])
    got = opens([v2group])
    assert got[("/dev/zero", "r")] == EPERM
    assert got[("/dev/null", "rw")] == got[("/dev/full", "rw")] == "ok"


@need_v2
def test_update_replaces_the_program(v2group):
    ebpf.set_devices(v2group, [DENY_ALL, cdev(1, 3)])
    first = attached(v2group)
    ebpf.set_devices(v2group, [DENY_ALL, cdev(1, 3), cdev(1, 5)])
    second = attached(v2group)
    assert len(second) == 1 and second != first  # the old one is detached, not stacked
    got = opens([v2group])
    assert got[("/dev/zero", "rw")] == "ok" and got[("/dev/full", "r")] == EPERM


@need_v2
def test_the_program_goes_away_with_the_cgroup():
    d = os.path.join(V2, f"ocirun-test-ebpf-{uuid.uuid4().hex[:12]}")
    os.mkdir(d)
    try:
        ebpf.set_devices(d, [DENY_ALL])
        (prog_id,) = attached(d)
    finally:
        _rmdir(d)
    from ocirun._shim import ffi
    from ocirun import syscalls

    def gone():
        attr = ffi.new("char[]", ebpf.ATTR_SIZE)
        ffi.memmove(attr, prog_id.to_bytes(4, "little"), 4)
        try:
            os.close(syscalls.bpf(ebpf.BPF_PROG_GET_FD_BY_ID, attr, ebpf.ATTR_SIZE))
            return False
        except OSError as e:
            return e.errno == errno.ENOENT

    deadline = time.monotonic() + 10
    while not gone():
        assert time.monotonic() < deadline, f"program {prog_id} still loaded after its cgroup was removed"
        time.sleep(0.05)


@need_v2
def test_v2_manager_applies_devices_freezes_kills_and_destroys():
    """V2Manager on a real cgroup2 group: set (devices), apply, freeze, kill, destroy."""
    d = os.path.join(V2, f"ocirun-test-ebpf-{uuid.uuid4().hex[:12]}", "c")
    m = V2Manager({"unified": d}, (), V2)
    procs = []
    try:
        m.create()
        assert [os.path.dirname(d), d] == m.created
        m.set({"devices": [DENY_ALL, cdev(1, 3)]})
        assert opens([d])[("/dev/zero", "r")] == EPERM
        for _ in range(2):
            p = subprocess.Popen(["sleep", "100"])
            procs.append(p)
            m.apply(p.pid)
        assert sorted(m.pids()) == sorted(p.pid for p in procs)
        m.freeze()
        assert m.is_frozen()
        with open(f"/proc/{procs[0].pid}/stat") as f:
            assert f.read().rsplit(")", 1)[1].split()[0] in ("S", "D")
        with open(os.path.join(d, "cgroup.events")) as f:
            assert "frozen 1" in f.read()
        m.kill_all(signal.SIGKILL)  # cgroup.kill reaches frozen tasks too
        for p in procs:
            assert p.wait(timeout=10) == -signal.SIGKILL
        m.thaw()
        assert not m.is_frozen()
        m.destroy()
        assert not os.path.exists(os.path.dirname(d))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for x in (d, os.path.dirname(d)):
            if os.path.isdir(x):
                _rmdir(x)


# -- the v1 controller as oracle ---------------------------------------------------------------

small_rules = st.lists(st.fixed_dictionaries(
    {"allow": st.booleans()},
    optional={"type": st.sampled_from(["a", "c", "b"]), "major": st.sampled_from([None, 1, 5]),
              "minor": st.sampled_from([None, 3, 5, 7]), "access": st.sampled_from(["r", "w", "rw", "rwm", "m"])}),
    max_size=6)


@need_v1
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(small_rules)
def test_emulation_matches_the_v1_kernel(v1group, rules):
    """The rules written raw, in order, to a real v1 devices cgroup give the list we compute."""
    with open(os.path.join(v1group, "devices.deny"), "w") as f:
        f.write("a")
    for i, rule in enumerate(rules):
        with open(os.path.join(v1group, "devices.allow" if rule["allow"] else "devices.deny"), "w") as f:
            f.write(device_rule(rule, i))
    with open(os.path.join(v1group, "devices.list")) as f:
        assert f.read().splitlines() == dv.emulate(rules).lines()


@need_v1
@need_v2
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(small_rules)
def test_program_and_v1_controller_agree_on_real_opens(v1group, v2group, rules):
    """Same rules, same open(2) results: v1 devices controller vs our eBPF program."""
    rules = [DENY_ALL] + rules
    from ocirun.cgroups.resources_v1 import set_devices

    set_devices(v1group, {"devices": rules}, [])
    ebpf.set_devices(v2group, rules)
    assert opens([v2group]) == opens([v1group])
