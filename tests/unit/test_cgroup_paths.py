"""linux.cgroupsPath resolution and cgroup layout detection (pure; no root needed)."""
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocirun.cgroups import create_manager, load_manager
from ocirun.cgroups.base import controllers_of
from ocirun.cgroups.mounts import Hierarchy, Layout, detect_layout, own_cgroups, own_for, parse_mountinfo
from ocirun.cgroups.paths import hierarchy_dir, parse_cgroups_path, resolve
from ocirun.errors import CgroupError, InvalidSpec

# This host's mountinfo, plus one line that must be ignored (a cgroup mount
# inside some container rootfs).
HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
90 80 0:35 /x /run/c/rootfs/sys/fs/cgroup/blkio ro,relatime - cgroup cgroup ro,blkio
"""

LEGACY = """\
25 19 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,release_agent=/lib/systemd/x,name=systemd
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:10 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid shared:11 - cgroup cgroup rw,net_cls,net_prio
31 25 0:28 /docker/abc /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
"""

UNIFIED = """\
22 21 0:19 / /sys rw - sysfs sysfs rw
26 22 0:23 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
"""


def layout_of(text, root="/sys/fs/cgroup"):
    from ocirun.cgroups.mounts import _mode

    mode, hs = _mode(parse_mountinfo(text, root), root)
    return Layout(mode, root, hs)


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


# -- detection -----------------------------------------------------------------


@pytest.mark.parametrize("text,mode", [(HYBRID, "hybrid"), (LEGACY, "legacy"), (UNIFIED, "unified")])
def test_detect_modes(tmp_path, text, mode):
    assert detect_layout(mountinfo=write(tmp_path, "mi", text)).mode == mode


def test_hybrid_hierarchies_in_order_unified_last():
    lay = layout_of(HYBRID)
    names = [h.name for h in lay.hierarchies]
    assert names == ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                     "name=systemd", "unified"]
    assert lay.get("unified").version == 2
    # the mount inside a container rootfs is not ours
    assert lay.get("blkio").mountpoint == "/sys/fs/cgroup/blkio"


def test_legacy_comounted_and_named_and_mount_root():
    lay = layout_of(LEGACY)
    assert [h.name for h in lay.hierarchies] == ["name=systemd", "cpu,cpuacct", "net_cls,net_prio", "memory"]
    assert controllers_of(lay.get("cpu,cpuacct").name) == ("cpu", "cpuacct")
    assert lay.get("memory").mount_root == "/docker/abc"


def test_no_cgroup_mount_is_an_error(tmp_path):
    mi = write(tmp_path, "mi", "22 21 0:19 / /sys rw - sysfs sysfs rw\n")
    with pytest.raises(CgroupError, match="no cgroup filesystem"):
        detect_layout(mountinfo=mi)


def test_injected_root_falls_back_to_directory(tmp_path):
    mi = write(tmp_path, "mi", "")
    v2root = tmp_path / "v2"
    v2root.mkdir()
    (v2root / "cgroup.controllers").write_text("cpu memory\n")
    assert detect_layout(str(v2root), mi).mode == "unified"

    v1root = tmp_path / "v1"
    for name in ("cpu,cpuacct", "memory"):
        (v1root / name).mkdir(parents=True)
        (v1root / name / "cgroup.procs").write_text("")
    os.symlink("cpu,cpuacct", v1root / "cpu")  # symlinks are not hierarchies
    assert detect_layout(str(v1root), mi).mode == "legacy"
    (v1root / "unified").mkdir()
    (v1root / "unified" / "cgroup.controllers").write_text("")
    lay = detect_layout(str(v1root), mi)
    assert lay.mode == "hybrid"
    assert [h.name for h in lay.hierarchies] == ["cpu,cpuacct", "memory", "unified"]


def test_mountinfo_octal_escapes():
    text = r"41 31 0:38 / /tmp/my\040root/unified rw - cgroup2 cgroup2 rw" + "\n"
    (h,) = parse_mountinfo(text, "/tmp/my root")
    assert h.mountpoint == "/tmp/my root/unified"


def test_own_cgroups(tmp_path):
    p = write(tmp_path, "cg", "4:memory:/process_api/x\n2:cpu,cpuacct:/a\n1:name=systemd:/s\n0::/u\n")
    own = own_cgroups(p)
    assert own == {"memory": "/process_api/x", "cpu,cpuacct": "/a", "name=systemd": "/s", "unified": "/u"}
    assert own_for(own, "cpuacct,cpu") == "/a"
    assert own_for(own, "pids") is None


# -- cgroupsPath -----------------------------------------------------------------


def test_default_is_container_id_relative():
    """runc (fs driver) puts a container without cgroupsPath at <own cgroup>/<id>."""
    assert parse_cgroups_path(None, "abc") == (False, "abc")
    assert parse_cgroups_path("", "abc") == (False, "abc")


def test_absolute_and_relative():
    """config-linux.md#cgroups-path: absolute is relative to the mount point."""
    assert parse_cgroups_path("/a/b", "x") == (True, "a/b")
    assert parse_cgroups_path("//a/./b/", "x") == (True, "a/b")
    assert parse_cgroups_path("a/b", "x") == (False, "a/b")
    assert parse_cgroups_path("/a:b:c", "x") == (True, "a:b:c")  # absolute: a literal name


