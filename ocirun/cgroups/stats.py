"""Container statistics in the shape `runc events` prints (runc 1.1.5's types.Stats).

Key order and which zero values are left out follow runc's Go structs
(checked against `runc events --stats` on a v1 host): `omitempty` fields
vanish at zero, the others stay. A controller that is not mounted leaves its
section at zero values, as in runc. Nothing here writes.
"""
import os

from ocirun import cpulist

from .base import try_read

MAX_UINT64 = (1 << 64) - 1
_NS_PER_TICK = 10 ** 9 // 100  # cpuacct.stat counts USER_HZ (100) ticks; runc assumes 100 too


def _int(text, default=0):
    try:
        return int((text or "").strip() or default)
    except ValueError:
        return default


def _uint(directory, name):
    """A one-number file as a uint64; "max" is MaxUint64; missing is 0."""
    if not directory:
        return 0
    text = (try_read(directory, name) or "").strip()
    if text == "max":
        return MAX_UINT64
    return _int(text)


def _keyed(directory, name):
    """'key value' lines ({"user": 12, ...}); missing file → {}."""
    out = {}
    for ln in ((try_read(directory, name) if directory else None) or "").splitlines():
        parts = ln.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return out


def _put(d, key, value):
    """An `omitempty` field: only non-zero/non-empty values appear."""
    if value:
        d[key] = value


def _usage(total, percpu, percpu_kernel, percpu_user, kernel, user):
    u = {}
    _put(u, "total", total)
    _put(u, "percpu", percpu)
    _put(u, "percpu_kernel", percpu_kernel)
    _put(u, "percpu_user", percpu_user)
    u["kernel"] = kernel
    u["user"] = user
    return u


def _throttling(periods, throttled, time_ns):
    t = {}
    _put(t, "periods", periods)
    _put(t, "throttledPeriods", throttled)
    _put(t, "throttledTime", time_ns)
    return t


def _mem_entry(limit=0, usage=0, peak=0, failcnt=0):
    e = {"limit": limit}
    _put(e, "usage", usage)
    _put(e, "max", peak)
    e["failcnt"] = failcnt
    return e


def _cpuset(d):
    s = {}
    _put(s, "cpus", cpulist.numbers(try_read(d, "cpuset.cpus") if d else None))
    s["cpu_exclusive"] = _uint(d, "cpuset.cpu_exclusive")
    _put(s, "mems", cpulist.numbers(try_read(d, "cpuset.mems") if d else None))
    for key, name in (("mem_hardwall", "mem_hardwall"), ("mem_exclusive", "mem_exclusive"),
                      ("memory_migrate", "memory_migrate"), ("memory_spread_page", "memory_spread_page"),
                      ("memory_spread_slab", "memory_spread_slab"), ("memory_pressure", "memory_pressure"),
                      ("sched_load_balance", "sched_load_balance")):
        s[key] = _uint(d, "cpuset." + name)
    s["sched_relax_domain_level"] = _int(try_read(d, "cpuset.sched_relax_domain_level") if d else "")
    return s


def _blkio_entries(d, name):
    """Lines 'MAJ:MIN Op value' (or 'MAJ:MIN value'); 'Total' lines are skipped. None when empty."""
    out = []
    for ln in ((try_read(d, name) if d else None) or "").splitlines():
        f = ln.split()
        if len(f) < 2 or ":" not in f[0]:
            continue
        ma, _, mi = f[0].partition(":")
        e = {}
        try:
            _put(e, "major", int(ma))
            _put(e, "minor", int(mi))
            if len(f) >= 3:
                _put(e, "op", f[1])
                _put(e, "value", int(f[2]))
            else:
                _put(e, "value", int(f[1]))
        except ValueError:
            continue
        out.append(e)
    return out or None


# runc's key per file suffix, in its output order.
_BLKIO_KEYS = (("ioServiceBytesRecursive", "io_service_bytes_recursive"),
               ("ioServicedRecursive", "io_serviced_recursive"),
               ("ioQueueRecursive", "io_queued_recursive"),
               ("ioServiceTimeRecursive", "io_service_time_recursive"),
               ("ioWaitTimeRecursive", "io_wait_time_recursive"),
               ("ioMergedRecursive", "io_merged_recursive"),
               ("ioTimeRecursive", "time_recursive"),
               ("sectorsRecursive", "sectors_recursive"))
