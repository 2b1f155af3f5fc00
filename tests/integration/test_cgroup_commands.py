"""pause, resume, update, ps, events and kill --all on real containers (root),
plus the v2 pieces this host cannot run a container with (stats and OOM
watching on a tmp tree laid out like a cgroup2 directory).

runc 1.1.5 (checked on this host) is the reference for messages and shapes:
pause of a stopped container → "container not running", resume of a running
one → "container not paused", `ps --format json` → `[pid,...]` or `null`.
"""
import json
import os
import subprocess
import time

import pytest

from conftest import HAVE_RUNC, bind_mount, new_id, oci_files, wait_until
from ocirun.state import proc_start_time

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


# -- helpers ----------------------------------------------------------------------------------


def status(oci, cid):
    return json.loads(oci("state", cid, check=True).stdout)["status"]


def saved(oci, cid, name="state.json"):
    with open(os.path.join(oci.root, cid, name)) as f:
        return json.load(f)


def cg(oci, cid, controller):
    """The container's directory in a v1 hierarchy (or "unified")."""
    paths = saved(oci, cid)["cgroup"]["paths"]
    for name, d in paths.items():
        if controller in name.split(",") or name == controller:
            return d
    raise KeyError(controller)


def read(d, name):
    with open(os.path.join(d, name)) as f:
        return f.read().strip()


def alive(pid):
    return proc_start_time(pid) is not None


def start_detached(oci, bundle, args, edit=None, cid=None):
    cid = cid or new_id()
    oci_files(oci, "run", "-d", "--bundle", bundle(args=args, edit=edit), cid, check=True)
    return cid


def counter(path):
    """How many lines the container's loop has appended (one write(2) each, so never torn)."""
    try:
        return path.read_text().count("\n")
    except FileNotFoundError:
        return 0


COUNT_LOOP = ["/bin/sh", "-c", "while :; do echo x >> /m/count; sleep 0.01; done"]


# -- pause / resume ---------------------------------------------------------------------------


def test_pause_freezes_and_resume_thaws(oci, bundle, tmp_path):
    """runtime.md state "paused": the processes really stop, and go on after resume."""
    m = tmp_path / "m"
    m.mkdir()
    cid = start_detached(oci, bundle, COUNT_LOOP, edit=lambda c: c["mounts"].append(bind_mount(m, "/m")))
    first = counter(m / "count")
    wait_until(lambda: counter(m / "count") > first + 3, what="the counter to advance")
    oci("pause", cid, check=True)
    assert status(oci, cid) == "paused"
    assert read(cg(oci, cid, "freezer"), "freezer.state") == "FROZEN"
    frozen_at = counter(m / "count")
    time.sleep(0.4)
    assert counter(m / "count") == frozen_at
    pid = oci.state(cid)["pid"]
    with open(f"/proc/{pid}/stat") as f:
        assert f.read().rsplit(")", 1)[1].split()[0] == "D"  # what v1 frozen tasks show
    oci("resume", cid, check=True)
    assert status(oci, cid) == "running"
    wait_until(lambda: counter(m / "count") > frozen_at + 3, what="the counter to advance after resume")
    assert read(cg(oci, cid, "freezer"), "freezer.state") == "THAWED"


def test_pause_and_resume_errors_are_runcs(oci, bundle):
    cid = start_detached(oci, bundle, ["sleep", "100"])
    p = oci("resume", cid)
    assert p.returncode == 1 and "container not paused" in p.stderr
    oci("pause", cid, check=True)
    p = oci("pause", cid)  # runc: a paused container is "not running" for pause
    assert p.returncode == 1 and "container not running" in p.stderr
    oci("resume", cid, check=True)
    oci("kill", cid, "KILL", check=True)
    wait_until(lambda: status(oci, cid) == "stopped", what="stopped")
    for verb, msg in (("pause", "container not running"), ("resume", "container not paused")):
        p = oci(verb, cid)
        assert p.returncode == 1 and msg in p.stderr, (verb, p.stderr)
    p = oci("pause", "no-such-container")
    assert p.returncode == 1 and "does not exist" in p.stderr


