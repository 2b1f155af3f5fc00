"""Path resolution of mount planning, without root: every path of the rootfs
is opened with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) relative to
the root's fd, and every mount goes to the /proc/self/fd/N of what that
returned (CVE-2021-30465). The double records the openat2 calls and lets the
kernel do them (they need no privilege), so a hostile symlink in a real
directory shows where a mount would land. tests/unit/test_paths.py fuzzes
paths.py itself; tests/integration/test_cve_regressions.py does it as root."""
import errno
import os

import pytest

from mount_plan_kit import ops, root  # noqa: F401 - fixtures
from ocirun import paths, rootfs
from ocirun import syscalls as sc
from ocirun.errors import OciError

RESOLVE = sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS


def mount_at(root, ops, dest, kind="tmpfs", **extra):
    if kind == "tmpfs":
        m = {"destination": dest, "type": "tmpfs", "source": "tmpfs"}
    else:
        src = os.path.join(root.bundle, "src" + ("" if kind == "dir" else ".file"))
        if kind == "dir":
            os.makedirs(src, exist_ok=True)
        else:
            open(src, "w").close()
        m = {"destination": dest, "type": "bind", "source": src, "options": ["rbind"]}
    m.update(extra)
    rootfs.do_mounts(root.path, root.fd, [m], root.bundle, {}, ops)
    [mnt] = ops.of("mount")
    assert mnt.dst.startswith("/proc/self/fd/"), "a mount target is always an fd, never a path"
    return root.rel(mnt.where["dst"])


def test_every_open_is_openat2_in_the_root(root, ops):
    root.make("/etc/x", None)
    rootfs.do_mounts(root.path, root.fd, [
        {"destination": "/etc/x/y", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "rprivate"]},
        {"destination": "/new/dir", "type": "bind", "source": root.bundle, "options": ["rbind", "ro"]},
    ], root.bundle, {}, ops)
    opens = ops.of("openat2")
    assert len(opens) >= 6
    for c in opens:
        assert c.dirfd == root.fd and c.resolve == RESOLVE, c
        assert not c.path.startswith("/") and ".." not in c.path.split("/"), c
        assert c.flags & os.O_CLOEXEC


@pytest.mark.parametrize("link, lands", [
    ("/../../../outside", "/outside"),        # absolute, climbing: clamped at the root
    ("../../../../outside", "/outside"),      # relative, climbing
    ("/etc", "/etc"),                          # absolute: the root's /etc, not the host's
])
def test_a_symlink_on_the_way_resolves_inside_the_root(root, ops, link, lands):
    root.make("/etc", None)
    root.make("/a/data", link=link)
    assert mount_at(root, ops, "/a/data/vol", kind="dir") == lands + "/vol"
    assert os.path.isdir(os.path.join(root.path, lands.lstrip("/"), "vol"))
    assert not os.path.exists(os.path.join(os.path.dirname(root.bundle), "outside"))
    assert not os.path.exists(os.path.join(root.bundle, "outside"))


def test_a_dangling_symlink_destination_has_its_target_made_inside_the_root(root, ops):
    """/etc/localtime -> /usr/share/zoneinfo/UTC with a file bind, as runc and crun."""
    root.make("/etc/localtime", link="/usr/share/zoneinfo/UTC")
    assert mount_at(root, ops, "/etc/localtime", kind="file") == "/usr/share/zoneinfo/UTC"
    assert os.path.isfile(os.path.join(root.path, "usr/share/zoneinfo/UTC"))


def test_a_dangling_symlink_to_the_host_is_made_in_the_root(root, ops):
    root.make("/d", link="/../../../../host-dir/x")
    assert mount_at(root, ops, "/d", kind="dir") == "/host-dir/x"
    assert not os.path.exists("/host-dir")


def test_a_symlink_loop_fails_with_eloop_and_mounts_nothing(root, ops):
    root.make("/l1", link="/l2")
    root.make("/l2", link="/l1")
    with pytest.raises(OciError, match="too many levels of symbolic links"):
        mount_at(root, ops, "/l1/x")
    assert ops.of("mount") == []


def test_a_proc_self_fd_symlink_in_the_image_does_not_reach_the_hosts_fd(root, ops):
    """The image's /proc/self/fd/N names the root's /proc (RESOLVE_IN_ROOT), not
    this process's fd N, which is open on a host directory."""
    fd = os.open(os.path.dirname(root.bundle), os.O_PATH | os.O_CLOEXEC)
    try:
        root.make("/m", link=f"/proc/self/fd/{fd}")
        # Inside the root, /proc/self/fd/N does not exist: nothing magic is reached.
        assert mount_at(root, ops, "/m/x", kind="dir") == f"/proc/self/fd/{fd}/x"
    finally:
        os.close(fd)


def test_dotdot_in_the_destination_is_cleaned_lexically(root, ops):
    assert mount_at(root, ops, "/../../a/../b/./c") == "/b/c"
    assert ops.of("openat2")[0].path == "b/c"


def test_masked_path_through_a_symlink_is_masked_inside_the_root(root, ops):
    root.make("/real/secret", None)
    root.make("/proc/link", link="/../../../real/secret")
    rootfs.mask_paths(root.fd, ["/proc/link"], ops)
    [m] = ops.of("mount")
    assert root.rel(m.where["dst"]) == "/real/secret"


def test_an_openat2_failure_other_than_enoent_is_an_error_naming_the_path(root, ops):
    """EXDEV/EAGAIN from openat2 (a race on a rename): never retried by path."""
    root.make("/proc/kcore", "")
    ops.fail("openat2", errno.EXDEV)
    with pytest.raises(OciError, match="^mask /proc/kcore: invalid cross-device link$"):
        rootfs.mask_paths(root.fd, ["/proc/kcore"], ops)


def test_paths_helpers_take_the_same_ops(root, ops):
    fd = paths.make_target(root.fd, "/x/y/z", True, ops=ops)
    os.close(fd)
    assert {c.name for c in ops.calls} == {"openat2"}
    assert [c.path for c in ops.calls][-1] == "x/y/z"
