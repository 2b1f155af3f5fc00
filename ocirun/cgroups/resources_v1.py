"""linux.resources → cgroup v1 files, one small function per controller.

Controllers are written in runc's order: cpuset, devices, memory, cpu, pids,
blkio, hugetlb, net_cls, net_prio, rdma. As in runc, 0 means "unset" for the
limits engines send as zero (docker's update sends shares:0, weight:0); the
exceptions are fields the spec makes meaningful at 0 (pids.limit, cpu.burst,
cpu.idle, memory.swappiness), which are written whenever present.

apply() returns a list of warnings for settings that were ignored.
"""
import errno

from ..errors import CgroupError
from .base import try_read, write_file
from .resources import num, nums, page_size, pids_value, rdma_lines, set_unified


def _need(d, controller, what):
    if not d:
        raise CgroupError(f"cannot set {what}: the {controller} cgroup controller is not mounted")
    return d


# -- cpuset ------------------------------------------------------------------------


def set_cpuset(d, res, warnings):
    cpu = res.get("cpu") or {}
    for key, name in (("cpus", "cpuset.cpus"), ("mems", "cpuset.mems")):
        value = cpu.get(key)
        if value:
            write_file(_need(d, "cpuset", f"cpu.{key}"), name, value)


# -- devices -----------------------------------------------------------------------


def set_devices(d, res, warnings):
    """config-linux.md#allowed-device-list: entries apply in order, from deny-all.

    Only what differs from the cgroup's current list is written (devices.py).
    """
    rules = res.get("devices")
    if rules is None:
        return
    from .devices import emulate, v1_writes

    target = emulate(rules)
    d = _need(d, "devices", "devices")
    for name, value in v1_writes(target, try_read(d, "devices.list")):
        write_file(d, name, value)


# -- memory ------------------------------------------------------------------------


def _set_limit(d, value):
    try:
        write_file(d, "memory.limit_in_bytes", value)
    except CgroupError as e:
        if e.errno == errno.EBUSY:
            usage = (try_read(d, "memory.usage_in_bytes") or "?").strip()
            peak = (try_read(d, "memory.max_usage_in_bytes") or "?").strip()
            raise CgroupError(
                f"unable to set memory limit to {value} (current usage: {usage}, peak usage: {peak}): {e}"
            ) from None
        raise


def set_memory(d, res, warnings):
    mem = res.get("memory")
    if not mem:
        return
    limit, swap, reservation, kernel, kernel_tcp = nums(mem, "memory", "limit", "swap", "reservation", "kernel",
                                                       "kernelTCP")
    swappiness = num(mem, "swappiness", "memory")
    hierarchy = mem.get("useHierarchy")
    wanted = limit or swap or reservation or kernel or kernel_tcp or mem.get("disableOOMKiller") \
        or (swappiness is not None and swappiness != -1) or hierarchy is not None
    if not wanted:
        return
    d = _need(d, "memory", "memory limits")

    # Memory and memory+swap must be ordered so that limit <= memsw holds
    # after each write (the kernel refuses otherwise).
    if limit == -1 and swap == 0 and try_read(d, "memory.memsw.limit_in_bytes") is not None:
        swap = -1  # "unlimited memory" means unlimited swap too
    swap_first = False
    if limit and swap:
        current = int((try_read(d, "memory.limit_in_bytes") or "0").strip() or 0)
        swap_first = swap == -1 or current < swap
    if swap_first:
        write_file(d, "memory.memsw.limit_in_bytes", swap)
        _set_limit(d, limit)
    else:
        if limit:
            _set_limit(d, limit)
        if swap:
            write_file(d, "memory.memsw.limit_in_bytes", swap)

    if kernel:
        # Deprecated: gone from newer kernels, a no-op on 6.x; runc >= 1.1 ignores it.
        if try_read(d, "memory.kmem.limit_in_bytes") is None:
            warnings.append("memory.kernel is not supported by this kernel; ignored")
        else:
            write_file(d, "memory.kmem.limit_in_bytes", kernel)
    if kernel_tcp:
        write_file(d, "memory.kmem.tcp.limit_in_bytes", kernel_tcp)
    if reservation:
        write_file(d, "memory.soft_limit_in_bytes", reservation)
    if mem.get("disableOOMKiller"):
        write_file(d, "memory.oom_control", "1")
    if swappiness is not None and swappiness != -1:
        if not 0 <= swappiness <= 100:
            raise CgroupError(f"invalid memory swappiness value: {swappiness} (valid range is 0-100)")
        write_file(d, "memory.swappiness", swappiness)
    if hierarchy is not None:
        want = "1" if hierarchy else "0"
        # Newer kernels only accept 1: write only when it would change.
        if (try_read(d, "memory.use_hierarchy") or "").strip() != want:
            write_file(d, "memory.use_hierarchy", want)


