"""Checkpoint/restore through CRIU's RPC service (`criu swrk`).

wire.py   the protobuf wire format of CRIU's rpc.proto (only the fields used)
swrk.py   one request to a `criu swrk` child, answering its NOTIFY messages
plan.py   criu_opts common to dump and restore (mounts, namespaces, flags)

Imported only by the checkpoint and restore commands.
"""
