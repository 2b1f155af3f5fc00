"""The shared layer store (default /var/lib/ocirun/layers, `--layers DIR`):

  sha256/<hex>/   one tree per diff-id, unpacked once, the read-only lower
                  layers of every bundle that uses it
  refs/<id>       one file per bundle: its path and the layers it uses
  tmp/            extractions in progress
  lock            flock: one unpack, remove or gc at a time

Crash safety: a layer appears under its name only complete and verified
(extracted in tmp/, then renamed); a bundle's ref is written (temp + rename)
before the bundle mounts anything and deleted only after the bundle is gone.
gc drops a ref only if its bundle neither carries the ref's id nor has a
mounted rootfs, then removes every layer no ref names and all of tmp/.
"""
import fcntl
import gzip
import json
import os
import shutil
import zlib

from ocirun import state
from ocirun.errors import describe
from ocirun.image import ImageError, tarapply
from ocirun.image.layout import HEX_LEN

DEFAULT = "/var/lib/ocirun/layers"
MARKER = os.path.join(".ocirun", "unpack.json")  # in a bundle: what unpack made


def decompressor(media_type, raw, where):
    """A file-like of the uncompressed tar for one layer blob."""
    if media_type.endswith(("+gzip", ".gzip")):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if media_type.endswith("+zstd"):
        try:
            import zstandard
        except ImportError:
            raise ImageError(f"{where}: zstd-compressed layer ({media_type}) needs the Python "
                             "package 'zstandard', which is not installed") from None
        return zstandard.ZstdDecompressor().stream_reader(raw)
    if media_type.endswith((".tar", "v1.tar")) or media_type == "application/vnd.docker.image.rootfs.diff.tar":
        return raw
    raise ImageError(f"{where}: layer media type {media_type!r} is not supported")


def apply_blob(layout, desc, diff_id, root_fd, flat, where, max_bytes=tarapply.MAX_BYTES):
    """Read one layer blob, apply it under root_fd, verify blob and diff-id."""
    raw = layout.open_blob(desc, where)
    try:
        tar = decompressor(desc["mediaType"], raw, where)
        stream = tarapply.Uncompressed(tar, diff_id, max_bytes, where)
        try:
            tarapply.apply(stream, root_fd, flat=flat, where=where, max_bytes=max_bytes)
            stream.finish()
        except (ImageError, OSError, EOFError, zlib.error) as e:
            # A corrupt blob usually fails to decompress before its digest is
            # known: name the digest mismatch (the cause) when there is one.
            raw.finish()
            if isinstance(e, ImageError):
                raise
            raise ImageError(f"{where}: cannot decompress {desc['digest']}: {e}") from None
        raw.finish()
    finally:
        raw.close()


class Store:
    def __init__(self, path=None):
        self.path = os.path.abspath(path or DEFAULT)
        self.lock_fd = None
        self.created = []  # layers this run unpacked (dropped again if the run fails)

    def open(self):
        """Make the store (0700: layers hold set-id files) and take its lock."""
        try:
            os.makedirs(self.path, 0o700, exist_ok=True)
            for d in ("refs", "tmp"):
                os.makedirs(os.path.join(self.path, d), 0o700, exist_ok=True)
            self.lock_fd = os.open(os.path.join(self.path, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                                   0o600)
        except OSError as e:
            raise ImageError(f"layer store {self.path}: {describe(e)}") from None
        fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
        return self

    def close(self):
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    def layer_rel(self, diff_id):
        alg, _, hexd = diff_id.partition(":")
        return f"{alg}/{hexd}"

    def add_layer(self, layout, desc, diff_id, where):
        """The layer's directory (relative to the store), unpacked now unless present."""
        rel = self.layer_rel(diff_id)
        final = os.path.join(self.path, rel)
        if os.path.isdir(final):
            layout.check_blob_size(desc, where)
            return rel
        tmp = os.path.join(self.path, "tmp", os.urandom(8).hex())
        os.mkdir(tmp, 0o755)
        try:
            fd = os.open(tmp, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                apply_blob(layout, desc, diff_id, fd, False, where)
            finally:
                os.close(fd)
            os.makedirs(os.path.dirname(final), 0o700, exist_ok=True)
            os.rename(tmp, final)
            self.created.append(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return rel

    def drop_created(self):
        """Undo a failed run: the layers it unpacked (no other bundle can use them yet)."""
        for path in self.created:
            shutil.rmtree(path, ignore_errors=True)
            try:
                os.rmdir(os.path.dirname(path))
            except OSError:
                pass  # other layers there
        self.created = []

    # --- refs

    def ref_path(self, ref_id):
        return os.path.join(self.path, "refs", ref_id)

    def add_ref(self, ref_id, bundle, diff_ids):
        data = json.dumps({"bundle": bundle, "layers": list(diff_ids)}).encode()
        state.write_atomic(self.ref_path(ref_id), data)

    def remove_ref(self, ref_id):
        try:
            os.unlink(self.ref_path(ref_id))
        except FileNotFoundError:
            pass

    def _ref_alive(self, ref_id, ref):
        bundle = ref.get("bundle") if isinstance(ref, dict) else None
        if not isinstance(bundle, str):
            return False
        if os.path.ismount(os.path.join(bundle, "rootfs")):
            return True
        try:
            with open(os.path.join(bundle, MARKER)) as f:
                return json.load(f).get("id") == ref_id
        except (OSError, ValueError, AttributeError):
            return False

    def gc(self):
        """Remove stale refs, layers no ref names, leftovers. -> removed diff-ids."""
        used = set()
        refs = os.path.join(self.path, "refs")
        for name in os.listdir(refs):
            path = os.path.join(refs, name)
            try:
                with open(path) as f:
                    ref = json.load(f)
            except (OSError, ValueError):
                ref = None
            if name.endswith(".tmp") or not self._ref_alive(name, ref):
                os.unlink(path)
                continue
            used.update(d for d in ref.get("layers", ()) if isinstance(d, str))
        removed = []
        # Only names the store makes: --layers pointed at the wrong directory loses nothing.
        for alg, size in HEX_LEN.items():
            top = os.path.join(self.path, alg)
            if not os.path.isdir(top) or os.path.islink(top):
                continue
            for hexd in sorted(os.listdir(top)):
                if len(hexd) == size and not hexd.strip("0123456789abcdef") and f"{alg}:{hexd}" not in used:
                    shutil.rmtree(os.path.join(top, hexd))
                    removed.append(f"{alg}:{hexd}")
            if not os.listdir(top):
                os.rmdir(top)
        for name in os.listdir(os.path.join(self.path, "tmp")):
            shutil.rmtree(os.path.join(self.path, "tmp", name), ignore_errors=True)
        return removed
