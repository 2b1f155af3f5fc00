"""Issue 11: ocirun accepts exactly the configs runc accepts (runc is the oracle).

The configs real engines write (tests/fixtures/engine_configs, made runnable as in
test_engine_configs.py, less the capabilities this runtime does not hold, which runc refuses),
each with one field changed to a value from the spec, from runc's parsers, or an odd one; then
`create` with runc and with ocirun (private --root each, deleted after). The verdicts must be
the same, except the deliberate differences (docs/architecture.md "Spec over runc"), each
recognised by `deliberate` below. Bounded for CI: MAX examples.
"""
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import new_id
from test_engine_configs import NAMES, adapt, load, own_rootfs  # noqa: F401 - a fixture

RUNC = shutil.which("runc")
MAX = int(os.environ.get("OCIRUN_ACCEPTANCE_EXAMPLES", "120"))
pytestmark = pytest.mark.skipif(RUNC is None, reason="runc is the oracle here and is not installed")
U32, U64 = 2**32 - 1, 2**64 - 1


def at(path, value):
    """A mutation: set the dotted path (missing dicts are made; "+" appends to a list)."""
    keys = path.split(".")

    def mutate(c):
        node = c
        for k in keys[:-1]:
            node = node.setdefault(k, {}) if isinstance(node, dict) else node[int(k)]
        last = keys[-1]
        if last == "+":
            node.append(value)
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    mutate.__name__ = f"{path}={value!r}"[:120]
    return mutate


def drop(path):
    keys = path.split(".")

    def mutate(c):
        node = c
        for k in keys[:-1]:
            node = node[k]
        node.pop(keys[-1], None)
    mutate.__name__ = f"del {path}"
    return mutate


def drop_ns(t):
    def mutate(c):
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != t]
    mutate.__name__ = f"no {t} namespace"
    return mutate


def values(path, *vals):
    return [at(path, v) for v in vals]


