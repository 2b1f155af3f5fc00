"""What resources_v1 and resources_v2 share: the spec value checks and conversions
both need, and the writer of linux.resources.unified (cgroup2 files, which a
hybrid v1 host has too). Neither resources module imports the other."""
import errno
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)

from ..errors import CgroupError, InvalidSpec
from .base import try_read, write_file


def _page_size_ok(size):
    """[0-9]+[KMGTPE]?B, without `re` (its import is most of create's start-up cost)."""
    body = size[:-1] if size.endswith("B") else ""
    if body[-1:] in ("K", "M", "G", "T", "P", "E"):
        body = body[:-1]
    return body.isascii() and body.isdigit()


def num(obj, key, section):
    """obj[key] as an int, None when absent or null; bools are not numbers."""
    value = (obj or {}).get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpec(f"linux.resources.{section}.{key}", f"must be an integer, not {value!r}")
    return value


def nums(obj, section, *keys):
    """num() of each key in turn, with 0 for an absent one (the limits where 0 means unset)."""
    return [num(obj, key, section) or 0 for key in keys]


def pids_value(limit):
    """config-linux.md#pids: -1 (any negative) is "max"; 0 is a real limit."""
    return "max" if limit < 0 else str(limit)


def page_size(entry, index):
    size = entry.get("pageSize")
    if not isinstance(size, str) or not _page_size_ok(size):
        raise InvalidSpec(f"linux.resources.hugepageLimits[{index}].pageSize",
                          f'invalid hugepage size {size!r} (want a form like "2MB")')
    return size


def rdma_lines(rdma):
    """{"mlx5_1": {"hcaHandles": 3}} → ["mlx5_1 hca_handle=3"], in device-name order."""
    lines = []
    for dev in sorted(rdma):
        limits = rdma[dev] or {}
        line = dev
        if limits.get("hcaHandles") is not None:
            line += f" hca_handle={limits['hcaHandles']}"
        if limits.get("hcaObjects") is not None:
            line += f" hca_object={limits['hcaObjects']}"
        lines.append(line)
    return lines


def write_unified(d, name, value):
    """write_file, turning "no such file" into "controller not available" when that is why."""
    try:
        write_file(d, name, value)
    except CgroupError as e:
        if e.errno in (errno.ENOENT, errno.EACCES, errno.EPERM) and "." in name:
            ctrl = name.split(".", 1)[0]
            avail = (try_read(d, "cgroup.controllers") or "").split()
            if ctrl != "cgroup" and ctrl not in avail and os.path.isdir(d):
                raise CgroupError(f'cannot write "{value}" to {os.path.join(d, name)}: '
                                  f'the {ctrl} controller is not available in {d}') from None
        raise


def set_unified(d, unified):
    """config-linux.md#unified: write every key, known or not; unknown controller → error."""
    for key in unified:  # JSON object order
        value = unified[key]
        if not isinstance(key, str) or "/" in key or key in ("", ".", ".."):
            raise CgroupError(f'linux.resources.unified: "{key}" must be a file name (no slashes)')
        if "." not in key:
            raise CgroupError(f'linux.resources.unified: "{key}" must be in the form CONTROLLER.PARAMETER')
        value = str(value)
        # Multi-line values (io.max for several devices) go one line per write.
        lines = [ln for ln in value.split("\n") if ln] if "\n" in value else [value]
        for line in lines:
            write_unified(d, key, line)
