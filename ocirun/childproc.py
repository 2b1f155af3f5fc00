"""What the init and an exec'd process share, from the fork to the exec.

Both run the host's Python inside the container's namespaces, so both:
- seal() first: nothing can be loaded any more (sys.meta_path emptied: an
  import statement only finds what the parent imported before the fork, in
  sys.modules; a stray one fails instead of loading code from the
  container's rootfs),
  non-dumpable before any namespace is entered (CVE-2016-9962), every fd but
  0-2 close-on-exec (CVE-2024-21626);
- report any failure to the parent on their channel before they exit (fail);
- become the process the same way (become_process: attributes, user,
  capabilities, cwd checked inside the root, env, the executable);
- execute it through the sealed memfd copy of ocirun-exec (exec_program), so
  /proc/self/exe never names a host binary (CVE-2019-5736).
Every module used here (socket, struct and fcntl for a terminal included:
spawn.open_process_fds) is imported by the parent before the fork.
"""
import errno
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)
import _signal as signal  # not `signal`: it loads enum
import sys

from ocirun import capabilities, lsm, procattrs, sync
from ocirun import syscalls as sc
from ocirun.errors import HookError, OciError
from ocirun.errors import describe as errno_text, os_error

EXEC_MARKER = "ocirun-exec"


def fail(chan, e, status=1):
    """Report e to the parent on chan (an "error" message, with its errno if
    it has one), then exit with status. Never returns."""
    try:
        chan.send_error(describe(e), errno=e.errno if isinstance(e, OSError) else None,
                        hook=isinstance(e, HookError))
    except BaseException:  # noqa: B902 - the parent is gone: nobody to tell
        pass
    finally:
        os._exit(status)


def last_steps(plan):
    """Right before the exec (the init: after `start`): the final CPU
    affinity, default signals, LSM labels, and a seccomp filter that need not
    be loaded early."""
    proc = plan.proc
    aff = proc.get("execCPUAffinity") or {}
    if aff.get("final"):
        procattrs.set_exec_cpu_affinity(aff, False)
    default_signals()
    lsm.apply_exec_labels(proc)
    if plan.seccomp is not None and not plan.seccomp.needs_early(proc):
        plan.seccomp(plan.state)


def exec_program(plan):
    """The last step: execve through the sealed ocirun-exec memfd. Returns
    only if that failed (the caller says why on stderr and exits)."""
    os.execve(plan.exec_fd, [EXEC_MARKER, plan.exe, *plan.proc["args"]], plan.env)


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


def describe(e):
    if isinstance(e, OciError):
        return str(e)
    if isinstance(e, OSError):
        text = e.strerror or errno_text(e)
        return f"{text} ({e.filename})" if e.filename else text
    return f"{type(e).__name__}: {e}"


def say(text):
    try:
        os.write(2, text.encode(errors="replace"))
    except OSError:
        pass


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
    groups_ok = not plan.setgroups_deny  # rootless: see rootless.py
    capabilities.apply(plan.caps, plan.last_cap, set_user=lambda: procattrs.set_user(user, groups_ok),
                       warn=lambda m: chan.send(sync.DEBUG, msg=m))
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


def default_signals():
    """CPython ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored
    across exec: give the container the default dispositions."""
    for s in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(s, signal.SIG_DFL)


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
            plan.ops.mount(f"/dev/pts/{ptn}", "/dev/console", None, sc.MS_BIND)
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
        raise OciError(f"process.cwd: {os_error('chdir', e, cwd)}") from None
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
            raise FileNotFoundError(e.errno, f'exec: "{name}": {os_error("stat", e, name)}') from None
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