MUTATIONS = [
    *values("ociVersion", "1.0.0", "1.0.2-dev", "1.2.0", "1.3.0", "0.1.0", "2.0.0", "bogus", ""),
    *values("hostname", "", "a" * 64, "a" * 65, "x y", "box.example"),
    *values("domainname", "", "example.org"),
    *values("root.readonly", True, False),
    *values("process.cwd", "/", "/tmp", "/nonexistent/deep", "relative", ""),
    *values("process.args", [], ["/nonexistent"], ["true"], ["/etc/passwd"], ["/"]),
    *values("process.env", [], ["A=b"], ["NOEQUALS"], ["=x"], [""], ["PATH="]),
    *values("process.user.uid", 0, 1000, 65534, U32, -1),
    *values("process.user.gid", 0, 1000, U32),
    *values("process.user.additionalGids", [], [1, 2], [U32]),
    *values("process.user.umask", 0, 0o777, 0o7777, 0o10000),
    *values("process.oomScoreAdj", -1000, 0, 1000, 1001, -1001),
    *values("process.noNewPrivileges", True, False),
    *values("process.terminal", True),
    *values("process.apparmorProfile", "", "unconfined", "ocirun-nonexistent"),
    *values("process.selinuxLabel", "", "system_u:system_r:container_t:s0"),
    *values("process.rlimits", [], [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024}],
            [{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 1024}],
            [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}], [{"type": "rlimit_nofile", "soft": 1, "hard": 1}],
            [{"type": "RLIMIT_CORE", "soft": U64, "hard": U64}],
            [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 10}, {"type": "RLIMIT_NOFILE", "soft": 10, "hard": 10}]),
    *values("process.capabilities.bounding.+", "CAP_SYS_ADMIN", "CAP_BOGUS", "sys_admin", "CAP_SYS_RESOURCE"),
    *values("process.capabilities.effective.+", "CAP_SYS_ADMIN", "CAP_BOGUS"),
    *values("process.capabilities.ambient", ["CAP_CHOWN"], ["CAP_BOGUS"]),
    *values("process.capabilities.inheritable", ["CAP_KILL"], ["CAP_MAC_ADMIN"]),
    *values("process.scheduler", {"policy": "SCHED_OTHER"}, {"policy": "SCHED_BOGUS"},
            {"policy": "SCHED_FIFO", "priority": 200}, {"policy": "SCHED_BATCH", "nice": 19}),
    *values("process.ioPriority", {"class": "IOPRIO_CLASS_BE", "priority": 4},
            {"class": "IOPRIO_CLASS_BOGUS", "priority": 0}, {"class": "IOPRIO_CLASS_IDLE", "priority": 8}),
    *values("process.consoleSize", {"height": 10, "width": 20}),
    *values("mounts.+", {"destination": "/m", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "relative", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/m", "type": "tmpfs", "source": "tmpfs", "options": ["bogusopt"]},
            {"destination": "/m", "type": "tmpfs", "source": "tmpfs", "options": ["size=bogus"]},
            {"destination": "/m", "type": "bogusfs", "source": "none"},
            {"destination": "/m", "type": "bind", "source": "/nonexistent", "options": ["rbind"]},
            {"destination": "/m", "type": "bind", "source": "/etc", "options": ["rbind", "ro", "rprivate"]},
            {"destination": "/m", "options": ["rbind"], "source": "/etc"},
            {"destination": "/m", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]},
            {"destination": "/proc/cpuinfo", "type": "bind", "source": "/proc/cpuinfo", "options": ["bind"]},
            {"destination": "/proc/x", "type": "bind", "source": "/etc", "options": ["rbind"]},
            {"destination": "/m", "type": "tmpfs", "source": "tmpfs", "options": ["rro", "rnosuid"]},
            {"destination": "/m", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]},
            {"destination": "/", "type": "tmpfs", "source": "tmpfs"}),
    *values("linux.rootfsPropagation", "private", "rprivate", "slave", "rslave", "shared", "rshared",
            "unbindable", "runbindable", "bogus", ""),
    drop_ns("mount"), drop_ns("pid"), drop_ns("network"), drop_ns("ipc"), drop_ns("uts"),
    *values("linux.namespaces.+", {"type": "bogus"}, {"type": "cgroup"}, {"type": "time"}, {"type": "pid"},
            {"type": "network", "path": "/proc/1/ns/net"}, {"type": "ipc", "path": "/nonexistent"}),
    *values("linux.sysctl", {}, {"net.ipv4.ip_forward": "1"}, {"kernel.bogus_ocirun": "1"},
            {"fs.file-max": "100000"}, {"kernel.shmmax": "x"}, {"kernel.msgmax": "8192"},
            {"kernel.domainname": "x"}, {"net.core.somaxconn": "1024"}),
    *values("linux.maskedPaths", [], ["/proc/kcore"], ["relative"], ["/nonexistent"]),
    *values("linux.readonlyPaths", [], ["/proc/sys"], ["relative"]),
    *values("linux.resources.memory", {"limit": 67108864}, {"limit": -1}, {"limit": 4096},
            {"limit": 67108864, "swap": 33554432}, {"reservation": 1048576}, {"swappiness": 101}),
    *values("linux.resources.pids", {"limit": 100}, {"limit": -1}, {"limit": 0}),
    *values("linux.resources.cpu", {"shares": 2}, {"shares": 262145}, {"quota": 50000, "period": 100000},
            {"quota": -1}, {"period": 999}, {"cpus": "0"}, {"cpus": "0-999"}, {"cpus": "bogus"}, {"mems": "0"}),
    *values("linux.resources.blockIO", {"weight": 500}, {"weight": 5}),
    *values("linux.resources.devices.+", {"allow": True, "type": "z", "access": "rwm"},
            {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "x"},
            {"allow": False, "access": "rwm"}),
    *values("linux.devices", [], [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}],
            [{"path": "relative", "type": "c", "major": 1, "minor": 3}],
            [{"path": "/dev/x", "type": "z", "major": 1, "minor": 3}],
            [{"path": "/dev/fifo", "type": "p"}],
            [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o777, "uid": 5, "gid": 5}]),
    *values("linux.cgroupsPath", "relative/ocirun-acc", "/ocirun-acc/../x", "system.slice:ocirun:acc"),
    *values("linux.uidMappings", [{"containerID": 0, "hostID": 100000, "size": 65536}]),
    *values("linux.personality", {"domain": "LINUX"}, {"domain": "LINUX32"}, {"domain": "BOGUS"},
            {"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}),
    *values("linux.timeOffsets", {"monotonic": {"secs": 10}}),
    *values("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW"}, {"defaultAction": "SCMP_ACT_BOGUS"},
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]},
            {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]},
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                                               "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
    *values("linux.intelRdt", {"closID": "ocirun"}),
    *values("linux.mountLabel", "system_u:object_r:container_file_t:s0"),
    drop("linux.resources"), drop("linux.seccomp"), drop("process.capabilities"), drop("linux.maskedPaths"),
    drop("process.user"), drop("mounts"),
]
MUT = {m.__name__: m for m in MUTATIONS}


