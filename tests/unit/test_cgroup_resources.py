"""linux.resources → cgroup files.

v2: on a tmp directory laid out like a cgroup2 directory (files must exist,
as in cgroupfs). v1: real writes with read-back on this host's v1 hierarchies
(root only), each in a throw-away /ocirun-test/<uuid> cgroup.
"""
import os
import subprocess
import sys
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocirun import fastos
from ocirun.cgroups import base, create_manager, load_manager
from ocirun.cgroups.mounts import detect_layout
from ocirun.cgroups import resources_v2 as r2
from ocirun.errors import CgroupError, InvalidSpec

V2_FILES = {
    "cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma\n",
    "cgroup.freeze": "0\n",
    "cpu.weight": "100\n", "cpu.max": "max 100000\n", "cpu.max.burst": "0\n", "cpu.idle": "0\n",
    "cpuset.cpus": "", "cpuset.mems": "",
    "memory.max": "max\n", "memory.low": "0\n", "memory.swap.max": "max\n", "memory.current": "1000\n",
    "pids.max": "max\n",
    "io.weight": "default 100\n", "io.max": "",
    "hugetlb.2MB.max": "max\n", "hugetlb.2MB.rsvd.max": "max\n", "hugetlb.1GB.max": "max\n",
    "rdma.max": "",
}


@pytest.fixture
def v2dir(tmp_path):
    d = tmp_path / "cg"
    d.mkdir()
    for name, text in V2_FILES.items():
        (d / name).write_text(text)
    return d


@pytest.fixture
def writes(monkeypatch):
    """Record (file, value) of every write while still writing (order checks)."""
    seen = []
    real = base.write_file

    def spy(directory, name, value):
        seen.append((name, str(value)))
        real(directory, name, value)

    monkeypatch.setattr(r2, "write_file", spy)
    from ocirun.cgroups import resources_v1 as r1

    monkeypatch.setattr(r1, "write_file", spy)
    from ocirun.cgroups import resources  # the shared writer of v2 files and linux.resources.unified

    monkeypatch.setattr(resources, "write_file", spy)
    return seen


def read(d, name):
    return (d / name).read_text() if hasattr(d, "joinpath") else open(os.path.join(d, name)).read()


SPEC_EXAMPLE = {
    "memory": {"limit": 536870912, "reservation": 268435456, "swap": 1073741824},
    "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 10000, "cpus": "0-1", "mems": "0",
            "idle": 0},
    "pids": {"limit": 32771},
    "blockIO": {"weight": 10, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 600}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 300}]},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}],
    "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}, "mlx4_0": {"hcaObjects": 1000}},
}


# -- v2 --------------------------------------------------------------------------------


def test_v2_full_example_values_and_runc_order(v2dir, writes):
    warnings = r2.apply(str(v2dir), SPEC_EXAMPLE)
    assert warnings == []
    assert read(v2dir, "memory.max") == "536870912"
    assert read(v2dir, "memory.low") == "268435456"
    assert read(v2dir, "memory.swap.max") == str(1073741824 - 536870912)
    assert read(v2dir, "cpu.weight") == "100"
    assert read(v2dir, "cpu.max") == "50000 100000"
    assert read(v2dir, "cpu.max.burst") == "10000"
    assert read(v2dir, "cpu.idle") == "0"
    assert read(v2dir, "cpuset.cpus") == "0-1" and read(v2dir, "cpuset.mems") == "0"
    assert read(v2dir, "pids.max") == "32771"
    assert read(v2dir, "io.weight") == "1"
    assert read(v2dir, "hugetlb.2MB.max") == "209715200"
    assert read(v2dir, "hugetlb.2MB.rsvd.max") == "209715200"
    assert ("io.max", "8:0 rbps=600") in writes and ("io.max", "8:16 wiops=300") in writes
    assert [v for n, v in writes if n == "rdma.max"] == ["mlx4_0 hca_object=1000",
                                                         "mlx5_1 hca_handle=3 hca_object=10000"]
    # runc's fs2 order: pids, memory, io, cpu, cpuset, hugetlb, rdma
    firsts = []
    for name, _ in writes:
        ctrl = name.split(".")[0]
        if ctrl not in firsts:
            firsts.append(ctrl)
    assert firsts == ["pids", "memory", "io", "cpu", "cpuset", "hugetlb", "rdma"]
    # memory.swap.max before memory.max (as runc)
    names = [n for n, _ in writes]
    assert names.index("memory.swap.max") < names.index("memory.max")


