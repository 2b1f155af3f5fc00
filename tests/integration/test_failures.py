"""A create that fails, or a runtime killed in the middle of one, leaves nothing.

runtime.md#lifecycle: if a step of create fails the runtime MUST generate an
error and the container is not created. Here "nothing left" means, for the
container's id: no state directory under --root, no cgroup directory in any
hierarchy (the paths ocirun itself would use: cgroups.create_manager), no
process started from the launcher for this id, and no new host mount.

A runtime that is SIGKILLed (by a createRuntime hook, at a createContainer
hook, or at a random moment) cannot clean up; then `state` and `list` must
still work and `delete --force` must remove everything.
"""
import json
import os
import signal
import subprocess
import threading
import time
import uuid

import pytest

from conftest import launcher_pids, mountinfo, new_id

TRUE = ["/bin/true"]


def cgroup_dirs(cid, cgroups_path=None):
    """The container's directory in every hierarchy, found as ocirun finds them."""
    from ocirun import cgroups

    return sorted(cgroups.create_manager(cgroups_path, cid).paths.values())


class Leftovers:
    """Takes the host mount table before a test; check(cid) asserts nothing of cid is left.

    Other test sessions may mount things on this host meanwhile: only new
    mounts that name this session's tmp dirs or the container count."""

    def __init__(self, oci, basetemp):
        self.oci = oci
        self.basetemp = basetemp
        self.mounts = mountinfo()

    def check(self, cid, cgroups_path=None):
        assert not os.path.lexists(os.path.join(self.oci.root, cid)), "state directory left"
        left = [d for d in cgroup_dirs(cid, cgroups_path) if os.path.exists(d)]
        assert left == [], f"cgroup directories left: {left}"
        deadline = time.monotonic() + 3
        while launcher_pids(self.oci.binary, cid) and time.monotonic() < deadline:
            time.sleep(0.02)  # a SIGKILLed init is reaped by pid 1, not us
        assert launcher_pids(self.oci.binary, cid) == [], "a process of the container is alive"
        new = {m for m in mountinfo() - self.mounts if self.basetemp in m or cid in m}
        assert new == set(), f"new host mounts: {new}"


def run_detached(cmd, tmp_path, timeout=60):
    """Run an ocirun command whose container may outlive it: its init keeps
    the stdio it inherited, so pipes would never reach EOF; use files."""
    err = tmp_path / f"stderr-{uuid.uuid4().hex[:8]}"
    with open(err, "w") as f:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f,
                           timeout=timeout)
    return subprocess.CompletedProcess(cmd, p.returncode, "", err.read_text())


@pytest.fixture
def leftovers(oci, tmp_path_factory):
    return Leftovers(oci, str(tmp_path_factory.getbasetemp()))


def one_line(p):
    """The stderr of a failed command: exactly one line, no traceback."""
    lines = p.stderr.strip().splitlines()
    assert "Traceback" not in p.stderr, p.stderr
    assert len(lines) == 1, f"expected one line on stderr, got:\n{p.stderr}"
    return lines[0]


def fail_create(oci, leftovers, b, *words, cgroups_path=None):
    cid = new_id("fail")
    p = oci("create", "--bundle", b, cid)
    assert p.returncode != 0, p.stderr
    line = one_line(p)
    for w in words:
        assert w in line, f"{w!r} not in {line!r}"
    leftovers.check(cid, cgroups_path)
    return line


def test_bind_source_missing(oci, leftovers, bundle, tmp_path):
    """config.md#mounts: a bind source that does not exist fails the create."""
    missing = str(tmp_path / "no-such-source")
    b = bundle(TRUE, lambda c: c["mounts"].append(
        {"destination": "/x", "source": missing, "type": "bind", "options": ["rbind"]}))
    n = len(json.load(open(os.path.join(b, "config.json")))["mounts"]) - 1
    fail_create(oci, leftovers, b, f"mounts[{n}]", missing, "no such file or directory")


