"""linux.resources → cgroup v2 files, one small function per controller.

Written in runc's order: pids, memory, io, cpu, devices, cpuset, hugetlb,
rdma, then the `unified` map. Device filtering on v2 is an eBPF program
(ebpf.py) attached to the cgroup.
v1-only settings with no v2 file (swappiness, kernel memory, OOM-killer
switch, blkio leaf weights, net_cls/net_prio) are ignored with a warning,
as runc ignores them; realtime CPU settings are refused (cannot be applied).
"""
import errno
import math

from ..errors import CgroupError
from .base import try_read, write_file
from .resources import num, nums, page_size, pids_value, rdma_lines, set_unified, write_unified


# -- conversions from the v1-shaped spec values ---------------------------------------


def cpu_weight(shares):
    """cpu.shares [2..262144] → cpu.weight [1..10000], mapping the defaults 1024 → 100.

    The formula runc >= 1.3.2 and crun >= 1.23 use (opencontainers/cgroups#20):
    a quadratic in log2(shares) through (2, 1), (1024, 100) and (262144, 10000).
    The older linear one sent the default 1024 to 39.
    """
    if shares == 0:
        return 0
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    lg = math.log2(shares)
    return int(math.ceil(10 ** ((lg * lg + 125 * lg) / 612.0 - 7.0 / 34.0)))


def io_weight(blkio_weight):
    """blkio weight [10..1000] → io.weight [1..10000], linearly (as runc)."""
    if not blkio_weight:
        return 0
    return 1 + (blkio_weight - 10) * 9999 // 990


def swap_max(swap, limit):
    """Spec swap is memory+swap; v2 memory.swap.max is swap alone. None = leave alone."""
    if limit == -1 and swap == 0:
        return "max"  # unlimited memory means unlimited swap, as on v1
    if swap == 0:
        return None
    if swap == -1:
        return "max"
    if limit == -1:
        return str(swap)
    if limit == 0:
        raise CgroupError("unable to set swap limit without memory limit")
    if limit < 0:
        raise CgroupError(f"invalid memory value: {limit}")
    if swap < limit:
        raise CgroupError(f"memory+swap limit ({swap}) should be >= memory limit ({limit})")
    return str(swap - limit)


def _max(value):
    return "max" if value == -1 else str(value)


# -- controllers -------------------------------------------------------------------


def set_pids(d, res, warnings):
    limit = num(res.get("pids"), "limit", "pids")
    if limit is not None:
        write_unified(d, "pids.max", pids_value(limit))


def set_memory(d, res, warnings):
    mem = res.get("memory")
    if not mem:
        return
    limit, swap, reservation = nums(mem, "memory", "limit", "swap", "reservation")
    for key in ("kernel", "kernelTCP"):
        if num(mem, key, "memory"):
            warnings.append(f"memory.{key} is not supported on cgroup v2; ignored")
    swappiness = num(mem, "swappiness", "memory")
    if swappiness is not None and swappiness != -1:
        warnings.append("memory.swappiness is not supported on cgroup v2; ignored")
    if mem.get("disableOOMKiller"):
        warnings.append("memory.disableOOMKiller is not supported on cgroup v2; ignored")
    if not (limit or swap or reservation):
        return
    if mem.get("checkBeforeUpdate") and limit > 0:
        # config-linux.md#memory: v2 would OOM-kill instead of refusing.
        usage = int((try_read(d, "memory.current") or "0").strip() or 0)
        if usage > limit:
            raise CgroupError(f"rejecting memory limit {limit} below current usage {usage}")
    sw = swap_max(swap, limit)
    if sw is not None:
        try:
            write_unified(d, "memory.swap.max", sw)
        except CgroupError as e:
            # No swap accounting: "no limit" and "no swap" are already true.
            if e.errno != errno.ENOENT or sw not in ("max", "0"):
                raise
    if limit:
        write_unified(d, "memory.max", _max(limit))
    if reservation:
        write_unified(d, "memory.low", _max(reservation))


