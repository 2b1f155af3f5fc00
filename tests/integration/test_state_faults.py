"""State that is never lost (issue 10 items 5-9, issue 11 items 8 and 13).

Fault injection as a class: every mutating command runs on a tiny tmpfs state
root filled so that each of its writes in turn meets ENOSPC; afterwards
`state` and `list` never crash, and `delete --force` leaves no process,
cgroup or state directory. Then corrupt records, a pause killed midway, and
cgroups that are not the container's own.
"""
import os
import subprocess
import time

import pytest

from conftest import Oci, cgroup_dirs, new_id, oci_files, pids_with, wait_until
from ocirun import state as sm
from test_exec import _rmdir as rmdir_one

PAGE = 4096


@pytest.fixture
def tiny_root(tmp_path, ocirun_bin):
    """An Oci whose --root is a 64 KiB tmpfs; .fill(n) leaves n pages free."""
    d = tmp_path / "tiny"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(d)], check=True)
    o = Oci(ocirun_bin, str(d / "root"))
    filler = d / "filler"

    def fill(pages):
        if filler.exists():
            filler.unlink()
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            while os.write(fd, b"\0" * PAGE):
                pass
        except OSError:
            pass
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - pages * PAGE))
        os.close(fd)

    def free_all():
        if filler.exists():
            filler.unlink()

    o.fill, o.free_all = fill, free_all
    try:
        yield o
    finally:
        try:
            free_all()
            o.cleanup()
        finally:
            subprocess.run(["umount", "-l", str(d)], check=False)


def _no_crash(p):
    assert "Traceback" not in p.stderr and "SystemError" not in p.stderr, p.stderr
    assert p.returncode in (0, 1), (p.returncode, p.stderr)


def _nothing_left(oci, cid, marker, cgroups_before):
    assert not os.path.exists(os.path.join(oci.root, cid))
    assert pids_with(marker) == []
    assert {d for d in cgroup_dirs() - cgroups_before if cid in d} == set()


SEQUENCES = {
    "create": ["create"],
    "run": ["run"],
    "start": ["create", "start"],
    "pause": ["create", "start", "pause"],
    "resume": ["create", "start", "pause", "resume"],
    "update": ["create", "start", "update"],
    "exec": ["create", "start", "exec"],
}


@pytest.mark.parametrize("seq", sorted(SEQUENCES))
@pytest.mark.parametrize("pages", [0, 1, 2, 4, 6])
def test_full_disk_never_loses_a_container(tiny_root, bundle, seq, pages, tmp_path):
    """Item 5 and 7: with `pages` free on the state root, the last command of
    the sequence meets ENOSPC at one of its writes (the ones before run with
    room). Whatever failed, state and list work and delete -f cleans up."""
    oci = tiny_root
    marker = f"{4000 + pages}{len(seq)}{os.getpid() % 97}"
    # ~9 KB of annotations: state.json and the saved config.json span pages,
    # so some levels cut a write midway (a short write, then ENOSPC).
    b = bundle(["sleep", marker], lambda c: c.setdefault("annotations", {}).update(big="x" * 9000))
    cid = new_id("f")
    before = cgroup_dirs()
    steps = SEQUENCES[seq]
    os.makedirs(oci.root, exist_ok=True)
    for i, step in enumerate(steps):
        if i == len(steps) - 1:
            oci.fill(pages)
        args = {"create": ["create", "--bundle", b, cid], "run": ["run", "-d", "--bundle", b, cid],
                "start": ["start", cid], "pause": ["pause", cid], "resume": ["resume", cid],
                "update": ["update", "--pids-limit", "100", cid],
                "exec": ["exec", "-d", cid, "true"]}[step]
        p = oci_files(oci, *args, timeout=60)
        _no_crash(p)
        if p.returncode and step in ("create", "run"):
            # A create that cannot save its state fails and leaves nothing.
            assert not os.path.exists(os.path.join(oci.root, cid)), p.stderr
    for cmd in (["state", cid], ["list"], ["list", "-f", "json"]):
        _no_crash(oci(*cmd))
    oci.free_all()
    for cmd in (["state", cid], ["list"]):
        _no_crash(oci(*cmd))
    if oci("state", cid).returncode == 0 and oci.state(cid)["status"] == "paused":
        oci("resume", cid, check=True)  # a pause that could not save thawed, or says paused
    p = oci("delete", "--force", cid)
    assert p.returncode == 0, p.stderr
    _nothing_left(oci, cid, f"sleep {marker}", before)
    # The id can be used again (no ghost claim).
    assert oci_files(oci, "create", "--bundle", b, cid).returncode == 0
    oci("delete", "--force", cid, check=True)


