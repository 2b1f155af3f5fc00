"""State store: ids, atomic writes, round trips, torn files (runtime.md#state)."""
import json
import os
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocirun import fastjson
from ocirun import state as sm
from ocirun.errors import ContainerExists, ContainerNotFound, OciError, UsageError

ID_CHARS = string.ascii_letters + string.digits + "_+-."
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(st.text(alphabet=ID_CHARS, min_size=1, max_size=64).filter(lambda s: s not in (".", "..")))
def test_valid_ids_accepted(cid):
    assert sm.validate_id(cid) == cid


@given(st.text(min_size=0, max_size=40))
def test_any_id_is_accepted_only_if_safe(cid):
    try:
        sm.validate_id(cid)
    except UsageError:
        return
    # Accepted: can never name anything but a direct child of the root.
    assert cid not in ("", ".", "..") and "/" not in cid and "\0" not in cid
    assert os.path.normpath(os.path.join("/r", cid)) == "/r/" + cid


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/b", "foo bar", "x" * 1025, "a\0b", "é"])
def test_bad_ids_rejected(bad):
    with pytest.raises(UsageError):
        sm.validate_id(bad)


@settings(max_examples=200)
@given(json_values)
def test_fastjson_agrees_with_json(v):
    assert fastjson.loads(json.dumps(v)) == json.loads(json.dumps(v))
    assert json.loads(fastjson.dumps(v)) == v
    assert json.loads(fastjson.dumps_indent(v)) == v


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text(min_size=1), json_values, max_size=8))
def test_state_round_trip(tmp_path_factory, data):
    root = str(tmp_path_factory.mktemp("root"))
    store = sm.Store(root)
    c, lock = store.new("c1", data)
    os.close(lock)
    if any(data.get(k) is not None and (not isinstance(data[k], t) or isinstance(data[k], bool))
           for k, t in sm._SHAPE):
        # A field the runtime relies on has the wrong type: a clear error, no traceback.
        with pytest.raises(sm.CorruptState):
            store.load("c1")
    else:
        assert store.load("c1").data == data
    assert [n for n in os.listdir(c.dir) if n.endswith(".tmp")] == []


def test_new_twice_is_exists(tmp_path):
    store = sm.Store(str(tmp_path))
    _, lock = store.new("x", {})
    os.close(lock)
    with pytest.raises(ContainerExists):
        store.new("x", {})


def test_missing_is_not_found(tmp_path):
    with pytest.raises(ContainerNotFound, match="does not exist"):
        sm.Store(str(tmp_path)).load("nope")


def test_torn_state_file_is_a_clear_error(tmp_path):
    store = sm.Store(str(tmp_path))
    c, lock = store.new("x", {"id": "x", "pid": 1})
    os.close(lock)
    with open(os.path.join(c.dir, sm.STATE_FILE), "r+b") as f:
        f.truncate(5)
    with pytest.raises(OciError, match="corrupt"):
        store.load("x")
    assert store.ids() == ["x"]


def test_dead_or_reused_pid_is_stopped(tmp_path):
    """A pid whose start time differs is not our process (runtime.md#state: status)."""
    store = sm.Store(str(tmp_path))
    me = os.getpid()
    c, lock = store.new("x", {"pid": me, "pidStartTime": sm.proc_start_time(me)})
    os.close(lock)
    assert store.load("x").alive()
    c.data["pidStartTime"] += 1
    assert not c.alive() and c.status() == sm.STOPPED
