"""The container's filesystem: mounts, /dev, pivot_root, masked and
read-only paths. Runs in the init, inside the new mount namespace.

Every destination is resolved inside the rootfs by the kernel (paths.py);
nothing here imports lazily (the init runs with imports disabled).
"""
import errno
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)
import stat

from ocirun import mountopts as mo
from ocirun import paths
from ocirun import syscalls as sc
from ocirun.errors import OciError, describe, os_error
from ocirun.sysops import REAL

DEFAULT_DEVICES = (  # path, major, minor (runc's defaults; all char, 0666)
    ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
    ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0),
)
DEV_SYMLINKS = (("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
                ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"))
MUST_BE_DIR = ("proc", "sysfs")  # CVE-2019-19921: never mounted over a symlink


def _err(what, e, dest=None):
    return OciError(os_error(what, e, dest))


def prepare_root(rootfs, propagation, own_ns=True, ops=REAL):
    """Make / slave (or as configured) so nothing leaks to the host, then bind
    the rootfs onto itself so it is a mount point pivot_root can use. An
    unbindable / could not be bound: that one is set after the root switch
    only (root_propagation). Without a mount namespace of its own (own_ns
    False) the host's propagation is left alone: only the bind is made (and
    removed at delete, hostmounts.py)."""
    if not own_ns:
        ops.mount(rootfs, rootfs, "bind", sc.MS_BIND | sc.MS_REC)
        return
    flags = mo.propagation_flags(propagation) if propagation else sc.MS_SLAVE | sc.MS_REC
    if flags & sc.MS_UNBINDABLE:
        flags = sc.MS_SLAVE | sc.MS_REC
    ops.mount(None, "/", None, flags)
    _make_parent_private(rootfs, ops)
    ops.mount(rootfs, rootfs, "bind", sc.MS_BIND | sc.MS_REC)


def root_propagation(propagation, ops=REAL):
    """linux.rootfsPropagation on the container's own /, after pivot_root: the
    bind of the rootfs was made private (its parent is), so "shared" puts the
    root in a new peer group (config-linux.md) and none of it reaches the host."""
    if propagation:
        ops.mount(None, "/", None, mo.propagation_flags(propagation))


def _make_parent_private(rootfs, ops):
    """pivot_root fails if the rootfs's parent mount is shared."""
    best, best_len = "/", 0
    for line in ops.mountinfo():
        mp = line.split(" ", 5)[4]
        if (rootfs == mp or rootfs.startswith(mp.rstrip("/") + "/")) and len(mp) > best_len:
            best, best_len, shared = mp, len(mp), "shared:" in line.split(" - ")[0]
    if best_len and shared:
        ops.mount(None, best, None, sc.MS_PRIVATE)


def do_mounts(rootfs, root_fd, mounts, bundle, ctx, ops=REAL):
    for i, m in enumerate(mounts):
        try:
            mount_one(rootfs, root_fd, m, bundle, ctx, i, ops)
        except OciError:
            raise
        except OSError as e:
            dest = m.get("destination")
            raise OciError(f"mounts[{i}]: mount {m.get('source') or m.get('type')} to {dest}: "
                           f"{describe(e)}") from None


def idmapped_tree(src, userns_fd, spec, ops=REAL):
    """A detached clone of src, idmapped (mount_setattr): made by the parent,
    as host root, since idmapping needs CAP_SYS_ADMIN over the idmap's user
    namespace, which a container in its own user namespace lacks. The init
    only moves it into place (_attach_tree)."""
    rec = sc.AT_RECURSIVE if spec.recursive else 0
    tree = ops.open_tree(-100, src, sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC | rec)
    try:
        ops.mount_setattr(tree, "", sc.AT_EMPTY_PATH | (sc.AT_RECURSIVE if spec.idmap_recursive else 0),
                          attr_set=sc.MOUNT_ATTR_IDMAP, userns_fd=userns_fd)
    except BaseException:
        os.close(tree)
        raise
    return tree


# Files under /proc a bind may replace (lxcfs and the like do); anything else
# there must come from procfs itself (CVE-2019-16884: a fake /proc).
PROC_BIND_OK = ("proc/cpuinfo", "proc/diskstats", "proc/meminfo", "proc/stat", "proc/swaps",
                "proc/uptime", "proc/loadavg", "proc/slabinfo", "proc/net/dev", "proc/sys/kernel/ns_last_pid")
PROC_SUPER_MAGIC = 0x9FA0
# Filesystems that take an SELinux context= option (linux.mountLabel).
LABELED = ("tmpfs", "devpts", "mqueue", "shm", "ramfs")


def check_proc_bind(src, dest, ops=REAL):
    rel = paths.clean(dest)
    if rel != "proc" and not rel.startswith("proc/"):
        return
    if rel in PROC_BIND_OK:
        return
    fd = os.open(src, os.O_PATH | os.O_CLOEXEC)
    try:
        if ops.fstatfs_type(fd) != PROC_SUPER_MAGIC:
            raise OciError(f"{dest} cannot be mounted from {src}: only procfs may be mounted on /proc")
    finally:
        os.close(fd)


def with_mount_label(data, fstype, label):
    """linux.mountLabel as the context= option of filesystems that take one."""
    if not label or fstype not in LABELED:
        return data
    opt = f'context="{label}"'
    return f"{data},{opt}" if data else opt


def _attach_tree(tree, target, ops):
    ops.move_mount(tree, "", target, "", sc.MOVE_MOUNT_F_EMPTY_PATH | sc.MOVE_MOUNT_T_EMPTY_PATH)


def mount_one(rootfs, root_fd, m, bundle, ctx, index=None, ops=REAL):
    spec = mo.parse_mount(m)
    dest = spec.destination
    if not paths.clean(dest):
        raise OciError(f"mount destination {dest} is on the top of rootfs")
    if spec.type == "cgroup":
        return mount_cgroup(root_fd, spec, ctx, ops)
    # "remount" (as runc): a non-bind entry then changes the mount already at
    # the destination; a bind ignores it (its flags are applied by remount).
    flags = spec.flags & ~sc.MS_REMOUNT if spec.is_bind else spec.flags
    if spec.is_bind:
        _mount_bind(root_fd, spec, flags, bundle, ctx, index, ops)
    else:
        _mount_fs(root_fd, spec, flags, ctx, ops)
    if spec.propagation or spec.has_rec_attrs:
        fd = paths.open_in_root(root_fd, dest, ops=ops)
        try:
            for p in spec.propagation:
                ops.mount(None, paths.fd_path(fd), None, p)
            if spec.has_rec_attrs:
                ops.mount_setattr(fd, "", sc.AT_EMPTY_PATH | sc.AT_RECURSIVE, spec.attr_set, spec.attr_clr)
        finally:
            os.close(fd)


def _mount_bind(root_fd, spec, flags, bundle, ctx, index, ops):
    dest = spec.destination
    src = spec.source if spec.source.startswith("/") else os.path.join(bundle, spec.source)
    # A detached clone of the source made by the parent, as host root:
    # idmapped, or any bind with a user namespace.
    tree = (ctx.get("idmap_fds") or {}).get(index)
    if tree is None:
        tree = (ctx.get("bind_fds") or {}).get(index)
    if tree is not None:
        src = paths.fd_path(tree)
    check_proc_bind(src, dest, ops)
    st = os.stat(src)
    target = paths.make_target(root_fd, dest, stat.S_ISDIR(st.st_mode), ops=ops)
    try:
        if tree is not None:
            _attach_tree(tree, target, ops)
        else:
            ops.mount(src, paths.fd_path(target), None, sc.MS_BIND | (flags & sc.MS_REC))
    finally:
        os.close(target)
    extra = flags & ~(sc.MS_BIND | sc.MS_REC)
    if extra:
        # A bind ignores other flags: they need a remount of the new mount.
        _bind_remount_at(root_fd, dest, extra, ops)


def _mount_fs(root_fd, spec, flags, ctx, ops):
    """A filesystem of its own (tmpfs, proc, sysfs, ...) at the destination."""
    dest = spec.destination
    target = paths.make_target(root_fd, dest, True, nofollow=spec.type in MUST_BE_DIR, ops=ops)
    try:
        if spec.type in MUST_BE_DIR and not paths.is_dir_fd(target):
            raise OciError(f"{dest} cannot be mounted because it is not a directory")
        data = with_mount_label(spec.data, spec.type, ctx.get("mount_label"))
        if spec.type == "proc" and ctx.get("proc_pidns"):
            # A joined pid namespace the mounting init is not in yet (initproc.enter_pid_late).
            data = f"{data},{ctx['proc_pidns']}" if data else ctx["proc_pidns"]
        # tmpcopyup: the directory as it was, read from under the new tmpfs.
        old = os.open(paths.fd_path(target), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) \
            if spec.tmpcopyup and spec.type == "tmpfs" else None
        try:
            _mount_new(root_fd, spec, target, flags & ~sc.MS_RDONLY if old is not None else flags,
                       data, ops)
            if old is not None:
                _copy_up(root_fd, dest, old, flags, ops)
        finally:
            if old is not None:
                os.close(old)
    finally:
        os.close(target)


def _mount_new(root_fd, spec, target, flags, data, ops):
    try:
        ops.mount(spec.source or spec.type, paths.fd_path(target), spec.type, flags, data or None)
    except OSError as e:
        if spec.type != "sysfs" or e.errno != errno.EPERM:
            raise
        # Rootless without its own network namespace: sysfs cannot be
        # mounted; bind the host's /sys instead, as runc does.
        ops.mount("/sys", paths.fd_path(target), None, sc.MS_BIND | sc.MS_REC)
        _bind_remount_at(root_fd, spec.destination, flags & ~(sc.MS_BIND | sc.MS_REC), ops)


def _copy_up(root_fd, dest, old, flags, ops):
    """tmpcopyup: the old content (dir fd old) into the new tmpfs, which is
    then made read-only if asked (it was mounted writable for the copy)."""
    new = paths.open_in_root(root_fd, dest, os.O_RDONLY | os.O_DIRECTORY, ops=ops)
    try:
        copy_tree(old, new)
    finally:
        os.close(new)
    if flags & sc.MS_RDONLY:
        _remount_at(root_fd, dest, sc.MS_REMOUNT | flags, ops)


def _remount_at(root_fd, dest, flags, ops):
    """mount(2) with no source on the mount at dest (a remount or a propagation change)."""
    fd = paths.open_in_root(root_fd, dest, ops=ops)
    try:
        ops.mount(None, paths.fd_path(fd), None, flags)
    finally:
        os.close(fd)


def _bind_remount_at(root_fd, dest, flags, ops):
    fd = paths.open_in_root(root_fd, dest, ops=ops)
    try:
        _bind_remount(fd, flags, ops)
    finally:
        os.close(fd)


def copy_tree(src, dst):
    """Copy directory fd src's content into directory fd dst (tmpcopyup, as crun
    and runc): files, directories, symlinks and special files, with owner and
    mode; nothing is followed (every open is O_NOFOLLOW, relative to the fds)."""
    for entry in os.scandir(src):
        name = entry.name
        st = os.stat(name, dir_fd=src, follow_symlinks=False)
        kind = stat.S_IFMT(st.st_mode)
        if kind == stat.S_IFDIR:
            os.mkdir(name, 0o700, dir_fd=dst)
            s2 = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            try:
                d2 = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst)
                try:
                    copy_tree(s2, d2)
                finally:
                    os.close(d2)
            finally:
                os.close(s2)
        elif kind == stat.S_IFREG:
            s2 = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            try:
                d2 = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                             0o600, dir_fd=dst)
                try:
                    while os.sendfile(d2, s2, None, 1 << 20):
                        pass
                finally:
                    os.close(d2)
            finally:
                os.close(s2)
        elif kind == stat.S_IFLNK:
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        elif kind in (stat.S_IFIFO, stat.S_IFCHR, stat.S_IFBLK):
            os.mknod(name, st.st_mode, st.st_rdev, dir_fd=dst)
        else:
            continue  # a socket means nothing without its listener
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
        if kind != stat.S_IFLNK:
            os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dst)
    os.chmod(paths.fd_path(dst), stat.S_IMODE(os.fstat(src).st_mode))


