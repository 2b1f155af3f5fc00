"""ocirun's JSON Schemas (schemas/) and ocirun.spec.schema.

The schemas are our own, written from the runtime-spec text. The spec's published
schemas (../shared/runtime-spec/schema, never copied into the repo) serve as the
oracle; ours must give the same verdict on:
- the spec's own test vectors;
- every single mutation of a config that sets every member (an exhaustive sweep);
- hypothesis-generated configs, states and features documents and random single
  mutations of them.
Then the error reports of validate_*: path, one-line message, source.
"""

import copy
import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocirun.errors import InvalidSpec
from ocirun.spec import fastschema, schema

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("OCIRUN_SHARED") or REPO.parent / "shared")
OFFICIAL = SHARED / "runtime-spec" / "schema"
VECTORS = OFFICIAL / "test"
PYTHON = sys.executable

needs_oracle = pytest.mark.skipif(
    not (OFFICIAL / "config-schema.json").is_file(),
    reason=f"runtime-spec reference schemas not found under {SHARED} (set OCIRUN_SHARED)",
)

# document kind -> (our schema file, official root schema file)
KINDS = {
    "config": ("config.json", "config-schema.json"),
    "state": ("state.json", "state-schema.json"),
    "features": ("features.json", "features-schema.json"),
}


@lru_cache(maxsize=None)
def official(kind):
    """Draft4Validator over the spec's own schema; its $refs are bare file names ("defs.json")."""
    from jsonschema import Draft4Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    registry = Registry().with_resources(
        (path.name, Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT4))
        for path in OFFICIAL.glob("*.json")
    )
    root = KINDS[kind][1]
    return Draft4Validator(registry.contents(root), registry=registry)


def ours(kind):
    return schema.validator(KINDS[kind][0])


# Where ours is deliberately wider than the official schema (runc accepts it and engines send
# it; README "Spec over runc"): the official schema judges the narrowed equivalent instead.
R_PROPAGATION = {"rprivate": "private", "rshared": "shared", "rslave": "slave", "runbindable": "unbindable"}


def narrowed(kind, doc):
    linux = doc.get("linux") if kind == "config" and isinstance(doc, dict) else None
    if isinstance(linux, dict) and str(linux.get("rootfsPropagation")) in R_PROPAGATION:
        doc = dict(doc, linux=dict(linux, rootfsPropagation=R_PROPAGATION[linux["rootfsPropagation"]]))
    elif isinstance(linux, dict) and linux.get("rootfsPropagation") == "":  # runc: unset
        doc = dict(doc, linux={k: v for k, v in linux.items() if k != "rootfsPropagation"})
    return doc


def same_verdict(kind, doc):
    """Assert both schemas agree on doc (but for the listed widenings); return the verdict."""
    mine, theirs = ours(kind).is_valid(doc), official(kind).is_valid(narrowed(kind, doc))
    if mine != theirs:
        why_mine = [e.message for e in ours(kind).iter_errors(doc)]
        why_theirs = [e.message for e in official(kind).iter_errors(doc)]
        pytest.fail(
            f"{kind}: ours says {'valid' if mine else 'invalid'} {why_mine}, "
            f"official says {'valid' if theirs else 'invalid'} {why_theirs}\n"
            f"{json.dumps(doc, indent=1, default=repr)[:3000]}"
        )
    return mine


