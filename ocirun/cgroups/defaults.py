"""Device rules every container gets, after its own (as runc's specconv does):
mknod of any char/block node, the standard character devices, the pty
devices and tun. linux.devices entries are allowed too (rwm).

The list is runc 1.1.5's (checked in devices.list on this host): no
/dev/console (5:1), which crun adds; a container's console is a pts device
(136:*) bind-mounted there anyway."""

ALLOWED = (
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},   # null
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},   # random
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},   # full
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},   # tty
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},   # zero
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},   # urandom
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},             # pts/*
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},   # ptmx
    {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},  # tun
)


def with_default_devices(resources, linux_devices):
    """A copy of linux.resources whose device rules end with the defaults."""
    out = dict(resources or {})
    rules = list(out.get("devices") or [])
    for d in linux_devices or ():
        if d.get("type") in ("c", "b", "u"):
            rules.append({"allow": True, "type": "c" if d["type"] == "u" else d["type"],
                          "major": d.get("major"), "minor": d.get("minor"), "access": "rwm"})
    rules.extend(ALLOWED)
    out["devices"] = rules
    return out
