"""linux.resources enforced on real containers (root, cgroup v1 or hybrid host):
memory (OOM kill + the oom event), pids, cpu, devices; and runc as the oracle
for what gets written where.
"""
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import HAVE_RUNC, bind_mount, new_id, oci_files, wait_until
from ocirun.cgroups import create_manager

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

TEST_TOP = "ocirun-test-limits"


def saved_paths(oci, cid):
    with open(os.path.join(oci.root, cid, "state.json")) as f:
        return json.load(f)["cgroup"]["paths"]


def cg(oci, cid, controller):
    for name, d in saved_paths(oci, cid).items():
        if controller in name.split(","):
            return d
    raise KeyError(controller)


def read(d, name):
    with open(os.path.join(d, name)) as f:
        return f.read().strip()


def resources(**res):
    def edit(c):
        c["linux"]["resources"].update(res)
    return edit


def both(*edits):
    def edit(c):
        for e in edits:
            e(c)
    return edit


def mount(src, dst):
    return lambda c: c["mounts"].append(bind_mount(src, dst))


def run_detached(oci, bundle, args, edit):
    cid = new_id()
    oci_files(oci, "run", "-d", "--bundle", bundle(args=args, edit=edit), cid, check=True)
    return cid


def read_lines(proc, until, timeout=20.0):
    """JSON lines from proc.stdout until until(obj) is true; returns them all."""
    got, buf = [], b""
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            ln, buf = buf.split(b"\n", 1)
            got.append(json.loads(ln))
            if until(got[-1]):
                return got
    raise AssertionError(f"not seen in time; got {[g.get('type') for g in got]}")


# -- memory ------------------------------------------------------------------------------------


def test_memory_limit_oom_kills_and_events_reports_it(oci, bundle, tmp_path):
    """config-linux.md#memory: past the limit the OOM killer takes the allocating process;
    `events` streams {"type":"oom","id":...} (runc's shape)."""
    m = tmp_path / "m"
    m.mkdir()
    script = "while [ ! -e /m/go ]; do sleep 0.05; done; tail /dev/zero; echo $? > /m/rc; sleep 100"
    limit = 32 << 20
    cid = run_detached(oci, bundle, ["/bin/sh", "-c", script],
                       both(resources(memory={"limit": limit, "swap": limit}), mount(m, "/m")))
    mem = cg(oci, cid, "memory")
    assert read(mem, "memory.limit_in_bytes") == str(limit)
    ev = subprocess.Popen(oci.cmd("events", "--interval", "100ms", cid), stdout=subprocess.PIPE)
    try:
        read_lines(ev, lambda e: e["type"] == "stats")  # the watch is set up before the first tick
        (m / "go").touch()
        got = read_lines(ev, lambda e: e["type"] == "oom")
        assert got[-1] == {"type": "oom", "id": cid}
        wait_until(lambda: (m / "rc").exists() and (m / "rc").read_text().strip(), what="tail to end")
        assert (m / "rc").read_text().strip() == "137"  # SIGKILL
        assert "oom_kill 1" in read(mem, "memory.oom_control").splitlines()
        assert oci.state(cid)["status"] == "running"  # the init itself was under the limit
        oci("kill", cid, "KILL", check=True)
        assert ev.wait(timeout=10) == 0  # the stream ends with the container
    finally:
        if ev.poll() is None:
            ev.kill()
        ev.wait()


def test_memory_reservation_and_swap_files(oci, bundle):
    cid = run_detached(oci, bundle, ["sleep", "100"],
                       resources(memory={"limit": 64 << 20, "reservation": 16 << 20, "swap": 96 << 20}))
    mem = cg(oci, cid, "memory")
    assert read(mem, "memory.limit_in_bytes") == str(64 << 20)
    assert read(mem, "memory.soft_limit_in_bytes") == str(16 << 20)
    if os.path.exists(os.path.join(mem, "memory.memsw.limit_in_bytes")):
        assert read(mem, "memory.memsw.limit_in_bytes") == str(96 << 20)


# -- pids --------------------------------------------------------------------------------------


def test_pids_limit_makes_fork_fail(oci, bundle):
    """config-linux.md#pids: no more than `limit` tasks; the next fork fails (EAGAIN)."""
    cid = run_detached(oci, bundle, ["sleep", "100"], resources(pids={"limit": 6}))
    pids = cg(oci, cid, "pids")
    assert read(pids, "pids.max") == "6"
    p = oci("exec", cid, "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 & done; echo done")
    assert "can't fork" in p.stderr or "Resource temporarily unavailable" in p.stderr, p.stderr
    assert int(read(pids, "pids.current")) <= 6
    assert int(read(pids, "pids.events").split()[-1]) > 0  # "max N": refusals counted