@pytest.mark.parametrize("bad", ["..", "/..", "/a/../b", "a/..", "../x", "/a/b/..", "/", ".", "//", "a\0b"])
def test_rejected_paths(bad):
    with pytest.raises(InvalidSpec) as e:
        parse_cgroups_path(bad, "x")
    assert e.value.path == "linux.cgroupsPath"


def test_systemd_style_is_a_clear_error():
    with pytest.raises(InvalidSpec, match="systemd"):
        parse_cgroups_path("system.slice:docker:1234", "x")


@pytest.mark.parametrize("cid", ["", ".", "..", "a/b"])
def test_bad_container_id_for_default(cid):
    with pytest.raises(InvalidSpec):
        parse_cgroups_path(None, cid)


def test_hierarchy_dir_relative_uses_own_cgroup_below_mount_root():
    assert hierarchy_dir("/sys/fs/cgroup/memory", "c1", False, "/process_api/x") == \
        "/sys/fs/cgroup/memory/process_api/x/c1"
    # mount root /docker/abc, own /docker/abc/sub → below the mount: sub/c1
    assert hierarchy_dir("/m", "c1", False, "/docker/abc/sub", "/docker/abc") == "/m/sub/c1"
    # own cgroup outside the mount (cgroupns "/../..") → mount point itself
    assert hierarchy_dir("/m", "c1", False, "/../..", "/") == "/m/c1"
    assert hierarchy_dir("/m", "c1", False, None) == "/m/c1"
    # absolute ignores own
    assert hierarchy_dir("/m", "a/b", True, "/own") == "/m/a/b"


def test_resolve_on_hybrid_layout():
    own = {"memory": "/process_api/x", "unified": "/", "cpu": "/"}
    lay = layout_of(HYBRID)
    rel = resolve(lay, "r/s", "id", own)
    assert rel["memory"] == "/sys/fs/cgroup/memory/process_api/x/r/s"
    assert rel["unified"] == "/sys/fs/cgroup/unified/r/s"
    assert rel["name=systemd"] == "/sys/fs/cgroup/systemd/r/s"
    absolute = resolve(lay, "/r/s", "id", own)
    assert set(absolute.values()) == {h.mountpoint + "/r/s" for h in lay.hierarchies}
    default = resolve(lay, None, "cid", own)
    assert default["memory"] == "/sys/fs/cgroup/memory/process_api/x/cid"
    assert default["pids"] == "/sys/fs/cgroup/pids/cid"


segment = st.one_of(st.sampled_from(["", ".", "..", "a", "b.c", "x:y", "..a", "a..", " "]), st.text(max_size=6))


@settings(max_examples=400)
@given(parts=st.lists(segment, max_size=6), lead=st.booleans(), own=st.one_of(st.none(), st.text(max_size=12)))
def test_resolved_paths_never_escape_the_mount(parts, lead, own):
    value = ("/" if lead else "") + "/".join(parts)
    try:
        absolute, inner = parse_cgroups_path(value, "cid")
    except InvalidSpec:
        return
    assert ".." not in inner.split("/")
    assert "" not in inner.split("/") and "." not in inner.split("/")
    assert absolute == value.startswith("/")
    mount = "/sys/fs/cgroup/memory"
    d = hierarchy_dir(mount, inner, absolute, own)
    assert d.startswith(mount + "/")
    assert os.path.normpath(d) == d
    assert d.endswith("/" + inner)


@given(st.text(max_size=40))
def test_any_string_parses_or_is_invalid_spec(value):
    try:
        parse_cgroups_path(value, "cid")
    except InvalidSpec:
        pass


@given(st.text(alphabet="ab/.", min_size=1, max_size=12))
def test_dotdot_always_rejected(value):
    if ".." in value.split("/"):
        with pytest.raises(InvalidSpec):
            parse_cgroups_path(value, "cid")


# -- serialisation -----------------------------------------------------------------


@pytest.mark.parametrize("text", [HYBRID, LEGACY, UNIFIED])
def test_create_manager_and_round_trip(tmp_path, text):
    mi = write(tmp_path, "mi", text)
    m = create_manager("/o/c", "c", mountinfo=mi)
    m.created = [m.paths[next(iter(m.paths))]]
    d = json.loads(json.dumps(m.to_dict()))
    m2 = load_manager(d)
    assert type(m2) is type(m) and m2.mode == m.mode
    assert m2.paths == m.paths and m2.created == m.created
    assert list(m2.paths) == list(m.paths)  # order matters: v1 first, cgroup2 last


def test_from_dict_rejects_garbage():
    with pytest.raises(CgroupError):
        load_manager({"paths": {}})
    with pytest.raises(CgroupError):
        load_manager({"mode": "weird", "paths": {}})


def test_path_lookup_by_controller(tmp_path):
    m = create_manager("/o/c", "c", mountinfo=write(tmp_path, "mi", LEGACY), own={})
    assert m.path("cpuacct") == "/sys/fs/cgroup/cpu,cpuacct/o/c"
    assert m.path("name=systemd") == "/sys/fs/cgroup/systemd/o/c"
    assert m.path("pids") is None
    assert m.mode == "legacy"


def test_hierarchy_repr_is_readable():
    assert "memory" in repr(Hierarchy("memory", 1, "/m"))
