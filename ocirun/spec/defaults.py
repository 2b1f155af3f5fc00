"""The config.json that `ocirun spec` writes: runc's template, ociVersion 1.3.0.

Engines and people diff our output against `runc spec`, so the content, the
key order, the tab indentation and the missing final newline all match it.
"""

import os

OCI_VERSION = "1.3.0"

# runc's rootless template adds no capabilities; both share this default set.
_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

_NOSUID_NOEXEC_NODEV = ["nosuid", "noexec", "nodev"]

# runc's template, as data; default_config() puts it together (key order is runc's).
_PROCESS = {
    "terminal": True,
    "user": {"uid": 0, "gid": 0},
    "args": ["sh"],
    "env": [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "TERM=xterm",
    ],
    "cwd": "/",
    "capabilities": {"bounding": _CAPS, "effective": _CAPS, "permitted": _CAPS, "ambient": _CAPS},
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": True,
}

_MOUNTS_BEFORE_SYS = [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": [*_NOSUID_NOEXEC_NODEV, "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": _NOSUID_NOEXEC_NODEV},
]

_SYS_MOUNT = {  # by rootless: sysfs cannot be mounted without owning the network namespace
    False: {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": [*_NOSUID_NOEXEC_NODEV, "ro"]},
    True: {"destination": "/sys", "type": "none", "source": "/sys",
           "options": ["rbind", *_NOSUID_NOEXEC_NODEV, "ro"]},
}

_CGROUP_MOUNT = {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                 "options": [*_NOSUID_NOEXEC_NODEV, "relatime", "ro"]}

_NAMESPACES = {  # by rootless
    False: ("pid", "network", "ipc", "uts", "mount"),
    True: ("pid", "ipc", "uts", "mount", "user"),
}

_MASKED_PATHS = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
]

_READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def default_config(rootless: bool = False) -> dict:
    """A fresh dict equal to `runc spec` (or `runc spec --rootless`) output."""
    mounts = _copy(_MOUNTS_BEFORE_SYS) + [_copy(_SYS_MOUNT[rootless]), _copy(_CGROUP_MOUNT)]
    linux = {}
    if rootless:
        # runc maps container root to the *effective* ids of the caller.
        linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    else:
        # gid=5 (tty) cannot be mapped in a one-id user namespace.
        next(m for m in mounts if m["destination"] == "/dev/pts")["options"].append("gid=5")
        linux["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    linux["namespaces"] = [{"type": t} for t in _NAMESPACES[rootless]]
    linux["maskedPaths"] = list(_MASKED_PATHS)
    linux["readonlyPaths"] = list(_READONLY_PATHS)
    return {
        "ociVersion": OCI_VERSION,
        "process": _copy(_PROCESS),
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "runc",
        "mounts": mounts,
        "linux": linux,
    }


def _copy(value):
    """A deep copy of JSON-shaped data: every caller gets lists and dicts of its own."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def render(config: dict) -> bytes:
    """config as runc writes it: Go's MarshalIndent with a tab, no final newline."""
    import json

    # Go escapes <, >, & (HTML safety) and U+2028/U+2029; runc inherits that.
    text = json.dumps(config, indent="\t", ensure_ascii=False)
    for ch in "<>&\u2028\u2029":
        text = text.replace(ch, "\\u%04x" % ord(ch))
    return text.encode()


def write_spec(bundle: str, rootless: bool) -> None:
    """Write the default config.json into bundle ("" = cwd) like `runc spec -b`.

    Raises OciError "File config.json exists. Remove it first" if it exists,
    SyscallError("chdir", ...) if bundle is not an accessible directory.
    """
    from ocirun.errors import OciError, SyscallError

    dirfd = None
    if bundle:
        # runc chdir()s into the bundle first; mirror its error text.
        try:
            dirfd = os.open(bundle, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as e:
            raise SyscallError("chdir", e.errno, bundle) from None
    try:
        try:
            os.stat("config.json", dir_fd=dirfd)
        except OSError:
            pass  # runc only refuses when stat succeeds; open reports the rest
        else:
            raise OciError("File config.json exists. Remove it first")
        data = render(default_config(rootless))
        op = "open"
        try:
            fd = os.open(
                "config.json",
                os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                0o666,
                dir_fd=dirfd,
            )
            op = "write"
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        except OSError as e:
            raise SyscallError(op, e.errno, "config.json") from None
    finally:
        if dirfd is not None:
            os.close(dirfd)
