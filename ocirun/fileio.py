"""The few ways ocirun writes a file whole: open, write, close, and nothing
left open when a step fails.

Kernel interface files (/proc, a cgroup) take a value in one write(2) and
exist already; files ocirun makes (a bundle's config.json) are new and
written to the last byte. Errors are the OSError of the step that failed
(an open's carries the path in e.filename, a write's does not): callers
word them, naming the field. Imports nothing more: the container's init
writes with it where nothing can be imported.
"""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)


def write_all(fd, data):
    """Every byte of data: write(2) may take less than asked (a full disk, a pipe)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_value(path, value, flags=0, check=None):
    """`value` (str or bytes) to an existing kernel file in one write(2).

    flags adds to O_WRONLY | O_CLOEXEC (O_NOFOLLOW, O_TRUNC); check(fd), if
    given, vets the open file before the write (that it is on procfs...)."""
    data = value.encode() if isinstance(value, str) else value
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | flags)
    try:
        if check is not None:
            check(fd)
        os.write(fd, data)
    finally:
        os.close(fd)


def write_new(path, data, mode=0o644):
    """A new file (O_EXCL, never through a symlink) holding all of data."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)