def _nodes(doc, path=()):
    yield path
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _nodes(value, path + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from _nodes(value, path + (i,))


def _get(doc, path):
    for part in path:
        doc = doc[part]
    return doc


# --- the schemas themselves ------------------------------------------------------------------


def test_schema_files_are_draft4_with_our_ids():
    from jsonschema import Draft4Validator

    files = sorted((REPO / "schemas").glob("*.json"))
    assert {f.name for f in files} >= {"config.json", "state.json", "features.json"}
    for path in files:
        contents = json.loads(path.read_text())
        assert contents["$schema"] == "http://json-schema.org/draft-04/schema#", path.name
        assert contents["id"] == f"https://ocirun.invalid/schemas/{path.name}", path.name
        Draft4Validator.check_schema(contents)


def test_every_ref_resolves():
    """A dangling $ref only fails when a document reaches it, so resolve every one up front."""
    registry = schema._registry(schema.schema_dir())
    count = 0
    for path in sorted((REPO / "schemas").glob("*.json")):
        base = f"https://ocirun.invalid/schemas/{path.name}"
        resolver = registry.resolver(base_uri=base)
        stack = [json.loads(path.read_text())]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if "$ref" in node:
                    resolver.lookup(node["$ref"])  # raises if unresolvable
                    count += 1
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    assert count > 50


def test_import_does_not_load_jsonschema():
    """Start-up speed: importing the module must not import jsonschema (it is loaded on first use)."""
    code = "import sys, ocirun.spec.schema; assert 'jsonschema' not in sys.modules; print('ok')"
    out = subprocess.run([PYTHON, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_schemas_found_in_installed_layout(tmp_path):
    """setup.py copies schemas/ to ocirun/schemas/; the module must find that copy when no
    repo-level schemas/ exists."""
    import shutil

    shutil.copytree(REPO / "ocirun", tmp_path / "ocirun", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "schemas", tmp_path / "ocirun" / "schemas")
    code = (
        "from ocirun.spec import schema\n"
        "print(schema.schema_dir())\n"
        "schema.validate_config({'ociVersion': '1.3.0'})\n"
        "try:\n"
        "    schema.validate_config({})\n"
        "except Exception as e:\n"
        "    print(e)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    out = subprocess.run([PYTHON, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        str(tmp_path / "ocirun" / "schemas"),
        "config.json: 'ociVersion' is a required property",
    ]


# --- the spec's test vectors -----------------------------------------------------------------


def _vectors():
    if not VECTORS.is_dir():
        return []
    return [
        pytest.param(kind, verdict, path, id=f"{kind}/{verdict}/{path.name}")
        for kind in KINDS
        for verdict in ("good", "bad")
        for path in sorted((VECTORS / kind / verdict).glob("*.json"))
    ]


@needs_oracle
def test_vectors_exist():
    assert len(_vectors()) >= 19


@needs_oracle
@pytest.mark.parametrize("kind,verdict,path", _vectors())
def test_spec_vectors(kind, verdict, path):
    """Each vector in runtime-spec schema/test gets the same verdict from both schemas, and
    good means valid; bad means invalid (a file that is not JSON counts as invalid)."""
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError:
        assert verdict == "bad"
        return
    valid = same_verdict(kind, doc)
    assert valid == (verdict == "good")
    check = {"config": schema.validate_config, "state": schema.validate_state, "features": schema.validate_features}
    if valid:
        check[kind](doc)
    else:
        with pytest.raises(InvalidSpec):
            check[kind](doc)


# --- every single mutation of a full config --------------------------------------------------
# FULL sets every member the spec text defines, each with a valid value. The sweep below changes
# one node at a time in every way listed in single_mutations() and compares verdicts. Each part is
# swept inside an otherwise minimal config, which keeps the documents small and the sweep fast.

FULL = {
    "ociVersion": "1.3.0",
    "root": {"path": "rootfs", "readonly": True},
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid"]},
        {"destination": "/data", "source": "/srv", "options": ["rbind", "idmap"],
         "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
         "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]},
    ],
    "process": {
        "terminal": True, "consoleSize": {"height": 24, "width": 80}, "cwd": "/", "env": ["PATH=/bin"],
        "args": ["sh", "-c", "true"], "commandLine": "sh", "noNewPrivileges": True,
        "user": {"uid": 1, "gid": 2, "umask": 18, "additionalGids": [5, 6], "username": "u"},
        "capabilities": {k: ["CAP_KILL"] for k in ("bounding", "effective", "inheritable", "permitted", "ambient")},
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096}],
        "apparmorProfile": "p", "selinuxLabel": "l", "oomScoreAdj": 100,
        "scheduler": {"policy": "SCHED_DEADLINE", "nice": -5, "priority": 1, "flags": ["SCHED_FLAG_RECLAIM"],
                      "runtime": 1, "deadline": 2, "period": 3},
        "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4},
        "execCPUAffinity": {"initial": "0-3,7", "final": "1"},
    },
    "hostname": "h", "domainname": "d",
    "hooks": {k: [{"path": "/bin/hook", "args": ["hook"], "env": ["A=1"], "timeout": 5}]
              for k in ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")},
    "annotations": {"org.example.key": "value", "k": ""},
    "linux": {
        "namespaces": [{"type": "pid"}, {"type": "network", "path": "/run/netns/n"}],
        "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "timeOffsets": {"boottime": {"secs": -1, "nanosecs": 7}, "monotonic": {"secs": 2, "nanosecs": 0}},
        "devices": [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 438, "uid": 0,
                     "gid": 0}],
        "netDevices": {"eth0": {"name": "ctr0"}, "ens4": {}},
        "cgroupsPath": "/ocirun/c1",
        "resources": {
            "devices": [{"allow": False, "access": "rwm"},
                        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"}],
            "memory": {"limit": 536870912, "reservation": 1, "swap": -1, "kernel": -1, "kernelTCP": -1,
                       "swappiness": 0, "disableOOMKiller": False, "useHierarchy": True, "checkBeforeUpdate": True},
            "cpu": {"shares": 1024, "quota": 1000000, "burst": 1, "period": 500000, "realtimeRuntime": 950000,
                    "realtimePeriod": 1000000, "cpus": "2-3", "mems": "0-7", "idle": 0},
            "blockIO": {"weight": 10, "leafWeight": 10,
                        "weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": 300}],
                        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 600}],
                        "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 600}],
                        "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 300}],
                        "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 300}]},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}],
            "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
            "pids": {"limit": 32771},
            "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
            "unified": {"io.max": "8:0 rbps=1", "memory.high": "max"},
        },
        "intelRdt": {"closID": "guaranteed", "l3CacheSchema": "L3:0=7f0", "memBwSchema": "MB:0=20",
                     "schemata": ["L2:0=ff"], "enableMonitoring": True},
        "memoryPolicy": {"mode": "MPOL_INTERLEAVE", "nodes": "0-1", "flags": ["MPOL_F_STATIC_NODES"]},
        "sysctl": {"net.ipv4.ip_forward": "1"},
        "seccomp": {
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "architectures": ["SCMP_ARCH_X86_64"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"], "listenerPath": "/run/agent.sock", "listenerMetadata": "m",
            "syscalls": [{"names": ["getcwd", "chmod"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1,
                          "args": [{"index": 1, "value": 2, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"}]}],
        },
        "rootfsPropagation": "slave",
        "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"], "mountLabel": "system_u:object_r:x",
        "personality": {"domain": "LINUX32", "flags": []},
    },
    "windows": {
        "layerFolders": ["C:\\layers\\1"], "devices": [{"id": "24E552D7", "idType": "class"}],
        "resources": {"memory": {"limit": 1}, "cpu": {"count": 2, "shares": 3, "maximum": 4,
                                                      "affinity": {"mask": 5, "group": 6}},
                      "storage": {"iops": 1, "bps": 2, "sandboxSize": 3}},
        "network": {"endpointList": ["e"], "allowUnqualifiedDNSQuery": True, "DNSSearchList": ["a.com"],
                    "networkSharedContainerName": "n", "networkNamespace": "ns"},
        "credentialSpec": {}, "servicing": False, "ignoreFlushesDuringBoot": True,
        "hyperv": {"utilityVMPath": "C:\\uvm"},
    },
    "solaris": {"milestone": "m", "limitpriv": "default", "maxShmMemory": "512m", "cappedCPU": {"ncpus": "8"},
                "cappedMemory": {"physical": "512m", "swap": "512m"},
                "anet": [{"linkname": "net0", "lowerLink": "net2", "allowedAddress": "a",
                          "configureAllowedAddress": "true", "defrouter": "r", "macAddress": "m",
                          "linkProtection": "mac-nospoof"}]},
    "vm": {"hypervisor": {"path": "/usr/bin/qemu", "parameters": ["-x"]},
           "kernel": {"path": "/vmlinuz", "parameters": ["ro"], "initrd": "/initrd"},
           "image": {"path": "/img", "format": "qcow2"},
           "hwConfig": {"deviceTree": "/dt", "vcpus": 2, "memory": 1024, "dtdevs": ["d"],
                        "iomems": [{"firstGFN": 1, "firstMFN": 2, "nrMFNs": 3}], "irqs": [1, 2]}},
    "zos": {"namespaces": [{"type": "pid"}, {"type": "mount", "path": "/x"}]},
    "freebsd": {"devices": [{"path": "/dev/null", "mode": 438}],
                "jail": {"parent": "p", "host": "new", "ip4": "disable", "ip4Addr": ["10.0.0.1"], "ip6": "inherit",
                         "ip6Addr": [], "vnet": "new", "interface": "em0", "vnetInterfaces": ["epair0b"],
                         "sysvmsg": "new", "sysvsem": "new", "sysvshm": "new", "enforceStatfs": 2,
                         "allow": {"setHostname": True, "rawSockets": False, "chflags": False, "mount": ["tmpfs"],
                                   "quotas": False, "socketAf": False, "mlock": False, "reservedPorts": False,
                                   "suser": True}}},
}
# The parts swept one at a time, each inside a config holding only what the part needs around it
# (CONTEXT: members its parents require). Big objects are swept member by member ("deep"), plus
# once on their own for the changes to the object itself ("shallow").
SPLIT = [("process",), ("hooks",), ("windows",), ("linux",), ("linux", "resources"),
         ("linux", "resources", "blockIO")]
CONTEXT = {("process",): ["cwd"], ("windows",): ["layerFolders"], ("vm",): ["kernel"]}


def _parts(path=()):
    for key in _get(FULL, path):
        sub = path + (key,)
        if sub in SPLIT:
            yield sub, False
            yield from _parts(sub)
        else:
            yield sub, True


PARTS = list(_parts())


def part_config(part):
    """{"ociVersion": ...} plus FULL's value at part, nested at the same place, with the
    members CONTEXT names for each parent on the way."""
    config = {"ociVersion": FULL["ociVersion"]}
    for i in range(1, len(part) + 1):
        holder = _get(config, part[: i - 1])
        if i < len(part):
            holder = holder.setdefault(part[i - 1], {})
            for key in CONTEXT.get(part[:i], ()):
                holder[key] = copy.deepcopy(_get(FULL, part[:i] + (key,)))
        else:
            holder[part[-1]] = copy.deepcopy(_get(FULL, part))
    return config


# Names and formats from the spec text. A string node holding one of these is also tried with
# every other member of its group (so a missing or extra enum member, or a pattern that is too
# loose or too strict, shows up) and with one member of every other group.
STRING_GROUPS = [
    ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time", "net", "PID", "mnt"],
    ["private", "shared", "slave", "unbindable", "rprivate", "rshared"],
    ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
     "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_NOTIFY_FD"],
    ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
     "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
     "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
     "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64",
     "SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB", "SCMP_ARCH_NATIVE", "SCMP_ARCH_RISCV32"],
    ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
     "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_NEW_LISTENER"],
    ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
     "SCMP_CMP_MASKED_EQ", "SCMP_CMP_MASKED"],
    ["SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "SCHED_ISO", "SCHED_IDLE", "SCHED_DEADLINE",
     "SCHED_NORMAL"],
    ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM", "SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_KEEP_POLICY",
     "SCHED_FLAG_KEEP_PARAMS", "SCHED_FLAG_UTIL_CLAMP_MIN", "SCHED_FLAG_UTIL_CLAMP_MAX", "SCHED_FLAG_ALL"],
    ["IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE", "IOPRIO_CLASS_NONE"],
    ["MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED",
     "MPOL_PREFERRED_MANY", "MPOL_LOCAL", "MPOL_MAX"],
    ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES", "MPOL_F_NODE"],
    ["LINUX", "LINUX32", "linux", "LINUX64", "PER_LINUX"],
    ["c", "b", "u", "p", "a", "cc", "C", "c\n", " c"],
    ["RLIMIT_NOFILE", "RLIMIT_CORE", "RLIMIT_", "RLIMIT_nofile", "RLIMIT_NO_FILE", "RLIMIT_NOFILE1",
     "XRLIMIT_CORE", "RLIMIT_CORE\n"],
    ["0-3,7", "1", "1 2", "0,1-2", "a", "1;2", "0-3\n", "\t", "0x1"],
    ["2MB", "64KB", "1GB", "64kB", "0MB", "10TB", "2MB\n", "2 MB", "12345KB", "2M", "02MB"],
    ["MB:0=20", "MB:", "mb:0=20", "MB:0=20\n", "MB:0\n=1", "L3:0=7", " MB:1"],
    ["CAP_KILL", "CAP_SYS_ADMIN", "CAP_", "CAP_X1", "cap_kill", "CAP_KILL\n", "XCAP_KILL", "CAP_A-B"],
    ["creating", "created", "running", "stopped", "paused", "Created"],
    ["class", "Class", "device"],
    ["raw", "qcow2", "vdi", "vmdk", "vhd", "iso", "QCOW2"],
    ["new", "inherit", "disable", "enable", "NEW"],
]
GROUP_OF = {value: group for group in STRING_GROUPS for value in group}
INT_VALUES = [-1, 0, 255, 256, 511, 512, 65535, 65536, -(2**31) - 1, -(2**31), 2**31 - 1, 2**31,
              2**32 - 1, 2**32, -(2**63) - 1, -(2**63), 2**63 - 1, 2**63, 2**64 - 1, 2**64]