def test_write_atomic_never_renames_a_cut_file(tiny_root):
    """Item 5: a write that meets ENOSPC midway raises, and neither the
    target nor a temp file is left changed."""
    oci = tiny_root
    os.makedirs(oci.root)
    path = os.path.join(oci.root, "f")
    sm.write_atomic(path, b"old")
    oci.fill(1)
    with pytest.raises(OSError):
        sm.write_atomic(path, b"x" * (3 * PAGE))
    with open(path, "rb") as f:
        assert f.read() == b"old"
    assert os.listdir(oci.root) == ["f"]


def test_store_new_rolls_the_claim_back(tiny_root):
    """Item 7: ENOSPC while saving the first record leaves no directory."""
    oci = tiny_root
    os.makedirs(oci.root)
    oci.fill(0)
    with pytest.raises(OSError):
        sm.Store(oci.root).new("ghost", {"x": "y" * 2 * PAGE})
    assert os.listdir(oci.root) == []


# ---- item 6: corrupt records --------------------------------------------------------

CORRUPT = {"cut": None, "list": b"[]", "empty": b"", "not-utf8": b'{"id": "\xff\xfe"}',
           "wrong-type": b'{"pid": "1", "status": "running"}', "deep": b"[" * 100000}


@pytest.mark.parametrize("kind", sorted(CORRUPT))
def test_corrupt_record_state_list_and_delete(oci, bundle, kind):
    """A bad record: `state` one line, `list` shows the others (with a
    warning), and `delete -f` still kills the process and removes its cgroup."""
    marker = f"{5100 + sorted(CORRUPT).index(kind)}{os.getpid() % 89}"
    good, bad = new_id("g"), new_id("b")
    oci_files(oci, "run", "-d", "--bundle", bundle(["sleep", "1000"]), good, check=True)
    oci_files(oci, "run", "-d", "--bundle", bundle(["sleep", marker]), bad, check=True)
    before_cg = {d for d in cgroup_dirs() if bad in d}
    assert before_cg
    path = os.path.join(oci.root, bad, "state.json")
    with open(path, "rb") as f:
        raw = f.read()
    with open(path, "wb") as f:
        f.write(raw[: len(raw) // 2] if CORRUPT[kind] is None else CORRUPT[kind])
    p = oci("state", bad)
    assert p.returncode == 1 and "corrupt" in p.stderr and p.stderr.count("\n") == 1, p.stderr
    p = oci("list", "-q")
    assert p.returncode == 0 and p.stdout.split() == [good], p.stderr
    assert "corrupt" in p.stderr
    p = oci("delete", "--force", bad)
    assert p.returncode == 0, p.stderr
    assert pids_with(f"sleep {marker}") == []
    assert {d for d in cgroup_dirs() if bad in d} == set()
    assert not os.path.exists(os.path.join(oci.root, bad))
    assert oci.state(good)["status"] == "running"


# ---- item 8: paused comes from the freezer -----------------------------------------

def _freezer(cid):
    dirs = [d for d in cgroup_dirs() if d.endswith("/" + cid) and "/freezer/" in d]
    assert dirs, "no freezer cgroup"
    return dirs[0]


def test_frozen_behind_our_back_is_paused_and_resumes(oci, bundle):
    """Item 8: a pause killed between freeze and save (the freezer says
    FROZEN, the record not paused): state says paused, resume thaws it, exec
    refuses instead of hanging."""
    cid = new_id("p")
    oci_files(oci, "run", "-d", "--bundle", bundle(["sleep", "1000"]), cid, check=True)
    with open(os.path.join(_freezer(cid), "freezer.state"), "w") as f:
        f.write("FROZEN")
    assert oci.state(cid)["status"] == "paused"
    p = oci("exec", cid, "true", timeout=20)
    assert p.returncode != 0 and "paused" in p.stderr
    oci("resume", cid, check=True)
    assert oci.state(cid)["status"] == "running"
    oci("exec", cid, "true", check=True, timeout=20)


# ---- item 9 / issue 11 item 13: a cgroup that is not the container's own ----------

def test_create_into_a_non_empty_cgroup_is_refused(oci, bundle):
    """config-linux.md#control-groups: a create into a non-empty cgroup MUST
    error; and delete -f of B (had it been made) would have killed A."""
    path = f"/ocirun-test-shared-{os.getpid()}"
    a, b = new_id("a"), new_id("b")

    def shared(c):
        c["linux"]["cgroupsPath"] = path
    oci_files(oci, "run", "-d", "--bundle", bundle(["sleep", "1000"], shared), a, check=True)
    p = oci_files(oci, "create", "--bundle", bundle(["sleep", "1000"], shared), b)
    assert p.returncode != 0 and "not empty" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(oci.root, b))
    assert oci.state(a)["status"] == "running"
    oci("delete", "--force", a, check=True)


def test_create_into_a_frozen_cgroup_is_refused_not_hung(oci, bundle):
    """config-linux.md#control-groups: a frozen cgroup MUST error (it hung)."""
    parent = f"/sys/fs/cgroup/freezer/ocirun-test-frozen-{os.getpid()}"
    os.mkdir(parent)
    try:
        with open(os.path.join(parent, "freezer.state"), "w") as f:
            f.write("FROZEN")

        def under(c):
            c["linux"]["cgroupsPath"] = f"/{os.path.basename(parent)}/c"
        cid = new_id("z")
        p = oci_files(oci, "create", "--bundle", bundle(["sleep", "1000"], under), cid, timeout=60)
        assert p.returncode != 0 and "frozen" in p.stderr, p.stderr
        assert not os.path.exists(os.path.join(oci.root, cid))
    finally:
        with open(os.path.join(parent, "freezer.state"), "w") as f:
            f.write("THAWED")
        for d in cgroup_dirs():
            if os.path.basename(parent) in d:
                wait_until(lambda d=d: _rmdir(d), what=f"rmdir {d}")
        if os.path.isdir(parent):
            os.rmdir(parent)


def _rmdir(d):
    for sub in sorted((x for x in cgroup_dirs() if x.startswith(d + "/")), key=len, reverse=True):
        try:
            os.rmdir(sub)
        except OSError:
            pass
    return rmdir_one(d)


def test_delete_force_of_an_unkillable_init_keeps_the_state(oci, bundle):
    """Issue 11 item 8: an init frozen by a freezer that is not ours cannot be
    killed: delete -f fails with runc's 'container init still running' and
    keeps the record; once thawed, delete -f removes it."""
    top = f"ocirun-test-outer-{os.getpid()}"
    parent = f"/sys/fs/cgroup/freezer/{top}"
    cid = new_id("k")

    def under(c):
        c["linux"]["cgroupsPath"] = f"/{top}/{cid}"
    oci_files(oci, "run", "-d", "--bundle", bundle(["sleep", "1000"], under), cid, check=True)
    try:
        with open(os.path.join(parent, "freezer.state"), "w") as f:
            f.write("FROZEN")
        t = time.monotonic()
        p = oci("delete", "--force", cid, timeout=60)
        assert p.returncode != 0 and "container init still running" in p.stderr, p.stderr
        assert time.monotonic() - t < 30
        assert os.path.exists(os.path.join(oci.root, cid))
    finally:
        with open(os.path.join(parent, "freezer.state"), "w") as f:
            f.write("THAWED")
    oci("delete", "--force", cid, check=True)
    assert not os.path.exists(os.path.join(oci.root, cid))
    wait_until(lambda: _rmdir(parent), what=f"rmdir {parent}")
    for d in cgroup_dirs():
        if top in d:
            _rmdir(d)
