"""ocirun.spec.loader: reading config.json and locating the rootfs."""

import json
import os

import pytest

from ocirun.errors import InvalidSpec, OciError
from ocirun.spec.loader import load_bundle, rootfs_path

CONFIG = {"ociVersion": "1.3.0", "root": {"path": "rootfs"}, "process": {"cwd": "/", "args": ["sh"]}}


def write(bundle, text):
    bundle.mkdir(exist_ok=True)
    (bundle / "config.json").write_bytes(text if isinstance(text, bytes) else text.encode())


@pytest.fixture
def bundle(tmp_path):
    b = tmp_path / "bundle"
    write(b, json.dumps(CONFIG))
    (b / "rootfs").mkdir()
    return b


# ---- load_bundle -------------------------------------------------------------

def test_load_returns_config_and_absolute_path(bundle):
    config, path = load_bundle(str(bundle))
    assert config == CONFIG
    assert path == str(bundle)


def test_relative_bundle_made_absolute(bundle, monkeypatch):
    monkeypatch.chdir(bundle.parent)
    _, path = load_bundle("bundle")
    assert path == str(bundle)
    monkeypatch.chdir(bundle)
    assert load_bundle(".")[1] == str(bundle)


def test_bundle_symlink_not_resolved(bundle, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(bundle)
    config, path = load_bundle(str(link))
    assert path == str(link)
    assert config == CONFIG


def test_missing_config(tmp_path):
    """bundle.md: config.json MUST be in the bundle root; runc's wording."""
    with pytest.raises(OciError) as e:
        load_bundle(str(tmp_path))
    assert str(e.value) == "JSON specification file config.json not found"
    assert not isinstance(e.value, InvalidSpec)


def test_missing_bundle_dir(tmp_path):
    with pytest.raises(OciError, match="^JSON specification file config.json not found$"):
        load_bundle(str(tmp_path / "nope"))


def test_bundle_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OciError, match="^JSON specification file config.json not found$"):
        load_bundle(str(f))


def test_config_is_a_directory(tmp_path):
    (tmp_path / "config.json").mkdir()
    with pytest.raises(OciError) as e:
        load_bundle(str(tmp_path))
    assert str(e.value) == f"open {tmp_path}/config.json: is a directory"


@pytest.mark.parametrize("text, message", [
    ("{ invalid json }", "invalid JSON: Expecting property name enclosed in double quotes (line 1 column 3)"),
    ("", "invalid JSON: Expecting value (line 1 column 1)"),
    ('{"a": 1,\n "b": }', "invalid JSON: Expecting value (line 2 column 7)"),
    ('{"a": 1} x', "invalid JSON: Extra data (line 1 column 10)"),
    ('{"a": NaN}', "invalid JSON: NaN is not valid JSON"),
    ('{"a": -Infinity}', "invalid JSON: -Infinity is not valid JSON"),
    (b'{"a": "\xff"}', "invalid JSON: not UTF-8 text (byte 7)"),
    ("[" * 100000 + "]" * 100000, "invalid JSON: nested too deeply"),
])
def test_invalid_json(tmp_path, text, message):
    write(tmp_path, text)
    with pytest.raises(InvalidSpec) as e:
        load_bundle(str(tmp_path))
    assert e.value.path == ""
    assert e.value.message == message
    assert str(e.value) == "config.json: " + message
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("text", ["null", "[]", "[{}]", '"x"', "1", "true"])
def test_not_an_object(tmp_path, text):
    """runc 1.1.5 panicked on `null`; we answer with one line."""
    write(tmp_path, text)
    with pytest.raises(InvalidSpec) as e:
        load_bundle(str(tmp_path))
    assert str(e.value) == "config.json: config must be a JSON object"


def test_utf8_text_accepted(tmp_path):
    write(tmp_path, '{"hostname": "h\u00e9"}')
    assert load_bundle(str(tmp_path))[0] == {"hostname": "h\u00e9"}


# ---- rootfs_path -------------------------------------------------------------

def test_rootfs_relative(bundle):
    """config.md#root: a relative path is relative to the bundle."""
    assert rootfs_path(CONFIG, str(bundle)) == str(bundle / "rootfs")


def test_rootfs_relative_normalised(bundle):
    cfg = {"root": {"path": "./rootfs/"}}
    assert rootfs_path(cfg, str(bundle)) == str(bundle / "rootfs")