WRONG_TYPE_VALUES = [None, True, 0, 1.5, "x", [], {}]


def single_mutations(value):
    """Every way one node is changed: other JSON types, edge and out-of-range integers, edited
    strings, other names of the same kind, extra members (including the empty and newline-only
    keys) and emptied containers. Removal is done by the caller, which knows the parent."""
    for other in WRONG_TYPE_VALUES:
        if type(other) is not type(value):
            yield other
    if isinstance(value, int) and not isinstance(value, bool):
        yield from INT_VALUES
    elif isinstance(value, str):
        yield from ("", "bogus", value.lower(), value + "X", value + "\n", "\n" + value)
        if value in GROUP_OF:
            yield from GROUP_OF[value]
            yield from (group[0] for group in STRING_GROUPS)
    elif isinstance(value, dict):
        yield {}
        for key in ("", "\n", "x-unknown", "type"):
            yield {**value, key: 1}
            yield {**value, key: "s"}
    elif isinstance(value, list):
        yield []
        for extra in (1, "s", None, {}, []):
            yield value + [extra]


def mutants(base, part=(), deep=True):
    """(description, document) for every single mutation of every node under base[part] (or of
    that node only, when not deep), including removing it and moving it up to its parent's place."""
    for path in _nodes(_get(base, part), part) if deep else [part]:
        node = _get(base, path)
        for new in single_mutations(node):
            if not path:
                yield f"document = {new!r}", new
                continue
            doc = copy.deepcopy(base)
            _get(doc, path[:-1])[path[-1]] = new
            yield f"{schema.json_path(path)} = {new!r}", doc
        if not path:
            continue
        doc = copy.deepcopy(base)
        del _get(doc, path[:-1])[path[-1]]
        yield f"del {schema.json_path(path)}", doc
        if isinstance(_get(base, path[:-1]), dict) and len(path) > 1:
            doc = copy.deepcopy(base)
            _get(doc, path[:-2])[path[-2]] = node
            yield f"{schema.json_path(path[:-1])} = {node!r}", doc