# Fields runc 1.1.5 (the oracle here) does not implement: it ignores them whatever they hold,
# where ocirun validates and applies them as the spec says.
NEWER_THAN_RUNC = ("process.scheduler", "process.ioPriority", "linux.timeOffsets", "{'type': 'time'}",
                   "linux.personality")


def deliberate(name, ocirun_ok, runc_err, ocirun_err):
    """Why ocirun differs from runc here, if that is a listed, deliberate difference
    (README "Spec over runc"); None otherwise."""
    if ocirun_ok and "unable to apply caps" in runc_err:
        return "config.md: a capability that cannot be granted is a warning (runc fails)"
    if ocirun_ok and "unbindable'" in name and "rootfsPropagation" in name:
        return "(r)unbindable rootfsPropagation is set after the binds (runc: invalid argument)"
    if not ocirun_ok and "duplicate rlimit" in ocirun_err:
        return "config.md: duplicate rlimits MUST error (runc takes the last)"
    if not ocirun_ok and "syscall" in ocirun_err and "seccomp" in ocirun_err:
        return "an unknown seccomp syscall is an error (runc skips it)"
    if any(field in name for field in NEWER_THAN_RUNC):
        return "a field runc 1.1.5 does not implement: validated and applied as the spec says"
    if not ocirun_ok and "systemd cgroup driver is not supported" in ocirun_err:
        return "a systemd slice:prefix:name cgroupsPath is refused: no systemd driver"
    if not ocirun_ok and "path must be absolute" in ocirun_err:
        return "config-linux.md: masked/read-only paths MUST be absolute, a device path is a full path"
    if not ocirun_ok and "must not contain '..'" in ocirun_err:
        return "a '..' in cgroupsPath is refused (runc cleans it lexically; cgroups/paths.py)"
    if ocirun_ok and "error reopening /dev/null" in runc_err:
        return "devices in a user namespace are made with their mode and owner (runc binds the host's)"
    if ocirun_ok and "current working directory is safe" in runc_err:
        return "a seccomp profile denying getcwd is not a breakout (cwd checked before the filter)"
    if not ocirun_ok and "invalid device access" in ocirun_err:
        return "config-linux.md: a device rule's access is a composition of r, w and m"
    if ocirun_ok and "open /proc/self/fd" in runc_err:
        return "no /proc mount: ocirun closes fds with close_range (runc needs /proc/self/fd)"
    return None


def held_caps_only(config):
    from ocirun import capabilities
    from ocirun.captable import CAPABILITIES

    held = capabilities.held(config.get("linux"))
    for key, names in (config["process"].get("capabilities") or {}).items():
        config["process"]["capabilities"][key] = [n for n in names if n not in CAPABILITIES
                                                  or held >> CAPABILITIES[n] & 1]


