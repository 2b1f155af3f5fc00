"""Mount planning without root: the mount(2), mount_setattr(2), open_tree(2)
and move_mount(2) calls rootfs.py makes for each entry of config.json
"mounts", their order and flags, recorded by the double (recording_ops.py)
instead of made. The rootfs is a real directory: mount points are really
created and resolved (openat2 RESOLVE_IN_ROOT needs no privilege), so each
recorded call says where the kernel resolved its target. The same behaviours
run for real, as root, in tests/integration/test_mount_options.py and
test_cve_regressions.py; test_mount_plan_nonroot.py runs this file as an
unprivileged user."""
import errno
import os
import stat

import pytest

from mount_plan_kit import ops, root, statvfs_flags  # noqa: F401 - fixtures
from ocirun import mountopts as mo
from ocirun import rootfs
from ocirun import syscalls as sc
from ocirun.errors import OciError


def plan(root, ops, *mounts, ctx=None):
    rootfs.do_mounts(root.path, root.fd, list(mounts), root.bundle, ctx or {}, ops)
    return ops.of("mount", "mount_setattr", "move_mount", "open_tree")


def at(root, call, key="dst"):
    return root.rel(call.where[key])


def source_dir(root, name="src"):
    d = os.path.join(root.bundle, name)
    os.makedirs(d, exist_ok=True)
    return d


# ---- binds -------------------------------------------------------------------------------

@pytest.mark.parametrize("option, flags", [("bind", sc.MS_BIND), ("rbind", sc.MS_BIND | sc.MS_REC)])
def test_bind_is_one_mount_on_the_made_directory(root, ops, option, flags):
    src = source_dir(root)
    [m] = plan(root, ops, {"destination": "/data/vol", "type": "bind", "source": src, "options": [option]})
    assert (m.src, m.fstype, m.flags, m.data) == (src, None, flags, None)
    assert at(root, m) == "/data/vol"
    assert os.path.isdir(os.path.join(root.path, "data/vol"))


def test_bind_of_a_file_makes_an_empty_file_and_a_relative_source_is_the_bundles(root, ops):
    with open(os.path.join(root.bundle, "hosts"), "w") as f:
        f.write("x")
    [m] = plan(root, ops, {"destination": "/etc/hosts", "type": "bind", "source": "hosts",
                           "options": ["bind"]})
    assert m.src == os.path.join(root.bundle, "hosts")
    assert at(root, m) == "/etc/hosts"
    st = os.lstat(os.path.join(root.path, "etc/hosts"))
    assert stat.S_ISREG(st.st_mode) and st.st_size == 0


def test_ro_bind_is_a_bind_then_a_remount_keeping_the_locked_flags(root, ops):
    """A bind ignores every flag but MS_REC: "ro" needs a remount of the new
    mount, which must keep the source's nosuid/nodev/noexec (the kernel
    refuses to clear them in a user namespace)."""
    statvfs_flags(ops, os.ST_NOSUID | os.ST_NODEV)
    src = source_dir(root)
    bind, remount = plan(root, ops, {"destination": "/ro", "type": "bind", "source": src,
                                     "options": ["rbind", "ro", "noexec"]})
    assert bind.flags == sc.MS_BIND | sc.MS_REC
    assert (remount.src, remount.fstype) == (None, None)
    assert remount.flags == (sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOEXEC
                             | sc.MS_NOSUID | sc.MS_NODEV)
    assert at(root, bind) == at(root, remount) == "/ro"


def test_ro_bind_remount_retried_with_every_locked_flag_on_eperm(root, ops):
    """In a user namespace ro and the atime flags of the source are locked too."""
    statvfs_flags(ops, os.ST_RDONLY | os.ST_NOATIME | os.ST_NOSUID)
    ops.fail("mount", errno.EPERM, when=lambda c: c.flags & sc.MS_REMOUNT, times=1)
    src = source_dir(root)
    _, first, second = plan(root, ops, {"destination": "/ro", "type": "bind", "source": src,
                                        "options": ["bind", "nodev"]})
    assert first.flags == sc.MS_BIND | sc.MS_REMOUNT | sc.MS_NODEV | sc.MS_NOSUID
    assert second.flags == (sc.MS_BIND | sc.MS_REMOUNT | sc.MS_NODEV | sc.MS_NOSUID
                            | sc.MS_RDONLY | mo.MS_NOATIME)


def test_remount_option_is_dropped_from_a_bind_and_kept_for_a_filesystem(root, ops):
    """runc's rule: "remount" on a bind is applied by the bind's own remount;
    on anything else it changes the mount already at the destination."""
    statvfs_flags(ops, 0)
    src = source_dir(root)
    calls = plan(root, ops,
                 {"destination": "/b", "type": "bind", "source": src, "options": ["bind", "remount", "ro"]},
                 {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["remount", "ro"]})
    assert [c.flags for c in calls] == [sc.MS_BIND, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY,
                                        sc.MS_REMOUNT | sc.MS_RDONLY]
    assert calls[2].fstype == "tmpfs"