def test_v2_zero_means_unset_but_pids_zero_is_a_limit(v2dir, writes):
    """config-linux.md#pids: 0 is a valid limit and SHOULD be treated as such."""
    r2.apply(str(v2dir), {"memory": {"limit": 0, "swap": 0}, "cpu": {"shares": 0, "quota": 0},
                          "blockIO": {"weight": 0}, "pids": {"limit": 0}})
    assert writes == [("pids.max", "0")]
    r2.apply(str(v2dir), {"pids": {"limit": -1}})
    assert read(v2dir, "pids.max") == "max"


def test_v2_unlimited_memory(v2dir):
    r2.apply(str(v2dir), {"memory": {"limit": -1}})
    assert read(v2dir, "memory.max") == "max"
    assert read(v2dir, "memory.swap.max") == "max"


def test_v2_no_swap_accounting(v2dir):
    os.unlink(v2dir / "memory.swap.max")
    r2.apply(str(v2dir), {"memory": {"limit": -1}})  # "max" without the file is fine
    with pytest.raises(CgroupError, match=r'"100" to .*memory.swap.max'):
        r2.apply(str(v2dir), {"memory": {"limit": 100, "swap": 200}})


@pytest.mark.parametrize("swap,limit,want", [
    (0, 0, None), (0, 100, None), (0, -1, "max"), (-1, 100, "max"), (300, 100, "200"), (100, 100, "0"),
    (300, -1, "300"),
])
def test_swap_conversion(swap, limit, want):
    assert r2.swap_max(swap, limit) == want


@pytest.mark.parametrize("swap,limit,msg", [(100, 0, "without memory limit"), (50, 100, "should be >=")])
def test_swap_conversion_errors(swap, limit, msg):
    with pytest.raises(CgroupError, match=msg):
        r2.swap_max(swap, limit)


def test_cpu_weight_known_points():
    assert [r2.cpu_weight(s) for s in (0, 1, 2, 1024, 262144, 10**9)] == [0, 1, 1, 100, 10000, 10000]
    assert r2.cpu_weight(512) == 59 and r2.cpu_weight(2048) == 174


@given(st.integers(min_value=2, max_value=300000), st.integers(min_value=2, max_value=300000))
def test_cpu_weight_monotonic_and_in_range(a, b):
    wa, wb = r2.cpu_weight(a), r2.cpu_weight(b)
    assert 1 <= wa <= 10000
    if a <= b:
        assert wa <= wb


def test_io_weight_conversion():
    assert [r2.io_weight(w) for w in (0, 10, 1000)] == [0, 1, 10000]


def test_v2_period_alone_keeps_quota(v2dir):
    (v2dir / "cpu.max").write_text("50000 100000\n")
    r2.apply(str(v2dir), {"cpu": {"period": 200000}})
    assert read(v2dir, "cpu.max") == "50000 200000"
    r2.apply(str(v2dir), {"cpu": {"quota": -1}})
    assert read(v2dir, "cpu.max") == "max"


def test_v2_realtime_is_refused(v2dir):
    with pytest.raises(CgroupError, match="realtime"):
        r2.apply(str(v2dir), {"cpu": {"realtimeRuntime": 1000}})