def test_bad_mount_type(oci, leftovers, bundle):
    b = bundle(TRUE, lambda c: c["mounts"].append(
        {"destination": "/x", "source": "none", "type": "nosuchfs"}))
    n = len(json.load(open(os.path.join(b, "config.json")))["mounts"]) - 1
    fail_create(oci, leftovers, b, f"mounts[{n}]", "/x", "no such device")


def test_failing_create_runtime_hook(oci, leftovers, bundle, tmp_path):
    """config.md#createruntime-hooks: a failing hook fails the create; poststop runs."""
    hook = tmp_path / "hook.sh"
    hook.write_text("#!/bin/sh\nexit 3\n")
    hook.chmod(0o755)
    poststop = tmp_path / "poststop.sh"
    mark = tmp_path / "poststop-ran"
    poststop.write_text(f"#!/bin/sh\ntouch {mark}\n")
    poststop.chmod(0o755)
    b = bundle(TRUE, lambda c: c.update(hooks={"createRuntime": [{"path": str(hook)}],
                                               "poststop": [{"path": str(poststop)}]}))
    fail_create(oci, leftovers, b, "createRuntime", str(hook), "exit status 3")
    assert mark.exists(), "poststop hooks must run after a failed createRuntime hook"


@pytest.mark.parametrize("exe,words", [
    ("/nope", ("/nope", "no such file or directory")),
    ("nope", ("nope", "executable file not found")),
])
def test_missing_executable(oci, leftovers, bundle, exe, words):
    fail_create(oci, leftovers, bundle([exe]), *words)


def test_cwd_is_a_file(oci, leftovers, bundle):
    b = bundle(TRUE, lambda c: c["process"].update(cwd="/etc/passwd"))
    fail_create(oci, leftovers, b, "process.cwd", "/etc/passwd", "not a directory")


def test_sysctl_failure_names_the_key_or_the_refused_value(oci, leftovers, bundle):
    """config-linux.md#sysctl: a key the kernel lacks fails at the open (the line
    names the key); a value it refuses fails at the write (key=value)."""
    b = bundle(TRUE, lambda c: c["linux"].update(sysctl={"net.ipv4.no_such_sysctl": "1"}))
    fail_create(oci, leftovers, b, "linux.sysctl: net.ipv4.no_such_sysctl: no such file or directory")
    b = bundle(TRUE, lambda c: c["linux"].update(sysctl={"net.ipv4.ip_forward": "abc"}))
    fail_create(oci, leftovers, b, "linux.sysctl: net.ipv4.ip_forward=abc: invalid argument")


def test_rlimit_above_hard_limit(oci, leftovers, bundle):
    """Raising RLIMIT_NOFILE above our hard limit needs CAP_SYS_RESOURCE, which
    the runtime here lacks (hard limit 20000). One above the hard limit, whatever
    it is: above fs.nr_open the kernel refuses it as well."""
    import resource

    above = resource.getrlimit(resource.RLIMIT_NOFILE)[1] + 1
    b = bundle(TRUE, lambda c: c["process"].update(
        rlimits=[{"type": "RLIMIT_NOFILE", "hard": above, "soft": above}]))
    fail_create(oci, leftovers, b, "process.rlimits[0]", "RLIMIT_NOFILE", "operation not permitted")


def test_schema_error(oci, leftovers, bundle):
    b = bundle(TRUE, lambda c: c["process"].update(
        rlimits=[{"type": "RLIMIT_NOFILE", "hard": "many", "soft": 10}]))
    fail_create(oci, leftovers, b, "config.json", "process.rlimits[0].hard")


def test_semantic_error(oci, leftovers, bundle):
    """config-linux.md#namespaces: a namespace type appears at most once."""
    b = bundle(TRUE, lambda c: c["linux"]["namespaces"].append({"type": "pid"}))
    n = len(json.load(open(os.path.join(b, "config.json")))["linux"]["namespaces"]) - 1
    fail_create(oci, leftovers, b, "config.json", f"linux.namespaces[{n}]", "pid")


