"""Semantic checks of config.json that the JSON schema cannot express.

runc style: a flat list of small check functions (CHECKS), run in order; the
first problem raises InvalidSpec(json_path, message). The config is assumed to
have passed the schema, but every optional part may be missing.

Where runc and the spec disagree, the spec wins and the choice is noted at the
check. Problems the spec says to warn about (unknown capabilities, relative
mount destinations, personality flags) go to `warn(path, message)`.
"""

from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)

# A table or check of what another module applies lives there, once, and is
# called from here (procattrs, mountopts, namespaces, seccomp, paths).
from ocirun import fastjson as json
from ocirun import mountopts, procattrs
from ocirun.errors import InvalidSpec, os_error, quote
from ocirun.namespaces import ORDER as NAMESPACE_TYPES
from ocirun.paths import clean


HOOK_KINDS = (
    "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
)
DEVICE_TYPES = ("c", "b", "u", "p")
TIME_CLOCKS = ("monotonic", "boottime")

# sysctls owned by the ipc namespace (ipc_namespaces(7)); fs.mqueue.* too.
IPC_SYSCTLS = frozenset((
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
    "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
))

UID_MAP_MAX_LINES = 340  # kernel limit on uid_map/gid_map lines (since 4.15)
ID_LIMIT = 1 << 32
HOST_NAME_MAX = 64  # utsname field length (sethostname/setdomainname)
IFNAMSIZ = 16
MAJOR_MAX = (1 << 12) - 1  # kernel dev_t: 12-bit major, 20-bit minor
MINOR_MAX = (1 << 20) - 1


# ---- helpers ---------------------------------------------------------------



def _key(base, key):
    """JSON path of a map entry: a.b for plain keys, a["x.y"] otherwise."""
    if key.isidentifier() and key.isascii():
        return f"{base}.{key}" if base else key
    return f"{base}[{json.dumps(key)}]"


def _obj(value):
    return value if isinstance(value, dict) else {}


def _arr(value):
    return value if isinstance(value, list) else []


def _int(value, default=0):
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _valid_ifname(name):
    """The kernel's dev_valid_name(): 1..15 bytes, not . or .., no '/', ':' or space."""
    if not name or len(name.encode()) >= IFNAMSIZ or name in (".", ".."):
        return False
    return not any(ch in "/: \t\n\v\f\r" for ch in name)


def _default_warn(path, message):
    # Logged, not printed: during `create` stderr may be the container's stdio.
    import logging

    where = f"config.json: {path}: " if path else "config.json: "
    logging.getLogger("ocirun").warning("%s%s", where, message)


class Context:
    """What every check sees: the config, its bundle, and the namespace table."""

    def __init__(self, config, bundle, warn=None, need_process=True):
        self.config = config
        self.bundle = bundle
        self.warn = warn or _default_warn
        self.need_process = need_process
        self.linux = _obj(config.get("linux"))
        self.process = config.get("process")
        # type -> path ("" for a new namespace) and type -> index; first entry wins,
        # check_namespaces reports duplicates.
        self.ns = {}
        self.ns_index = {}
        for i, ns in enumerate(_arr(self.linux.get("namespaces"))):
            t = _obj(ns).get("type")
            if isinstance(t, str) and t not in self.ns:
                path = _obj(ns).get("path")
                self.ns[t] = path if isinstance(path, str) else ""
                self.ns_index[t] = i


# ---- checks ----------------------------------------------------------------

def check_nul(cx):
    """No string (key or value) may hold a NUL byte: no kernel interface takes one.
    Annotations are opaque metadata and are left alone."""
    def walk(value, path):
        if isinstance(value, str):
            if "\0" in value:
                raise InvalidSpec(path, "contains a NUL byte")
        elif isinstance(value, dict):
            for k, v in value.items():
                sub = _key(path, k)
                if "\0" in k:
                    raise InvalidSpec(sub, "key contains a NUL byte")
                if not path and k == "annotations":
                    continue
                walk(v, sub)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    walk(cx.config, "")


def check_root(cx):
    """root.path MUST name an existing directory (config.md#root)."""
    if cx.bundle is None:
        return
    from ocirun.spec.loader import rootfs_path

    rootfs_path(cx.config, cx.bundle)


