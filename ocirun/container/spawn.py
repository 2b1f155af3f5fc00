"""One spawn path: what create (the init) and exec (a new process) share.

The parent computes everything the child needs before the fork, while
imports are still safe, into a Plan; the child (initproc.main or
execproc.main) runs from it and loads no module. The steps both take:
the privileges (capabilities, seccomp), the sealed memfd of ocirun-exec,
the terminal (console socket or a relay pair), --preserve-fds, the fork
with the fds the child must not keep closed, process.oomScoreAdj, and
--pid-file.
"""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)

from ocirun import fileio
from ocirun.errors import OciError, describe, os_error
from ocirun.sysops import REAL

EXEC_HELPER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ocirun-exec")


class Plan:
    """Everything a forked child needs, decided by the parent (a plain class
    with declared slots: `dataclasses` would import re, inspect and copy,
    which exec must not load; see tests/unit/test_imports.py)."""

    __slots__ = (
        # both: the container's config and the process to become
        "config", "proc", "state", "caps", "last_cap", "seccomp", "exec_fd", "console_fd",
        "console_mount", "preserve_fds", "setgroups_deny",
        # filled by the child itself (childproc.become_process)
        "env", "exe",
        # the init only (create)
        "id", "bundle", "rootfs", "ns", "fifo_fd", "no_pivot", "no_new_keyring",
        "runtime_hooks", "mount_ctx", "late_pid", "bind_devices",
        # the system calls of the rootfs, mounts and names (sysops.py; a test's double)
        "ops",
        # hooks.run_hooks when the config has createContainer or startContainer
        # hooks (the init cannot import it; without them nobody loads it)
        "run_hooks",
        # an exec'd process only: {namespace type: fd of the container's}
        "ns_fds",
    )

    def __init__(self, *, config, proc, state, security, exec_fd, console_fd=None,
                 console_mount=False, preserve_fds=0, setgroups_deny=False, id=None,
                 bundle=None, rootfs=None, ns=None, fifo_fd=None, no_pivot=False,
                 no_new_keyring=False, runtime_hooks=False, mount_ctx=None, late_pid=False,
                 bind_devices=False, run_hooks=None, ns_fds=None, ops=REAL):
        self.config, self.proc, self.state = config, proc, state
        self.caps, self.last_cap, self.seccomp = security.caps, security.last_cap, security.seccomp
        self.exec_fd, self.console_fd, self.console_mount = exec_fd, console_fd, console_mount
        self.preserve_fds, self.setgroups_deny = preserve_fds, setgroups_deny
        self.env = self.exe = None
        self.id, self.bundle, self.rootfs, self.ns, self.fifo_fd = id, bundle, rootfs, ns, fifo_fd
        self.no_pivot, self.no_new_keyring, self.runtime_hooks = no_pivot, no_new_keyring, runtime_hooks
        self.mount_ctx, self.late_pid, self.bind_devices = mount_ctx or {}, late_pid, bind_devices
        self.run_hooks = run_hooks
        self.ns_fds = ns_fds or {}
        self.ops = ops


class Security:
    """The process's privileges, checked before anything is made."""

    __slots__ = ("last_cap", "caps", "seccomp")

    def __init__(self, last_cap, caps, seccomp):
        self.last_cap, self.caps, self.seccomp = last_cap, caps, seccomp


def security(proc, linux, logger, check=True):
    """Capability masks (check: refuse what cannot be applied, as create does)
    and the compiled seccomp filter, if any."""
    from ocirun import capabilities

    last_cap = capabilities.prepare()
    caps = capabilities.masks(proc.get("capabilities"), last_cap, warn=logger.warning,
                              held=capabilities.held(linux))
    if check:
        capabilities.check(caps)
    seccomp = None
    if linux.get("seccomp"):
        from ocirun import seccomp as seccomp_mod

        seccomp = seccomp_mod.prepare(linux["seccomp"], proc, warn=logger.debug)
    return Security(last_cap, caps, seccomp)