def set_io(d, res, warnings):
    bio = res.get("blockIO")
    if not bio:
        return
    weight = num(bio, "weight", "blockIO") or 0
    if num(bio, "leafWeight", "blockIO"):
        warnings.append("blockIO.leafWeight is not supported on cgroup v2; ignored")
    # BFQ takes the blkio range as is; io.weight needs the conversion.
    bfq = try_read(d, "io.bfq.weight")
    if weight:
        if bfq is not None:
            write_unified(d, "io.bfq.weight", weight)
        else:
            write_unified(d, "io.weight", io_weight(weight))
    for wd in bio.get("weightDevice") or []:
        if wd.get("leafWeight"):
            warnings.append("blockIO.weightDevice[].leafWeight is not supported on cgroup v2; ignored")
        if not wd.get("weight"):
            continue
        dev = f"{wd.get('major')}:{wd.get('minor')}"
        # Per-device BFQ weights need kernel 5.4+, where io.bfq.weight reads "default N".
        if bfq is not None and bfq.startswith("default"):
            write_unified(d, "io.bfq.weight", f"{dev} {wd['weight']}")
        else:
            write_unified(d, "io.weight", f"{dev} {io_weight(wd['weight'])}")
    for key, field in (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
                       ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops")):
        for td in bio.get(key) or []:
            write_unified(d, "io.max", f"{td.get('major')}:{td.get('minor')} {field}={td.get('rate')}")


def set_cpu(d, res, warnings):
    cpu = res.get("cpu")
    if not cpu:
        return
    if num(cpu, "realtimeRuntime", "cpu") or num(cpu, "realtimePeriod", "cpu"):
        raise CgroupError("cpu.realtimeRuntime/realtimePeriod cannot be applied: cgroup v2 has no realtime settings")
    weight = cpu_weight(num(cpu, "shares", "cpu") or 0)
    quota, period = nums(cpu, "cpu", "quota", "period")
    burst = num(cpu, "burst", "cpu")
    idle = num(cpu, "idle", "cpu")
    if idle is not None:
        write_unified(d, "cpu.idle", idle)
    if weight:
        write_unified(d, "cpu.weight", weight)
    deferred = None
    if burst is not None:
        try:
            write_unified(d, "cpu.max.burst", burst)
        except CgroupError as e:
            # A bigger burst may only fit once the new quota is in place.
            if e.errno != errno.EINVAL or not quota:
                raise
            deferred = burst
    if quota or period:
        if quota:
            value = "max" if quota < 0 else str(quota)
        else:
            # Only the period changes: keep the current quota (runc once reset it to max).
            value = ((try_read(d, "cpu.max") or "max").split() or ["max"])[0]
        if period:
            value += f" {period}"
        write_unified(d, "cpu.max", value)
        if deferred is not None:
            write_unified(d, "cpu.max.burst", deferred)


def set_devices(d, res, warnings):
    """config-linux.md#allowed-device-list through an eBPF program (ebpf.py)."""
    rules = res.get("devices")
    if rules is not None:
        from .ebpf import set_devices as attach_filter

        attach_filter(d, rules)


def set_cpuset(d, res, warnings):
    cpu = res.get("cpu") or {}
    if cpu.get("cpus"):
        write_unified(d, "cpuset.cpus", cpu["cpus"])
    if cpu.get("mems"):
        write_unified(d, "cpuset.mems", cpu["mems"])


def set_hugetlb(d, res, warnings):
    rsvd_ok = True
    for i, entry in enumerate(res.get("hugepageLimits") or []):
        size = page_size(entry, i)
        value = entry.get("limit")
        write_unified(d, f"hugetlb.{size}.max", value)
        if rsvd_ok:
            try:
                write_file(d, f"hugetlb.{size}.rsvd.max", value)
            except CgroupError as e:
                if e.errno != errno.ENOENT:
                    raise
                rsvd_ok = False  # kernel < 5.7


def set_rdma(d, res, warnings):
    for line in rdma_lines(res.get("rdma") or {}):
        write_unified(d, "rdma.max", line)


def set_network(d, res, warnings):
    net = res.get("network") or {}
    if net.get("classID") or net.get("priorities"):
        warnings.append("network.classID/priorities need net_cls/net_prio, which cgroup v2 lacks; ignored")


ORDER = (set_pids, set_memory, set_io, set_cpu, set_devices, set_cpuset, set_hugetlb, set_rdma, set_network)


def apply(d, res):
    """Write `res` (linux.resources) into the v2 cgroup `d`. Returns warnings."""
    warnings = []
    for setter in ORDER:
        setter(d, res, warnings)
    if res.get("unified"):
        set_unified(d, res["unified"])
    return warnings
