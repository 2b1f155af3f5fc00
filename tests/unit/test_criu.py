"""ocirun/criu: the protobuf encoding of CRIU's RPC messages (wire.py), the help table."""
from hypothesis import given, strategies as s

from ocirun.criu import wire

# Made by the protobuf package (4.x-7.x agree) from pycriu's generated rpc_pb2:
#   q = criu_req(type=DUMP); q.opts.images_dir_fd = -1; q.opts.pid = 5
#   q.opts.root = "/x"; q.opts.ext_mnt.add(key="a", val="b")
GOLDEN = bytes.fromhex("0801121a08ffffffffffffffffff0110056a022f78ba01060a0161120162")


def test_golden_request():
    msg = {"type": wire.DUMP, "opts": {"images_dir_fd": -1, "pid": 5, "root": "/x",
                                       "ext_mnt": [{"key": "a", "val": "b"}]}}
    assert wire.encode("criu_req", msg) == GOLDEN


def test_response_with_unknown_fields_decodes():
    # type=RESTORE, success, restore{pid=42}, then field 99 (varint) and 98
    # (fixed32) of a newer CRIU, then cr_errmsg.
    data = (b"\x08\x02\x10\x01\x22\x02\x08\x2a" + b"\x98\x06\x07" + b"\x95\x06\x01\x02\x03\x04"
            + b"\x4a\x02ok")
    assert wire.decode("criu_resp", data) == {"type": 2, "success": 1, "restore": {"pid": 42},
                                              "cr_errmsg": "ok"}


ints = s.integers(-2**31, 2**31 - 1)
text = s.text(max_size=20)


@given(s.fixed_dictionaries({}, optional={
    "images_dir_fd": ints, "pid": ints, "root": text, "leave_running": s.booleans(),
    "ext_mnt": s.lists(s.fixed_dictionaries({"key": text, "val": text}), max_size=3),
    "inherit_fd": s.lists(s.fixed_dictionaries({"key": text, "fd": ints}), max_size=3),
    "external": s.lists(text, max_size=3), "empty_ns": s.integers(0, 2**32 - 1)}))
def test_round_trip(opts):
    msg = {"type": wire.RESTORE, "opts": opts}
    back = wire.decode("criu_req", wire.encode("criu_req", msg))
    want = {"type": wire.RESTORE, "opts": {k: (int(v) if isinstance(v, bool) else v)
                                           for k, v in opts.items() if v != []}}
    assert back == want
