"""Shared fixtures for tests that run real containers (as root).

`oci` runs this checkout's ocirun exactly as the installed launcher does
(isolated interpreter, no site processing), with a private --root per test.
`bundle` makes a bundle from `runc spec`'s defaults on a busybox rootfs.
"""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SITE = [p for p in dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])]
HAVE_RUNC = shutil.which("runc") is not None

LAUNCHER = f"""#!{os.path.realpath(sys.executable)} -IS
import sys
sys.path[:0] = {[REPO] + SITE!r}
from ocirun.cli import main
sys.exit(main())
"""


@pytest.fixture(scope="session")
def ocirun_bin(tmp_path_factory):
    """Path of a launcher for this checkout (the same flags as the installed one)."""
    path = tmp_path_factory.mktemp("bin") / "ocirun"
    path.write_text(LAUNCHER)
    path.chmod(0o755)
    return str(path)


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory):
    d = tmp_path_factory.mktemp("rootfs") / "rootfs"
    subprocess.run(["bash", os.path.join(REPO, "bundles", "mkrootfs.sh"), str(d)], check=True,
                   stdout=subprocess.DEVNULL)
    return str(d)


class Oci:
    """Runs ocirun with a private state root; deletes what is left at teardown."""

    def __init__(self, binary, root):
        self.binary = binary
        self.root = root

    def cmd(self, *args):
        return [self.binary, "--root", self.root, *args]

    def __call__(self, *args, check=False, timeout=60, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        p = subprocess.run(self.cmd(*args), timeout=timeout, **kw)
        if check and p.returncode != 0:
            raise AssertionError(f"ocirun {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def state(self, cid):
        return json.loads(self("state", cid, check=True).stdout)

    def cleanup(self):
        if not os.path.isdir(self.root):
            return
        for cid in os.listdir(self.root):
            subprocess.run(self.cmd("delete", "--force", cid), capture_output=True, timeout=60)


@pytest.fixture
def oci(ocirun_bin, tmp_path):
    o = Oci(ocirun_bin, str(tmp_path / "state"))
    yield o
    o.cleanup()


def new_id(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def default_config(rootfs, args=("/bin/true",)):
    from ocirun.spec.defaults import default_config as runc_default

    c = runc_default()
    c["root"] = {"path": rootfs, "readonly": False}
    c["process"]["args"] = list(args)
    c["process"]["terminal"] = False
    return c


def write_bundle(path, config):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    return str(path)


@pytest.fixture
def bundle(tmp_path, rootfs):
    """bundle(args=..., edit=fn) -> bundle dir; edit(config) may change the config in place."""
    n = [0]

    def make(args=("/bin/true",), edit=None):
        n[0] += 1
        c = default_config(rootfs, args)
        if edit:
            edit(c)
        return write_bundle(tmp_path / f"bundle{n[0]}", c)

    return make
