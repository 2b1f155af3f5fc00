"""run: create + start, then (unless detached) wait for the container and
return its exit status (128+n for a signal), forwarding signals to it, and
delete it (unless keep). restore waits for a restored container the same way
(forward_signals, wait_init, cleanup)."""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)
import _signal as signal  # not `signal`: it loads enum

from ocirun.container import create, start

FORWARD = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
           signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH)


def run(cid, opts, store, logger):
    detach = opts.get("detach")
    if not detach and not opts.get("no-subreaper"):
        from ocirun import syscalls as sc

        # Orphans of the container come to us (and are reaped) like runc.
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    opts["_relay"] = not detach  # a terminal without --console-socket: relay it ourselves
    c = create.create(cid, opts, store, logger)
    if not detach:
        # Before start: a signal that comes once the program runs must
        # reach it, not kill us (and orphan the container).
        forward_signals(os.pidfd_open(c.pid))
    try:
        start.start(store.load(cid))
    except BaseException:
        if not detach:
            cleanup(store, cid, logger)
        raise
    if detach:
        return 0
    try:
        if c.relay_fd is not None:
            from ocirun import console

            master = console.receive_master(c.relay_fd)
            try:
                console.relay(master, lambda: not c.alive())
            finally:
                os.close(master)
        return wait_init(c.pid)
    finally:
        if not opts.get("keep"):
            cleanup(store, cid, logger)


def forward_signals(pidfd):
    """FORWARD's signals, from now on, go to the process of pidfd."""
    for s in FORWARD:
        signal.signal(s, lambda n, _f: forward(pidfd, n))


def forward(pidfd, n):
    try:
        signal.pidfd_send_signal(pidfd, n)
    except ProcessLookupError:
        pass


def wait_init(pid):
    """Reap until the init exits; other reaped orphans are discarded."""
    while True:
        try:
            wpid, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0
        if wpid == pid:
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            return os.WEXITSTATUS(status)


def cleanup(store, cid, logger):
    """delete --force, reporting (not raising) a failure: the exit status stays."""
    from ocirun.container import delete  # not at the top: `run -d` never needs it

    try:
        delete.destroy(store.load(cid), True, logger)
    except Exception as e:  # noqa: BLE001 - report, keep the exit status
        logger.warning(f"delete {cid}: {e}")
