"""Per-process attributes the container init sets just before exec.

Each set_* function takes its part of config.json and applies it to the
calling process. They run inside the container after the root switch, where
sys.meta_path is empty: everything needed is imported here at the top and no
function imports. Config problems raise InvalidSpec naming the field; failed
system calls raise SyscallError whose detail names the field.

Order the caller should use (runc's): set_rlimits and set_oom_score_adj while
still privileged (raising a hard limit or lowering oom_score_adj needs
CAP_SYS_RESOURCE), set_user between capabilities.keep_caps_for_setuid() and
capabilities.after_setuid(), set_no_new_privs last before seccomp/exec.
"""
import _json  # noqa: F401 - errors.quote escapes with it, here where nothing can be imported
import errno
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)
import resource

from ocirun import cpulist, fileio, syscalls
from ocirun.errors import InvalidSpec, SyscallError, quote

# getrlimit(2) resource numbers (asm-generic, x86 and arm share them).
RLIMITS = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}

PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}

SCHED_POLICIES = {
    "SCHED_OTHER": 0,
    "SCHED_FIFO": 1,
    "SCHED_RR": 2,
    "SCHED_BATCH": 3,
    "SCHED_ISO": 4,  # reserved by the kernel, never implemented: sched_setattr says EINVAL
    "SCHED_IDLE": 5,
    "SCHED_DEADLINE": 6,
}
SCHED_FLAGS = {
    "SCHED_FLAG_RESET_ON_FORK": 0x01,
    "SCHED_FLAG_RECLAIM": 0x02,
    "SCHED_FLAG_DL_OVERRUN": 0x04,
    "SCHED_FLAG_KEEP_POLICY": 0x08,
    "SCHED_FLAG_KEEP_PARAMS": 0x10,
    "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
    "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40,
}

IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
IOPRIO_WHO_PROCESS = 1
IOPRIO_CLASS_SHIFT = 13

MPOL_MODES = {
    "MPOL_DEFAULT": 0,
    "MPOL_PREFERRED": 1,
    "MPOL_BIND": 2,
    "MPOL_INTERLEAVE": 3,
    "MPOL_LOCAL": 4,
    "MPOL_PREFERRED_MANY": 5,
    "MPOL_WEIGHTED_INTERLEAVE": 6,
}
MPOL_FLAGS = {
    "MPOL_F_STATIC_NODES": 1 << 15,
    "MPOL_F_RELATIVE_NODES": 1 << 14,
    "MPOL_F_NUMA_BALANCING": 1 << 13,
}
MPOL_NO_NODES = ("MPOL_DEFAULT", "MPOL_LOCAL")
MPOL_NEED_NODES = ("MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED_MANY")

DEFAULT_UMASK = 0o022  # runc's, when process.user.umask is absent
_U64_MAX = (1 << 64) - 1
_ID_MAX = (1 << 32) - 2  # (uid_t)-1 means "leave unchanged" to setresuid: never a real id
_MAX_CPU = 1 << 16  # far above NR_CPUS/MAX_NUMNODES; stops "0-4000000000" from eating memory


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _int(v):
    return v if _is_int(v) else 0


def _need_int(v, path, lo, hi):
    if not _is_int(v) or not lo <= v <= hi:
        raise InvalidSpec(path, f"must be an integer from {lo} to {hi}, got {v!r}")
    return v


# process.rlimits

def parse_rlimits(rlimits):
    """[(resource, soft, hard)] from process.rlimits, checked: every type maps to
    a kernel resource, no type twice (config.md#posix-process), soft <= hard
    (setrlimit(2) EINVAL). The one rlimit check: spec.validate calls it for
    config.json, the init for exec's --process; safe to call before fork."""
    out = []
    seen = {}
    for i, rl in enumerate(rlimits or ()):
        base = f"process.rlimits[{i}]"
        rl = rl if isinstance(rl, dict) else {}
        name = rl.get("type")
        if name not in RLIMITS:
            raise InvalidSpec(f"{base}.type", f"wrong rlimit value: {quote(name)}")
        if name in seen:
            raise InvalidSpec(f"{base}.type",
                              f"duplicate rlimit {quote(name)} (first at process.rlimits[{seen[name]}])")
        seen[name] = i
        soft = _need_int(rl.get("soft"), f"{base}.soft", 0, _U64_MAX)
        hard = _need_int(rl.get("hard"), f"{base}.hard", 0, _U64_MAX)
        if soft > hard:
            raise InvalidSpec(f"{base}.soft", f"soft limit {soft} is greater than hard limit {hard}")
        out.append((RLIMITS[name], soft, hard))
    return out


