"""AppArmor and SELinux: process labels (apparmorProfile, selinuxLabel) and
the mount label. This host has neither LSM; asking for one is then an error
(config-linux.md leaves it to the runtime; silently running unconfined
would be worse), checked before anything is created.

Label writes go to /proc/thread-self/attr/... only after the fd is checked to
be on procfs (CVE-2019-16884: a fake /proc in the image).
"""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)

from ocirun import fileio
from ocirun.errors import InvalidSpec, OciError

PROC_SUPER_MAGIC = 0x9FA0


def apparmor_enabled():
    try:
        with open("/sys/module/apparmor/parameters/enabled", "rb") as f:
            return f.read().strip() == b"Y"
    except OSError:
        return False


def selinux_enabled():
    return os.path.exists("/sys/fs/selinux/enforce")


def check(config):
    proc = config.get("process") or {}
    linux = config.get("linux") or {}
    if proc.get("apparmorProfile") and not apparmor_enabled():
        raise InvalidSpec("process.apparmorProfile",
                          f"apparmor profile {proc['apparmorProfile']!r} requested but AppArmor is not enabled on this host")
    for path, value in (("process.selinuxLabel", proc.get("selinuxLabel")),
                        ("linux.mountLabel", linux.get("mountLabel"))):
        if value and not selinux_enabled():
            raise InvalidSpec(path, f"SELinux label {value!r} requested but SELinux is not enabled on this host")


def _write_attr(name, value):
    """Write a /proc/thread-self/attr file, refusing anything that is not procfs."""
    path = f"/proc/thread-self/attr/{name}"

    def on_procfs(fd):
        if _fs_magic(fd) != PROC_SUPER_MAGIC:
            raise OciError(f"{path} is not on procfs: refusing to write a label")

    fileio.write_value(path, value, os.O_NOFOLLOW, check=on_procfs)


def _fs_magic(fd):
    # fstatfs of the fd itself: /proc/self/mountinfo would be read from the
    # very /proc under suspicion, which a fake one can forge.
    from ocirun import syscalls as sc

    return sc.fstatfs_type(fd)


def apply_exec_labels(proc):
    """Just before exec (only reached when the LSM is enabled: see check)."""
    if proc.get("apparmorProfile"):
        name = "apparmor/exec" if os.path.exists("/proc/thread-self/attr/apparmor") else "exec"
        _write_attr(name, f"exec {proc['apparmorProfile']}")
    if proc.get("selinuxLabel"):
        _write_attr("exec", proc["selinuxLabel"])