def create(cmd, root, bundle, cid, rootfs):
    """create then delete --force: (accepted?, stderr). Without a mount namespace runc leaves
    its mounts on the host, in the shared rootfs: they are removed as ocirun's delete does."""
    from ocirun import hostmounts

    before = hostmounts.snapshot(rootfs)
    try:
        with tempfile.TemporaryFile() as err:
            p = subprocess.run([*cmd, "--root", root, "create", "--bundle", bundle, cid],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, timeout=60)
            err.seek(0)
            text = err.read().decode(errors="replace")
        subprocess.run([*cmd, "--root", root, "delete", "--force", cid], capture_output=True, timeout=60)
    finally:
        assert hostmounts.release(before) == []
    return p.returncode == 0, text.strip()


def drop_runc_parents(config, cid):
    """runc's delete removes only the leaf of a nested relative cgroupsPath and leaves
    its parents (runc's leak, not ocirun's, which removes what it made): rmdir them."""
    from ocirun import cgroups
    from ocirun.errors import OciError

    path = ((config.get("linux") or {}).get("cgroupsPath") or "").strip("/")
    if "/" not in path or ":" in path or config["linux"]["cgroupsPath"].startswith("/"):
        return
    try:
        leaves = cgroups.create_manager(path, cid).paths.values()
    except OciError:
        return
    for leaf in leaves:
        d = os.path.dirname(leaf)
        for _ in range(path.count("/")):
            try:
                os.rmdir(d)
            except OSError:
                break
            d = os.path.dirname(d)


RESULTS = {"ran": 0, "deliberate": {}, "differ": []}


@pytest.fixture(scope="module")
def work():
    """Bundles and runc's root, apart from pytest's rotating base directory (other sessions
    running at the same time prune it)."""
    d = tempfile.mkdtemp(prefix="ocirun-acceptance-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def report():
    yield RESULTS
    print(f"\nacceptance differential: {RESULTS['ran']} configs, deliberate differences "
          f"{RESULTS['deliberate']}, unexplained {len(RESULTS['differ'])}")


@settings(max_examples=MAX, deadline=None, suppress_health_check=list(HealthCheck))
@given(base=st.sampled_from(NAMES), name=st.sampled_from(sorted(MUT)))
def test_same_acceptance_as_runc(base, name, oci, own_rootfs, work, request, report):
    cid = new_id("acc")
    b = os.path.join(work, cid)
    os.mkdir(b)
    # Mutations may leave things in the rootfs (device nodes without a /dev mount): a copy.
    config = adapt(load(base), cid, own_rootfs, Path(b), request)
    held_caps_only(config)
    try:
        MUT[name](config)
    except (KeyError, IndexError, TypeError, AttributeError):
        return  # the base lacks what this mutation edits
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(config, f)
    runc_ok, runc_err = create([RUNC], os.path.join(work, "runc-root"), b, cid, config["root"]["path"])
    ours_ok, ours_err = create([oci.binary], os.path.join(work, "ocirun-root"), b, cid, config["root"]["path"])
    drop_runc_parents(config, cid)
    report["ran"] += 1
    if runc_ok == ours_ok:
        return
    why = deliberate(name, ours_ok, runc_err, ours_err)
    if why:
        report["deliberate"][why] = report["deliberate"].get(why, 0) + 1
        return
    report["differ"].append(f"{base} + {name}: runc {'accepts' if runc_ok else 'refuses'} ({runc_err[-200:]}), "
                            f"ocirun {'accepts' if ours_ok else 'refuses'} ({ours_err[-200:]})")


def test_zz_no_unexplained_difference(report):
    """Collected over all examples above (one run shows every difference, not just the first)."""
    assert report["ran"] >= min(MAX, 20) // 2, report
    assert report["differ"] == [], "\n".join(report["differ"])
