"""The root's side of mount planning, without root: propagation of / and the
rootfs (linux.rootfsPropagation), the pivot_root sequence, masked and
read-only paths, the read-only root, device nodes and namespaces: the calls
recorded by the double (recording_ops.py) instead of made. The same run for
real, as root, in tests/integration/test_ecosystem.py (propagation),
test_cve_regressions.py (masks) and test_lifecycle.py."""
import errno
import os
import stat

import pytest

from mount_plan_kit import ops, root, statvfs_flags  # noqa: F401 - fixtures
from ocirun import mountopts as mo
from ocirun import namespaces, rootfs
from ocirun import syscalls as sc
from ocirun.errors import InvalidSpec, OciError


def mountinfo(*entries):
    """Mount table lines: (mount point, shared?)."""
    return [f"{20 + i} 1 0:{i} / {mp} rw{' shared:1' if shared else ''} - tmpfs tmpfs rw"
            for i, (mp, shared) in enumerate(entries)]


# ---- rootfsPropagation -----------------------------------------------------------------------

ROOTFS = "/var/lib/c/rootfs"


@pytest.mark.parametrize("value, flags", [
    (None, sc.MS_SLAVE | sc.MS_REC),
    ("private", sc.MS_PRIVATE), ("rprivate", sc.MS_PRIVATE | sc.MS_REC),
    ("shared", sc.MS_SHARED), ("rshared", sc.MS_SHARED | sc.MS_REC),
    ("slave", sc.MS_SLAVE), ("rslave", sc.MS_SLAVE | sc.MS_REC),
    # An unbindable / could not be bound: slave now, unbindable after pivot_root.
    ("unbindable", sc.MS_SLAVE | sc.MS_REC), ("runbindable", sc.MS_SLAVE | sc.MS_REC),
])
def test_prepare_root_sets_propagation_of_slash_then_binds_the_rootfs(ops, value, flags):
    ops.script("mountinfo", lambda call: mountinfo(("/", False)))
    rootfs.prepare_root(ROOTFS, value, True, ops)
    prop, bind = ops.of("mount")
    assert (prop.src, prop.dst, prop.fstype, prop.flags) == (None, "/", None, flags)
    assert (bind.src, bind.dst, bind.fstype, bind.flags) == (ROOTFS, ROOTFS, "bind", sc.MS_BIND | sc.MS_REC)
    assert ops.names() == ["mount", "mountinfo", "mount"]


def test_a_shared_parent_of_the_rootfs_is_made_private_for_pivot_root(ops):
    """The longest mount point that is a path prefix of the rootfs (not
    /var/lib/c/root, a string prefix only), and only when it is shared."""
    ops.script("mountinfo", lambda call: mountinfo(("/", True), ("/var", True), ("/var/lib/c", True),
                                                   ("/var/lib/c/root", True), ("/usr", False)))
    rootfs.prepare_root(ROOTFS, "rslave", True, ops)
    assert [(c.dst, c.flags) for c in ops.of("mount")] == [
        ("/", sc.MS_SLAVE | sc.MS_REC), ("/var/lib/c", sc.MS_PRIVATE), (ROOTFS, sc.MS_BIND | sc.MS_REC)]


def test_a_private_parent_is_left_alone(ops):
    ops.script("mountinfo", lambda call: mountinfo(("/", True), ("/var/lib", False)))
    rootfs.prepare_root(ROOTFS, None, True, ops)
    assert [c.dst for c in ops.of("mount")] == ["/", ROOTFS]


def test_without_a_mount_namespace_only_the_rootfs_is_bound(ops):
    """The host's propagation is never changed from the host's namespace."""
    rootfs.prepare_root(ROOTFS, "shared", False, ops)
    [bind] = ops.calls
    assert (bind.name, bind.src, bind.dst, bind.flags) == ("mount", ROOTFS, ROOTFS, sc.MS_BIND | sc.MS_REC)