def test_detached_tree_from_the_parent_is_moved_not_mounted(root, ops):
    """With a user namespace the parent clones each bind source (open_tree, as
    host root): the init only attaches it, with move_mount on both fds."""
    src = source_dir(root)
    tree = os.open(src, os.O_PATH | os.O_CLOEXEC)
    try:
        [mv] = plan(root, ops, {"destination": "/v", "type": "bind", "source": "/elsewhere",
                                "options": ["rbind"]}, ctx={"bind_fds": {0: tree}})
    finally:
        os.close(tree)
    assert mv.name == "move_mount"
    assert (mv.from_dirfd, mv.from_path, mv.to_path) == (tree, "", "")
    assert mv.flags == sc.MOVE_MOUNT_F_EMPTY_PATH | sc.MOVE_MOUNT_T_EMPTY_PATH
    assert mv.where["from_dirfd"] == src and at(root, mv, "to_dirfd") == "/v"


@pytest.mark.parametrize("ridmap", [False, True])
@pytest.mark.parametrize("rbind", [False, True])
def test_idmapped_tree_is_a_clone_then_mount_setattr_idmap(ops, tmp_path, rbind, ridmap):
    spec = mo.parse_mount({"destination": "/m", "type": "bind", "source": str(tmp_path),
                           "options": ["rbind" if rbind else "bind", "ridmap" if ridmap else "idmap"]})
    tree = rootfs.idmapped_tree(str(tmp_path), 42, spec, ops)
    os.close(tree)
    clone, setattr_ = ops.calls
    assert (clone.name, clone.dirfd, clone.path) == ("open_tree", -100, str(tmp_path))
    assert clone.flags == sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC | (sc.AT_RECURSIVE if rbind else 0)
    assert (setattr_.name, setattr_.dirfd, setattr_.path) == ("mount_setattr", tree, "")
    assert setattr_.flags == sc.AT_EMPTY_PATH | (sc.AT_RECURSIVE if ridmap else 0)
    assert (setattr_.attr_set, setattr_.userns_fd) == (sc.MOUNT_ATTR_IDMAP, 42)


def test_idmapped_tree_closes_the_clone_when_idmapping_fails(ops, tmp_path):
    ops.fail("mount_setattr", errno.EINVAL)
    spec = mo.parse_mount({"destination": "/m", "type": "bind", "source": "/x", "options": ["idmap"]})
    before = os.listdir("/proc/self/fd")
    with pytest.raises(OSError):
        rootfs.idmapped_tree(str(tmp_path), 3, spec, ops)
    assert os.listdir("/proc/self/fd") == before


# ---- propagation and recursive attributes of one mount --------------------------------------

@pytest.mark.parametrize("option", ["shared", "rshared", "slave", "rslave", "private", "rprivate",
                                    "unbindable", "runbindable"])
def test_propagation_is_its_own_call_after_the_mount(root, ops, option):
    src = source_dir(root)
    bind, prop = plan(root, ops, {"destination": "/p", "type": "bind", "source": src,
                                  "options": ["rbind", option]})
    assert (prop.src, prop.fstype, prop.flags) == (None, None, mo.propagation_flags(option))
    assert at(root, prop) == "/p"


def test_several_propagation_options_apply_in_order_then_recursive_attributes(root, ops):
    src = source_dir(root)
    calls = plan(root, ops, {"destination": "/p", "type": "bind", "source": src,
                             "options": ["rbind", "rslave", "rro", "shared", "rnosuid"]})
    assert [c.name for c in calls] == ["mount", "mount", "mount", "mount_setattr"]
    assert [c.flags for c in calls[1:3]] == [sc.MS_SLAVE | sc.MS_REC, sc.MS_SHARED]
    st = calls[3]
    assert (st.path, st.flags) == ("", sc.AT_EMPTY_PATH | sc.AT_RECURSIVE)
    assert (st.attr_set, st.attr_clr) == (mo.MOUNT_ATTR_RDONLY | mo.MOUNT_ATTR_NOSUID, 0)
    assert root.rel(st.where["dirfd"]) == "/p"


# ---- filesystems --------------------------------------------------------------------------

