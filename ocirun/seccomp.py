"""linux.seccomp (config-linux.md#seccomp) through libseccomp, via the C shim.

All policy happens in the parent before the fork: prepare() checks the config
and builds a libseccomp filter context, which the forked init inherits. The
init then only calls Filter.load(), which imports nothing (sys.meta_path is
empty there).

Choices, where runc and the spec leave room:
- A syscall name libseccomp has never heard of is an error naming its JSON
  path (runc ignores it silently, hiding typos). Exception: names of real
  syscalls newer than this libseccomp (NEWER_SYSCALLS, e.g. `mseal` for
  libseccomp 2.5.4) in an ALLOW or LOG rule are skipped with one warning, so
  that current podman/Docker default profiles still load; the syscall then
  gets the default action. In any other rule they are an error, since the
  rule could not be enforced.
- Rules whose action equals the default action are skipped (libseccomp
  refuses them; runc skips them).
- A rule whose args compare one argument index twice becomes one rule per
  comparison (OR), as runc does; otherwise all comparisons AND in one rule.
- libseccomp's own NO_NEW_PRIVS-on-load is turned off: process.noNewPrivileges
  decides that. Without it, loading needs CAP_SYS_ADMIN, so the init loads the
  filter before dropping capabilities (Filter.needs_early).
- With SCMP_ACT_NOTIFY the filter is also loaded early, during `create`, as
  runc does: a listener that cannot be reached then fails `create`, and the
  agent gets the container process state while the status is "creating".
  The parent connects to listenerPath before the fork (connect_listener); the
  init sends the notify fd and the state over that socket right after the
  load. `sendmsg` cannot be a SCMP_ACT_NOTIFY syscall: the init would block
  on its own notification before the agent has the fd.
"""
import os

from ocirun import fastjson as json

from ocirun.errors import InvalidSpec, OciError, describe, os_error

BASE = "linux.seccomp"

# Action values from seccomp.h (the ERRNO/TRACE data is the low 16 bits).
ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000,  # = KILL_THREAD, as in libseccomp and runc
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000,
    "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_NOTIFY": 0x7FC00000,
}
ERRNO_ACTIONS = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
EPERM = 1

OPERATORS = {  # enum scmp_compare
    "SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7,
}
MAX_ARGS = 6

ARCHS = (  # config-linux.md's list; libseccomp's name is the lower-case suffix
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
)

# enum scmp_filter_attr
ATTR_NNP = 3
ATTR_TSYNC = 4
ATTR_LOG = 6
ATTR_SSB = 7
ATTR_SYSRAWRC = 9
ATTR_WAITKILL = 10  # libseccomp >= 2.6 (API level 7)

# flag -> (filter attribute, lowest libseccomp API level that has it)
FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": (ATTR_TSYNC, 2),
    "SECCOMP_FILTER_FLAG_LOG": (ATTR_LOG, 3),
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": (ATTR_SSB, 4),
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": (ATTR_WAITKILL, 7),
}

# Real Linux syscalls (6.1 and later) that an older libseccomp may not know.
NEWER_SYSCALLS = frozenset((
    "cachestat", "fchmodat2", "map_shadow_stack", "futex_wake", "futex_wait", "futex_requeue",
    "statmount", "listmount", "lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules",
    "mseal", "setxattrat", "getxattrat", "listxattrat", "removexattrat", "open_tree_attr",
    "file_getattr", "file_setattr", "uretprobe", "uprobe", "listns", "riscv_hwprobe",
))
SKIPPABLE = ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG")  # skipping these falls back to the default

NR_SCMP_ERROR = -1  # seccomp_syscall_resolve_name: never heard of it


def _lib():
    from ocirun._shim import ffi, lib

    return ffi, lib


def _version():
    _, lib = _lib()
    v = lib.seccomp_version()
    return f"{v.major}.{v.minor}.{v.micro}"


def _q(value):
    return json.dumps(value) if isinstance(value, str) else json.dumps(str(value))


def _uint(value, path, limit):
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < limit:
        raise InvalidSpec(path, f"{_q(value) if isinstance(value, str) else value} "
                                f"is not an integer in [0, {limit - 1}]")
    return value


# ---- features -------------------------------------------------------------

def libseccomp_version():
    return _version()


def known_actions():
    return list(ACTIONS)


def known_operators():
    return list(OPERATORS)


def known_archs():
    """The spec's architectures this libseccomp knows (a filter holds one byte order:
    the ones of the other can be named but not added next to the native one)."""
    _, lib = _lib()
    return [a for a in ARCHS if lib.seccomp_arch_resolve_name(_arch_name(a).encode())]


