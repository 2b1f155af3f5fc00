"""The container's init: the forked child of `create`, from fork to exec.

It runs the host's Python inside the container's namespaces, so:
- it is made non-dumpable before it enters any namespace (CVE-2016-9962);
- it imports nothing: every module it needs is imported by the parent before
  the fork, and sys.meta_path is emptied so a stray import fails instead of
  loading code from the container's rootfs;
- every inherited fd but 0-2 and --preserve-fds is close-on-exec
  (CVE-2024-21626), and cwd is checked to be inside the root;
- the last exec goes through a sealed memfd copy of ocirun-exec, so
  /proc/self/exe never names a host binary the container could overwrite
  (CVE-2019-5736).
Order of work follows runc: namespaces, hostname, rootfs and mounts, hooks,
pivot_root, masks, process attributes, user, capabilities; then it reports
ready and blocks on exec.fifo until `start`.
"""
import errno
import os
import _signal as signal  # not `signal`: it loads enum
import sys

from ocirun import capabilities, hooks, lsm, namespaces, paths, procattrs, rootfs
from ocirun import syscalls as sc
from ocirun.errors import HookError, OciError

EXEC_MARKER = "ocirun-exec"
KEY_GRP_SEARCH = 0x00080000


def main(plan, chan):
    """Never returns."""
    try:
        setup(plan, chan)
    except BaseException as e:  # noqa: B902 - report anything to the parent
        try:
            # A failed createContainer hook: the parent still runs poststop.
            chan.send("error", msg=describe(e), hook=isinstance(e, HookError))
        finally:
            os._exit(1)
    try:
        start(plan)
    except BaseException as e:
        _say(f"ocirun: {describe(e)}\n")
    os._exit(1)  # runc's and crun's status when the program cannot be run


def describe(e):
    if isinstance(e, OciError):
        return str(e)
    if isinstance(e, OSError):
        text = e.strerror or os.strerror(e.errno or 0)
        return f"{text} ({e.filename})" if e.filename else text
    return f"{type(e).__name__}: {e}"


def _say(text):
    try:
        os.write(2, text.encode(errors="replace"))
    except OSError:
        pass


def seal():
    """First thing after the fork (init and exec child alike). Everything this
    process needs is loaded; a later import would search the container's
    rootfs, so make it impossible. Then: non-dumpable before any namespace is
    entered (CVE-2016-9962), every fd but 0-2 close-on-exec (CVE-2024-21626)."""
    sys.meta_path[:] = []
    sys.path[:] = []
    sys.path_hooks[:] = []
    sys.path_importer_cache.clear()
    sc.prctl(sc.PR_SET_DUMPABLE, 0)
    sc.close_range(3, 0xFFFFFFFF, sc.CLOSE_RANGE_CLOEXEC)


