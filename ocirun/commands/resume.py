"""resume: thaw a paused container. Anything but paused is "container not paused" (runc)."""
from ocirun import fastos as os

from ocirun import state as st
from ocirun.container import load_locked
from ocirun.errors import InvalidState


def run(opts, args, logger):
    c, lock = load_locked(st.Store(opts["root"]), args[0])
    try:
        if c.status() != st.PAUSED:
            raise InvalidState("container not paused")
        from ocirun import cgroups

        cgroups.thaw_saved(c.data["cgroup"])  # no manager loaded
        c.data.pop("paused", None)
        c.save()
    finally:
        os.close(lock)
    return 0
