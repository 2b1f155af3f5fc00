"""The mount plan tests need no root, shown by running them without it.

test_runs_as_an_unprivileged_user runs test_mount_plan.py, _paths.py and
_root.py again as `nobody` (setpriv: uid/gid 65534, no groups; a uid change
from root drops every capability, and the child checks CapEff is 0), with
Debian's python3.11 (the pyenv interpreter sits under /root, unreadable to
others) on a world-readable copy of the package, the tests and pytest. A
process without capabilities cannot mount, pivot_root, setns or mknod a
device: if any of those tests reached a real one instead of the double, it
would fail there with EPERM. Run by a non-root user already, the suite is its
own proof and the copy runs as that user.

The other tests here keep the seam honest: the double runs no operation
but the reads, and rootfs.py/paths.py/namespaces.py call no system call
wrapper directly (only through ops)."""
import collections
import importlib
import inspect
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

from ocirun import sysops
from recording_ops import READS, RecordingOps

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FILES = ("test_mount_plan.py", "test_mount_plan_paths.py", "test_mount_plan_root.py")
HELPERS = ("recording_ops.py", "mount_plan_kit.py")
PYTHON = "/usr/bin/python3.11"
NOBODY = 65534
# pytest and what it imports, copied from this interpreter for the child's.
PYTEST = ("pytest", "_pytest", "pluggy", "iniconfig", "packaging", "py", "_cffi_backend")

CHILD = """
import os, sys
sys.path[:0] = {paths!r}
caps = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff:")][0]
print("euid", os.geteuid(), "CapEff", caps, flush=True)
import pytest
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "--basetemp", {basetemp!r}, *{files!r}]))
"""


def copy_module(name, dest):
    mod = importlib.import_module(name)
    src = mod.__file__
    if os.path.basename(src) == "__init__.py":
        shutil.copytree(os.path.dirname(src), os.path.join(dest, name),
                        ignore=shutil.ignore_patterns("__pycache__"))
    else:
        shutil.copy(src, dest)


@pytest.fixture
def base():
    d = tempfile.mkdtemp(prefix="ocirun-mountplan-", dir="/tmp")
    try:
        os.chmod(d, 0o755)
        shutil.copytree(os.path.join(REPO, "ocirun"), os.path.join(d, "pkg", "ocirun"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        os.mkdir(os.path.join(d, "tests"))
        for f in FILES + HELPERS:
            shutil.copy(os.path.join(HERE, f), os.path.join(d, "tests"))
        os.mkdir(os.path.join(d, "site"))
        for name in PYTEST:
            try:
                copy_module(name, os.path.join(d, "site"))
            except ImportError:
                pass  # optional (py: only some pytest versions)
        run = os.path.join(d, "run")  # the child's pytest basetemp lives here
        os.mkdir(run)
        if os.geteuid() == 0:
            os.chown(run, NOBODY, NOBODY)
        subprocess.run(["chmod", "-R", "a+rX", d], check=True)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_runs_as_an_unprivileged_user(base):
    assert os.access(PYTHON, os.X_OK), f"{PYTHON} missing: run .ci/install (Debian's python3)"
    code = CHILD.format(paths=[os.path.join(base, p) for p in ("site", "pkg", "tests")],
                        basetemp=os.path.join(base, "run", "tmp"), files=list(FILES))
    prefix = (["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
              if os.geteuid() == 0 else [])
    p = subprocess.run(prefix + [PYTHON, "-I", "-B", "-c", code], cwd=os.path.join(base, "tests"),
                       env={"PATH": "/usr/bin:/bin", "HOME": base}, capture_output=True, text=True,
                       timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-4000:]
    first = out.splitlines()[0].split()
    assert first[:2] == ["euid", str(NOBODY if os.geteuid() == 0 else os.geteuid())], out[:500]
    assert first[2:] == ["CapEff", "0000000000000000"], out[:500]
    summary = out.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed >= 90 and not re.search(r"failed|error|skipped|xfail", summary), summary


def test_the_double_never_runs_an_operation_that_is_not_a_read(monkeypatch):
    """Every real operation replaced by one that fails the test: the double
    still answers every one but the reads."""
    def boom(*a, **kw):
        raise AssertionError("a real operation ran")

    names = [n for n in vars(sysops.Ops) if not n.startswith("_")]
    for n in names:
        monkeypatch.setattr(sysops.REAL, n, boom, raising=False)
    ops = RecordingOps()
    for n in names:
        if n in READS:
            continue
        params = inspect.signature(getattr(sysops.Ops, n)).parameters.values()
        args = [-1 if p.name in ("fd", "dirfd") else 0 for p in params
                if p.default is inspect.Parameter.empty]
        result = getattr(ops, n)(*args)
        if isinstance(result, int):
            os.close(result)  # open_tree, fsmount_new: an fd to close
    assert ops.names() == [n for n in names if n not in READS]


def test_the_double_records_arguments_by_name_and_fails_on_request():
    import errno

    ops = RecordingOps().fail("mount", errno.EBUSY, when=lambda c: c.fstype == "proc", times=1)
    ops.mount("tmpfs", "/x", "tmpfs")
    with pytest.raises(OSError) as e:
        ops.mount("proc", "/proc", "proc", 5)
    assert e.value.errno == errno.EBUSY
    ops.mount("proc", "/proc", "proc", 5)  # times=1: the next one passes
    assert [c.args for c in ops.calls] == [
        {"src": "tmpfs", "dst": "/x", "fstype": "tmpfs", "flags": 0, "data": None},
        {"src": "proc", "dst": "/proc", "fstype": "proc", "flags": 5, "data": None},
        {"src": "proc", "dst": "/proc", "fstype": "proc", "flags": 5, "data": None}]


# os functions that Ops also has, called directly on purpose: copy_tree
# (tmpcopyup) copies the image's own entries with their owner, inside the
# container's namespaces; is_dir_fd is a read no test needs to fake.
DIRECT_OK = {"rootfs": {"chown": 1, "fstat": 1, "mknod": 1}, "paths": {"fstat": 1}, "namespaces": {}}


@pytest.mark.parametrize("module", sorted(DIRECT_OK))
def test_no_system_call_bypasses_the_operations_object(module):
    """Every call of the syscalls module (sc.name(...)), and of an os function
    that Ops has, goes through `ops`, but the few listed above."""
    with open(os.path.join(REPO, "ocirun", f"{module}.py")) as f:
        src = f.read()
    assert not re.findall(r"\bsc\.[a-z_0-9]+\(", src)
    own = {n for n in vars(sysops.Ops) if not n.startswith("_")}
    direct = collections.Counter(n for n in re.findall(r"\bos\.([a-z_0-9]+)\(", src) if n in own)
    assert dict(direct) == DIRECT_OK[module]
