"""The few errors ocirun raises. Each maps to one line on stderr and exit 1.

Message wording matters: engines match the phrases in ENGINE_PHRASES (podman,
containerd and Docker turn them into exit codes or "already stopped"; the
list is also in docs/architecture.md). A failed system call is worded by
describe()/os_error() below, the same words everywhere.

No imports at module level: every command imports this module.
"""

# Lower case, as runc (Go's syscall.Errno) prints them; engines compare them as text.
ENGINE_PHRASES = ("does not exist", "container not running", "no such process",
                  "executable file not found", "permission denied", "operation not permitted",
                  "no such file or directory", "not a directory")


def describe(err):
    """The text of an errno, lower case: 'no such file or directory'.

    `err` is an OSError or an errno number (a negative one, as libseccomp and
    netlink return it, counts as its absolute value). An OSError without an
    errno (or errno 0) is described by str(err)."""
    from posix import strerror  # built in, always loaded: safe after the root switch

    number = err if isinstance(err, int) else err.errno
    if number:
        return strerror(abs(number)).lower()
    return str(err)


def os_error(op, err, path=None, detail=None):
    """The one line for a failed operation: 'op path: text (detail)'.

    os_error("mkdir", e, "/run/x") -> 'mkdir /run/x: permission denied'.
    With errno 0 or None there is no text: 'op path'."""
    what = op if path is None else f"{op} {path}"
    text = "" if err is None or err == 0 else describe(err)
    msg = f"{what}: {text}" if text else what
    return f"{msg} ({detail})" if detail else msg


class OciError(Exception):
    """Base: str(err) is the single line printed after 'ocirun: '.

    errno: the errno of the failed system call behind the error, None if none
    (callers test it, e.g. to retry on EINVAL or to ignore ENOENT)."""

    exit_code = 1
    errno = None  # also for subclasses whose __init__ does not pass it on

    def __init__(self, *args, errno=None):
        super().__init__(*args)
        self.errno = errno


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
    """A hook failed. hook_path: the hook's path (None if it had none);
    detail: what happened to it ('failed: exit status 1: <last stderr line>');
    phase and index: which hook of config.json's hooks ('prestart', 0), set
    once run_hooks knows them."""

    def __init__(self, message, *, hook_path=None, detail=None, phase=None, index=None):
        super().__init__(message)
        self.hook_path = hook_path
        self.detail = message if detail is None else detail
        self.phase = phase
        self.index = index


class CgroupError(OciError):
    """A cgroup could not be set up or changed. errno as OciError's; file: the
    cgroup file or directory a failed read/write/bpf call acted on, if any."""

    def __init__(self, message, *, errno=None, file=None):
        super().__init__(message, errno=errno)
        self.file = file


class SyscallError(OciError):
    """A system call failed: names the operation and the path it acted on
    ('write /proc/self/oom_score_adj: permission denied (process.oomScoreAdj)')."""

    def __init__(self, op, errno_, path=None, detail=None):
        self.op = op
        self.path = path
        super().__init__(os_error(op, errno_, path, detail), errno=errno_)
