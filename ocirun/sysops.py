"""The system calls the container's filesystem and namespaces are set up with
(rootfs.py, paths.py, namespaces.py), behind one object so a test can put a
double in their place: every function there takes `ops=REAL`; the init
(initproc.py) uses the one create put in its spawn.Plan (plan.ops).

The calls that change the system (mounts, the process's root and cwd,
namespaces and the uts names, device nodes) and the reads a plan depends on (openat2, statfs,
statvfs, fstat, the mount table) are here; plain file work inside the rootfs
(mkdir, open, copy) is not: it needs no privilege and a test does it for real.
REAL is a plain instance of the class below: no state, nothing done at import.
tests/unit/recording_ops.py has the double (RecordingOps).
"""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)

from ocirun import syscalls as sc


def _mountinfo():
    """The lines of this process's mount table."""
    with open("/proc/self/mountinfo") as f:
        return f.read().splitlines()


class Ops:
    # The mount API.
    mount = staticmethod(sc.mount)
    umount2 = staticmethod(sc.umount2)
    pivot_root = staticmethod(sc.pivot_root)
    open_tree = staticmethod(sc.open_tree)
    move_mount = staticmethod(sc.move_mount)
    mount_setattr = staticmethod(sc.mount_setattr)
    fsmount_new = staticmethod(sc.fsmount_new)
    # Resolving and inspecting paths in the rootfs.
    openat2 = staticmethod(sc.openat2)
    fstatfs_type = staticmethod(sc.fstatfs_type)
    statvfs = staticmethod(os.statvfs)
    fstat = staticmethod(os.fstat)
    mountinfo = staticmethod(_mountinfo)
    # The process's root and working directory.
    chdir = staticmethod(os.chdir)
    fchdir = staticmethod(os.fchdir)
    chroot = staticmethod(os.chroot)
    # Device nodes.
    mknod = staticmethod(os.mknod)
    chown = staticmethod(os.chown)
    # Namespaces, and the names in the uts one.
    setns = staticmethod(sc.setns)
    unshare = staticmethod(sc.unshare)
    proc_takes_pidns = staticmethod(sc.proc_takes_pidns)
    sethostname = staticmethod(sc.sethostname)
    setdomainname = staticmethod(sc.setdomainname)


REAL = Ops()