def test_pids_unlimited():
    """-1 means "max" (config-linux.md#pids)."""
    from ocirun.cgroups.resources import pids_value

    assert pids_value(-1) == "max" and pids_value(0) == "0" and pids_value(7) == "7"


# -- cpu ---------------------------------------------------------------------------------------


def test_cpu_quota_period_shares_cpuset(oci, bundle):
    cid = run_detached(oci, bundle, ["/bin/sh", "-c", "while :; do :; done"],
                       resources(cpu={"quota": 20000, "period": 100000, "shares": 256, "cpus": "0", "mems": "0"}))
    cpu = cg(oci, cid, "cpu")
    assert read(cpu, "cpu.cfs_quota_us") == "20000"
    assert read(cpu, "cpu.cfs_period_us") == "100000"
    assert read(cpu, "cpu.shares") == "256"
    cpuset = cg(oci, cid, "cpuset")
    assert (read(cpuset, "cpuset.cpus"), read(cpuset, "cpuset.mems")) == ("0", "0")
    pid = oci.state(cid)["pid"]
    with open(f"/proc/{pid}/status") as f:
        assert "Cpus_allowed_list:\t0\n" in f.read()
    # the busy loop really is held to 20 ms per 100 ms
    wait_until(lambda: int(dict(ln.split() for ln in read(cpu, "cpu.stat").splitlines())["nr_throttled"]) > 2,
               what="throttling")
    usage0, t0 = int(read(cg(oci, cid, "cpuacct"), "cpuacct.usage")), time.monotonic()
    time.sleep(1.0)
    used = (int(read(cg(oci, cid, "cpuacct"), "cpuacct.usage")) - usage0) / 1e9
    assert used < 0.2 * (time.monotonic() - t0) + 0.1, used


# -- devices -----------------------------------------------------------------------------------

FUSE = "/dev/fuse"  # 10:229: on the host, not among the default devices
need_fuse = pytest.mark.skipif(not os.path.exists(FUSE), reason="no /dev/fuse on the host")
# A failed `exec 3<file` ends a non-interactive shell: try each open in a subshell.
TRY = ("for m in '<' '>' '<>'; do if eval \"(exec 3${m}/dev/fuse)\" 2>/dev/null; then echo \"$m ok\"; "
       "else echo \"$m no\"; fi; done; cat /dev/null && head -c 1 /dev/zero | wc -c")


def _fuse(c):
    c["mounts"].append({"destination": FUSE, "type": "bind", "source": FUSE, "options": ["bind"]})


def fuse_result(oci, bundle, rules):
    b = bundle(args=["/bin/sh", "-c", TRY],
               edit=both(_fuse, lambda c: c["linux"]["resources"].update(devices=rules)))
    p = oci_files(oci, "run", "--bundle", b, new_id(), check=True)
    lines = p.stdout.split()
    return dict(zip(lines[0:6:2], lines[1:6:2])), lines[6]


@need_fuse
def test_devices_deny_by_default(oci, bundle):
    """config-linux.md#allowed-device-list: a device no rule allows cannot be opened (EPERM)."""
    opened, zero = fuse_result(oci, bundle, [{"allow": False, "access": "rwm"}])
    assert opened == {"<": "no", ">": "no", "<>": "no"}
    assert zero == "1"  # the default devices stay usable


@need_fuse
def test_devices_allow_rule_and_access_letters(oci, bundle):
    rules = [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "r"}]
    assert fuse_result(oci, bundle, rules)[0] == {"<": "ok", ">": "no", "<>": "no"}
    rules[1]["access"] = "rw"
    assert fuse_result(oci, bundle, rules)[0] == {"<": "ok", ">": "ok", "<>": "ok"}
    # a later deny takes it away again
    rules.append({"allow": False, "type": "c", "major": 10, "minor": 229, "access": "w"})
    assert fuse_result(oci, bundle, rules)[0] == {"<": "ok", ">": "no", "<>": "no"}


@need_fuse
def test_devices_wildcard_allow(oci, bundle):
    rules = [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 10, "access": "rwm"}]
    assert fuse_result(oci, bundle, rules)[0] == {"<": "ok", ">": "ok", "<>": "ok"}