def sweep(kind, documents):
    """Compare verdicts on all documents; fail listing the disagreements."""
    ours_v, official_v = ours(kind), official(kind)
    disagree, invalid, count = [], 0, 0
    for what, doc in documents:
        count += 1
        mine, theirs = ours_v.is_valid(doc), official_v.is_valid(narrowed(kind, doc))
        invalid += not theirs
        if mine != theirs:
            verdicts = ("invalid", "valid")
            disagree.append(f"{what}: ours {verdicts[mine]}, official {verdicts[theirs]}")
    assert not disagree, f"{len(disagree)} of {count} differ:\n" + "\n".join(disagree[:20])
    assert 0 < invalid < count  # the sweep reached both verdicts


@needs_oracle
def test_full_config_is_valid():
    assert same_verdict("config", FULL)
    schema.validate_config(FULL)


@needs_oracle
@pytest.mark.parametrize("part,deep", PARTS, ids=[".".join(p) + ("" if d else "-itself") for p, d in PARTS])
def test_every_single_mutation(part, deep):
    """Each part of FULL, changed in every single way, is judged alike by both schemas."""
    sweep("config", mutants(part_config(part), part, deep))


@needs_oracle
def test_every_single_mutation_of_the_root():
    """config.md#configSpecificationVersion: ociVersion is REQUIRED; the root must be an object."""
    sweep("config", mutants({"ociVersion": "1.3.0", "root": {"path": "rootfs"}}, (), deep=True))


FULL_STATE = {"ociVersion": "1.3.0", "id": "c1", "status": "running", "pid": 4422, "bundle": "/b",
              "annotations": {"myKey": "myValue"}}
FULL_FEATURES = {
    "ociVersionMin": "1.0.0", "ociVersionMax": "1.3.0", "hooks": ["prestart"], "mountOptions": ["ro"],
    "annotations": {"org.example.k": "v"}, "potentiallyUnsafeConfigAnnotations": ["com.example.foo."],
    "linux": {
        "namespaces": ["pid"], "capabilities": ["CAP_KILL"],
        "cgroup": {"v1": True, "v2": True, "systemd": True, "systemdUser": True, "rdma": True},
        "seccomp": {"enabled": True, "actions": ["SCMP_ACT_ALLOW"], "operators": ["SCMP_CMP_EQ"],
                    "archs": ["SCMP_ARCH_X86_64"], "knownFlags": ["SECCOMP_FILTER_FLAG_LOG"],
                    "supportedFlags": ["SECCOMP_FILTER_FLAG_TSYNC"]},
        "apparmor": {"enabled": True}, "selinux": {"enabled": True},
        "memoryPolicy": {"modes": ["MPOL_BIND"], "flags": ["MPOL_F_STATIC_NODES"]},
        "intelRdt": {"enabled": True, "schemata": True, "monitoring": True},
        "mountExtensions": {"idmap": {"enabled": True}}, "netDevices": {"enabled": True},
    },
}


@needs_oracle
def test_every_single_mutation_of_state():
    """runtime.md#runtimeState: ociVersion, id, status and bundle are REQUIRED."""
    assert same_verdict("state", FULL_STATE)
    sweep("state", mutants(FULL_STATE))


@needs_oracle
def test_every_single_mutation_of_features():
    """features.md#featuresSpecificationVersion: ociVersionMin and ociVersionMax are REQUIRED."""
    assert same_verdict("features", FULL_FEATURES)
    sweep("features", mutants(FULL_FEATURES))


# --- generated configs -----------------------------------------------------------------------
# Strategies follow the spec text (config.md, config-linux.md); values stay inside the ranges the
# spec's schema accepts, so every generated config must be valid for both schemas.

U8, U16, U32, U64 = 2**8 - 1, 2**16 - 1, 2**32 - 1, 2**64 - 1
I32, I64 = 2**31, 2**63

