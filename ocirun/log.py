"""--log, --log-format text|json, --debug.

Without --log an error is one line on stderr: `ocirun: <message>`. With
--log FILE the message is appended to FILE (JSON: one object a line with
level, msg and an RFC 3339 time, which containerd parses) and also written
to stderr, as runc does. Without --debug a failure writes exactly one line:
podman json-decodes the whole log file and accepts only one object.
"""
import os
import time


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Logger:
    def __init__(self):
        self.path = ""
        self.fmt = "text"
        self.debug_on = False

    def configure(self, path, fmt, debug):
        if fmt not in ("text", "json"):
            from ocirun.errors import UsageError

            raise UsageError(f"invalid log-format: {fmt}")
        self.path, self.fmt, self.debug_on = path, fmt, bool(debug)

    def _write_file(self, level, msg):
        if not self.path:
            return
        if self.fmt == "json":
            import json

            line = json.dumps({"level": level, "msg": msg, "time": _now()}) + "\n"
        else:
            line = f'time="{_now()}" level={level} msg="{_quote(msg)}"\n'
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError:
            pass

    def error(self, msg):
        self._write_file("error", msg)
        _stderr(f"ocirun: {msg}\n")

    def warning(self, msg):
        self._write_file("warning", msg)
        _stderr(f"ocirun: warning: {msg}\n")

    def debug(self, msg):
        if self.debug_on:
            self._write_file("debug", msg)
            if not self.path:
                _stderr(f"ocirun: debug: {msg}\n")


def _quote(s):
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _stderr(text):
    try:
        os.write(2, text.encode(errors="replace"))
    except OSError:
        pass  # stderr closed (podman's `state`): the log file has it.
