"""Parent <-> init messages: one JSON object a line over a pair of pipes.

    init   --> {"t": "hooks"}        mounts done; run prestart/createRuntime
           <-- {"t": "hooks-done"}
    init   --> {"t": "ready"}        all set up; now blocked on exec.fifo
    init   --> {"t": "error", "msg": ...}   then the init exits
    parent --> {"t": "go"}           the init is in its cgroup; go on

Each message is far below PIPE_BUF, so a write is atomic.
"""
import os

from ocirun import fastjson as json
from ocirun.errors import OciError


class RemoteError(OciError):
    """An error the init (or exec child) reported; hook: it came from a hook."""

    def __init__(self, msg, hook=False):
        super().__init__(msg)
        self.hook = hook


class Channel:
    def __init__(self, rfd, wfd):
        self.rfd, self.wfd = rfd, wfd
        self.buf = b""

    def send(self, t, **kw):
        kw["t"] = t
        os.write(self.wfd, json.dumps(kw).encode() + b"\n")

    def recv(self):
        """Next message, or None when the other side has gone."""
        while b"\n" not in self.buf:
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def next(self, gone, logger=None):
        """The next message that is not "debug" (those go to logger.debug).
        The other side's "error" raises RemoteError; its exit raises OciError(gone)."""
        while True:
            msg = self.recv()
            if msg is None:
                raise OciError(gone)
            if msg["t"] == "error":
                raise RemoteError(msg["msg"], bool(msg.get("hook")))
            if msg["t"] != "debug":
                return msg
            if logger is not None:
                logger.debug(msg["msg"])

    def close(self):
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass


def pair():
    """(parent channel, init channel): two pipes, all ends close-on-exec."""
    p2c_r, p2c_w = os.pipe2(os.O_CLOEXEC)
    c2p_r, c2p_w = os.pipe2(os.O_CLOEXEC)
    return (c2p_r, p2c_w, p2c_r, c2p_w)
