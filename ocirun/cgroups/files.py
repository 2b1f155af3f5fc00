"""The cgroup files' two primitives: write a value in one write(2), read
one whole. Imports only fastos, errors and fileio (pause and resume load
this and freezer.py, not the manager)."""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)

from ..errors import CgroupError, describe
from ..fileio import write_value


def write_file(directory, name, value):
    """Write `value` to directory/name in one write(2); CgroupError names file and value."""
    path = os.path.join(directory, name)
    try:
        write_value(path, str(value), os.O_TRUNC | os.O_NOFOLLOW)
    except OSError as e:
        raise _write_error(path, value, e) from None


def _write_error(path, value, e):
    return CgroupError(f'failed to write "{value}" to {path}: {describe(e)}', errno=e.errno, file=path)


def try_read(directory, name):
    """Contents, or None when the file cannot be read (missing controller, cgroup gone)."""
    try:
        with open(os.path.join(directory, name)) as f:
            return f.read()
    except OSError:
        return None
