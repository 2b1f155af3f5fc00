"""update: change the resources of a live container.

Input is `--resources FILE` (`-`: stdin, as containerd sends it) holding a
LinuxResources object, or runc's per-field flags (--memory 512m, --cpu-quota,
--pids-limit, ...; the flags are ignored when --resources is given, as in
runc). Engines send unset fields as 0 (docker: shares 0, weight 0), so 0
means "leave as is" for every field where runc reads it that way, pids.limit
included. The live cgroup gets only what changes; the container's saved
config.json (which exec reads) gets the merged result. An update carrying
devices is applied with the default device rules appended, as at create.
"""
import os
import re

from ocirun import state as st
from ocirun.container import load_locked
from ocirun.errors import CgroupError, InvalidSpec, InvalidState, UsageError, describe

# Fields where 0 (or "") means "no change", per section.
_UNSET_ZERO = {
    "memory": ("limit", "reservation", "swap", "kernel", "kernelTCP"),
    "cpu": ("shares", "quota", "period", "realtimeRuntime", "realtimePeriod", "cpus", "mems"),
    "blockIO": ("weight", "leafWeight"),
    "pids": ("limit",),
}
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_SIZE = re.compile(r"(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?")


def run(opts, args, logger):
    if opts.get("resources"):
        source = opts["resources"]
        res = read_resources(source)
    else:
        source = "flags"
        res = from_flags(opts, logger)
    c, lock = load_locked(st.Store(opts["root"]), args[0])
    try:
        if c.status() not in (st.CREATED, st.RUNNING, st.PAUSED) or not c.data.get("cgroup"):
            raise InvalidState("container not running")
        config_path = os.path.join(c.dir, "config.json")
        config = _read_config(config_path)
        linux = config.setdefault("linux", {}) if config is not None else {}
        delta = changes(res)
        live = delta
        if delta.get("devices") is not None:
            from ocirun.cgroups.defaults import with_default_devices

            live = with_default_devices(delta, linux.get("devices"))
        from ocirun import cgroups

        manager = cgroups.load_manager(c.data["cgroup"])
        try:
            warnings = manager.set(live)
        except InvalidSpec as e:
            raise InvalidSpec(e.path.replace("linux.resources.", "", 1), e.message,
                              source=f"--resources {source}" if source != "flags" else "update") from None
        for w in warnings or ():
            logger.warning(w)
        if config is None:
            logger.warning(f"{config_path} is missing: the update is not recorded")
        else:
            import json

            linux["resources"] = merge(linux.get("resources") or {}, delta)
            st.write_atomic(config_path, json.dumps(config).encode())
    finally:
        os.close(lock)
    return 0


def _read_config(path):
    """The saved config, or None when there is none (a state dir from before it was saved)."""
    import json

    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise CgroupError(f"cannot read the container's saved config {path}: {e}") from None


def read_resources(source):
    """The LinuxResources object from a file or, for "-", stdin."""
    import json

    from ocirun.spec.loader import read_input

    try:
        raw = read_input(source, f"--resources {source}")
    except OSError as e:
        raise UsageError(f"--resources {source}: {describe(e)}") from None
    try:
        res = json.loads(raw or b"{}")
    except ValueError as e:
        raise UsageError(f"--resources {source}: invalid JSON: {e}") from None
    if res is None:
        res = {}
    if not isinstance(res, dict):
        raise UsageError(f"--resources {source}: must hold a JSON object (LinuxResources)")
    for key, value in res.items():
        want = list if key in ("devices", "hugepageLimits") else dict
        if value is not None and not isinstance(value, want):
            raise UsageError(f"--resources {source}: {key} must be {'an array' if want is list else 'an object'}")
    return res


def changes(res):
    """`res` without the fields that mean "leave as is" (0, "", null)."""
    out = {}
    for key, value in res.items():
        if value is None:
            continue
        if key in _UNSET_ZERO:
            section = {k: v for k, v in value.items()
                       if v is not None and not (k in _UNSET_ZERO[key] and v in (0, "") and not isinstance(v, bool))}
            if section:
                out[key] = section
        else:
            out[key] = value
    return out


