"""What the tests/unit/test_mount_plan*.py files share: a real directory as
the rootfs (path resolution is the kernel's, openat2 needs no privilege), the
double as the only operations object, and a check that no fd is left open."""
import os
from types import SimpleNamespace

import pytest

from ocirun import paths
from recording_ops import RecordingOps


class Root:
    def __init__(self, base):
        self.bundle = str(base)
        self.path = os.path.join(self.bundle, "rootfs")
        os.mkdir(self.path)
        self.fd = paths.open_root(self.path)

    def rel(self, real):
        """A path the kernel resolved, as seen from inside the root; fails if outside."""
        assert real == self.path or real.startswith(self.path + "/"), f"{real} is outside the root"
        return real[len(self.path):] or "/"

    def make(self, rel, content=None, link=None):
        p = os.path.join(self.path, rel.lstrip("/"))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if link is not None:
            os.symlink(link, p)
        elif content is None:
            os.makedirs(p, exist_ok=True)
        else:
            with open(p, "w") as f:
                f.write(content)
        return p


def open_fds():
    return sorted(os.listdir("/proc/self/fd"))


@pytest.fixture
def root(tmp_path):
    before = open_fds()
    r = Root(tmp_path)
    yield r
    os.close(r.fd)
    assert open_fds() == before, "an fd was left open"


@pytest.fixture
def ops():
    return RecordingOps()


def statvfs_flags(ops, f_flag):
    """The flags the mounts at every path report (statvfs's f_flag)."""
    ops.script("statvfs", lambda call: SimpleNamespace(f_flag=f_flag))