def check_process(cx):
    """process is REQUIRED for start; args needs one entry; cwd MUST be absolute
    (config.md#process)."""
    p = cx.process
    if p is None:
        if cx.need_process:
            raise InvalidSpec("process", "process property must not be empty")
        return
    p = _obj(p)
    if not _arr(p.get("args")):
        raise InvalidSpec("process.args", "args must not be empty")
    cwd = p.get("cwd")
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        raise InvalidSpec("process.cwd", "cwd must be an absolute path")
    _check_env(p.get("env"), "process.env")


def _check_env(env, base):
    for i, entry in enumerate(_arr(env)):
        if not isinstance(entry, str) or "=" not in entry:
            raise InvalidSpec(f"{base}[{i}]", f"invalid environment variable {quote(entry)}: missing '='")
        if entry.startswith("="):
            raise InvalidSpec(f"{base}[{i}]", f"environment variable name can't be empty: {quote(entry)}")


def check_rlimits(cx):
    """Every rlimit type maps to a kernel resource, no type twice
    (config.md#posix-process), and soft <= hard: procattrs.parse_rlimits."""
    procattrs.parse_rlimits(_arr(_obj(cx.process).get("rlimits")))


def check_capabilities(cx):
    """Unknown capability names are only a warning (config.md#linux-process:
    MUST be logged as a warning, SHOULD NOT fail; runc does the same)."""
    from ocirun.captable import CAPABILITIES

    caps = _obj(_obj(cx.process).get("capabilities"))
    for which in ("bounding", "effective", "inheritable", "permitted", "ambient"):
        for i, name in enumerate(_arr(caps.get(which))):
            if name not in CAPABILITIES:
                cx.warn(f"process.capabilities.{which}[{i}]", f"unknown capability {quote(name)} is ignored")


def check_oom_score_adj(cx):
    """oom_score_adj takes -1000..1000 (proc(5))."""
    value = _obj(cx.process).get("oomScoreAdj")
    if isinstance(value, int) and not -1000 <= value <= 1000:
        raise InvalidSpec("process.oomScoreAdj", f"oomScoreAdj {value} is out of range [-1000, 1000]")


def check_scheduler(cx):
    """process.scheduler: procattrs.check_scheduler."""
    s = _obj(cx.process).get("scheduler")
    if isinstance(s, dict):
        procattrs.check_scheduler(s)


def check_io_priority(cx):
    """process.ioPriority: procattrs.check_io_priority."""
    io = _obj(cx.process).get("ioPriority")
    if isinstance(io, dict):
        procattrs.check_io_priority(io)


def check_cpu_affinity(cx):
    """process.execCPUAffinity: CPU lists such as "0-3,7"."""
    aff = _obj(_obj(cx.process).get("execCPUAffinity"))
    for key in ("initial", "final"):
        text = aff.get(key)
        if isinstance(text, str):
            procattrs.id_ranges(text, f"process.execCPUAffinity.{key}")


def check_namespaces(cx):
    """Known types, no type twice, `path` absolute (config-linux.md#namespaces)."""
    seen = {}
    for i, ns in enumerate(_arr(cx.linux.get("namespaces"))):
        ns = _obj(ns)
        base = f"linux.namespaces[{i}]"
        t = ns.get("type")
        if t not in NAMESPACE_TYPES:
            raise InvalidSpec(f"{base}.type", f"unknown namespace type {quote(t)}")
        if t in seen:
            raise InvalidSpec(f"{base}.type", f"duplicate namespace {quote(t)}")
        seen[t] = i
        path = ns.get("path")
        # An empty path means "new namespace", as in runc (Go's zero value).
        if path and not path.startswith("/"):
            raise InvalidSpec(f"{base}.path", "namespace path must be absolute")