def test_a_created_container_can_be_paused(oci, bundle):
    """As runc: pause works on "created"; start then refuses; resume returns to "created"."""
    cid = new_id()
    oci_files(oci, "create", "--bundle", bundle(args=["sleep", "100"]), cid, check=True)
    oci("pause", cid, check=True)
    assert status(oci, cid) == "paused"
    p = oci("start", cid)
    assert p.returncode == 1 and "paused" in p.stderr
    oci("resume", cid, check=True)
    assert status(oci, cid) == "created"
    oci("start", cid, check=True)
    assert status(oci, cid) == "running"


def test_state_confirms_paused_with_the_freezer(oci, bundle):
    """A cgroup thawed behind our back reads as running, and cannot be resumed."""
    cid = start_detached(oci, bundle, ["sleep", "100"])
    oci("pause", cid, check=True)
    freezer = cg(oci, cid, "freezer")
    with open(os.path.join(freezer, "freezer.state"), "w") as f:
        f.write("THAWED")
    unified = saved(oci, cid)["cgroup"]["paths"].get("unified")
    if unified:
        with open(os.path.join(unified, "cgroup.freeze"), "w") as f:
            f.write("0")
    assert status(oci, cid) == "running"
    p = oci("resume", cid)
    assert p.returncode == 1 and "container not paused" in p.stderr
    oci("pause", cid, check=True)
    assert status(oci, cid) == "paused"


def test_delete_force_of_a_paused_container(oci, bundle):
    cid = start_detached(oci, bundle, ["sleep", "100"])
    pid = oci.state(cid)["pid"]
    oci("pause", cid, check=True)
    oci("delete", "--force", cid, check=True)
    wait_until(lambda: not alive(pid), what="the init to die")


# -- kill --all -------------------------------------------------------------------------------


def test_kill_all_reaches_every_process(oci, bundle):
    cid = start_detached(oci, bundle, ["/bin/sh", "-c", "sleep 101 & sleep 102 & sleep 103 & wait"])
    devices = cg(oci, cid, "devices")
    pids = wait_until(lambda: (lambda p: p if len(p) == 4 else None)(read(devices, "cgroup.procs").split()),
                      what="4 processes in the cgroup")
    oci("kill", "--all", cid, "9", check=True)
    wait_until(lambda: not any(alive(int(p)) for p in pids), what="every process to die")
    wait_until(lambda: status(oci, cid) == "stopped", what="stopped")


def test_kill_all_of_a_paused_container(oci, bundle):
    """Frozen processes die too: SIGKILL through cgroup.kill, then the freezer is thawed."""
    cid = start_detached(oci, bundle, ["/bin/sh", "-c", "sleep 101 & sleep 102 & wait"])
    devices = cg(oci, cid, "devices")
    pids = wait_until(lambda: (lambda p: p if len(p) == 3 else None)(read(devices, "cgroup.procs").split()),
                      what="3 processes in the cgroup")
    oci("pause", cid, check=True)
    oci("kill", "--all", cid, "KILL", check=True)
    wait_until(lambda: not any(alive(int(p)) for p in pids), what="every process to die")
    assert status(oci, cid) == "stopped"


def test_kill_all_with_a_catchable_signal(oci, bundle):
    """Not SIGKILL: freeze, signal each process, thaw (sleeps die of TERM, then sh exits)."""
    cid = start_detached(oci, bundle, ["/bin/sh", "-c", "sleep 101 & sleep 102 & wait; wait"])
    devices = cg(oci, cid, "devices")
    wait_until(lambda: len(read(devices, "cgroup.procs").split()) == 3, what="3 processes")
    oci("kill", "--all", cid, "TERM", check=True)
    wait_until(lambda: status(oci, cid) == "stopped", what="stopped")
    assert read(cg(oci, cid, "freezer"), "freezer.state") in ("THAWED", "")


# -- ps ---------------------------------------------------------------------------------------