def test_default_devices_win_over_an_explicit_deny(oci, bundle):
    """As runc: the default rules come after the config's, so denying /dev/zero does not stick."""
    cid = run_detached(oci, bundle, ["sleep", "100"],
                       resources(devices=[{"allow": False, "access": "rwm"},
                                          {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "rwm"}]))
    assert "c 1:5 rwm" in read(cg(oci, cid, "devices"), "devices.list").splitlines()
    p = oci("exec", cid, "sh", "-c", "head -c 2 /dev/zero | wc -c")
    assert p.stdout.strip() == "2", p.stderr


# -- runc as the oracle ----------------------------------------------------------------------------

ORACLE_RESOURCES = {
    "memory": {"limit": 100 << 20, "reservation": 50 << 20},
    "cpu": {"shares": 333, "quota": 30000, "period": 60000, "cpus": "1", "mems": "0"},
    "pids": {"limit": 77},
    "devices": [{"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"},
                {"allow": True, "type": "b", "major": 7, "access": "r"},
                {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "rwm"}],
}
ORACLE_FILES = [("memory", "memory.limit_in_bytes"), ("memory", "memory.soft_limit_in_bytes"),
                ("cpu", "cpu.shares"), ("cpu", "cpu.cfs_quota_us"), ("cpu", "cpu.cfs_period_us"),
                ("cpuset", "cpuset.cpus"), ("cpuset", "cpuset.mems"), ("pids", "pids.max"),
                ("blkio", "blkio.weight"), ("blkio", "blkio.bfq.weight"), ("devices", "devices.list")]


def _files(manager):
    out = {}
    for ctrl, name in ORACLE_FILES:
        d = manager.path(ctrl)
        if d and os.path.exists(os.path.join(d, name)):
            out[name] = read(d, name)
    return out


def _runc_create(bundle_dir, cid, root):
    # stderr in a file, not a pipe: the container keeps its copy open
    with tempfile.TemporaryFile() as err:
        p = subprocess.run(["runc", "--root", root, "create", "--bundle", bundle_dir, cid], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=err, timeout=60)
        err.seek(0)
        p.stderr = err.read().decode(errors="replace")
    return p


@pytest.mark.skipif(not HAVE_RUNC, reason="runc (the reference) is not installed")
@pytest.mark.parametrize("extra", [{}, {"blockIO": {"weight": 300}}, {"memory": {"limit": -1}},
                                   {"pids": {"limit": -1}, "cpu": {"shares": 2, "quota": -1}}],
                         ids=["base", "blkio-weight", "unlimited-memory", "unlimited-pids-cpu"])
def test_same_cgroup_files_as_runc(oci, bundle, extra):
    """The same linux.resources under runc and under ocirun write the same values to the same files
    (or both refuse them, e.g. a blkio weight where the kernel has no weight file)."""
    top = f"/{TEST_TOP}-{uuid.uuid4().hex[:10]}"
    res = json.loads(json.dumps(ORACLE_RESOURCES))
    for k, v in extra.items():
        res[k] = {**res.get(k, {}), **v}

    def edit(path):
        def f(c):
            c["ociVersion"] = "1.0.2"
            c["process"]["args"] = ["sleep", "100"]
            c["linux"]["cgroupsPath"] = path
            c["linux"]["resources"] = res
        return f

    rid, oid = new_id("runc"), new_id()
    runc_m, oci_m = create_manager(f"{top}/runc", rid), create_manager(f"{top}/oci", oid)
    root = tempfile.mkdtemp()
    try:
        theirs = _runc_create(bundle(edit=edit(f"{top}/runc")), rid, root)
        ours = oci_files(oci, "create", "--bundle", bundle(edit=edit(f"{top}/oci")), oid)
        assert (theirs.returncode == 0) == (ours.returncode == 0), (theirs.stderr, ours.stderr)
        if theirs.returncode != 0:
            return
        got_theirs, got_ours = _files(runc_m), _files(oci_m)
        assert "devices.list" in got_ours and "memory.limit_in_bytes" in got_ours
        assert got_ours == got_theirs
    finally:
        subprocess.run(["runc", "--root", root, "delete", "-f", rid], capture_output=True, timeout=60)
        oci("delete", "--force", oid)
        shutil.rmtree(root, ignore_errors=True)
        for m in (runc_m, oci_m):
            for d in m.paths.values():
                for x in (d, os.path.dirname(d)):  # runc leaves its parents (and a failed create's dirs)
                    try:
                        os.rmdir(x)
                    except OSError:
                        pass
