"""Layer tars are applied inside their directory and nowhere else (issue 17).

Each hostile case builds its tar here with tarfile and checks that a
sentinel tree beside the layer is untouched. Needs root (chown, mknod,
trusted.* xattrs), like the layer store itself.
"""
import gzip
import hashlib
import io
import os
import stat
import shutil
import tarfile
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocirun.image import ImageError, tarapply

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="applies layers as root (chown, mknod)")


def member(name, kind="file", data=b"x", target="", mode=0o644, dev=(0, 0)):
    t = tarfile.TarInfo(name)
    t.mode = mode
    if kind == "file":
        t.size = len(data)
        return t, data
    t.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "link": tarfile.LNKTYPE,
              "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}[kind]
    t.linkname = target
    t.devmajor, t.devminor = dev
    if kind == "dir":
        t.mode = 0o755
    return t, None


def tar_bytes(*members, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for t, data in members:
            tf.addfile(t, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def snapshot(top, skip):
    """Every path below top (but `skip`) with its type, size, mode, link count, content."""
    out = {}
    for dirpath, dirs, files in os.walk(top):
        if dirpath == skip or dirpath.startswith(skip + "/"):
            continue
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            if p == skip:
                continue
            s = os.lstat(p)
            body = open(p, "rb").read() if stat.S_ISREG(s.st_mode) else None
            out[p] = (s.st_mode, s.st_size, s.st_nlink, s.st_mtime_ns, body)
    return out


class Sandbox:
    """tmp/outside (a sentinel tree) and tmp/deep/er/layer (where the layer goes)."""

    def __init__(self, base):
        self.base = str(base)
        self.outside = os.path.join(self.base, "outside")
        os.makedirs(os.path.join(self.outside, "dir"))
        with open(os.path.join(self.outside, "secret"), "w") as f:
            f.write("secret")
        self.layer = os.path.join(self.base, "deep", "er", "layer")
        os.makedirs(self.layer)
        self.before = snapshot(self.base, self.layer)

    def apply(self, data, flat=False, **kw):
        fd = os.open(self.layer, os.O_PATH | os.O_DIRECTORY)
        try:
            tarapply.apply(io.BytesIO(data), fd, flat=flat, **kw)
        finally:
            os.close(fd)

    def untouched(self):
        assert snapshot(self.base, self.layer) == self.before

    def path(self, rel):
        return os.path.join(self.layer, rel)


@pytest.fixture
def box(tmp_path):
    return Sandbox(tmp_path)


def test_absolute_names_land_inside(box):
    box.apply(tar_bytes(member("/etc/evil", data=b"e"), member("/" + box.outside + "/secret", data=b"no")))
    assert open(box.path("etc/evil"), "rb").read() == b"e"
    assert open(box.path(box.outside.lstrip("/") + "/secret"), "rb").read() == b"no"
    box.untouched()


def test_dotdot_names_land_inside(box):
    box.apply(tar_bytes(member("../../../outside/secret", data=b"no"), member("a/../../../x", data=b"x")))
    assert open(box.path("outside/secret"), "rb").read() == b"no"
    assert os.path.exists(box.path("x"))
    box.untouched()


def test_write_through_symlink_to_outside_stays_inside(box):
    """A symlink pointing out of the layer, then an entry written through it."""
    box.apply(tar_bytes(member("up", "sym", target="../../.."), member("abs", "sym", target=box.outside),
                        member("up/outside/secret", data=b"no"), member("abs/secret", data=b"no2"),
                        member("abs/dir/new", data=b"n")))
    assert os.readlink(box.path("abs")) == box.outside  # the link itself is kept as written
    assert open(box.path(box.outside.lstrip("/") + "/secret"), "rb").read() == b"no2"
    assert open(box.path("outside/secret"), "rb").read() == b"no"
    box.untouched()


def test_file_replaces_symlink_never_writes_through_it(box):
    box.apply(tar_bytes(member("f", "sym", target=os.path.join(box.outside, "secret")),
                        member("f", data=b"new"),
                        member("d", "sym", target=os.path.join(box.outside, "dir")),
                        member("d", "dir"), member("d/x", data=b"x")))
    assert not os.path.islink(box.path("f")) and open(box.path("f"), "rb").read() == b"new"
    assert os.path.isdir(box.path("d")) and not os.path.islink(box.path("d"))
    box.untouched()


@pytest.mark.parametrize("target", ["/etc/passwd", "../../../outside/secret", "OUT/secret", "s/secret"])
def test_hardlink_to_outside_refused(box, target):
    target = target.replace("OUT", box.outside)
    with pytest.raises(ImageError, match="hard link to .* not in this layer"):
        box.apply(tar_bytes(member("s", "sym", target=box.outside), member("h", "link", target=target)))
    assert os.stat("/etc/passwd").st_nlink == 1
    box.untouched()


def test_hardlink_inside_shares_the_inode(box):
    box.apply(tar_bytes(member("a/f", data=b"1"), member("b", "link", target="/a/f")))
    assert os.stat(box.path("a/f")).st_ino == os.stat(box.path("b")).st_ino
    box.untouched()


@pytest.mark.parametrize("kind,dev", [("chr", (1, 3)), ("blk", (8, 0)), ("chr", (0, 0))])
def test_device_nodes_refused(box, kind, dev):
    with pytest.raises(ImageError, match="device nodes are not allowed"):
        box.apply(tar_bytes(member("dev/x", kind, dev=dev)))
    box.untouched()


def test_decompression_bomb_stops_at_the_byte_limit(box):
    big = tar_bytes(member("zeros", data=b"\0" * (8 << 20)))
    gz = gzip.compress(big)
    assert len(gz) < 100_000
    stream = tarapply.Uncompressed(gzip.GzipFile(fileobj=io.BytesIO(gz)), "sha256:" + "0" * 64,
                                   1 << 20, "layer 0")
    with pytest.raises(ImageError, match="more than 1048576 bytes uncompressed"):
        fd = os.open(box.layer, os.O_PATH)
        try:
            tarapply.apply(stream, fd)
        finally:
            os.close(fd)
    assert stream.count <= (1 << 20) + (1 << 20)  # stopped reading, not decompressed to the end
    box.untouched()


def sparse_member(name, realsize, data=b"abcd"):
    """A PAX 1.0 sparse entry: `data` at offset 0, then a hole up to realsize."""
    sparse_map = b"1\n0\n%d\n" % len(data)
    body = sparse_map.ljust(512, b"\0") + data
    t = tarfile.TarInfo("GNUSparseFile.0/" + name)
    t.size = len(body)
    t.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": name,
                     "GNU.sparse.realsize": str(realsize)}
    return t, body


def test_sparse_file_bomb_bounded(box):
    """10 KiB of tar that would be 1 TiB of zeros: refused before anything is written."""
    with pytest.raises(ImageError, match="more than 1048576 bytes of file content"):
        box.apply(tar_bytes(sparse_member("big", 1 << 40)), max_bytes=1 << 20)
    assert not os.path.exists(box.path("big"))
    box.untouched()


def test_sparse_file_kept_sparse(box):
    box.apply(tar_bytes(sparse_member("holes", 16 << 20)))
    s = os.stat(box.path("holes"))
    assert s.st_size == 16 << 20 and s.st_blocks * 512 <= 2 << 20  # the first chunk only
    with open(box.path("holes"), "rb") as f:
        assert f.read(6) == b"abcd\0\0"


def test_entry_count_bounded(box):
    with pytest.raises(ImageError, match="more than 10 entries"):
        box.apply(tar_bytes(*[member(f"f{i}") for i in range(50)]), max_entries=10)
    assert len(os.listdir(box.layer)) <= 10
    box.untouched()


def test_diff_id_checked(box):
    data = tar_bytes(member("a"))
    good = "sha256:" + hashlib.sha256(data).hexdigest()
    tarapply.Uncompressed(io.BytesIO(data), good, 1 << 20, "l").finish()
    with pytest.raises(ImageError, match="does not match its diff_id"):
        tarapply.Uncompressed(io.BytesIO(data), "sha256:" + "1" * 64, 1 << 20, "l").finish()


# --- whiteouts ----------------------------------------------------------------------------

def test_overlay_whiteouts_as_overlayfs_reads_them(box):
    box.apply(tar_bytes(member("dir", "dir"), member("dir/.wh..wh..opq"), member("dir/new"),
                        member(".wh.gone"), member("keep"), member(".wh.keep")))
    s = os.lstat(box.path("gone"))
    assert stat.S_ISCHR(s.st_mode) and s.st_rdev == os.makedev(0, 0)
    assert os.getxattr(box.path("dir"), "trusted.overlay.opaque") == b"y"
    assert not os.path.exists(box.path("dir/.wh..wh..opq"))
    assert stat.S_ISREG(os.lstat(box.path("keep")).st_mode)  # a whiteout never hides its own layer
    box.untouched()


def test_overlay_whiteout_then_new_directory_is_opaque(box):
    box.apply(tar_bytes(member(".wh.d"), member("d", "dir"), member("d/x")))
    assert os.getxattr(box.path("d"), "trusted.overlay.opaque") == b"y"


def test_flat_whiteouts_delete_lower_content(box):
    box.apply(tar_bytes(member("gone"), member("dir", "dir"), member("dir/a"), member("dir/sub", "dir"),
                        member("dir/sub/b"), member("stay")), flat=True)
    box.apply(tar_bytes(member(".wh.gone"), member("dir", "dir"), member("dir/c"),
                        member("dir/.wh..wh..opq"), member("dir/sub2", "dir"), member("dir/sub2/d")),
              flat=True)
    assert not os.path.lexists(box.path("gone"))
    assert sorted(os.listdir(box.path("dir"))) == ["c", "sub2"]
    assert os.path.exists(box.path("stay"))
    box.untouched()


def test_xattrs_trusted_dropped_user_kept(box):
    t, data = member("f", data=b"1")
    t.pax_headers = {"SCHILY.xattr.user.k": "v", "SCHILY.xattr.trusted.overlay.opaque": "y"}
    box.apply(tar_bytes((t, data)))
    assert os.getxattr(box.path("f"), "user.k") == b"v"
    assert "trusted.overlay.opaque" not in os.listxattr(box.path("f"))


def test_owner_mode_and_setuid_kept(box):
    t, data = member("bin/su", data=b"#!", mode=0o4755)
    t.uid, t.gid = 1234, 5678
    box.apply(tar_bytes((t, data)))
    s = os.stat(box.path("bin/su"))
    assert (s.st_uid, s.st_gid, stat.S_IMODE(s.st_mode)) == (1234, 5678, 0o4755)


# --- generated hostile members ------------------------------------------------------------

PART = st.sampled_from(["..", "a", "b", "secret", "dir", ".", ".wh.a", ".wh..wh..opq"])
NAME = st.builds(lambda lead, parts: lead + "/".join(parts), st.sampled_from(["", "/", "./"]),
                 st.lists(PART, min_size=1, max_size=3))
TARGET = st.sampled_from(["OUT", "OUT/secret", "OUT/dir", "/", "..", "../..", "../../..", "a",
                          "/a/secret"]) | NAME
KIND = st.sampled_from(["file", "dir", "sym", "sym", "link", "fifo"])


@settings(max_examples=300, deadline=None)
@given(data=st.data(), flat=st.booleans())
def test_generated_members_never_write_outside(data, flat):
    """Names with .., /, symlinks and hard links (often under an earlier
    entry's name, so that later entries walk through what earlier ones made)."""
    base = tempfile.mkdtemp(prefix="ocirun-tarapply-")
    try:
        box = Sandbox(base)
        names, members = [], []
        for _ in range(data.draw(st.integers(1, 8), label="entries")):
            kind, name, target = data.draw(KIND), data.draw(NAME), data.draw(TARGET)
            if names and data.draw(st.booleans()):
                name = data.draw(st.sampled_from(names)) + "/" + name
            names.append(name)
            members.append(member(name, kind, data=b"pwned", target=target.replace("OUT", box.outside)))
        try:
            box.apply(tar_bytes(*members), flat=flat)
        except ImageError:
            pass  # refusing is fine; writing outside is not
        box.untouched()
    finally:
        shutil.rmtree(base)