# -- cpu ---------------------------------------------------------------------------


def set_cpu(d, res, warnings):
    cpu = res.get("cpu")
    if not cpu:
        return
    shares, quota, period = nums(cpu, "cpu", "shares", "quota", "period")
    burst = num(cpu, "burst", "cpu")
    idle = num(cpu, "idle", "cpu")
    rt_runtime, rt_period = nums(cpu, "cpu", "realtimeRuntime", "realtimePeriod")
    if not (shares or quota or period or burst is not None or idle is not None or rt_runtime or rt_period):
        return
    d = _need(d, "cpu", "cpu limits")

    if shares:
        write_file(d, "cpu.shares", shares)
        got = int((try_read(d, "cpu.shares") or "0").strip() or 0)
        if shares > got:
            raise CgroupError(f"the maximum allowed cpu-shares is {got}")
        if shares < got:
            raise CgroupError(f"the minimum allowed cpu-shares is {got}")

    # The kernel checks quota/period/burst against each other and the
    # parent; a value refused with EINVAL may fit once the quota is written.
    retry = []
    if period:
        _write_or_defer(d, "cpu.cfs_period_us", period, bool(quota), retry)
    if burst is not None:
        try:
            _write_or_defer(d, "cpu.cfs_burst_us", burst, bool(quota), retry)
        except CgroupError as e:
            if e.errno != errno.ENOENT:
                raise
            warnings.append("cpu.burst is not supported by this kernel; ignored")
    if quota:
        write_file(d, "cpu.cfs_quota_us", quota)
        for name, value in retry:
            write_file(d, name, value)
    if idle is not None:
        write_file(d, "cpu.idle", idle)

    # Realtime: runtime and period are checked against each other likewise.
    retry = []
    if rt_period:
        _write_or_defer(d, "cpu.rt_period_us", rt_period, bool(rt_runtime), retry)
    if rt_runtime:
        try:
            write_file(d, "cpu.rt_runtime_us", rt_runtime)
        except CgroupError as e:
            if e.errno != errno.EINVAL:
                raise
            # New cgroups get a realtime budget of 0, and no child may exceed its parent.
            raise CgroupError(f"{e} (the parent cgroup's cpu.rt_runtime_us must leave room for it)") from None
        for name, value in retry:
            write_file(d, name, value)


def _write_or_defer(d, name, value, can_retry, retry):
    try:
        write_file(d, name, value)
    except CgroupError as e:
        if e.errno != errno.EINVAL or not can_retry:
            raise
        retry.append((name, value))


# -- pids --------------------------------------------------------------------------


def set_pids(d, res, warnings):
    limit = num(res.get("pids"), "limit", "pids")
    if limit is not None:
        write_file(_need(d, "pids", "pids.limit"), "pids.max", pids_value(limit))


# -- blkio -------------------------------------------------------------------------


def _dev(entry, value):
    return f"{entry.get('major')}:{entry.get('minor')} {value}"