def setup(plan, chan):
    seal()
    os.setsid()

    msg = chan.recv()
    if msg is None or msg.get("t") != "go":
        os._exit(1)  # the parent is gone or gave up: nothing to report to
    plan.state["pid"] = msg["pid"]

    cfg = plan.config
    linux = cfg.get("linux") or {}
    proc = cfg["process"]
    ns = plan.ns
    for t in namespaces.INIT_ENTERS:  # user: see userns.stage1
        ns.enter(t)
    if getattr(plan, "late_pid", False):
        ns.enter("pid")  # for our children only: createContainer hooks, then enter_pid_late
    if ns.has_new("network"):
        loopback_up()
    if "hostname" in cfg and ns.has("uts"):
        sc.sethostname(cfg["hostname"])
    if "domainname" in cfg and ns.has("uts"):
        sc.setdomainname(cfg["domainname"])

    root = plan.rootfs
    mounts = cfg.get("mounts") or []
    own_mnt = ns.has("mount")
    rootfs.prepare_root(root, linux.get("rootfsPropagation"), own_mnt)
    root_fd = paths.open_root(root)
    try:
        rootfs.do_mounts(root, root_fd, mounts, plan.bundle, plan.mount_ctx)
        if not _dev_bound(mounts):
            rootfs.create_devices(root_fd, linux.get("devices") or [],
                                  staged=plan.mount_ctx.get("dev_fds") if ns.has("user") else None,
                                  bind=getattr(plan, "bind_devices", False))
            rootfs.dev_symlinks(root_fd, proc.get("terminal", False))
        # After the mounts, as runc: a cwd inside a volume is made in it.
        cwd = proc.get("cwd") or "/"
        try:
            os.close(paths.mkdir_all(root_fd, cwd))
        except OSError as e:
            # ELOOP: a magic link (/proc/self/fd/N); enter_cwd refuses it.
            if e.errno != errno.ELOOP:
                raise OciError(f"process.cwd: mkdir {cwd}: {os.strerror(e.errno).lower()}") from None
    finally:
        os.close(root_fd)

    if plan.runtime_hooks:
        chan.send("hooks")
        reply = chan.recv()
        if reply is None or reply.get("t") != "hooks-done":
            os._exit(1)
    h = cfg.get("hooks") or {}
    if h.get("createContainer"):
        # runtime.md#state: in the container's namespaces, the pid it sees there.
        hooks.run_hooks(h["createContainer"], dict(plan.state, pid=os.getpid()), "createContainer")

    rootfs.pivot(root, plan.no_pivot, own_mnt)
    if getattr(plan, "late_pid", False):
        enter_pid_late(plan, chan)  # at once: our /proc/self is gone (not our pid namespace)
    # Before readonlyPaths, which usually holds /proc/sys (runc's order).
    for key, value in (linux.get("sysctl") or {}).items():
        write_sysctl(key, value)
    root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        rootfs.readonly_paths(root_fd, linux.get("readonlyPaths") or [])
        rootfs.mask_paths(root_fd, linux.get("maskedPaths") or [])
    finally:
        os.close(root_fd)
    reopen_dev_null()
    if (cfg.get("root") or {}).get("readonly"):
        rootfs.readonly_root()
    # Last: masks and read-only paths bind, which an unbindable tree refuses.
    # Without a mount namespace, the rootfs bind keeps the host's propagation
    # so that its removal at delete reaches wherever the mounts went.
    if own_mnt:
        rootfs.root_propagation(linux.get("rootfsPropagation"))

    if not plan.no_new_keyring:
        try:
            key = sc.keyctl_join(f"_ses.{plan.id}")
            # Searchable by the possessor's group too, as runc makes it.
            sc.keyctl_setperm(key, sc.keyctl_perm(key) | KEY_GRP_SEARCH)
        except OSError as e:
            if e.errno not in (errno.ENOSYS, errno.EPERM, errno.EACCES):
                raise
    if proc.get("terminal"):
        setup_terminal(plan)

    become_process(plan, proc, linux, chan)
    chan.send("ready")
    chan.close()


def enter_pid_late(plan, chan):
    """A joined pid namespace may hold a watcher with CAP_SYS_PTRACE: a process
    that appears there while its root is the host's gives it the host through
    /proc/PID/root (issue 10). So such an init does its rootfs work outside
    that namespace (its proc mounts still show it: pidns=, see
    namespaces.late_pid_option), and right after pivot_root forks the process
    that is in it, with no namespace fd, to do the rest (it can use /proc/self);
    that one reports its pid and waits for the parent's "go" as the first one
    did. Returns in the new process."""
    plan.ns.close()
    for key, fds in plan.mount_ctx.items():
        if key.endswith("_fds"):  # detached trees and sources of the mounts, all made
            for fd in fds.values():
                os.close(fd)
    pid = os.fork()
    if pid:
        chan.send("pid", pid=pid)
        os._exit(0)
    os.setsid()
    msg = chan.recv()
    if msg is None or msg.get("t") != "go":
        os._exit(1)
    plan.state["pid"] = msg["pid"]


def reopen_dev_null():
    """Stdio that is the host's /dev/null becomes the container's (runc does
    the same): a file of a host mount cannot be checkpointed by CRIU."""
    try:
        fd = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return  # no /dev/null in the container: keep the host's
    try:
        null = os.fstat(fd)
        for n in range(3):
            try:
                s = os.fstat(n)
            except OSError:
                continue
            if (s.st_mode & 0o170000 == 0o020000 and s.st_rdev == null.st_rdev
                    and s.st_dev != null.st_dev):
                os.dup2(fd, n, inheritable=True)
    finally:
        os.close(fd)


