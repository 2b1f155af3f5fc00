"""run: create + start, then (unless --detach) wait for the container and
return its exit status (128+n for a signal), forwarding signals to it, and
delete it (unless --keep)."""
import os
import _signal as signal  # not `signal`: it loads enum

from ocirun import launcher
from ocirun.commands import delete, start
from ocirun.state import Store

FORWARD = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
           signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH)


def run(opts, args, logger):
    from ocirun import syscalls as sc

    cid = args[0]
    detach = opts.get("detach")
    if not detach and not opts.get("no-subreaper"):
        # Orphans of the container come to us (and are reaped) like runc.
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    store = Store(opts["root"])
    opts["_relay"] = not detach  # a terminal without --console-socket: relay it ourselves
    c = launcher.create(cid, opts, store, logger)
    pidfd = None if detach else os.pidfd_open(c.pid)
    if not detach:
        # Before start: a signal that comes once the program runs must
        # reach it, not kill us (and orphan the container).
        for s in FORWARD:
            signal.signal(s, lambda n, _f: _forward(pidfd, n))
    try:
        start.run(opts, [cid], logger)
    except BaseException:
        if not detach:
            _cleanup(store, cid, logger)
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
        return _wait(c.pid)
    finally:
        if not opts.get("keep"):
            _cleanup(store, cid, logger)


def _forward(pidfd, n):
    try:
        signal.pidfd_send_signal(pidfd, n)
    except ProcessLookupError:
        pass


def _wait(pid):
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


def _cleanup(store, cid, logger):
    try:
        delete.destroy(store.load(cid), True, logger)
    except Exception as e:  # noqa: BLE001 - report, keep the exit status
        logger.warning(f"delete {cid}: {e}")
