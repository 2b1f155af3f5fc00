"""unpack: umoci's verb. `--image LAYOUT[:TAG] BUNDLE` makes a bundle from an
OCI image layout (ocirun/image/), `--remove BUNDLE` takes one apart, `--gc`
removes the layers no bundle uses."""
from ocirun.errors import OciError, UsageError


def _busy(root, bundle):
    """Ids of containers in --root whose bundle is this one and that still run."""
    import os

    from ocirun.state import Store

    out = []
    store = Store(root)
    for cid in store.ids():
        try:
            c = store.load(cid)
        except (OciError, OSError):  # gone meanwhile: not in use
            continue
        if os.path.abspath(c.data.get("bundle") or "") == bundle and c.status() != "stopped":
            out.append(cid)
    return out


def run(opts, args, logger):
    import os

    from ocirun.image import bundle

    modes = [m for m in ("image", "remove", "gc") if opts.get(m)]
    if len(modes) != 1:
        raise UsageError("unpack: give exactly one of --image, --remove, --gc")
    if opts["gc"]:
        if args:
            raise UsageError('"unpack --gc" takes no argument')
        for diff_id in bundle.gc(opts.get("layers") or None):
            logger.debug(f"removed layer {diff_id}")
        return 0
    if len(args) != 1:
        raise UsageError(f'"unpack --{modes[0]}" requires exactly 1 argument (the bundle)')
    if opts["remove"]:
        path = os.path.abspath(args[0])
        bundle.remove(path, _busy(opts.get("root"), path))
    else:
        bundle.create(opts["image"], args[0], opts.get("layers") or None, bool(opts.get("flatten")))
    return 0