def test_ps_json_lists_the_container_pids(oci, bundle):
    cid = start_detached(oci, bundle, ["/bin/sh", "-c", "sleep 100 & wait"])
    devices = cg(oci, cid, "devices")
    wait_until(lambda: len(read(devices, "cgroup.procs").split()) == 2, what="2 processes")
    p = oci("ps", "--format", "json", cid, check=True)
    assert p.stdout.endswith("]\n") and " " not in p.stdout  # Go's encoder: compact, one line
    pids = json.loads(p.stdout)
    assert sorted(pids) == sorted(int(x) for x in read(devices, "cgroup.procs").split())
    assert oci.state(cid)["pid"] in pids
    assert json.loads(oci("ps", "-f", "json", cid, check=True).stdout) == pids


def test_ps_table_filters_host_ps_by_pid(oci, bundle):
    cid = start_detached(oci, bundle, ["/bin/sh", "-c", "sleep 100 & wait"])
    devices = cg(oci, cid, "devices")
    pids = wait_until(lambda: (lambda p: p if len(p) == 2 else None)(read(devices, "cgroup.procs").split()),
                      what="2 processes")
    lines = oci("ps", cid, check=True).stdout.splitlines()
    assert lines[0].split()[:3] == ["UID", "PID", "PPID"]  # ps -ef by default
    assert sorted(ln.split()[1] for ln in lines[1:]) == sorted(pids)
    lines = oci("ps", cid, "-o", "pid,comm").stdout.splitlines()
    assert lines[0].split() == ["PID", "COMMAND"]
    assert sorted(ln.split()[1] for ln in lines[1:]) == ["sh", "sleep"]
    p = oci("ps", cid, "-o", "comm")
    assert p.returncode == 1 and "couldn't find PID field in ps output" in p.stderr
    p = oci("ps", "--format", "yaml", cid)
    assert p.returncode == 1 and "invalid format option" in p.stderr


def test_ps_of_a_stopped_container(oci, bundle):
    cid = new_id()
    oci_files(oci, "create", "--bundle", bundle(args=["sleep", "100"]), cid, check=True)
    oci("kill", cid, "KILL", check=True)
    wait_until(lambda: status(oci, cid) == "stopped", what="stopped")
    assert oci("ps", "--format", "json", cid, check=True).stdout == "null\n"  # as runc (a nil Go slice)
    assert len(oci("ps", cid, check=True).stdout.splitlines()) == 1


# -- update -----------------------------------------------------------------------------------


def _limits(c):
    c["linux"]["resources"]["memory"] = {"limit": 64 << 20}
    c["linux"]["resources"]["cpu"] = {"shares": 512}
    c["linux"]["resources"]["pids"] = {"limit": 100}


def test_update_memory_with_flags(oci, bundle):
    cid = start_detached(oci, bundle, ["sleep", "100"], edit=_limits)
    mem = cg(oci, cid, "memory")
    assert read(mem, "memory.limit_in_bytes") == str(64 << 20)
    oci("update", "--memory", "128m", "--memory-reservation", "32M", "--pids-limit", "200", cid, check=True)
    assert read(mem, "memory.limit_in_bytes") == str(128 << 20)
    assert read(mem, "memory.soft_limit_in_bytes") == str(32 << 20)
    assert read(cg(oci, cid, "pids"), "pids.max") == "200"
    assert read(cg(oci, cid, "cpu"), "cpu.shares") == "512"  # untouched
    res = saved(oci, cid, "config.json")["linux"]["resources"]
    assert res["memory"] == {"limit": 128 << 20, "reservation": 32 << 20}
    assert res["pids"] == {"limit": 200} and res["cpu"] == {"shares": 512}
    oci("update", "--memory", "1.5g", cid, check=True)  # go-units RAMInBytes: binary, fractions
    assert read(mem, "memory.limit_in_bytes") == str(int(1.5 * (1 << 30)))