def _check_id_mappings(maps, base):
    """size >= 1, ranges inside 32 bits, no overlap on either side (user_namespaces(7))."""
    maps = _arr(maps)
    if len(maps) > UID_MAP_MAX_LINES:
        raise InvalidSpec(base, f"too many mappings ({len(maps)} > {UID_MAP_MAX_LINES})")
    ranges = []
    for i, m in enumerate(maps):
        m = _obj(m)
        cid, hid, size = _int(m.get("containerID")), _int(m.get("hostID")), _int(m.get("size"))
        if size < 1:
            raise InvalidSpec(f"{base}[{i}].size", "mapping size must be at least 1")
        for key, start in (("containerID", cid), ("hostID", hid)):
            if start + size > ID_LIMIT:
                raise InvalidSpec(f"{base}[{i}].size", f"{key} range exceeds {ID_LIMIT - 1}")
        for j, (ocid, ohid, osize) in enumerate(ranges):
            for key, a, b in (("containerID", cid, ocid), ("hostID", hid, ohid)):
                if a < b + osize and b < a + size:
                    raise InvalidSpec(f"{base}[{i}].{key}", f"{key} range overlaps {base}[{j}]")
        ranges.append((cid, hid, size))
    return ranges


def check_user_namespace(cx):
    """A new user namespace needs uid and gid mappings; mappings without a user
    namespace are ignored, with a warning (runc drops them too); the process
    uid/gid must be mapped (setresuid EINVAL)."""
    uidm, gidm = cx.linux.get("uidMappings"), cx.linux.get("gidMappings")
    if "user" not in cx.ns:
        for key, maps in (("uidMappings", uidm), ("gidMappings", gidm)):
            if maps:
                cx.warn(f"linux.{key}", "no user namespace in the config: the mappings are ignored")
        return
    uid_ranges = _check_id_mappings(uidm, "linux.uidMappings")
    gid_ranges = _check_id_mappings(gidm, "linux.gidMappings")
    if cx.ns["user"]:
        return  # joined: the namespace already has its mappings
    if not uid_ranges:
        raise InvalidSpec("linux.uidMappings", "user namespace enabled, but no uid mappings found")
    if not gid_ranges:
        raise InvalidSpec("linux.gidMappings", "user namespace enabled, but no gid mappings found")
    if not isinstance(cx.process, dict):
        return
    user = _obj(cx.process.get("user"))
    for key, ranges in (("uid", uid_ranges), ("gid", gid_ranges)):
        ident = _int(user.get(key))
        if not any(c <= ident < c + n for c, _, n in ranges):
            raise InvalidSpec(f"process.user.{key}", f"{key} {ident} is not mapped in the user namespace")


def check_uts(cx):
    """hostname/domainname need a uts namespace in the config (runc: joined
    ones count too); sethostname(2) takes at most 64 bytes."""
    for key in ("hostname", "domainname"):
        value = cx.config.get(key)
        if not isinstance(value, str) or not value:
            continue
        if "uts" not in cx.ns:
            raise InvalidSpec(key, f"unable to set {key} without a private UTS namespace")
        if len(value.encode()) > HOST_NAME_MAX:
            raise InvalidSpec(key, f"{key} is longer than {HOST_NAME_MAX} bytes")


def check_time_namespace(cx):
    """timeOffsets need a new time namespace; only the monotonic and boottime
    clocks can be offset, with nanosecs below one second (time_namespaces(7))."""
    offsets = _obj(cx.linux.get("timeOffsets"))
    if not offsets:
        return
    if "time" not in cx.ns:
        raise InvalidSpec("linux.timeOffsets",
                          "time namespace offsets specified, but no time namespace in the config")
    if cx.ns["time"]:
        raise InvalidSpec("linux.timeOffsets",
                          "time offsets cannot be set when joining an existing time namespace")
    for clock, value in offsets.items():
        base = _key("linux.timeOffsets", clock)
        if clock not in TIME_CLOCKS:
            raise InvalidSpec(base, f"unknown clock {quote(clock)} (only monotonic and boottime)")
        nsec = _int(_obj(value).get("nanosecs"))
        if not 0 <= nsec < 1_000_000_000:
            raise InvalidSpec(f"{base}.nanosecs", "nanosecs must be less than 1000000000")