# The file sets runc tries in turn; the first whose first file has entries wins.
_BLKIO_SETS = (
    ("blkio.bfq.", ("sectors_recursive", "io_service_time_recursive", "io_wait_time_recursive",
                    "io_merged_recursive", "io_queued_recursive", "time_recursive",
                    "io_serviced_recursive", "io_service_bytes_recursive")),
    ("blkio.bfq.", ("io_serviced_recursive", "io_service_bytes_recursive")),
    ("blkio.", ("sectors_recursive", "io_service_time_recursive", "io_wait_time_recursive",
                "io_merged_recursive", "io_queued_recursive", "time_recursive",
                "io_serviced_recursive", "io_service_bytes_recursive")),
    ("blkio.throttle.", ("io_serviced_recursive", "io_service_bytes_recursive")),
    ("blkio.throttle.", ("io_serviced", "io_service_bytes")),
)


def _blkio_v1(d):
    found = {}
    for prefix, names in _BLKIO_SETS:
        if not _blkio_entries(d, prefix + names[0]):
            continue
        for name in names:
            # the non-recursive throttle files fill the recursive keys (as in runc)
            suffix = name if name.endswith("_recursive") else name + "_recursive"
            found[suffix] = _blkio_entries(d, prefix + name)
        break
    b = {}
    for key, suffix in _BLKIO_KEYS:
        _put(b, key, found.get(suffix))
    return b


def _hugetlb_sizes(d, suffix):
    """Page sizes named by the files in `d` ("2MB", "1GB"), sorted as Go sorts map keys."""
    try:
        names = os.listdir(d) if d else []
    except OSError:
        return []
    sizes = {n.split(".")[1] for n in names
             if n.startswith("hugetlb.") and n.endswith(suffix) and n.count(".") == suffix.count(".") + 1}
    return sorted(sizes)


def _hugetlb_entry(usage, peak, failcnt):
    h = {}
    _put(h, "usage", usage)
    _put(h, "max", peak)
    h["failcnt"] = failcnt
    return h


def _stats(cpu, cpuset, memory, pids, blkio, hugetlb):
    return {"cpu": cpu, "cpuset": cpuset, "memory": memory, "pids": pids, "blkio": blkio,
            "hugetlb": hugetlb, "intel_rdt": {}, "network_interfaces": None}


# -- v1 -------------------------------------------------------------------------------------


def stats_v1(manager):
    cpu_d, acct_d = manager.path("cpu"), manager.path("cpuacct")
    percpu_k, percpu_u = [], []
    for ln in ((try_read(acct_d, "cpuacct.usage_all") if acct_d else None) or "").splitlines()[1:]:
        f = ln.split()
        if len(f) == 3 and f[0].isdigit():
            percpu_u.append(_int(f[1]))
            percpu_k.append(_int(f[2]))
    ticks = _keyed(acct_d, "cpuacct.stat")
    percpu = [_int(x) for x in ((try_read(acct_d, "cpuacct.usage_percpu") if acct_d else None) or "").split()]
    throttle = _keyed(cpu_d, "cpu.stat")
    cpu = {"usage": _usage(_uint(acct_d, "cpuacct.usage"), percpu, percpu_k, percpu_u,
                           ticks.get("system", 0) * _NS_PER_TICK, ticks.get("user", 0) * _NS_PER_TICK),
           "throttling": _throttling(throttle.get("nr_periods", 0), throttle.get("nr_throttled", 0),
                                     throttle.get("throttled_time", 0))}

    mem_d = manager.path("memory")
    memory = {}
    if mem_d:
        raw = _keyed(mem_d, "memory.stat")
        _put(memory, "cache", raw.get("cache", 0))
        for key, prefix in (("usage", "memory."), ("swap", "memory.memsw."), ("kernel", "memory.kmem."),
                            ("kernelTCP", "memory.kmem.tcp.")):
            memory[key] = _mem_entry(_uint(mem_d, prefix + "limit_in_bytes"), _uint(mem_d, prefix + "usage_in_bytes"),
                                     _uint(mem_d, prefix + "max_usage_in_bytes"), _uint(mem_d, prefix + "failcnt"))
        _put(memory, "raw", dict(sorted(raw.items())))
    else:
        memory = {k: _mem_entry() for k in ("usage", "swap", "kernel", "kernelTCP")}

    pids_d = manager.path("pids")
    pids = {}
    _put(pids, "current", _uint(pids_d, "pids.current"))
    limit = _uint(pids_d, "pids.max")
    _put(pids, "limit", 0 if limit == MAX_UINT64 else limit)

    huge_d = manager.path("hugetlb")
    hugetlb = {size: _hugetlb_entry(_uint(huge_d, f"hugetlb.{size}.usage_in_bytes"),
                                    _uint(huge_d, f"hugetlb.{size}.max_usage_in_bytes"),
                                    _uint(huge_d, f"hugetlb.{size}.failcnt"))
               for size in _hugetlb_sizes(huge_d, ".limit_in_bytes")}
    return _stats(cpu, _cpuset(manager.path("cpuset")), memory, pids, _blkio_v1(manager.path("blkio")), hugetlb)


