"""One request to CRIU's RPC service, as runc drives it.

`criu swrk FD` serves one socketpair(AF_UNIX, SOCK_SEQPACKET) end: we send a
criu_req, CRIU may send NOTIFY messages (with notify_scripts) that must each
be answered before it goes on, then the final criu_resp. A failure in our
NOTIFY handler is answered with notify_success=false, so CRIU undoes what it
did (kills what it restored) before it answers; then the handler's error is
raised.

`_socket` and os.posix_spawn rather than socket/subprocess: their imports
(enum, signal, selectors) would cost more than the rest of the command's.
"""
import os
import _socket as socket

from ocirun.criu import find_criu, wire
from ocirun.errors import OciError, describe, os_error

MAX_MSG = 1 << 16
CRIU_NEEDS = "ocirun needs CRIU >= 4.1 for checkpoint/restore (see README)"
WAIT_S = 30


def find(criu):
    """Path of the criu binary (the global --criu flag, default `criu` on PATH)."""
    path = find_criu(criu)
    if path is None:
        raise OciError(f"criu: {criu!r} not found: {CRIU_NEEDS}")
    return path


class Criu:
    """A `criu swrk` child and our end of its socket. stdio: the fds CRIU
    gets as 0-2 (restore hands them to the restored tasks through
    inherit_fd), else /dev/null. pass_fds keep their numbers in CRIU."""

    def __init__(self, binary, pass_fds=(), stdio=None):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        fd = theirs.fileno()
        actions = []
        if stdio is None:
            actions = [(os.POSIX_SPAWN_OPEN, n, "/dev/null", os.O_RDWR, 0) for n in range(3)]
        else:
            actions = [(os.POSIX_SPAWN_DUP2, src, n) for n, src in enumerate(stdio) if src != n]
        shared = (fd, *pass_fds, *(stdio or ()))
        was = {f: os.get_inheritable(f) for f in shared}
        try:
            for f in shared:
                os.set_inheritable(f, True)
            self.pid = os.posix_spawn(binary, [binary, "swrk", str(fd)], os.environ,
                                      file_actions=actions)
        except OSError as e:
            ours.close()
            raise OciError(f"criu: {os_error('cannot run', e, binary)}") from None
        finally:
            theirs.close()
            for f, inh in was.items():
                if f != fd:
                    os.set_inheritable(f, inh)

    def call(self, req_type, opts, notify=None, what="criu", features=None, log=None):
        """Send one request; returns the final criu_resp dict. notify(script, pid, fds)
        handles each NOTIFY message (fds: those passed with it, ours to close)."""
        req = {"type": req_type, "opts": opts, "features": features}
        if notify is not None:
            opts["notify_scripts"] = True
        self.sock.send(wire.encode("criu_req", req))
        failure = None
        while True:
            try:
                data, anc, _flags, _addr = self.sock.recvmsg(MAX_MSG, socket.CMSG_SPACE(16 * 4))
            except ConnectionResetError:
                data, anc = b"", []
            if not data:
                raise failure or OciError(f"{what}: criu exited without an answer")
            resp = wire.decode("criu_resp", data)
            if resp.get("type") == wire.NOTIFY:
                fds = _fds(anc)
                n = resp.get("notify") or {}
                ok = True
                if failure is None and notify is not None:
                    try:
                        notify(n.get("script", ""), n.get("pid", 0), fds)
                    except BaseException as e:  # answered "failed": CRIU cleans up first
                        failure, ok = e, False
                else:
                    ok = failure is None
                for fd in fds:
                    _close(fd)
                self.sock.send(wire.encode("criu_req", {"type": wire.NOTIFY, "notify_success": ok}))
                continue
            if failure is not None:
                raise failure
            if not resp.get("success"):
                raise CriuFailed(what, resp, log)
            return resp

    def close(self):
        """Close our end (CRIU exits on it) and reap CRIU: killed if it hangs."""
        self.sock.close()
        import select

        pidfd = os.pidfd_open(self.pid)
        try:
            p = select.poll()
            p.register(pidfd, select.POLLIN)
            if not p.poll(WAIT_S * 1000):
                os.kill(self.pid, 9)
        finally:
            os.close(pidfd)
        os.waitpid(self.pid, 0)


class CriuFailed(OciError):
    """One line: CRIU's last errors from its log (its cr_errmsg is the first
    error logged, often a harmless one), and where the log is."""

    def __init__(self, what, resp, log=None):
        self.resp = resp
        detail = log_errors(log) if log else ""
        if not detail:
            errno_ = resp.get("cr_errno") or 0
            detail = ((resp.get("cr_errmsg") or "").strip().splitlines() or [""])[0] or \
                (describe(errno_) if errno_ else "failed")
        super().__init__(f"{what}: criu failed: {detail}" + (f" (log: {log})" if log else ""))


def log_errors(path, limit=2):
    """The last `Error` messages of a CRIU log (not its closing "... FAILED.")."""
    try:
        with open(path, errors="replace") as f:
            lines = [ln.split("): ", 1)[-1].strip() for ln in f if " Error (" in ln]
    except OSError:
        return ""
    # Not the closing "... FAILED.", nor the RLIMIT_NOFILE complaint CRIU logs
    # as an error on every run without CAP_SYS_RESOURCE and then goes on.
    lines = [ln for ln in lines if not ln.endswith("FAILED.") and not ln.startswith("rlimit:")]
    return "; ".join(lines[-limit:])


def _fds(anc):
    out = []
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            usable = len(data) - len(data) % 4
            out += [int.from_bytes(data[i:i + 4], "little") for i in range(0, usable, 4)]
    return out


def _close(fd):
    try:
        os.close(fd)
    except OSError:
        pass


def request(binary, req_type, what="criu", features=None):
    """A request with no notifications (feature check, version)."""
    c = Criu(binary)
    try:
        return c.call(req_type, {"images_dir_fd": -1}, what=what, features=features)
    finally:
        c.close()
