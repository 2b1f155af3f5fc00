"""events: the container's statistics and OOM notifications, one JSON object a line.

--stats prints one {"type":"stats","id":..,"data":{..}} and exits. Otherwise
a stats event comes every --interval (a Go duration: "5s", "100ms"; the first
after one interval, as runc's ticker) and {"type":"oom","id":..} whenever the
memory cgroup runs out of memory; the stream ends when the container stops
(its init exits) or its cgroup goes away.
"""
import os
import re
import select
import time

from ocirun import fastjson as json
from ocirun import state as st
from ocirun.errors import InvalidState, OciError, UsageError

_UNIT_NS = {"ns": 1, "us": 10 ** 3, "\u00b5s": 10 ** 3, "\u03bcs": 10 ** 3, "ms": 10 ** 6, "s": 10 ** 9,
            "m": 60 * 10 ** 9, "h": 3600 * 10 ** 9}
_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([a-z\u00b5\u03bc]+)")


def parse_duration(text):
    """Go's time.ParseDuration, in seconds (float). Raises ValueError."""
    s = text
    sign = 1
    if s and s[0] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(text)
    total, pos = 0.0, 0
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m or m.group(1) in ("", ".") or m.group(2) not in _UNIT_NS:
            raise ValueError(text)
        total += float(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    return sign * total / 1e9


def _emit(obj):
    data = (json.dumps(obj) + "\n").encode()
    while data:
        n = os.write(1, data)
        data = data[n:]


def run(opts, args, logger):
    text = opts.get("interval") or "5s"
    try:
        interval = parse_duration(text)
    except ValueError:
        raise UsageError(f'invalid value "{text}" for flag -interval: parse error') from None
    if interval <= 0:
        raise OciError("duration interval must be greater than 0")
    c = st.Store(opts["root"]).load(args[0])
    if c.status() == st.STOPPED:
        raise InvalidState(f"container with id {c.id} is not running")
    if not c.data.get("cgroup"):
        from ocirun import rootless

        raise InvalidState(f"events: {rootless.NO_CGROUP}")
    from ocirun import cgroups

    manager = cgroups.load_manager(c.data["cgroup"])
    try:
        if opts.get("stats"):
            _emit({"type": "stats", "id": c.id, "data": manager.stats()})
            return 0
        stream(c, manager, interval, logger)
    except BrokenPipeError:
        pass  # the reader went away: nothing left to do
    return 0


def stream(c, manager, interval, logger):
    from ocirun.cgroups.oom import OomWatch

    try:
        pidfd = os.pidfd_open(c.pid)
    except ProcessLookupError:
        return
    watch = OomWatch(manager)
    try:
        if not c.alive():
            return  # the pid was reused before we pinned it
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if watch.fd is not None:
            poller.register(watch.fd, watch.events)
        top = manager.primary()
        tick = time.monotonic() + interval
        while True:
            ready = poller.poll(max(0.0, tick - time.monotonic()) * 1000)
            if watch.check():
                _emit({"type": "oom", "id": c.id})
            if any(fd == pidfd for fd, _ in ready) or not os.path.isdir(top):
                return
            now = time.monotonic()
            if now >= tick:
                try:
                    _emit({"type": "stats", "id": c.id, "data": manager.stats()})
                except OciError as e:
                    logger.error(str(e))  # as runc: report and keep going
                tick += interval
                if tick <= now:  # fell behind (a slow read): keep the rhythm from now
                    tick = now + interval
    finally:
        watch.close()
        os.close(pidfd)
