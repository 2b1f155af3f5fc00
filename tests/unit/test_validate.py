"""ocirun.spec.validate: the semantic checks the JSON schema cannot express.

Each check gets a passing and a failing config, asserting the exact JSON path
and message. The base config below is small and valid.
"""

import copy
import json
import string

import pytest
from hypothesis import given, settings, strategies as st

from ocirun import cpulist
from ocirun.captable import CAPABILITIES
from ocirun.errors import InvalidSpec, quote
from ocirun.spec import validate
from ocirun.procattrs import RLIMITS
from ocirun.spec.validate import CHECKS, IPC_SYSCTLS, NAMESPACE_TYPES, check

BASE = {
    "ociVersion": "1.3.0",
    "root": {"path": "rootfs"},
    "hostname": "box",
    "process": {
        "cwd": "/",
        "args": ["sh"],
        "env": ["PATH=/usr/bin:/bin", "TERM=xterm"],
        "user": {"uid": 0, "gid": 0},
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024}],
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]},
    },
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/data", "type": "none", "source": "/srv", "options": ["rbind", "ro"]},
    ],
    "linux": {
        "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
        "maskedPaths": ["/proc/kcore"],
        "readonlyPaths": ["/proc/sys"],
    },
}


def make(mutate=None):
    cfg = copy.deepcopy(BASE)
    if mutate:
        mutate(cfg)
    return cfg


def run(cfg, **kw):
    """check() without the rootfs filesystem check; returns the warnings."""
    warnings = []
    check(cfg, None, warn=lambda path, msg: warnings.append((path, msg)), **kw)
    return warnings


def error(cfg, **kw):
    with pytest.raises(InvalidSpec) as e:
        run(cfg, **kw)
    assert "\n" not in str(e.value)
    return e.value.path, e.value.message


def add_ns(cfg, *types, **paths):
    for t in types:
        cfg["linux"]["namespaces"].append({"type": t})
    for t, p in paths.items():
        cfg["linux"]["namespaces"].append({"type": t, "path": p})


def drop_ns(cfg, *types):
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] not in types]


def userns(cfg, uid=None, gid=None):
    add_ns(cfg, "user")
    cfg["linux"]["uidMappings"] = uid or [{"containerID": 0, "hostID": 100000, "size": 65536}]
    cfg["linux"]["gidMappings"] = gid or [{"containerID": 0, "hostID": 100000, "size": 65536}]


def setp(path, value):
    """A mutator that sets cfg[a][b]...= value for a dotted path (list indexes as ints)."""
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]

    def mutate(cfg):
        node = cfg
        for k in keys[:-1]:
            if isinstance(node, dict):
                node = node.setdefault(k, {})
            else:
                node = node[k]
        if isinstance(node, list) and keys[-1] == len(node):
            node.append(value)
        else:
            node[keys[-1]] = value
    return mutate


def delp(path):
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]

    def mutate(cfg):
        node = cfg
        for k in keys[:-1]:
            node = node[k]
        del node[keys[-1]]
    return mutate


def both(*mutators):
    def mutate(cfg):
        for m in mutators:
            m(cfg)
    return mutate


# ---- the base and the shape of the module --------------------------------------

def test_base_is_valid():
    assert run(make()) == []


def test_checks_is_a_flat_list_of_functions():
    assert CHECKS and all(callable(c) and c.__name__.startswith("check_") for c in CHECKS)
    assert len(set(CHECKS)) == len(CHECKS)


def test_minimal_config_without_optional_parts():
    """Everything optional may be missing (config.md)."""
    assert run({"ociVersion": "1.3.0", "process": {"cwd": "/", "args": ["x"]}}) == []
    assert run({"ociVersion": "1.3.0"}, need_process=False) == []


def test_captable_is_complete():
    assert len(CAPABILITIES) == 41
    assert sorted(CAPABILITIES.values()) == list(range(41))
    assert CAPABILITIES["CAP_CHOWN"] == 0 and CAPABILITIES["CAP_CHECKPOINT_RESTORE"] == 40


def test_spec_example_is_valid():
    """The spec's own example config passes the semantic checks."""
    with open("/work/shared/runtime-spec/schema/test/config/good/spec-example.json") as f:
        cfg = json.load(f)
    assert run(cfg) == []


def test_check_root_uses_bundle(tmp_path):
    """config.md#root: a directory MUST exist at root.path."""
    with pytest.raises(InvalidSpec) as e:
        check(make(), str(tmp_path))
    assert e.value.path == "root.path"
    assert e.value.message.startswith("invalid rootfs: stat ")
    (tmp_path / "rootfs").mkdir()
    check(make(), str(tmp_path))


def test_default_warn_goes_to_logging(caplog):
    cfg = make(setp("process.capabilities.bounding", ["CAP_NOPE"]))
    with caplog.at_level("WARNING", logger="ocirun"):
        check(cfg, None)
    assert caplog.messages == [
        "config.json: process.capabilities.bounding[0]: unknown capability 'CAP_NOPE' is ignored"]


# ---- failing configs: (mutator, path, message) ---------------------------------

