"""Apply one layer tar under a directory fd, and never write outside it.

Not tarfile.extractall: every parent path is resolved by the kernel inside
the root (openat2 + RESOLVE_IN_ROOT, paths.py), so absolute names, `..` and
symlinks planted by earlier entries (or earlier layers) all land inside; the
last component is never followed (removed and made anew, O_NOFOLLOW, *at
calls on the parent's fd); a hard link's target is looked up inside the root
too. Device nodes are refused (an image has no use for them, and a block
device is a way out), and so are more entries or bytes than the limits.

Whiteouts (image-spec layer.md) are written the way overlayfs reads them
(`.wh.NAME` -> NAME as a 0/0 character device, `.wh..wh..opq` -> the
trusted.overlay.opaque xattr on the directory), or, for a flat rootfs,
applied at once (the lower files are deleted). Either way a whiteout only
hides what lower layers have, never an entry of its own layer.
"""
import errno
import hashlib
import os
import shutil
import stat
import tarfile

from ocirun import fileio, paths
from ocirun.image import ImageError

WH = ".wh."
OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
MAX_BYTES = 64 << 30  # uncompressed bytes in one layer
MAX_ENTRIES = 1 << 21  # entries in one layer
CHUNK = 1 << 20
# xattrs a layer may carry; trusted.* (overlay's own metadata) and the rest are dropped.
XATTR_PREFIXES = ("user.", "security.capability")


class Uncompressed:
    """The layer's tar stream as read: hashed (its diff-id) and bounded."""

    def __init__(self, f, diff_id, max_bytes, where):
        self.f = f
        self.diff_id = diff_id
        self.hash = hashlib.new(diff_id.partition(":")[0])
        self.count = 0
        self.max_bytes = max_bytes
        self.where = where

    def read(self, n=-1):
        data = self.f.read(n if n is not None and n >= 0 else CHUNK)
        self.count += len(data)
        if self.count > self.max_bytes:
            raise ImageError(f"{self.where}: more than {self.max_bytes} bytes uncompressed "
                             "(a decompression bomb?)")
        self.hash.update(data)
        return data

    def finish(self):
        while self.read(CHUNK):
            pass
        got = self.hash.name + ":" + self.hash.hexdigest()
        if got != self.diff_id:
            raise ImageError(f"{self.where}: uncompressed content {got} does not match its diff_id "
                             f"{self.diff_id}")


