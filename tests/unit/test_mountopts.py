import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocirun import mountopts as mo
from ocirun.errors import InvalidSpec
from ocirun.mountopts import known_options, parse_mount, propagation_flags

# Option names in the table of config.md#linux-mount-options (runtime-spec v1.3.0).
SPEC_OPTIONS = """
async atime bind defaults dev diratime dirsync exec iversion lazytime loud mand noatime nodev
nodiratime noexec noiversion nolazytime nomand norelatime nostrictatime nosuid nosymfollow
private ratime rbind rdev rdiratime relatime remount rexec rnoatime rnodiratime rnoexec
rnorelatime rnostrictatime rnosuid rnosymfollow ro rprivate rrelatime rro rrw rshared rslave
rstrictatime rsuid rsymfollow runbindable rw shared silent slave strictatime suid symfollow
sync tmpcopyup unbindable idmap ridmap
""".split()

KNOWN = known_options()
# Plain set/clear pairs for mount(2): (sets, clears, bit).
PAIRS = [
    ("ro", "rw", mo.MS_RDONLY), ("nosuid", "suid", mo.MS_NOSUID), ("nodev", "dev", mo.MS_NODEV),
    ("noexec", "exec", mo.MS_NOEXEC), ("sync", "async", mo.MS_SYNCHRONOUS),
    ("mand", "nomand", mo.MS_MANDLOCK), ("nosymfollow", "symfollow", mo.MS_NOSYMFOLLOW),
    ("noatime", "atime", mo.MS_NOATIME), ("nodiratime", "diratime", mo.MS_NODIRATIME),
    ("silent", "loud", mo.MS_SILENT), ("acl", "noacl", mo.MS_POSIXACL),
    ("relatime", "norelatime", mo.MS_RELATIME), ("iversion", "noiversion", mo.MS_I_VERSION),
    ("strictatime", "nostrictatime", mo.MS_STRICTATIME),
    ("lazytime", "nolazytime", mo.MS_LAZYTIME),
]
REC_PAIRS = [
    ("rro", "rrw", mo.MOUNT_ATTR_RDONLY), ("rnosuid", "rsuid", mo.MOUNT_ATTR_NOSUID),
    ("rnodev", "rdev", mo.MOUNT_ATTR_NODEV), ("rnoexec", "rexec", mo.MOUNT_ATTR_NOEXEC),
    ("rnodiratime", "rdiratime", mo.MOUNT_ATTR_NODIRATIME),
    ("rnosymfollow", "rsymfollow", mo.MOUNT_ATTR_NOSYMFOLLOW),
]
PROP = {
    "shared": mo.MS_SHARED, "slave": mo.MS_SLAVE, "private": mo.MS_PRIVATE,
    "unbindable": mo.MS_UNBINDABLE,
}

unknown_opt = st.text(min_size=1).filter(lambda s: s not in KNOWN)
# A few names at a time, so that opposite options meet in one list often.
some_known = st.lists(st.sampled_from(KNOWN), min_size=1, max_size=6, unique=True)
option_lists = some_known.flatmap(lambda names: st.lists(
    st.one_of(st.sampled_from(names), unknown_opt, st.just("")), max_size=20))


def test_every_spec_option_is_recognised():
    """config.md#linux-mount-options: none of the listed names may end up in data."""
    assert set(SPEC_OPTIONS) <= set(KNOWN)
    for opt in SPEC_OPTIONS:
        assert parse_mount({"destination": "/x", "options": [opt]}).data == "", opt


def test_known_options_cover_the_features_example_extras():
    # features.md's example also lists acl/noacl; we implement them (MS_POSIXACL).
    assert {"acl", "noacl"} <= set(KNOWN)


def test_tmpfs_example():
    m = parse_mount({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]})
    assert m.flags == mo.MS_NOSUID | mo.MS_STRICTATIME
    assert m.data == "mode=755,size=65536k"
    assert not m.is_bind and m.propagation == [] and not m.has_rec_attrs
    assert (m.type, m.source, m.destination) == ("tmpfs", "tmpfs", "/dev")


