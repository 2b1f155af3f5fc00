"""What the verbs that change a live container (pause, resume, update) do
first: take the container's lock and read its state again under it."""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)


def load_locked(store, cid):
    """(container, lock fd): loaded, locked, then loaded again, since another
    command may have changed or removed it before we held the lock. The caller
    closes the fd (which releases the lock)."""
    lock = store.load(cid).lock()
    try:
        return store.load(cid), lock
    except BaseException:
        os.close(lock)
        raise
