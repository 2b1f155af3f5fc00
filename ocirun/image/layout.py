"""Read an OCI image layout (image-spec image-layout.md): `oci-layout`,
`index.json`, and blobs named by their digest under blobs/<alg>/<hex>.

Every blob read is checked against its descriptor while it is read: a
reader counts and hashes the bytes, refuses one byte past the declared
size, and compares size and digest at the end. Nothing is trusted before
that check but what is needed to read on (JSON blobs are small and are
checked before they are parsed).
"""
import hashlib
import json
import os
import stat

from ocirun.errors import describe
from ocirun.image import ImageError

HEX_LEN = {"sha256": 64, "sha512": 128}
MAX_JSON = 16 << 20  # a manifest/config/index larger than this is not an image we read
REF_NAME = "org.opencontainers.image.ref.name"
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")
# uname machine -> (GOARCH, variant) as image platforms spell them
ARCH = {"x86_64": ("amd64", None), "aarch64": ("arm64", None), "armv7l": ("arm", "v7"),
        "armv6l": ("arm", "v6"), "i686": ("386", None), "i386": ("386", None),
        "ppc64le": ("ppc64le", None), "s390x": ("s390x", None), "riscv64": ("riscv64", None)}


def split_image_arg(arg):
    """`LAYOUT[:TAG]` (umoci's --image): split at the first ':' unless the
    whole argument is a directory. -> (layout, tag or None)."""
    if os.path.isdir(arg) or ":" not in arg:
        return arg, None
    layout, _, tag = arg.partition(":")
    return layout, tag or None


def host_platform():
    arch, variant = ARCH.get(os.uname().machine, (os.uname().machine, None))
    return "linux", arch, variant


def check_descriptor(d, where):
    """A descriptor's mediaType, digest and size, or ImageError naming the field."""
    if not isinstance(d, dict):
        raise ImageError(f"{where}: not a descriptor object")
    digest, size, mt = d.get("digest"), d.get("size"), d.get("mediaType")
    if not isinstance(mt, str):
        raise ImageError(f"{where}.mediaType: missing or not a string")
    alg, _, hexd = digest.partition(":") if isinstance(digest, str) else ("", "", "")
    if HEX_LEN.get(alg) != len(hexd) or hexd.strip("0123456789abcdef"):
        raise ImageError(f"{where}.digest: {digest!r} is not a sha256/sha512 digest")
    if type(size) is not int or size < 0:
        raise ImageError(f"{where}.size: {size!r} is not a non-negative integer")
    ann = d.get("annotations", {})
    if not isinstance(ann, dict):
        raise ImageError(f"{where}.annotations: not an object")
    return d


class BlobReader:
    """A file-like read() over one blob that checks size and digest."""

    def __init__(self, fd, desc, where):
        self.f = os.fdopen(fd, "rb", buffering=0)
        self.size = desc["size"]
        self.digest = desc["digest"]
        self.hash = hashlib.new(self.digest.partition(":")[0])
        self.count = 0
        self.where = where

    def read(self, n=-1):
        want = self.size - self.count + 1 if n is None or n < 0 else min(n, self.size - self.count + 1)
        data = self.f.read(max(want, 0)) if want > 0 else b""
        self.count += len(data)
        if self.count > self.size:
            raise ImageError(f"{self.where}: blob {self.digest} is larger than its size {self.size}")
        self.hash.update(data)
        return data

    def finish(self):
        """Read what is left, then compare size and digest."""
        while self.read(1 << 20):
            pass
        if self.count != self.size:
            raise ImageError(f"{self.where}: blob {self.digest} has {self.count} bytes, "
                             f"its descriptor says {self.size}")
        got = self.hash.name + ":" + self.hash.hexdigest()
        if got != self.digest:
            raise ImageError(f"{self.where}: blob {self.digest} does not match its digest (got {got})")

    def close(self):
        self.f.close()


