"""--log, --log-format text|json, --debug.

Without --log an error is one line on stderr: `ocirun: <message>`. With
--log FILE the message is appended to FILE (JSON: one object a line with
level, msg and an RFC 3339 time, which containerd parses) and also written
to stderr, as runc does. The file is created as soon as the flags are read,
even if the command then succeeds (runc does, and callers open it after).

Without --debug a failure writes exactly one line: podman json-decodes the
whole log file and accepts only one object. So warnings reach stderr at
once but the file only when the process exits without an error; after an
error they are dropped from the file (stderr still has them). With --debug
everything is written as it happens (and podman falls back to stderr).

Under conmon (podman, CRI-O) the stderr lines carry no `ocirun: ` prefix:
without runtime_supports_json podman reports conmon's copy of our stderr as
"<runtime name>: <stderr>", so a prefix of ours made "ocirun: ocirun: ...".
conmon is recognised by the _OCI_SYNCPIPE it passes on from podman.

Logger() first makes sure fds 0-2 are open (on /dev/null if they were
closed): otherwise the next file we open becomes "stderr", our messages land
in it, and a forked init hands that host file to the container as its fd 2.
"""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)


def _now():
    import time  # here: importing it reads /etc/localtime, which most runs never need

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Logger:
    def __init__(self):
        reserve_stdio()
        self.path = ""
        self.fmt = "text"
        self.debug_on = False
        self._pending = []  # (level, msg, time) held back until exit
        self._failed = False
        self._pid = os.getpid()
        self.prefix = "" if os.getenv("_OCI_SYNCPIPE") is not None else "ocirun: "

    def configure(self, path, fmt, debug):
        from ocirun.errors import OciError, UsageError, os_error

        if fmt not in ("text", "json"):
            raise UsageError(f"invalid log-format: {fmt}")
        self.fmt, self.debug_on = fmt, bool(debug)
        if path:
            # Absolute now: a command may chdir (hooks, the bundle) later.
            path = os.path.abspath(path)
            try:
                os.close(_open(path))
            except OSError as e:
                raise OciError(os_error("open log file", e, path)) from None
        self.path = path

    def _line(self, level, msg, when):
        if self.fmt == "json":
            from ocirun import fastjson

            return fastjson.dumps({"level": level, "msg": msg, "time": when}) + "\n"
        return f'time="{when}" level={level} msg="{_quote(msg)}"\n'

    def _write_file(self, level, msg, when=None):
        if not self.path:
            return
        line = self._line(level, msg, when or _now())
        try:
            fd = _open(self.path)
            try:
                os.write(fd, line.encode(errors="replace"))
            finally:
                os.close(fd)
        except OSError:
            pass

    def error(self, msg):
        self._failed = True
        self._pending.clear()
        self._write_file("error", msg)
        _stderr(f"{self.prefix}{msg}\n")

    def warning(self, msg):
        if self.debug_on:
            self._write_file("warning", msg)
        elif self.path:
            self._defer("warning", msg)
        _stderr(f"{self.prefix}warning: {msg}\n")

    def debug(self, msg):
        if self.debug_on:
            self._write_file("debug", msg)
            if not self.path:
                _stderr(f"{self.prefix}debug: {msg}\n")

    def _defer(self, level, msg):
        self._pending.append((level, msg, _now()))

    def flush(self):
        """Write held-back warnings (cli.main calls it when a command succeeds;
        nothing after an error, nothing from a forked child, which shares our
        memory but not our outcome)."""
        if os.getpid() != self._pid or self._failed:
            self._pending.clear()
            return
        pending, self._pending = self._pending, []
        for level, msg, when in pending:
            self._write_file(level, msg, when)


def reserve_stdio():
    """Open /dev/null on whichever of fds 0, 1, 2 is closed (inheritable, as
    stdio is). Called once at start-up, before anything else opens a file."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            new = os.open("/dev/null", os.O_RDWR)
            if new != fd:  # a lower one was free after all: never the case in order
                os.dup2(new, fd)
                os.close(new)
            os.set_inheritable(fd, True)


def _open(path):
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)


def _quote(s):
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _stderr(text):
    try:
        os.write(2, text.encode(errors="replace"))
    except OSError:
        pass  # stderr closed (podman's `state`): the log file has it.
