"""criu_opts shared by checkpoint and restore, computed from the container's
config (the copy in its state dir on dump, the bundle's on restore).

External mounts: a mount whose source is outside the container (a bind
mount, a bind-mounted cgroup directory, /dev/null over a masked file, a
bind-mounted device node) cannot be saved in the image; CRIU records it by
a key (its destination) and restore maps the key to a host source again.
"""
import os

from ocirun.criu import wire
from ocirun.errors import UsageError

DESCRIPTORS = "descriptors.json"
# Namespaces the container may join by path; CRIU keeps them out of the
# image under these keys and is handed an fd of the namespace on restore.
EXTERNAL_NS = {"network": ("net", "extRootNetNS"), "pid": ("pid", "extRootPidNS")}
EMPTY_NS = {"network": 0x40000000}  # CLONE_NEWNET


def common_opts(opts, log_file):
    """The flags both verbs share, in runc's names."""
    o = {
        "log_level": 4, "log_file": log_file, "manage_cgroups": True,
        "shell_job": bool(opts.get("shell-job")), "ext_unix_sk": bool(opts.get("ext-unix-sk")),
        "tcp_established": bool(opts.get("tcp-established")),
        "file_locks": bool(opts.get("file-locks")), "orphan_pts_master": True,
        "auto_dedup": bool(opts.get("auto-dedup")),
    }
    mode = opts.get("manage-cgroups-mode") or ""
    if mode:
        if mode not in wire.CG_MODES:
            raise UsageError(f"--manage-cgroups-mode: invalid mode {mode!r} "
                             "(one of: soft, full, strict)")
        o["manage_cgroups_mode"] = wire.CG_MODES[mode]
    ns = opts.get("empty-ns") or ""
    if ns:
        if ns not in EMPTY_NS:
            raise UsageError(f"--empty-ns: namespace {ns!r} is not supported (only: network)")
        o["empty_ns"] = EMPTY_NS[ns]
    return o


def refuse(opts, names, why):
    for name in names:
        v = opts.get(name)
        if v and v != "-1":
            raise UsageError(f"--{name}: not supported by ocirun: {why}")


def image_dirs(opts, create):
    """(image dir, work dir): runc's defaults are ./checkpoint and the image dir."""
    image = os.path.abspath(opts.get("image-path") or "checkpoint")
    work = os.path.abspath(opts.get("work-path") or image)
    for flag, d in (("image-path", image), ("work-path", work)):
        if create:
            os.makedirs(d, 0o700, exist_ok=True)
        elif not os.path.isdir(d):
            raise UsageError(f"--{flag} {d}: no such directory")
    return image, work


def open_dir(path):
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY)  # inherited by criu: no CLOEXEC


def _is_bind(m):
    o = m.get("options") or ()
    return m.get("type") == "bind" or "bind" in o or "rbind" in o


def _has_new(config, t):
    return any(n.get("type") == t and not n.get("path")
               for n in (config.get("linux") or {}).get("namespaces") or ())


def external_mounts(config, bundle, cgroup_dirs):
    """[(key, host source)] for the mounts CRIU must treat as external.
    cgroup_dirs: [(name, host dir)] of the container's cgroup (see
    container.create.cgroup_mounts), bind-mounted when there is no cgroup namespace."""
    out = []
    for m in config.get("mounts") or ():
        dest = m.get("destination", "")
        if _is_bind(m):
            src = m.get("source", "")
            out.append((dest, src if src.startswith("/") else os.path.join(bundle, src)))
        elif m.get("type") == "cgroup" and not _has_new(config, "cgroup"):
            for name, d in cgroup_dirs:
                out.append((f"{dest.rstrip('/')}/{name}" if name else dest, d))
    for dev in (config.get("linux") or {}).get("devices") or ():
        out.append((dev["path"], dev["path"]))
    return out


def masked_files(config, pid):
    """Dump: masked paths that are files (/dev/null bound over them), saved as
    external under the one key "/dev/null", as runc does, so either runtime
    restores the other's image (restore maps the key back: masked_restore)."""
    out = []
    for p in (config.get("linux") or {}).get("maskedPaths") or ():
        path = f"/proc/{pid}/root/{p.lstrip('/')}"  # as the container sees it
        if os.path.exists(path) and not os.path.isdir(path):
            out.append({"key": p, "val": "/dev/null"})
    return out


def masked_restore(config):
    return [{"key": "/dev/null", "val": "/dev/null"}] if (config.get("linux") or {}).get("maskedPaths") else []


def make_mountpoints(config, bundle, rootfs):
    """Create the config's mount points in the rootfs (resolved inside it), as
    create would: CRIU mounts on them but does not make them (a rootfs
    other than the checkpointed one, e.g. podman's restore --import, lacks
    them). Not those below another non-bind mount (tmpfs, proc, sysfs...):
    CRIU restores those filesystems, contents included."""
    from ocirun import paths

    mounts = config.get("mounts") or ()
    special = [paths.clean(m.get("destination", "")) for m in mounts if not _is_bind(m)]
    root_fd = paths.open_root(rootfs)
    try:
        for m in mounts:
            dest = paths.clean(m.get("destination", ""))
            if not dest or any(dest.startswith(s + "/") for s in special if s):
                continue
            is_dir = True
            if _is_bind(m):
                src = m.get("source", "")
                is_dir = os.path.isdir(src if src.startswith("/") else os.path.join(bundle, src))
            os.close(paths.make_target(root_fd, dest, is_dir))
    finally:
        os.close(root_fd)


def external_ns(config, empty_ns):
    """[(type, path, criu name, key)] of namespaces joined by path."""
    out = []
    for n in (config.get("linux") or {}).get("namespaces") or ():
        t, path = n.get("type"), n.get("path")
        if path and t in EXTERNAL_NS and not (t == "network" and empty_ns):
            out.append((t, path) + EXTERNAL_NS[t])
    return out
