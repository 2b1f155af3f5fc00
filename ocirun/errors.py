"""The few errors ocirun raises. Each maps to one line on stderr and exit 1.

Message wording matters: engines match phrases such as "does not exist",
"container not running", "no such process", "executable file not found" and
"permission denied" (see docs/architecture.md).
"""


class OciError(Exception):
    """Base: str(err) is the single line printed after 'ocirun: '."""

    exit_code = 1


class InvalidSpec(OciError):
    """config.json is invalid. `path` is the JSON path ('linux.namespaces[2].type')."""

    def __init__(self, path, message, source="config.json"):
        self.path = path
        self.message = message
        self.source = source
        where = f"{source}: {path}: " if path else f"{source}: "
        super().__init__(where + message)


def quote(value):
    """A value in a one-line message: 'pid', with quotes, backslashes and
    control characters escaped as JSON does. Imports nothing unless it must
    escape (then _json, which the parent loaded before any fork)."""
    s = str(value)
    if s.isprintable() and '"' not in s and "\\" not in s:
        return f"'{s}'"
    import _json

    return "'" + _json.encode_basestring(s)[1:-1] + "'"


class UsageError(OciError):
    """Bad command-line arguments (runc exits 1 for these too)."""


class ContainerNotFound(OciError):
    def __init__(self, cid):
        super().__init__(f"container {cid} does not exist")


class ContainerExists(OciError):
    def __init__(self, cid):
        super().__init__(f"container with id {cid} already exists")


class InvalidState(OciError):
    """The container is in the wrong state for the command."""


class HookError(OciError):
    pass


class CgroupError(OciError):
    pass


class SyscallError(OciError):
    """A system call failed: names the operation and the path it acted on."""

    def __init__(self, op, errno_, path=None, detail=None):
        import os

        self.op = op
        self.errno = errno_
        self.path = path
        what = f"{op} {path}" if path is not None else op
        text = os.strerror(errno_).lower() if errno_ else ""
        msg = f"{what}: {text}" if text else what
        if detail:
            msg = f"{msg} ({detail})"
        super().__init__(msg)