def known_flags():
    return list(FLAGS)


def supported_flags():
    """The flags this libseccomp can set (its API level; the kernel is not asked)."""
    _, lib = _lib()
    api = lib.seccomp_api_get()
    return [f for f, (_, level) in FLAGS.items() if api >= level]


# ---- building the filter (parent, before fork) ---------------------------

def _arch_name(spec_name):
    return spec_name[len("SCMP_ARCH_"):].lower()


def _action(name, errno_ret, path, errno_path):
    if name not in ACTIONS:
        raise InvalidSpec(path, f"{_q(name)} is not a valid seccomp action")
    value = ACTIONS[name]
    if name in ERRNO_ACTIONS:
        ret = EPERM if errno_ret is None else _uint(errno_ret, errno_path, 0x10000)
        return value | ret
    if errno_ret is not None:
        raise InvalidSpec(errno_path, f"errnoRet is not supported by {name}")
    return value


def _describe_action(value):
    for name, v in ACTIONS.items():
        if name in ERRNO_ACTIONS and value & 0xFFFF0000 == v:
            return f"{name}({value & 0xFFFF})"
        if v == value:
            return name
    return hex(value)


def _action_ok(action):
    """Whether libseccomp accepts the action value (it caps errno below 4095)."""
    ffi, lib = _lib()
    ctx = lib.seccomp_init(action)
    if ctx == ffi.NULL:
        return False
    lib.seccomp_release(ctx)
    return True


def _set_attr(ctx, attr, value, path, what):
    _, lib = _lib()
    rc = lib.seccomp_attr_set(ctx, attr, value)
    if rc < 0:
        raise InvalidSpec(path, f"{what}: libseccomp {_version()}: {describe(rc)}")


def prepare(cfg, proc, *, warn=None):
    """linux.seccomp -> a Filter ready to load; raises InvalidSpec naming the field.

    `proc` is config.process (its noNewPrivileges decides when to load)."""
    _, lib = _lib()
    if not isinstance(cfg, dict):
        raise InvalidSpec(BASE, "must be an object")
    ctx, default = _new_context(cfg)
    _add_archs(ctx, cfg.get("architectures") or [])
    api = _set_flags(ctx, cfg.get("flags") or [])
    notify = _add_rules(ctx, cfg, default, warn)

    listener = cfg.get("listenerPath")
    if cfg.get("listenerMetadata") and not listener:
        raise InvalidSpec(f"{BASE}.listenerMetadata", "listenerMetadata requires listenerPath")
    if notify and not listener:
        raise InvalidSpec(f"{BASE}.listenerPath", "listenerPath is required when SCMP_ACT_NOTIFY is used")
    if notify and api < 5:
        raise InvalidSpec(BASE, f"SCMP_ACT_NOTIFY is not supported by libseccomp {_version()}")
    return Filter(lib, ctx, notify, listener if notify else None, cfg.get("listenerMetadata"))


def _new_context(cfg):
    """The filter context with its default action: (ctx, default action value)."""
    ffi, lib = _lib()
    default_name = cfg.get("defaultAction")
    if default_name == "SCMP_ACT_NOTIFY":
        raise InvalidSpec(f"{BASE}.defaultAction", "SCMP_ACT_NOTIFY cannot be used as the default action")
    default = _action(default_name, cfg.get("defaultErrnoRet"), f"{BASE}.defaultAction",
                      f"{BASE}.defaultErrnoRet")
    raw = lib.seccomp_init(default)
    if raw == ffi.NULL:
        raise InvalidSpec(f"{BASE}.defaultAction",
                          f"libseccomp {_version()} rejects {_describe_action(default)}")
    ctx = ffi.gc(raw, lib.seccomp_release)

    # Real errnos from seccomp_load (EACCES, not libseccomp's ECANCELED);
    # no_new_privs is process.noNewPrivileges' business, not libseccomp's.
    _set_attr(ctx, ATTR_SYSRAWRC, 1, BASE, "SCMP_FLTATR_API_SYSRAWRC")
    _set_attr(ctx, ATTR_NNP, 0, BASE, "SCMP_FLTATR_CTL_NNP")
    return ctx, default


