"""Hooks end to end with real containers (config.md#posix-platform-hooks,
runtime.md#lifecycle): when each phase runs, the state it gets on stdin,
the namespace it runs in, and what a failure does.

One shell script serves every hook. It saves its stdin as <dir>/<phase>.json
and appends a line to <dir>/log:

    phase|mount ns of the hook|cmdline of state.pid|<check path> exists/absent

The cmdline (read in the hook's own /proc) tells whether the container
process has executed its program yet. The startContainer hook runs in the
container after pivot_root, so the directory is bind-mounted at /h and that
hook is given /h paths.
"""
import json
import os

import pytest

from conftest import bind_mount, new_id, oci_files, pids_with, wait_until
from ocirun.state import proc_start_time

HOOK = r"""#!/bin/sh
phase=$1 dir=$2 code=${3:-0} check=$4
cat > "$dir/$phase.json"
pid=$(sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' "$dir/$phase.json")
cmd=
if [ -n "$pid" ] && [ "$pid" != 0 ]; then cmd=$(tr '\0' ' ' < /proc/$pid/cmdline 2>/dev/null); fi
where=; if [ -n "$check" ]; then if [ -e "$check" ]; then where=exists; else where=absent; fi; fi
echo "$phase|$(readlink /proc/self/ns/mnt)|$cmd|$where" >> "$dir/log"
exit $code
"""

HOST_PHASES = ("prestart", "createRuntime", "poststart", "poststop")


@pytest.fixture
def hookdir(tmp_path):
    d = tmp_path / "h"
    d.mkdir()
    (d / "hook.sh").write_text(HOOK)
    (d / "hook.sh").chmod(0o755)
    return d


def hook(d, phase, code=0, check="", inside=False, **extra):
    base = "/h" if inside else str(d)
    h = {"path": f"{base}/hook.sh", "args": ["hook.sh", phase, base, str(code), check]}
    h.update(extra)
    return h


def log(d):
    try:
        text = (d / "log").read_text()
    except FileNotFoundError:
        return []
    return [line.split("|") for line in text.splitlines()]


def phases(d):
    return [entry[0] for entry in log(d)]


def state_of(d, phase):
    return json.loads((d / f"{phase}.json").read_text())


def alive(pid):
    return proc_start_time(pid) is not None


def cgroup_dirs(path):
    return [f"/sys/fs/cgroup/{h}{path}" for h in os.listdir("/sys/fs/cgroup")]


def with_hooks(d, hooks, cgpath=None, annotations=None):
    def edit(c):
        c["hooks"] = hooks
        c["mounts"].append(bind_mount(d, "/h"))
        if cgpath:
            c["linux"]["cgroupsPath"] = cgpath
        if annotations:
            c["annotations"] = annotations
    return edit


def test_every_phase_in_order_with_state_and_namespace(oci, bundle, hookdir):
    """config.md#posix-platform-hooks and runtime.md#lifecycle: prestart,
    createRuntime, createContainer run during create (in that order, MUSTs of
    config.md#prestart / #createRuntime-hooks / #createContainer-hooks);
    startContainer during start before the user program, poststart after it
    was executed and before start returns, poststop after the container is
    deleted and before delete returns. Each gets the state on stdin
    (config.md: "The state of the container MUST be passed to hooks over
    stdin"). prestart, createRuntime, poststart and poststop run in the
    runtime namespace, createContainer and startContainer in the
    container's (here: its mount namespace); the pid is the one seen from
    the hook's own namespace (runtime.md#state)."""
    d = hookdir
    cid = new_id()
    args = ["sleep", "30"]
    statedir = os.path.join(oci.root, cid)
    hooks = {
        "prestart": [hook(d, "prestart")],
        "createRuntime": [hook(d, "createRuntime")],
        "createContainer": [hook(d, "createContainer")],
        "startContainer": [hook(d, "startContainer", inside=True)],
        "poststart": [hook(d, "poststart")],
        "poststop": [hook(d, "poststop", check=statedir)],
    }
    b = bundle(args=args, edit=with_hooks(d, hooks, annotations={"org.test": "hooks"}))
    host_mnt = os.readlink("/proc/self/ns/mnt")

    oci_files(oci, "create", "--bundle", b, cid, check=True)
    assert phases(d) == ["prestart", "createRuntime", "createContainer"]
    s = oci.state(cid)
    pid = s["pid"]
    ctr_mnt = os.readlink(f"/proc/{pid}/ns/mnt")
    assert ctr_mnt != host_mnt

    oci("start", cid, check=True)
    # poststart has run when start returns.
    assert phases(d) == ["prestart", "createRuntime", "createContainer", "startContainer", "poststart"]
    oci("delete", "--force", cid, check=True)
    assert phases(d)[-1] == "poststop"
    assert len(phases(d)) == 6

    entries = {e[0]: e for e in log(d)}
    for phase in HOST_PHASES:
        assert entries[phase][1] == host_mnt, f"{phase} not in the runtime mount namespace"
    for phase in ("createContainer", "startContainer"):
        assert entries[phase][1] == ctr_mnt, f"{phase} not in the container mount namespace"
    # startContainer: before the user program; poststart: after it was executed.
    assert "sleep" not in entries["startContainer"][2] and cid in entries["startContainer"][2]
    assert entries["poststart"][2].split()[-2:] == args, entries["poststart"]
    # poststop: after the container is deleted.
    assert entries["poststop"][3] == "absent"

    want_status = {"prestart": "creating", "createRuntime": "creating", "createContainer": "creating",
                   "startContainer": "created", "poststart": "running", "poststop": "stopped"}
    for phase, status in want_status.items():
        st = state_of(d, phase)
        assert st["status"] == status, (phase, st)
        assert (st["id"], st["bundle"], st["ociVersion"]) == (cid, b, s["ociVersion"]), (phase, st)
        assert st.get("annotations") == {"org.test": "hooks"}, (phase, st)
    for phase in ("prestart", "createRuntime", "poststart"):
        assert state_of(d, phase)["pid"] == pid, phase
    for phase in ("createContainer", "startContainer"):
        assert state_of(d, phase)["pid"] == 1, phase  # the pid seen inside the container's pid ns