uint8 = st.integers(0, U8)
uint16 = st.integers(0, U16)
uint32 = st.integers(0, U32)
uint64 = st.integers(0, U64)
int32 = st.integers(-I32, I32 - 1)
int64 = st.integers(-I64, I64 - 1)
text = st.text(max_size=8)
texts = st.lists(text, max_size=3)
paths = st.sampled_from(["/", "/proc", "/dev/null", "rootfs", "/run/netns/x", "relative/dir"]) | text
str_map = st.dictionaries(st.text(min_size=1, max_size=12), text, max_size=3)
booleans = st.booleans()


def obj(required=None, **optional):
    return st.fixed_dictionaries(required or {}, optional=optional)


def one_of_names(*names):
    return st.sampled_from(names)


id_mapping = obj({"containerID": uint32, "hostID": uint32, "size": uint32})
id_mappings = st.lists(id_mapping, max_size=2)
hook = obj({"path": paths}, args=texts, env=texts, timeout=st.integers(1, 2**40))
hooks = obj(**{k: st.lists(hook, max_size=2) for k in (
    "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")})
mount = obj(
    {"destination": paths},
    source=paths, type=one_of_names("proc", "tmpfs", "none", "bind", "sysfs") | text,
    options=st.lists(one_of_names("rbind", "ro", "nosuid", "mode=755", "idmap"), max_size=3),
    uidMappings=id_mappings, gidMappings=id_mappings,
)
rlimit = obj({
    "type": one_of_names("RLIMIT_NOFILE", "RLIMIT_CORE", "RLIMIT_NPROC", "RLIMIT_MSGQUEUE"),
    "soft": uint64, "hard": uint64,
})
cpu_list = one_of_names("", "0", "0-3,7", "1, 2", "0-1")
process = obj(
    {"cwd": paths},
    args=st.lists(text, min_size=1, max_size=3), env=texts, terminal=booleans, commandLine=text,
    consoleSize=obj({"height": uint64, "width": uint64}),
    user=obj(uid=uint32, gid=uint32, umask=uint32, additionalGids=st.lists(uint32, max_size=3), username=text),
    capabilities=obj(**{k: st.lists(one_of_names("CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"), max_size=2)
                        for k in ("bounding", "effective", "inheritable", "permitted", "ambient")}),
    rlimits=st.lists(rlimit, max_size=2), noNewPrivileges=booleans, apparmorProfile=text,
    selinuxLabel=text, oomScoreAdj=st.integers(),
    scheduler=obj(
        {"policy": one_of_names("SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "SCHED_ISO",
                                "SCHED_IDLE", "SCHED_DEADLINE")},
        nice=int32, priority=int32, runtime=uint64, deadline=uint64, period=uint64,
        flags=st.lists(one_of_names("SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM", "SCHED_FLAG_DL_OVERRUN",
                                    "SCHED_FLAG_KEEP_POLICY", "SCHED_FLAG_KEEP_PARAMS",
                                    "SCHED_FLAG_UTIL_CLAMP_MIN", "SCHED_FLAG_UTIL_CLAMP_MAX"), max_size=2),
    ),
    ioPriority=obj({"class": one_of_names("IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE")},
                   priority=st.integers(0, 7) | int32),
    execCPUAffinity=obj(initial=cpu_list, final=cpu_list),
)

