"""RecordingOps: the test double of ocirun.sysops.Ops (youki's TestHelperSyscall
is the model): every call is recorded with its arguments, by name; nothing
that changes the system is done.

- Every name of sysops.Ops is a method here, made from the real one's
  signature, so the arguments are recorded by name (defaults filled in) and a
  new operation is recorded, never run for real, without a change here.
- READS (openat2, statfs, statvfs, fstat, the mount table) are done for real,
  and recorded: they need no privilege, and a test's rootfs is a real
  directory, so path resolution (openat2 RESOLVE_IN_ROOT) is the kernel's.
- Everything else returns None, or for an operation that returns a mount fd
  (open_tree, fsmount_new) a new fd on /dev/null.
- script(name, fn): fn(call) gives the result instead (or raises).
- fail(name, errno, when=None, times=None): the call raises OSError(errno),
  for calls `when(call)` is true, the first `times` of them.
- Each call records `where`: for every argument that is an fd or a
  /proc/self/fd/N path, the path it names at the time of the call, so a test
  sees where a mount went after the kernel resolved it.
"""
import inspect
import os

from ocirun import sysops

READS = ("openat2", "fstatfs_type", "statvfs", "fstat", "mountinfo")
FD_RESULT = ("open_tree", "fsmount_new")
FD_ARGS = ("fd", "dirfd", "dir_fd", "from_dirfd", "to_dirfd", "path", "src", "dst", "target", "new_root")


class Call:
    def __init__(self, name, args, where):
        self.name, self.args, self.where = name, args, where

    def __getattr__(self, key):
        try:
            return self.__dict__["args"][key]
        except KeyError:
            raise AttributeError(key) from None

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"{self.name}({args})" + (f" where={self.where}" if self.where else "")


def _names_fd(key, value):
    if key not in FD_ARGS:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0 and key != "path":
        return f"/proc/self/fd/{value}"
    if isinstance(value, str) and value.startswith("/proc/self/fd/"):
        return value
    return None


def _where(args):
    out = {}
    for key, value in args.items():
        link = _names_fd(key, value)
        if link is not None:
            try:
                out[key] = os.readlink(link)
            except OSError:
                out[key] = None
    return out


class RecordingOps:
    def __init__(self):
        self.calls = []
        self._scripts = {}
        self._fails = []  # [name, errno, when, times left (None: always)]

    def script(self, name, fn):
        assert name in _OP_NAMES, name
        self._scripts[name] = fn
        return self

    def fail(self, name, err, when=None, times=None):
        assert name in _OP_NAMES, name
        self._fails.append([name, err, when, times])
        return self

    def of(self, *names):
        """The calls of these operations, in order."""
        return [c for c in self.calls if c.name in names]

    def names(self):
        return [c.name for c in self.calls]

    def _call(self, name, args):
        call = Call(name, args, _where(args))
        self.calls.append(call)
        for rule in self._fails:
            fname, err, when, times = rule
            if fname == name and (when is None or when(call)) and times != 0:
                if times is not None:
                    rule[3] -= 1
                raise OSError(err, f"{name}: {os.strerror(err)}")
        if name in self._scripts:
            return self._scripts[name](call)
        if name in READS:
            return getattr(sysops.REAL, name)(**args)
        if name in FD_RESULT:
            return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        return None


def _signature(name):
    fn = getattr(sysops.Ops, name)
    try:
        return inspect.signature(fn)
    except ValueError:  # a builtin without a text signature
        raise AssertionError(f"sysops.Ops.{name}: no signature to record its arguments by") from None


def _make(name):
    sig = _signature(name)

    def op(self, *a, **kw):
        bound = sig.bind(*a, **kw)
        bound.apply_defaults()
        return self._call(name, dict(bound.arguments))

    op.__name__ = name
    op.__signature__ = sig
    return op


_OP_NAMES = tuple(n for n in vars(sysops.Ops) if not n.startswith("_"))
for _n in _OP_NAMES:
    setattr(RecordingOps, _n, _make(_n))
