"""Run OCI hooks (config.md#posix-platform-hooks, runtime.md#lifecycle).

Each hook gets the state JSON on stdin, its stdout goes to our stderr (stdout
may be an engine's pipe we must not pollute) and its stderr is captured: the
last 4 KiB are echoed to our stderr if it fails, and its last line ends up in
the error. runc instead collects both streams into the error text.

Environment: `env` if given is the hook's whole environment; without `env`
the hook inherits ours, as with runc (checked on 1.1.5: Go's exec.Cmd with a
nil Env). The working directory is ours unless `cwd` is passed; runc runs
hooks from the bundle directory because its CLI chdirs there.

Plain fork/execve and poll instead of subprocess: this also runs in the
container's init, inside its namespaces and possibly after pivot_root, so
everything is imported here at the top and nothing is imported lazily.
"""

import fcntl
from ocirun import fastjson as json
import os
import select
import _signal as signal  # not `signal`: it loads enum
import sys
import time

from ocirun.errors import HookError, os_error
from ocirun.signals import signal_name

STDERR_TAIL = 4096  # bytes of the hook's stderr we keep
_CHUNK = 65536
_FALLBACK_POLL = 0.05  # seconds between waitpid checks without a pidfd


def run_hooks(hooks, state, phase, *, timeout_default=None, cwd=None, warn=None):
    """Run `hooks` (a config.json hooks list, may be None) in order.
    poststop: a failure is a warning and the rest still run (runtime.md#lifecycle
    step 13); `warn(msg)` reports it (default: "ocirun: warning: msg" on
    stderr; pass Logger.warning to also log it). Other phases: the first
    failure raises HookError ("prestart hook #0 (/bin/false) failed: exit status 1")."""
    for index, hook in enumerate(hooks or ()):
        try:
            run_hook(hook, state, timeout_default=timeout_default, cwd=cwd)
        except HookError as err:
            path = err.hook_path or hook.get("path")
            msg = f"{phase} hook #{index} ({path}) {err.detail}"
            if phase == "poststop":
                (warn or _warn)(msg)
                continue
            raise HookError(msg, hook_path=path, detail=err.detail, phase=phase, index=index) from None


def run_hook(hook, state, *, timeout_default=None, cwd=None):
    """Run one hook {"path", "args"?, "env"?, "timeout"?} with `state` (a dict)
    as JSON on stdin. Returns when it exits 0; otherwise raises HookError
    ("hook /x failed: exit status 1: <last stderr line>", "... timed out after
    N s", "... failed: exec: no such file or directory"). A hook that outlives
    its timeout (or `timeout_default` seconds if it has none) is SIGKILLed."""
    _run(hook, _payload(state), timeout_default, cwd)


def _payload(state):
    # Compact like runc's; hooks parse it as JSON anyway.
    return json.dumps(state).encode()



def _warn(msg):
    try:
        os.write(2, f"ocirun: warning: {msg}\n".encode("utf-8", "replace"))
    except OSError:
        pass


def _fail(path, detail):
    return HookError(f"hook {path} {detail}", hook_path=path, detail=detail)


def _argv_env(hook):
    """Validated (path, argv, env mapping or None). execve takes a mapping, so
    an entry without "=" is dropped and a repeated name keeps its last value."""
    path = hook.get("path")
    if not isinstance(path, str) or not path:
        raise _fail(path, "failed: no path")
    argv = hook.get("args") or [path]  # as Go's exec.Cmd: no args means argv = [path]
    env = None
    if hook.get("env") is not None:
        env = {}
        for entry in hook["env"]:
            key, sep, value = entry.partition("=")
            if sep and key:
                env[key] = value
    for text in [path, *argv, *(env or {}), *(env or {}).values()]:
        if "\0" in text:
            raise _fail(path, "failed: NUL byte in path, args or env")
    return path, list(argv), env


def _run(hook, payload, timeout_default, cwd):
    path, argv, env = _argv_env(hook)
    timeout = hook.get("timeout", timeout_default)
    if timeout is not None and timeout <= 0:
        # config.md: "If set, timeout MUST be greater than zero."
        raise _fail(path, f"failed: timeout must be greater than zero, not {timeout}")
    if env is None:
        env = os.environ
    fds = []
    try:
        in_r, in_w = _pipe(fds)
        err_r, err_w = _pipe(fds)
        exec_r, exec_w = _pipe(fds)
        maxfd = os.sysconf("SC_OPEN_MAX")
        if maxfd <= 3:
            maxfd = 65536
        pid = os.fork()
    except OSError as e:
        _close(fds)
        raise _fail(path, f"failed: {os_error('fork', e)}") from None
    if pid == 0:
        _child(path, argv, env, cwd, in_r, err_w, exec_w, maxfd)  # never returns
    try:
        for fd in (in_r, err_w, exec_w):
            os.close(fd)
            fds.remove(fd)
        status, timed_out, tail = _supervise(pid, payload, in_w, err_r, exec_r, fds, timeout)
    finally:
        _close(fds)
    if timed_out:
        _echo(tail)
        raise _fail(path, _with_last_line(f"timed out after {timeout:g} s", tail))
    if isinstance(status, str):  # the child could not exec
        raise _fail(path, f"failed: {status}")
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return
    _echo(tail)
    if code > 0:
        detail = f"failed: exit status {code}"
    else:
        try:
            detail = f"failed: killed by signal {signal_name(-code)}"
        except ValueError:
            detail = f"failed: killed by signal {-code}"
    raise _fail(path, _with_last_line(detail, tail))