def test_update_resources_from_stdin_treats_zero_as_unchanged(oci, bundle):
    """containerd: `update --resources -` with LinuxResources on stdin; docker sends unset as 0."""
    cid = start_detached(oci, bundle, ["sleep", "100"], edit=_limits)
    body = {"memory": {"limit": 96 << 20, "reservation": 0, "swap": 0, "kernel": 0},
            "cpu": {"shares": 0, "quota": 0, "period": 0, "cpus": "", "mems": ""},
            "blockIO": {"weight": 0}, "pids": {"limit": 0}}
    p = subprocess.run(oci.cmd("update", "--resources", "-", cid), input=json.dumps(body),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert read(cg(oci, cid, "memory"), "memory.limit_in_bytes") == str(96 << 20)
    assert read(cg(oci, cid, "cpu"), "cpu.shares") == "512"
    assert read(cg(oci, cid, "pids"), "pids.max") == "100"
    res = saved(oci, cid, "config.json")["linux"]["resources"]
    assert res["memory"] == {"limit": 96 << 20} and res["cpu"] == {"shares": 512}
    assert res["pids"] == {"limit": 100}


def test_update_resources_from_a_file(oci, bundle, tmp_path):
    cid = start_detached(oci, bundle, ["sleep", "100"], edit=_limits)
    f = tmp_path / "res.json"
    f.write_text(json.dumps({"cpu": {"quota": 25000, "period": 50000, "cpus": "0"}}))
    # flags are ignored when --resources is given (as runc)
    oci("update", "--resources", str(f), "--memory", "1g", cid, check=True)
    cpu = cg(oci, cid, "cpu")
    assert (read(cpu, "cpu.cfs_quota_us"), read(cpu, "cpu.cfs_period_us")) == ("25000", "50000")
    assert read(cg(oci, cid, "cpuset"), "cpuset.cpus") == "0"
    assert read(cg(oci, cid, "memory"), "memory.limit_in_bytes") == str(64 << 20)


def test_update_refused_by_the_kernel_names_file_and_value(oci, bundle):
    cid = start_detached(oci, bundle, ["sleep", "100"], edit=_limits)
    before = saved(oci, cid, "config.json")["linux"]["resources"]
    p = oci("update", "--cpuset-cpus", "63", cid)
    assert p.returncode == 1
    assert '"63"' in p.stderr and "cpuset.cpus" in p.stderr, p.stderr
    assert saved(oci, cid, "config.json")["linux"]["resources"] == before  # nothing recorded


def test_update_flag_errors_are_runcs(oci, bundle):
    cid = start_detached(oci, bundle, ["sleep", "100"])
    for args, msg in ((["--memory", "xyz"], "invalid value for memory: invalid size: 'xyz'"),
                      (["--pids-limit", "abc"], 'invalid value "abc" for flag -pids-limit: parse error'),
                      (["--cpu-share", "-1"], 'invalid value for cpu-share: strconv.ParseUint: parsing "-1"'),
                      (["--l3-cache-schema", "L3:0=f"], "Intel RDT/CAT: l3 cache schema is not enabled")):
        p = oci("update", *args, cid)
        assert p.returncode == 1 and msg in p.stderr, (args, p.stderr)
    p = subprocess.run(oci.cmd("update", "-r", "-", cid), input='{"memory": {"limit": "big"}}',
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "memory.limit" in p.stderr and "must be an integer" in p.stderr, p.stderr
    p = subprocess.run(oci.cmd("update", "-r", "-", cid), input="{not json", capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 1 and "invalid JSON" in p.stderr


def test_update_of_a_stopped_container_fails(oci, bundle):
    cid = new_id()
    oci_files(oci, "create", "--bundle", bundle(args=["sleep", "100"]), cid, check=True)
    oci("kill", cid, "KILL", check=True)
    wait_until(lambda: status(oci, cid) == "stopped", what="stopped")
    p = oci("update", "--memory", "100m", cid)
    assert p.returncode == 1 and "container not running" in p.stderr


def test_update_devices_keeps_the_default_devices(oci, bundle):
    """An update that carries devices is applied with the default rules appended, as at create."""
    cid = start_detached(oci, bundle, ["sleep", "100"])
    devices = cg(oci, cid, "devices")
    before = read(devices, "devices.list").splitlines()
    body = {"devices": [{"allow": False, "access": "rwm"},
                        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"}]}
    p = subprocess.run(oci.cmd("update", "-r", "-", cid), input=json.dumps(body), capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    after = read(devices, "devices.list").splitlines()
    assert "c 10:229 rw" in after and "c 10:229 rw" not in before
    assert set(before) <= set(after)  # the defaults (null, zero, pts, ...) stay
    p = oci("exec", cid, "sh", "-c", "echo x > /dev/null && head -c 3 /dev/zero | wc -c")
    assert p.returncode == 0 and p.stdout.strip() == "3", p.stderr
    assert saved(oci, cid, "config.json")["linux"]["resources"]["devices"] == body["devices"]


# -- events -----------------------------------------------------------------------------------


def _skeleton(obj):
    """Key structure of a stats object, without the keys Go omits at zero (they come and go)."""
    omit = {"total", "percpu", "percpu_kernel", "percpu_user", "periods", "throttledPeriods", "throttledTime",
            "cache", "usage", "max", "current", "limit", "cpus", "mems"}
    if isinstance(obj, dict):
        return {k: _skeleton(v) for k, v in obj.items()
                if not (k in omit and not isinstance(v, dict)) and not k.startswith("io")}  # blkio: if IO happened
    return type(obj).__name__


def test_events_stats_shape(oci, bundle):
    cid = start_detached(oci, bundle, ["sleep", "100"], edit=_limits)
    p = oci("events", "--stats", cid, check=True)
    assert p.stdout.endswith("}\n") and p.stdout.count("\n") == 1
    ev = json.loads(p.stdout)
    assert list(ev) == ["type", "id", "data"] and ev["type"] == "stats" and ev["id"] == cid
    data = ev["data"]
    assert list(data) == ["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt", "network_interfaces"]
    assert data["memory"]["usage"]["limit"] == 64 << 20
    assert data["pids"] == {"current": 1, "limit": 100}
    assert data["network_interfaces"] is None and data["intel_rdt"] == {}
    assert list(data["memory"]["raw"]) == sorted(data["memory"]["raw"])  # a Go map: sorted keys
    if not HAVE_RUNC:
        return
    # runc 1.1.5 on the same kind of container: the same keys in the same order.
    theirs = _runc_stats(bundle)
    assert _skeleton(data) == _skeleton(theirs)


@pytest.mark.skipif(not HAVE_RUNC, reason="runc (the reference) is not installed")
def test_stats_are_byte_for_byte_runcs(bundle):
    """Our stats of runc's own container's cgroups print exactly what `runc events --stats` prints."""
    from ocirun import fastjson
    from ocirun.cgroups import create_manager
    import tempfile

    cid = new_id("runc")
    path = f"/ocirun-test-ev-{cid}/c"

    def edit(c):
        _limits(c)
        c.update(ociVersion="1.0.2")
        c["linux"]["cgroupsPath"] = path
        c["process"]["args"] = ["/bin/sh", "-c", "sleep 100 & head -c 1000000 /dev/urandom >/dev/null; wait"]

    b = bundle(edit=edit)
    m = create_manager(path, cid)
    with tempfile.TemporaryDirectory() as root:
        runc = ["runc", "--root", root]
        subprocess.run(runc + ["run", "-d", "--bundle", b, cid], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        try:
            wait_until(lambda: len(m.pids()) == 2, what="the container to settle")
            for _ in range(5):  # a value may move between the reads: retry
                before = fastjson.dumps(m.stats())
                line = subprocess.run(runc + ["events", "--stats", cid], check=True, capture_output=True,
                                      text=True, timeout=60).stdout
                theirs = json.dumps(json.loads(line)["data"], separators=(",", ":"))
                after = fastjson.dumps(m.stats())
                if theirs in (before, after):
                    break
            assert theirs in (before, after)
        finally:
            subprocess.run(runc + ["delete", "-f", cid], capture_output=True, timeout=60)
            for d in m.paths.values():  # runc leaves the empty parents behind
                try:
                    os.rmdir(os.path.dirname(d))
                except OSError:
                    pass


def _runc_stats(bundle):
    import tempfile

    cid = new_id("runc")
    b = bundle(args=["sleep", "100"], edit=lambda c: (_limits(c), c.update(ociVersion="1.0.2")))
    with tempfile.TemporaryDirectory() as root:
        runc = ["runc", "--root", root]
        subprocess.run(runc + ["run", "-d", "--bundle", b, cid], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        try:
            out = subprocess.run(runc + ["events", "--stats", cid], check=True, capture_output=True,
                                 text=True, timeout=60).stdout
        finally:
            subprocess.run(runc + ["delete", "-f", cid], capture_output=True, timeout=60)
    return json.loads(out)["data"]


def test_events_stream_stats_until_the_container_stops(oci, bundle):
    cid = start_detached(oci, bundle, ["sleep", "100"])
    ev = subprocess.Popen(oci.cmd("events", "--interval", "150ms", cid), stdout=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        lines = [ev.stdout.readline(), ev.stdout.readline()]
        assert time.monotonic() - t0 >= 0.25  # the first after one interval, as a Go ticker
        for ln in lines:
            e = json.loads(ln)
            assert e["type"] == "stats" and e["id"] == cid and "memory" in e["data"]
        oci("kill", cid, "KILL", check=True)
        assert ev.wait(timeout=10) == 0
    finally:
        if ev.poll() is None:
            ev.kill()
        ev.wait()


def test_events_errors(oci, bundle):
    cid = start_detached(oci, bundle, ["sleep", "100"])
    p = oci("events", "--interval", "0s", cid)
    assert p.returncode == 1 and "duration interval must be greater than 0" in p.stderr
    p = oci("events", "--interval", "5", cid)
    assert p.returncode == 1 and 'invalid value "5" for flag -interval' in p.stderr
    oci("kill", cid, "KILL", check=True)
    wait_until(lambda: status(oci, cid) == "stopped", what="stopped")
    p = oci("events", "--stats", cid)
    assert p.returncode == 1 and f"container with id {cid} is not running" in p.stderr


# -- v2 stats and OOM watching on a tmp tree --------------------------------------------------


V2_STAT_FILES = {
    "cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\n"
                "throttled_usec 30\n",
    "memory.current": "4096\n", "memory.max": "1048576\n", "memory.swap.current": "0\n",
    "memory.swap.max": "max\n", "memory.events": "low 0\nhigh 0\nmax 2\noom 1\noom_kill 0\n",
    "memory.stat": "file 100\nanon 200\n",
    "pids.current": "3\n", "pids.max": "max\n",
    "io.stat": "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
    "hugetlb.2MB.current": "0\n", "hugetlb.2MB.max": "max\n", "hugetlb.2MB.events": "max 0\n",
    "hugetlb.2MB.rsvd.max": "max\n",
}


@pytest.fixture
def v2tree(tmp_path):
    d = tmp_path / "cg"
    d.mkdir()
    for name, text in V2_STAT_FILES.items():
        (d / name).write_text(text)
    return d


def test_v2_stats_map_onto_runcs_shape(v2tree):
    from ocirun.cgroups import load_manager

    m = load_manager({"mode": "unified", "paths": {"unified": str(v2tree)}, "root": str(v2tree.parent)})
    s = m.stats()
    assert s["cpu"] == {"usage": {"total": 1500000, "kernel": 500000, "user": 1000000},
                        "throttling": {"periods": 4, "throttledPeriods": 1, "throttledTime": 30000}}
    assert s["memory"]["cache"] == 100
    assert s["memory"]["usage"] == {"limit": 1048576, "usage": 4096, "failcnt": 2}
    assert s["memory"]["swap"] == {"limit": (1 << 64) - 1, "usage": 4096, "failcnt": 0}  # v1 meaning: mem+swap
    assert s["memory"]["raw"] == {"anon": 200, "file": 100}
    assert s["pids"] == {"current": 3}
    assert s["blkio"] == {
        "ioServiceBytesRecursive": [{"major": 8, "op": "Read", "value": 10}, {"major": 8, "op": "Write", "value": 20}],
        "ioServicedRecursive": [{"major": 8, "op": "Read", "value": 1}, {"major": 8, "op": "Write", "value": 2}]}
    assert s["hugetlb"] == {"2MB": {"failcnt": 0}}


def test_v2_oom_watch_counts_oom_kills(v2tree):
    from ocirun.cgroups import load_manager
    from ocirun.cgroups.oom import OomWatch

    m = load_manager({"mode": "unified", "paths": {"unified": str(v2tree)}, "root": str(v2tree.parent)})
    w = OomWatch(m)
    try:
        assert w.fd is not None and w.check() == 0
        (v2tree / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 3\noom_kill 2\n")
        assert w.check() == 1
        assert w.check() == 0
    finally:
        w.close()


# -- the update command's helpers (pure) ------------------------------------------------------


@pytest.mark.parametrize("text,value", [("512m", 512 << 20), ("1g", 1 << 30), ("1.5GiB", int(1.5 * (1 << 30))),
                                        ("1 kb", 1024), ("100", 100), ("2KB", 2048), ("3M", 3 << 20)])
def test_ram_in_bytes(text, value):
    from ocirun.commands.update import ram_in_bytes

    assert ram_in_bytes(text) == value


@pytest.mark.parametrize("text", ["", "m", "1x", "-5", "1.2.3", "1 2"])
def test_ram_in_bytes_refuses(text):
    from ocirun.commands.update import ram_in_bytes

    with pytest.raises(ValueError):
        ram_in_bytes(text)


def test_changes_and_merge():
    from ocirun.commands.update import changes, merge

    docker = {"memory": {"limit": 0, "reservation": 0, "swappiness": 0}, "cpu": {"shares": 0, "cpus": "", "idle": 0},
              "blockIO": {"weight": 0}, "pids": {"limit": 0}, "devices": None}
    # swappiness and idle mean something at 0; the rest is "leave as is"
    assert changes(docker) == {"memory": {"swappiness": 0}, "cpu": {"idle": 0}}
    old = {"memory": {"limit": 1, "swap": 2}, "devices": [{"allow": False}], "unified": {"a.b": "1"}}
    new = merge(old, {"memory": {"limit": 5}, "devices": [{"allow": True}], "unified": {"c.d": "2"}})
    assert new == {"memory": {"limit": 5, "swap": 2}, "devices": [{"allow": True}],
                   "unified": {"a.b": "1", "c.d": "2"}}


def test_v1_blkio_stats_take_the_first_file_set_with_entries(tmp_path):
    """runc's order: BFQ files first; when they only hold "Total 0", the throttle files (seen on this host)."""
    from ocirun.cgroups.stats import _blkio_v1

    (tmp_path / "blkio.bfq.io_serviced_recursive").write_text("Total 0\n")
    (tmp_path / "blkio.throttle.io_serviced_recursive").write_text("254:0 Read 2\n254:0 Write 0\nTotal 2\n")
    (tmp_path / "blkio.throttle.io_service_bytes_recursive").write_text("254:0 Read 8192\nTotal 8192\n")
    assert _blkio_v1(str(tmp_path)) == {
        "ioServiceBytesRecursive": [{"major": 254, "op": "Read", "value": 8192}],
        "ioServicedRecursive": [{"major": 254, "op": "Read", "value": 2}, {"major": 254, "op": "Write"}]}
    for f in tmp_path.iterdir():
        f.unlink()
    assert _blkio_v1(str(tmp_path)) == {}


def test_kill_9_of_a_paused_container_stops_it(oci, bundle):
    """As runc: SIGKILL to a paused container's init thaws the cgroup, or the kill never lands."""
    cid = start_detached(oci, bundle, ["sleep", "100"])
    pid = oci.state(cid)["pid"]
    oci("pause", cid, check=True)
    oci("kill", cid, "9", check=True)
    wait_until(lambda: not alive(pid), what="the init to die")
    assert status(oci, cid) == "stopped"
