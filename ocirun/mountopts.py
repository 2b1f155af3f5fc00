"""Mount options (config.md#linux-mount-options) -> mount(2) and mount_setattr(2) arguments.

Options apply left to right and the last word wins ("ro,rw" is writable), as
in mount(8) and runc. Unknown options are filesystem-specific and go, in order,
to mount(2)'s data argument (the spec's SHOULD; runc does the same).

Differences from runc 1.1.5 (checked by hand):
- "defaults" is a no-op; runc passes it on as data, so e.g. tmpfs fails EINVAL.
- Empty option strings are dropped rather than passed as ",," in data.
"""

from ocirun.errors import InvalidSpec, quote
# The kernel's numbers live in syscalls, next to the calls that take them.
from ocirun.syscalls import (
    MOUNT_ATTR__ATIME, MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME, MOUNT_ATTR_NOEXEC,
    MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY, MOUNT_ATTR_RELATIME,
    MOUNT_ATTR_STRICTATIME, MS_BIND, MS_DIRSYNC, MS_I_VERSION, MS_LAZYTIME, MS_MANDLOCK, MS_NOATIME, MS_NODEV, MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_NOSYMFOLLOW, MS_POSIXACL, MS_PRIVATE,
    MS_RDONLY, MS_REC, MS_RELATIME, MS_REMOUNT, MS_SHARED, MS_SILENT, MS_SLAVE, MS_STRICTATIME,
    MS_SYNCHRONOUS, MS_UNBINDABLE)

MS_PROPAGATION = MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE

# option -> (clears?, MS_* bits)
_FLAGS = {
    "defaults": (False, 0),
    "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY),
    "nosuid": (False, MS_NOSUID),
    "suid": (True, MS_NOSUID),
    "nodev": (False, MS_NODEV),
    "dev": (True, MS_NODEV),
    "noexec": (False, MS_NOEXEC),
    "exec": (True, MS_NOEXEC),
    "sync": (False, MS_SYNCHRONOUS),
    "async": (True, MS_SYNCHRONOUS),
    "remount": (False, MS_REMOUNT),
    "mand": (False, MS_MANDLOCK),
    "nomand": (True, MS_MANDLOCK),
    "dirsync": (False, MS_DIRSYNC),
    "nosymfollow": (False, MS_NOSYMFOLLOW),
    "symfollow": (True, MS_NOSYMFOLLOW),
    "noatime": (False, MS_NOATIME),
    "atime": (True, MS_NOATIME),
    "nodiratime": (False, MS_NODIRATIME),
    "diratime": (True, MS_NODIRATIME),
    "bind": (False, MS_BIND),
    "rbind": (False, MS_BIND | MS_REC),
    "silent": (False, MS_SILENT),
    "loud": (True, MS_SILENT),
    "acl": (False, MS_POSIXACL),
    "noacl": (True, MS_POSIXACL),
    "relatime": (False, MS_RELATIME),
    "norelatime": (True, MS_RELATIME),
    "iversion": (False, MS_I_VERSION),
    "noiversion": (True, MS_I_VERSION),
    "strictatime": (False, MS_STRICTATIME),
    "nostrictatime": (True, MS_STRICTATIME),
    "lazytime": (False, MS_LAZYTIME),
    "nolazytime": (True, MS_LAZYTIME),
}

# The spec lists the first four; runc also takes the recursive forms, and
# containerd's CRI plugin sets "rslave"/"rshared", so we accept them too.
_PROPAGATION = {
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "unbindable": MS_UNBINDABLE,
    "runbindable": MS_UNBINDABLE | MS_REC,
}

# Recursive attributes for mount_setattr(AT_RECURSIVE): option -> (clears?, bit).
_REC_ATTRS = {
    "rro": (False, MOUNT_ATTR_RDONLY),
    "rrw": (True, MOUNT_ATTR_RDONLY),
    "rnosuid": (False, MOUNT_ATTR_NOSUID),
    "rsuid": (True, MOUNT_ATTR_NOSUID),
    "rnodev": (False, MOUNT_ATTR_NODEV),
    "rdev": (True, MOUNT_ATTR_NODEV),
    "rnoexec": (False, MOUNT_ATTR_NOEXEC),
    "rexec": (True, MOUNT_ATTR_NOEXEC),
    "rnodiratime": (False, MOUNT_ATTR_NODIRATIME),
    "rdiratime": (True, MOUNT_ATTR_NODIRATIME),
    "rnosymfollow": (False, MOUNT_ATTR_NOSYMFOLLOW),
    "rsymfollow": (True, MOUNT_ATTR_NOSYMFOLLOW),
}