def _add_archs(ctx, archs):
    _, lib = _lib()
    if not isinstance(archs, list):
        raise InvalidSpec(f"{BASE}.architectures", "must be an array")
    for i, arch in enumerate(archs):
        path = f"{BASE}.architectures[{i}]"
        if arch not in ARCHS:
            raise InvalidSpec(path, f"{_q(arch)} is not a valid seccomp architecture")
        token = lib.seccomp_arch_resolve_name(_arch_name(arch).encode())
        if not token:
            raise InvalidSpec(path, f"{arch} is not supported by libseccomp {_version()}")
        rc = lib.seccomp_arch_add(ctx, token)
        if rc == -33:  # EDOM
            raise InvalidSpec(path, f"{arch} cannot be added: libseccomp needs one byte order "
                                    "for all architectures of a filter")
        if rc < 0 and rc != -17:  # EEXIST: the native one, always there
            raise InvalidSpec(path, os_error("add", rc, arch))


def _set_flags(ctx, flags):
    """Set the flags' filter attributes. Returns libseccomp's API level."""
    _, lib = _lib()
    if not isinstance(flags, list):
        raise InvalidSpec(f"{BASE}.flags", "must be an array")
    api = lib.seccomp_api_get()
    for i, flag in enumerate(flags):
        path = f"{BASE}.flags[{i}]"
        if flag not in FLAGS:
            raise InvalidSpec(path, f"{_q(flag)} is not a valid seccomp flag")
        attr, level = FLAGS[flag]
        if api < level:
            raise InvalidSpec(path, f"{flag} is not supported by libseccomp {_version()} "
                                    f"(API level {api}, needs {level})")
        _set_attr(ctx, attr, 1, path, flag)
    return api


def _add_rules(ctx, cfg, default, warn):
    """Add linux.seccomp.syscalls. Returns whether any rule is SCMP_ACT_NOTIFY."""
    rules = cfg.get("syscalls") or []
    if not isinstance(rules, list):
        raise InvalidSpec(f"{BASE}.syscalls", "must be an array")
    notify = False
    skipped = []
    for i, rule in enumerate(rules):
        notify |= _add_rule(ctx, cfg, rule, f"{BASE}.syscalls[{i}]", default, skipped)
    if skipped and warn is not None:
        warn(f"{BASE}: syscalls unknown to libseccomp {_version()} left to the default action: "
             + ", ".join(sorted(set(skipped))))
    return notify


def _add_rule(ctx, cfg, rule, rpath, default, skipped):
    """One syscalls[] entry; names too new for libseccomp go to `skipped`. Returns: is it NOTIFY?"""
    ffi, lib = _lib()
    if not isinstance(rule, dict):
        raise InvalidSpec(rpath, "must be an object")
    name = rule.get("action")
    action = _action(name, rule.get("errnoRet"), f"{rpath}.action", f"{rpath}.errnoRet")
    if rule.get("errnoRet") is not None and not _action_ok(action):
        raise InvalidSpec(f"{rpath}.errnoRet",
                          f"libseccomp {_version()} rejects {_describe_action(action)}")
    names = rule.get("names")
    if not isinstance(names, list) or not names:
        raise InvalidSpec(f"{rpath}.names", "names must contain at least one entry")
    notify = name == "SCMP_ACT_NOTIFY"
    if notify and "sendmsg" in names and cfg.get("listenerPath"):
        raise InvalidSpec(f"{rpath}.names", "SCMP_ACT_NOTIFY cannot be used for sendmsg: "
                                            "it hands the notify fd to the listener")
    conds = _conditions(rule.get("args"), rpath)
    numbers = _syscall_numbers(names, rpath, name, action, default, skipped)
    if action == default:
        return notify
    for npath, sys_name, nr in numbers:
        for group in conds:
            arr = ffi.new("struct scmp_arg_cmp[]", group) if group else ffi.NULL
            rc = lib.seccomp_rule_add_array(ctx, action, nr, len(group), arr)
            if rc < 0:
                raise InvalidSpec(npath, f"add {_describe_action(action)} rule for {sys_name}: "
                                         f"libseccomp {_version()}: {describe(rc)}")
    return notify


def _syscall_numbers(names, rpath, name, action, default, skipped):
    """[(JSON path, syscall name, number)] for a rule's names (see NEWER_SYSCALLS)."""
    _, lib = _lib()
    numbers = []
    for j, sys_name in enumerate(names):
        npath = f"{rpath}.names[{j}]"
        if not isinstance(sys_name, str):
            raise InvalidSpec(npath, f"unknown syscall {_q(sys_name)}")
        nr = lib.seccomp_syscall_resolve_name(sys_name.encode())
        if nr == NR_SCMP_ERROR:
            if sys_name not in NEWER_SYSCALLS:
                raise InvalidSpec(npath, f"unknown syscall {_q(sys_name)}")
            if name not in SKIPPABLE and action != default:
                raise InvalidSpec(npath, f"syscall {_q(sys_name)} is unknown to libseccomp "
                                         f"{_version()}: this {name} rule cannot be enforced")
            skipped.append(sys_name)
            continue
        numbers.append((npath, sys_name, nr))
    return numbers


