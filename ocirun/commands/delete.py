"""delete [--force]: tear the container down and run poststop hooks.

Spec (runtime.md#delete): deleting a container that is not stopped is an
error; a created one too (runc deletes it silently; we follow the spec).
--force kills first, and exits 0 for an unknown id (engines delete twice).
"""
import errno
import os
import _signal as signal  # not `signal`: it loads enum

from ocirun import state as st
from ocirun.errors import ContainerNotFound, InvalidState, OciError


def run(opts, args, logger):
    store = st.Store(opts["root"])
    force = opts.get("force")
    # First: a bad id ("..") must never reach the rmtree below.
    st.validate_id(args[0])
    try:
        c = store.load(args[0])
    except ContainerNotFound:
        if force:
            return 0
        raise
    except OciError:
        if not force:
            raise
        # A torn state file: nothing can be trusted but the directory.
        st.remove_dir(os.path.join(store.root, args[0]))
        return 0
    destroy(c, force, logger)
    return 0


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
        manager = None
        if c.data.get("cgroup"):
            from ocirun import cgroups

            manager = cgroups.load_manager(c.data["cgroup"])
            if force or not c.data.get("pidns"):
                # Sharing the host's pid namespace, the init's death does
                # not take the other processes with it; and a create killed
                # midway may have left processes in the cgroup.
                _quiet(manager.kill_all, signal.SIGKILL)
            if c.data.get("paused"):
                _quiet(manager.thaw)
            try:
                manager.destroy()
            except OciError as e:
                logger.warning(str(e))
        if c.data.get("hostMounts"):
            from ocirun import launcher

            launcher.release_host_mounts(c.data, logger)
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


def kill_and_wait(c, timeout=10.0):
    import select

    try:
        fd = os.pidfd_open(c.pid)
    except ProcessLookupError:
        return
    try:
        if c.alive():
            if c.data.get("paused") and c.data.get("cgroup"):
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
            try:
                os.waitid(os.P_PIDFD, fd, os.WEXITED | os.WNOHANG)
            except ChildProcessError:
                pass
            except OSError as e:
                if e.errno != errno.ECHILD:
                    raise
    finally:
        os.close(fd)