def test_v2_v1_only_settings_warn(v2dir, writes):
    w = r2.apply(str(v2dir), {"memory": {"swappiness": 10, "kernel": 1, "kernelTCP": 1, "disableOOMKiller": True},
                              "blockIO": {"leafWeight": 10}, "network": {"classID": 1}})
    assert writes == []
    assert len(w) == 6 and all("ignored" in x for x in w)


def test_v2_check_before_update(v2dir):
    """config-linux.md#memory: checkBeforeUpdate MUST reject a limit below usage."""
    (v2dir / "memory.current").write_text("5000\n")
    with pytest.raises(CgroupError, match="below current usage 5000"):
        r2.apply(str(v2dir), {"memory": {"limit": 4096, "checkBeforeUpdate": True}})
    r2.apply(str(v2dir), {"memory": {"limit": 4096}})  # without the flag: written
    assert read(v2dir, "memory.max") == "4096"


def test_v2_missing_controller_file_names_file_value_and_controller(v2dir):
    os.unlink(v2dir / "pids.max")
    (v2dir / "cgroup.controllers").write_text("cpu memory\n")
    with pytest.raises(CgroupError) as e:
        r2.apply(str(v2dir), {"pids": {"limit": 7}})
    msg = str(e.value)
    assert '"7"' in msg and str(v2dir / "pids.max") in msg and "pids controller is not available" in msg


def test_v2_refused_value_names_file_and_value(v2dir):
    os.unlink(v2dir / "cpu.weight")
    os.mkdir(v2dir / "cpu.weight")  # writing a directory fails like a refused write
    with pytest.raises(CgroupError, match=r'failed to write "100" to .*/cpu.weight: is a directory'):
        r2.apply(str(v2dir), {"cpu": {"shares": 1024}})


def test_v2_hugetlb_without_rsvd(v2dir, writes):
    r2.apply(str(v2dir), {"hugepageLimits": [{"pageSize": "1GB", "limit": 1 << 30},
                                             {"pageSize": "2MB", "limit": 1 << 21}]})
    assert read(v2dir, "hugetlb.1GB.max") == str(1 << 30)
    # rsvd missing for 1GB: stop trying rsvd after the first miss
    assert ("hugetlb.2MB.rsvd.max", str(1 << 21)) not in writes


@pytest.mark.parametrize("size", ["2M", "2mb", "MB", "", None, "2 MB"])
def test_bad_hugepage_size(v2dir, size):
    with pytest.raises(InvalidSpec) as e:
        r2.apply(str(v2dir), {"hugepageLimits": [{"pageSize": size, "limit": 1}]})
    assert e.value.path == "linux.resources.hugepageLimits[0].pageSize"


def test_v2_unified_written_line_by_line(v2dir, writes):
    """config-linux.md#unified: unknown keys are still written, in order."""
    (v2dir / "memory.high").write_text("")
    r2.apply(str(v2dir), {"unified": {"io.max": "8:0 rbps=1\n8:16 wiops=2\n", "memory.high": "1000"}})
    assert writes == [("io.max", "8:0 rbps=1"), ("io.max", "8:16 wiops=2"), ("memory.high", "1000")]


@pytest.mark.parametrize("key,msg", [("../memory.max", "no slashes"), ("a/b", "no slashes"),
                                     ("nodot", "CONTROLLER.PARAMETER")])
def test_v2_unified_bad_keys(v2dir, key, msg):
    with pytest.raises(CgroupError, match=msg):
        r2.apply(str(v2dir), {"unified": {key: "1"}})


def test_v2_unified_unknown_controller(v2dir):
    """config-linux.md#unified: MUST error when the controller is not present."""
    with pytest.raises(CgroupError, match="misc controller is not available"):
        r2.apply(str(v2dir), {"unified": {"misc.max": "x 1"}})


