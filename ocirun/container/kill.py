"""kill: signal the init through a pidfd (a reused pid cannot be hit), or
every process of the container (all_processes: runc's --all)."""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)
import _signal as signal  # not `signal`: it loads enum

from ocirun import state as st
from ocirun.errors import InvalidState


def kill(c, sig, all_processes=False):
    status = c.status()
    if all_processes:
        # Like runc: with --all, a stopped container with nothing left in its
        # cgroup is not an error (there is simply nothing to signal).
        if not c.data.get("cgroup"):
            if status == st.STOPPED:
                return
            signal_init(c, sig)
            return
        from ocirun import cgroups

        m = cgroups.load_manager(c.data["cgroup"])
        if status == st.STOPPED and not m.pids():
            return
        m.kill_all(sig)
        return
    if status == st.STOPPED:
        raise InvalidState("container not running")
    signal_init(c, sig)
    if status == st.PAUSED and sig == signal.SIGKILL:
        # A frozen task dies only once thawed; runc thaws for SIGKILL too.
        from ocirun import cgroups

        cgroups.load_manager(c.data["cgroup"]).thaw()


def signal_init(c, sig):
    """pidfd_open, then re-check the start time: the fd now pins the process."""
    try:
        fd = os.pidfd_open(c.pid)
    except ProcessLookupError:
        raise InvalidState("container not running") from None
    try:
        if not c.alive():
            raise InvalidState("container not running")
        try:
            signal.pidfd_send_signal(fd, sig)
        except ProcessLookupError:
            raise InvalidState("container not running") from None
    finally:
        os.close(fd)