NAMESPACES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")
namespace = obj({"type": st.sampled_from(NAMESPACES)}, path=paths)
device = obj(
    {"type": one_of_names("c", "b", "u", "p"), "path": paths},
    major=int64, minor=int64, fileMode=st.integers(0, 0o777), uid=uint32, gid=uint32,
)
block_device = {"major": int64, "minor": int64}
throttle = obj(block_device, rate=uint64)
resources = obj(
    devices=st.lists(obj({"allow": booleans}, type=one_of_names("a", "b", "c"), major=int64, minor=int64,
                         access=one_of_names("rwm", "r", "")), max_size=2),
    memory=obj(limit=int64, reservation=int64, swap=int64, kernel=int64, kernelTCP=int64,
               swappiness=uint64, disableOOMKiller=booleans, useHierarchy=booleans, checkBeforeUpdate=booleans),
    cpu=obj(shares=uint64, quota=int64, burst=uint64, period=uint64, realtimeRuntime=int64,
            realtimePeriod=uint64, cpus=cpu_list, mems=cpu_list, idle=int64),
    blockIO=obj(weight=uint16, leafWeight=uint16,
                weightDevice=st.lists(obj(block_device, weight=uint16, leafWeight=uint16), max_size=2),
                throttleReadBpsDevice=st.lists(throttle, max_size=2),
                throttleWriteBpsDevice=st.lists(throttle, max_size=2),
                throttleReadIOPSDevice=st.lists(throttle, max_size=2),
                throttleWriteIOPSDevice=st.lists(throttle, max_size=2)),
    hugepageLimits=st.lists(obj({"pageSize": st.from_regex(r"\A[1-9][0-9]{0,3}[KMG]B\Z"), "limit": uint64}),
                            max_size=2),
    network=obj(classID=uint32, priorities=st.lists(obj({"name": text, "priority": uint32}), max_size=2)),
    pids=obj({"limit": int64}),
    rdma=st.dictionaries(text, obj(hcaHandles=uint32, hcaObjects=uint32), max_size=2),
    unified=str_map,
)
seccomp = obj(
    {"defaultAction": one_of_names("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                                   "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW",
                                   "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY")},
    defaultErrnoRet=uint32,
    architectures=st.lists(one_of_names("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64",
                                        "SCMP_ARCH_RISCV64", "SCMP_ARCH_SHEB", "SCMP_ARCH_LOONGARCH64"),
                           max_size=2),
    flags=st.lists(one_of_names("SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"),
                   max_size=2),
    listenerPath=paths, listenerMetadata=text,
    syscalls=st.lists(obj(
        {"names": st.lists(one_of_names("read", "write", "clone", "mount"), min_size=1, max_size=2),
         "action": one_of_names("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_NOTIFY")},
        errnoRet=uint32,
        args=st.lists(obj({"index": uint32, "value": uint64,
                           "op": one_of_names("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ",
                                              "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ")},
                          valueTwo=uint64), max_size=2),
    ), max_size=2),
)
time_offset = obj(secs=int64, nanosecs=uint32)
linux = obj(
    namespaces=st.lists(namespace, max_size=4), uidMappings=id_mappings, gidMappings=id_mappings,
    timeOffsets=obj(boottime=time_offset, monotonic=time_offset),
    devices=st.lists(device, max_size=2),
    netDevices=st.dictionaries(text, obj(name=text), max_size=2),
    cgroupsPath=paths, resources=resources,
    intelRdt=obj(closID=text, l3CacheSchema=text, memBwSchema=st.from_regex(r"\AMB:[^\n]{0,8}\Z"),
                 schemata=texts, enableMonitoring=booleans),
    memoryPolicy=obj(mode=one_of_names("MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE",
                                       "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_LOCAL"),
                     nodes=cpu_list,
                     flags=st.lists(one_of_names("MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES",
                                                 "MPOL_F_STATIC_NODES"), max_size=2)),
    sysctl=st.dictionaries(one_of_names("net.ipv4.ip_forward", "kernel.shmmax") | st.text(min_size=1), text,
                           max_size=2),
    seccomp=seccomp,
    rootfsPropagation=one_of_names("private", "shared", "slave", "unbindable", *R_PROPAGATION),
    maskedPaths=texts, readonlyPaths=texts, mountLabel=text,
    personality=obj(domain=one_of_names("LINUX", "LINUX32"), flags=texts),
)
# Other platforms' sections: ocirun ignores them, but judges them like other OCI tools do.
sharing = one_of_names("new", "inherit")
platforms = {
    "windows": obj({"layerFolders": st.lists(paths, min_size=1, max_size=2)},
                   devices=st.lists(obj({"id": text, "idType": st.just("class")}), max_size=1),
                   resources=obj(memory=obj(limit=uint64),
                                 cpu=obj(count=uint64, shares=uint16, maximum=uint16,
                                         affinity=obj(mask=uint64, group=uint32)),
                                 storage=obj(iops=uint64, bps=uint64, sandboxSize=uint64)),
                   network=obj(endpointList=texts, allowUnqualifiedDNSQuery=booleans, DNSSearchList=texts,
                               networkSharedContainerName=text, networkNamespace=text),
                   credentialSpec=st.just({}), servicing=booleans, ignoreFlushesDuringBoot=booleans,
                   hyperv=obj(utilityVMPath=text)),
    "solaris": obj(milestone=text, limitpriv=text, maxShmMemory=text, cappedCPU=obj(ncpus=text),
                   cappedMemory=obj(physical=text, swap=text),
                   anet=st.lists(obj(linkname=text, lowerLink=text, macAddress=text), max_size=1)),
    "vm": obj({"kernel": obj({"path": paths}, parameters=texts, initrd=paths)},
              hypervisor=obj({"path": paths}, parameters=texts),
              image=obj({"path": paths, "format": one_of_names("raw", "qcow2", "vdi", "vmdk", "vhd")}),
              hwConfig=obj(deviceTree=paths, vcpus=uint32, memory=uint64, dtdevs=texts,
                           iomems=st.lists(obj({"firstMFN": uint64, "nrMFNs": uint64}, firstGFN=uint64),
                                           max_size=1),
                           irqs=st.lists(uint32, max_size=2))),
    "zos": obj(namespaces=st.lists(obj({"type": one_of_names("mount", "pid", "uts", "ipc")}, path=paths),
                                   max_size=2)),
    "freebsd": obj(devices=st.lists(obj(path=paths, mode=st.integers(0, 0o777)), max_size=1),
                   jail=obj(parent=text, host=sharing, vnet=sharing, ip4=sharing | st.just("disable"),
                            ip4Addr=texts, interface=text, vnetInterfaces=texts, enforceStatfs=uint8,
                            allow=obj(setHostname=booleans, mount=texts, suser=booleans))),
}
configs = obj(
    {"ociVersion": one_of_names("1.3.0", "1.0.0", "1.2.1") | text},
    root=obj({"path": paths}, readonly=booleans), mounts=st.lists(mount, max_size=2), process=process,
    hostname=text, domainname=text, hooks=hooks, annotations=str_map, linux=linux,
    **{name: st.none() | strategy for name, strategy in platforms.items()},
).map(lambda c: {k: v for k, v in c.items() if v is not None})

# --- mutations -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(text, inner, max_size=2),
    max_leaves=4,
)
WRONG_TYPE = [None, True, 0, -1, 1.5, "x", "", [], ["x"], {}, {"k": "v"}]
BOUNDARIES = [-1, -128, -129, 127, 128, 255, 256, 511, 512, 65535, 65536, -(2**31), -(2**31) - 1, 2**31 - 1,
              2**31, U32, U32 + 1, -(2**63), -(2**63) - 1, 2**63 - 1, 2**63, U64, U64 + 1, 0, 1]
# Just outside the ranges the spec uses (uint8/16/32/64, int32/64, file modes).
OUT_OF_RANGE = [-1, 256, 512, 65536, 2**31, -(2**31) - 1, U32 + 1, 2**63, -(2**63) - 1, U64 + 1]
# Property names from the spec, injected anywhere (a known name in the wrong place is "extra").
KNOWN_KEYS = [
    "ociVersion", "root", "process", "linux", "windows", "solaris", "vm", "zos", "freebsd", "hooks",
    "annotations", "mounts", "path", "type", "destination", "source", "options", "cwd", "args", "env", "uid",
    "gid", "umask", "consoleSize", "height", "width", "rlimits", "soft", "hard", "scheduler", "policy", "nice",
    "priority", "ioPriority", "class", "namespaces", "uidMappings", "containerID", "hostID", "size", "devices",
    "major", "minor", "fileMode", "resources", "memory", "limit", "swappiness", "cpu", "pids", "blockIO",
    "weight", "rate", "hugepageLimits", "pageSize", "network", "classID", "rdma", "hcaHandles", "seccomp",
    "defaultAction", "syscalls", "names", "action", "index", "op", "value", "memBwSchema", "intelRdt",
    "memoryPolicy", "mode", "flags", "personality", "domain", "timeOffsets", "secs", "nanosecs", "netDevices",
    "name", "sysctl", "allow", "timeout", "layerFolders", "kernel", "image", "format", "jail", "vnet",
    "enforceStatfs", "execCPUAffinity", "initial", "rootfsPropagation", "maskedPaths", "architectures",
]