def test_v2_manager_set_goes_to_its_directory(v2dir):
    m = load_manager({"mode": "unified", "paths": {"unified": str(v2dir)}, "created": []})
    assert m.set({"pids": {"limit": 5}}) == []
    assert read(v2dir, "pids.max") == "5"
    assert not m.is_frozen()
    m.freeze()  # no cgroup.events in a plain directory: frozen 1 is assumed reached
    assert m.is_frozen()


def test_non_integer_values_are_invalid_spec(v2dir):
    with pytest.raises(InvalidSpec) as e:
        r2.apply(str(v2dir), {"memory": {"limit": True}})
    assert e.value.path == "linux.resources.memory.limit"


# -- v1, real writes on this host ------------------------------------------------------------

def _v1_host():
    try:
        return os.geteuid() == 0 and detect_layout().mode != "unified"
    except CgroupError:
        return False


v1_only = pytest.mark.skipif(not _v1_host(), reason="needs root and cgroup v1 hierarchies")


@pytest.fixture
def v1():
    m = create_manager(f"/ocirun-test/{uuid.uuid4().hex}", "x")
    m.create()
    yield m
    for pid in m.pids():
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    m.destroy()


def rd(m, ctrl, name):
    with open(os.path.join(m.path(ctrl), name)) as f:
        return f.read().strip()


@v1_only
def test_v1_memory_limits_and_swap_order(v1):
    mb = 1 << 20
    v1.set({"memory": {"limit": 64 * mb, "swap": 128 * mb, "reservation": 32 * mb}})
    assert rd(v1, "memory", "memory.limit_in_bytes") == str(64 * mb)
    assert rd(v1, "memory", "memory.memsw.limit_in_bytes") == str(128 * mb)
    assert rd(v1, "memory", "memory.soft_limit_in_bytes") == str(32 * mb)
    # lowering both: limit first; raising both past the old memsw: swap first
    v1.set({"memory": {"limit": 32 * mb, "swap": 48 * mb}})
    assert rd(v1, "memory", "memory.memsw.limit_in_bytes") == str(48 * mb)
    v1.set({"memory": {"limit": 256 * mb, "swap": 512 * mb}})
    assert rd(v1, "memory", "memory.limit_in_bytes") == str(256 * mb)
    assert rd(v1, "memory", "memory.memsw.limit_in_bytes") == str(512 * mb)
    v1.set({"memory": {"limit": -1}})  # unlimited memory → unlimited swap too
    unlimited = rd(v1, "memory", "memory.limit_in_bytes")
    assert int(unlimited) > 1 << 60
    assert rd(v1, "memory", "memory.memsw.limit_in_bytes") == unlimited


@v1_only
def test_v1_memory_other_knobs(v1):
    v1.set({"memory": {"swappiness": 7, "disableOOMKiller": True, "kernelTCP": 1 << 24, "useHierarchy": True}})
    assert rd(v1, "memory", "memory.swappiness") == "7"
    assert "oom_kill_disable 1" in rd(v1, "memory", "memory.oom_control")
    assert rd(v1, "memory", "memory.kmem.tcp.limit_in_bytes") == str(1 << 24)
    with pytest.raises(CgroupError, match="valid range is 0-100"):
        v1.set({"memory": {"swappiness": 101}})


@v1_only
def test_v1_refused_value_names_file_and_value(v1):
    # Kernels since 5.x only accept use_hierarchy=1.
    with pytest.raises(CgroupError, match=r'failed to write "0" to .*/memory.use_hierarchy: invalid argument'):
        v1.set({"memory": {"useHierarchy": False}})


