"""The container library: one module per lifecycle verb (create, start,
exec, kill, delete) over the state store, and spawn.py, what create and exec
share to fork a process into a container. commands/<verb>.py only parses
arguments and calls these (crun's src/*.c over libcrun; youki's container/).
Importing the package must cost nothing: it holds only load_locked, the first
step of pause, resume and update (here, not in a module of its own, which would
cost those small commands one more file to load)."""
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
