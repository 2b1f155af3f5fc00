"""linux.cgroupsPath → one directory per hierarchy, the way runc's cgroupfs driver does it.

- absolute ("/a/b"): <mountpoint>/a/b in every hierarchy;
- relative ("a/b"): below this runtime's own cgroup in each hierarchy
  (/proc/self/cgroup), i.e. <mountpoint>/<own>/a/b;
- unset or "": as if relative and equal to the container id (runc 1.1.5,
  checked on this host: `0::/<id>`, memory `/<own>/<id>`).

Deliberate differences from runc, both safer: runc cleans ".." away
lexically ("/a/../../b" becomes "/b"); we refuse any ".." component. runc's
cgroupfs driver takes "slice:prefix:name" as a literal directory name; that
form only makes sense with the systemd driver, which we do not have, so it
is refused with a message saying so.
"""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)

from ..errors import InvalidSpec

JSON_PATH = "linux.cgroupsPath"
def _systemd_style(value):
    """slice:prefix:name (what [^/:]*:[^/:]*:[^/:]* matches; no `re` at start-up)."""
    return "/" not in value and value.count(":") == 2


def parse_cgroups_path(value, container_id):
    """Return (absolute, inner): inner is "a/b" with no empty, "." or ".." part."""
    if value is None or value == "":
        absolute, raw = False, container_id
        if not raw or "/" in raw or raw in (".", ".."):
            raise InvalidSpec(JSON_PATH, f"container id {raw!r} cannot be used as the default cgroup name")
    else:
        if not isinstance(value, str):
            raise InvalidSpec(JSON_PATH, "must be a string")
        if "\0" in value:
            raise InvalidSpec(JSON_PATH, "must not contain a NUL byte")
        if _systemd_style(value):
            raise InvalidSpec(
                JSON_PATH,
                f'"{value}" is a systemd "slice:prefix:name" path; the systemd cgroup driver is not supported',
            )
        absolute, raw = value.startswith("/"), value
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidSpec(JSON_PATH, f'"{value}" must not contain ".." components')
    if not parts:
        raise InvalidSpec(JSON_PATH, f'"{value}" names the cgroup root; give the container its own cgroup')
    return absolute, "/".join(parts)


def _clean_own(own_path, mount_root):
    """The part of our own cgroup path below the mount's root, or "" if it is not below it.

    Inside a cgroup namespace /proc/self/cgroup can read "/../.."; then we
    cannot place ourselves and fall back to the mount point itself.
    """
    if not own_path or not own_path.startswith("/"):
        return ""
    own = os.path.normpath(own_path)
    root = os.path.normpath(mount_root or "/")
    if ".." in own.split("/"):
        return ""
    if root != "/":
        if own != root and not own.startswith(root + "/"):
            return ""
        own = own[len(root):]
    return own.strip("/")


def hierarchy_dir(mountpoint, inner, absolute, own_path=None, mount_root="/"):
    """The directory for `inner` (from parse_cgroups_path) in one hierarchy."""
    base = mountpoint if absolute else os.path.join(mountpoint, _clean_own(own_path, mount_root))
    path = os.path.normpath(os.path.join(base, inner))
    # parse_cgroups_path already rules escapes out; this guards future edits.
    top = os.path.normpath(mountpoint)
    if path == top or not (top == "/" or path.startswith(top + "/")):  # normalized: not below top
        raise InvalidSpec(JSON_PATH, f"{path} is not below the cgroup mount {mountpoint}")
    return path


def resolve(layout, cgroups_path, container_id, own=None):
    """{hierarchy name: directory} for every hierarchy in `layout` (a mounts.Layout).

    `own` maps hierarchy names to this process's cgroups (mounts.own_cgroups());
    it is only read for relative paths.
    """
    from .mounts import own_cgroups, own_for

    absolute, inner = parse_cgroups_path(cgroups_path, container_id)
    if own is None:
        own = {} if absolute or not layout.from_mountinfo else own_cgroups()
    paths = {}
    for h in layout.hierarchies:
        mine = None if absolute else own_for(own, h.name)
        paths[h.name] = hierarchy_dir(h.mountpoint, inner, absolute, mine, h.mount_root)
    return paths
