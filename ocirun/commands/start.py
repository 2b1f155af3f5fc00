"""start: release the init blocked on exec.fifo, then run poststart hooks."""
import errno
import os

from ocirun import state as st
from ocirun.errors import InvalidState, OciError


def run(opts, args, logger):
    store = st.Store(opts["root"])
    c = store.load(args[0])
    lock = c.lock()
    try:
        status = c.status()
        if status != st.CREATED:
            if status == st.STOPPED:
                raise InvalidState("cannot start a container that has stopped")
            raise InvalidState(f"cannot start an already {status} container")
        fifo = os.path.join(c.dir, st.FIFO)
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            if e.errno in (errno.ENXIO, errno.ENOENT):
                raise InvalidState("cannot start a container that has stopped") from None
            raise
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)
        os.unlink(fifo)
    finally:
        os.close(lock)
    poststart = (c.data.get("hooks") or {}).get("poststart") or []
    if poststart:
        from ocirun import hooks

        state = c.spec_state()
        try:
            hooks.run_hooks(poststart, state, "poststart")
        except OciError:
            # runtime.md: a poststart failure is an error; the container is
            # left running for the caller to kill/delete, as runc does.
            raise
    return 0