class Layout:
    def __init__(self, path):
        self.path = path
        try:
            self.fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as e:
            raise ImageError(f"{path}: not an OCI image layout: {describe(e)}") from None
        version = self._json_file("oci-layout").get("imageLayoutVersion")
        if not isinstance(version, str) or not version.startswith("1."):
            raise ImageError(f"{path}/oci-layout: imageLayoutVersion {version!r} is not 1.x")
        self.index = self._json_file("index.json")

    def close(self):
        os.close(self.fd)

    def _json_file(self, name):
        try:
            fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=self.fd)
        except OSError as e:
            raise ImageError(f"{self.path}/{name}: {describe(e)} "
                             "(not an OCI image layout)") from None
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ImageError(f"{self.path}/{name}: not a regular file")
            data = f.read(MAX_JSON + 1)
        return _parse_json(data, f"{self.path}/{name}")

    def open_blob(self, desc, where):
        alg, _, hexd = desc["digest"].partition(":")
        try:
            # O_NONBLOCK: a FIFO planted as a blob must not hang us; only regular files pass.
            fd = os.open(f"blobs/{alg}/{hexd}", os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK,
                         dir_fd=self.fd)
        except OSError as e:
            raise ImageError(f"{where}: blob {desc['digest']}: {describe(e)}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ImageError(f"{where}: blob {desc['digest']} is not a regular file")
        return BlobReader(fd, desc, where)

    def check_blob_size(self, desc, where):
        """Cheap check for a layer we will not read (already in the store)."""
        r = self.open_blob(desc, where)
        try:
            size = os.fstat(r.f.fileno()).st_size
        finally:
            r.close()
        if size != desc["size"]:
            raise ImageError(f"{where}: blob {desc['digest']} has {size} bytes, its descriptor says "
                             f"{desc['size']}")

    def read_json(self, desc, where):
        if desc["size"] > MAX_JSON:
            raise ImageError(f"{where}.size: {desc['size']} bytes is too large for a JSON blob")
        r = self.open_blob(desc, where)
        try:
            data = r.read()
            r.finish()
        finally:
            r.close()
        return _parse_json(data, f"{where} ({desc['digest']})")


def _parse_json(data, where):
    if len(data) > MAX_JSON:
        raise ImageError(f"{where}: larger than {MAX_JSON} bytes")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ImageError(f"{where}: invalid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ImageError(f"{where}: not a JSON object")
    return obj


class Image:
    """The chosen manifest: its config (dict), layer descriptors and diff-ids."""

    def __init__(self, manifest_digest, config, layers, diff_ids):
        self.manifest_digest = manifest_digest
        self.config = config
        self.layers = layers
        self.diff_ids = diff_ids


def _descriptors(index, where):
    ms = index.get("manifests")
    if not isinstance(ms, list):
        raise ImageError(f"{where}: manifests: missing or not a list")
    return [check_descriptor(d, f"{where}: manifests[{i}]") for i, d in enumerate(ms)]


def _by_ref(descs, tag, where):
    """Descriptors whose ref.name is the tag, or a full reference ending in :tag."""
    want = tag or "latest"
    refs = [d.get("annotations", {}).get(REF_NAME) for d in descs]
    hits = [d for d, r in zip(descs, refs) if r == want]
    if not hits:
        hits = [d for d, r in zip(descs, refs) if isinstance(r, str) and ":" in r
                and r.rsplit(":", 1)[1] == want and "/" not in r.rsplit(":", 1)[1]]
    if not hits and tag is None and len(descs) == 1:
        hits = descs  # one image, no tag asked for: that image
    if not hits:
        names = sorted({r for r in refs if isinstance(r, str)})
        raise ImageError(f"{where}: no image with ref name {want!r} "
                         f"(has: {', '.join(names) if names else 'no ref names'})")
    return hits


def _by_platform(descs, where):
    os_, arch, variant = host_platform()
    hits, seen = [], []
    for d in descs:
        p = d.get("platform")
        if p is None:
            hits.append(d)
            continue
        if not isinstance(p, dict):
            raise ImageError(f"{where}: platform: not an object")
        seen.append("/".join(x for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x))
        if p.get("os") == os_ and p.get("architecture") == arch and (
                not variant or not p.get("variant") or p.get("variant") == variant):
            hits.append(d)
    if not hits:
        host = "/".join(x for x in (os_, arch, variant) if x)
        raise ImageError(f"{where}: no manifest for this host's platform {host} (has: {', '.join(seen)})")
    return hits[0]


def resolve(layout, tag=None):
    """Pick the manifest (ref name, then host platform; through nested indexes),
    read and verify it and its config. -> Image."""
    where = f"{layout.path}/index.json"
    desc = _by_platform(_by_ref(_descriptors(layout.index, where), tag, where), where)
    for _ in range(8):  # nested indexes, bounded
        if desc["mediaType"] not in INDEX_TYPES:
            break
        sub = layout.read_json(desc, f"index {desc['digest']}")
        desc = _by_platform(_descriptors(sub, f"index {desc['digest']}"), f"index {desc['digest']}")
    if desc["mediaType"] not in MANIFEST_TYPES:
        raise ImageError(f"{where}: {desc['digest']}: media type {desc['mediaType']!r} is not an image manifest")
    mwhere = f"manifest {desc['digest']}"
    manifest = layout.read_json(desc, mwhere)
    if manifest.get("schemaVersion") != 2:
        raise ImageError(f"{mwhere}: schemaVersion: {manifest.get('schemaVersion')!r}, want 2")
    cdesc = check_descriptor(manifest.get("config"), f"{mwhere}: config")
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise ImageError(f"{mwhere}: layers: missing or not a list")
    layers = [check_descriptor(d, f"{mwhere}: layers[{i}]") for i, d in enumerate(layers)]
    config = layout.read_json(cdesc, f"config {cdesc['digest']}")
    rootfs = config.get("rootfs")
    cwhere = f"config {cdesc['digest']}: rootfs"
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
        raise ImageError(f"{cwhere}.type: want 'layers'")
    diff_ids = rootfs.get("diff_ids")
    if not isinstance(diff_ids, list) or len(diff_ids) != len(layers):
        raise ImageError(f"{cwhere}.diff_ids: want a list of {len(layers)} digests (one per layer)")
    for i, d in enumerate(diff_ids):
        check_descriptor({"mediaType": "", "digest": d, "size": 0}, f"{cwhere}.diff_ids[{i}]")
    if config.get("config") is not None and not isinstance(config.get("config"), dict):
        raise ImageError(f"config {cdesc['digest']}: config: not an object")
    return Image(desc["digest"], config, layers, diff_ids)