# -- v2 -------------------------------------------------------------------------------------


def _io_v2(d):
    """io.stat 'MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=..' → runc's v1-shaped entries."""
    service_bytes, serviced = [], []
    for ln in (try_read(d, "io.stat") or "").splitlines():
        f = ln.split()
        if not f or ":" not in f[0]:
            continue
        ma, _, mi = f[0].partition(":")
        kv = dict(x.split("=", 1) for x in f[1:] if "=" in x)
        for key, op, dest in (("rbytes", "Read", service_bytes), ("wbytes", "Write", service_bytes),
                              ("rios", "Read", serviced), ("wios", "Write", serviced)):
            if key in kv:
                e = {}
                _put(e, "major", _int(ma))
                _put(e, "minor", _int(mi))
                e["op"] = op
                _put(e, "value", _int(kv[key]))
                dest.append(e)
    b = {}
    _put(b, "ioServiceBytesRecursive", service_bytes)
    _put(b, "ioServicedRecursive", serviced)
    return b


def stats_v2(d):
    """Stats of the cgroup2 directory `d` (runc's fs2 mapping onto the v1 shape)."""
    st = _keyed(d, "cpu.stat")
    cpu = {"usage": _usage(st.get("usage_usec", 0) * 1000, [], [], [], st.get("system_usec", 0) * 1000,
                           st.get("user_usec", 0) * 1000),
           "throttling": _throttling(st.get("nr_periods", 0), st.get("nr_throttled", 0),
                                     st.get("throttled_usec", 0) * 1000)}
    raw = _keyed(d, "memory.stat")
    memory = {}
    _put(memory, "cache", raw.get("file", 0))
    usage = _uint(d, "memory.current")
    limit = _uint(d, "memory.max") if try_read(d, "memory.max") is not None else MAX_UINT64
    swap_limit = _uint(d, "memory.swap.max") if try_read(d, "memory.swap.max") is not None else MAX_UINT64
    events = _keyed(d, "memory.events")
    memory["usage"] = _mem_entry(limit, usage, _uint(d, "memory.peak"), events.get("max", 0))
    # v1 reports swap as memory+swap; runc keeps that meaning on v2.
    memory["swap"] = _mem_entry(swap_limit if swap_limit == MAX_UINT64 else swap_limit + limit,
                                _uint(d, "memory.swap.current") + usage)
    memory["kernel"] = _mem_entry()
    memory["kernelTCP"] = _mem_entry()
    _put(memory, "raw", dict(sorted(raw.items())))

    pids = {}
    _put(pids, "current", _uint(d, "pids.current"))
    limit = _uint(d, "pids.max")
    _put(pids, "limit", 0 if limit == MAX_UINT64 else limit)

    hugetlb = {size: _hugetlb_entry(_uint(d, f"hugetlb.{size}.current"), 0,
                                    _keyed(d, f"hugetlb.{size}.events").get("max", 0))
               for size in _hugetlb_sizes(d, ".max")}
    cpuset = {"cpu_exclusive": 0, "mem_hardwall": 0, "mem_exclusive": 0, "memory_migrate": 0,
              "memory_spread_page": 0, "memory_spread_slab": 0, "memory_pressure": 0,
              "sched_load_balance": 0, "sched_relax_domain_level": 0}
    return _stats(cpu, cpuset, memory, pids, _io_v2(d), hugetlb)