@st.composite
def mutated(draw, documents):
    """A valid document with one thing changed: a wrong type, a bad enum/pattern value, a missing
    member, a negative or out-of-range number, an extra property, or an empty container."""
    doc = copy.deepcopy(draw(documents))
    path = draw(st.sampled_from(list(_nodes(doc))))
    node = _get(doc, path)
    # Pick a change that suits the node most of the time; any change is possible.
    if isinstance(node, bool) or node is None:
        kinds = ["type", "type", "delete"]
    elif isinstance(node, int):
        kinds = ["number", "number", "number", "type", "delete"]
    elif isinstance(node, str):
        kinds = ["string", "string", "string", "type", "delete"]
    else:
        kinds = ["extra", "known", "known", "empty", "type", "delete"]
    kind = draw(st.sampled_from(kinds) | st.sampled_from(["type", "string", "delete", "number", "extra", "empty"]))
    if kind == "string" and isinstance(node, str):
        edits = ["", "bogus", node.lower(), node + "X", node + "\n", " " + node, "\n"]
        new = draw(st.sampled_from(edits) | st.sampled_from(GROUP_OF.get(node, edits)) | text)
    elif kind == "number" and isinstance(node, int) and not isinstance(node, bool):
        new = draw(st.sampled_from(OUT_OF_RANGE) | st.sampled_from(BOUNDARIES + [-node - 1, node + 1, node * 2**32]))
    elif kind == "delete" and path:
        parent = _get(doc, path[:-1])
        del parent[path[-1]]
        return doc
    elif kind in ("extra", "known") and isinstance(node, (dict, list)):
        value = draw(json_values | st.sampled_from(WRONG_TYPE))
        if isinstance(node, list):
            node.append(value)
        else:
            key = draw(st.sampled_from(KNOWN_KEYS)) if kind == "known" else draw(text)
            node[key] = value
        return doc
    elif kind == "empty":
        new = type(node)() if isinstance(node, (dict, list, str)) else draw(st.sampled_from(WRONG_TYPE))
    else:
        new = draw(st.sampled_from([v for v in WRONG_TYPE if type(v) is not type(node)]))
    if not path:
        return new
    _get(doc, path[:-1])[path[-1]] = new
    return doc