def test_defaults_is_a_no_op_not_data():
    """runc 1.1.5 passes "defaults" as data and tmpfs then fails EINVAL."""
    m = parse_mount({"destination": "/t", "type": "tmpfs", "options": ["ro", "defaults"]})
    assert m.flags == mo.MS_RDONLY and m.data == ""


def test_bind_forms():
    """config.md#mounts: a mount with bind or rbind in its options is a bind mount."""
    m = parse_mount({"destination": "/a", "source": "/b", "options": ["rbind", "ro"]})
    assert m.is_bind and m.recursive and m.flags == mo.MS_BIND | mo.MS_REC | mo.MS_RDONLY
    m = parse_mount({"destination": "/a", "source": "/b", "options": ["bind"]})
    assert m.is_bind and not m.recursive and m.flags == mo.MS_BIND
    m = parse_mount({"destination": "/a", "source": "/b", "type": "bind"})
    assert m.is_bind and not m.recursive and m.flags == mo.MS_BIND
    m = parse_mount({"destination": "/a", "type": "none", "options": ["rbind", "bind"]})
    assert m.recursive
    assert not parse_mount({"destination": "/p", "type": "proc"}).is_bind


def test_no_options():
    for m in ({"destination": "/p"}, {"destination": "/p", "options": None},
              {"destination": "/p", "options": []}):
        s = parse_mount(m)
        assert (s.flags, s.data, s.propagation) == (0, "", [])
        assert (s.attr_set, s.attr_clr, s.idmap, s.tmpcopyup) == (0, 0, False, False)


def test_ro_rw_order():
    m = parse_mount({"destination": "/a", "options": ["ro", "rw"]})
    assert m.flags == 0
    m = parse_mount({"destination": "/a", "options": ["rw", "ro"]})
    assert m.flags == mo.MS_RDONLY


def test_propagation_in_order_and_not_in_flags():
    m = parse_mount({"destination": "/a", "options": ["rbind", "rslave", "private", "rshared"]})
    assert m.propagation == [mo.MS_SLAVE | mo.MS_REC, mo.MS_PRIVATE, mo.MS_SHARED | mo.MS_REC]
    assert m.flags & mo.MS_PROPAGATION == 0


def test_recursive_attrs():
    m = parse_mount({"destination": "/a", "options": ["rbind", "rro", "rnosuid", "rnodev"]})
    assert m.attr_set == mo.MOUNT_ATTR_RDONLY | mo.MOUNT_ATTR_NOSUID | mo.MOUNT_ATTR_NODEV
    assert m.attr_clr == 0 and m.flags == mo.MS_BIND | mo.MS_REC
    m = parse_mount({"destination": "/a", "options": ["rro", "rrw", "rexec"]})
    assert m.attr_set == 0 and m.attr_clr == mo.MOUNT_ATTR_RDONLY | mo.MOUNT_ATTR_NOEXEC


@pytest.mark.parametrize("opts,mode", [
    (["rnoatime"], mo.MOUNT_ATTR_NOATIME),
    (["rstrictatime"], mo.MOUNT_ATTR_STRICTATIME),
    (["rrelatime"], mo.MOUNT_ATTR_RELATIME),
    (["rnoatime", "rstrictatime"], mo.MOUNT_ATTR_STRICTATIME),
    (["rnoatime", "ratime"], mo.MOUNT_ATTR_RELATIME),
    (["rstrictatime", "ratime"], mo.MOUNT_ATTR_STRICTATIME),  # not noatime: unchanged
    (["rstrictatime", "rnostrictatime"], mo.MOUNT_ATTR_RELATIME),
    (["rnoatime", "rnorelatime"], mo.MOUNT_ATTR_NOATIME),
    (["ratime"], mo.MOUNT_ATTR_RELATIME),
])
def test_recursive_atime_is_one_mode(opts, mode):
    """The kernel rejects a partial MOUNT_ATTR__ATIME in attr_clr (mount_setattr(2))."""
    m = parse_mount({"destination": "/a", "options": opts})
    assert m.attr_clr & mo.MOUNT_ATTR__ATIME == mo.MOUNT_ATTR__ATIME
    assert m.attr_set & mo.MOUNT_ATTR__ATIME == mode