def _conditions(args, rpath):
    """args -> groups of (index, op, value, valueTwo): each group is one rule."""
    if args is None:
        return [[]]
    if not isinstance(args, list):
        raise InvalidSpec(f"{rpath}.args", "must be an array")
    out = []
    for k, arg in enumerate(args):
        apath = f"{rpath}.args[{k}]"
        if not isinstance(arg, dict):
            raise InvalidSpec(apath, "must be an object")
        index = _uint(arg.get("index"), f"{apath}.index", MAX_ARGS)
        op = arg.get("op")
        if op not in OPERATORS:
            raise InvalidSpec(f"{apath}.op", f"{_q(op)} is not a valid seccomp operator")
        value = _uint(arg.get("value"), f"{apath}.value", 1 << 64)
        two = _uint(arg.get("valueTwo", 0), f"{apath}.valueTwo", 1 << 64)
        out.append((index, OPERATORS[op], value, two))
    if not out:
        return [[]]
    indexes = [c[0] for c in out]
    if len(set(indexes)) != len(indexes):
        return [[c] for c in out]  # runc: one rule per comparison
    return [out]


# ---- loading (init, after fork: no imports from here on) ----------------

class Filter:
    """A built libseccomp context. Call it (or load()) in the init."""

    def __init__(self, lib, ctx, notify, listener_path, metadata):
        self.lib = lib  # held here: the init cannot import
        self.ctx = ctx
        self.notify = notify
        self.listener_path = listener_path
        self.metadata = metadata
        self.listener_fd = None
        self.loaded = False

    def needs_early(self, proc):
        """True: load before capabilities are dropped (setup), else just before exec.

        Without noNewPrivileges loading needs CAP_SYS_ADMIN; with a listener
        the fd goes out during create (see the module docstring)."""
        return self.notify or not (proc or {}).get("noNewPrivileges")

    def connect_listener(self):
        """Parent, before fork: connect to listenerPath. Returns the fd to
        close in the parent after the fork (None without SCMP_ACT_NOTIFY)."""
        if not self.notify:
            return None
        global socket  # load() runs in the init, which may not import: load it here
        import socket

        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            s.connect(self.listener_path)
        except OSError as e:
            s.close()
            raise OciError(f"{BASE}.listenerPath: {os_error('connect', e, self.listener_path)}") from None
        self.listener_fd = s.detach()
        return self.listener_fd

    def load(self, state=None):
        """Install the filter in the calling process; with SCMP_ACT_NOTIFY,
        send the notify fd and the container process state to the listener.
        `state` is the container's state (runtime.md#state); its pid is ours."""
        if self.loaded:
            return
        lib = self.lib
        payload = None
        if self.notify:
            if self.listener_fd is None:
                raise OciError(f"{BASE}.listenerPath: not connected (connect_listener was not called)")
            st = dict(state or {})
            msg = {"ociVersion": st.get("ociVersion", "1.3.0"), "fds": ["seccompFd"],
                   "pid": st.get("pid") or os.getpid(), "state": st}
            if self.metadata:
                msg["metadata"] = self.metadata
            payload = json.dumps(msg).encode()  # before the load: fewer syscalls after it
        rc = lib.seccomp_load(self.ctx)
        if rc < 0:
            raise OciError(f"{BASE}: {os_error('load the filter', rc)}")
        self.loaded = True
        if payload is None:
            return
        fd = lib.seccomp_notify_fd(self.ctx)
        if fd < 0:
            raise OciError(f"{BASE}: {os_error('get the notify fd', fd)}")
        sock = socket.socket(fileno=self.listener_fd)
        self.listener_fd = None
        try:
            sent = socket.send_fds(sock, [payload], [fd])
            if sent < len(payload):
                sock.sendall(payload[sent:])  # fds went with the first part only
        except OSError as e:
            raise OciError(f"{BASE}.listenerPath: {os_error('send to', e, self.listener_path)}") from None
        finally:
            sock.close()
            os.close(fd)

    __call__ = load