def _to_rlim(v):
    # The resource module takes signed 64-bit values; the kernel reads them back
    # as unsigned, so 2**64-1 (RLIM_INFINITY) travels as -1.
    return v - (1 << 64) if v >= 1 << 63 else v


def set_rlimits(rlimits):
    """Apply process.rlimits to this process; a refused limit names process.rlimits[i]."""
    for i, (res, soft, hard) in enumerate(parse_rlimits(rlimits)):
        try:
            resource.prlimit(0, res, (_to_rlim(soft), _to_rlim(hard)))
        except ValueError:  # the resource module's spelling of EINVAL
            err = errno.EINVAL
        except OSError as e:
            err = e.errno
        else:
            continue
        raise SyscallError(f"error setting rlimit type {res}", err,
                           detail=f"process.rlimits[{i}] {rlimits[i]['type']}")


# process.oomScoreAdj

def oom_score_adj_path(pid="self"):
    """/proc/<pid>/oom_score_adj: the parent may write the init's from outside."""
    return f"/proc/{pid}/oom_score_adj"


def set_oom_score_adj(value, pid="self"):
    """Write process.oomScoreAdj for `pid` (needs the host /proc: call before the root switch)."""
    _need_int(value, "process.oomScoreAdj", -1000, 1000)
    path = oom_score_adj_path(pid)
    try:
        fileio.write_value(path, b"%d" % value)
    except OSError as e:
        raise SyscallError("write", e.errno, path, detail="process.oomScoreAdj") from None


# process.noNewPrivileges

def set_no_new_privs():
    """PR_SET_NO_NEW_PRIVS (process.noNewPrivileges true); cannot be undone."""
    try:
        syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    except OSError as e:
        raise SyscallError("prctl(PR_SET_NO_NEW_PRIVS)", e.errno, detail="process.noNewPrivileges") from None


# linux.personality

def personality_value(p):
    """The personality(2) argument for linux.personality (validated)."""
    domain = p.get("domain")
    value = PERSONALITY_DOMAINS.get(domain) if isinstance(domain, str) else None
    if value is None:
        raise InvalidSpec("linux.personality.domain", f"unknown personality domain {quote(domain)}")
    # Flags: the spec defines none yet; ignored with a warning (spec.validate),
    # as runc does.
    return value


def set_personality(p):
    value = personality_value(p)
    try:
        syscalls.personality(value)
    except OSError as e:
        raise SyscallError("personality", e.errno, detail="linux.personality") from None


# process.scheduler

def check_scheduler(s):
    """process.scheduler: a known policy and flags; the kernel's rules for
    nice, priority and the SCHED_DEADLINE triple (sched_setattr(2)). The one
    check: spec.validate calls it for config.json, scheduler_args for exec's
    --process (whose types the schema checked)."""
    base = "process.scheduler"
    policy = s.get("policy")
    if not policy:
        raise InvalidSpec(f"{base}.policy", "scheduler policy is required")
    if not isinstance(policy, str) or policy not in SCHED_POLICIES:
        raise InvalidSpec(f"{base}.policy", f"unknown scheduler policy {quote(policy)}")
    nice = _int(s.get("nice"))
    if not -20 <= nice <= 19:
        raise InvalidSpec(f"{base}.nice", f"nice {nice} is out of range [-20, 19]")
    prio = _int(s.get("priority"))
    if policy in ("SCHED_FIFO", "SCHED_RR"):
        if not 1 <= prio <= 99:
            raise InvalidSpec(f"{base}.priority", f"priority {prio} is out of range [1, 99] for {policy}")
    elif prio:
        raise InvalidSpec(f"{base}.priority", "priority can only be set for SCHED_FIFO or SCHED_RR")
    runtime, deadline, period = (_int(s.get(k)) for k in ("runtime", "deadline", "period"))
    if policy != "SCHED_DEADLINE":
        for key, value in (("runtime", runtime), ("deadline", deadline), ("period", period)):
            if value:
                raise InvalidSpec(f"{base}.{key}", f"{key} can only be set for SCHED_DEADLINE")
    else:
        if deadline <= 0:
            raise InvalidSpec(f"{base}.deadline", "deadline is required for SCHED_DEADLINE")
        if runtime < 1024:
            raise InvalidSpec(f"{base}.runtime", "runtime must be at least 1024 ns for SCHED_DEADLINE")
        if runtime > deadline:
            raise InvalidSpec(f"{base}.runtime", "runtime must not be greater than deadline")
        if period and deadline > period:
            raise InvalidSpec(f"{base}.deadline", "deadline must not be greater than period")
    for i, flag in enumerate(s.get("flags") or ()):
        if not isinstance(flag, str) or flag not in SCHED_FLAGS:
            raise InvalidSpec(f"{base}.flags[{i}]", f"unknown scheduler flag {quote(flag)}")


