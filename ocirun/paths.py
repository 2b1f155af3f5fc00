"""Paths inside the container's rootfs, resolved by the kernel so that no
symlink can lead out of it (openat2 + RESOLVE_IN_ROOT).

Mount targets are handed around as O_PATH fds and mounted through
/proc/self/fd/N, so a symlink swapped in after the check cannot redirect
the mount (CVE-2021-30465). Imports nothing lazily: the init uses this
inside the container's namespaces.
"""
import errno
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)
import stat

from ocirun import syscalls as sc
from ocirun.sysops import REAL
from ocirun.errors import os_error

O_PATH = os.O_PATH | os.O_CLOEXEC
RESOLVE = sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS


def clean(path):
    """Lexically clean a path relative to the root: never starts with '/', never climbs."""
    parts = []
    for p in path.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if parts:
                parts.pop()
            continue
        parts.append(p)
    return "/".join(parts)


def open_root(rootfs):
    return os.open(rootfs, O_PATH | os.O_DIRECTORY)


def open_in_root(root_fd, path, flags=O_PATH, mode=0, nofollow=False, ops=REAL):
    rel = clean(path) or "."
    if nofollow:
        flags |= os.O_NOFOLLOW
    return ops.openat2(root_fd, rel, flags | os.O_CLOEXEC, mode, RESOLVE)


def fd_path(fd):
    return f"/proc/self/fd/{fd}"


def mkdir_all(root_fd, path, mode=0o755, _links=0, ops=REAL):
    """mkdir -p inside the root; returns an O_PATH fd to the directory.
    A dangling symlink on the way is followed as the kernel would, inside
    the root: its target is made (runc does the same), never a host path."""
    rel = clean(path)
    fd = os.dup(root_fd)
    done = []
    for part in rel.split("/") if rel else []:
        done.append(part)
        try:
            nfd = open_in_root(root_fd, "/".join(done), O_PATH | os.O_DIRECTORY, ops=ops)
        except OSError as e:
            if e.errno != errno.ENOENT:
                os.close(fd)
                raise OSError(e.errno, os_error("mkdir", e, path), path) from None
            try:
                os.mkdir(part, mode, dir_fd=fd)
            except FileExistsError:
                pass  # raced, or a dangling symlink: the open below decides
            except OSError as e2:
                os.close(fd)
                raise OSError(e2.errno, os_error("mkdir", e2, path), path) from None
            try:
                try:
                    nfd = open_in_root(root_fd, "/".join(done), O_PATH | os.O_DIRECTORY, ops=ops)
                except FileNotFoundError:
                    target = _dangling_target(root_fd, fd, part)
                    if target is None or _links >= 40:
                        raise
                    os.close(mkdir_all(root_fd, target, mode, _links + 1, ops))
                    nfd = open_in_root(root_fd, "/".join(done), O_PATH | os.O_DIRECTORY, ops=ops)
            except OSError as e3:
                os.close(fd)
                raise OSError(e3.errno, os_error("mkdir", e3, path), path) from None
        os.close(fd)
        fd = nfd
    return fd


def _dangling_target(root_fd, dir_fd, name):
    """If `name` in dir_fd is a symlink, its target as a path inside the root
    (relative targets taken from dir_fd's place in the root), else None."""
    try:
        target = os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return None
    if target.startswith("/"):
        return target
    root = os.readlink(fd_path(root_fd)).rstrip("/")
    here = os.readlink(fd_path(dir_fd))
    if here != root and not here.startswith(root + "/"):
        return None
    return here[len(root):] + "/" + target


def make_target(root_fd, path, is_dir, nofollow=False, _links=0, ops=REAL):
    """Make the mount point (a directory, or an empty file for a file bind) and
    return an O_PATH fd to it. nofollow: the last component must not be a symlink.
    A dangling symlink there is followed inside the root and its target made
    (/etc/localtime -> /usr/share/zoneinfo/..., as runc and crun do)."""
    rel = clean(path)
    parent, _, name = rel.rpartition("/")
    if not name:
        raise OSError(errno.EINVAL, "mount destination is on the top of rootfs", "/")
    try:
        return open_in_root(root_fd, rel, nofollow=nofollow, ops=ops)
    except OSError as e:
        if e.errno == errno.ELOOP and nofollow:
            raise OSError(e.errno, f"{path} is a symlink", path) from None
        if e.errno != errno.ENOENT:
            raise
    pfd = mkdir_all(root_fd, parent, ops=ops)
    try:
        if is_dir:
            try:
                os.mkdir(name, 0o755, dir_fd=pfd)
            except FileExistsError:
                pass
        else:
            try:
                os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC
                                 | os.O_NOFOLLOW, 0o644, dir_fd=pfd))
            except FileExistsError:
                pass
        target = None if nofollow else _dangling_target(root_fd, pfd, name)
    finally:
        os.close(pfd)
    if target is not None and _links < 40:
        try:
            return open_in_root(root_fd, rel, ops=ops)
        except FileNotFoundError:
            os.close(make_target(root_fd, target, is_dir, _links=_links + 1, ops=ops))
    return open_in_root(root_fd, rel, nofollow=nofollow, ops=ops)


def is_dir_fd(fd):
    return stat.S_ISDIR(os.fstat(fd).st_mode)