@pytest.mark.parametrize("value", ["private", "rprivate", "shared", "rshared", "slave", "rslave",
                                   "unbindable", "runbindable"])
def test_root_propagation_after_pivot_is_the_configured_value(ops, value):
    rootfs.root_propagation(value, ops)
    [m] = ops.calls
    assert (m.src, m.dst, m.fstype, m.flags) == (None, "/", None, mo.propagation_flags(value))


def test_no_root_propagation_no_call_and_a_bad_value_names_the_field(ops):
    rootfs.root_propagation(None, ops)
    assert ops.calls == []
    with pytest.raises(InvalidSpec, match="linux.rootfsPropagation"):
        rootfs.prepare_root(ROOTFS, "bogus", True, ops)
    assert ops.calls == []


# ---- pivot_root --------------------------------------------------------------------------

def test_pivot_root_sequence(ops, tmp_path):
    """runc's pivot_root(".", "."): the old root is stacked under the new one,
    made slave (an unmount must not reach the host) and detached."""
    rootfs.pivot(str(tmp_path), False, True, ops)
    assert ops.names() == ["fchdir", "pivot_root", "fchdir", "mount", "umount2", "chdir"]
    new, piv, old, slave, umount, chdir = ops.calls
    assert new.where["fd"] == str(tmp_path) and old.where["fd"] == "/"
    assert (piv.new_root, piv.put_old) == (".", ".")
    assert (slave.src, slave.dst, slave.fstype, slave.flags) == (None, ".", None, sc.MS_SLAVE | sc.MS_REC)
    assert (umount.target, umount.flags) == (".", sc.MNT_DETACH)
    assert chdir.path == "/"


def test_no_pivot_moves_the_rootfs_onto_slash_and_chroots(ops, tmp_path):
    rootfs.pivot(str(tmp_path), True, True, ops)
    assert [(c.name, *c.args.values()) for c in ops.calls] == [
        ("chdir", str(tmp_path)), ("mount", str(tmp_path), "/", None, sc.MS_MOVE, None),
        ("chroot", "."), ("chdir", "/")]


def test_without_a_mount_namespace_it_is_a_chroot(ops, tmp_path):
    rootfs.pivot(str(tmp_path), False, False, ops)
    assert [(c.name, *c.args.values()) for c in ops.calls] == [
        ("chdir", str(tmp_path)), ("chroot", "."), ("chdir", "/")]


def test_a_failed_pivot_root_closes_both_directory_fds(ops, tmp_path):
    ops.fail("pivot_root", errno.EINVAL)
    before = os.listdir("/proc/self/fd")
    with pytest.raises(OSError):
        rootfs.pivot(str(tmp_path), False, True, ops)
    assert os.listdir("/proc/self/fd") == before
    assert ops.names() == ["fchdir", "pivot_root"]


# ---- masked and read-only paths ------------------------------------------------------------

def null_is_a_device(ops):
    """Unprivileged, the test rootfs's /dev/null can only be a plain file:
    make fstat say it is char 1:3 (fstat is one of the operations)."""
    real = os.fstat

    def fstat(call):
        st = real(call.fd)
        if call.where["fd"].endswith("/dev/null"):
            fields = list(st)
            fields[0] = stat.S_IFCHR | 0o666
            st = os.stat_result(fields, {"st_rdev": os.makedev(1, 3)})
        return st
    ops.script("fstat", fstat)


def test_masks_a_directory_with_a_readonly_tmpfs_and_a_file_with_dev_null(root, ops):
    root.make("/proc/acpi", None)
    root.make("/proc/kcore", "")
    root.make("/dev/null", "")
    null_is_a_device(ops)
    rootfs.mask_paths(root.fd, ["/proc/acpi", "/proc/kcore", "/proc/missing", "/proc/kcore"], ops)
    tmpfs, bind1, bind2 = ops.of("mount")
    assert (tmpfs.src, tmpfs.fstype, tmpfs.flags) == ("tmpfs", "tmpfs", sc.MS_RDONLY)
    assert root.rel(tmpfs.where["dst"]) == "/proc/acpi"
    for b in (bind1, bind2):
        assert (b.fstype, b.flags) == (None, sc.MS_BIND)
        assert root.rel(b.where["src"]) == "/dev/null" and root.rel(b.where["dst"]) == "/proc/kcore"
    assert len(ops.of("fstat")) == 1  # /dev/null checked once, its fd reused


