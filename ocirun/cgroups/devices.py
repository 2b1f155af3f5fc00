"""linux.resources.devices as the cgroup v1 devices controller understands them.

The kernel keeps a default (allow all or deny all) and a list of exceptions
keyed by (type, major, minor), each with an access mask. Written in order
from deny-all (config-linux.md#allowed-device-list):

- an "a" rule switches the default and clears the exceptions;
- a rule whose action differs from the default adds access to the exception
  with exactly the same key (or appends a new one);
- a rule with the default's action removes access from the exception with
  exactly the same key, and nothing else: a deny cannot punch a hole in a
  broader allow ("c *:* rwm" then deny "c 1:5" leaves 1:5 allowed).

emulate() computes that end state. Both the v1 writer (v1_writes: only the
difference from what the cgroup has, so an update never flaps through
deny-all under a running container) and the v2 eBPF program (ebpf.py) are
built from it, so one config grants the same devices on either kind of host
(runc does the same; crun's v2 program instead lets the last matching rule
win, which differs only for such hole-punching rules).
"""
from ..errors import InvalidSpec

# The kernel's DEVCG_ACC_* bits, which the eBPF context uses too.
MKNOD, READ, WRITE = 1, 2, 4
ALL = MKNOD | READ | WRITE
_BITS = {"r": READ, "w": WRITE, "m": MKNOD}


def parse_rule(rule, index):
    """(allow, type, major, minor, access mask) from one entry; None major/minor = any.

    Raises InvalidSpec naming linux.resources.devices[index].<field>.
    """
    where = f"linux.resources.devices[{index}]"
    if not isinstance(rule, dict):
        raise InvalidSpec(where, "must be an object")
    kind = rule.get("type") or "a"
    if kind not in ("a", "b", "c"):
        raise InvalidSpec(f"{where}.type", f'invalid device type "{kind}"')
    if not isinstance(rule.get("allow"), bool):
        raise InvalidSpec(f"{where}.allow", "is required and must be a boolean")
    nums = []
    for key in ("major", "minor"):
        value = rule.get(key)
        if value is None or value == -1:
            nums.append(None)
        elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidSpec(f"{where}.{key}", f"invalid device number {value!r}")
        else:
            nums.append(value)
    access = rule.get("access") or "rwm"
    if not isinstance(access, str) or not set(access) <= set("rwm") or len(set(access)) != len(access):
        raise InvalidSpec(f"{where}.access", f'invalid device access "{access}"')
    mask = 0
    for c in access:
        mask |= _BITS[c]
    return rule["allow"], kind, nums[0], nums[1], mask


def access_text(mask):
    """The kernel's spelling: r, w, m in that order."""
    return "".join(c for c, bit in (("r", READ), ("w", WRITE), ("m", MKNOD)) if mask & bit)


def line(kind, major, minor, mask):
    """'c 1:3 rwm' (None → '*')."""
    m = "*" if major is None else str(major)
    n = "*" if minor is None else str(minor)
    return f"{kind} {m}:{n} {access_text(mask)}"


class DeviceState:
    """A default plus ordered exceptions {(type, major, minor): mask}, as the kernel keeps them."""

    def __init__(self, allow_all=False, exceptions=None):
        self.allow_all = allow_all
        self.exceptions = dict(exceptions or {})

    def apply(self, allow, kind, major, minor, mask):
        if kind == "a":
            # Any "a" rule is a mode switch, whatever its numbers say (as in the kernel).
            self.allow_all = allow
            self.exceptions = {}
            return
        key = (kind, major, minor)
        if allow != self.allow_all:
            self.exceptions[key] = self.exceptions.get(key, 0) | mask
        elif key in self.exceptions:
            left = self.exceptions[key] & ~mask
            if left:
                self.exceptions[key] = left
            else:
                del self.exceptions[key]

    def lines(self):
        """What devices.list shows (allow-all hides its exceptions, as the kernel does)."""
        if self.allow_all:
            return ["a *:* rwm"]
        return [line(k, ma, mi, mask) for (k, ma, mi), mask in self.exceptions.items()]

    def __eq__(self, other):
        return (isinstance(other, DeviceState) and self.allow_all == other.allow_all
                and list(self.exceptions.items()) == list(other.exceptions.items()))

    def __repr__(self):
        return f"DeviceState(allow_all={self.allow_all}, {self.exceptions!r})"


def emulate(rules):
    """The state the kernel reaches writing `rules` (spec entries) in order from deny-all."""
    state = DeviceState(allow_all=False)
    for i, rule in enumerate(rules or ()):
        state.apply(*parse_rule(rule, i))
    return state


def parse_list(text):
    """devices.list → DeviceState, or None for allow-all (whose deny exceptions cannot be read)."""
    state = DeviceState(allow_all=False)
    for ln in (text or "").splitlines():
        parts = ln.split()
        if len(parts) != 3 or ":" not in parts[1]:
            continue
        kind, (ma, mi), acc = parts[0], parts[1].split(":", 1), parts[2]
        if kind == "a":
            return None
        mask = 0
        for c in acc:
            mask |= _BITS.get(c, 0)
        state.exceptions[(kind, None if ma == "*" else int(ma), None if mi == "*" else int(mi))] = mask
    return state


def _runc_order(item):
    # runc writes its rules sorted by major, minor, then type, "*" first;
    # writing in the same order gives the same devices.list, byte for byte.
    (kind, major, minor), _mask = item
    return (-1 if major is None else major, -1 if minor is None else minor, kind)


def v1_writes(target, current_text):
    """[(file, value)] that take a v1 devices cgroup from `current_text` (its devices.list) to `target`.

    Deny-all to deny-all writes only the differences, so a running container
    never sees its devices vanish for a moment (and a cgroup with children,
    where the kernel refuses "a" mode switches, can still be updated).
    """
    current = parse_list(current_text)
    wanted = sorted(target.exceptions.items(), key=_runc_order)
    if not target.allow_all and current is not None:
        out = []
        for key, mask in wanted:
            missing = mask & ~current.exceptions.get(key, 0)
            if missing:
                out.append(("devices.allow", line(*key, missing)))
        for key, mask in current.exceptions.items():
            extra = mask & ~target.exceptions.get(key, 0)
            if extra:
                out.append(("devices.deny", line(*key, extra)))
        return out
    if target.allow_all:
        return [("devices.allow", "a")] + [("devices.deny", line(*k, m)) for k, m in wanted]
    return [("devices.deny", "a")] + [("devices.allow", line(*k, m)) for k, m in wanted]
