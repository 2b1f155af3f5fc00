"""pause: freeze every process of the container (v1 freezer / v2 cgroup.freeze).

As runc: a running or created container can be paused; anything else is
"container not running" (a paused one included).
"""
from ocirun import fastos as os

from ocirun import state as st
from ocirun.container import load_locked
from ocirun.errors import InvalidState


def run(opts, args, logger):
    c, lock = load_locked(st.Store(opts["root"]), args[0])
    try:
        if c.status() not in (st.RUNNING, st.CREATED):
            raise InvalidState("container not running")
        if not c.data.get("cgroup"):
            from ocirun import rootless

            raise InvalidState(f"cannot pause: {rootless.NO_CGROUP}")
        from ocirun import cgroups  # freezes from the saved dict: no manager loaded

        cgroups.freeze_saved(c.data["cgroup"])
        c.data["paused"] = True
        try:
            c.save()
        except BaseException:
            cgroups.thaw_saved(c.data["cgroup"])  # unrecorded, a frozen container would be stuck
            raise
    finally:
        os.close(lock)
    return 0