@pytest.mark.parametrize("null", ["file", "symlink"])
def test_masking_refuses_a_dev_null_that_is_not_the_null_device(root, ops, null):
    """CVE-2025-31133: a /dev/null swapped for a file or a symlink (to a file
    the container wants writable) is never used to mask."""
    root.make("/proc/kcore", "")
    root.make("/etc/shadow", "")
    if null == "file":
        root.make("/dev/null", "")
    else:
        root.make("/dev/null", link="/etc/shadow")
    with pytest.raises(OciError, match="^/dev/null is not the null device: refusing to mask with it$"):
        rootfs.mask_paths(root.fd, ["/proc/kcore"], ops)
    assert ops.of("mount") == []


def test_readonly_path_is_a_recursive_bind_onto_itself_then_a_readonly_remount(root, ops):
    root.make("/proc/sys", None)
    statvfs_flags(ops, os.ST_NOSUID | os.ST_NOEXEC)
    rootfs.readonly_paths(root.fd, ["/proc/sys", "/proc/none"], ops)
    bind, remount = ops.of("mount")
    assert (bind.fstype, bind.flags) == (None, sc.MS_BIND | sc.MS_REC)
    assert root.rel(bind.where["src"]) == root.rel(bind.where["dst"]) == "/proc/sys"
    assert remount.flags == (sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_REC | sc.MS_NOSUID
                             | sc.MS_NOEXEC)
    assert root.rel(remount.where["dst"]) == "/proc/sys"


def test_a_failed_readonly_remount_names_the_path(root, ops):
    root.make("/proc/sys", None)
    statvfs_flags(ops, 0)
    ops.fail("mount", errno.EACCES, when=lambda c: c.flags & sc.MS_REMOUNT)
    with pytest.raises(OciError, match="^readonly /proc/sys: permission denied$"):
        rootfs.readonly_paths(root.fd, ["/proc/sys"], ops)


def test_readonly_root_is_a_bind_remount_of_slash(ops):
    statvfs_flags(ops, os.ST_NODEV)
    rootfs.readonly_root(ops)
    [m] = ops.of("mount")
    assert m.flags == sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NODEV
    assert m.where["dst"] == "/"


# ---- device nodes ------------------------------------------------------------------------

def test_devices_are_made_in_the_root_with_the_exact_mode_and_owner(root, ops):
    """mknod and chown are operations (they need privilege); the placeholder a
    scripted mknod leaves stands for the node so the exact chmod is seen."""
    def placeholder(call):
        os.close(os.open(call.path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0, dir_fd=call.dir_fd))
    ops.script("mknod", placeholder)
    devices = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600,
                "uid": 7, "gid": 8}]
    rootfs.create_devices(root.fd, devices, ops=ops)
    made = {(c.path, c.mode, c.device) for c in ops.of("mknod")}
    assert ("fuse", stat.S_IFCHR | 0o600, os.makedev(10, 229)) in made
    assert ("null", stat.S_IFCHR | 0o666, os.makedev(1, 3)) in made and len(made) == 7
    assert {root.rel(c.where["dir_fd"]) for c in ops.of("mknod")} == {"/dev"}
    [fuse] = [c for c in ops.of("chown") if c.path == "fuse"]
    assert (fuse.uid, fuse.gid, fuse.follow_symlinks) == (7, 8, False)
    assert stat.S_IMODE(os.stat(os.path.join(root.path, "dev/fuse")).st_mode) == 0o600


