"""The cgroup manager on this host's real hierarchies (root; v1 hybrid or whatever is mounted).

Every cgroup made here is named ocirun-test* and removed by the fixtures even
when a test fails; the last test checks that nothing named so is left.
"""
import json
import os
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from ocirun.cgroups import create_manager, load_manager
from ocirun.cgroups.mounts import detect_layout, own_cgroups, own_for
from ocirun.errors import CgroupError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="cgroup integration tests need root")

TEST_TOP = "ocirun-test"


def spawn():
    return subprocess.Popen(["sleep", "1000"], stdin=subprocess.DEVNULL)


def proc_state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def proc_cgroups(pid):
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            out[ctrls or "unified"] = path
    return out


def wait_for(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def hard_cleanup(m, procs):
    """Whatever happened in the test: no process, no directory left."""
    for p in procs:
        if p.poll() is None:
            try:
                m.thaw()
            except Exception:
                pass
            p.kill()
            p.wait()
    try:
        m.destroy()
    except CgroupError:
        pass
    for d in sorted(set(m.created) | set(m.paths.values()), key=len, reverse=True):
        for dirpath, dirs, _ in sorted(os.walk(d, topdown=False), key=lambda t: -len(t[0])):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


@pytest.fixture
def procs():
    return []


@pytest.fixture
def manager(procs):
    m = create_manager(f"/{TEST_TOP}/{uuid.uuid4().hex}", "unused")
    yield m
    hard_cleanup(m, procs)


def mounted_hierarchies():
    return detect_layout().hierarchies


# -- create / apply ----------------------------------------------------------------


def test_create_covers_every_mounted_hierarchy(manager):
    layout = detect_layout()
    assert [h.name for h in layout.hierarchies] == list(manager.paths)
    if layout.mode != "unified":
        assert any(h.name == "name=systemd" for h in layout.hierarchies) == ("name=systemd" in manager.paths)
    manager.create()
    for d in manager.paths.values():
        assert os.path.isdir(d)
        assert d in manager.created
    # parents made here are recorded too, before their children
    for d in manager.paths.values():
        parent = os.path.dirname(d)
        assert manager.created.index(parent) < manager.created.index(d)


def test_hybrid_includes_the_unified_hierarchy():
    if detect_layout().mode != "hybrid":
        pytest.skip("host is not hybrid")
    m = create_manager(f"/{TEST_TOP}/x", "x")
    assert m.paths["unified"].startswith(detect_layout().get("unified").mountpoint + "/")


def test_apply_moves_process_into_every_hierarchy(manager, procs):
    manager.create()
    p = spawn()
    procs.append(p)
    manager.apply(p.pid)
    seen = proc_cgroups(p.pid)
    for h in mounted_hierarchies():
        want = "/" + os.path.relpath(manager.paths[h.name], h.mountpoint)
        assert seen[h.name] == want, h.name
    assert manager.pids() == [p.pid]


def test_apply_creates_when_needed_and_cpuset_is_usable(manager, procs):
    p = spawn()
    procs.append(p)
    manager.apply(p.pid)  # no create() first
    assert manager.created
    cpuset = manager.path("cpuset")
    if cpuset:
        with open(os.path.join(cpuset, "cpuset.cpus")) as f:
            assert f.read().strip()


def test_join_for_exec_does_not_create(manager, procs):
    manager.create()
    saved = json.loads(json.dumps(manager.to_dict()))
    p1, p2 = spawn(), spawn()
    procs += [p1, p2]
    manager.apply(p1.pid)
    again = load_manager(saved)
    again.join(p2.pid)
    assert sorted(manager.pids()) == sorted([p1.pid, p2.pid])
    assert proc_cgroups(p2.pid) == proc_cgroups(p1.pid)


def test_join_into_missing_cgroup_fails_clearly(manager, procs):
    p = spawn()
    procs.append(p)
    with pytest.raises(CgroupError, match=r'failed to write "%d" to .*/cgroup.procs: no such file' % p.pid):
        manager.join(p.pid)
    assert manager.created == []


def test_apply_of_dead_pid_names_file_and_value(manager):
    manager.create()
    dead = subprocess.Popen(["true"])
    dead.wait()
    with pytest.raises(CgroupError) as e:
        manager.apply(dead.pid)
    assert f'"{dead.pid}"' in str(e.value) and "cgroup.procs" in str(e.value)
    assert "no such process" in str(e.value)


def test_pids_are_recursive(manager, procs):
    manager.create()
    p1, p2 = spawn(), spawn()
    procs += [p1, p2]
    manager.apply(p1.pid)
    sub = os.path.join(manager.primary(), "nested")
    os.mkdir(sub)
    with open(os.path.join(sub, "cgroup.procs"), "w") as f:
        f.write(str(p2.pid))
    assert sorted(manager.pids()) == sorted([p1.pid, p2.pid])


# -- freeze ------------------------------------------------------------------------


def test_freeze_and_thaw(manager, procs):
    """runtime.md pause semantics: every process stops, and is_frozen() tells."""
    manager.create()
    p = spawn()
    procs.append(p)
    manager.apply(p.pid)
    assert not manager.is_frozen()
    manager.freeze()
    assert manager.is_frozen()
    freezer = manager.path("freezer")
    if freezer:
        with open(os.path.join(freezer, "freezer.state")) as f:
            assert f.read().strip() == "FROZEN"
        assert proc_state(p.pid) == "D"  # v1 frozen tasks show as D
    unified = manager.paths.get("unified")
    if unified:
        with open(os.path.join(unified, "cgroup.events")) as f:
            assert "frozen 1" in f.read()
    manager.freeze()  # twice is fine
    manager.thaw()
    assert not manager.is_frozen()
    # Thawed: no longer stuck in D (it may run for a moment before it sleeps again).
    deadline = time.monotonic() + 5
    while proc_state(p.pid) == "D" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc_state(p.pid) in ("S", "R")
    if freezer:
        with open(os.path.join(freezer, "freezer.state")) as f:
            assert f.read().strip() == "THAWED"
    if unified:
        with open(os.path.join(unified, "cgroup.events")) as f:
            assert "frozen 0" in f.read()


def test_freeze_of_forking_workload(manager, procs):
    manager.create()
    # A shell that keeps forking: the v1 freezer has to retry through FREEZING.
    p = subprocess.Popen(["sh", "-c", "while :; do /bin/true; done"])
    procs.append(p)
    manager.apply(p.pid)
    time.sleep(0.05)
    for _ in range(5):
        manager.freeze()
        assert manager.is_frozen()
        manager.thaw()


def test_check_fit(manager, procs):
    """config-linux.md#control-groups: a non-empty or frozen cgroup is not fit for create."""
    manager.create()
    manager.check_fit()
    p = spawn()
    procs.append(p)
    manager.apply(p.pid)
    with pytest.raises(CgroupError, match="not empty"):
        manager.check_fit()
    manager.freeze()
    with pytest.raises(CgroupError, match="frozen"):
        manager.check_fit(for_create=False)
    manager.thaw()


# -- kill / destroy ------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_kill_all(manager, procs, sig):
    manager.create()
    ps = [spawn() for _ in range(3)]
    procs += ps
    for p in ps:
        manager.apply(p.pid)
    manager.kill_all(sig)
    for p in ps:
        assert p.wait(timeout=5) == -sig
    assert wait_for(lambda: manager.pids() == [])
    assert not manager.is_frozen()


def test_kill_all_of_a_paused_container(manager, procs):
    manager.create()
    p = spawn()
    procs.append(p)
    manager.apply(p.pid)
    manager.freeze()
    manager.kill_all(signal.SIGKILL)
    assert p.wait(timeout=5) == -signal.SIGKILL
    assert not manager.is_frozen()


def test_destroy_removes_exactly_what_was_created(manager, procs):
    parent = os.path.dirname(manager.path("pids") or manager.primary())
    os.makedirs(parent, exist_ok=True)  # pre-existing in one hierarchy: not ours
    try:
        manager.create()
        assert parent not in manager.created
        p = spawn()
        procs.append(p)
        manager.apply(p.pid)
        os.mkdir(os.path.join(manager.primary(), "made-by-container"))
        created = list(manager.created)
        manager.kill_all(signal.SIGKILL)
        manager.destroy()  # the process may still be dying: destroy retries
        p.wait()
        for d in created:
            assert not os.path.exists(d), d
        assert os.path.isdir(parent)
        assert manager.created == []
        manager.destroy()  # already gone: fine
    finally:
        os.rmdir(parent)


def test_destroy_leaves_a_shared_parent_with_others_in_it(procs):
    top = f"/{TEST_TOP}/{uuid.uuid4().hex}"
    a = create_manager(top + "/a", "a")
    b = create_manager(top + "/b", "b")
    parents = []
    try:
        a.create()
        parents = [d for d in a.created if d not in a.paths.values()]
        b.create()
        assert any(d.endswith(top) for d in parents)
        assert not any(d.endswith(top) for d in b.created)
        a.destroy()  # cannot remove top (b is in it) and must not fail
        assert not any(os.path.exists(d) for d in a.paths.values())
        assert all(os.path.isdir(d) for d in b.paths.values())
        b.destroy()
        assert all(os.path.isdir(os.path.dirname(d)) for d in b.paths.values())  # not b's to remove
    finally:
        hard_cleanup(a, [])
        hard_cleanup(b, [])
        for d in sorted(parents, key=len, reverse=True):
            try:
                os.rmdir(d)
            except OSError:
                pass


def test_destroy_with_live_process_fails_and_names_the_cgroup(manager, procs):
    manager.create()
    p = spawn()
    procs.append(p)
    manager.apply(p.pid)
    with pytest.raises(CgroupError, match=r"failed to remove cgroup .*: device or resource busy \(1 process"):
        manager.destroy(timeout=0.2)
    assert manager.created  # still remembered, so a later delete can finish
    manager.kill_all()
    p.wait()
    manager.destroy()
    assert not any(os.path.exists(d) for d in manager.paths.values())


# -- paths as runc places them ----------------------------------------------------------


def test_default_and_relative_paths_live_under_our_own_cgroup(procs):
    own = own_cgroups()
    cid = f"{TEST_TOP}-{uuid.uuid4().hex[:12]}"
    for value, inner in ((None, cid), (f"{cid}/rel", f"{cid}/rel")):
        m = create_manager(value, cid)
        try:
            m.create()
            p = spawn()
            procs.append(p)
            m.apply(p.pid)
            seen = proc_cgroups(p.pid)
            for h in mounted_hierarchies():
                base = own_for(own, h.name).rstrip("/")
                assert seen[h.name] == f"{base}/{inner}", h.name
        finally:
            hard_cleanup(m, procs)


@pytest.mark.skipif(shutil.which("runc") is None, reason="runc (the reference) is not installed")
@pytest.mark.parametrize("value", [None, "ocirun-test-rr/sub", "/ocirun-test-ra/sub"])
def test_same_placement_as_runc(tmp_path, procs, value):
    """Given the same cgroupsPath, runc and we put the process in the same cgroups."""
    cid = f"{TEST_TOP}-{uuid.uuid4().hex[:10]}"
    bundle = tmp_path / "b"
    (bundle / "rootfs" / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", bundle / "rootfs" / "bin" / "busybox")
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"].update(args=["/bin/busybox", "sleep", "100"], terminal=False)
    if value is not None:
        cfg["linux"]["cgroupsPath"] = value
    (bundle / "config.json").write_text(json.dumps(cfg))
    root = str(tmp_path / "runc-root")
    runc = ["runc", "--root", root]
    subprocess.run(runc + ["create", cid], cwd=bundle, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        state = json.loads(subprocess.run(runc + ["state", cid], capture_output=True, check=True).stdout)
        theirs = proc_cgroups(state["pid"])
    finally:
        subprocess.run(runc + ["delete", "-f", cid], check=False)
    m = create_manager(value, cid)
    try:
        p = spawn()
        procs.append(p)
        m.apply(p.pid)
        assert proc_cgroups(p.pid) == theirs
    finally:
        hard_cleanup(m, procs)
        # runc leaves the parents of its cgroups behind; they are empty.
        for d in m.paths.values():
            try:
                os.rmdir(os.path.dirname(d))
            except OSError:
                pass


# -- must stay last ----------------------------------------------------------------------


def test_zz_nothing_named_ocirun_test_is_left():
    left = []
    for h in mounted_hierarchies():
        for dirpath, dirs, _ in os.walk(h.mountpoint):
            left += [os.path.join(dirpath, d) for d in dirs if d.startswith(TEST_TOP)]
    assert left == []
