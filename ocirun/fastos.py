"""The part of `os` the small commands use, without importing `os`.

`import os` costs ~0.9 ms at start-up (it builds ~25 ABCs of
_collections_abc for os.environ's MutableMapping), a tenth of a whole
`ocirun state`. `posix` is the built-in module whose functions `os`
re-exports, so `fastos.open is os.open`; this adds getenv, walk and the
few os.path functions the hot path calls, with posixpath's semantics (the unit
tests compare them on generated paths). Any other name is looked up in the
real `os` on first use (PEP 562), so a rarer path still works, only slower.
Used as `from ocirun import fastos as os` in modules on the hot path.
"""
from posix import *  # noqa: F401,F403  (the functions os re-exports)
from posix import _exit, environ as _environb  # noqa: F401  (* skips _names)
from posix import lstat as _lstat, stat as _stat, getcwd as _getcwd

# posix.environ is os.environ's bytes backing dict: os.environ (str) comes
# from the real os (getenv below reads the bytes one directly).
del environ  # noqa: F821

_S_IFMT, _S_IFDIR, _S_IFLNK, _S_IFREG = 0o170000, 0o040000, 0o120000, 0o100000


def getenv(key, default=None):
    """os.getenv: os.environ's backing dict is posix.environ (bytes), so
    this sees every change made through os.environ too."""
    value = _environb.get(key.encode("utf-8", "surrogateescape"))
    return default if value is None else value.decode("utf-8", "surrogateescape")


def walk(top, topdown=True, onerror=None, followlinks=False):
    """os.walk (delete's cgroup removal walks the tree); the defaults on a
    str path here, anything else in os.walk itself."""
    if type(top) is not str or not topdown or onerror is not None or followlinks:
        yield from _real("walk")(top, topdown, onerror, followlinks)
        return
    dirs, files = [], []
    try:
        with scandir(top) as entries:  # noqa: F405  (posix's)
            for entry in entries:
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                (dirs if is_dir else files).append(entry.name)
    except OSError:
        return  # as os.walk without onerror: an unreadable directory is skipped
    yield top, dirs, files
    for name in dirs:  # after the yield: the caller may prune dirs
        sub = path.join(top, name)
        if not path.islink(sub):
            yield from walk(sub)


def makedirs(name, mode=0o777, exist_ok=False):
    """os.makedirs: the usual case (the parent exists: create's state root)
    here, a missing parent in os.makedirs itself."""
    try:
        mkdir(name, mode)  # noqa: F405  (posix's)
    except FileExistsError:
        if not exist_ok or not path.isdir(name):
            raise
    except FileNotFoundError:
        _real("makedirs")(name, mode, exist_ok)


def _real(name):
    import os

    return getattr(os, name)


def __getattr__(name):
    return _real(name)


class _Path:
    """os.path's functions on str paths; anything else goes to posixpath."""

    sep = "/"

    def __getattr__(self, name):
        return getattr(_real("path"), name)

    @staticmethod
    def join(a, *p):
        if type(a) is not str or any(type(b) is not str for b in p):
            return _real("path").join(a, *p)
        for b in p:
            if b.startswith("/"):
                a = b
            elif not a or a.endswith("/"):
                a += b
            else:
                a += "/" + b
        return a

    @staticmethod
    def normpath(p):
        if type(p) is not str:
            return _real("path").normpath(p)
        if not p:
            return "."
        # POSIX keeps exactly two leading slashes (implementation-defined);
        # one or three and more become one.
        lead = 2 if p.startswith("//") and not p.startswith("///") else 1 if p.startswith("/") else 0
        parts = []
        for c in p.split("/"):
            if c in ("", "."):
                continue
            if c != ".." or (not lead and not parts) or (parts and parts[-1] == ".."):
                parts.append(c)
            elif parts:
                parts.pop()
        return "/" * lead + "/".join(parts) or "."

    @staticmethod
    def abspath(p):
        if type(p) is not str:
            return _real("path").abspath(p)
        return _Path.normpath(p if p.startswith("/") else _Path.join(_getcwd(), p))

    @staticmethod
    def dirname(p):
        if type(p) is not str:
            return _real("path").dirname(p)
        head = p[:p.rfind("/") + 1]
        return head.rstrip("/") or head

    @staticmethod
    def basename(p):
        if type(p) is not str:
            return _real("path").basename(p)
        return p[p.rfind("/") + 1:]

    @staticmethod
    def split(p):
        if type(p) is not str:
            return _real("path").split(p)
        i = p.rfind("/") + 1
        head, tail = p[:i], p[i:]
        return (head.rstrip("/") or head), tail

    @staticmethod
    def exists(p):
        try:
            _stat(p)
        except (OSError, ValueError):
            return False
        return True

    @staticmethod
    def isdir(p):
        return _is(_stat, p, _S_IFDIR)

    @staticmethod
    def isfile(p):
        return _is(_stat, p, _S_IFREG)

    @staticmethod
    def islink(p):
        return _is(_lstat, p, _S_IFLNK)


def _is(stat_fn, p, kind):
    try:
        return stat_fn(p).st_mode & _S_IFMT == kind
    except (OSError, ValueError, AttributeError):
        return False


path = _Path()