@v1_only
def test_v1_memory_limit_below_usage(v1):
    v1.set({"memory": {"swappiness": 0}})  # keep the pages resident
    mem = v1.path("memory")
    code = ("import os,sys,time\n"
            f"open({os.path.join(mem, 'cgroup.procs')!r},'w').write(str(os.getpid()))\n"
            "b=bytearray(8<<20)\nfor i in range(0,len(b),4096): b[i]=1\n"
            "print('ready',flush=True)\ntime.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        with pytest.raises(CgroupError, match=r"unable to set memory limit to 4096 \(current usage: \d+"):
            v1.set({"memory": {"limit": 4096}})
    finally:
        p.kill()
        p.wait()


@v1_only
def test_v1_cpu(v1):
    with pytest.raises(CgroupError, match=r'"1000" to .*/cpu.rt_runtime_us: invalid argument \(the parent'):
        v1.set({"cpu": {"realtimeRuntime": 1000}})
    # A new parent has no realtime budget; give ours some (engines configure theirs).
    with open(os.path.join(os.path.dirname(v1.path("cpu")), "cpu.rt_runtime_us"), "w") as f:
        f.write("1000")
    v1.set({"cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 1000, "idle": 0,
                    "realtimeRuntime": 1000, "realtimePeriod": 1000000}})
    assert rd(v1, "cpu", "cpu.shares") == "512"
    assert rd(v1, "cpu", "cpu.cfs_quota_us") == "50000"
    assert rd(v1, "cpu", "cpu.cfs_period_us") == "100000"
    assert rd(v1, "cpu", "cpu.cfs_burst_us") == "1000"
    assert rd(v1, "cpu", "cpu.idle") == "0"
    assert rd(v1, "cpu", "cpu.rt_runtime_us") == "1000"
    assert rd(v1, "cpu", "cpu.rt_period_us") == "1000000"
    v1.set({"cpu": {"quota": -1}})
    assert rd(v1, "cpu", "cpu.cfs_quota_us") == "-1"
    with pytest.raises(CgroupError, match="the minimum allowed cpu-shares is 2"):
        v1.set({"cpu": {"shares": 1}})


@v1_only
def test_v1_cpuset_and_pids(v1):
    v1.set({"cpu": {"cpus": "0", "mems": "0"}, "pids": {"limit": 10}})
    assert rd(v1, "cpuset", "cpuset.cpus") == "0"
    assert rd(v1, "cpuset", "cpuset.mems") == "0"
    assert rd(v1, "pids", "pids.max") == "10"
    v1.set({"pids": {"limit": -1}})
    assert rd(v1, "pids", "pids.max") == "max"
    v1.set({"pids": {"limit": 0}})
    assert rd(v1, "pids", "pids.max") == "0"


def whole_disk():
    """(major, minor, name) of the first real disk: throttling needs a whole disk."""
    with open("/proc/partitions") as f:
        for line in f.read().splitlines()[2:]:
            fields = line.split()
            if len(fields) == 4 and not fields[3].startswith(("loop", "zram", "ram", "sr")):
                if os.path.exists(f"/sys/block/{fields[3]}"):
                    return int(fields[0]), int(fields[1]), fields[3]
    pytest.skip("no whole disk found in /proc/partitions")


@v1_only
def test_v1_blkio(v1):
    major, minor, name = whole_disk()
    v1.set({"blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1 << 20}],
                        "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}]}})
    bfq = os.path.exists(os.path.join(v1.path("blkio"), "blkio.bfq.weight"))
    assert rd(v1, "blkio", "blkio.bfq.weight" if bfq else "blkio.weight") == "500"
    assert rd(v1, "blkio", "blkio.throttle.read_bps_device") == f"{major}:{minor} {1 << 20}"
    assert rd(v1, "blkio", "blkio.throttle.write_iops_device") == f"{major}:{minor} 100"
    with open(f"/sys/block/{name}/queue/scheduler") as f:
        sched_is_bfq = "[bfq]" in f.read()
    wd = {"blockIO": {"weightDevice": [{"major": major, "minor": minor, "weight": 300}]}}
    if bfq and not sched_is_bfq:
        # The kernel refuses per-device weights unless the disk uses BFQ.
        with pytest.raises(CgroupError, match=rf'failed to write "{major}:{minor} 300" to .*weight_device'):
            v1.set(wd)
    else:
        v1.set(wd)
        assert f"{major}:{minor} 300" in rd(v1, "blkio", "blkio.bfq.weight_device" if bfq else "blkio.weight_device")
    if not os.path.exists(os.path.join(v1.path("blkio"), "blkio.leaf_weight")):
        with pytest.raises(CgroupError, match=r'"10" to .*blkio.leaf_weight: no such file'):
            v1.set({"blockIO": {"leafWeight": 10}})


@v1_only
def test_v1_devices_in_order_from_deny_all(v1):
    """config-linux.md#allowed-device-list: entries are applied in the listed order."""
    v1.set({"devices": [{"allow": False, "access": "rwm"},
                        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                        {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"},
                        {"allow": True, "type": "b", "major": 8, "access": "m"}]})
    assert rd(v1, "devices", "devices.list").splitlines() == ["c 1:3 rwm", "c 1:5 r", "b 8:* m"]
    # no rules at all still means deny-all
    v1.set({"devices": []})
    assert rd(v1, "devices", "devices.list") == ""
    # an allow-all rule, then a deny of one device
    v1.set({"devices": [{"allow": True, "access": "rwm"}, {"allow": False, "type": "c", "major": 1, "minor": 3}]})
    assert rd(v1, "devices", "devices.list") == "a *:* rwm"
    with pytest.raises(InvalidSpec) as e:
        v1.set({"devices": [{"allow": True, "type": "z"}]})
    assert e.value.path == "linux.resources.devices[0].type"


@v1_only
def test_v1_devices_are_enforced():
    m = create_manager(f"/ocirun-test/{uuid.uuid4().hex}", "x")
    m.create()
    try:
        m.set({"devices": [{"allow": False, "access": "rwm"},
                           {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}]})
        code = ("import os,sys\n"
                f"open({os.path.join(m.path('devices'), 'cgroup.procs')!r},'w').write(str(os.getpid()))\n"
                "open('/dev/null','w').write('x')\n"
                "try:\n    open('/dev/zero','rb')\nexcept PermissionError:\n    sys.exit(3)\n")
        assert subprocess.run([sys.executable, "-c", code]).returncode == 3
    finally:
        m.destroy()


@v1_only
def test_v1_unmounted_controllers_are_errors(v1):
    """A resource that cannot be applied is an error (runtime.md#create)."""
    cases = {"hugetlb": {"hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 21}]},
             "net_cls": {"network": {"classID": 1}},
             "net_prio": {"network": {"priorities": [{"name": "lo", "priority": 1}]}},
             "rdma": {"rdma": {"mlx5_0": {"hcaHandles": 1}}}}
    for ctrl, res in cases.items():
        if v1.path(ctrl):
            continue  # mounted on this host: nothing to check here
        with pytest.raises(CgroupError, match=f"the {ctrl} cgroup controller is not mounted"):
            v1.set(res)


@v1_only
def test_v1_write_order_is_runcs(v1, writes):
    v1.set({"pids": {"limit": 100}, "memory": {"limit": 1 << 26}, "cpu": {"shares": 256, "cpus": "0"},
            "devices": [{"allow": True, "access": "rwm"}], "blockIO": {"weight": 100}})
    order = []
    for name, _ in writes:
        ctrl = name.split(".")[0]
        if ctrl not in order:
            order.append(ctrl)
    assert order == ["cpuset", "devices", "memory", "cpu", "pids", "blkio"]


@v1_only
def test_hybrid_unified_key(v1):
    if detect_layout().mode != "hybrid":
        pytest.skip("host is not hybrid")
    v1.set({"unified": {"cgroup.max.depth": "3"}})
    assert rd(v1, "unified", "cgroup.max.depth") == "3"
    with pytest.raises(CgroupError, match="memory controller is not available"):
        v1.set({"unified": {"memory.max": "1"}})


# -- v2 manager on a tmp tree, device rule formatting ----------------------------------------


def test_v2_manager_create_enables_controllers_and_destroys(tmp_path, monkeypatch):
    root = tmp_path / "cgroot"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    (root / "cgroup.subtree_control").write_text("memory\n")
    empty = tmp_path / "mountinfo"
    empty.write_text("")
    m = create_manager("/a/b", "x", root=str(root), mountinfo=str(empty))
    assert m.mode == "unified" and m.paths == {"unified": str(root / "a" / "b")}

    made = []
    real_mkdir = os.mkdir

    def mkdir_like_cgroupfs(path, mode=0o777):
        # cgroupfs gives every new cgroup its control files
        real_mkdir(path, mode)
        made.append(path)
        with open(os.path.join(path, "cgroup.controllers"), "w") as f:
            f.write("cpu memory pids\n")
        with open(os.path.join(path, "cgroup.subtree_control"), "w") as f:
            f.write("")

    with monkeypatch.context() as mp:
        mp.setattr(os, "mkdir", mkdir_like_cgroupfs)
        mp.setattr(fastos, "mkdir", mkdir_like_cgroupfs)  # what cgroups/base.py calls
        m.create()
    assert m.created == [str(root / "a"), str(root / "a" / "b")]
    # config-linux.md#unified: controllers enabled down to the container's parent
    assert read(root, "cgroup.subtree_control") == "+cpu +pids"
    assert read(root / "a", "cgroup.subtree_control") == "+cpu +memory +pids"
    assert read(root / "a" / "b", "cgroup.subtree_control") == ""
    for d in made:  # cgroupfs removes the control files itself
        for name in os.listdir(d):
            if os.path.isfile(os.path.join(d, name)):
                os.unlink(os.path.join(d, name))
    m.destroy()
    assert not (root / "a").exists()
    assert (root / "cgroup.controllers").exists()


def test_create_survives_a_parent_removed_by_another_delete(tmp_path, monkeypatch):
    parent = tmp_path / "shared"
    parent.mkdir()
    leaf = parent / "c1"
    m = load_manager({"mode": "unified", "paths": {"unified": str(leaf)}, "root": str(tmp_path)})
    real_mkdir = os.mkdir
    calls = []

    def racing_mkdir(path, mode=0o777):
        calls.append(path)
        if len(calls) == 1:
            os.rmdir(parent)  # another container's delete removed its empty parent
        real_mkdir(path, mode)

    monkeypatch.setattr(os, "mkdir", racing_mkdir)
    monkeypatch.setattr(fastos, "mkdir", racing_mkdir)  # what cgroups/base.py calls
    m.create()
    assert leaf.is_dir()
    assert m.created == [str(parent), str(leaf)]  # the parent is ours now


device_rules = st.fixed_dictionaries(
    {"allow": st.one_of(st.booleans(), st.none(), st.integers())},
    optional={"type": st.one_of(st.sampled_from(["a", "b", "c", "z", "", "ab"]), st.none()),
              "major": st.one_of(st.integers(min_value=-2, max_value=300), st.none(), st.booleans()),
              "minor": st.one_of(st.integers(min_value=-2, max_value=300), st.none(), st.text(max_size=2)),
              "access": st.one_of(st.text(alphabet="rwmx", max_size=4), st.none())})


@given(device_rules)
def test_device_rule_is_a_valid_line_or_invalid_spec(rule):
    import re

    from ocirun.cgroups.devices import line as device_line, parse_rule

    try:
        _allow, kind, major, minor, mask = parse_rule(rule, 3)
        line = device_line(kind, major, minor, mask)
    except InvalidSpec as e:
        assert e.path.startswith("linux.resources.devices[3].")
        return
    assert re.fullmatch(r"[abc] (\*|[0-9]+):(\*|[0-9]+) (?!.*(.).*\2)[rwm]{1,3}", line), line
    assert isinstance(rule["allow"], bool)
