"""resume: thaw a paused container. Anything but paused is "container not paused" (runc)."""
from ocirun import fastos as os

from ocirun import state as st
from ocirun.errors import InvalidState


def run(opts, args, logger):
    store = st.Store(opts["root"])
    c = store.load(args[0])
    lock = c.lock()
    try:
        c = store.load(args[0])  # re-read under the lock
        if c.status() != st.PAUSED:
            raise InvalidState("container not paused")
        from ocirun import cgroups

        cgroups.thaw_saved(c.data["cgroup"])  # no manager loaded
        c.data.pop("paused", None)
        c.save()
    finally:
        os.close(lock)
    return 0