def merge(old, delta):
    """The saved linux.resources with `delta` applied: objects field by field, arrays replaced."""
    out = dict(old)
    for key, value in delta.items():
        if isinstance(value, dict) and isinstance(old.get(key), dict):
            out[key] = {**old[key], **value}
        else:
            out[key] = value
    return out


# -- runc's flags ---------------------------------------------------------------------------


def ram_in_bytes(text):
    """go-units RAMInBytes: "512m", "1.5GiB", "1 kb" (binary multiples)."""
    m = _SIZE.fullmatch(text)
    if not m:
        raise ValueError(f"invalid size: '{text}'")
    try:
        value = float(m.group(1))
    except ValueError:
        raise ValueError(f"invalid size: '{text}'") from None
    return int(value * _UNITS[(m.group(2) or "").lower()])


def _go_int(text):
    """Go's flag.Int parsing (base prefixes, leading-zero octal)."""
    t = text.strip()
    if re.fullmatch(r"[+-]?0[0-7]+", t):
        return int(t, 8)
    return int(t, 0)


def _int_flag(opts, name):
    value = opts.get(name) or ""
    if value == "":
        return 0
    try:
        return _go_int(value)
    except ValueError:
        raise UsageError(f'invalid value "{value}" for flag -{name}: parse error') from None


def _parse(opts, name, unsigned):
    value = opts.get(name) or ""
    if value == "":
        return None
    if not re.fullmatch(r"[0-9]+" if unsigned else r"[+-]?[0-9]+", value):
        fn = "ParseUint" if unsigned else "ParseInt"
        raise UsageError(f'invalid value for {name}: strconv.{fn}: parsing "{value}": invalid syntax')
    return int(value)


def from_flags(opts, logger):
    """runc update's flags → a LinuxResources object (only the flags given)."""
    res = {"memory": {}, "cpu": {}, "blockIO": {}, "pids": {}}
    weight = _int_flag(opts, "blkio-weight")
    if weight:
        res["blockIO"]["weight"] = weight & 0xFFFF  # runc converts to uint16
    for flag, key in (("cpuset-cpus", "cpus"), ("cpuset-mems", "mems")):
        if opts.get(flag):
            res["cpu"][key] = opts[flag]
    idle = _parse(opts, "cpu-idle", unsigned=False)
    if idle is not None:
        res["cpu"]["idle"] = idle
    for flag, key in (("cpu-period", "period"), ("cpu-rt-period", "realtimePeriod"), ("cpu-share", "shares")):
        value = _parse(opts, flag, unsigned=True)
        if value is not None:
            res["cpu"][key] = value
    for flag, key in (("cpu-quota", "quota"), ("cpu-rt-runtime", "realtimeRuntime")):
        value = _parse(opts, flag, unsigned=False)
        if value is not None:
            res["cpu"][key] = value
    for flag, key in (("memory", "limit"), ("memory-swap", "swap"), ("memory-reservation", "reservation")):
        value = opts.get(flag) or ""
        if value == "":
            continue
        if value == "-1":
            res["memory"][key] = -1
            continue
        try:
            res["memory"][key] = ram_in_bytes(value)
        except ValueError as e:
            raise UsageError(f"invalid value for {flag}: {e}") from None
    for flag in ("kernel-memory", "kernel-memory-tcp"):
        if opts.get(flag):
            logger.warning(f"Setting --{flag} is ignored and will be removed")
    if opts.get("l3-cache-schema"):
        raise CgroupError("Intel RDT/CAT: l3 cache schema is not enabled")
    if opts.get("mem-bw-schema"):
        raise CgroupError("Intel RDT/MBA: memory bandwidth schema is not enabled")
    res["pids"]["limit"] = _int_flag(opts, "pids-limit")
    return res
