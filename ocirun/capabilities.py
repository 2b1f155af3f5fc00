"""process.capabilities (config.md#linux-process): names -> masks, and applying them.

Two phases, because the second runs inside the container after the root
switch, where sys.meta_path is empty and nothing may be imported:

  parent, before fork:  last_cap = prepare(); m = masks(caps, last_cap, warn)
  container init:       apply(m, last_cap, set_user=...)   (just before exec)

Who does what around the uid change (runc's order):
  1. drop_bounding(m, last_cap)   PR_CAPBSET_DROP every cap not in bounding
  2. keep_caps_for_setuid()       PR_SET_KEEPCAPS=1, so a 0 -> non-0 setresuid
                                  keeps the permitted set (effective is cleared
                                  by the kernel anyway and re-set in step 4)
  3. the caller's set_user()      setgroups/setresgid/setresuid/umask
  4. after_setuid(m)              PR_SET_KEEPCAPS=0, capset(effective,
                                  permitted, inheritable), then ambient:
                                  clear all, raise each configured cap
apply() runs 1-4 in order with the caller's set_user as step 3; a caller that
must do other work between the steps calls the pieces itself.

Absent process.capabilities means every set is empty, bounding included:
checked against runc 1.1.5 (CapBnd/CapPrm/CapEff/CapInh/CapAmb all 0).
Inheritable gets exactly what the config lists, nothing more
(CVE-2022-29162 was runc filling it by default).
"""
import errno

from ocirun import syscalls
from ocirun.captable import CAPABILITIES
from ocirun.errors import InvalidSpec, SyscallError

SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")

_NAMES = {n: name for name, n in CAPABILITIES.items()}
_LAST_CAP_PATH = "/proc/sys/kernel/cap_last_cap"


def prepare():
    """The running kernel's highest capability number (before fork: needs the host /proc)."""
    try:
        with open(_LAST_CAP_PATH, "rb") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        # Kernels before 3.2 lack the file; assume our table matches the kernel.
        return max(CAPABILITIES.values())


def held(linux=None):
    """Mask of the caps this runtime can pass on: its bounding set and, unless
    the process enters a user namespace (full caps there), its permitted set."""
    in_userns = any(n.get("type") == "user" for n in (linux or {}).get("namespaces") or ())
    bnd = 0
    for n in _NAMES:
        try:
            if syscalls.prctl(syscalls.PR_CAPBSET_READ, n) == 1:
                bnd |= 1 << n
        except OSError:
            pass
    return bnd if in_userns else bnd & syscalls.capget()[1]


def masks(caps, last_cap=None, warn=None, held=None):
    """{set: 64-bit mask} for every set in SETS; missing caps/sets are empty masks.

    Unknown names: with `warn` None they raise InvalidSpec naming the entry;
    with a `warn(message)` callable they are reported and skipped, which is
    what runc does and what config.md asks ("MUST be logged as a warning ...
    SHOULD NOT fail"). Names the table knows but the kernel does not (above
    last_cap) are always skipped, and reported when `warn` is given: they
    cannot be granted, and the kernel would reject the whole capset/prctl.
    With `held` (a mask, see held()) and `warn`, a cap the runtime does not
    hold is also reported and skipped: config.md says a cap that cannot be
    granted MUST be logged as a warning and SHOULD NOT fail (runc and crun
    fail: `docker run --privileged` on a host without CAP_SYS_RESOURCE).
    """
    result = {}
    caps = caps or {}
    not_held = set()
    for cap_set in SETS:
        mask = 0
        for i, name in enumerate(caps.get(cap_set) or ()):
            path = f"process.capabilities.{cap_set}[{i}]"
            num = CAPABILITIES.get(name)
            if num is None:
                if warn is None:
                    raise InvalidSpec(path, f"unknown capability {name!r}")
                warn(f"{path}: ignoring unknown capability {name!r}")
                continue
            if last_cap is not None and num > last_cap:
                if warn is not None:
                    warn(f"{path}: ignoring {name}: the running kernel's last capability is {last_cap}")
                continue
            if held is not None and warn is not None and not held >> num & 1:
                if name not in not_held:  # one warning per capability
                    not_held.add(name)
                    warn(f"{path}: ignoring {name}: the runtime does not hold it")
                continue
            mask |= 1 << num
        result[cap_set] = mask
    return result