FAST = settings(max_examples=100, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@needs_oracle
@FAST
@given(configs)
def test_generated_configs_are_valid_for_both(config):
    """Configs built from the spec text's field list are valid for both schemas."""
    assert same_verdict("config", config), "generator produced an invalid config"
    schema.validate_config(config)


@needs_oracle
@settings(FAST, max_examples=300)
@given(mutated(configs))
def test_mutated_configs_same_verdict(config):
    """After one mutation anywhere in a generated config, both schemas give the same verdict."""
    if same_verdict("config", config):
        schema.validate_config(config)
    else:
        with pytest.raises(InvalidSpec):
            schema.validate_config(config)


states = obj(
    {"ociVersion": one_of_names("1.3.0") | text, "id": text, "bundle": paths,
     "status": one_of_names("creating", "created", "running", "stopped")},
    pid=st.integers(0, 2**40), annotations=str_map,
)
features = obj(
    {"ociVersionMin": one_of_names("1.0.0"), "ociVersionMax": one_of_names("1.3.0")},
    hooks=texts, mountOptions=texts, annotations=str_map, potentiallyUnsafeConfigAnnotations=texts,
    linux=obj(
        namespaces=st.lists(st.sampled_from(NAMESPACES), max_size=3),
        capabilities=st.lists(st.from_regex(r"\ACAP_[A-Z_]{1,12}\Z"), max_size=2),
        cgroup=obj(v1=booleans, v2=booleans, systemd=booleans, systemdUser=booleans, rdma=booleans),
        seccomp=obj(enabled=booleans, actions=st.lists(one_of_names("SCMP_ACT_ALLOW", "SCMP_ACT_LOG"), max_size=2),
                    operators=st.lists(one_of_names("SCMP_CMP_EQ", "SCMP_CMP_NE"), max_size=2),
                    archs=st.lists(one_of_names("SCMP_ARCH_X86_64", "SCMP_ARCH_PPC64LE"), max_size=2),
                    knownFlags=st.lists(one_of_names("SECCOMP_FILTER_FLAG_LOG"), max_size=1),
                    supportedFlags=st.lists(one_of_names("SECCOMP_FILTER_FLAG_TSYNC"), max_size=1)),
        apparmor=obj(enabled=booleans), selinux=obj(enabled=booleans),
        intelRdt=obj(enabled=booleans, schemata=booleans, monitoring=booleans),
        memoryPolicy=obj(modes=st.lists(one_of_names("MPOL_BIND"), max_size=1),
                         flags=st.lists(one_of_names("MPOL_F_STATIC_NODES"), max_size=1)),
        mountExtensions=obj(idmap=obj(enabled=booleans)), netDevices=obj(enabled=booleans),
    ),
)


@needs_oracle
@settings(FAST, max_examples=100)
@given(states | mutated(states))
def test_states_same_verdict(state):
    """runtime.md#runtimeState: ociVersion, id, status and bundle are REQUIRED."""
    same_verdict("state", state)


@needs_oracle
@settings(FAST, max_examples=100)
@given(features | mutated(features))
def test_features_same_verdict(doc):
    """features.md: ociVersionMin and ociVersionMax are REQUIRED."""
    same_verdict("features", doc)


# --- error reports ---------------------------------------------------------------------------

BASE = {"ociVersion": "1.3.0", "root": {"path": "rootfs"}, "process": {"cwd": "/", "args": ["sh"]}}


def with_(**changes):
    config = copy.deepcopy(BASE)
    config.update(changes)
    return config


def rejection(config, check=schema.validate_config):
    with pytest.raises(InvalidSpec) as info:
        check(config)
    return info.value.path, info.value.message


def test_base_config_is_valid():
    schema.validate_config(BASE)


@pytest.mark.parametrize("value", sorted(R_PROPAGATION) + [""])
def test_recursive_rootfs_propagation_is_accepted(value):
    """runc accepts rprivate/rshared/rslave/runbindable and containerd's CRI plugin writes
    rslave/rshared: both our checks take them (the official schema does not)."""
    config = with_(linux={"rootfsPropagation": value})
    schema.validate_config(config)
    assert fastschema.is_valid(config)
    assert not fastschema.is_valid(with_(linux={"rootfsPropagation": "rshard"}))


def test_missing_oci_version():
    """config.md#configSpecificationVersion: ociVersion is REQUIRED."""
    config = copy.deepcopy(BASE)
    del config["ociVersion"]
    assert rejection(config) == ("", "'ociVersion' is a required property")


def test_bad_namespace_type():
    """config-linux.md#configLinuxNamespaces: type is one of the listed namespace types."""
    config = with_(linux={"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "foo"}]})
    assert rejection(config) == (
        "linux.namespaces[2].type",
        "'foo' is not one of ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts']",
    )


def test_args_wrong_type():
    assert rejection(with_(process={"cwd": "/", "args": "sh"})) == ("process.args", "'sh' is not of type 'array'")


def test_missing_cwd_names_the_parent_object():
    """config.md#configProcess: cwd is REQUIRED."""
    assert rejection(with_(process={"args": ["sh"]})) == ("process", "'cwd' is a required property")


def test_uid_overflow():
    """config.md#configPOSIXUser / config-linux.md: ids are uint32."""
    config = with_(process={"cwd": "/", "user": {"uid": 0, "gid": 2**32}})
    assert rejection(config) == ("process.user.gid", "4294967296 is greater than the maximum of 4294967295")


def test_negative_file_mode():
    config = with_(linux={"devices": [{"type": "c", "path": "/dev/fuse", "fileMode": -1}]})
    assert rejection(config) == ("linux.devices[0].fileMode", "-1 is less than the minimum of 0")


def test_dotted_key_is_quoted():
    config = with_(linux={"sysctl": {"net.ipv4.ip_forward": 1}})
    assert rejection(config) == ('linux.sysctl["net.ipv4.ip_forward"]', "1 is not of type 'string'")


def test_hugepage_pattern():
    """config-linux.md#configLinuxHugePageLimits: pageSize is <size><unit-prefix>B."""
    config = with_(linux={"resources": {"hugepageLimits": [{"pageSize": "64kB", "limit": 1}]}})
    assert rejection(config) == (
        "linux.resources.hugepageLimits[0].pageSize",
        "'64kB' does not match '^[1-9][0-9]*[KMG]B$'",
    )


def test_seccomp_names_must_not_be_empty():
    """config-linux.md#configLinuxSeccomp: names MUST contain at least one entry."""
    config = with_(linux={"seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
                                      "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}})
    assert rejection(config) == ("linux.seccomp.syscalls[0].names", "[] should be non-empty")


def test_root_not_an_object():
    assert rejection(["x"]) == ("", "['x'] is not of type 'object'")


def test_shallowest_error_wins():
    """With several errors, the one nearest the root is reported (jsonschema's best_match)."""
    config = with_(linux={"namespaces": [{"type": "foo"}]})
    del config["ociVersion"]
    assert rejection(config) == ("", "'ociVersion' is a required property")


def test_long_value_is_cut_to_one_short_line():
    config = with_(process={"cwd": "/", "args": {"a\nb": "x" * 500}})
    path, message = rejection(config)
    assert path == "process.args"
    assert "\n" not in message and len(message) < 120
    assert message.startswith("{'a\\nb': 'xxx") and message.endswith("... is not of type 'array'")


def test_str_of_error():
    with pytest.raises(InvalidSpec) as info:
        schema.validate_config(with_(process={"cwd": "/", "args": "sh"}))
    assert str(info.value) == "config.json: process.args: 'sh' is not of type 'array'"
    assert info.value.source == "config.json"


def test_state_errors():
    """runtime.md#runtimeState: status is one of creating, created, running, stopped."""
    state = {"ociVersion": "1.3.0", "id": "c1", "status": "paused", "bundle": "/b"}
    with pytest.raises(InvalidSpec) as info:
        schema.validate_state(state)
    assert (info.value.source, info.value.path, info.value.message) == (
        "state", "status", "'paused' is not one of ['created', 'creating', 'running', 'stopped']")
    schema.validate_state(dict(state, status="running", pid=42))


def test_features_errors():
    """features.md#featuresSpecificationVersion: ociVersionMax is REQUIRED."""
    with pytest.raises(InvalidSpec) as info:
        schema.validate_features({"ociVersionMin": "1.0.0"})
    assert (info.value.source, info.value.path, info.value.message) == (
        "features", "", "'ociVersionMax' is a required property")
    assert str(info.value) == "features: 'ociVersionMax' is a required property"
    schema.validate_features({"ociVersionMin": "1.0.0", "ociVersionMax": "1.3.0"})


def test_long_enum_list_is_cut():
    config = with_(linux={"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["x86"]}})
    path, message = rejection(config)
    assert path == "linux.seccomp.architectures[0]"
    assert message.startswith("'x86' is not one of ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM', ")
    assert message.endswith("...") and len(message) <= 240