def _supervise(pid, payload, in_w, err_r, exec_r, fds, timeout):
    """Feed stdin, collect stderr, wait for exit or deadline. Returns
    (wait status | exec error text, timed_out, stderr tail)."""
    reaped = False
    try:
        report = b""
        while chunk := os.read(exec_r, 4096):  # EOF once execve closed it
            report += chunk
        if report:
            os.waitpid(pid, 0)
            reaped = True
            return report.decode("utf-8", "replace"), False, b""
        deadline = None if timeout is None else time.monotonic() + timeout
        poller, pidfd = _poller(pid, in_w, err_r, fds)
        tail = bytearray()
        sent = 0
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if pidfd is None:
                wait = _FALLBACK_POLL if wait is None else min(wait, _FALLBACK_POLL)
            # poll() takes a C int of ms: a timeout of 2**31 s and more waits in slices.
            events = poller.poll(None if wait is None else min(int(wait * 1000) + 1, 2**31 - 1))
            for fd, ev in events:
                if fd == err_r:
                    if not _read_into(err_r, tail):
                        poller.unregister(err_r)
                elif fd == in_w:
                    sent = _feed(in_w, payload, sent, ev)
                    if sent < 0 or sent >= len(payload):
                        poller.unregister(in_w)
                        _close_one(in_w, fds)
                        sent = len(payload)
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                reaped = True
                _read_into(err_r, tail)  # what is left; never wait for EOF:
                return status, False, bytes(tail)  # a grandchild may hold the pipe
            if deadline is not None and time.monotonic() >= deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                reaped = True
                _read_into(err_r, tail)
                return None, True, bytes(tail)
    finally:
        if not reaped:  # an exception (KeyboardInterrupt...) left it running
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass


def _poller(pid, in_w, err_r, fds):
    """poll() on the hook's stdin, its stderr and (where the kernel has them) its pidfd."""
    try:
        pidfd = os.pidfd_open(pid)
        fds.append(pidfd)
    except OSError:  # pre-5.3 kernel or a seccomp filter: poll waitpid
        pidfd = None
    os.set_blocking(in_w, False)
    os.set_blocking(err_r, False)
    poller = select.poll()
    poller.register(err_r, select.POLLIN)
    poller.register(in_w, select.POLLOUT)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    return poller, pidfd


def _child(path, argv, env, cwd, in_r, err_w, exec_w, maxfd):
    """In the forked child: wire fds, reset signals, execve. Reports a failure
    as text on exec_w (close-on-exec, so EOF there means the exec worked)."""
    op = "dup2"
    try:
        try:
            os.dup2(2, 1)  # stdout -> our stderr
        except OSError:  # we have no stderr
            null = os.open(os.devnull, os.O_WRONLY)
            if null != 1:
                os.dup2(null, 1)
        os.dup2(err_w, 2)
        os.dup2(in_r, 0)
        op = "close fds"
        os.closerange(3, exec_w)
        os.closerange(exec_w + 1, maxfd)
        op = "reset signals"
        # CPython ignores SIGPIPE and SIGXFSZ, and ignored signals survive
        # execve; a blocked mask would too.
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        if cwd is not None:
            op = f"chdir {cwd}"
            os.chdir(cwd)
        op = "exec"
        os.execve(path, argv, env)
    except OSError as e:
        msg = os_error(op, e)
    except BaseException as e:  # noqa: BLE001 - anything must be reported, not raised
        msg = f"{op}: {e}"
    try:
        os.write(exec_w, msg.encode("utf-8", "replace"))
    finally:
        os._exit(127)


def _pipe(fds):
    """os.pipe with both ends above 2 (we dup2 onto 0-2 in the child) and
    close-on-exec; the ends are appended to `fds` for cleanup."""
    ends = []
    for fd in os.pipe():
        if fd <= 2:
            high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
            os.close(fd)
            fd = high
        fds.append(fd)
        ends.append(fd)
    return ends


def _read_into(fd, tail):
    """Append what can be read now to `tail`, keeping its last STDERR_TAIL
    bytes. Returns False at EOF."""
    while True:
        try:
            chunk = os.read(fd, _CHUNK)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not chunk:
            return False
        tail += chunk
        del tail[:-STDERR_TAIL]


def _feed(fd, payload, sent, events):
    """Write more of the state; -1 once the hook stopped reading."""
    if events & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
        return -1
    try:
        return sent + os.write(fd, payload[sent:sent + _CHUNK])
    except BlockingIOError:
        return sent
    except OSError:  # EPIPE: the hook need not read its stdin
        return -1


def _close_one(fd, fds):
    if fd in fds:
        fds.remove(fd)
        os.close(fd)


def _close(fds):
    while fds:
        try:
            os.close(fds.pop())
        except OSError:
            pass


def _with_last_line(detail, tail):
    lines = [ln.strip() for ln in tail.decode("utf-8", "replace").splitlines() if ln.strip()]
    if not lines:
        return detail
    last = lines[-1]
    if len(last) > 300:
        last = last[:297] + "..."
    return f"{detail}: {last}"


def _echo(tail):
    """Replay the hook's captured stderr on ours."""
    if not tail:
        return
    if not tail.endswith(b"\n"):
        tail += b"\n"
    try:
        sys.stderr.flush()
        view = memoryview(tail)
        while view:
            view = view[os.write(2, view):]
    except (OSError, ValueError):
        pass