@pytest.mark.parametrize("phase", ["prestart", "createRuntime", "createContainer"])
def test_failing_create_hook_leaves_nothing(oci, bundle, hookdir, phase):
    """runtime.md#lifecycle steps 3-5: a failing prestart/createRuntime/
    createContainer hook MUST generate an error, stop the container and
    continue at step 12 (destroy: no state, no cgroup, no process) and 13
    (poststop hooks run). runtime.md#errors: the environment is as if the
    operation had never been attempted."""
    d = hookdir
    cid = new_id()
    cg = f"/ocirun-hooktest/{cid}"
    hooks = {phase: [hook(d, phase, code=3)], "poststop": [hook(d, "poststop")]}
    b = bundle(args=["sleep", "30"], edit=with_hooks(d, hooks, cgpath=cg))
    p = oci_files(oci, "create", "--bundle", b, cid)
    assert p.returncode == 1
    assert phase in p.stderr and "exit status 3" in p.stderr, p.stderr
    assert phases(d) == [phase, "poststop"]
    assert state_of(d, "poststop")["status"] == "stopped"
    assert oci("state", cid).returncode == 1
    assert not os.path.exists(os.path.join(oci.root, cid))
    assert [c for c in cgroup_dirs(cg) if os.path.exists(c)] == []
    wait_until(lambda: pids_with(cid) == [], timeout=5, what="no process of the container")


def test_failing_poststart_is_an_error(oci, bundle, hookdir):
    """runtime.md#lifecycle step 9: if a poststart hook fails the runtime MUST
    generate an error and stop the container; poststop runs at delete."""
    d = hookdir
    cid = new_id()
    hooks = {"poststart": [hook(d, "poststart", code=1)], "poststop": [hook(d, "poststop")]}
    b = bundle(args=["sleep", "30"], edit=with_hooks(d, hooks))
    oci_files(oci, "create", "--bundle", b, cid, check=True)
    pid = oci.state(cid)["pid"]
    p = oci("start", cid)
    assert p.returncode == 1
    assert "poststart" in p.stderr
    wait_until(lambda: not alive(pid), timeout=5, what="the container to be stopped")
    assert oci.state(cid)["status"] == "stopped"
    oci("delete", cid, check=True)
    assert phases(d) == ["poststart", "poststop"]


def test_failing_poststop_is_a_warning(oci, bundle, hookdir):
    """runtime.md#lifecycle step 13: a failing poststop hook MUST only log a
    warning; the remaining hooks run and delete succeeds."""
    d = hookdir
    cid = new_id()
    hooks = {"poststop": [hook(d, "poststop", code=1), hook(d, "poststop2")]}
    b = bundle(args=["true"], edit=with_hooks(d, hooks))
    oci_files(oci, "create", "--bundle", b, cid, check=True)
    p = oci("delete", "--force", cid)
    assert p.returncode == 0, p.stderr
    assert "warning" in p.stderr and "poststop" in p.stderr
    assert phases(d) == ["poststop", "poststop2"]
    assert oci("state", cid).returncode == 1


def test_hook_timeout_kills_hanging_hook(oci, bundle, tmp_path):
    """config.md#posix-platform-hooks: `timeout` is the number of seconds
    before aborting the hook; the create then fails and leaves nothing."""
    import time

    pidfile = tmp_path / "hook.pid"
    cid = new_id()
    hooks = {"createRuntime": [{"path": "/bin/sh",
                                "args": ["sh", "-c", f'echo $$ > {pidfile}; exec sleep 30'],
                                "timeout": 1}]}
    b = bundle(args=["sleep", "30"], edit=lambda c: c.update(hooks=hooks))
    t = time.monotonic()
    p = oci_files(oci, "create", "--bundle", b, cid)
    assert p.returncode == 1
    assert time.monotonic() - t < 15
    assert "timed out" in p.stderr, p.stderr
    assert not alive(int(pidfile.read_text()))
    assert oci("state", cid).returncode == 1
    wait_until(lambda: pids_with(cid) == [], timeout=5, what="no process of the container")
