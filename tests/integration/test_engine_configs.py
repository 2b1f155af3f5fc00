"""Issue 11: the config.json files real engines write (tests/fixtures/engine_configs, captured on
this machine by capture.sh there: podman, Docker, containerd's ctr, and cri-* from the CRI plugin)
all run under ocirun.

Rewritten per run, and nothing else: the rootfs (a busybox one; chowned to the mapped root for a
user namespace, as engines do), the program (/bin/true, no terminal), engine hooks (they call the
engine's daemon), bind sources that were the engine's own files (placeholders), cgroupsPath (one of
our own) and namespace paths of processes that are gone (the host's).
"""
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import REPO, new_id

FIXTURES = os.path.join(REPO, "tests", "fixtures", "engine_configs")
NAMES = sorted(f[:-5] for f in os.listdir(FIXTURES) if f.endswith(".json"))
NS_FILES = {"network": "net", "mount": "mnt", "pid": "pid", "ipc": "ipc", "uts": "uts", "user": "user",
            "cgroup": "cgroup", "time": "time"}


def copy_rootfs(src, dst):
    """cp -a: device nodes stay nodes (a rootfs used without a /dev mount holds real ones;
    copying /dev/zero's content would fill the disk)."""
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)


def load(name):
    with open(os.path.join(FIXTURES, name + ".json")) as f:
        return json.load(f)


def host_rootfs(config, rootfs, request):
    """The shared rootfs, or a copy owned by the user namespace's root."""
    linux = config.get("linux") or {}
    maps = {k: next((m for m in linux.get(k) or () if m.get("containerID") == 0), None)
            for k in ("uidMappings", "gidMappings")}
    if not maps["uidMappings"]:
        return rootfs
    # Where the mapped root can reach it (pytest's base directory is 0700), as an engine's store.
    top = tempfile.mkdtemp(prefix="ocirun-fixture-")
    os.chmod(top, 0o755)
    request.addfinalizer(lambda: shutil.rmtree(top, ignore_errors=True))
    copy = os.path.join(top, "rootfs")
    copy_rootfs(rootfs, copy)
    uid = maps["uidMappings"]["hostID"]
    gid = (maps["gidMappings"] or maps["uidMappings"])["hostID"]
    subprocess.run(["chown", "-R", "-h", f"{uid}:{gid}", str(copy)], check=True)
    return str(copy)


def adapt(config, cid, rootfs, tmp_path, request):
    """The fixture made runnable here (module docstring)."""
    config["root"]["path"] = host_rootfs(config, rootfs, request)
    config["process"]["args"] = ["/bin/true"]
    config["process"]["terminal"] = False
    config["process"].pop("consoleSize", None)
    config.pop("hooks", None)
    (tmp_path / "file").write_text("placeholder\n")
    (tmp_path / "dir").mkdir(exist_ok=True)
    for m in config.get("mounts") or ():
        if m.get("source") == "HOST_FILE_PLACEHOLDER":
            m["source"] = str(tmp_path / "file")
        elif m.get("source") == "HOST_DIR_PLACEHOLDER":
            m["source"] = str(tmp_path / "dir")
    linux = config.setdefault("linux", {})
    if "cgroupsPath" in linux:
        linux["cgroupsPath"] = f"/{cid}"
    for ns in linux.get("namespaces") or ():
        if ns.get("path") and re.fullmatch(r"/proc/\d+/ns/\w+", ns["path"]):
            ns["path"] = f"/proc/{os.getpid()}/ns/{NS_FILES[ns['type']]}"
    return config


@pytest.fixture(scope="module")
def own_rootfs(rootfs, tmp_path_factory):
    """A copy of the session's rootfs: what these configs make in it (device nodes of a
    config without a /dev mount...) must not reach other tests."""
    dst = tmp_path_factory.mktemp("fixture-rootfs") / "rootfs"
    copy_rootfs(rootfs, dst)
    return str(dst)


def test_fixtures_exist():
    engines = {n.split("-", 1)[0] for n in NAMES}
    assert {"podman", "docker", "ctr"} <= engines, NAMES
    for name in NAMES:
        text = open(os.path.join(FIXTURES, name + ".json")).read()
        assert "/tmp/" not in text, f"{name}: a capture's tmp path is left: re-run capture.sh"


@pytest.mark.parametrize("name", NAMES)
def test_engine_config_runs(name, oci, own_rootfs, tmp_path, request):
    cid = new_id("fx")
    config = adapt(load(name), cid, own_rootfs, tmp_path, request)
    b = tmp_path / "bundle"
    b.mkdir()
    (b / "config.json").write_text(json.dumps(config))
    p = oci("run", "--bundle", str(b), cid)
    assert p.returncode == 0, p.stderr
    assert "error" not in p.stderr.lower(), p.stderr