# The atime field is one value, and the kernel rejects a partial
# MOUNT_ATTR__ATIME in attr_clr, so each option picks a mode. Negated forms
# mean "not that mode": back to the kernel default, relatime (as mount(2)
# would give for "atime" or "norelatime" on a fresh mount).
# option -> (mode it sets, mode it negates or None)
_REC_ATIME = {
    "rnoatime": (MOUNT_ATTR_NOATIME, None),
    "rstrictatime": (MOUNT_ATTR_STRICTATIME, None),
    "rrelatime": (MOUNT_ATTR_RELATIME, None),
    "ratime": (MOUNT_ATTR_RELATIME, MOUNT_ATTR_NOATIME),
    "rnostrictatime": (MOUNT_ATTR_RELATIME, MOUNT_ATTR_STRICTATIME),
    "rnorelatime": (MOUNT_ATTR_RELATIME, MOUNT_ATTR_RELATIME),
}

_IDMAP = {"idmap": False, "ridmap": True}


class MountSpec:
    """One mount's options, decoded.

    type, source, destination   copied from the mount as given (may be None)
    flags         MS_* to pass to mount(2) (includes MS_BIND/MS_REC for binds);
                  "rw", "suid"... clear what an earlier option set
    propagation   MS_SHARED/SLAVE/PRIVATE/UNBINDABLE [| MS_REC], in order;
                  each needs its own mount(2) call
    data          filesystem-specific options, comma-joined ("" if none)
    is_bind       type "bind" or a bind/rbind option
    recursive     rbind
    attr_set, attr_clr   MOUNT_ATTR_* for mount_setattr(AT_RECURSIVE) from the
                  r* options (0, 0 if none). When an atime option was given,
                  attr_clr holds all of MOUNT_ATTR__ATIME and attr_set the mode.
    idmap         "idmap" or "ridmap" given; idmap_recursive for "ridmap"
    tmpcopyup     copy the directory's content into the new tmpfs (runc extension)
    """

    __slots__ = ("type", "source", "destination", "flags", "propagation",
                 "data", "is_bind", "recursive", "attr_set", "attr_clr", "idmap",
                 "idmap_recursive", "tmpcopyup")

    def __init__(self, **kw):
        for name in self.__slots__:
            setattr(self, name, kw.pop(name, None))
        if kw:
            raise TypeError(f"unknown MountSpec fields: {sorted(kw)}")

    def __eq__(self, other):
        if not isinstance(other, MountSpec):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __repr__(self):
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"MountSpec({fields})"

    @property
    def has_rec_attrs(self):
        return bool(self.attr_set or self.attr_clr)


def _toggle(on, off, clears, bits):
    """(on, off) after an option that sets or clears bits: the last option wins
    ("ro" then "rw" is rw), so each undoes what an earlier one did."""
    return (on & ~bits, off | bits) if clears else (on | bits, off & ~bits)


def parse_mount(m: dict) -> MountSpec:
    """Decode one entry of config.json "mounts" (options may be absent)."""
    flags = 0
    propagation = []
    data = []
    attr_set = attr_clr = 0
    atime = None
    idmap = idmap_rec = tmpcopyup = False
    for opt in m.get("options") or ():
        if opt in _FLAGS:
            flags, _ = _toggle(flags, 0, *_FLAGS[opt])
        elif opt in _PROPAGATION:
            propagation.append(_PROPAGATION[opt])
        elif opt in _REC_ATTRS:
            attr_set, attr_clr = _toggle(attr_set, attr_clr, *_REC_ATTRS[opt])
        elif opt in _REC_ATIME:
            mode, negates = _REC_ATIME[opt]
            if negates is None or atime is None or atime == negates:
                atime = mode
        elif opt in _IDMAP:
            idmap = True
            idmap_rec = idmap_rec or _IDMAP[opt]
        elif opt == "tmpcopyup":
            tmpcopyup = True
        elif opt:
            data.append(opt)
    if m.get("type") == "bind":
        flags |= MS_BIND
    if atime is not None:
        attr_set |= atime
        attr_clr |= MOUNT_ATTR__ATIME
    return MountSpec(
        type=m.get("type"),
        source=m.get("source"),
        destination=m.get("destination"),
        flags=flags,
        propagation=propagation,
        data=",".join(data),
        is_bind=bool(flags & MS_BIND),
        recursive=bool(flags & MS_REC),
        attr_set=attr_set,
        attr_clr=attr_clr,
        idmap=idmap,
        idmap_recursive=idmap_rec,
        tmpcopyup=tmpcopyup,
    )


def propagation_flags(name: str) -> int:
    """MS_* for linux.rootfsPropagation ("slave", "rprivate"...).
    Raises InvalidSpec at linux.rootfsPropagation for anything else (the one
    check: spec.validate calls it too)."""
    try:
        return _PROPAGATION[name]
    except (KeyError, TypeError):
        raise InvalidSpec("linux.rootfsPropagation",
                          f"rootfsPropagation {quote(name)} is not supported") from None


def known_options() -> list:
    """Every option name we recognise (for `features`), sorted."""
    names = set(_FLAGS) | set(_PROPAGATION) | set(_REC_ATTRS) | set(_REC_ATIME) | set(_IDMAP)
    names.add("tmpcopyup")
    return sorted(names)
