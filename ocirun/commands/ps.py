"""ps: the container's processes.

As runc: `--format json` prints the JSON array of pids (`null` when there
are none, as Go encodes an empty list); the table runs the host's `ps` with
the given options (default -ef) and keeps the header plus the rows whose
PID column is one of the container's.
"""
import os
import subprocess

from ocirun import fastjson as json
from ocirun import state as st
from ocirun.errors import OciError, describe


def run(opts, args, logger):
    fmt = opts.get("format") or "table"
    c = st.Store(opts["root"]).load(args[0])
    pids = container_pids(c)
    if fmt == "json":
        os.write(1, ((json.dumps(pids) if pids else "null") + "\n").encode())
        return 0
    if fmt != "table":
        raise OciError("invalid format option")
    ps_args = args[1:] or ["-ef"]
    try:
        p = subprocess.run(["ps", *ps_args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL)
    except OSError as e:
        raise OciError(f"exec: \"ps\": {describe(e)}") from None
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0:
        raise OciError(f"exit status {p.returncode}: {out}")
    lines = out.split("\n")
    keep = filter_rows(lines, set(pids))
    os.write(1, "".join(ln + "\n" for ln in keep).encode())
    return 0


def container_pids(c):
    """Every pid in the container's cgroup (recursively); [] once it is gone."""
    if not c.data.get("cgroup"):
        if c.status() == st.STOPPED or not c.pid:
            return []
        if c.data.get("pidns"):  # rootless without a cgroup: its pid namespace
            from ocirun import rootless

            return rootless.pids_in_pidns(c.pid)
        raise OciError(f"container {c.id}: no cgroup and no pid namespace of its own: "
                       "its processes cannot be told apart from the host's")
    from ocirun import cgroups

    return cgroups.load_manager(c.data["cgroup"]).pids()


def filter_rows(lines, pids):
    """The header and the rows whose PID field is in `pids` (runc's rule)."""
    titles = lines[0].split() if lines else []
    if "PID" not in titles:
        raise OciError("couldn't find PID field in ps output")
    index = titles.index("PID")
    out = [lines[0]]
    for ln in lines[1:]:
        if not ln:
            continue
        fields = ln.split()
        field = fields[index] if index < len(fields) else ""
        try:
            pid = int(field)
        except ValueError:
            raise OciError(f'unable to parse pid: strconv.Atoi: parsing "{field}": invalid syntax') from None
        if pid in pids:
            out.append(ln)
    return out
