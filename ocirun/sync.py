"""The protocol between ocirun and the processes it forks: one JSON object a
line ({"t": KIND, ...}) over one pair of pipes per stage. Each stage has its
own pair, so a message can only come from the process that stage names.

Who sends what, when, on which pipe (docs/architecture.md has the same table;
tests/unit/test_protocol_table.py keeps them equal):

    pipe            sender  kind        when / fields
    create:stage1   stage1  maps        in the user namespace: write our id maps (userns.stage1)
                    parent  maps-done   maps written (and stage1 is in the cgroup)
                    stage1  pid         {"pid": N}: the init it forked, in the parent's pid namespace
    create:init     parent  go          {"pid": N}: the init is in its cgroup; go on
                    init    hooks       mounts done: run prestart/createRuntime (and move netDevices)
                    parent  hooks-done  those hooks ran
                    init    pid         {"pid": N}: it forked into a joined pid namespace
                                        (initproc.enter_pid_late); the parent answers with go
                    init    ready       set up; now blocked on exec.fifo
    exec:join       parent  go          the intermediate is in the cgroup; join the namespaces
                    join    pid         {"pid": N}: the process it forked; then it exits
    exec:process    process ready       set up; it executes the program next
    any child pipe  child   debug       {"msg": ...}: a line for the parent's debug log
                    child   error       {"msg": ..., "errno": N|null, "hook": bool}: why it failed;
                                        then it exits

Each message is far below PIPE_BUF, so a write is atomic. Any kind other than
the one expected is a protocol error, raised, never dropped (Channel.expect).
"""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)

from ocirun import fastjson as json
from ocirun.errors import OciError

MAPS = "maps"
MAPS_DONE = "maps-done"
PID = "pid"
GO = "go"
HOOKS = "hooks"
HOOKS_DONE = "hooks-done"
READY = "ready"
DEBUG = "debug"
ERROR = "error"

KINDS = (MAPS, MAPS_DONE, PID, GO, HOOKS, HOOKS_DONE, READY, DEBUG, ERROR)


class RemoteError(OciError):
    """An error a forked process reported; hook: it came from a hook;
    errno: the OSError's errno behind it, if any."""

    def __init__(self, msg, hook=False, errno=None):
        super().__init__(msg, errno=errno)
        self.hook = hook


class ProtocolError(OciError):
    """A message of a kind the receiver does not expect now: a bug, said loudly."""


class Channel:
    """One end of one stage's pipe pair; peer names the other side in errors,
    gone is the error when it exits without a word."""

    def __init__(self, rfd, wfd, peer, gone=None):
        self.rfd, self.wfd, self.peer = rfd, wfd, peer
        self.gone = gone or f"{peer} exited unexpectedly"
        self.buf = b""

    def send(self, t, **kw):
        kw["t"] = t
        os.write(self.wfd, json.dumps(kw).encode() + b"\n")

    def send_error(self, msg, errno=None, hook=False):
        self.send(ERROR, msg=msg, errno=errno, hook=hook)

    def recv(self):
        """Next message, or None when the other side has gone."""
        while b"\n" not in self.buf:
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def expect(self, *kinds, logger=None):
        """The next message, which must be one of `kinds`. "debug" lines go to
        logger.debug on the way; the other side's "error" raises RemoteError,
        its exit OciError, any other kind ProtocolError."""
        while True:
            msg = self.recv()
            if msg is None:
                raise OciError(self.gone)
            t = msg.get("t")
            if t in kinds:
                return msg
            if t == ERROR:
                raise RemoteError(msg.get("msg"), bool(msg.get("hook")), msg.get("errno"))
            if t != DEBUG:
                raise ProtocolError(f"{self.peer}: unexpected message {t!r} (expected "
                                    f"{' or '.join(kinds)})")
            if logger is not None:
                logger.debug(msg.get("msg"))

    def close(self):
        """Idempotent: a second close must not hit an fd reused since."""
        for fd in (self.rfd, self.wfd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.rfd = self.wfd = -1


def pair(peer, gone=None):
    """(parent's Channel, child's Channel) over two new pipes, every end
    close-on-exec. The parent closes the child's Channel once it has forked;
    the child closes the parent's first thing (spawn.fork does both)."""
    p2c_r, p2c_w = os.pipe2(os.O_CLOEXEC)
    c2p_r, c2p_w = os.pipe2(os.O_CLOEXEC)
    return Channel(c2p_r, p2c_w, peer, gone), Channel(p2c_r, c2p_w, "ocirun")