def scheduler_args(s):
    """sched_setattr keyword arguments for process.scheduler (checked; the kernel checks the rest)."""
    check_scheduler(s)
    flags = 0
    for flag in s.get("flags") or ():
        flags |= SCHED_FLAGS[flag]
    args = {"policy": SCHED_POLICIES[s["policy"]], "flags": flags}
    for key in ("nice", "priority", "runtime", "deadline", "period"):
        # only the type is left to see: the ranges passed check_scheduler
        args[key] = _need_int(s.get(key, 0), f"process.scheduler.{key}", -20, _U64_MAX)
    return args


def set_scheduler(s):
    args = scheduler_args(s)
    try:
        syscalls.sched_setattr(0, **args)
    except OSError as e:
        raise SyscallError("sched_setattr", e.errno, detail=f"process.scheduler {s.get('policy')}") from None


# process.ioPriority

def check_io_priority(p):
    """process.ioPriority: a known class, priority 0 (highest) to 7 (lowest).
    The one check: spec.validate calls it, and ioprio_value."""
    cls = p.get("class")
    if not isinstance(cls, str) or cls not in IOPRIO_CLASSES:
        raise InvalidSpec("process.ioPriority.class", f"unknown ioPriority class {quote(cls)}")
    prio = _int(p.get("priority"))
    if not 0 <= prio <= 7:
        raise InvalidSpec("process.ioPriority.priority", f"priority {prio} is out of range [0, 7]")


def ioprio_value(p):
    check_io_priority(p)
    prio = _need_int(p.get("priority"), "process.ioPriority.priority", 0, 7)
    return IOPRIO_CLASSES[p["class"]] << IOPRIO_CLASS_SHIFT | prio


def set_io_priority(p):
    value = ioprio_value(p)
    try:
        syscalls.ioprio_set(IOPRIO_WHO_PROCESS, 0, value)
    except OSError as e:
        raise SyscallError("ioprio_set", e.errno, detail="process.ioPriority") from None


# process.execCPUAffinity, linux.memoryPolicy.nodes

def id_ranges(text, path, what="CPU"):
    """cpulist.ranges(text); a malformed list raises InvalidSpec(path) ("invalid CPU list '1-'")."""
    try:
        return cpulist.ranges(text)
    except ValueError:
        raise InvalidSpec(path, f"invalid {what} list {quote(text)}") from None


def parse_cpu_list(s, path="process.execCPUAffinity", what="CPU"):
    """'0-3,7' -> {0, 1, 2, 3, 7}; '' -> set(). Malformed lists, and numbers
    no machine has, raise InvalidSpec(path)."""
    out = set()
    for a, b in id_ranges(s, path, what):
        if b >= _MAX_CPU:
            raise InvalidSpec(path, f"invalid {what} list {quote(s)}: {b} is too large")
        out.update(range(a, b + 1))
    return out


def set_exec_cpu_affinity(a, initial):
    """Pin to execCPUAffinity.initial (initial=True) or .final; absent/empty: leave as is."""
    field = "initial" if initial else "final"
    value = (a or {}).get(field)
    if not value:
        return
    path = f"process.execCPUAffinity.{field}"
    cpus = parse_cpu_list(value, path)
    try:
        os.sched_setaffinity(0, cpus)
    except OSError as e:
        raise SyscallError("sched_setaffinity", e.errno, detail=f"{path} {value!r}") from None


# linux.memoryPolicy