class Applier:
    def __init__(self, root_fd, flat, max_entries, where, max_bytes=MAX_BYTES):
        self.root = root_fd
        self.flat = flat
        self.max_entries = max_entries
        # File content is bounded apart from the stream: a sparse entry is a
        # few bytes of tar and any number of zeros on disk.
        self.max_bytes = max_bytes
        self.file_bytes = 0
        self.where = where
        self.written = set()  # paths this layer made: its own whiteouts must not hide them
        self.above = set()  # their parent directories
        self.whited = set()  # overlay mode: names turned into whiteouts by this layer
        self.dir_times = []
        self._parent = (None, None)  # cached (path, O_PATH fd) of the last parent

    def apply(self, stream):
        try:
            with tarfile.open(fileobj=stream, mode="r|", errorlevel=2) as tf:
                for n, m in enumerate(tf, 1):
                    if n > self.max_entries:
                        raise ImageError(f"{self.where}: more than {self.max_entries} entries "
                                         "(a tar bomb?)")
                    self.entry(tf, m)
            self.set_dir_times()
        except tarfile.TarError as e:
            raise ImageError(f"{self.where}: not a valid tar: {e}") from None
        finally:
            self._drop_parent()

    def _drop_parent(self):
        if self._parent[1] is not None:
            os.close(self._parent[1])
        self._parent = (None, None)

    def parent_fd(self, parent, rel):
        if self._parent[0] != parent:
            self._drop_parent()
            try:
                self._parent = (parent, paths.mkdir_all(self.root, parent))
            except OSError as e:
                raise ImageError(f"{self.where}: {rel}: {e.strerror or e}") from None
        return self._parent[1]

    def entry(self, tf, m):
        rel = paths.clean(m.name)
        if not rel:
            return  # the layer's own root: its metadata is the bundle's business
        parent, _, name = rel.rpartition("/")
        cached = self._parent[0]
        if cached is not None and (cached == rel or cached.startswith(rel + "/")):
            self._drop_parent()  # this entry may replace the cached directory
        pfd = self.parent_fd(parent, rel)
        try:
            if name.startswith(WH):
                self.whiteout(pfd, parent, name)
            else:
                self.make(tf, m, pfd, name, rel)
        except OSError as e:
            raise ImageError(f"{self.where}: {rel}: {e.strerror or e}") from None

    # --- whiteouts

    def whiteout(self, pfd, parent, name):
        if name == OPAQUE:
            if self.flat:
                self.prune(parent)
            else:
                fd = paths.open_in_root(self.root, parent or ".", nofollow=True)
                try:
                    os.setxattr(paths.fd_path(fd), OPAQUE_XATTR, b"y")
                finally:
                    os.close(fd)
            return
        target = name[len(WH):]
        if not target or target.startswith(WH) or target in (".", ".."):
            return  # aufs bookkeeping (.wh..wh.plnk ...) or nonsense: nothing to hide
        rel = f"{parent}/{target}" if parent else target
        if rel in self.written:
            return  # whiteouts hide lower layers only
        if self.flat:
            clear(pfd, target)
        else:
            clear(pfd, target)
            os.mknod(target, stat.S_IFCHR, os.makedev(0, 0), dir_fd=pfd)
            self.whited.add(rel)

    def prune(self, parent):
        """Flat mode opaque directory: delete what lower layers put below it."""
        fd = paths.open_in_root(self.root, parent or ".", os.O_RDONLY | os.O_DIRECTORY, nofollow=True)
        try:
            for child in os.listdir(fd):
                rel = f"{parent}/{child}" if parent else child
                if rel in self.above:
                    self.prune(rel)
                elif rel not in self.written:
                    clear(fd, child)
        finally:
            os.close(fd)

    # --- entries

    def make(self, tf, m, pfd, name, rel):
        if m.isdir():
            self.make_dir(m, pfd, name, rel)
        else:
            if m.isreg():
                self.file_bytes += m.size
                if self.file_bytes > self.max_bytes:
                    raise ImageError(f"{self.where}: {rel}: more than {self.max_bytes} bytes of file "
                                     "content (a sparse-file bomb?)")
                clear(pfd, name)
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                             0o600, dir_fd=pfd)
                try:
                    self.copy(tf, m, fd)
                    self.owner_mode(fd, m)
                    os.utime(fd, ns=_ns(m.mtime))
                finally:
                    os.close(fd)
            elif m.issym():
                clear(pfd, name)
                os.symlink(m.linkname, name, dir_fd=pfd)
                os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
                os.utime(name, ns=_ns(m.mtime), dir_fd=pfd, follow_symlinks=False)
            elif m.islnk():
                self.make_link(m, pfd, name, rel)
            elif m.isfifo():
                clear(pfd, name)
                os.mkfifo(name, 0o600, dir_fd=pfd)
                fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
                try:
                    os.chown(paths.fd_path(fd), m.uid, m.gid)
                    os.chmod(paths.fd_path(fd), m.mode & 0o7777)
                finally:
                    os.close(fd)
            elif m.ischr() or m.isblk():
                raise ImageError(f"{self.where}: {rel}: device nodes are not allowed in an image layer")
            else:
                raise ImageError(f"{self.where}: {rel}: unsupported tar entry type {m.type!r}")
        self.mark(rel)

    def copy(self, tf, m, fd):
        """The member's content; a sparse member's holes stay holes."""
        src = tf.extractfile(m)
        while True:
            data = src.read(CHUNK)
            if not data:
                break
            if m.issparse() and not data.strip(b"\0"):
                os.lseek(fd, len(data), os.SEEK_CUR)
            else:
                fileio.write_all(fd, data)
        if m.issparse():
            os.ftruncate(fd, m.size)

    def make_dir(self, m, pfd, name, rel):
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=pfd)
            st = None
        if st is None:
            os.mkdir(name, 0o700, dir_fd=pfd)
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            if rel in self.whited:
                # `.wh.NAME` then NAME/ in one layer: a new directory, lower content hidden.
                os.setxattr(fd, OPAQUE_XATTR, b"y")
            self.owner_mode(fd, m)
        finally:
            os.close(fd)
        self.dir_times.append((rel, m.mtime))

    def make_link(self, m, pfd, name, rel):
        target = paths.clean(m.linkname)
        try:
            tfd = paths.open_in_root(self.root, target, nofollow=True)
        except OSError:
            raise ImageError(f"{self.where}: {rel}: hard link to {m.linkname!r}, which is not in "
                             "this layer") from None
        try:
            if stat.S_ISDIR(os.fstat(tfd).st_mode):
                raise ImageError(f"{self.where}: {rel}: hard link to a directory ({m.linkname!r})")
            if target == rel:
                return  # a link to itself: already there
            clear(pfd, name)
            # linkat through the magic link: the very inode found inside the root.
            os.link(paths.fd_path(tfd), name, dst_dir_fd=pfd, follow_symlinks=True)
        finally:
            os.close(tfd)

    def mark(self, rel):
        self.written.add(rel)
        parent = rel.rpartition("/")[0]
        while parent and parent not in self.above:
            self.above.add(parent)
            parent = parent.rpartition("/")[0]

    def owner_mode(self, fd, m):
        # chown before chmod: chown clears set-id bits and file capabilities.
        os.chown(fd, m.uid, m.gid)
        os.chmod(fd, m.mode & 0o7777)
        for key, value in m.pax_headers.items():
            if key.startswith("SCHILY.xattr.") and key[13:].startswith(XATTR_PREFIXES):
                os.setxattr(fd, key[13:], value.encode("utf-8", "surrogateescape"))

    def set_dir_times(self):
        """Directory times last: adding entries changed them."""
        for rel, mtime in reversed(self.dir_times):
            try:
                fd = paths.open_in_root(self.root, rel, nofollow=True)
            except OSError:
                continue
            try:
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    os.utime(paths.fd_path(fd), ns=_ns(mtime))
            finally:
                os.close(fd)


def _ns(mtime):
    t = int(mtime * 10**9)
    return (t, t)


def clear(dir_fd, name):
    """Remove NAME (a file, a link or a whole tree) in dir_fd, never following it."""
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        shutil.rmtree(name, dir_fd=dir_fd)
    except OSError as e:
        if e.errno != errno.EPERM:
            raise
        shutil.rmtree(name, dir_fd=dir_fd)


def apply(stream, root_fd, flat=False, max_entries=MAX_ENTRIES, where="layer", max_bytes=MAX_BYTES):
    """Apply the (uncompressed) tar read from `stream` under root_fd."""
    Applier(root_fd, flat, max_entries, where, max_bytes).apply(stream)
