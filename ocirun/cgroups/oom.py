"""Noticing OOM in a container's memory cgroup, for `events`.

v1: an eventfd registered through cgroup.event_control on memory.oom_control;
the kernel signals it when the cgroup runs out of memory (and when the cgroup
is removed, which check() tells apart). v2: memory.events, whose oom_kill
counter is compared on every check; the file raises POLLPRI when it changes.
Falls back to comparing memory.oom_control's oom_kill counter (v1) when the
eventfd cannot be registered.
"""
import os
import select

from .base import try_read, write_file


def _counter(text, key):
    for ln in (text or "").splitlines():
        parts = ln.split()
        if len(parts) == 2 and parts[0] == key:
            try:
                return int(parts[1])
            except ValueError:
                return 0
    return 0


class OomWatch:
    """fd/events go to select.poll; check() returns how many OOM events happened since the last call."""

    def __init__(self, manager):
        self.fd = None
        self.events = 0
        self._eventfd = False
        self._file = None  # (directory, name, counter key) compared on each check
        self._last = 0
        if manager.mode == "unified":
            d = manager.path("unified")
            self._file = (d, "memory.events", "oom_kill")
            if try_read(d, "memory.events") is not None:
                self.fd = os.open(os.path.join(d, "memory.events"), os.O_RDONLY | os.O_CLOEXEC)
                self.events = select.POLLPRI
                os.read(self.fd, 4096)  # kernfs signals changes after the first read
        else:
            d = manager.path("memory")
            if d:
                self._file = (d, "memory.oom_control", "oom_kill")
                self._register_v1(d)
        if self._file:
            self._last = _counter(try_read(self._file[0], self._file[1]), self._file[2])

    def _register_v1(self, d):
        try:
            efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        except OSError:
            return
        try:
            cfd = os.open(os.path.join(d, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            os.close(efd)
            return
        try:
            write_file(d, "cgroup.event_control", f"{efd} {cfd}")
        except Exception:  # noqa: BLE001 - no notification: fall back to the counter
            os.close(efd)
            return
        finally:
            os.close(cfd)  # the kernel holds its own reference
        self.fd, self.events, self._eventfd = efd, select.POLLIN, True

    def check(self):
        if self._eventfd:
            try:
                fired = int.from_bytes(os.read(self.fd, 8), "little")
            except BlockingIOError:
                fired = 0
            # The same eventfd fires when the cgroup goes away: not an OOM.
            return 1 if fired and os.path.exists(os.path.join(self._file[0], self._file[1])) else 0
        if not self._file:
            return 0
        if self.fd is not None:
            try:
                os.lseek(self.fd, 0, os.SEEK_SET)
                os.read(self.fd, 4096)  # re-arm POLLPRI
            except OSError:
                pass
        now = _counter(try_read(self._file[0], self._file[1]), self._file[2])
        new, self._last = max(0, now - self._last), max(now, self._last)
        return 1 if new else 0

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
