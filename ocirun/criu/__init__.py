"""Checkpoint/restore through CRIU's RPC service (`criu swrk`).

wire.py   the protobuf wire format of CRIU's rpc.proto (only the fields used)
swrk.py   one request to a `criu swrk` child, answering its NOTIFY messages
plan.py   criu_opts common to dump and restore (mounts, namespaces, flags)

Imported only by the checkpoint and restore commands.
"""

import os


def find_criu(name):
    """`which`: the path of the criu binary, or None (shutil's imports are
    slower than this loop)."""
    if "/" in name:
        return name if os.access(name, os.X_OK) and not os.path.isdir(name) else None
    for d in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(d or ".", name)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None
