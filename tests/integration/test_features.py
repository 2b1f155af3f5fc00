"""`ocirun features` (features.md, features-linux.md).

The document is checked against the spec's published schema and ours, and
each claim is checked against the runtime itself: the versions are
accepted, every hook phase runs, every mount option is recognised, every
namespace can be created, every capability and memory policy is taken.
"""
import json
import os
import re
import shutil
import subprocess
import time
from functools import lru_cache
from pathlib import Path

import pytest

from conftest import HAVE_RUNC, REPO, default_config, new_id, write_bundle

SPEC = Path(REPO).parent / "shared" / "runtime-spec"
OFFICIAL = SPEC / "schema"
needs_spec = pytest.mark.skipif(not (OFFICIAL / "features-schema.json").is_file(),
                                reason=f"runtime-spec not found at {SPEC}")


@pytest.fixture(scope="module")
def features(ocirun_bin):
    p = subprocess.run([ocirun_bin, "features"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    return p.stdout


@pytest.fixture(scope="module")
def doc(features):
    return json.loads(features)


@lru_cache(maxsize=None)
def official_validator():
    """Draft 4 over the spec's own features-schema.json; $refs are bare file names."""
    from jsonschema import Draft4Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    registry = Registry().with_resources(
        (path.name, Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT4))
        for path in OFFICIAL.glob("*.json")
    )
    return Draft4Validator(registry.contents("features-schema.json"), registry=registry)


def spec_member_names():
    """Every member name features.md and features-linux.md define (**`name`**)."""
    names = set()
    for md in ("features.md", "features-linux.md"):
        names |= set(re.findall(r"\*\*`(\w+)`\*\*", (SPEC / md).read_text()))
    return names


def _keys(doc, path=()):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield path + (k,)
            if k != "annotations":  # free-form keys
                yield from _keys(v, path + (k,))


def _shape(doc):
    if isinstance(doc, dict):
        return {k: _shape(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return "list"
    return type(doc).__name__


# -- the document -------------------------------------------------------------------


@needs_spec
def test_valid_against_official_schema(doc):
    """features.md: the document follows the published features schema."""
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in official_validator().iter_errors(doc)]
    assert errors == []


def test_valid_against_our_schema(doc):
    from ocirun.spec import schema

    schema.validate_features(doc)


@needs_spec
def test_only_members_the_spec_defines(doc):
    """features.md#featuresSpecificationVersion: the Features structure MUST NOT
    contain properties that are not defined in this version of the spec."""
    known = spec_member_names()
    assert {"ociVersionMin", "memoryPolicy", "netDevices"} <= known  # the parse works
    unknown = [".".join(k) for k in _keys(doc) if k[-1] not in known]
    assert unknown == []


def test_versions(doc):
    """features.md#featuresSpecificationVersion: ociVersionMax MUST NOT be less than ociVersionMin."""
    from ocirun import SPEC_VERSION

    assert doc["ociVersionMin"] == "1.0.0"
    assert doc["ociVersionMax"] == SPEC_VERSION == "1.3.0"
    ver = lambda s: tuple(int(x) for x in s.split("-")[0].split("."))  # noqa: E731
    assert ver(doc["ociVersionMin"]) <= ver(doc["ociVersionMax"])


def test_no_nulls_and_no_empty_claims(doc):
    """features.md: null must not be confused with empty; we never write null."""
    def walk(x):
        if isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
        else:
            assert x is not None
    walk(doc)


def test_printed_like_runc(features, doc):
    """Four-space indentation, one trailing newline, the members in runc's order."""
    assert features.endswith("}\n") and not features.endswith("\n\n")
    assert features.splitlines()[1].startswith('    "ociVersionMin": ')
    assert list(doc)[:4] == ["ociVersionMin", "ociVersionMax", "hooks", "mountOptions"]
    assert json.dumps(doc, indent=4) + "\n" == features


@pytest.mark.skipif(not HAVE_RUNC, reason="runc not installed")
def test_same_shape_as_runc(doc):
    """Every member runc 1.1.5 prints that we print too has the same JSON type."""
    theirs = json.loads(subprocess.run(["runc", "features"], capture_output=True, text=True,
                                       check=True).stdout)
    mine_shape, their_shape = _shape(doc), _shape(theirs)

    def compare(a, b, path):
        for k in set(a) & set(b):
            if k == "annotations":
                continue
            if isinstance(a[k], dict) or isinstance(b[k], dict):
                assert isinstance(a[k], dict) and isinstance(b[k], dict), path + [k]
                compare(a[k], b[k], path + [k])
            else:
                assert a[k] == b[k], path + [k]
    compare(mine_shape, their_shape, [])
    assert set(theirs) - {"annotations"} <= set(doc)
    assert set(theirs["linux"]) - {"seccomp"} <= set(doc["linux"])
    # Same names where the runc of this machine and we both recognise them.
    assert set(theirs["mountOptions"]) <= set(doc["mountOptions"])
    assert set(theirs["linux"]["capabilities"]) <= set(doc["linux"]["capabilities"])
    assert set(theirs["linux"]["namespaces"]) <= set(doc["linux"]["namespaces"])


def test_features_takes_no_arguments(ocirun_bin):
    p = subprocess.run([ocirun_bin, "features", "extra"], capture_output=True, text=True)
    assert p.returncode == 1 and "features" in p.stderr and p.stdout == ""


def test_builder_matches_command(doc):
    from ocirun.features import build

    assert build() == doc


# -- each claim against the code ----------------------------------------------------


def test_mount_options_are_recognised(doc):
    """features.md#featuresMountOptions: each option is recognised, i.e. never
    passed on to mount(2) as filesystem data; and the list is what mountopts knows."""
    from ocirun.mountopts import known_options, parse_mount

    options = doc["mountOptions"]
    assert options == sorted(set(options))
    assert set(options) <= set(known_options())
    for opt in options:
        m = parse_mount({"type": "tmpfs", "source": "tmpfs", "destination": "/x", "options": [opt]})
        assert m.data == "", opt
    # The control: an option we do not claim is data.
    assert parse_mount({"type": "tmpfs", "options": ["size=1m"]}).data == "size=1m"


def test_idmap_options_only_with_idmap_mounts(doc):
    """Without idmapped-mount support the idmap options are not claimed."""
    idmap = doc["linux"]["mountExtensions"]["idmap"]["enabled"]
    assert ("idmap" in doc["mountOptions"]) == idmap
    assert ("ridmap" in doc["mountOptions"]) == idmap


def test_namespace_types_are_the_code_table(doc):
    """features-linux.md#linuxFeaturesNamespaces: every claimed type is recognised
    by validation; an unknown type is not (the control)."""
    from ocirun import namespaces
    from ocirun.errors import InvalidSpec
    from ocirun.spec import schema

    assert doc["linux"]["namespaces"] == sorted(namespaces.FLAGS)
    base = default_config("/")
    for t in doc["linux"]["namespaces"]:
        c = json.loads(json.dumps(base))
        c["linux"]["namespaces"] = [{"type": t}]
        schema.validate_config(c)
    c["linux"]["namespaces"] = [{"type": "bogus"}]
    with pytest.raises(InvalidSpec):
        schema.validate_config(c)


def test_capabilities_cover_the_kernel(doc):
    """features-linux.md#linuxFeaturesCapabilities: every capability of the
    running kernel is claimed, in kernel order, and the code takes them all."""
    from ocirun import capabilities

    caps = doc["linux"]["capabilities"]
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    assert len(caps) >= last + 1
    # Without warn, a name the code does not know raises InvalidSpec.
    masks = capabilities.masks({"bounding": caps, "effective": caps, "permitted": caps}, len(caps) - 1)
    assert masks["bounding"] == (1 << len(caps)) - 1


def test_memory_policies_are_validated_and_applied_by_the_code(doc):
    """features-linux.md#linuxFeaturesMemoryPolicy: each mode and flag is recognised."""
    from ocirun import procattrs
    from ocirun.spec import validate

    from ocirun.errors import InvalidSpec

    def validate_accepts(policy):
        cfg = {"ociVersion": "1.3.0", "root": {"path": "rootfs"}, "linux": {"memoryPolicy": policy}}
        try:
            validate.check(cfg, None, need_process=False, warn=lambda *a: None)
        except InvalidSpec:
            return False
        return True

    def nodes_for(mode):
        return "" if mode in ("MPOL_DEFAULT", "MPOL_LOCAL") else "0"

    mp = doc["linux"]["memoryPolicy"]
    # validate knows the modes and flags by procattrs' tables (one source, tests/unit/test_single_source.py)
    validated_modes = {m for m in [*mp["modes"], "MPOL_X"] if validate_accepts({"mode": m, "nodes": nodes_for(m)})}
    validated_flags = {f for f in [*mp["flags"], "MPOL_F_X"]
                       if validate_accepts({"mode": "MPOL_BIND", "nodes": "0", "flags": [f]})}
    assert set(mp["modes"]) == set(procattrs.MPOL_MODES) == validated_modes
    assert set(mp["flags"]) == set(procattrs.MPOL_FLAGS) == validated_flags
    for mode in mp["modes"]:
        nodes = "" if mode in ("MPOL_DEFAULT", "MPOL_LOCAL") else "0"
        mode_bits, _nodes = procattrs.mempolicy_args({"mode": mode, "nodes": nodes})
        assert mode_bits == procattrs.MPOL_MODES[mode]
    for flag in mp["flags"]:
        mode_bits, _nodes = procattrs.mempolicy_args({"mode": "MPOL_BIND", "nodes": "0", "flags": [flag]})
        assert mode_bits == procattrs.MPOL_MODES["MPOL_BIND"] | procattrs.MPOL_FLAGS[flag]


def test_cgroup_claims(doc, tmp_path):
    """features-linux.md#linuxFeaturesCgroup: no systemd driver (a systemd-style
    path is refused), rdma limits are written."""
    from ocirun.cgroups import resources_v1
    from ocirun.cgroups.paths import parse_cgroups_path
    from ocirun.errors import OciError

    cg = doc["linux"]["cgroup"]
    assert cg["v1"] is True and cg["v2"] is True
    assert cg["systemd"] is False and cg["systemdUser"] is False
    with pytest.raises(OciError):
        parse_cgroups_path("system.slice:ocirun:x", "x")
    assert cg["rdma"] is True
    (tmp_path / "rdma.max").write_text("")
    resources_v1.set_rdma(str(tmp_path), {"rdma": {"mlx5_0": {"hcaHandles": 3, "hcaObjects": 10}}}, [])
    assert "mlx5_0" in (tmp_path / "rdma.max").read_text()


def test_seccomp_claims(doc):
    """features-linux.md#linuxFeaturesSeccomp: present exactly when ocirun.seccomp
    exists; supportedFlags is a subset of knownFlags."""
    try:
        from ocirun import seccomp
    except ImportError:
        seccomp = None
    if seccomp is None or not hasattr(seccomp, "known_actions"):
        assert "seccomp" not in doc["linux"]
        return
    sc = doc["linux"]["seccomp"]
    assert sc["enabled"] is True
    assert set(sc["actions"]) == set(seccomp.known_actions())
    assert set(sc["operators"]) == set(seccomp.known_operators())
    assert set(sc["archs"]) == set(seccomp.known_archs())
    assert set(sc.get("supportedFlags", [])) <= set(sc["knownFlags"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", doc["annotations"]["io.github.seccomp.libseccomp.version"])

    from ocirun.errors import InvalidSpec

    proc = {"args": ["/bin/true"], "noNewPrivileges": True}

    def prepare(**cfg):
        seccomp.prepare(dict({"defaultAction": "SCMP_ACT_ALLOW"}, **cfg), proc)

    for action in sc["actions"]:
        extra = {"listenerPath": "/run/x.sock"} if action == "SCMP_ACT_NOTIFY" else {}
        prepare(syscalls=[{"names": ["getcwd"], "action": action}], **extra)
    for op in sc["operators"]:
        prepare(syscalls=[{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO",
                           "args": [{"index": 0, "value": 1, "valueTwo": 1, "op": op}]}])
    for arch in sc["archs"]:
        try:
            prepare(architectures=[arch], syscalls=[{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}])
        except InvalidSpec as e:  # recognised; libseccomp mixes no byte orders in one filter
            assert "byte order" in str(e), (arch, str(e))
    for flag in sc["knownFlags"]:
        if flag in sc.get("supportedFlags", sc["knownFlags"]):
            prepare(flags=[flag])
        else:
            with pytest.raises(InvalidSpec, match="not supported"):
                prepare(flags=[flag])


def test_not_implemented_is_disabled(doc):
    linux = doc["linux"]
    assert linux["intelRdt"] == {"enabled": False}  # nothing writes resctrl
    assert set(linux["mountExtensions"]) == {"idmap"}
    from ocirun import lsm

    # ocirun.lsm refuses labels on a host without the LSM: enabled means "host has it".
    assert linux["apparmor"] == {"enabled": lsm.apparmor_enabled()}
    assert linux["selinux"] == {"enabled": lsm.selinux_enabled()}


def test_lsm_disabled_means_refused(doc, oci, bundle):
    """A label the features say is unsupported is refused, not silently dropped."""
    for lsm_name, edit in (("apparmor", lambda c: c["process"].update(apparmorProfile="ocirun-x")),
                           ("selinux", lambda c: c["process"].update(selinuxLabel="system_u:x"))):
        if doc["linux"][lsm_name]["enabled"]:
            continue
        p = oci("run", "--bundle", bundle(edit=edit), new_id())
        assert p.returncode != 0 and "not enabled" in p.stderr, (lsm_name, p.stderr)


def test_annotations_claim_nothing_unsupported(doc, ocirun_bin):
    ann = doc["annotations"]
    from ocirun import __version__

    assert ann["ocirun.version"] == __version__
    # runc's checkpoint annotation iff there is a CRIU to drive; podman
    # probes `checkpoint --help`, which exits 0 (the command exists).
    import shutil

    if shutil.which("criu"):
        assert ann["org.opencontainers.runc.checkpoint.enabled"] == "true"
    else:
        assert "org.opencontainers.runc.checkpoint.enabled" not in ann
    p = subprocess.run([ocirun_bin, "checkpoint", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "checkpoint" in p.stdout


# -- each claim against real containers ---------------------------------------------


def _create(oci, b, cid, *extra):
    """create with stdio on files: the init keeps them, so pipes would never reach EOF."""
    import tempfile

    with tempfile.TemporaryFile("w+") as err:
        p = oci("create", "--bundle", b, *extra, cid, capture_output=False,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        err.seek(0)
        assert p.returncode == 0, err.read()
    return p


def _wait_stopped(oci, cid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if oci.state(cid)["status"] == "stopped":
            return
        time.sleep(0.05)
    raise AssertionError(f"{cid} did not stop")


@pytest.mark.parametrize("which", ["ociVersionMin", "ociVersionMax"])
def test_claimed_versions_are_accepted(doc, oci, bundle, which):
    """features.md#featuresSpecificationVersion: the runtime MUST accept ociVersionMin
    and ociVersionMax as config.json's ociVersion."""
    b = bundle(args=["/bin/sh", "-c", "exit 7"], edit=lambda c: c.update(ociVersion=doc[which]))
    p = oci("run", "--bundle", b, new_id())
    assert p.returncode == 7, p.stderr
    with open(os.path.join(b, "config.json")) as f:
        assert json.load(f)["ociVersion"] == doc[which]


def test_every_claimed_hook_runs_in_order(doc, oci, tmp_path, rootfs):
    """features.md#featuresHooks: the runtime MUST support every listed hook
    (config.md#posix-platform-hooks, runtime.md#lifecycle order)."""
    cid = new_id()
    root = tmp_path / "rootfs"
    shutil.copytree(rootfs, root, symlinks=True)
    host_file = root / "tmp" / "phases"
    hooks = {}
    for phase in doc["hooks"]:
        # startContainer runs after pivot_root: its path and files are the container's.
        target = "/tmp/phases" if phase == "startContainer" else str(host_file)
        hooks[phase] = [{"path": "/bin/sh", "args": ["sh", "-c", f"echo {phase} >> {target}"]}]
    c = default_config(str(root), ["/bin/true"])
    c["hooks"] = hooks
    b = write_bundle(tmp_path / "bundle", c)
    _create(oci, b, cid)
    oci("start", cid, check=True)
    _wait_stopped(oci, cid)
    oci("delete", cid, check=True)
    assert host_file.read_text().split() == doc["hooks"]
    assert set(doc["hooks"]) == {"prestart", "createRuntime", "createContainer", "startContainer",
                                 "poststart", "poststop"}


def test_every_claimed_namespace_can_be_created(doc, oci, bundle):
    """features-linux.md#linuxFeaturesNamespaces: one container with a new
    namespace of every claimed type; each differs from the host's."""
    names = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
             "user": "user", "cgroup": "cgroup", "time": "time"}
    types = doc["linux"]["namespaces"]
    assert set(types) <= set(names)
    script = "; ".join(f"echo {t} $(readlink /proc/self/ns/{names[t]})" for t in types)

    def edit(c):
        c["linux"]["namespaces"] = [{"type": t} for t in types]
        if "user" in types:
            # Identity-mapped: the rootfs sits under pytest's 0700 root-owned directory.
            c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
            c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]

    p = oci("run", "--bundle", bundle(args=["/bin/sh", "-c", script], edit=edit), new_id())
    assert p.returncode == 0, p.stderr
    inside = dict(line.split(" ", 1) for line in p.stdout.splitlines())
    assert sorted(inside) == sorted(types)
    for t in types:
        assert inside[t].startswith(names[t] + ":["), inside[t]
        assert inside[t] != os.readlink(f"/proc/self/ns/{names[t]}"), t


def test_idmap_claim(doc, oci, bundle, tmp_path):
    """features-linux.md#linuxFeaturesMountExtensions: with idmap enabled, a
    mount's uidMappings/gidMappings are applied (config.md#posix-platform-mounts)."""
    if not doc["linux"]["mountExtensions"]["idmap"]["enabled"]:
        assert "idmap" not in doc["mountOptions"]
        return
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    os.chown(src / "f", 0, 0)

    def edit(idmapped):
        def fn(c):
            m = {"destination": "/mnt", "type": "bind", "source": str(src), "options": ["bind"]}
            if idmapped:
                m["options"].append("idmap")
                m["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
                m["gidMappings"] = [{"containerID": 0, "hostID": 2000, "size": 1}]
            c["mounts"].append(m)
        return fn

    for idmapped, owner in ((False, "0:0"), (True, "1000:2000")):
        p = oci("run", "--bundle", bundle(args=["/bin/stat", "-c", "%u:%g", "/mnt/f"], edit=edit(idmapped)),
                new_id())
        assert (p.returncode, p.stdout.strip()) == (0, owner), p.stderr


@pytest.mark.skipif(not shutil.which("ip"), reason="needs ip(8) to make a veth pair")
def test_net_devices_claim(doc, oci, bundle):
    """features-linux.md#linuxFeaturesNetDevices: with netDevices enabled, a host
    interface is moved into the container's network namespace and renamed."""
    if not doc["linux"]["netDevices"]["enabled"]:
        return
    host = "ocf" + new_id()[-8:]
    subprocess.run(["ip", "link", "add", host, "type", "veth", "peer", "name", host + "p"], check=True)
    try:
        def edit(c):
            c["linux"]["netDevices"] = {host: {"name": "eth7"}}
        p = oci("run", "--bundle", bundle(args=["/bin/ls", "/sys/class/net"], edit=edit), new_id())
        assert p.returncode == 0, p.stderr
        assert "eth7" in p.stdout.split() and host not in p.stdout.split()
    finally:
        subprocess.run(["ip", "link", "del", host + "p"], capture_output=True)