def become_process(plan, proc, linux, chan):
    """Process attributes, user, capabilities, cwd, env and the executable:
    the init's last steps before `ready`, and exec's (execproc) too."""
    procattrs.set_rlimits(proc.get("rlimits") or [])
    if linux.get("personality"):
        procattrs.set_personality(linux["personality"])
    if proc.get("scheduler"):
        procattrs.set_scheduler(proc["scheduler"])
    if proc.get("ioPriority"):
        procattrs.set_io_priority(proc["ioPriority"])
    if linux.get("memoryPolicy"):
        procattrs.set_memory_policy(linux["memoryPolicy"])
    aff = proc.get("execCPUAffinity") or {}
    if aff.get("initial"):
        procattrs.set_exec_cpu_affinity(aff, True)
    user = proc.get("user") or {"uid": 0, "gid": 0}  # absent: root, as runc
    early = plan.seccomp is not None and plan.seccomp.needs_early(proc)
    if early:
        # The filter may deny getcwd: check cwd now; the later chdir (as the
        # user) resolves the same path in the same root.
        enter_cwd(proc.get("cwd") or "/")
        plan.seccomp(plan.state)  # needs CAP_SYS_ADMIN without noNewPrivileges
    # An ambient cap the sets do not allow is skipped, as runc does; the
    # parent logs it at debug level.
    groups_ok = not getattr(plan, "setgroups_deny", False)  # rootless: see rootless.py
    capabilities.apply(plan.caps, plan.last_cap, set_user=lambda: procattrs.set_user(user, groups_ok),
                       warn=lambda m: chan.send("debug", msg=m))
    enter_cwd(proc.get("cwd") or "/", checked=early)
    if proc.get("noNewPrivileges"):
        procattrs.set_no_new_privs()
    plan.env = build_env(proc.get("env") or [], user.get("uid", 0))
    plan.exe = find_executable(proc["args"][0], plan.env)
    for fd in range(3, 3 + plan.preserve_fds):
        try:
            os.set_inheritable(fd, True)
        except OSError:
            pass


def start(plan):
    """After `create` returned: wait for `start`, then become the container process."""
    while True:
        try:
            if os.read(plan.fifo_fd, 1):
                break
        except InterruptedError:
            continue
    # plan.fifo_fd stays open until the exec closes it (close-on-exec):
    # `start` waits for that before it runs the poststart hooks.
    h = plan.config.get("hooks") or {}
    if h.get("startContainer"):
        # Not "running" yet: the program has not been executed (runtime.md#state).
        hooks.run_hooks(h["startContainer"], dict(plan.state, status="created", pid=os.getpid()),
                        "startContainer")
    aff = plan.config["process"].get("execCPUAffinity") or {}
    if aff.get("final"):
        procattrs.set_exec_cpu_affinity(aff, False)
    default_signals()
    lsm.apply_exec_labels(plan.config["process"])
    if plan.seccomp is not None and not plan.seccomp.needs_early(plan.config["process"]):
        plan.seccomp(plan.state)
    args = plan.config["process"]["args"]
    os.execve(plan.exec_fd, [EXEC_MARKER, plan.exe, *args], plan.env)


def default_signals():
    """CPython ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored
    across exec: give the container the default dispositions."""
    for s in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(s, signal.SIG_DFL)


def _dev_bound(mounts):
    return any(paths.clean(m.get("destination", "")) == "dev"
               and (m.get("type") == "bind" or "bind" in (m.get("options") or ())
                    or "rbind" in (m.get("options") or ()))
               for m in mounts)