def set_blkio(d, res, warnings):
    bio = res.get("blockIO")
    if not bio:
        return
    weight = num(bio, "weight", "blockIO") or 0
    leaf = num(bio, "leafWeight", "blockIO") or 0
    lists = {k: bio.get(k) or [] for k in ("weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
                                           "throttleReadIOPSDevice", "throttleWriteIOPSDevice")}
    if not (weight or leaf or any(lists.values())):
        return
    d = _need(d, "blkio", "blockIO")
    # With the BFQ scheduler the weight files carry a "bfq." prefix.
    bfq = try_read(d, "blkio.bfq.weight") is not None
    weight_file = "blkio.bfq.weight" if bfq else "blkio.weight"
    device_file = "blkio.bfq.weight_device" if bfq else "blkio.weight_device"
    if weight:
        write_file(d, weight_file, weight)
    if leaf:
        write_file(d, "blkio.leaf_weight", leaf)
    for wd in lists["weightDevice"]:
        if wd.get("weight"):
            write_file(d, device_file, _dev(wd, wd["weight"]))
        if wd.get("leafWeight"):
            write_file(d, "blkio.leaf_weight_device", _dev(wd, wd["leafWeight"]))
    for key, name in (("throttleReadBpsDevice", "read_bps_device"), ("throttleWriteBpsDevice", "write_bps_device"),
                      ("throttleReadIOPSDevice", "read_iops_device"),
                      ("throttleWriteIOPSDevice", "write_iops_device")):
        for td in lists[key]:
            write_file(d, "blkio.throttle." + name, _dev(td, td.get("rate")))


# -- hugetlb -----------------------------------------------------------------------


def set_hugetlb(d, res, warnings):
    limits = res.get("hugepageLimits") or []
    if not limits:
        return
    d = _need(d, "hugetlb", "hugepageLimits")
    for i, entry in enumerate(limits):
        size = page_size(entry, i)
        value = entry.get("limit")
        name = f"hugetlb.{size}.limit_in_bytes"
        if try_read(d, name) is None:
            raise CgroupError(f"hugepage size {size} is not supported: no {d}/{name}")
        write_file(d, name, value)
        # Reservation accounting (kernel 5.7+) is the one that cannot SIGBUS.
        rsvd = f"hugetlb.{size}.rsvd.limit_in_bytes"
        if try_read(d, rsvd) is not None:
            write_file(d, rsvd, value)


# -- network -----------------------------------------------------------------------


def set_net_cls(d, res, warnings):
    classid = num(res.get("network"), "classID", "network") or 0
    if classid:
        write_file(_need(d, "net_cls", "network.classID"), "net_cls.classid", classid)


def set_net_prio(d, res, warnings):
    prios = (res.get("network") or {}).get("priorities") or []
    if prios:
        d = _need(d, "net_prio", "network.priorities")
        for p in prios:
            write_file(d, "net_prio.ifpriomap", f"{p.get('name')} {p.get('priority')}")


# -- rdma --------------------------------------------------------------------------


def set_rdma(d, res, warnings):
    lines = rdma_lines(res.get("rdma") or {})
    if lines:
        d = _need(d, "rdma", "rdma")
        for line in lines:
            write_file(d, "rdma.max", line)


# -- all ---------------------------------------------------------------------------

ORDER = (
    ("cpuset", set_cpuset),
    ("devices", set_devices),
    ("memory", set_memory),
    ("cpu", set_cpu),
    ("pids", set_pids),
    ("blkio", set_blkio),
    ("hugetlb", set_hugetlb),
    ("net_cls", set_net_cls),
    ("net_prio", set_net_prio),
    ("rdma", set_rdma),
)


def apply(manager, res):
    """Write `res` (linux.resources) into a V1Manager's hierarchies. Returns warnings."""
    warnings = []
    for controller, setter in ORDER:
        setter(manager.path(controller), res, warnings)
    unified = res.get("unified")
    if unified:
        if not manager.unified:
            raise CgroupError("cannot set linux.resources.unified: no cgroup v2 hierarchy is mounted")
        set_unified(manager.unified, unified)
    return warnings