def sysctl_path(name):
    """The /proc/sys-relative path of a sysctl name; both "a.b.c" and "a/b/c"
    are accepted (sysctl.d(5)): in the dotted form a '/' stands for a '.'."""
    first = min((i for i in (name.find("."), name.find("/")) if i >= 0), default=-1)
    if first >= 0 and name[first] == ".":
        return name.translate(str.maketrans("./", "/."))
    return name


def _host_netns(path):
    st1 = os.stat("/proc/self/ns/net")
    st2 = os.stat(path)
    return (st1.st_dev, st1.st_ino) == (st2.st_dev, st2.st_ino)


def check_sysctl(cx):
    """Only namespaced sysctls, and only with their namespace (runc's rules):
    ipc ones with an ipc namespace, net.* with a network namespace that is not
    the runtime's, kernel.domainname with a uts namespace; kernel.hostname
    conflicts with the hostname field."""
    host_net = None
    for name in _obj(cx.linux.get("sysctl")):
        base = _key("linux.sysctl", name)
        path = sysctl_path(name)
        if not name or any(part in ("", ".", "..") for part in path.split("/")):
            raise InvalidSpec(base, f"invalid sysctl name {quote(name)}")
        dotted = path.translate(str.maketrans("./", "/."))
        if dotted in IPC_SYSCTLS or dotted.startswith("fs.mqueue."):
            if "ipc" not in cx.ns:
                raise InvalidSpec(base, f"sysctl {quote(dotted)} is not allowed in the host's ipc namespace")
            continue
        if dotted.startswith("net."):
            if host_net is None:
                host_net = "network" not in cx.ns
                if not host_net and cx.ns["network"]:
                    ns_path = cx.ns["network"]
                    try:
                        host_net = _host_netns(ns_path)
                    except OSError as e:
                        where = f"linux.namespaces[{cx.ns_index['network']}].path"
                        raise InvalidSpec(where, f"invalid netns path: {os_error('stat', e, ns_path)}") from None
            if host_net:
                raise InvalidSpec(base,
                                  f"sysctl {quote(dotted)} is not allowed in the host's network namespace")
            continue
        if "uts" in cx.ns:
            if dotted == "kernel.domainname":
                continue
            if dotted == "kernel.hostname":
                raise InvalidSpec(base, f"sysctl {quote(dotted)} is not allowed as it conflicts"
                                        " with the 'hostname' field")
        raise InvalidSpec(base, f"sysctl {quote(dotted)} is not in a separate kernel namespace")


def check_mounts(cx):
    """Mount destinations (config.md#mounts): relative ones are deprecated but
    allowed (relative to /, a warning), empty or / is an error; a bind mount
    needs a source; idmapped mounts (config.md#posix-platform-mounts) need
    uidMappings and gidMappings together, or the `idmap` option and a user
    namespace, and (like runc) must be bind mounts."""
    for i, m in enumerate(_arr(cx.config.get("mounts"))):
        m = _obj(m)
        base = f"mounts[{i}]"
        dest = m.get("destination")
        if not isinstance(dest, str) or not dest:
            raise InvalidSpec(f"{base}.destination", "mount destination must not be empty")
        if not clean(dest):  # "", "/", "/a/..": the root itself
            raise InvalidSpec(f"{base}.destination", f"mount destination {dest} is on the top of rootfs")
        if not dest.startswith("/"):
            cx.warn(f"{base}.destination",
                    "relative mount destination is deprecated, using it as relative to /")
        opts = [o for o in _arr(m.get("options")) if isinstance(o, str)]
        is_bind = "bind" in opts or "rbind" in opts or m.get("type") == "bind"
        if is_bind and not m.get("source"):
            raise InvalidSpec(f"{base}.source", "bind mount needs a source")
        has_uid, has_gid = m.get("uidMappings") is not None, m.get("gidMappings") is not None
        if has_uid != has_gid:
            missing = "gidMappings" if has_uid else "uidMappings"
            raise InvalidSpec(f"{base}.{missing}", "uidMappings and gidMappings must be specified together")
        idmap_opt = "idmap" in opts or "ridmap" in opts
        if not (has_uid or idmap_opt):
            continue
        if not is_bind:
            raise InvalidSpec(f"{base}.options", "idmapped mounts are only supported for bind mounts")
        if has_uid:
            for key in ("uidMappings", "gidMappings"):
                if not _check_id_mappings(m.get(key), f"{base}.{key}"):
                    raise InvalidSpec(f"{base}.{key}", f"{key} must not be empty")
        elif "user" not in cx.ns:
            raise InvalidSpec(f"{base}.options",
                              "idmap without uidMappings/gidMappings needs a user namespace")