def test_staged_devices_are_made_on_a_new_tmpfs_and_cloned_one_by_one(ops, tmp_path):
    """With a user namespace the parent (host root) makes the nodes on a
    detached tmpfs (fsmount), owned by the mapped host ids, and hands the init
    one open_tree clone each; FIFOs are left to the init."""
    ops.script("fsmount_new", lambda call: os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    ops.script("mknod", lambda call: os.close(os.open(call.path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC,
                                                      0, dir_fd=call.dir_fd)))
    devices = [{"path": "/dev/fifo", "type": "p"}, {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0,
                                                     "uid": 5, "gid": 6}]
    staged = rootfs.staged_devices(devices, lambda u: 1000 + u, lambda g: 2000 + g, ops)
    for fd in staged.values():
        os.close(fd)
    assert sorted(staged) == ["dev/full", "dev/null", "dev/random", "dev/sda", "dev/tty", "dev/urandom",
                              "dev/zero"]
    [fs] = ops.of("fsmount_new")
    assert (fs.fstype, fs.options, fs.attr_flags) == ("tmpfs", [("mode", "0700")],
                                                      mo.MOUNT_ATTR_NOSUID | mo.MOUNT_ATTR_NOEXEC)
    sda = ops.of("mknod")[0]
    assert (sda.mode, sda.device) == (stat.S_IFBLK | 0o666, os.makedev(8, 0))
    assert [(c.uid, c.gid) for c in ops.of("chown")][0] == (1005, 2006)
    clones = ops.of("open_tree")
    assert [c.path for c in clones] == [c.path for c in ops.of("mknod")]
    assert {c.flags for c in clones} == {sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC}
    assert {c.where["dirfd"] for c in clones} == {str(tmp_path)}


def test_rootless_devices_are_binds_of_the_hosts_nodes(root, ops):
    rootfs.create_devices(root.fd, [], bind=True, ops=ops)
    binds = ops.of("mount")
    assert [(c.src, c.flags) for c in binds][:2] == [("/dev/null", sc.MS_BIND), ("/dev/zero", sc.MS_BIND)]
    assert all(root.rel(c.where["dst"]) == c.src for c in binds) and len(binds) == 6
    assert ops.of("mknod") == []


# ---- namespaces --------------------------------------------------------------------------

def test_namespaces_new_is_unshare_and_a_path_is_setns_with_its_type(ops):
    plan = namespaces.NamespaceSet([{"type": "network"}, {"type": "ipc", "path": "/proc/self/ns/ipc"}], ops)
    try:
        plan.enter("network")
        plan.enter("ipc")
        plan.enter("uts")  # not listed: inherited, no call
    finally:
        plan.close()
    unshare, setns = ops.calls
    assert (unshare.name, unshare.flags) == ("unshare", sc.CLONE_NEWNET)
    assert (setns.name, setns.nstype) == ("setns", sc.CLONE_NEWIPC)
    assert setns.where["fd"] == os.readlink("/proc/self/ns/ipc")


def test_a_failed_namespace_call_names_the_entry(ops):
    ops.fail("unshare", errno.EPERM)
    plan = namespaces.NamespaceSet([{"type": "uts"}, {"type": "network"}], ops)
    with pytest.raises(OciError, match=r"^linux.namespaces\[1\]: unshare network namespace: "
                                       r"operation not permitted$"):
        plan.enter("network")


@pytest.mark.parametrize("kernel_takes_it", [True, False])
def test_late_pid_option_asks_the_kernel_for_pidns(ops, kernel_takes_it):
    ops.script("proc_takes_pidns", lambda call: kernel_takes_it)
    plan = namespaces.NamespaceSet([{"type": "pid", "path": "/proc/self/ns/pid"}, {"type": "mount"}], ops)
    try:
        fd = plan.entries["pid"][1]
        want = f"pidns=/proc/self/fd/{fd}" if kernel_takes_it else None
        assert namespaces.late_pid_option(plan) == want
        assert [c.value for c in ops.of("proc_takes_pidns")] == [f"/proc/self/fd/{fd}"]
    finally:
        plan.close()