def loopback_up():
    """ip link set lo up: SIOCGIFFLAGS/SIOCSIFFLAGS on a socket (the container
    has no `ip`); _socket and raw bytes spare the imports of socket/struct."""
    import _socket
    import fcntl

    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM, 0)
    try:
        req = b"lo".ljust(16, b"\0") + bytes(24)
        res = fcntl.ioctl(s.fileno(), 0x8913, req)  # SIOCGIFFLAGS
        flags = int.from_bytes(res[16:18], "little") | 0x1  # IFF_UP
        fcntl.ioctl(s.fileno(), 0x8914, b"lo".ljust(16, b"\0") + flags.to_bytes(2, "little") + bytes(22))
    finally:
        s.close()


def write_sysctl(key, value):
    rel = key.replace(".", "/")
    try:
        fd = os.open(f"/proc/sys/{rel}", os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as e:
        raise OciError(f"linux.sysctl: {key}: {os.strerror(e.errno).lower()}") from None
    try:
        os.write(fd, str(value).encode())
    except OSError as e:
        raise OciError(f"linux.sysctl: {key}={value}: {os.strerror(e.errno).lower()}") from None
    finally:
        os.close(fd)


def setup_terminal(plan):
    """A pty made inside the container's devpts; its master goes to --console-socket."""
    import fcntl
    import socket
    import struct

    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, 0x40045431, struct.pack("i", 0))  # TIOCSPTLCK: unlock
    slave = fcntl.ioctl(master, 0x5441, os.O_RDWR | os.O_NOCTTY)  # TIOCGPTPEER
    ptn = struct.unpack("I", fcntl.ioctl(master, 0x80045430, b"\0" * 4))[0]  # TIOCGPTN
    size = plan.config["process"].get("consoleSize")
    if size:
        fcntl.ioctl(master, 0x5414, struct.pack("HHHH", size.get("height", 0), size.get("width", 0), 0, 0))
    if plan.console_mount:
        try:
            sc.mount(f"/dev/pts/{ptn}", "/dev/console", None, sc.MS_BIND)
        except OSError:
            pass  # /dev not ours to change (bind-mounted from the host)
    if plan.console_fd is not None:
        sock = socket.socket(fileno=plan.console_fd)
        try:
            socket.send_fds(sock, [b"/dev/ptmx"], [master])
        finally:
            sock.close()
    os.close(master)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(slave)
    fcntl.ioctl(0, 0x540E, 0)  # TIOCSCTTY


def enter_cwd(cwd, checked=False):
    try:
        os.chdir(cwd)
    except OSError as e:
        raise OciError(f"process.cwd: chdir {cwd}: {os.strerror(e.errno).lower()}") from None
    if checked:
        return
    try:
        here = os.getcwd()
    except OSError:
        here = ""
    if not here.startswith("/"):
        # CVE-2024-21626: a cwd reached through a leaked host fd.
        raise OciError(f"process.cwd: {cwd} is outside the container root: possible container breakout detected")


def build_env(env, uid):
    out = {}
    for item in env:
        k, sep, v = item.partition("=")
        if sep:
            out[k] = v
    if "HOME" not in out:
        out["HOME"] = _home_of(uid)
    return out


def _home_of(uid):
    try:
        with open("/etc/passwd", "rb") as f:
            for line in f:
                parts = line.decode(errors="replace").rstrip("\n").split(":")
                if len(parts) >= 6 and parts[2] == str(uid):
                    return parts[5] or "/"
    except OSError:
        pass
    return "/"


def find_executable(name, env):
    """exec.LookPath's rules and words, inside the container."""
    if "/" in name:
        try:
            st = os.stat(name)
        except OSError as e:
            raise FileNotFoundError(e.errno, f'exec: "{name}": stat {name}: '
                                             f"{os.strerror(e.errno).lower()}") from None
        if (st.st_mode & 0o170000) == 0o040000 or not st.st_mode & 0o111:
            raise PermissionError(errno.EACCES, f'exec: "{name}": permission denied')
        return name
    for d in env.get("PATH", "").split(":"):
        p = f"{d or '.'}/{name}"
        try:
            st = os.stat(p)
        except OSError:
            continue
        if (st.st_mode & 0o170000) != 0o040000 and st.st_mode & 0o111:
            return p
    raise FileNotFoundError(errno.ENOENT, f'exec: "{name}": executable file not found in $PATH')
