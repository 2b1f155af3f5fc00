"""The container's init: the forked child of `create`, from fork to exec.

It runs the host's Python inside the container's namespaces, so the rules of
childproc.py hold (seal first: non-dumpable; nothing is loaded after the
fork: every module it uses is imported by the parent before it (create's
_import_for_init), and the few function-level import statements here and in
childproc only find those in sys.modules; fds close-on-exec; cwd checked;
the exec through the sealed ocirun-exec memfd).
It talks to the parent on its own channel (sync.py: create:init) and reports
any failure there before it exits.
Order of work follows runc: namespaces, hostname, rootfs and mounts, hooks,
pivot_root, masks, process attributes, user, capabilities; then it reports
ready and blocks on exec.fifo until `start`.
"""
import errno
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)

from ocirun import childproc, fileio, namespaces, paths, rootfs, sync
from ocirun import syscalls as sc
from ocirun.errors import OciError, describe, os_error

KEY_GRP_SEARCH = 0x00080000


def main(plan, chan):
    """Never returns."""
    try:
        setup(plan, chan)
    except BaseException as e:  # noqa: B902 - report anything to the parent
        # A failed createContainer hook: the parent still runs poststop.
        childproc.fail(chan, e)
    try:
        start(plan)
    except BaseException as e:  # noqa: B902 - the parent has gone: stderr is the container's
        childproc.say(f"ocirun: {childproc.describe(e)}\n")
    os._exit(1)  # runc's and crun's status when the program cannot be run


def setup(plan, chan):
    childproc.seal()
    os.setsid()
    plan.state["pid"] = chan.expect(sync.GO)["pid"]
    cfg, ns = plan.config, plan.ns
    for t in namespaces.INIT_ENTERS:  # user: see userns.stage1
        ns.enter(t)
    if plan.late_pid:
        ns.enter("pid")  # for our children only: createContainer hooks, then enter_pid_late
    if ns.has_new("network"):
        loopback_up()
    set_names(cfg, ns, plan.ops)
    prepare_rootfs(plan)
    if plan.runtime_hooks:
        chan.send(sync.HOOKS)
        chan.expect(sync.HOOKS_DONE)
    h = cfg.get("hooks") or {}
    if h.get("createContainer"):
        # runtime.md#state: in the container's namespaces, the pid it sees there.
        plan.run_hooks(h["createContainer"], dict(plan.state, pid=os.getpid()), "createContainer")
    rootfs.pivot(plan.rootfs, plan.no_pivot, ns.has("mount"), plan.ops)
    if plan.late_pid:
        enter_pid_late(plan, chan)  # at once: our /proc/self is gone (not our pid namespace)
    finish_root(cfg.get("linux") or {}, (cfg.get("root") or {}).get("readonly"), ns.has("mount"), plan.ops)
    if not plan.no_new_keyring:
        join_session_keyring(plan.id)
    if plan.proc.get("terminal"):
        childproc.setup_terminal(plan)
    childproc.become_process(plan, plan.proc, cfg.get("linux") or {}, chan)
    chan.send(sync.READY)
    chan.close()


def set_names(cfg, ns, ops):
    """hostname and domainname, in the container's own uts namespace only."""
    if "hostname" in cfg and ns.has("uts"):
        ops.sethostname(cfg["hostname"])
    if "domainname" in cfg and ns.has("uts"):
        ops.setdomainname(cfg["domainname"])


def prepare_rootfs(plan):
    """The root, its mounts and devices, and the cwd in it (before pivot_root)."""
    linux, proc, ns, ops = plan.config.get("linux") or {}, plan.proc, plan.ns, plan.ops
    root = plan.rootfs
    mounts = plan.config.get("mounts") or []
    rootfs.prepare_root(root, linux.get("rootfsPropagation"), ns.has("mount"), ops)
    root_fd = paths.open_root(root)
    try:
        rootfs.do_mounts(root, root_fd, mounts, plan.bundle, plan.mount_ctx, ops)
        if not dev_bound(mounts):
            rootfs.create_devices(root_fd, linux.get("devices") or [],
                                  staged=plan.mount_ctx.get("dev_fds") if ns.has("user") else None,
                                  bind=plan.bind_devices, ops=ops)
            rootfs.dev_symlinks(root_fd, proc.get("terminal", False), ops)
        # After the mounts, as runc: a cwd inside a volume is made in it.
        cwd = proc.get("cwd") or "/"
        try:
            os.close(paths.mkdir_all(root_fd, cwd, ops=ops))
        except OSError as e:
            # ELOOP: a magic link (/proc/self/fd/N); enter_cwd refuses it.
            if e.errno != errno.ELOOP:
                raise OciError(f"process.cwd: {os_error('mkdir', e, cwd)}") from None
    finally:
        os.close(root_fd)


def finish_root(linux, readonly, own_mnt, ops):
    """After pivot_root: sysctl, read-only and masked paths, /dev/null, a
    read-only root, the root's propagation."""
    # Before readonlyPaths, which usually holds /proc/sys (runc's order).
    for key, value in (linux.get("sysctl") or {}).items():
        write_sysctl(key, value)
    root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        rootfs.readonly_paths(root_fd, linux.get("readonlyPaths") or [], ops)
        rootfs.mask_paths(root_fd, linux.get("maskedPaths") or [], ops)
    finally:
        os.close(root_fd)
    reopen_dev_null()
    if readonly:
        rootfs.readonly_root(ops)
    # Last: masks and read-only paths bind, which an unbindable tree refuses.
    # Without a mount namespace, the rootfs bind keeps the host's propagation
    # so that its removal at delete reaches wherever the mounts went.
    if own_mnt:
        rootfs.root_propagation(linux.get("rootfsPropagation"), ops)


def join_session_keyring(cid):
    try:
        key = sc.keyctl_join(f"_ses.{cid}")
        # Searchable by the possessor's group too, as runc makes it.
        sc.keyctl_setperm(key, sc.keyctl_perm(key) | KEY_GRP_SEARCH)
    except OSError as e:
        if e.errno not in (errno.ENOSYS, errno.EPERM, errno.EACCES):
            raise


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
        chan.send(sync.PID, pid=pid)
        os._exit(0)
    os.setsid()
    plan.state["pid"] = chan.expect(sync.GO)["pid"]


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
        plan.run_hooks(h["startContainer"], dict(plan.state, status="created", pid=os.getpid()),
                        "startContainer")
    childproc.last_steps(plan)
    childproc.exec_program(plan)


def dev_bound(mounts):
    """Is /dev a bind mount (then no device nodes are made in it)?"""
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
    try:
        fileio.write_value(f"/proc/sys/{key.replace('.', '/')}", str(value), os.O_NOFOLLOW)
    except OSError as e:
        # An open's error names the file (no such key); a write's does not (a refused value).
        where = key if e.filename else f"{key}={value}"
        raise OciError(f"linux.sysctl: {where}: {describe(e)}") from None