def check(m):
    """The capset(2) rules a config alone decides, checked before anything is
    made (so `validate` knows too); the same words as the failed capset."""
    checks = (("effective", m.get("effective", 0) & ~m.get("permitted", 0), "not in process.capabilities.permitted"),
              ("inheritable", m.get("inheritable", 0) & ~(m.get("bounding", 0) | m.get("permitted", 0)),
               "not in process.capabilities.bounding"))
    for field, extra, why in checks:
        if extra:
            raise SyscallError("unable to apply caps", errno.EPERM,
                               detail=f"process.capabilities.{field}: {', '.join(names(extra))} {why}")


def names(mask):
    """Capability names in `mask`, lowest number first (bits outside the table ignored)."""
    return [_NAMES[n] for n in sorted(_NAMES) if mask >> n & 1]


def drop_bounding(m, last_cap):
    """Drop from the bounding set every cap (0..last_cap) not in m['bounding']."""
    keep = m.get("bounding", 0)
    for n in range(last_cap + 1):
        if not keep >> n & 1:
            try:
                syscalls.prctl(syscalls.PR_CAPBSET_DROP, n)
            except OSError as e:
                raise SyscallError("drop bounding capability", e.errno,
                                   detail=f"process.capabilities.bounding: {_NAMES.get(n, n)}") from None


def keep_caps_for_setuid():
    """Keep the permitted set across the caller's setresuid away from uid 0."""
    syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 1)


def after_setuid(m, warn=None):
    """Clear keep-caps, set effective/permitted/inheritable, then the ambient set.

    A cap that cannot be raised into the ambient set (not in both permitted
    and inheritable) is reported through `warn` and skipped, as runc does.
    """
    syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 0)
    eff, prm, inh = m.get("effective", 0), m.get("permitted", 0), m.get("inheritable", 0)
    try:
        syscalls.capset(eff, prm, inh)
    except OSError as e:
        raise SyscallError("unable to apply caps", e.errno, detail=_why_capset_failed(eff, prm, inh)) from None
    syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_CLEAR_ALL)
    amb = m.get("ambient", 0)
    for n in sorted(_NAMES):
        if amb >> n & 1:
            try:
                syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_RAISE, n)
            except OSError as e:
                if warn is None or e.errno != errno.EPERM:
                    raise SyscallError("raise ambient capability", e.errno,
                                       detail=f"process.capabilities.ambient: {_NAMES[n]}") from None
                warn(f"process.capabilities.ambient: cannot raise {_NAMES[n]}: "
                     "it must be in both permitted and inheritable")


def apply(m, last_cap, set_user=None, warn=None):
    """Steps 1-4 of the module docstring; `set_user()` (optional) changes uid/gid in step 3."""
    drop_bounding(m, last_cap)
    keep_caps_for_setuid()
    if set_user is not None:
        set_user()
    after_setuid(m, warn)


def _why_capset_failed(eff, prm, inh):
    """Name the config field behind a capset EPERM (the kernel only says 'no')."""
    try:
        cur_eff, cur_prm, cur_inh = syscalls.capget()
    except OSError:
        return "process.capabilities"
    bnd = held({"namespaces": [{"type": "user"}]})
    checks = (
        ("permitted", prm & ~cur_prm, "not held by the runtime"),
        ("effective", eff & ~prm, "not in process.capabilities.permitted"),
        ("inheritable", inh & ~(cur_inh | bnd), "not in process.capabilities.bounding"),
        ("inheritable", inh & ~(cur_inh | cur_prm), "not held by the runtime"),
    )
    for field, extra, why in checks:
        if extra:
            return f"process.capabilities.{field}: {', '.join(names(extra))} {why}"
    return "process.capabilities"
