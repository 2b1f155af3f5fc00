"""start: release the init blocked on exec.fifo, then run poststart hooks."""
import errno
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)

from ocirun import fileio
from ocirun import state as st
from ocirun.errors import InvalidState, OciError


def start(c):
    """Release c's init blocked on exec.fifo; then its poststart hooks."""
    poststart = (c.data.get("hooks") or {}).get("poststart") or []
    rfd = None
    lock = c.lock()
    try:
        status = c.status()
        if status != st.CREATED:
            if status == st.STOPPED:
                raise InvalidState("cannot start a container that has stopped")
            if status == st.PAUSED:
                raise InvalidState("cannot start a container in the paused state")
            raise InvalidState(f"cannot start an already {status} container")
        fifo = os.path.join(c.dir, st.FIFO)
        if poststart:
            # Opened before our writer: see _wait_exec.
            rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            fileio.write_value(fifo, b"0", os.O_NONBLOCK)
        except OSError as e:
            # The open failed (its error names the file): no reader, the init is gone.
            if e.filename and e.errno in (errno.ENXIO, errno.ENOENT):
                raise InvalidState("cannot start a container that has stopped") from None
            raise
        os.unlink(fifo)
    except BaseException:
        if rfd is not None:
            os.close(rfd)
        raise
    finally:
        os.close(lock)
    if poststart:
        from ocirun import hooks

        # config.md#poststart: after the user-specified process is executed.
        _wait_exec(rfd)
        state = c.spec_state()
        try:
            hooks.run_hooks(poststart, state, "poststart")
        except OciError:
            # runtime.md#lifecycle step 9: an error, and the container is
            # stopped; delete (step 11-13) removes it and runs poststop.
            from ocirun.container.delete import kill_and_wait

            kill_and_wait(c)
            raise


def _wait_exec(rfd):
    """Until exec.fifo has no writer left. The init's end is close-on-exec, so
    then the container process has been executed (or the init has died).
    A fifo reader sees POLLHUP only for writers opened after it, hence the
    reader is opened before our writer."""
    import select
    import time

    p = select.poll()
    p.register(rfd, select.POLLIN)
    try:
        while not any(ev & select.POLLHUP for _fd, ev in p.poll()):
            time.sleep(0.001)  # our byte is still unread: the init has not woken up yet
    finally:
        os.close(rfd)
