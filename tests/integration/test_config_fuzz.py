"""A config fuzzer in the suite (issue 10): hypothesis mutates a real config
(runc spec's defaults) field by field and runs `create` then `delete
--force`: no traceback, no hang, one clear line when refused, nothing left.

Bounded in CI (FUZZ_EXAMPLES, default 60); a longer run by hand:
    OCIRUN_FUZZ_EXAMPLES=2000 pytest tests/integration/test_config_fuzz.py

Only fields whose values cannot reach the host are mutated (process, hostname,
annotations, resources, masked/read-only paths, mount options, devices' own
fields): hook paths, namespace paths, cgroupsPath, root.path, mount sources,
propagation and sysctls could run host binaries or change the host, which a
fuzzer has no business doing.
"""
import copy
import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import cgroup_dirs, default_config, launcher_pids, new_id, oci_files, write_bundle

FUZZ_EXAMPLES = int(os.environ.get("OCIRUN_FUZZ_EXAMPLES", "60"))

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([0, -1, 2**31, 2**32, 2**63, 4294967295, 1e308, 0.5]),
    st.text(max_size=12),
    st.sampled_from(["", "/", "..", "/proc", "\ud800", "a\udfffb", "\x00", "c", "b", "rw",
                     "CAP_SYS_ADMIN", "RLIMIT_NOFILE", "unbindable", "-1", "1e9"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=6)

# (path in the config, as keys/indexes) that may be mutated.
TARGETS = [
    ("process",), ("process", "args"), ("process", "env"), ("process", "cwd"), ("process", "user"),
    ("process", "user", "uid"), ("process", "user", "additionalGids"), ("process", "capabilities"),
    ("process", "capabilities", "bounding"), ("process", "rlimits"), ("process", "rlimits", 0, "type"),
    ("process", "rlimits", 0, "hard"), ("process", "noNewPrivileges"), ("process", "oomScoreAdj"),
    ("process", "terminal"), ("process", "consoleSize"), ("process", "ioPriority"),
    ("process", "scheduler"), ("process", "execCPUAffinity"), ("process", "apparmorProfile"),
    ("hostname",), ("domainname",), ("annotations",), ("ociVersion",),
    ("linux", "resources"), ("linux", "resources", "memory"), ("linux", "resources", "pids"),
    ("linux", "resources", "cpu"), ("linux", "resources", "devices"), ("linux", "maskedPaths"),
    ("linux", "readonlyPaths"), ("linux", "personality"), ("linux", "timeOffsets"),
    ("mounts", 0, "options"), ("mounts", 1, "options"), ("mounts", 2, "type"),
    ("linux", "devices"), ("linux", "devices", 0, "type"), ("linux", "devices", 0, "fileMode"),
    ("linux", "devices", 0, "major"),
]
DEVICE = {"path": "/dev/fuzz", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666}


def _mutate(config, path, value, delete):
    node = config
    for key in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(key, [] if isinstance(key, int) else {})
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return
    last = path[-1]
    if isinstance(node, dict) and isinstance(last, str):
        if delete:
            node.pop(last, None)
        else:
            node[last] = value
    elif isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = value


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(TARGETS), values, st.booleans()), min_size=1, max_size=3))
def test_create_never_crashes_and_leaves_nothing(oci, rootfs, tmp_path, ocirun_bin, mutations):
    config = default_config(rootfs, ["/bin/true"])
    config["linux"]["devices"] = [dict(DEVICE)]
    for path, value, delete in mutations:
        _mutate(config, path, copy.deepcopy(value), delete)
    cid = new_id("z")
    b = write_bundle(tmp_path / cid, {})
    with open(os.path.join(b, "config.json"), "w") as f:
        f.write(json.dumps(config))  # ensure_ascii: lone surrogates become \\udXXX escapes
    p = oci_files(oci, "create", "--bundle", b, cid)  # files: the init keeps a copy of stdio
    assert "Traceback" not in p.stderr and p.returncode in (0, 1), (mutations, p.returncode, p.stderr)
    if p.returncode:
        assert p.stderr.count("\n") >= 1 and p.stderr.startswith("ocirun:"), p.stderr
        assert not os.path.exists(os.path.join(oci.root, cid)), (mutations, p.stderr)
    d = oci("delete", "--force", cid, timeout=60)
    assert d.returncode == 0 and "Traceback" not in d.stderr, d.stderr
    assert not os.path.exists(os.path.join(oci.root, cid))
    assert launcher_pids(ocirun_bin, cid) == []
    assert [x for x in cgroup_dirs() if cid in x] == []
