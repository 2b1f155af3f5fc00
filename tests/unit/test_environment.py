"""What the suite's skips depend on, where `.ci/install` provides it.

Several tests skip without root, runc, crun, script(1) or ip(8): on this
project's machine (Debian 12, as root, after `.ci/install`, the README's first
step) each is always there, so none of those skips may fire. This test turns a
broken install into a failure instead of a quiet skip. Skips that depend on
the host (a hybrid cgroup layout, /dev/fuse, the v1 pids hierarchy, a
libseccomp that lacks mseal or LoongArch, an AppArmor/SELinux host) are not
install facts and are listed in the README's "Skips" section instead.
"""
import os
import shutil

import pytest


def test_runs_as_root():
    assert os.geteuid() == 0, "the README's test command runs as root (containers, cgroups, users)"


@pytest.mark.parametrize("tool", ["runc", "crun", "script", "ip", "podman", "containerd", "dockerd"])
def test_install_provided_tool_is_there(tool):
    assert shutil.which(tool), f"{tool} is missing: .ci/install installs it (its Debian package)"