def test_bad_namespace_path(oci, leftovers, bundle, tmp_path):
    """config-linux.md#namespaces: a path that is not a namespace of the type is an error."""
    notns = tmp_path / "not-a-namespace"
    notns.write_text("")

    def edit(c):
        for ns in c["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = str(notns)

    b = bundle(TRUE, edit)
    i = [n["type"] for n in json.load(open(os.path.join(b, "config.json")))["linux"]["namespaces"]]
    fail_create(oci, leftovers, b, f"linux.namespaces[{i.index('network')}]", str(notns))


def test_missing_namespace_path(oci, leftovers, bundle, tmp_path):
    missing = str(tmp_path / "gone")

    def edit(c):
        for ns in c["linux"]["namespaces"]:
            if ns["type"] == "ipc":
                ns["path"] = missing

    fail_create(oci, leftovers, bundle(TRUE, edit), "linux.namespaces[", missing, "no such file")


def test_unknown_capability_is_a_warning(oci, leftovers, bundle, tmp_path):
    """config.md#linux-process: an unknown capability MUST be logged as a
    warning and SHOULD NOT fail the create."""
    b = bundle(TRUE, lambda c: c["process"]["capabilities"]["bounding"].append("CAP_NOPE"))
    cid = new_id("warn")
    p = run_detached(oci.cmd("create", "--bundle", b, cid), tmp_path)
    assert p.returncode == 0, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "warning" in lines[0] and "CAP_NOPE" in lines[0], p.stderr
    assert "process.capabilities.bounding[" in lines[0]
    assert oci.state(cid)["status"] == "created"
    assert oci("delete", "--force", cid).returncode == 0
    leftovers.check(cid)


def test_rootfs_missing(oci, leftovers, bundle, tmp_path):
    """config.md#root: root.path MUST exist."""
    missing = str(tmp_path / "no-rootfs")
    b = bundle(TRUE, lambda c: c["root"].update(path=missing))
    fail_create(oci, leftovers, b, "root.path", missing, "no such file or directory")


def test_failure_with_own_cgroups_path(oci, leftovers, bundle):
    """A failure after the cgroup was made removes the parents ocirun made too."""
    top = f"/{new_id('ocirun-fail')}"
    path = f"{top}/inner"
    b = bundle(["/nope"], lambda c: c["linux"].update(cgroupsPath=path))
    fail_create(oci, leftovers, b, "/nope", cgroups_path=path)
    assert [d for d in cgroup_dirs("x", top) if os.path.exists(d)] == []


# ---- SIGKILL in the middle of create ----------------------------------------

def recover(oci, leftovers, cid, cgroups_path=None):
    """After the runtime died mid-create: state/list work, delete --force cleans all."""
    p = oci("state", cid)
    assert "Traceback" not in p.stderr, p.stderr
    if p.returncode == 0:
        st = json.loads(p.stdout)
        assert st["id"] == cid and st["status"] in ("creating", "created", "stopped"), st
        seen = st["status"]
    else:
        assert "does not exist" in one_line(p)
        seen = "absent"
    p = oci("list", "--format", "json")
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    json.loads(p.stdout)
    p = oci("list")
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    p = oci("delete", "--force", cid)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    leftovers.check(cid, cgroups_path)
    return seen


def test_killed_by_create_runtime_hook(oci, leftovers, bundle, tmp_path):
    """The createRuntime hook's parent is the runtime: it SIGKILLs it."""
    parent = tmp_path / "parent-cmdline"
    hook = tmp_path / "kill-parent.sh"
    hook.write_text(f"#!/bin/sh\ntr '\\0' '\\n' </proc/$PPID/cmdline >{parent}\nkill -9 $PPID\n")
    hook.chmod(0o755)
    b = bundle(TRUE, lambda c: c.update(hooks={"createRuntime": [{"path": str(hook)}]}))
    cid = new_id("kill")
    p = oci("create", "--bundle", b, cid)
    assert p.returncode == -signal.SIGKILL, p.stderr
    args = parent.read_text().split("\n")
    assert oci.binary in args and cid in args, f"hook's parent was not the runtime: {args}"
    recover(oci, leftovers, cid)


def find_runtime_hook(tmp_path):
    """(hook, file): a createContainer hook that writes the runtime's pid (the init's
    parent) to file, then waits up to 5 s for the runtime to die."""
    found = tmp_path / "runtime-pid"
    hook = tmp_path / "find-runtime.sh"
    hook.write_text(
        "#!/bin/sh\n"
        # No subshell: /proc/self must be this shell, whose parent is the init.
        "read -r line </proc/self/stat; set -- ${line##*\") \"}; init=$2\n"
        "read -r line </proc/$init/stat; set -- ${line##*\") \"}; rt=$2\n"
        f"echo $rt >{found}.tmp && mv {found}.tmp {found}\n"
        "i=0; while [ -e /proc/$rt ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done\n")
    hook.chmod(0o755)
    return hook, found


def kill_create_at_hook(oci, b, cid, found):
    """Run create of bundle b; SIGKILL the runtime once find_runtime_hook's hook named it."""
    # No pipes: the init would hold them open after the runtime's death.
    proc = subprocess.Popen(oci.cmd("create", "--bundle", b, cid), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not found.exists():
        assert proc.poll() is None, "the create ended before its createContainer hook ran"
        assert time.monotonic() < deadline, "the createContainer hook never ran"
        time.sleep(0.01)
    rt = int(found.read_text())
    assert rt == proc.pid, f"the init's parent ({rt}) is not the runtime ({proc.pid})"
    os.kill(rt, signal.SIGKILL)
    assert proc.wait(timeout=20) == -signal.SIGKILL


def test_killed_during_create_container_hook(oci, leftovers, bundle, tmp_path):
    """The createContainer hook runs under the init, in the container's pid
    namespace, so it cannot signal the runtime itself: it finds the runtime
    (the init's parent) through the host's /proc, names it, and waits while
    the test kills it."""
    hook, found = find_runtime_hook(tmp_path)
    b = bundle(TRUE, lambda c: c.update(hooks={"createContainer": [{"path": str(hook)}]}))
    cid = new_id("kill")
    kill_create_at_hook(oci, b, cid, found)
    recover(oci, leftovers, cid)


# timeout(1) sends KILL to its whole process group, itself included.
KILLED = (-signal.SIGKILL, 128 + signal.SIGKILL)


def test_killed_after_delays(oci, leftovers, bundle, tmp_path):
    """`timeout -s KILL` at small fixed delays, and at fractions of the time a
    whole create takes on this (possibly loaded) machine."""
    b = bundle(["/bin/sh", "-c", "exit 0"])
    t0 = time.monotonic()
    cid = new_id("kill")
    assert run_detached(oci.cmd("create", "--bundle", b, cid), tmp_path).returncode == 0
    full = time.monotonic() - t0
    recover(oci, leftovers, cid)
    outcomes = []
    for delay in (0.02, 0.1, *(round(full * f, 3) for f in (0.5, 0.65, 0.8, 0.9, 1.0))):
        cid = new_id("kill")
        p = run_detached(["timeout", "-s", "KILL", str(delay), *oci.cmd("create", "--bundle", b, cid)],
                         tmp_path)
        assert "Traceback" not in p.stderr, p.stderr
        outcomes.append((delay, p.returncode, recover(oci, leftovers, cid)))
    assert set(KILLED) & {o[1] for o in outcomes}, f"no run was killed: {outcomes}"


def _procs_in(oci, cid):
    from ocirun import cgroups

    d = cgroups.create_manager(None, cid).path("pids")
    try:
        with open(os.path.join(d, "cgroup.procs")) as f:
            return f.read().split()
    except OSError:
        return []


def _record(oci, cid):
    try:
        with open(os.path.join(oci.root, cid, "state.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _recorded_pid(oci, cid):
    return _record(oci, cid).get("pid")


def _caps_dropped(oci, cid):
    """The init applied process.capabilities: the last step before it reports ready."""
    def bounding(pid):
        with open(f"/proc/{pid}/status") as f:
            return [x for x in f if x.startswith("CapBnd:")]

    pid = _recorded_pid(oci, cid)
    return bool(pid) and bounding(pid) != bounding("self")


def _init_mounted(oci, cid):
    """The init mounted devpts in the rootfs (and has not pivoted yet)."""
    rec = _record(oci, cid)
    if not rec.get("pid"):
        return False
    with open(f"/proc/{rec['pid']}/mountinfo") as f:
        return f" {rec['rootfs']}/dev/pts " in f.read()


# The moments, in the order create reaches them.
MOMENTS = {
    "state-dir-claimed": lambda oci, cid: os.path.isdir(os.path.join(oci.root, cid)),
    "cgroup-made": lambda oci, cid: any(os.path.isdir(d) for d in cgroup_dirs(cid)),
    "init-pid-recorded": lambda oci, cid: bool(_recorded_pid(oci, cid)),
    "init-in-its-cgroup": lambda oci, cid: bool(_procs_in(oci, cid)),
    "rootfs-mounted": _init_mounted,
    "init-dropped-capabilities": _caps_dropped,
    "created-recorded": lambda oci, cid: _record(oci, cid).get("status") == "created",
}


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_killed_at_a_moment(oci, leftovers, bundle, moment):
    """Watch the create from outside and SIGKILL the runtime as soon as it
    reaches `moment` (it may have gone a little further by then)."""
    b = bundle(["/bin/sh", "-c", "exit 0"])
    cid = new_id("kill")
    reached = MOMENTS[moment]
    proc = subprocess.Popen(oci.cmd("create", "--bundle", b, cid), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hit = False
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            hit = reached(oci, cid)
        except OSError:
            hit = False
        if hit:
            proc.kill()
            break
        time.sleep(0.0005)
    proc.wait(timeout=30)
    if not hit:
        assert proc.returncode == 0, "the create failed on its own"
    recover(oci, leftovers, cid)


def test_killed_while_making_cgroups(oci, leftovers, bundle):
    """A deep linux.cgroupsPath makes create() take a few hundred mkdirs: kill
    the runtime while they are being made. The directories it was about to
    make are in the state record before the first mkdir, so delete --force
    removes them all, parents included."""
    deep = "/".join(f"l{i}" for i in range(40))
    hits = 0
    for _ in range(3):
        top = f"/{new_id('ocirun-deep')}"
        path = f"{top}/{deep}"
        b = bundle(TRUE, lambda c: c["linux"].update(cgroupsPath=path))
        cid = new_id("kill")
        first = cgroup_dirs(cid, top)
        proc = subprocess.Popen(oci.cmd("create", "--bundle", b, cid), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None:
            if any(os.path.isdir(d) for d in first):
                proc.kill()
                break
            time.sleep(0.0001)
        hits += proc.wait(timeout=30) == -signal.SIGKILL
        recover(oci, leftovers, cid, path)
        assert [d for d in first if os.path.exists(d)] == [], "parent cgroups left"
    assert hits, "the runtime was never killed while making cgroups"


def test_delete_force_waits_for_a_create_in_progress(oci, leftovers, bundle, tmp_path):
    """delete --force on an id whose create is still running: it waits for the
    create's lock, then removes the container (or finds nothing)."""
    gate = tmp_path / "gate"
    hook = tmp_path / "slow.sh"
    hook.write_text(f"#!/bin/sh\nwhile [ ! -e {gate} ]; do sleep 0.01; done\n")
    hook.chmod(0o755)
    b = bundle(TRUE, lambda c: c.update(hooks={"createRuntime": [{"path": str(hook)}]}))
    cid = new_id("race")
    create = subprocess.Popen(oci.cmd("create", "--bundle", b, cid), stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    def creating():
        recorded = os.path.exists(os.path.join(oci.root, cid, "state.json"))
        return recorded and oci.state(cid)["status"] == "creating"

    try:
        deadline = time.monotonic() + 20
        while not creating():
            assert time.monotonic() < deadline, "never saw the container as creating"
            time.sleep(0.01)
        threading.Timer(0.3, gate.touch).start()
        p = oci("delete", "--force", cid)
        assert p.returncode == 0, p.stderr
    finally:
        gate.touch()
        create.wait(timeout=20)
    assert create.returncode == 0
    leftovers.check(cid)
