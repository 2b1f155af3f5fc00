"""Image config -> config.json, by image-spec conversion.md: `ocirun spec`'s
default, then Entrypoint + Cmd -> process.args, Env -> process.env (the
default's PATH/TERM only where the image has no such name), WorkingDir ->
cwd, User -> uid/gid (+ additionalGids) looked up in the image's own
/etc/passwd and /etc/group, and the annotation fields, Labels winning.

The rootfs is writable (root.readonly false): the bundle has its own layer.
"""
import os
import stat

from ocirun import paths
from ocirun.image import ImageError
from ocirun.spec import defaults

PREFIX = "org.opencontainers.image."
MAX_DB = 8 << 20  # bytes of /etc/passwd or /etc/group we read


def _strings(cfg, key, where):
    v = cfg.get(key)
    if v is None:
        return None
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise ImageError(f"{where}: config.{key}: not a list of strings")
    return v


def _string(obj, key, where):
    v = obj.get(key)
    if v is not None and not isinstance(v, str):
        raise ImageError(f"{where}: {key}: not a string")
    return v or ""


def annotations(image_config, where):
    cfg = image_config.get("config") or {}
    out = {}
    for key in ("os", "architecture", "variant", "os.version", "author", "created"):
        v = image_config.get(key)
        if isinstance(v, str) and v:
            out[PREFIX + key] = v
    feats = image_config.get("os.features")
    if isinstance(feats, list) and feats:
        out[PREFIX + "os.features"] = ",".join(str(f) for f in feats)
    ports = cfg.get("ExposedPorts")
    if isinstance(ports, dict) and ports:
        out[PREFIX + "exposedPorts"] = ",".join(sorted(ports))
    sig = _string(cfg, "StopSignal", where + ": config")
    if sig:
        out[PREFIX + "stopSignal"] = sig
    labels = cfg.get("Labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise ImageError(f"{where}: config.Labels: not an object of strings")
    out.update(labels)  # explicit labels take precedence over the implicit annotations
    return out


def read_db(root_fd, path):
    """Lines of a file in the image (resolved inside it); [] if it has none."""
    try:
        fd = paths.open_in_root(root_fd, path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return []
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return []
        data = f.read(MAX_DB)
    return [line.split(":") for line in data.decode("utf-8", "replace").splitlines()
            if line and not line.startswith("#")]


def _int(s):
    return int(s) if s.isdigit() else None


def resolve_user(spec, root_fd, where):
    """Config.User (user, uid, user:group, uid:gid, ...) -> (uid, gid, additionalGids or None)."""
    user, _, group = spec.partition(":")
    passwd = [e for e in read_db(root_fd, "/etc/passwd") if len(e) >= 4 and _int(e[2]) is not None
              and _int(e[3]) is not None]
    groups = [e for e in read_db(root_fd, "/etc/group") if len(e) >= 3 and _int(e[2]) is not None]
    uid = _int(user)
    if uid is not None:
        entry = next((e for e in passwd if int(e[2]) == uid), None)
    else:
        entry = next((e for e in passwd if e[0] == user), None)
        if entry is None:
            raise ImageError(f"{where}: config.User {spec!r}: no user {user!r} in the image's /etc/passwd")
        uid = int(entry[2])
    additional = None
    if group:
        gid = _int(group)
        if gid is None:
            g = next((e for e in groups if e[0] == group), None)
            if g is None:
                raise ImageError(f"{where}: config.User {spec!r}: no group {group!r} in the image's "
                                 "/etc/group")
            gid = int(g[2])
    else:
        gid = int(entry[3]) if entry else 0
        if _int(user) is None:  # spec: a numeric user keeps additionalGids as they are
            # The primary group first, then the ones listing the user: what
            # podman and Docker give the process (`id -G`).
            member = {int(g[2]) for g in groups if len(g) >= 4 and user in g[3].split(",")}
            additional = [gid] + sorted(member - {gid})
    return uid, gid, additional


def runtime_config(image_config, root_fd, where):
    c = defaults.default_config()
    cfg = image_config.get("config") or {}
    p = c["process"]
    env = _strings(cfg, "Env", where)
    if env is not None:
        names = {e.partition("=")[0] for e in env}
        p["env"] = list(env) + [e for e in p["env"] if e.partition("=")[0] not in names]
    args = (_strings(cfg, "Entrypoint", where) or []) + (_strings(cfg, "Cmd", where) or [])
    if args:
        p["args"] = args
    cwd = _string(cfg, "WorkingDir", where + ": config")
    p["cwd"] = "/" + paths.clean(cwd) if cwd else "/"
    user = _string(cfg, "User", where + ": config")
    if user:
        uid, gid, additional = resolve_user(user, root_fd, where)
        p["user"] = {"uid": uid, "gid": gid}
        if additional:
            p["user"]["additionalGids"] = additional
    c["root"] = {"path": "rootfs", "readonly": False}
    ann = annotations(image_config, where)
    if ann:
        c["annotations"] = ann
    return c
