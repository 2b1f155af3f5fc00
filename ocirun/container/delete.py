"""delete: tear a container down, run its poststop hooks (commands/delete.py,
run.py's cleanup); kill_and_wait for start's failed poststart hook too.

Spec (runtime.md#delete): deleting a container that is not stopped is an
error; force kills it first. A record that cannot be read is recovered from
what is left (recover).
"""
import os
import _signal as signal  # not `signal`: it loads enum

from ocirun import state as st
from ocirun.errors import ContainerNotFound, InvalidState, OciError


def recover(store, cid, logger):
    """delete --force of a container whose record cannot be read: find its
    cgroup from what is left (the saved config's cgroupsPath, else the id),
    kill every process in it, remove it, then the record. If anything stays
    alive the record is kept, so the container is never lost."""
    from ocirun import cgroups
    from ocirun import fastjson as json

    d = os.path.join(store.root, cid)
    lock = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX)
        path = None
        try:
            with open(os.path.join(d, "config.json"), "rb") as f:
                path = (json.loads(f.read()).get("linux") or {}).get("cgroupsPath")
        except (OSError, ValueError, AttributeError, RecursionError, SystemError, StopIteration):
            pass
        try:
            manager = cgroups.create_manager(path if isinstance(path, str) else None, cid)
        except OciError as e:
            logger.warning(f"container {cid}: {e}")
            manager = None
        if manager is not None and manager.exists():
            logger.warning(f"container {cid}: state file is corrupt: killing what is in {manager.primary()}")
            _quiet(manager.thaw)
            _kill_until_empty(manager, c_id=cid)
            manager.created = list(manager.paths.values())  # only the container's own directories
            try:
                manager.destroy()
            except OciError as e:
                logger.warning(str(e))
        st.remove_dir(d)
    finally:
        os.close(lock)


def _kill_until_empty(manager, c_id, timeout=5.0):
    """SIGKILL every process of the cgroup until none is left (an exec that
    joined meanwhile included); fail, keeping the state, if that takes too long."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        _quiet(manager.kill_all, signal.SIGKILL)
        if not manager.pids():
            return
        if time.monotonic() > deadline:
            raise OciError(f"container {c_id}: container init still running: "
                           f"processes left in {manager.primary()}")
        time.sleep(0.01)


def destroy(c, force, logger):
    try:
        lock = c.lock()
    except FileNotFoundError:
        if force:
            return  # deleted meanwhile
        raise ContainerNotFound(c.id) from None
    try:
        # Re-read under the lock: a create may have recorded its init since.
        try:
            c.data = st.Store(c.root).load(c.id).data
        except ContainerNotFound:
            if force:
                return
            raise
        except OciError:
            pass  # torn: go on with what was read before
        status = c.status()
        if status != st.STOPPED:
            if not force:
                raise InvalidState(f"cannot delete container {c.id} that is not stopped: {status}")
            kill_and_wait(c)
            if c.alive():
                # Frozen by a freezer that is not ours, say: dropping the
                # record would leave it running and invisible (runc's words).
                raise OciError(f"container {c.id}: container init still running")
        manager = None
        if c.data.get("cgroup"):
            from ocirun import cgroups

            manager = cgroups.load_manager(c.data["cgroup"])
            if c.data.get("paused") or force:
                _quiet(manager.thaw)
            if force or not c.data.get("pidns"):
                # Sharing the host's pid namespace, the init's death does
                # not take the other processes with it (an exec -d that
                # joined meanwhile included); and a create killed midway may
                # have left processes in the cgroup.
                _kill_until_empty(manager, c.id)
            try:
                manager.destroy()
            except OciError as e:
                logger.warning(str(e))
        if c.data.get("hostMounts"):
            release_host_mounts(c.data, logger)
        state = c.spec_state()
        st.remove_dir(c.dir)
    finally:
        os.close(lock)
    poststop = (c.data.get("hooks") or {}).get("poststop") or []
    if poststop:
        from ocirun import hooks

        state["status"] = st.STOPPED
        hooks.run_hooks(poststop, state, "poststop")


def _quiet(fn, *a):
    try:
        fn(*a)
    except (OSError, OciError):
        pass


def kill_and_wait(c, timeout=5.0):
    import select

    try:
        fd = os.pidfd_open(c.pid)
    except ProcessLookupError:
        return
    try:
        if c.alive():
            if c.data.get("cgroup"):
                # Ours frozen (paused, recorded or not): thaw, or SIGKILL waits.
                from ocirun import cgroups

                _quiet(cgroups.load_manager(c.data["cgroup"]).thaw)
            try:
                signal.pidfd_send_signal(fd, signal.SIGKILL)
            except ProcessLookupError:
                return
            p = select.poll()
            p.register(fd, select.POLLIN)
            p.poll(timeout * 1000)
            # Our child (foreground run): reap it, else it stays a zombie.
            # Not ours: ECHILD, which Python raises as ChildProcessError.
            try:
                os.waitid(os.P_PIDFD, fd, os.WEXITED | os.WNOHANG)
            except ChildProcessError:
                pass
    finally:
        os.close(fd)


def release_host_mounts(data, logger):
    """Remove the mounts a container without a mount namespace made on the host."""
    if data.get("hostMounts"):
        from ocirun import hostmounts

        left = hostmounts.release(data["hostMounts"])
        if left:
            logger.warning(f"mounts left on the host: {', '.join(left)}")
