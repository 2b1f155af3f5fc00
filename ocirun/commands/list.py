"""list: runc's table (or --format json, or -q ids)."""
from ocirun import fastjson as json
import os

from ocirun.errors import OciError, UsageError
from ocirun.state import Store

HEADER = ("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")


def run(opts, args, logger):
    fmt = opts.get("format") or "table"
    if fmt not in ("table", "json"):
        raise UsageError(f"invalid format option: {fmt}")
    store = Store(opts["root"])
    rows = []
    for cid in store.ids():
        try:
            rows.append(store.load(cid).spec_state())
        except OciError as e:
            logger.warning(f"load container {cid}: {e}")
    if opts.get("quiet"):
        out = "".join(r["id"] + "\n" for r in rows)
    elif fmt == "json":
        out = json.dumps([{k: r.get(k) for k in ("ociVersion", "id", "pid", "status", "bundle",
                                                  "rootfs", "created", "annotations", "owner")}
                          for r in rows]) + "\n"
    else:
        table = [HEADER] + [(r["id"], str(r["pid"]), r["status"], r["bundle"], r["created"],
                             r["owner"] or "root") for r in rows]
        # Go's tabwriter as runc sets it (minwidth 12, padding 3): columns are
        # padded to the widest cell + 3 spaces, at least 12 wide.
        widths = [max(12, max(len(row[i]) for row in table) + 3) for i in range(len(HEADER))]
        out = "".join("".join(cell.ljust(w) if i < len(HEADER) - 1 else cell
                              for i, (cell, w) in enumerate(zip(row, widths))) + "\n"
                      for row in table)
    os.write(1, out.encode())
    return 0
