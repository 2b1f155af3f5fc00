"""The state store: one directory per container under --root.

<root>/<id>/state.json   our record (spec state fields + what delete needs)
<root>/<id>/exec.fifo    exists from create until start (the start barrier)

The directory is made with one mkdir, so two creates of one id cannot both
win. Every write is temp file + rename, never in place. Status is
recomputed from the init process on every read: pid plus its start time in
/proc/PID/stat, so a reused pid never counts as running.
"""
from ocirun import fastjson as json
from ocirun import fastos as os

from ocirun import SPEC_VERSION
from ocirun.errors import ContainerExists, ContainerNotFound, OciError, UsageError

DEFAULT_ROOT = "/run/ocirun"
STATE_FILE = "state.json"
FIFO = "exec.fifo"
MAX_ID = 1024

CREATING, CREATED, RUNNING, PAUSED, STOPPED = "creating", "created", "running", "paused", "stopped"


def validate_id(cid):
    """runc's rule: [\\w+-\\.]+, plus no '.'/'..' and a bounded length."""
    if cid == "":
        raise UsageError("container id cannot be empty")
    if (cid in (".", "..") or len(cid) > MAX_ID
            or not all(c.isascii() and (c.isalnum() or c in "_+-.") for c in cid)):
        raise UsageError("invalid container ID format")
    return cid


def proc_start_time(pid):
    """Field 22 of /proc/PID/stat (clock ticks since boot), or None if gone/zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = data[data.rfind(b")") + 2:].split()
    if rest[0] in (b"Z", b"X"):
        return None
    return int(rest[19])


def write_atomic(path, data, mode=0o600):
    """Temp file + rename: a reader sees the old or the new file, never a torn
    one, whenever the writer dies. Every byte is written or the temp file is
    removed and the error raised (a full disk gives short writes, then
    ENOSPC): a cut file is never renamed into place. No fsync (runc has none
    either): the state does not outlive a machine crash any more than the
    containers do; the rename is what makes it all-or-nothing."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def remove_dir(path):
    """rm -r of a state directory (flat: a few files and the fifo), without
    shutil, whose imports cost more than the work."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    for name in names:
        p = os.path.join(path, name)
        try:
            os.unlink(p)
        except IsADirectoryError:
            remove_dir(p)
        except FileNotFoundError:
            pass
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass


class CorruptState(OciError):
    """A state record that cannot be read (cut, wrong shape, not UTF-8)."""


# The record's fields that code relies on, and the types they must have.
_SHAPE = (("pid", int), ("pidStartTime", int), ("status", str), ("cgroup", dict),
          ("bundle", str), ("rootfs", str), ("created", str), ("annotations", dict), ("hooks", dict))


def parse_record(raw, cid):
    """state.json bytes -> dict, or CorruptState naming what is wrong."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError, SystemError, StopIteration) as e:
        # ValueError covers UnicodeDecodeError; _json's scanner can raise the
        # others on cut input.
        raise CorruptState(f"container {cid}: state file is corrupt: {e or type(e).__name__}") from None
    if not isinstance(data, dict):
        raise CorruptState(f"container {cid}: state file is corrupt: not an object")
    for key, kind in _SHAPE:
        v = data.get(key)
        if v is not None and (not isinstance(v, kind) or isinstance(v, bool)):
            raise CorruptState(f"container {cid}: state file is corrupt: {key}: not a {kind.__name__}")
    return data


class Container:
    """A loaded state record. `.data` is the JSON dict; `.status()` is live."""

    def __init__(self, root, cid, data):
        self.root = root
        self.id = cid
        self.dir = os.path.join(root, cid)
        self.data = data

    @property
    def pid(self):
        return self.data.get("pid", 0)

    def alive(self):
        pid, start = self.data.get("pid"), self.data.get("pidStartTime")
        return bool(pid) and start is not None and proc_start_time(pid) == start

    def status(self):
        if not self.alive():
            return STOPPED
        if self.data.get("status") == CREATING:
            return CREATING
        # Before the fifo: a created container can be paused too (as in runc).
        # The freezer says, not the record: a pause killed between the freeze
        # and its save, or a group frozen behind our back, is paused (resume
        # thaws it; exec does not hang in it); one thawed behind our back is
        # not. With no readable freezer the record stands.
        if self.data.get("cgroup"):
            from ocirun.cgroups import saved_frozen

            frozen = saved_frozen(self.data["cgroup"])
            if frozen or (frozen is None and self.data.get("paused")):
                return PAUSED
        if os.path.exists(os.path.join(self.dir, FIFO)):
            return CREATED
        return RUNNING

    def spec_state(self):
        """The runtime-spec state (runtime.md#state) plus runc's created/owner."""
        status = self.status()
        d = self.data
        # runc's key order. ociVersion is the spec version this state follows.
        out = {
            "ociVersion": SPEC_VERSION,
            "id": self.id,
            "pid": d.get("pid", 0) if status != STOPPED else 0,
            "status": status,
            "bundle": d.get("bundle", ""),
            "rootfs": d.get("rootfs", ""),
            "created": d.get("created", ""),
        }
        if d.get("annotations"):
            out["annotations"] = d["annotations"]
        out["owner"] = d.get("owner", "")
        return out

    def save(self):
        write_atomic(os.path.join(self.dir, STATE_FILE),
                     json.dumps(self.data).encode())

    def lock(self):
        """Exclusive flock on the container directory, held until the fd closes."""
        import fcntl  # here: state and list never lock

        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd


class Store:
    def __init__(self, root=None):
        self.root = os.path.abspath(root or DEFAULT_ROOT)

    def new(self, cid, data):
        """Claim the id with one atomic mkdir; returns the (locked) Container and its lock fd."""
        validate_id(cid)
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        path = os.path.join(self.root, cid)
        try:
            os.mkdir(path, 0o711)
        except FileExistsError:
            raise ContainerExists(cid) from None
        c = Container(self.root, cid, data)
        lock = c.lock()
        try:
            c.save()
        except BaseException:
            # ENOSPC: roll the claim back, or the id stays taken by a ghost.
            remove_dir(path)
            os.close(lock)
            raise
        return c, lock

    def load(self, cid):
        validate_id(cid)
        path = os.path.join(self.root, cid, STATE_FILE)
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            if os.path.isdir(os.path.join(self.root, cid)):
                # Claimed but not yet recorded (a create that died at once).
                return Container(self.root, cid, {"status": CREATING})
            raise ContainerNotFound(cid) from None
        data = parse_record(raw, cid)
        return Container(self.root, cid, data)

    def ids(self):
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if os.path.isdir(os.path.join(self.root, n)))
