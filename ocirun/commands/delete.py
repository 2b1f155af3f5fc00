"""delete [--force]: tear the container down and run poststop hooks
(container/delete.py). --force kills first, and exits 0 for an unknown id
(engines delete twice)."""
from ocirun import state as st
from ocirun.errors import ContainerNotFound


def run(opts, args, logger):
    from ocirun.container import delete

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
    except st.CorruptState:
        if not force:
            raise
        delete.recover(store, args[0], logger)
        return 0
    delete.destroy(c, force, logger)
    return 0