def test_rootfs_relative_bundle_argument(bundle, monkeypatch):
    monkeypatch.chdir(bundle.parent)
    assert rootfs_path(CONFIG, "bundle") == str(bundle / "rootfs")


def test_rootfs_absolute(bundle, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert rootfs_path({"root": {"path": str(other)}}, str(bundle)) == str(other)


def test_rootfs_outside_bundle_relative(bundle, tmp_path):
    (tmp_path / "shared").mkdir()
    assert rootfs_path({"root": {"path": "../shared"}}, str(bundle)) == str(tmp_path / "shared")


def test_rootfs_through_symlinked_bundle(bundle, tmp_path):
    """Symlinks in the bundle path itself are fine: only root.path is checked."""
    link = tmp_path / "link"
    link.symlink_to(bundle)
    assert rootfs_path(CONFIG, str(link)) == str(link / "rootfs")


@pytest.mark.parametrize("root", [None, {}, {"path": ""}, {"path": 3}, "rootfs"])
def test_root_missing(bundle, root):
    cfg = {} if root is None else {"root": root}
    with pytest.raises(InvalidSpec) as e:
        rootfs_path(cfg, str(bundle))
    assert (e.value.path, e.value.message) == ("root", "root must be specified")


def test_rootfs_missing(tmp_path):
    """config.md#root: a directory MUST exist at root.path."""
    with pytest.raises(InvalidSpec) as e:
        rootfs_path(CONFIG, str(tmp_path))
    assert e.value.path == "root.path"
    assert e.value.message == f"invalid rootfs: stat {tmp_path}/rootfs: no such file or directory"


def test_rootfs_is_a_file(tmp_path):
    """config.md#root: a directory MUST exist at root.path."""
    (tmp_path / "rootfs").write_text("")
    with pytest.raises(InvalidSpec) as e:
        rootfs_path(CONFIG, str(tmp_path))
    assert e.value.path == "root.path"
    assert e.value.message == f"invalid rootfs: {tmp_path}/rootfs: not a directory"


def test_rootfs_symlink(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "rootfs").symlink_to(tmp_path / "real")
    with pytest.raises(InvalidSpec) as e:
        rootfs_path(CONFIG, str(tmp_path))
    assert e.value.path == "root.path"
    assert e.value.message == "invalid rootfs: not an absolute path, or a symlink"


def test_rootfs_symlinked_parent_inside_root_path(tmp_path):
    (tmp_path / "real" / "rootfs").mkdir(parents=True)
    (tmp_path / "a").symlink_to(tmp_path / "real")
    with pytest.raises(InvalidSpec, match="a symlink$"):
        rootfs_path({"root": {"path": "a/rootfs"}}, str(tmp_path))


def test_rootfs_dotdot_through_symlink(tmp_path):
    """'x/..' where x is a symlink resolves elsewhere than it reads: refused."""
    (tmp_path / "deep" / "down").mkdir(parents=True)
    (tmp_path / "deep" / "rootfs").mkdir()
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "x").symlink_to(tmp_path / "deep" / "down")
    with pytest.raises(InvalidSpec, match="a symlink$"):
        rootfs_path({"root": {"path": "x/../rootfs"}}, str(tmp_path))


def test_rootfs_dangling_symlink(tmp_path):
    (tmp_path / "rootfs").symlink_to(tmp_path / "nowhere")
    with pytest.raises(InvalidSpec, match="a symlink$"):
        rootfs_path(CONFIG, str(tmp_path))


def test_rootfs_nul(tmp_path):
    with pytest.raises(InvalidSpec) as e:
        rootfs_path({"root": {"path": "a\0b"}}, str(tmp_path))
    assert e.value.path == "root.path"


def test_rootfs_not_searchable_parent(tmp_path):
    """A stat failure other than ENOENT is reported with its own reason."""
    (tmp_path / "f").write_text("")
    with pytest.raises(InvalidSpec) as e:
        rootfs_path({"root": {"path": "f/rootfs"}}, str(tmp_path))
    assert e.value.message == f"invalid rootfs: stat {tmp_path}/f/rootfs: not a directory"


def test_load_then_rootfs(bundle):
    config, path = load_bundle(str(bundle))
    assert rootfs_path(config, path) == os.path.join(path, "rootfs")