def mount_cgroup(root_fd, spec, ctx, ops=REAL):
    """The container's cgroup view: with a cgroup namespace the hierarchies are
    mounted afresh (the kernel roots them at the container's cgroup); without
    one, the container's own cgroup directories are bind-mounted."""
    hier = ctx.get("cgroup_mounts") or []   # [(name, fstype, options, host_dir)]
    ro = spec.flags & sc.MS_RDONLY
    base = spec.flags & (sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    dest = spec.destination
    if len(hier) == 1 and hier[0][1] == "cgroup2":
        _mount_hierarchy(root_fd, dest, ("cgroup2", "cgroup2", None, hier[0][3]), base | ro, ctx, ops)
        return
    target = paths.make_target(root_fd, dest, True, ops=ops)
    try:
        ops.mount("tmpfs", paths.fd_path(target), "tmpfs", base, "mode=755")
    finally:
        os.close(target)
    for name, fstype, opts, host_dir in hier:
        sub = f"{dest.rstrip('/')}/{name}"
        _mount_hierarchy(root_fd, sub, ("cgroup", fstype, opts, host_dir), base | ro, ctx, ops)
    if ro:
        _remount_at(root_fd, dest, sc.MS_REMOUNT | base | sc.MS_RDONLY, ops)


def _mount_hierarchy(root_fd, dest, hierarchy, flags, ctx, ops):
    """One cgroup hierarchy at dest: mounted afresh in a cgroup namespace,
    else the host's directory of the container bound, then remounted with flags."""
    source, fstype, opts, host_dir = hierarchy
    target = paths.make_target(root_fd, dest, True, ops=ops)
    try:
        if ctx.get("cgroupns"):
            ops.mount(source, paths.fd_path(target), fstype, flags, opts or None)
        else:
            ops.mount(host_dir, paths.fd_path(target), None, sc.MS_BIND | sc.MS_REC)
            _remount_at(root_fd, dest, sc.MS_BIND | sc.MS_REMOUNT | flags, ops)
    finally:
        os.close(target)


def device_nodes(devices):
    """[(rel path, what, st_mode, rdev, uid, gid)]: linux.devices, then the
    default devices it does not name."""
    out, seen = [], set()
    for i, d in enumerate(devices):
        p = paths.clean(d["path"])
        seen.add(p)
        kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[d["type"]]
        out.append((p, f"linux.devices[{i}]", kind | (d.get("fileMode", 0o666) & 0o7777),
                    os.makedev(d.get("major", 0), d.get("minor", 0)), d.get("uid", 0), d.get("gid", 0)))
    for path, major, minor in DEFAULT_DEVICES:
        if paths.clean(path) not in seen:
            out.append((paths.clean(path), path, stat.S_IFCHR | 0o666, os.makedev(major, minor), 0, 0))
    return out


def staged_devices(devices, to_host_uid, to_host_gid, ops=REAL):
    """{rel path: fd of a detached mount of the node}, for a container with a
    user namespace, where mknod is not allowed: made by the parent, as host
    root, on a tmpfs of the host's user namespace (a node on a filesystem
    mounted inside a user namespace cannot be opened), with the requested
    mode and the owner mapped to host ids, as crun does. The init attaches each
    one (create_devices). FIFOs need no privilege: the init makes them."""
    nodes = [n for n in device_nodes(devices) if not stat.S_ISFIFO(n[2])]
    if not nodes:
        return {}
    out = {}
    mnt = ops.fsmount_new("tmpfs", [("mode", "0700")], mo.MOUNT_ATTR_NOSUID | mo.MOUNT_ATTR_NOEXEC)
    try:
        for n, (rel, what, mode, dev, uid, gid) in enumerate(nodes):
            name = str(n)
            try:
                ops.mknod(name, mode, dev, dir_fd=mnt)
                ops.chown(name, to_host_uid(uid), to_host_gid(gid), dir_fd=mnt, follow_symlinks=False)
                os.chmod(name, mode & 0o7777, dir_fd=mnt)  # mknod honours the umask
                out[rel] = ops.open_tree(mnt, name, sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC)
            except OSError as e:
                for fd in out.values():
                    os.close(fd)
                raise OciError(f"{what}: {os_error('mknod', e, '/' + rel)}") from None
    finally:
        os.close(mnt)
    return out


def create_devices(root_fd, devices, staged=None, bind=False, ops=REAL):
    """Each device of linux.devices plus the defaults, inside the rootfs: mknod,
    or (in a user namespace) the node the parent made (staged_devices), or
    (rootless: nobody could make one) a bind of the host's node, as runc."""
    for rel, what, mode, dev, uid, gid in device_nodes(devices):
        if bind and not stat.S_ISFIFO(mode):
            _bind_dev(root_fd, rel, "/" + rel, what, ops)
        elif staged is not None and rel in staged:
            try:
                target = paths.make_target(root_fd, rel, False, nofollow=True, ops=ops)
                try:
                    _attach_tree(staged[rel], target, ops)
                finally:
                    os.close(target)
            except OSError as e:
                raise OciError(f"{what}: {os_error('mount', e, '/' + rel)}") from None
        else:
            _mknod(root_fd, rel, mode, dev, uid, gid, what, ops)


def _bind_dev(root_fd, rel, host_path, what, ops):
    try:
        target = paths.make_target(root_fd, rel, False, nofollow=True, ops=ops)
        try:
            ops.mount(host_path, paths.fd_path(target), None, sc.MS_BIND)
        finally:
            os.close(target)
    except OSError as e:
        raise OciError(f"{what}: {os_error('bind', e, host_path)}") from None


def _mknod(root_fd, rel, mode, dev, uid, gid, what, ops):
    parent, _, name = rel.rpartition("/")
    pfd = paths.mkdir_all(root_fd, parent, ops=ops)
    try:
        try:
            os.unlink(name, dir_fd=pfd)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            raise OciError(f"{what}: /{rel} is a directory") from None
        ops.mknod(name, mode, dev, dir_fd=pfd)
        ops.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
        # mknod honours the umask; set the exact mode through an O_PATH-free open.
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            os.chmod(paths.fd_path(fd), mode & 0o7777)
        finally:
            os.close(fd)
    except OSError as e:
        raise OciError(f"{what}: {os_error('mknod', e, '/' + rel)}") from None
    finally:
        os.close(pfd)


def dev_symlinks(root_fd, terminal, ops=REAL):
    dfd = paths.mkdir_all(root_fd, "dev", ops=ops)
    try:
        links = list(DEV_SYMLINKS) + [("pts/ptmx", "/dev/ptmx")]
        if os.path.exists("/proc/kcore"):
            links.append(("/proc/kcore", "/dev/core"))
        for target, link in links:
            name = link.rsplit("/", 1)[1]
            if name == "ptmx":
                try:
                    os.unlink(name, dir_fd=dfd)
                except FileNotFoundError:
                    pass
            try:
                os.symlink(target, name, dir_fd=dfd)
            except FileExistsError:
                pass
        if terminal:
            try:
                os.close(os.open("console", os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC
                                 | os.O_NOFOLLOW, 0o600, dir_fd=dfd))
            except FileExistsError:
                pass
    finally:
        os.close(dfd)


def pivot(rootfs, no_pivot, own_ns=True, ops=REAL):
    if not own_ns:
        # The host's mount namespace: pivot_root or a move would change the
        # host's root. chroot, as runc does.
        ops.chdir(rootfs)
        ops.chroot(".")
        ops.chdir("/")
        return
    if no_pivot:
        ops.chdir(rootfs)
        ops.mount(rootfs, "/", None, sc.MS_MOVE)
        ops.chroot(".")
        ops.chdir("/")
        return
    old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        ops.fchdir(new)
        ops.pivot_root(".", ".")
        # The old root is now stacked under the new one at "/": detach it.
        ops.fchdir(old)
        ops.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        ops.umount2(".", sc.MNT_DETACH)
        ops.chdir("/")
    finally:
        os.close(old)
        os.close(new)


def _verified_dev_null(root_fd, ops):
    """CVE-2025-31133: mask only with a real /dev/null (char 1:3), by fd."""
    fd = paths.open_in_root(root_fd, "/dev/null", nofollow=True, ops=ops)
    st = ops.fstat(fd)
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
        os.close(fd)
        raise OciError("/dev/null is not the null device: refusing to mask with it")
    return fd


def _existing(root_fd, p, what, ops):
    """O_PATH fd of p inside the root, or None when it does not exist (masked
    and read-only paths that the image lacks are skipped, as runc does)."""
    try:
        return paths.open_in_root(root_fd, p, ops=ops)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise _err(what, e, p) from None


def mask_paths(root_fd, masked, ops=REAL):
    null = None
    try:
        for p in masked:
            fd = _existing(root_fd, p, "mask", ops)
            if fd is None:
                continue
            try:
                if paths.is_dir_fd(fd):
                    ops.mount("tmpfs", paths.fd_path(fd), "tmpfs", sc.MS_RDONLY)
                else:
                    if null is None:
                        null = _verified_dev_null(root_fd, ops)
                    ops.mount(paths.fd_path(null), paths.fd_path(fd), None, sc.MS_BIND)
            except OSError as e:
                raise _err("mask", e, p) from None
            finally:
                os.close(fd)
    finally:
        if null is not None:
            os.close(null)


def readonly_paths(root_fd, ro, ops=REAL):
    for p in ro:
        fd = _existing(root_fd, p, "readonly", ops)
        if fd is None:
            continue
        try:
            ops.mount(paths.fd_path(fd), paths.fd_path(fd), None, sc.MS_BIND | sc.MS_REC)
        except OSError as e:
            raise _err("readonly", e, p) from None
        finally:
            os.close(fd)
        fd = paths.open_in_root(root_fd, p, ops=ops)
        try:
            ops.mount(None, paths.fd_path(fd), None,
                      sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_REC | _locked_flags(fd, ops))
        except OSError as e:
            raise _err("readonly", e, p) from None
        finally:
            os.close(fd)


def _bind_remount(fd, flags, ops):
    """Bind remount with `flags`. In a user namespace (rootless) the source's
    ro and atime flags are locked too: on EPERM retry keeping them."""
    try:
        ops.mount(None, paths.fd_path(fd), None, sc.MS_BIND | sc.MS_REMOUNT | flags | _locked_flags(fd, ops))
    except OSError as e:
        if e.errno != errno.EPERM:
            raise
        ops.mount(None, paths.fd_path(fd), None,
                  sc.MS_BIND | sc.MS_REMOUNT | flags | _locked_flags(fd, ops, everything=True))


_LOCKED_TOO = ((os.ST_RDONLY, sc.MS_RDONLY), (os.ST_NOATIME, mo.MS_NOATIME),
               (os.ST_NODIRATIME, mo.MS_NODIRATIME), (os.ST_RELATIME, mo.MS_RELATIME))


def _locked_flags(fd, ops, everything=False):
    """Flags a bind remount must keep (nosuid/nodev/noexec of the mount; with
    everything=True also ro and the atime flags, locked in a user namespace)."""
    st = ops.statvfs(paths.fd_path(fd))
    out = 0
    if everything:
        for st_flag, ms_flag in _LOCKED_TOO:
            if st.f_flag & st_flag:
                out |= ms_flag
    if st.f_flag & os.ST_NOSUID:
        out |= sc.MS_NOSUID
    if st.f_flag & os.ST_NODEV:
        out |= sc.MS_NODEV
    if st.f_flag & os.ST_NOEXEC:
        out |= sc.MS_NOEXEC
    return out


def readonly_root(ops=REAL):
    fd = os.open("/", os.O_PATH | os.O_CLOEXEC)
    try:
        _bind_remount(fd, sc.MS_RDONLY, ops)
    finally:
        os.close(fd)
