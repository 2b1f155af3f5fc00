"""The protobuf (proto2) wire format for the messages of CRIU's images/rpc.proto.

Why not the `protobuf` package: the RPC needs a dozen scalar fields, a few
nested messages and repeated fields; the format is small and frozen (field
numbers in rpc.proto never change), while the package is a large compiled
dependency whose major versions break generated code (pycriu's messages
need protobuf < 7, and the machine's Python may carry 7 for other tools).

SCHEMA maps a message to {field: (number, kind, repeated, message)}; kind is
"int" (int32/uint32/enum/bool, varint), "str" or "msg". Unknown fields in a
response are skipped, so a newer CRIU still decodes.
"""

I, S, M = "int", "str", "msg"

SCHEMA = {
    "criu_opts": {
        "images_dir_fd": (1, I, False, None), "pid": (2, I, False, None),
        "leave_running": (3, I, False, None), "ext_unix_sk": (4, I, False, None),
        "tcp_established": (5, I, False, None), "evasive_devices": (6, I, False, None),
        "shell_job": (7, I, False, None), "file_locks": (8, I, False, None),
        "log_level": (9, I, False, None), "log_file": (10, S, False, None),
        "notify_scripts": (12, I, False, None), "root": (13, S, False, None),
        "parent_img": (14, S, False, None), "track_mem": (15, I, False, None),
        "auto_dedup": (16, I, False, None), "work_dir_fd": (17, I, False, None),
        "ext_mnt": (23, M, True, "ext_mount_map"), "manage_cgroups": (24, I, False, None),
        "cg_root": (25, M, True, "cgroup_root"), "rst_sibling": (26, I, False, None),
        "inherit_fd": (27, M, True, "inherit_fd"), "manage_cgroups_mode": (34, I, False, None),
        "external": (37, S, True, None), "empty_ns": (38, I, False, None),
        "freeze_cgroup": (44, S, False, None), "orphan_pts_master": (50, I, False, None),
        "lsm_profile": (53, S, False, None), "lsm_mount_context": (63, S, False, None),
        "network_lock": (64, I, False, None),
    },
    "ext_mount_map": {"key": (1, S, False, None), "val": (2, S, False, None)},
    "inherit_fd": {"key": (1, S, False, None), "fd": (2, I, False, None)},
    "cgroup_root": {"ctrl": (1, S, False, None), "path": (2, S, False, None)},
    "criu_features": {"mem_track": (1, I, False, None), "lazy_pages": (2, I, False, None),
                      "pidfd_store": (3, I, False, None)},
    "criu_req": {"type": (1, I, False, None), "opts": (2, M, False, "criu_opts"),
                 "notify_success": (3, I, False, None), "keep_open": (4, I, False, None),
                 "features": (5, M, False, "criu_features")},
    "criu_resp": {"type": (1, I, False, None), "success": (2, I, False, None),
                  "dump": (3, M, False, "criu_dump_resp"),
                  "restore": (4, M, False, "criu_restore_resp"),
                  "notify": (5, M, False, "criu_notify"), "cr_errno": (7, I, False, None),
                  "features": (8, M, False, "criu_features"), "cr_errmsg": (9, S, False, None),
                  "version": (10, M, False, "criu_version"), "status": (11, I, False, None)},
    "criu_dump_resp": {"restored": (1, I, False, None)},
    "criu_restore_resp": {"pid": (1, I, False, None)},
    "criu_notify": {"script": (1, S, False, None), "pid": (2, I, False, None)},
    "criu_version": {"major_number": (1, I, False, None), "minor_number": (2, I, False, None),
                     "gitid": (3, S, False, None), "sublevel": (4, I, False, None),
                     "extra": (5, I, False, None), "name": (6, S, False, None)},
}

# criu_req_type and criu_cg_mode
DUMP, RESTORE, PRE_DUMP, NOTIFY, FEATURE_CHECK, VERSION = 1, 2, 4, 6, 9, 10
CG_MODES = {"soft": 3, "full": 4, "strict": 5}


def _varint(n):
    if n < 0:
        n += 1 << 64  # int32/int64 negatives: ten bytes of two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode(name, msg):
    """dict -> bytes for message `name`; None values are left out."""
    schema = SCHEMA[name]
    out = bytearray()
    for field, value in msg.items():
        if value is None:
            continue
        num, kind, repeated, sub = schema[field]
        for v in (value if repeated else (value,)):
            if kind == I:
                out += _varint(num << 3) + _varint(int(v))
            else:
                data = encode(sub, v) if kind == M else v.encode()
                out += _varint(num << 3 | 2) + _varint(len(data)) + data
    return bytes(out)


def _read_varint(data, i):
    n = shift = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i
        shift += 7


def decode(name, data):
    """bytes -> dict for message `name` (repeated fields as lists)."""
    by_num = {spec[0]: (field, spec) for field, spec in SCHEMA[name].items()}
    out = {}
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(data, i)
            if value >= 1 << 63:
                value -= 1 << 64
        elif wire == 2:
            size, i = _read_varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = int.from_bytes(data[i:i + size], "little"), i + size
        else:
            raise ValueError(f"{name}: unsupported wire type {wire}")
        if num not in by_num:
            continue
        field, (_n, kind, repeated, sub) = by_num[num]
        if kind == M:
            value = decode(sub, value)
        elif kind == S:
            value = value.decode(errors="replace")
        if repeated:
            out.setdefault(field, []).append(value)
        else:
            out[field] = value
    return out