def test_idmap_and_tmpcopyup():
    m = parse_mount({"destination": "/a", "options": ["idmap", "tmpcopyup"]})
    assert m.idmap and not m.idmap_recursive and m.tmpcopyup and m.data == ""
    m = parse_mount({"destination": "/a", "options": ["ridmap"]})
    assert m.idmap and m.idmap_recursive and m.flags == 0


def test_unknown_and_empty_options():
    m = parse_mount({"destination": "/a", "options": ["uid=1000", "", "ro", "RO", "gid=5"]})
    assert m.data == "uid=1000,RO,gid=5"  # names are case-sensitive, as in runc
    assert m.flags == mo.MS_RDONLY


@pytest.mark.parametrize("name,flags", [
    ("shared", mo.MS_SHARED), ("rshared", mo.MS_SHARED | mo.MS_REC),
    ("slave", mo.MS_SLAVE), ("rslave", mo.MS_SLAVE | mo.MS_REC),
    ("private", mo.MS_PRIVATE), ("rprivate", mo.MS_PRIVATE | mo.MS_REC),
    ("unbindable", mo.MS_UNBINDABLE), ("runbindable", mo.MS_UNBINDABLE | mo.MS_REC),
])
def test_propagation_flags(name, flags):
    assert propagation_flags(name) == flags


@pytest.mark.parametrize("name", ["", "Shared", "rro", "bind", None])
def test_propagation_flags_rejects(name):
    with pytest.raises(InvalidSpec) as err:
        propagation_flags(name)
    assert err.value.path == "linux.rootfsPropagation"


@given(option_lists, st.sampled_from([None, "bind", "tmpfs", "proc"]))
def test_parse_never_crashes_and_invariants_hold(opts, fstype):
    m = parse_mount({"destination": "/x", "type": fstype, "options": opts})
    assert m.flags & mo.MS_PROPAGATION == 0
    assert m.data == ",".join(o for o in opts if o and o not in KNOWN)
    assert m.is_bind == (fstype == "bind" or "bind" in opts or "rbind" in opts)
    assert m.recursive == ("rbind" in opts)
    assert m.propagation == [
        PROP[o.lstrip("r")] | (mo.MS_REC if o.startswith("r") else 0)
        for o in opts if o.lstrip("r") in PROP and o in KNOWN
    ]
    # Non-atime recursive attributes are disjoint; atime is all-or-nothing.
    assert (m.attr_set & m.attr_clr) & ~mo.MOUNT_ATTR__ATIME == 0
    assert m.attr_clr & mo.MOUNT_ATTR__ATIME in (0, mo.MOUNT_ATTR__ATIME)
    if m.attr_clr & mo.MOUNT_ATTR__ATIME == 0:
        assert m.attr_set & mo.MOUNT_ATTR__ATIME == 0
    assert m.idmap == ("idmap" in opts or "ridmap" in opts)
    assert m.tmpcopyup == ("tmpcopyup" in opts)


@given(option_lists)
def test_last_option_wins(opts):
    m = parse_mount({"destination": "/x", "options": opts})
    for sets, clears, bit in PAIRS:
        last = [o for o in opts if o in (sets, clears)][-1:]
        assert bool(m.flags & bit) == (last == [sets]), (sets, opts)
    for sets, clears, bit in REC_PAIRS:
        last = [o for o in opts if o in (sets, clears)][-1:]
        assert bool(m.attr_set & bit) == (last == [sets])
        assert bool(m.attr_clr & bit) == (last == [clears])


@given(st.permutations(["ro", "rw", "nosuid", "suid", "rro", "rrw", "uid=1", "mode=755"]))
def test_ro_rw_last_wins_in_any_order(opts):
    m = parse_mount({"destination": "/x", "options": opts})
    assert bool(m.flags & mo.MS_RDONLY) == (opts.index("ro") > opts.index("rw"))
    assert bool(m.attr_set & mo.MOUNT_ATTR_RDONLY) == (opts.index("rro") > opts.index("rrw"))
    assert m.data == ",".join(o for o in opts if "=" in o)