FAILS = {
    # process (config.md#process)
    "no-process": (delp("process"), "process", "process property must not be empty"),
    "args-empty": (setp("process.args", []), "process.args", "args must not be empty"),
    "args-missing": (delp("process.args"), "process.args", "args must not be empty"),
    "cwd-relative": (setp("process.cwd", "tmp"), "process.cwd", "cwd must be an absolute path"),
    "cwd-missing": (delp("process.cwd"), "process.cwd", "cwd must be an absolute path"),
    "env-no-equals": (setp("process.env.1", "TERM"), "process.env[1]",
                      "invalid environment variable 'TERM': missing '='"),
    "nul-in-arg": (setp("process.args", ["s\0h"]), "process.args[0]", "contains a NUL byte"),
    "nul-in-sysctl-key": (setp("linux.sysctl", {"net.a\0": "1"}), 'linux.sysctl["net.a\\u0000"]',
                          "key contains a NUL byte"),
    # rlimits (config.md#posix-process)
    "rlimit-unknown": (setp("process.rlimits.0.type", "RLIMIT_BOGUS"), "process.rlimits[0].type",
                       "wrong rlimit value: 'RLIMIT_BOGUS'"),
    "rlimit-dup": (setp("process.rlimits.1", {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}),
                   "process.rlimits[1].type", "duplicate rlimit 'RLIMIT_NOFILE' (first at process.rlimits[0])"),
    "rlimit-soft-gt-hard": (setp("process.rlimits.0.soft", 2048), "process.rlimits[0].soft",
                            "soft limit 2048 is greater than hard limit 1024"),
    # linux process
    "oom-high": (setp("process.oomScoreAdj", 5000), "process.oomScoreAdj",
                 "oomScoreAdj 5000 is out of range [-1000, 1000]"),
    "oom-low": (setp("process.oomScoreAdj", -1001), "process.oomScoreAdj",
                "oomScoreAdj -1001 is out of range [-1000, 1000]"),
    "sched-policy": (setp("process.scheduler", {"policy": "SCHED_NOPE"}), "process.scheduler.policy",
                     "unknown scheduler policy 'SCHED_NOPE'"),
    "sched-no-policy": (setp("process.scheduler", {"nice": 1}), "process.scheduler.policy",
                        "scheduler policy is required"),
    "sched-nice": (setp("process.scheduler", {"policy": "SCHED_OTHER", "nice": 20}), "process.scheduler.nice",
                   "nice 20 is out of range [-20, 19]"),
    "sched-prio-other": (setp("process.scheduler", {"policy": "SCHED_OTHER", "priority": 5}),
                         "process.scheduler.priority", "priority can only be set for SCHED_FIFO or SCHED_RR"),
    "sched-prio-fifo": (setp("process.scheduler", {"policy": "SCHED_FIFO"}), "process.scheduler.priority",
                        "priority 0 is out of range [1, 99] for SCHED_FIFO"),
    "sched-runtime-other": (setp("process.scheduler", {"policy": "SCHED_BATCH", "period": 5}),
                            "process.scheduler.period", "period can only be set for SCHED_DEADLINE"),
    "sched-dl-no-deadline": (setp("process.scheduler", {"policy": "SCHED_DEADLINE", "runtime": 2000}),
                             "process.scheduler.deadline", "deadline is required for SCHED_DEADLINE"),
    "sched-dl-small": (setp("process.scheduler", {"policy": "SCHED_DEADLINE", "runtime": 10, "deadline": 20}),
                       "process.scheduler.runtime", "runtime must be at least 1024 ns for SCHED_DEADLINE"),
    "sched-dl-order": (setp("process.scheduler", {"policy": "SCHED_DEADLINE", "runtime": 5000, "deadline": 4000}),
                       "process.scheduler.runtime", "runtime must not be greater than deadline"),
    "sched-dl-period": (setp("process.scheduler", {"policy": "SCHED_DEADLINE", "runtime": 2000,
                                                   "deadline": 4000, "period": 3000}),
                        "process.scheduler.deadline", "deadline must not be greater than period"),
    "sched-flag": (setp("process.scheduler", {"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_X"]}),
                   "process.scheduler.flags[0]", "unknown scheduler flag 'SCHED_FLAG_X'"),
    "ioprio-class": (setp("process.ioPriority", {"class": "IOPRIO_CLASS_NONE", "priority": 0}),
                     "process.ioPriority.class", "unknown ioPriority class 'IOPRIO_CLASS_NONE'"),
    "ioprio-prio": (setp("process.ioPriority", {"class": "IOPRIO_CLASS_BE", "priority": 8}),
                    "process.ioPriority.priority", "priority 8 is out of range [0, 7]"),
    "affinity": (setp("process.execCPUAffinity", {"initial": "3-1"}), "process.execCPUAffinity.initial",
                 "invalid CPU list '3-1'"),
    "affinity-final": (setp("process.execCPUAffinity", {"final": "1,,2"}), "process.execCPUAffinity.final",
                       "invalid CPU list '1,,2'"),
    # namespaces (config-linux.md#namespaces)
    "ns-dup": (lambda c: add_ns(c, "pid"), "linux.namespaces[5].type", "duplicate namespace 'pid'"),
    "ns-unknown": (lambda c: add_ns(c, "bogus"), "linux.namespaces[5].type", "unknown namespace type 'bogus'"),
    "ns-relative-path": (lambda c: add_ns(c, cgroup="proc/1/ns/cgroup"), "linux.namespaces[5].path",
                         "namespace path must be absolute"),
    "hostname-no-uts": (lambda c: drop_ns(c, "uts"), "hostname",
                        "unable to set hostname without a private UTS namespace"),
    "domainname-no-uts": (both(lambda c: drop_ns(c, "uts"), delp("hostname"), setp("domainname", "x")),
                          "domainname", "unable to set domainname without a private UTS namespace"),
    "hostname-long": (setp("hostname", "h" * 65), "hostname", "hostname is longer than 64 bytes"),
    # user namespace
    "userns-no-uid-map": (both(userns, delp("linux.uidMappings")), "linux.uidMappings",
                          "user namespace enabled, but no uid mappings found"),
    "userns-no-gid-map": (both(userns, setp("linux.gidMappings", [])), "linux.gidMappings",
                          "user namespace enabled, but no gid mappings found"),
    "env-empty-name": (setp("process.env.1", "=x"), "process.env[1]",
                       "environment variable name can't be empty: '=x'"),
    "map-size-0": (lambda c: userns(c, uid=[{"containerID": 0, "hostID": 1000, "size": 0}]),
                   "linux.uidMappings[0].size", "mapping size must be at least 1"),
    "map-overflow": (lambda c: userns(c, gid=[{"containerID": 0, "hostID": 4294967295, "size": 2}]),
                     "linux.gidMappings[0].size", "hostID range exceeds 4294967295"),
    "map-overlap": (lambda c: userns(c, uid=[{"containerID": 0, "hostID": 1000, "size": 10},
                                             {"containerID": 5, "hostID": 5000, "size": 10}]),
                    "linux.uidMappings[1].containerID", "containerID range overlaps linux.uidMappings[0]"),
    "map-overlap-host": (lambda c: userns(c, uid=[{"containerID": 0, "hostID": 1000, "size": 10},
                                                  {"containerID": 10, "hostID": 1009, "size": 1}]),
                         "linux.uidMappings[1].hostID", "hostID range overlaps linux.uidMappings[0]"),
    "uid-unmapped": (both(userns, setp("process.user.uid", 70000)), "process.user.uid",
                     "uid 70000 is not mapped in the user namespace"),
    "gid-unmapped": (both(userns, setp("process.user.gid", 65536)), "process.user.gid",
                     "gid 65536 is not mapped in the user namespace"),
    # time namespace
    "timens-missing": (setp("linux.timeOffsets", {"monotonic": {"secs": 1}}), "linux.timeOffsets",
                       "time namespace offsets specified, but no time namespace in the config"),
    "timens-joined": (both(lambda c: add_ns(c, time="/proc/1/ns/time"),
                           setp("linux.timeOffsets", {"boottime": {"secs": 1}})), "linux.timeOffsets",
                      "time offsets cannot be set when joining an existing time namespace"),
    "timens-clock": (both(lambda c: add_ns(c, "time"), setp("linux.timeOffsets", {"realtime": {"secs": 1}})),
                     "linux.timeOffsets.realtime", "unknown clock 'realtime' (only monotonic and boottime)"),
    "timens-nsec": (both(lambda c: add_ns(c, "time"),
                         setp("linux.timeOffsets", {"monotonic": {"nanosecs": 1000000000}})),
                    "linux.timeOffsets.monotonic.nanosecs", "nanosecs must be less than 1000000000"),
    # sysctl (runc's rules)
    "sysctl-net-hostns": (both(lambda c: drop_ns(c, "network"), setp("linux.sysctl", {"net.core.somaxconn": "1"})),
                          'linux.sysctl["net.core.somaxconn"]',
                          "sysctl 'net.core.somaxconn' is not allowed in the host's network namespace"),
    "sysctl-net-joined-host": (both(lambda c: drop_ns(c, "network"), lambda c: add_ns(c, network="/proc/self/ns/net"),
                                    setp("linux.sysctl", {"net.core.somaxconn": "1"})),
                               'linux.sysctl["net.core.somaxconn"]',
                               "sysctl 'net.core.somaxconn' is not allowed in the host's network namespace"),
    "sysctl-net-bad-path": (both(lambda c: drop_ns(c, "network"), lambda c: add_ns(c, network="/nonexistent/ns"),
                                 setp("linux.sysctl", {"net.core.somaxconn": "1"})),
                            "linux.namespaces[4].path",
                            "invalid netns path: stat /nonexistent/ns: no such file or directory"),
    "sysctl-ipc-hostns": (both(lambda c: drop_ns(c, "ipc"), setp("linux.sysctl", {"kernel/shmmax": "1"})),
                          'linux.sysctl["kernel/shmmax"]',
                          "sysctl 'kernel.shmmax' is not allowed in the host's ipc namespace"),
    "sysctl-mqueue-hostns": (both(lambda c: drop_ns(c, "ipc"), setp("linux.sysctl", {"fs.mqueue.msg_max": "1"})),
                             'linux.sysctl["fs.mqueue.msg_max"]',
                             "sysctl 'fs.mqueue.msg_max' is not allowed in the host's ipc namespace"),
    "sysctl-hostname": (setp("linux.sysctl", {"kernel.hostname": "x"}), 'linux.sysctl["kernel.hostname"]',
                        "sysctl 'kernel.hostname' is not allowed as it conflicts with the 'hostname' field"),
    "sysctl-domainname-no-uts": (both(lambda c: drop_ns(c, "uts"), delp("hostname"),
                                      setp("linux.sysctl", {"kernel.domainname": "x"})),
                                 'linux.sysctl["kernel.domainname"]',
                                 "sysctl 'kernel.domainname' is not in a separate kernel namespace"),
    "sysctl-global": (setp("linux.sysctl", {"vm.swappiness": "1"}), 'linux.sysctl["vm.swappiness"]',
                      "sysctl 'vm.swappiness' is not in a separate kernel namespace"),
    "sysctl-dotdot": (setp("linux.sysctl", {"net/../../kernel/x": "1"}), 'linux.sysctl["net/../../kernel/x"]',
                      "invalid sysctl name 'net/../../kernel/x'"),
    "sysctl-dots": (setp("linux.sysctl", {"net..x": "1"}), 'linux.sysctl["net..x"]',
                    "invalid sysctl name 'net..x'"),
    "sysctl-abs": (setp("linux.sysctl", {"/proc/sys/net/x": "1"}), 'linux.sysctl["/proc/sys/net/x"]',
                   "invalid sysctl name '/proc/sys/net/x'"),
    "sysctl-empty": (setp("linux.sysctl", {"": "1"}), 'linux.sysctl[""]', "invalid sysctl name ''"),
    # mounts (config.md#mounts)
    "mount-root": (setp("mounts.1.destination", "/"), "mounts[1].destination",
                   "mount destination / is on the top of rootfs"),
    "mount-root-dotdot": (setp("mounts.1.destination", "/a/../.."), "mounts[1].destination",
                          "mount destination /a/../.. is on the top of rootfs"),
    "mount-root-relative": (setp("mounts.1.destination", "."), "mounts[1].destination",
                            "mount destination . is on the top of rootfs"),
    "mount-empty": (setp("mounts.0.destination", ""), "mounts[0].destination", "mount destination must not be empty"),
    "bind-no-source": (delp("mounts.1.source"), "mounts[1].source", "bind mount needs a source"),
    "bind-type-no-source": (setp("mounts.1", {"destination": "/x", "type": "bind"}), "mounts[1].source",
                            "bind mount needs a source"),
    "idmap-uid-only": (setp("mounts.1.uidMappings", [{"containerID": 0, "hostID": 1, "size": 1}]),
                       "mounts[1].gidMappings", "uidMappings and gidMappings must be specified together"),
    "idmap-gid-only": (setp("mounts.1.gidMappings", [{"containerID": 0, "hostID": 1, "size": 1}]),
                       "mounts[1].uidMappings", "uidMappings and gidMappings must be specified together"),
    "idmap-not-bind": (both(setp("mounts.0.options", ["idmap"]), userns), "mounts[0].options",
                       "idmapped mounts are only supported for bind mounts"),
    "idmap-no-userns": (setp("mounts.1.options", ["rbind", "ridmap"]), "mounts[1].options",
                        "idmap without uidMappings/gidMappings needs a user namespace"),
    "idmap-empty": (both(setp("mounts.1.uidMappings", []), setp("mounts.1.gidMappings", [])),
                    "mounts[1].uidMappings", "uidMappings must not be empty"),
    "idmap-bad-map": (both(setp("mounts.1.uidMappings", [{"containerID": 0, "hostID": 1, "size": 1}]),
                           setp("mounts.1.gidMappings", [{"containerID": 0, "hostID": 1, "size": 0}])),
                      "mounts[1].gidMappings[0].size", "mapping size must be at least 1"),
    # devices (config-linux.md#devices)
    "dev-type": (setp("linux.devices", [{"type": "z", "path": "/dev/z", "major": 1, "minor": 1}]),
                 "linux.devices[0].type", "invalid device type 'z'"),
    "dev-relative": (setp("linux.devices", [{"type": "c", "path": "dev/fuse", "major": 10, "minor": 229}]),
                     "linux.devices[0].path", "device path must be absolute"),
    "dev-root": (setp("linux.devices", [{"type": "p", "path": "/.."}]), "linux.devices[0].path",
                 "device path must not be /"),
    "dev-no-major": (setp("linux.devices", [{"type": "b", "path": "/dev/sda", "minor": 0}]),
                     "linux.devices[0].major", "major is required for device type 'b'"),
    "dev-no-minor": (setp("linux.devices", [{"type": "u", "path": "/dev/x", "major": 4}]),
                     "linux.devices[0].minor", "minor is required for device type 'u'"),
    "dev-major-range": (setp("linux.devices", [{"type": "c", "path": "/dev/x", "major": 4096, "minor": 0}]),
                        "linux.devices[0].major", "major 4096 is out of range [0, 4095]"),
    "dev-minor-range": (setp("linux.devices", [{"type": "c", "path": "/dev/x", "major": 1, "minor": -1}]),
                        "linux.devices[0].minor", "minor -1 is out of range [0, 1048575]"),
    # masked / readonly paths (config-linux.md#masked-paths)
    "masked-relative": (setp("linux.maskedPaths", ["/a", "proc/kcore"]), "linux.maskedPaths[1]",
                        "masked path must be absolute"),
    "readonly-relative": (setp("linux.readonlyPaths", ["sys"]), "linux.readonlyPaths[0]",
                          "readonly path must be absolute"),
    "masked-no-mntns": (lambda c: drop_ns(c, "mount"), "linux.maskedPaths",
                        "unable to restrict sys entries without a private mount namespace"),
    # seccomp (config-linux.md#seccomp)
    "sc-default": (setp("linux.seccomp", {"defaultAction": "SCMP_ACT_BOGUS"}), "linux.seccomp.defaultAction",
                   "'SCMP_ACT_BOGUS' is not a valid seccomp action"),
    "sc-default-notify": (setp("linux.seccomp", {"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/s"}),
                          "linux.seccomp.defaultAction", "SCMP_ACT_NOTIFY cannot be used as the default action"),
    "sc-default-errno": (setp("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}),
                         "linux.seccomp.defaultErrnoRet", "errnoRet is not supported by SCMP_ACT_ALLOW"),
    "sc-arch": (setp("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}),
                "linux.seccomp.architectures[0]", "'SCMP_ARCH_Z80' is not a valid seccomp architecture"),
    "sc-flag": (setp("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_X"]}),
                "linux.seccomp.flags[0]", "'SECCOMP_FILTER_FLAG_X' is not a valid seccomp flag"),
    "sc-names-empty": (setp("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW",
                                              "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}),
                       "linux.seccomp.syscalls[0].names", "names must contain at least one entry"),
    "sc-action": (setp("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW",
                                         "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOPE"}]}),
                  "linux.seccomp.syscalls[0].action", "'SCMP_ACT_NOPE' is not a valid seccomp action"),
    "sc-errno-kill": (setp("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]}),
        "linux.seccomp.syscalls[0].errnoRet", "errnoRet is not supported by SCMP_ACT_KILL"),
    "sc-arg-index": (setp("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]}),
        "linux.seccomp.syscalls[0].args[0].index", "index 6 is out of range [0, 5]"),
    "sc-arg-op": (setp("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_XX"}]}]}),
        "linux.seccomp.syscalls[0].args[0].op", "'SCMP_CMP_XX' is not a valid seccomp operator"),
    "sc-notify-no-listener": (setp("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
        "linux.seccomp.listenerPath", "listenerPath is required when SCMP_ACT_NOTIFY is used"),
    "sc-metadata-no-path": (setp("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "m"}),
                            "linux.seccomp.listenerMetadata", "listenerMetadata requires listenerPath"),
    # hooks (config.md#posix-platform-hooks)
    "hook-relative": (setp("hooks", {"poststop": [{"path": "/bin/true"}, {"path": "true"}]}),
                      "hooks.poststop[1].path", "hook path must be absolute"),
    "hook-timeout-0": (setp("hooks", {"createRuntime": [{"path": "/bin/true", "timeout": 0}]}),
                       "hooks.createRuntime[0].timeout", "timeout must be greater than zero"),
    "hook-timeout-neg": (setp("hooks", {"prestart": [{"path": "/bin/true", "timeout": -3}]}),
                         "hooks.prestart[0].timeout", "timeout must be greater than zero"),
    "hook-env": (setp("hooks", {"startContainer": [{"path": "/x", "env": ["A"]}]}),
                 "hooks.startContainer[0].env[0]", "invalid environment variable 'A': missing '='"),
    # other linux fields
    "personality": (setp("linux.personality", {"domain": "LINUX64"}), "linux.personality.domain",
                    "unknown personality domain 'LINUX64'"),
    "propagation": (setp("linux.rootfsPropagation", "rshard"), "linux.rootfsPropagation",
                    "rootfsPropagation 'rshard' is not supported"),
    "mpol-mode": (setp("linux.memoryPolicy", {"mode": "MPOL_X"}), "linux.memoryPolicy.mode",
                  "unknown memory policy mode 'MPOL_X'"),
    "mpol-flag": (setp("linux.memoryPolicy", {"mode": "MPOL_DEFAULT", "flags": ["MPOL_F_X"]}),
                  "linux.memoryPolicy.flags[0]", "unknown memory policy flag 'MPOL_F_X'"),
    "mpol-exclusive": (setp("linux.memoryPolicy", {"mode": "MPOL_BIND", "nodes": "0",
                                                   "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
                       "linux.memoryPolicy.flags",
                       "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES are mutually exclusive"),
    "mpol-balancing": (setp("linux.memoryPolicy", {"mode": "MPOL_INTERLEAVE", "nodes": "0",
                                                   "flags": ["MPOL_F_NUMA_BALANCING"]}),
                       "linux.memoryPolicy.flags", "MPOL_F_NUMA_BALANCING cannot be used with MPOL_INTERLEAVE"),
    "mpol-local-flags": (setp("linux.memoryPolicy", {"mode": "MPOL_LOCAL", "flags": ["MPOL_F_STATIC_NODES"]}),
                         "linux.memoryPolicy.flags", "MPOL_LOCAL takes no node flags"),
    "mpol-default-nodes": (setp("linux.memoryPolicy", {"mode": "MPOL_DEFAULT", "nodes": "0-1"}),
                           "linux.memoryPolicy.nodes", "MPOL_DEFAULT takes no nodes"),
    "mpol-bind-no-nodes": (setp("linux.memoryPolicy", {"mode": "MPOL_BIND"}), "linux.memoryPolicy.nodes",
                           "MPOL_BIND needs at least one node"),
    "mpol-bad-nodes": (setp("linux.memoryPolicy", {"mode": "MPOL_BIND", "nodes": "0-"}), "linux.memoryPolicy.nodes",
                       "invalid node list '0-'"),
    "netdev-no-netns": (both(lambda c: drop_ns(c, "network"), setp("linux.netDevices", {"eth0": {}})),
                        "linux.netDevices",
                        "unable to move network devices without a private network namespace"),
    "netdev-slash": (setp("linux.netDevices", {"eth/0": {}}), 'linux.netDevices["eth/0"]',
                     "invalid network device name 'eth/0'"),
    "netdev-dotdot": (setp("linux.netDevices", {"..": {}}), 'linux.netDevices[".."]',
                      "invalid network device name '..'"),
    "netdev-long": (setp("linux.netDevices", {"eth0": {"name": "a" * 16}}), "linux.netDevices.eth0.name",
                    f"invalid network device name '{'a' * 16}'"),
    "netdev-empty-name": (setp("linux.netDevices", {"eth0": {"name": ""}}), "linux.netDevices.eth0.name",
                          "invalid network device name ''"),
    "netdev-space": (setp("linux.netDevices", {"eth0": {"name": "my eth"}}), "linux.netDevices.eth0.name",
                     "invalid network device name 'my eth'"),
    "netdev-bad-template": (setp("linux.netDevices", {"eth0": {"name": "eth%s"}}), "linux.netDevices.eth0.name",
                            "invalid network device name 'eth%s'"),
    "netdev-same-target": (setp("linux.netDevices", {"eth0": {"name": "c0"}, "eth1": {"name": "c0"}}),
                           "linux.netDevices.eth1.name",
                           "network device name 'c0' is also used by linux.netDevices.eth0"),
    "netdev-rename-onto-other": (setp("linux.netDevices", {"eth0": {}, "eth1": {"name": "eth0"}}),
                                 "linux.netDevices.eth1.name",
                                 "network device name 'eth0' is also used by linux.netDevices.eth0"),
    "cgroups-dotdot": (setp("linux.cgroupsPath", "/a/../../b"), "linux.cgroupsPath",
                       "cgroupsPath must not contain '..'"),
    "cgroups-dotdot-rel": (setp("linux.cgroupsPath", ".."), "linux.cgroupsPath",
                           "cgroupsPath must not contain '..'"),
    "rdt-closid": (setp("linux.intelRdt", {"closID": "a/b"}), "linux.intelRdt.closID", "invalid closID 'a/b'"),
    "rdt-closid-dots": (setp("linux.intelRdt", {"closID": ".."}), "linux.intelRdt.closID", "invalid closID '..'"),
    "rdt-newline": (setp("linux.intelRdt", {"memBwSchema": "MB:0=20\nL3:0=1"}), "linux.intelRdt.memBwSchema",
                    "memBwSchema must not contain newlines"),
    "rdt-schemata-newline": (setp("linux.intelRdt", {"schemata": ["L3:0=f", "MB:0=1\n"]}),
                             "linux.intelRdt.schemata[1]", "schemata lines must not contain newlines"),
    "annotation-empty-key": (setp("annotations", {"": "x"}), "annotations", "annotation keys must not be empty"),
}


@pytest.mark.parametrize("name", sorted(FAILS))
def test_fails(name):
    """One violation each; FAILS is grouped under comments naming the spec
    section whose MUST it enforces (config.md#process, config-linux.md#namespaces,
    config-linux.md#seccomp, ...), or runc's rule where the spec is silent."""
    mutate, path, message = FAILS[name]
    assert error(make(mutate)) == (path, message)


# ---- passing configs: each exercises the accepting side of a check ---------------

PASSES = {
    # runc drops mappings without a user namespace (a warning here)
    "maps-without-userns": setp("linux.uidMappings", [{"containerID": 0, "hostID": 1, "size": 1}]),
    "no-process-when-not-needed": delp("process"),
    "env-value-with-equals": setp("process.env", ["A=b=c", "EMPTY="]),
    "rlimits-several": setp("process.rlimits", [
        {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 2}, {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        {"type": "RLIMIT_AS", "soft": 2**64 - 1, "hard": 2**64 - 1}]),
    "oom-edges": setp("process.oomScoreAdj", -1000),
    "sched-other": setp("process.scheduler", {"policy": "SCHED_OTHER", "nice": -20, "flags": ["SCHED_FLAG_RECLAIM"]}),
    "sched-fifo": setp("process.scheduler", {"policy": "SCHED_RR", "priority": 99}),
    "sched-deadline": setp("process.scheduler", {"policy": "SCHED_DEADLINE", "runtime": 10_000_000,
                                                 "deadline": 20_000_000, "period": 20_000_000}),
    "ioprio": setp("process.ioPriority", {"class": "IOPRIO_CLASS_IDLE", "priority": 7}),
    "affinity": setp("process.execCPUAffinity", {"initial": "7", "final": "0-3, 7"}),
    "affinity-empty": setp("process.execCPUAffinity", {"final": ""}),
    "ns-joined": lambda c: add_ns(c, cgroup="/proc/1/ns/cgroup"),
    "ns-empty-path-is-new": lambda c: add_ns(c, cgroup=""),
    "hostname-joined-uts": both(lambda c: drop_ns(c, "uts"), lambda c: add_ns(c, uts="/proc/1/ns/uts")),
    "hostname-empty-no-uts": both(lambda c: drop_ns(c, "uts"), setp("hostname", "")),
    "hostname-64": setp("hostname", "h" * 64),
    "userns": userns,
    "userns-split-maps": lambda c: userns(c, uid=[{"containerID": 0, "hostID": 1000, "size": 1},
                                                  {"containerID": 1, "hostID": 100000, "size": 65535}]),
    "userns-joined-no-maps": lambda c: add_ns(c, user="/proc/1/ns/user"),
    "maps-empty-without-userns": setp("linux.uidMappings", []),
    "timens": both(lambda c: add_ns(c, "time"),
                   setp("linux.timeOffsets", {"monotonic": {"secs": -5, "nanosecs": 999999999},
                                              "boottime": {"secs": 86400}})),
    "sysctl-namespaced": setp("linux.sysctl", {
        "net.ipv4.ip_forward": "1", "net/ipv4/conf/eth0.100/rp_filter": "0", "kernel.shmmax": "1",
        "kernel/msgmax": "1", "fs.mqueue.queues_max": "1", "kernel.domainname": "example.org"}),
    "sysctl-net-joined-other": both(lambda c: drop_ns(c, "network"), lambda c: add_ns(c, network="/proc/self/ns/uts"),
                                    setp("linux.sysctl", {"net.core.somaxconn": "1"})),
    "mount-relative": setp("mounts.1.destination", "data"),
    "mount-tmpfs-no-source": setp("mounts.0", {"destination": "/tmp", "type": "tmpfs"}),
    "idmap-with-maps": both(setp("mounts.1.uidMappings", [{"containerID": 0, "hostID": 1, "size": 5}]),
                            setp("mounts.1.gidMappings", [{"containerID": 0, "hostID": 1, "size": 5}]),
                            setp("mounts.1.options", ["rbind", "idmap"])),
    "idmap-from-userns": both(userns, setp("mounts.1.options", ["bind", "idmap"])),
    "devices": setp("linux.devices", [
        {"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 438},
        {"type": "b", "path": "/dev/sda", "major": 8, "minor": 0},
        {"type": "p", "path": "/run/fifo"},
        {"type": "u", "path": "/dev/x", "major": 4095, "minor": 1048575}]),
    "no-masked-no-mntns": both(lambda c: drop_ns(c, "mount"), delp("linux.maskedPaths"), delp("linux.readonlyPaths")),
    "seccomp": setp("linux.seccomp", {
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "listenerPath": "/run/agent.sock", "listenerMetadata": "m",
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"},
            {"names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 1},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 5, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]}),
    "hooks": setp("hooks", {k: [{"path": "/bin/true", "timeout": 1, "env": ["A=1"]}]
                            for k in validate.HOOK_KINDS}),
    "hooks-unknown-kind-ignored": setp("hooks", {"futureHook": [{"path": "relative"}]}),
    "personality": setp("linux.personality", {"domain": "LINUX32"}),
    "propagation-recursive": setp("linux.rootfsPropagation", "rslave"),
    "propagation-spec": setp("linux.rootfsPropagation", "unbindable"),
    "mpol-bind": setp("linux.memoryPolicy", {"mode": "MPOL_BIND", "nodes": "0-3,7",
                                             "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_STATIC_NODES"]}),
    "mpol-local": setp("linux.memoryPolicy", {"mode": "MPOL_LOCAL"}),
    "mpol-preferred-empty": setp("linux.memoryPolicy", {"mode": "MPOL_PREFERRED", "nodes": ""}),
    "mpol-huge-range": setp("linux.memoryPolicy", {"mode": "MPOL_INTERLEAVE", "nodes": "0-4294967295"}),
    "netdev": setp("linux.netDevices", {"eth0": {"name": "container_eth0"}, "enp0s3": {}}),
    "netdev-templates": setp("linux.netDevices", {"eth0": {"name": "eth%d"}, "eth1": {"name": "eth%d"}}),
    "netdev-swap": setp("linux.netDevices", {"a": {"name": "b"}, "b": {"name": "a"}}),
    "netdev-joined-netns": both(lambda c: drop_ns(c, "network"), lambda c: add_ns(c, network="/run/netns/x"),
                                setp("linux.netDevices", {"eth0": {}})),
    "cgroups-rel": setp("linux.cgroupsPath", "a/b..c/.d"),
    "cgroups-systemd": setp("linux.cgroupsPath", "system.slice:docker:abc"),
    "rdt-default-clos": setp("linux.intelRdt", {"closID": "/", "schemata": ["L3:0=f"]}),
    "rdt-clos": setp("linux.intelRdt", {"closID": "guaranteed_group", "l3CacheSchema": "L3:0=7f0"}),
    "annotations": setp("annotations", {"com.example.k": "", "org.opencontainers.image.os": "linux"}),
    "annotation-nul-value": setp("annotations", {"k": "a\0b"}),
}


@pytest.mark.parametrize("name", sorted(PASSES))
def test_passes(name):
    cfg = make(PASSES[name])
    need = name != "no-process-when-not-needed"
    run(cfg, need_process=need)


# ---- warnings (the spec says warn, not fail) ----------------------------------------

def test_unknown_capability_warns():
    """config-linux.md / config.md#linux-process: unknown capabilities MUST be
    logged as a warning and SHOULD NOT fail (runc does the same)."""
    cfg = make(setp("process.capabilities", {"bounding": ["CAP_KILL"], "ambient": ["CAP_KILL", "CAP_BOGUS"]}))
    assert run(cfg) == [("process.capabilities.ambient[1]", "unknown capability 'CAP_BOGUS' is ignored")]


def test_relative_mount_destination_warns():
    """config.md#mounts: relative destinations are deprecated, relative to "/"."""
    cfg = make(setp("mounts.1.destination", "data"))
    assert run(cfg) == [("mounts[1].destination",
                         "relative mount destination is deprecated, using it as relative to /")]


def test_personality_flags_warn():
    cfg = make(setp("linux.personality", {"domain": "LINUX", "flags": ["X"]}))
    assert run(cfg) == [("linux.personality.flags", "personality flags are not supported and are ignored")]


# ---- helpers ----------------------------------------------------------------------

@pytest.mark.parametrize("name, path", [
    ("net.ipv4.ip_forward", "net/ipv4/ip_forward"),
    ("net/ipv4/ip_forward", "net/ipv4/ip_forward"),
    ("net.ipv4.conf.eno2/100.rp_filter", "net/ipv4/conf/eno2.100/rp_filter"),
    ("net/ipv4/conf/eno2.100/rp_filter", "net/ipv4/conf/eno2.100/rp_filter"),
    ("kernel", "kernel"),
])
def test_sysctl_path(name, path):
    assert validate.sysctl_path(name) == path


@pytest.mark.parametrize("text, ranges", [
    ("", []), ("  ", []), ("7", [(7, 7)]), ("0-3,7", [(0, 3), (7, 7)]), (" 1 - 2 , 4", [(1, 2), (4, 4)]),
])
def test_parse_id_list(text, ranges):
    assert cpulist.ranges(text) == ranges


@pytest.mark.parametrize("text", [",", "1,", "-1", "a", "1-", "2-1", "1-2-3", "\u0661"])
def test_parse_id_list_bad(text):
    with pytest.raises(ValueError):
        cpulist.ranges(text)


# ---- hypothesis: wide inputs ----------------------------------------------------------

RLIMIT_NAMES = sorted(RLIMITS)
limits = st.integers(min_value=0, max_value=2**64 - 1)


@st.composite
def rlimit_lists(draw):
    types = draw(st.lists(st.sampled_from(RLIMIT_NAMES), unique=True, min_size=1))
    out = []
    for t in types:
        a, b = sorted((draw(limits), draw(limits)))
        out.append({"type": t, "soft": a, "hard": b})
    return out


@settings(max_examples=100, deadline=None)
@given(rlimit_lists())
def test_rlimits_unique_pass(rlimits):
    cfg = make(setp("process.rlimits", rlimits))
    assert run(cfg) == []


@settings(max_examples=100, deadline=None)
@given(rlimit_lists(), st.data())
def test_rlimits_one_duplicate_fails_at_it(rlimits, data):
    """config.md#posix-process: duplicated rlimit types MUST be an error."""
    i = data.draw(st.integers(0, len(rlimits) - 1))
    j = data.draw(st.integers(i + 1, len(rlimits)))
    dup = dict(rlimits[i])
    rlimits.insert(j, dup)
    path, message = error(make(setp("process.rlimits", rlimits)))
    assert path == f"process.rlimits[{j}].type"
    assert message == f"duplicate rlimit '{dup['type']}' (first at process.rlimits[{i}])"


@settings(max_examples=100, deadline=None)
@given(rlimit_lists(), st.data())
def test_rlimits_one_bad_entry_fails_at_it(rlimits, data):
    """config.md#posix-process: a type that maps to no kernel resource MUST be an error."""
    k = data.draw(st.integers(0, len(rlimits) - 1))
    kind = data.draw(st.sampled_from(["type", "soft"]))
    if kind == "type":
        bad = data.draw(st.text(string.ascii_uppercase, min_size=1).map(lambda s: "RLIMIT_" + s)
                        .filter(lambda s: s not in RLIMITS))
        rlimits[k]["type"] = bad
        expect = (f"process.rlimits[{k}].type", f"wrong rlimit value: '{bad}'")
    else:
        hard = data.draw(st.integers(0, 2**64 - 2))
        soft = data.draw(st.integers(hard + 1, 2**64 - 1))
        rlimits[k].update(soft=soft, hard=hard)
        expect = (f"process.rlimits[{k}].soft", f"soft limit {soft} is greater than hard limit {hard}")
    assert error(make(setp("process.rlimits", rlimits))) == expect


ns_lists = st.lists(st.sampled_from(NAMESPACE_TYPES), unique=True).flatmap(st.permutations)


def with_namespaces(types):
    def mutate(cfg):
        cfg["linux"]["namespaces"] = [{"type": t} for t in types]
        cfg.pop("hostname")
        cfg["linux"].pop("maskedPaths")
        cfg["linux"].pop("readonlyPaths")
        if "user" in types:
            cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
            cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    return mutate


@settings(max_examples=100, deadline=None)
@given(ns_lists)
def test_namespace_lists_pass(types):
    assert run(make(with_namespaces(types))) == []


@settings(max_examples=100, deadline=None)
@given(ns_lists.filter(bool), st.data())
def test_namespace_duplicate_fails_at_it(types, data):
    """config-linux.md#namespaces: duplicated types MUST be an error."""
    i = data.draw(st.integers(0, len(types) - 1))
    j = data.draw(st.integers(i + 1, len(types)))
    types = list(types)
    types.insert(j, types[i])
    assert error(make(with_namespaces(types))) == (
        f"linux.namespaces[{j}].type", f"duplicate namespace '{types[i]}'")


@settings(max_examples=100, deadline=None)
@given(ns_lists, st.data())
def test_namespace_unknown_type_fails_at_it(types, data):
    types = list(types)
    j = data.draw(st.integers(0, len(types)))
    bad = data.draw(st.text(min_size=1, max_size=12).filter(lambda s: s not in NAMESPACE_TYPES and "\0" not in s))
    types.insert(j, bad)
    cfg = make(with_namespaces([t for t in types if t != "user"]))
    path, message = error(cfg)
    assert path == f"linux.namespaces[{[t for t in types if t != 'user'].index(bad)}].type"
    assert message == "unknown namespace type " + quote(bad)


ident = st.text(string.ascii_lowercase + string.digits + "_", min_size=1, max_size=10)
net_names = st.lists(ident, min_size=1, max_size=4).map(lambda parts: "net." + ".".join(parts))
ipc_names = st.one_of(st.sampled_from(sorted(IPC_SYSCTLS)), ident.map(lambda s: "fs.mqueue." + s))
good_sysctl = st.one_of(net_names, ipc_names, st.just("kernel.domainname"))
slashed = st.booleans()


def as_slashes(name, yes):
    return name.replace(".", "/") if yes else name


@st.composite
def sysctl_maps(draw):
    names = draw(st.lists(st.tuples(good_sysctl, slashed), max_size=8))
    return {as_slashes(n, s): "1" for n, s in names}


@settings(max_examples=100, deadline=None)
@given(sysctl_maps())
def test_namespaced_sysctls_pass(sysctls):
    assert run(make(setp("linux.sysctl", sysctls))) == []


bad_sysctl = st.one_of(
    st.tuples(ident, ident).map(lambda p: f"vm.{p[0]}.{p[1]}"),
    ident.filter(lambda s: f"kernel.{s}" not in IPC_SYSCTLS and s != "domainname").map(lambda s: "kernel." + s),
    st.just("kernel.hostname"),
)


@settings(max_examples=100, deadline=None)
@given(sysctl_maps(), bad_sysctl, slashed, st.data())
def test_one_global_sysctl_fails_at_it(sysctls, bad, slash, data):
    items = list(sysctls.items())
    key = as_slashes(bad, slash)
    items.insert(data.draw(st.integers(0, len(items))), (key, "1"))
    path, message = error(make(setp("linux.sysctl", dict(items))))
    assert path == f'linux.sysctl["{key}"]'
    assert f"'{bad}'" in message


@settings(max_examples=100, deadline=None)
@given(sysctl_maps().filter(lambda m: any(k.startswith("net") for k in m)))
def test_net_sysctls_without_netns_fail_at_first(sysctls):
    first = next(k for k in sysctls if k.startswith("net"))
    cfg = make(both(lambda c: drop_ns(c, "network"), setp("linux.sysctl", sysctls)))
    path, message = error(cfg)
    assert path == f'linux.sysctl["{first}"]'
    assert message.endswith("is not allowed in the host's network namespace")


@settings(max_examples=100, deadline=None)
@given(st.text(), slashed)
def test_sysctl_names_never_escape(name, slash):
    """Whatever the name, an accepted one never climbs out of /proc/sys."""
    key = as_slashes("net." + name, slash)
    try:
        run(make(setp("linux.sysctl", {key: "1"})))
    except InvalidSpec:
        return
    parts = validate.sysctl_path(key).split("/")
    assert "" not in parts and ".." not in parts and "." not in parts


CAP_NAMES = sorted(CAPABILITIES)
cap_sets = st.fixed_dictionaries({}, optional={
    k: st.lists(st.sampled_from(CAP_NAMES), unique=True)
    for k in ("bounding", "effective", "inheritable", "permitted", "ambient")})


@settings(max_examples=100, deadline=None)
@given(cap_sets)
def test_known_capabilities_pass_silently(caps):
    assert run(make(setp("process.capabilities", caps))) == []


@settings(max_examples=100, deadline=None)
@given(cap_sets.filter(bool), st.data())
def test_one_unknown_capability_warns_at_it(caps, data):
    which = data.draw(st.sampled_from(sorted(caps)))
    bad = data.draw(st.text(string.ascii_uppercase + "_", min_size=1).map(lambda s: "CAP_" + s)
                    .filter(lambda s: s not in CAPABILITIES))
    k = data.draw(st.integers(0, len(caps[which])))
    caps[which].insert(k, bad)
    assert run(make(setp("process.capabilities", caps))) == [
        (f"process.capabilities.{which}[{k}]", f"unknown capability '{bad}' is ignored")]


@st.composite
def disjoint_maps(draw):
    """Non-overlapping uid mappings on both sides, in random order."""
    n = draw(st.integers(1, 6))
    sizes = [draw(st.integers(1, 1000)) for _ in range(n)]
    gaps_c = [draw(st.integers(0, 1000)) for _ in range(n)]
    gaps_h = [draw(st.integers(0, 1000)) for _ in range(n)]
    c = h = 0
    maps = []
    for size, gc, gh in zip(sizes, gaps_c, gaps_h):
        c += gc
        h += gh
        maps.append({"containerID": c, "hostID": h, "size": size})
        c += size
        h += size
    hosts = draw(st.permutations([m["hostID"] for m in maps]))
    for m, host in zip(maps, hosts):
        m["hostID"] = host * 1000  # spread so permuted host ranges stay disjoint
    return draw(st.permutations(maps))


@settings(max_examples=100, deadline=None)
@given(disjoint_maps())
def test_disjoint_mappings_pass(maps):
    uid0 = min(m["containerID"] for m in maps)
    cfg = make(both(lambda c: userns(c, uid=maps, gid=maps), setp("process.user.uid", uid0),
                    setp("process.user.gid", uid0)))
    assert run(cfg) == []


@settings(max_examples=100, deadline=None)
@given(disjoint_maps(), st.data())
def test_overlapping_mapping_fails(maps, data):
    """An extra mapping that shares a container id with another one fails at it."""
    other = data.draw(st.sampled_from(maps))
    inside = data.draw(st.integers(other["containerID"], other["containerID"] + other["size"] - 1))
    extra = {"containerID": inside, "hostID": 10**9, "size": 1}
    maps = list(maps) + [extra]
    uid0 = min(m["containerID"] for m in maps)
    cfg = make(both(lambda c: userns(c, uid=maps), setp("process.user.uid", uid0)))
    path, message = error(cfg)
    assert path == f"linux.uidMappings[{len(maps) - 1}].containerID"
    assert message.startswith("containerID range overlaps linux.uidMappings[")


segments = st.sampled_from(["", ".", "..", "a", "b c", "..."])


@settings(max_examples=150, deadline=None)
@given(st.lists(segments, max_size=6), st.booleans())
def test_mount_destinations(parts, absolute):
    """A destination that resolves to / is refused; any other is accepted."""
    dest = ("/" if absolute else "") + "/".join(parts)
    cfg = make(setp("mounts.1.destination", dest))
    stack = []
    for p in parts:
        if p == "..":
            stack and stack.pop()
        elif p not in ("", "."):
            stack.append(p)
    if not dest:
        assert error(cfg) == ("mounts[1].destination", "mount destination must not be empty")
    elif not stack:
        assert error(cfg) == ("mounts[1].destination", f"mount destination {dest} is on the top of rootfs")
    else:
        run(cfg)


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=20).filter(lambda s: "\0" not in s))
def test_netdev_names_match_kernel_rule(name):
    ok = (len(name.encode()) <= 15 and name not in (".", "..")
          and not any(ch in "/: \t\n\v\f\r" for ch in name))
    cfg = make(setp("linux.netDevices", {name: {}}))
    if ok:
        run(cfg)
    else:
        assert error(cfg)[1] == "invalid network device name " + quote(name)
