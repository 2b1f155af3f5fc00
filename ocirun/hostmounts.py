"""Mounts made in the host's mount namespace, by a container without one.

config-linux.md: a namespace type that is not listed is inherited, so a config
without a mount namespace has the init mount its rootfs, /proc, /dev... on the
host (runc and crun leave them there after delete). Every such mount is at or
below the rootfs: `create` records, before the init exists, the rootfs and the
mounts already there (snapshot); `delete` and a failed create remove every
other mount at or below it (release), deepest first: also after a SIGKILLed
create, whose record was written first.
"""
from ocirun.cgroups.mounts import unescape


def _below(root):
    """[(mount id, mount point)] at or below root, in mount table order."""
    root = root.rstrip("/") or "/"
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split(" ", 5)
            mp = unescape(fields[4])
            if mp == root or mp.startswith(root + "/"):
                out.append((int(fields[0]), mp))
    return out


def snapshot(root):
    """The record create keeps: the rootfs and the ids of the mounts already there."""
    return {"root": root, "before": [mid for mid, _ in _below(root)]}


def release(record):
    """Unmount (detached, never following a last-component symlink) every mount
    at or below record["root"] that was not there at the snapshot. Returns the
    mount points still there (none, normally)."""
    from ocirun import syscalls as sc

    root, before = record.get("root"), set(record.get("before") or ())
    if not root:
        return []
    for _ in range(5):
        new = [(mid, mp) for mid, mp in _below(root) if mid not in before]
        if not new:
            return []
        # Deepest (last mounted) first; a detach takes the children with it.
        for mid, mp in sorted(new, key=lambda x: (-x[1].count("/"), -x[0])):
            try:
                sc.umount2(mp, sc.MNT_DETACH | sc.UMOUNT_NOFOLLOW)
            except OSError:
                pass  # gone with a parent, or raced: the next pass looks again
    return [mp for mid, mp in _below(root) if mid not in before]
