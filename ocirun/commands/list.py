"""list: runc's table (or --format json, or -q ids)."""
from ocirun import fastjson as json
from ocirun import fastos as os

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
            r = store.load(cid).spec_state()
        except OciError as e:
            logger.warning(f"load container {cid}: {e}")
            continue
        r["owner"] = _owner(os.path.join(store.root, cid))
        rows.append(r)
    if opts.get("quiet"):
        out = "".join(r["id"] + "\n" for r in rows)
    elif fmt == "json":
        # runc's fields and order; annotations omitted when empty.
        out = json.dumps([{k: r[k] for k in ("ociVersion", "id", "pid", "status", "bundle",
                                              "rootfs", "created", "annotations", "owner") if k in r}
                          for r in rows]) + "\n"
    else:
        table = [HEADER] + [(r["id"], str(r["pid"]), r["status"], r["bundle"], r["created"],
                             r["owner"]) for r in rows]
        # Go's tabwriter as runc sets it (minwidth 12, padding 3): columns are
        # padded to the widest cell + 3 spaces, at least 12 wide.
        widths = [max(12, max(len(row[i]) for row in table) + 3) for i in range(len(HEADER))]
        out = "".join("".join(cell.ljust(w) if i < len(HEADER) - 1 else cell
                              for i, (cell, w) in enumerate(zip(row, widths))) + "\n"
                      for row in table)
    os.write(1, out.encode())
    return 0


def _owner(path):
    """The state directory's owner as a user name, as runc's list ("#uid" if unknown)."""
    import pwd

    try:
        uid = os.stat(path).st_uid
    except OSError:
        return ""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"