def check_memory_policy(mp):
    """linux.memoryPolicy: known mode and flags, and set_mempolicy(2)'s rules:
    STATIC and RELATIVE exclude each other, NUMA_BALANCING needs BIND (or
    PREFERRED_MANY on newer kernels), DEFAULT/LOCAL take no nodes, BIND,
    INTERLEAVE, WEIGHTED_INTERLEAVE and PREFERRED_MANY need some. The one
    check: spec.validate calls it, and mempolicy_args."""
    base = "linux.memoryPolicy"
    mode = mp.get("mode")
    if not isinstance(mode, str) or mode not in MPOL_MODES:
        raise InvalidSpec(f"{base}.mode", f"unknown memory policy mode {quote(mode)}")
    flags = mp.get("flags") if isinstance(mp.get("flags"), list) else []
    for i, flag in enumerate(flags):
        if not isinstance(flag, str) or flag not in MPOL_FLAGS:
            raise InvalidSpec(f"{base}.flags[{i}]", f"unknown memory policy flag {quote(flag)}")
    if "MPOL_F_STATIC_NODES" in flags and "MPOL_F_RELATIVE_NODES" in flags:
        raise InvalidSpec(f"{base}.flags",
                          "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES are mutually exclusive")
    if "MPOL_F_NUMA_BALANCING" in flags and mode not in ("MPOL_BIND", "MPOL_PREFERRED_MANY"):
        raise InvalidSpec(f"{base}.flags", f"MPOL_F_NUMA_BALANCING cannot be used with {mode}")
    if mode == "MPOL_LOCAL" and ("MPOL_F_STATIC_NODES" in flags or "MPOL_F_RELATIVE_NODES" in flags):
        raise InvalidSpec(f"{base}.flags", "MPOL_LOCAL takes no node flags")
    text = mp.get("nodes")
    nodes = id_ranges(text, f"{base}.nodes", "node") if isinstance(text, str) else []
    if mode in MPOL_NO_NODES and nodes:
        raise InvalidSpec(f"{base}.nodes", f"{mode} takes no nodes")
    if mode in MPOL_NEED_NODES and not nodes:
        raise InvalidSpec(f"{base}.nodes", f"{mode} needs at least one node")


def mempolicy_args(mp):
    """(mode | flags, nodes) for linux.memoryPolicy (checked)."""
    check_memory_policy(mp)
    nodes = parse_cpu_list(mp.get("nodes") or "", "linux.memoryPolicy.nodes", "node")
    flags = 0
    for flag in mp.get("flags") or ():
        flags |= MPOL_FLAGS[flag]
    return MPOL_MODES[mp["mode"]] | flags, nodes


def set_memory_policy(mp):
    mode, nodes = mempolicy_args(mp)
    try:
        syscalls.set_mempolicy(mode, nodes)
    except OSError as e:
        raise SyscallError("set_mempolicy", e.errno, detail=f"linux.memoryPolicy {mp.get('mode')}") from None


# process.user

def user_ids(user):
    """(uid, gid, additional gids, umask) from process.user, numeric only (validated).

    Names are never looked up (CVE-2016-3697: a numeric-looking name in the
    container's /etc/passwd could map "0" elsewhere); the schema demands ints.
    """
    uid = _need_int(user.get("uid"), "process.user.uid", 0, _ID_MAX)
    gid = _need_int(user.get("gid"), "process.user.gid", 0, _ID_MAX)
    groups = [_need_int(g, f"process.user.additionalGids[{i}]", 0, _ID_MAX)
              for i, g in enumerate(user.get("additionalGids") or ())]
    umask = user.get("umask")
    # Any uint32, as runc: umask(2) keeps the permission bits.
    umask = DEFAULT_UMASK if umask is None else _need_int(umask, "process.user.umask", 0, 2**32 - 1) & 0o777
    return uid, gid, groups, umask


def set_user(user, allow_setgroups=True):
    """setgroups, setresgid, setresuid, umask (runc's order, runc's 0022 default umask).

    allow_setgroups=False is for a user namespace whose /proc/self/setgroups
    says "deny": then only an empty additionalGids is possible.
    """
    uid, gid, groups, umask = user_ids(user)
    if allow_setgroups:
        _call(os.setgroups, groups, op="setgroups", field="process.user.additionalGids")
    elif groups:
        raise InvalidSpec("process.user.additionalGids",
                          "cannot set additional groups: setgroups is denied in this user namespace")
    _call(os.setresgid, gid, gid, gid, op="setresgid", field="process.user.gid")
    _call(os.setresuid, uid, uid, uid, op="setresuid", field="process.user.uid")
    os.umask(umask)


def _call(fn, *args, op, field):
    try:
        fn(*args)
    except OSError as e:
        raise SyscallError(op, e.errno, detail=field) from None
