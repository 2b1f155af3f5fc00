"""`ocirun spec` output against `runc spec`, run live (only ociVersion differs)."""

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocirun.errors import OciError, SyscallError
from ocirun.spec.defaults import OCI_VERSION, default_config, render, write_spec

REPO = Path(__file__).resolve().parents[2]
RUNC = shutil.which("runc")
HAVE_RUNC = RUNC is not None
needs_runc = pytest.mark.skipif(not HAVE_RUNC, reason="runc is not installed")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch ids")


def runc_spec(bundle, *args, preexec_fn=None):
    """Run `runc spec -b bundle ARGS`; return (returncode, stderr message).

    With preexec_fn the bundle is the cwd instead (chdir happens before the
    id switch, so the bundle's parents need not be searchable for those ids).
    """
    where = ["-b", str(bundle)] if preexec_fn is None else []
    p = subprocess.run(
        [RUNC, "spec", *where, *args],
        cwd=None if preexec_fn is None else bundle,
        capture_output=True,
        text=True,
        preexec_fn=preexec_fn,
    )
    # runc logs `time="..." level=error msg="TEXT"`; keep TEXT.
    msg = p.stderr.strip()
    if 'msg="' in msg:
        msg = msg.split('msg="', 1)[1].rsplit('"', 1)[0]
    return p.returncode, msg


def in_child(setup, fn):
    """fn()'s bytes, computed in a forked child after setup() (e.g. id switch)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        try:
            os.close(r)
            setup()
            os.write(w, fn())
            os._exit(0)
        finally:
            os._exit(1)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return data


def normalised(raw: bytes) -> bytes:
    """runc's bytes with its ociVersion replaced by ours, nothing else touched."""
    theirs = json.loads(raw)["ociVersion"]
    old = b'"ociVersion": "%s"' % theirs.encode()
    assert raw.count(old) == 1
    return raw.replace(old, b'"ociVersion": "%s"' % OCI_VERSION.encode())


@needs_runc
@pytest.mark.parametrize("rootless", [False, True])
def test_default_config_renders_byte_for_byte_like_runc(tmp_path, rootless):
    rc, msg = runc_spec(tmp_path, *(["--rootless"] if rootless else []))
    assert rc == 0, msg
    expected = normalised((tmp_path / "config.json").read_bytes())
    assert render(default_config(rootless)) == expected
    assert default_config(rootless) == json.loads(expected)


@needs_runc
@pytest.mark.parametrize("rootless", [False, True])
def test_write_spec_writes_the_same_file_as_runc(tmp_path, rootless):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    write_spec(str(ours), rootless)
    rc, msg = runc_spec(theirs, *(["--rootless"] if rootless else []))
    assert rc == 0, msg
    a, b = ours / "config.json", theirs / "config.json"
    assert a.read_bytes() == normalised(b.read_bytes())
    assert not a.read_bytes().endswith(b"\n")
    assert stat.S_IMODE(a.stat().st_mode) == stat.S_IMODE(b.stat().st_mode)


def test_write_spec_empty_bundle_means_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_spec("", False)
    assert (tmp_path / "config.json").read_bytes() == render(default_config())


@needs_runc
@pytest.mark.parametrize("kind", ["file", "dir", "symlink"])
def test_existing_config_json_is_refused_like_runc(tmp_path, kind):
    for name in ("ours", "theirs"):
        d = tmp_path / name
        d.mkdir()
        target = d / "config.json"
        if kind == "file":
            target.write_text("keep me")
        elif kind == "dir":
            target.mkdir()
        else:
            (d / "real.json").write_text("keep me")
            target.symlink_to("real.json")
    with pytest.raises(OciError) as err:
        write_spec(str(tmp_path / "ours"), False)
    rc, msg = runc_spec(tmp_path / "theirs")
    assert rc == 1
    assert str(err.value) == msg == "File config.json exists. Remove it first"
    if kind != "dir":
        assert (tmp_path / "ours" / "config.json").read_text() == "keep me"


@needs_runc
def test_dangling_symlink_is_written_through_like_runc(tmp_path):
    # runc's existence check follows symlinks, so a dangling one is not "exists".
    for name in ("ours", "theirs"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").symlink_to("real.json")
    write_spec(str(tmp_path / "ours"), False)
    rc, msg = runc_spec(tmp_path / "theirs")
    assert rc == 0, msg
    assert (tmp_path / "ours" / "real.json").read_bytes() == normalised(
        (tmp_path / "theirs" / "real.json").read_bytes()
    )


@needs_runc
@pytest.mark.parametrize("kind", ["missing", "file"])
def test_bad_bundle_error_matches_runc(tmp_path, kind):
    bundle = tmp_path / "bundle"
    if kind == "file":
        bundle.write_text("")
    with pytest.raises(SyscallError) as err:
        write_spec(str(bundle), False)
    rc, msg = runc_spec(bundle)
    assert rc == 1
    assert str(err.value) == msg
    assert msg.startswith(f"chdir {bundle}: ")


@needs_runc
@needs_root
def test_rootless_maps_the_effective_ids_like_runc(tmp_path):
    def become():  # real and effective ids differ, to tell them apart
        os.setgroups([])
        os.setresgid(1100, 3000, 0)
        os.setresuid(1000, 2000, 0)

    tmp_path.chmod(0o777)
    rc, msg = runc_spec(tmp_path, "--rootless", preexec_fn=become)
    assert rc == 0, msg
    ours = in_child(become, lambda: render(default_config(True)))
    assert ours == normalised((tmp_path / "config.json").read_bytes())
    assert json.loads(ours)["linux"]["uidMappings"][0]["hostID"] == 2000
    assert json.loads(ours)["linux"]["gidMappings"][0]["hostID"] == 3000


def test_default_config_returns_a_fresh_dict_each_call():
    first = default_config()
    first["process"]["capabilities"]["bounding"].append("CAP_SYS_ADMIN")
    first["mounts"][4]["options"].append("ro")
    first["linux"]["namespaces"].clear()
    again = default_config()
    assert again["process"]["capabilities"]["bounding"] == [
        "CAP_AUDIT_WRITE",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
    ]
    assert again["mounts"][4]["options"] == ["nosuid", "noexec", "nodev"]
    assert len(again["linux"]["namespaces"]) == 5


@given(st.text())
def test_render_round_trips_and_escapes_like_go(s):
    out = render({"k": s})
    assert json.loads(out) == {"k": s}
    for ch in "<>&\u2028\u2029":
        assert ch.encode() not in out


def test_example_bundle_is_the_runc_default_plus_demo_changes():
    """bundles/busybox stays `runc spec` except for the demo's own settings."""
    bundle = json.loads((REPO / "bundles/busybox/config.json").read_text())
    expected = default_config()
    expected["process"]["terminal"] = False
    expected["process"]["args"] = bundle["process"]["args"]
    expected["hostname"] = "ocirun-demo"
    expected["linux"]["namespaces"].append({"type": "cgroup"})
    assert bundle == expected
    assert bundle["root"]["path"] == "rootfs"
    assert bundle["process"]["args"][0] == "/bin/sh"