def check_preserved_fds(value, listen=0):
    """--preserve-fds N: a number, and fds 3..3+N-1 all open now, before we
    open any fd of our own (else ours would be handed to the container)."""
    from ocirun.errors import UsageError

    try:
        n = int(value or 0)
    except ValueError:
        raise UsageError(f'invalid value "{value}" for flag -preserve-fds: parse error') from None
    if n < 0:
        raise UsageError(f'invalid value "{value}" for flag -preserve-fds: must not be negative')
    for i in range(n + listen):
        try:
            os.fstat(3 + i)
        except OSError as e:
            raise OciError(f"unable to stat preserved-fd {3 + i} (of {n + listen}): {describe(e)}") from None
    return n


def open_process_fds(proc, sec, console_socket, relay, refuse, fds):
    """The fds the child takes with it: (exec memfd, console socket end or
    None, our relay end or None); each but the relay end is added to fds.
    A terminal without --console-socket is relayed by us if relay, else
    refuse(message) is raised (create: OciError, exec -d: UsageError)."""
    exec_fd = exec_memfd()
    fds.append(exec_fd)
    if sec.seccomp is not None and sec.seccomp.connect_listener() is not None:
        fds.append(sec.seccomp.listener_fd)  # the child keeps its own copy
    console_fd = relay_fd = None
    if proc.get("terminal"):
        if console_socket:
            console_fd = connect_console(console_socket)
        elif relay:
            from ocirun import console  # only here: it loads socket (and selectors, enum)

            relay_fd, console_fd = console.pair()
        else:
            raise refuse("cannot allocate tty if ocirun will detach without setting console socket")
        fds.append(console_fd)
        import fcntl  # noqa: F401 - the child uses them (childproc.setup_terminal) and may not import
        import socket  # noqa: F401
        import struct  # noqa: F401
    return exec_fd, console_fd, relay_fd


def exec_memfd():
    """A sealed, unwritable in-memory copy of ocirun-exec (see initproc)."""
    import fcntl

    with open(EXEC_HELPER, "rb") as f:
        data = f.read()
    fd = os.memfd_create("ocirun-exec", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.write(fd, data)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK
                | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    return fd


def connect_console(path):
    """An fd connected to --console-socket (the pty master is sent on it)."""
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise OciError(f"--console-socket {path}: {os_error('connect', e)}") from None
    return s.detach()


def fork(child, close_in_child):
    """Fork; the child closes close_in_child (our ends of its channels, the
    container lock: a copy would hold the flock) and runs child(), which
    never returns (it exits, having reported any failure on its channel)."""
    pid = os.fork()
    if pid == 0:
        for fd in close_in_child:
            if fd is not None:
                os.close(fd)
        child()
        os._exit(1)  # not reached: child() exits itself
    return pid


def write_proc_file(path, value, field):
    """Write value to a /proc or cgroup file; an error names the config field."""
    try:
        fileio.write_value(path, value)
    except OSError as e:
        raise OciError(f"{field}: write {value} to {path}: {describe(e)}") from None


def set_oom_score_adj(pid, proc):
    """process.oomScoreAdj, written from outside (inherited by pid's children)."""
    if "oomScoreAdj" in proc:
        write_proc_file(f"/proc/{pid}/oom_score_adj", str(proc["oomScoreAdj"]), "process.oomScoreAdj")


def write_pid_file(path, pid):
    """Decimal pid, no newline (containerd parses it strictly), written atomically."""
    path = os.path.abspath(path)
    d, name = os.path.split(path)
    tmp = os.path.join(d, f".{name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_SYNC, 0o644)
    try:
        fileio.write_all(fd, str(pid).encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def reap(pid, sig=None):
    """Signal (if sig) and wait for our child pid; gone or not ours: nothing."""
    if not pid:
        return
    try:
        if sig:
            os.kill(pid, sig)
        os.waitpid(pid, 0)
    except OSError:
        pass