def check_devices(cx):
    """linux.devices (config-linux.md#devices): type c, b, u or p; major and
    minor REQUIRED unless p; path a full path. The spec lets devices live
    outside /dev, so only absoluteness is checked."""
    for i, d in enumerate(_arr(cx.linux.get("devices"))):
        d = _obj(d)
        base = f"linux.devices[{i}]"
        t = d.get("type")
        if t not in DEVICE_TYPES:
            raise InvalidSpec(f"{base}.type", f"invalid device type {quote(t)}")
        path = d.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidSpec(f"{base}.path", "device path must be absolute")
        if not clean(path):
            raise InvalidSpec(f"{base}.path", "device path must not be /")
        if t == "p":
            continue
        for key, top in (("major", MAJOR_MAX), ("minor", MINOR_MAX)):
            value = d.get(key)
            if not isinstance(value, int):
                raise InvalidSpec(f"{base}.{key}", f"{key} is required for device type {quote(t)}")
            if not 0 <= value <= top:
                raise InvalidSpec(f"{base}.{key}", f"{key} {value} is out of range [0, {top}]")


def check_masked_paths(cx):
    """maskedPaths/readonlyPaths MUST be absolute (config-linux.md#masked-paths)
    and need a mount namespace (runc)."""
    for key, what in (("maskedPaths", "masked"), ("readonlyPaths", "readonly")):
        paths = _arr(cx.linux.get(key))
        for i, path in enumerate(paths):
            if not isinstance(path, str) or not path.startswith("/"):
                raise InvalidSpec(f"linux.{key}[{i}]", f"{what} path must be absolute")
        if paths and "mount" not in cx.ns:
            raise InvalidSpec(f"linux.{key}",
                              "unable to restrict sys entries without a private mount namespace")


def check_seccomp(cx):
    """linux.seccomp: seccomp.check (the tables and rules live with the code
    that applies them; only loaded with seccomp). Syscall names are checked
    later, by libseccomp."""
    sc = cx.linux.get("seccomp")
    if isinstance(sc, dict):
        from ocirun import seccomp

        seccomp.check(sc)


def check_hooks(cx):
    """Hook `path` MUST be absolute; `timeout`, if set, MUST be > 0
    (config.md#posix-platform-hooks)."""
    hooks = _obj(cx.config.get("hooks"))
    for kind in HOOK_KINDS:
        for i, hook in enumerate(_arr(hooks.get(kind))):
            hook = _obj(hook)
            base = f"hooks.{kind}[{i}]"
            path = hook.get("path")
            if not isinstance(path, str) or not path.startswith("/"):
                raise InvalidSpec(f"{base}.path", "hook path must be absolute")
            timeout = hook.get("timeout")
            if timeout is not None and _int(timeout) <= 0:
                raise InvalidSpec(f"{base}.timeout", "timeout must be greater than zero")
            _check_env(hook.get("env"), f"{base}.env")


def check_personality(cx):
    """linux.personality: domain LINUX or LINUX32; flags are not supported
    (the spec defines none; runc warns and ignores them)."""
    pers = cx.linux.get("personality")
    if not isinstance(pers, dict):
        return
    procattrs.personality_value(pers)
    if _arr(pers.get("flags")):
        cx.warn("linux.personality.flags", "personality flags are not supported and are ignored")


def check_rootfs_propagation(cx):
    """linux.rootfsPropagation (config-linux.md#rootfs-mount-propagation):
    mountopts.propagation_flags knows the names."""
    value = cx.linux.get("rootfsPropagation")
    if value:
        mountopts.propagation_flags(value)


def check_memory_policy(cx):
    """linux.memoryPolicy: procattrs.check_memory_policy."""
    mp = cx.linux.get("memoryPolicy")
    if isinstance(mp, dict):
        procattrs.check_memory_policy(mp)