def test_tmpfs_flags_and_data_and_mount_label(root, ops):
    [m] = plan(root, ops, {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                           "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
               ctx={"mount_label": "system_u:object_r:container_file_t:s0"})
    assert (m.src, m.fstype) == ("shm", "tmpfs")
    assert m.flags == sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_NODEV
    assert m.data == 'mode=1777,size=65536k,context="system_u:object_r:container_file_t:s0"'
    assert at(root, m) == "/dev/shm"


def test_source_defaults_to_the_type_and_empty_data_is_none(root, ops):
    [m] = plan(root, ops, {"destination": "/mq", "type": "mqueue"})
    assert (m.src, m.fstype, m.flags, m.data) == ("mqueue", "mqueue", 0, None)


def shadow_on_mount(ops, root):
    """What a real mount does to the directory under it: later opens of the
    path see a new empty directory; fds opened before still see the old one."""
    def effect(call):
        if call.fstype == "tmpfs" and not call.flags & sc.MS_REMOUNT:
            where = call.where["dst"]
            os.rename(where, where + ".under")
            os.mkdir(where, 0o755)
    ops.script("mount", effect)


@pytest.mark.parametrize("ro", [False, True])
def test_tmpcopyup_mounts_writable_copies_then_remounts_ro(root, ops, ro):
    root.make("/etc/hostname", "box\n")
    root.make("/etc/sub/deep", "x")
    root.make("/etc/link", link="../etc/hostname")
    os.mkfifo(os.path.join(root.path, "etc/fifo"))
    os.chmod(os.path.join(root.path, "etc/hostname"), 0o640)
    shadow_on_mount(ops, root)
    calls = plan(root, ops, {"destination": "/etc", "type": "tmpfs", "source": "tmpfs",
                             "options": ["tmpcopyup", "nosuid"] + (["ro"] if ro else [])})
    assert calls[0].flags == sc.MS_NOSUID  # writable for the copy
    if ro:
        assert [c.flags for c in calls[1:]] == [sc.MS_REMOUNT | sc.MS_NOSUID | sc.MS_RDONLY]
        assert at(root, calls[1]) == "/etc"
    else:
        assert len(calls) == 1
    new = os.path.join(root.path, "etc")
    assert sorted(os.listdir(new)) == ["fifo", "hostname", "link", "sub"]
    assert open(os.path.join(new, "hostname")).read() == "box\n"
    assert stat.S_IMODE(os.stat(os.path.join(new, "hostname")).st_mode) == 0o640
    assert os.readlink(os.path.join(new, "link")) == "../etc/hostname"
    assert stat.S_ISFIFO(os.lstat(os.path.join(new, "fifo")).st_mode)
    assert open(os.path.join(new, "sub/deep")).read() == "x"


def test_proc_mount_and_the_pidns_option_of_a_late_pid_namespace(root, ops):
    [m] = plan(root, ops, {"destination": "/proc", "type": "proc", "source": "proc"},
               ctx={"proc_pidns": "pidns=/proc/self/fd/9"})
    assert (m.src, m.fstype, m.flags, m.data) == ("proc", "proc", 0, "pidns=/proc/self/fd/9")
    assert at(root, m) == "/proc"


@pytest.mark.parametrize("fstype", ["proc", "sysfs"])
@pytest.mark.parametrize("kind", ["symlink", "file"])
def test_proc_and_sysfs_only_on_a_real_directory(root, ops, fstype, kind):
    """CVE-2019-19921: proc/sysfs are never mounted over a symlink (the last
    component is not followed) or a file."""
    if kind == "symlink":
        root.make("/target", None)
        root.make("/p", link="/target")
    else:
        root.make("/p", "")
    with pytest.raises(OciError, match="^/p cannot be mounted because it is not a directory$"):
        plan(root, ops, {"destination": "/p", "type": fstype, "source": fstype})
    assert ops.of("mount") == []


def test_sysfs_eperm_falls_back_to_a_bind_of_the_hosts_sys(root, ops):
    """Rootless without a network namespace of its own, as runc."""
    statvfs_flags(ops, 0)
    ops.fail("mount", errno.EPERM, when=lambda c: c.fstype == "sysfs")
    calls = plan(root, ops, {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                             "options": ["nosuid", "noexec", "nodev", "ro"]})
    sysfs, bind, remount = calls
    assert sysfs.fstype == "sysfs"
    assert (bind.src, bind.fstype, bind.flags) == ("/sys", None, sc.MS_BIND | sc.MS_REC)
    assert remount.flags == (sc.MS_BIND | sc.MS_REMOUNT | sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_NODEV
                             | sc.MS_RDONLY)
    assert at(root, sysfs) == at(root, bind) == at(root, remount) == "/sys"


def test_a_failed_mount_names_the_entry_source_and_destination(root, ops):
    ops.fail("mount", errno.EPERM, when=lambda c: c.fstype == "tmpfs")
    with pytest.raises(OciError, match=r"^mounts\[1\]: mount tmpfs to /run: operation not permitted$"):
        plan(root, ops, {"destination": "/a", "type": "bind", "source": source_dir(root),
                         "options": ["bind"]},
             {"destination": "/run", "type": "tmpfs", "source": "tmpfs"})


def test_mounts_are_made_in_config_order(root, ops):
    src = source_dir(root)
    calls = plan(root, ops, {"destination": "/proc", "type": "proc", "source": "proc"},
                 {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["mode=755"]},
                 {"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
                 {"destination": "/data", "type": "bind", "source": src, "options": ["rbind"]})
    assert [at(root, c) for c in calls] == ["/proc", "/dev", "/dev/pts", "/data"]


@pytest.mark.parametrize("dest", ["/", "/..", "/./", "//"])
def test_destination_on_the_top_of_the_rootfs_is_refused_before_any_call(root, ops, dest):
    with pytest.raises(OciError, match="is on the top of rootfs"):
        plan(root, ops, {"destination": dest, "type": "tmpfs", "source": "tmpfs"})
    assert ops.calls == []


# ---- /proc binds (CVE-2019-16884) ---------------------------------------------------------------

def test_a_bind_over_proc_must_come_from_procfs(root, ops):
    ops.script("fstatfs_type", lambda call: 0xEF53)  # ext4
    with pytest.raises(OciError, match="only procfs may be mounted on /proc"):
        plan(root, ops, {"destination": "/proc/self", "type": "bind", "source": source_dir(root),
                         "options": ["bind"]})
    assert ops.of("mount") == []


def test_proc_files_lxcfs_replaces_may_be_bound_from_anywhere(root, ops):
    with open(os.path.join(root.bundle, "meminfo"), "w") as f:
        f.write("x")
    [m] = plan(root, ops, {"destination": "/proc/meminfo", "type": "bind", "source": "meminfo",
                           "options": ["bind"]})
    assert ops.of("fstatfs_type") == [] and at(root, m) == "/proc/meminfo"


def test_a_procfs_source_may_be_bound_over_proc(root, ops):
    ops.script("fstatfs_type", lambda call: rootfs.PROC_SUPER_MAGIC)
    [m] = plan(root, ops, {"destination": "/proc/sys", "type": "bind", "source": source_dir(root),
                           "options": ["rbind"]})
    assert at(root, m) == "/proc/sys"


# ---- cgroup ----------------------------------------------------------------------------------

CG = {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
      "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
BASE = sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_NODEV


def test_cgroup2_in_a_cgroup_namespace_is_mounted_afresh(root, ops):
    [m] = plan(root, ops, CG, ctx={"cgroupns": True, "cgroup_mounts": [("", "cgroup2", "", "/h")]})
    assert (m.src, m.fstype, m.flags, m.data) == ("cgroup2", "cgroup2", BASE | sc.MS_RDONLY, None)
    assert at(root, m) == "/sys/fs/cgroup"


def test_cgroup2_without_a_namespace_binds_the_containers_directory(root, ops):
    bind, remount = plan(root, ops, CG, ctx={"cgroup_mounts": [("", "cgroup2", "", "/h/c1")]})
    assert (bind.src, bind.flags) == ("/h/c1", sc.MS_BIND | sc.MS_REC)
    assert remount.flags == sc.MS_BIND | sc.MS_REMOUNT | BASE | sc.MS_RDONLY
    assert at(root, bind) == at(root, remount) == "/sys/fs/cgroup"


def test_cgroup_v1_is_a_tmpfs_with_one_mount_per_hierarchy_then_read_only(root, ops):
    hier = [("cpu,cpuacct", "cgroup", "cpu,cpuacct", "/h/cpu"), ("memory", "cgroup", "memory", "/h/mem")]
    calls = plan(root, ops, CG, ctx={"cgroupns": True, "cgroup_mounts": hier})
    assert [(c.src, c.fstype, c.flags, c.data) for c in calls] == [
        ("tmpfs", "tmpfs", BASE, "mode=755"),
        ("cgroup", "cgroup", BASE | sc.MS_RDONLY, "cpu,cpuacct"),
        ("cgroup", "cgroup", BASE | sc.MS_RDONLY, "memory"),
        (None, None, sc.MS_REMOUNT | BASE | sc.MS_RDONLY, None)]
    assert [at(root, c) for c in calls] == ["/sys/fs/cgroup", "/sys/fs/cgroup/cpu,cpuacct",
                                            "/sys/fs/cgroup/memory", "/sys/fs/cgroup"]


def test_cgroup_v1_without_a_namespace_binds_each_hierarchy(root, ops):
    cg = dict(CG, options=["nosuid"])
    calls = plan(root, ops, cg, ctx={"cgroup_mounts": [("memory", "cgroup", "memory", "/h/mem")]})
    assert [(c.src, c.flags) for c in calls] == [
        ("tmpfs", sc.MS_NOSUID), ("/h/mem", sc.MS_BIND | sc.MS_REC),
        (None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_NOSUID)]
