"""Python face of the C shim: each call raises OSError(errno, op, path) on failure.

Constants are the kernel ABI's numbers; they live here, next to the calls.
"""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)

from ocirun._shim import ffi, lib
from ocirun.errors import os_error

# clone/unshare/setns flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# mount(2) flags, <linux/mount.h>
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_POSIXACL = 1 << 16
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_I_VERSION = 1 << 23
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8

# openat2 resolve flags
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

# new mount API
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
MOVE_MOUNT_F_EMPTY_PATH = 0x04
MOVE_MOUNT_T_EMPTY_PATH = 0x40

# mount_setattr(2) attributes, <linux/mount.h>
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70  # the atime field: an enum, not bits
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_IDMAP = 0x100000
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

# prctl
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

CLOSE_RANGE_CLOEXEC = 4


def _check(ret, op, path=None):
    if ret < 0:
        err = ffi.errno
        raise OSError(err, os_error(op, err), path)
    return ret


def _b(s):
    return s.encode() if isinstance(s, str) else s


def unshare(flags):
    _check(lib.ocirun_unshare(flags), "unshare")


def setns(fd, nstype=0):
    _check(lib.ocirun_setns(fd, nstype), "setns")


def mount(src, dst, fstype, flags=0, data=None):
    _check(lib.ocirun_mount(_b(src) if src else ffi.NULL, _b(dst), _b(fstype) if fstype else ffi.NULL,
                            flags, _b(data) if data else ffi.NULL), "mount", dst)


def umount2(target, flags=0):
    _check(lib.ocirun_umount2(_b(target), flags), "umount", target)


def pivot_root(new_root, put_old):
    _check(lib.ocirun_pivot_root(_b(new_root), _b(put_old)), "pivot_root", new_root)


def openat2(dirfd, path, flags, mode=0, resolve=0):
    return _check(lib.ocirun_openat2(dirfd, _b(path), flags, mode, resolve), "openat2", path)


def open_tree(dirfd, path, flags):
    return _check(lib.ocirun_open_tree(dirfd, _b(path), flags), "open_tree", path)


FSOPEN_CLOEXEC = 1
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
FSMOUNT_CLOEXEC = 1


def fsmount_new(fstype, options=(), attr_flags=0):
    """A detached mount of a new fstype filesystem (fsopen/fsconfig/fsmount);
    options are (key, value) strings. Returns the mount's fd."""
    fs = _check(lib.ocirun_fsopen(_b(fstype), FSOPEN_CLOEXEC), "fsopen", fstype)
    try:
        for key, value in options:
            _check(lib.ocirun_fsconfig(fs, FSCONFIG_SET_STRING, _b(key), _b(value), 0), "fsconfig", key)
        _check(lib.ocirun_fsconfig(fs, FSCONFIG_CMD_CREATE, ffi.NULL, ffi.NULL, 0), "fsconfig", fstype)
        return _check(lib.ocirun_fsmount(fs, FSMOUNT_CLOEXEC, attr_flags), "fsmount", fstype)
    finally:
        os.close(fs)


def move_mount(from_dirfd, from_path, to_dirfd, to_path, flags):
    _check(lib.ocirun_move_mount(from_dirfd, _b(from_path), to_dirfd, _b(to_path), flags),
           "move_mount", to_path)


def proc_takes_pidns(value):
    """Whether this kernel's procfs takes the pidns= option (Linux 6.18+) with
    this value: fsopen + fsconfig, nothing mounted."""
    fd = lib.ocirun_fsopen(b"proc", 1)  # FSOPEN_CLOEXEC
    if fd < 0:
        return False
    try:
        return lib.ocirun_fsconfig(fd, 1, b"pidns", _b(value), 0) == 0  # FSCONFIG_SET_STRING
    finally:
        os.close(fd)


def mount_setattr(dirfd, path, flags, attr_set=0, attr_clr=0, propagation=0, userns_fd=0):
    _check(lib.ocirun_mount_setattr(dirfd, _b(path), flags, attr_set, attr_clr, propagation,
                                    userns_fd), "mount_setattr", path)


def sethostname(name):
    b = _b(name)
    _check(lib.ocirun_sethostname(b, len(b)), "sethostname")


def setdomainname(name):
    b = _b(name)
    _check(lib.ocirun_setdomainname(b, len(b)), "setdomainname")


def prctl(option, a2=0, a3=0, a4=0, a5=0):
    return _check(lib.ocirun_prctl(option, a2, a3, a4, a5), "prctl")


def capget(pid=0):
    """(effective, permitted, inheritable) as 64-bit masks."""
    data = ffi.new("uint32_t[6]")
    _check(lib.ocirun_capget(pid, data), "capget")
    return tuple(data[i] | (data[i + 3] << 32) for i in range(3))


def capset(effective, permitted, inheritable, pid=0):
    data = ffi.new("uint32_t[6]", [effective & 0xFFFFFFFF, permitted & 0xFFFFFFFF,
                                   inheritable & 0xFFFFFFFF, effective >> 32,
                                   permitted >> 32, inheritable >> 32])
    _check(lib.ocirun_capset(pid, data), "capset")


def close_range(first, last=0xFFFFFFFF, flags=0):
    _check(lib.ocirun_close_range(first, last, flags), "close_range")


def fstatfs_type(fd):
    """The filesystem magic number (statfs f_type) of the file fd is open on."""
    return _check(lib.ocirun_fstatfs_type(fd), "fstatfs")


def keyctl_join(name=None):
    return _check(lib.ocirun_keyctl_join(_b(name) if name else ffi.NULL), "keyctl")


def keyctl_perm(key):
    """The key's permission mask (KEYCTL_DESCRIBE: "type;uid;gid;perm;desc")."""
    buf = ffi.new("char[]", 512)
    _check(lib.ocirun_keyctl_describe(key, buf, 512), "keyctl")
    return int(ffi.string(buf).split(b";")[3], 16)


def keyctl_setperm(key, perm):
    _check(lib.ocirun_keyctl_setperm(key, perm), "keyctl")


def personality(persona):
    return _check(lib.ocirun_personality(persona), "personality")


def ioprio_set(which, who, ioprio):
    _check(lib.ocirun_ioprio_set(which, who, ioprio), "ioprio_set")


def sched_setattr(pid, policy, flags=0, nice=0, priority=0, runtime=0, deadline=0, period=0):
    _check(lib.ocirun_sched_setattr(pid, policy, flags, nice, priority, runtime, deadline, period),
           "sched_setattr")


def set_mempolicy(mode, nodes):
    """nodes: iterable of NUMA node numbers (may be empty)."""
    nodes = list(nodes)
    words = (max(nodes) // 64 + 1) if nodes else 1
    mask = ffi.new("unsigned long[]", words)
    for n in nodes:
        mask[n // 64] |= 1 << (n % 64)
    _check(lib.ocirun_set_mempolicy(mode, mask if nodes else ffi.NULL,
                                    words * 64 + 1 if nodes else 0), "set_mempolicy")


def bpf(cmd, attr, size):
    return _check(lib.ocirun_bpf(cmd, attr, size), "bpf")