def check_net_devices(cx):
    """linux.netDevices (config-linux.md#network-devices): valid interface
    names (1-15 bytes, not . or .., no '/', ':' or space; a new name may be a
    "%d" template), a network namespace to move them into, no two devices
    with the same name inside the container."""
    devices = _obj(cx.linux.get("netDevices"))
    if not devices:
        return
    if "network" not in cx.ns:
        raise InvalidSpec("linux.netDevices",
                          "unable to move network devices without a private network namespace")
    targets = {}
    for host_name, dev in devices.items():
        base = _key("linux.netDevices", host_name)
        if not _valid_ifname(host_name):
            raise InvalidSpec(base, f"invalid network device name {quote(host_name)}")
        new = _obj(dev).get("name")
        target = host_name
        if new is not None:
            template = isinstance(new, str) and "%" in new
            # a template holds exactly one "%d" (the kernel's dev_alloc_name)
            bad_template = template and (new.count("%") != 1 or "%d" not in new)
            if not isinstance(new, str) or not _valid_ifname(new) or bad_template:
                raise InvalidSpec(f"{base}.name", f"invalid network device name {quote(new)}")
            target = new
            if template:
                continue  # the kernel picks a free number
        if target in targets:
            raise InvalidSpec(f"{base}.name" if new is not None else base,
                              f"network device name {quote(target)} is also used by {targets[target]}")
        targets[target] = base


def check_cgroups_path(cx):
    """linux.cgroupsPath: absolute or relative (config-linux.md#cgroups-path);
    we refuse '..' components, which could leave the cgroup hierarchy."""
    path = cx.linux.get("cgroupsPath")
    if isinstance(path, str) and ".." in path.split("/"):
        raise InvalidSpec("linux.cgroupsPath", "cgroupsPath must not contain '..'")


def check_intel_rdt(cx):
    """linux.intelRdt: closID is a directory name, or "/" for the default CLOS
    (config-linux.md#intelrdt); schemata lines MUST NOT contain newlines."""
    rdt = cx.linux.get("intelRdt")
    if not isinstance(rdt, dict):
        return
    clos = rdt.get("closID")
    if isinstance(clos, str) and clos and clos != "/" and (clos in (".", "..") or "/" in clos):
        raise InvalidSpec("linux.intelRdt.closID", f"invalid closID {quote(clos)}")
    for key in ("l3CacheSchema", "memBwSchema"):
        value = rdt.get(key)
        if isinstance(value, str) and "\n" in value:
            raise InvalidSpec(f"linux.intelRdt.{key}", f"{key} must not contain newlines")
    for i, line in enumerate(_arr(rdt.get("schemata"))):
        if isinstance(line, str) and "\n" in line:
            raise InvalidSpec(f"linux.intelRdt.schemata[{i}]", "schemata lines must not contain newlines")


def check_annotations(cx):
    """Annotation keys MUST NOT be empty (config.md#annotations)."""
    if "" in _obj(cx.config.get("annotations")):
        raise InvalidSpec("annotations", "annotation keys must not be empty")


CHECKS = [
    check_nul,
    check_root,
    check_process,
    check_rlimits,
    check_capabilities,
    check_oom_score_adj,
    check_scheduler,
    check_io_priority,
    check_cpu_affinity,
    check_namespaces,
    check_user_namespace,
    check_uts,
    check_time_namespace,
    check_sysctl,
    check_mounts,
    check_devices,
    check_masked_paths,
    check_seccomp,
    check_hooks,
    check_personality,
    check_rootfs_propagation,
    check_memory_policy,
    check_net_devices,
    check_cgroups_path,
    check_intel_rdt,
    check_annotations,
]


def check(config, bundle, *, need_process=True, warn=None):
    """Run every check in order; raise InvalidSpec at the first problem.

    bundle: the absolute bundle path (root.path is resolved against it), or
    None to skip the filesystem check of the rootfs. need_process: create and
    run need `process`. warn(path, message) receives the spec's warnings
    (default: the "ocirun" logger).
    """
    cx = Context(config, bundle, warn=warn, need_process=need_process)
    for fn in CHECKS:
        fn(cx)
