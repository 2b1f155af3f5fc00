"""Make and remove unpacked bundles.

An overlay bundle is BUNDLE/config.json, BUNDLE/rootfs (an overlay mount:
lowerdir = the store's layers, top first; upperdir and workdir in
BUNDLE/.ocirun/, private to the bundle) and BUNDLE/.ocirun/unpack.json (the
marker: the store, the ref id, the layers). The marker and the store's ref
are written before anything is mounted, so a crash at any point leaves a
bundle `--remove` can take apart and layers `--gc` will not pull from
under it. A flat bundle (--flatten) has the layers applied into
BUNDLE/rootfs, a plain directory.

Any failure undoes everything this run made: nothing is left behind.
"""
import errno
import json
import os
import shutil

from ocirun import paths
from ocirun import syscalls as sc
from ocirun.errors import describe
from ocirun.image import ImageError, convert, layout as oci_layout, store as layer_store
from ocirun.spec import defaults

OWN = ".ocirun"  # the bundle's own layer and marker


def _prepare(bundle):
    """Create BUNDLE (or take an empty one). -> True if we created it."""
    try:
        os.mkdir(bundle, 0o755)
        return True
    except FileExistsError:
        pass
    except OSError as e:
        raise ImageError(f"bundle {bundle}: {describe(e)}") from None
    if not os.path.isdir(bundle) or os.path.islink(bundle) or os.listdir(bundle):
        raise ImageError(f"bundle {bundle}: exists and is not an empty directory")
    return False


def _undo(bundle, created):
    rootfs = os.path.join(bundle, "rootfs")
    if os.path.ismount(rootfs):
        sc.umount2(rootfs, sc.MNT_DETACH)
    if created:
        shutil.rmtree(bundle, ignore_errors=True)
    else:
        for name in os.listdir(bundle):
            p = os.path.join(bundle, name)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)


def _write(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def mount_overlay(store_path, lowers, upper, work, target):
    """lowerdir names are relative to the store (short: a page holds ~50 of
    them), so mount with the store as the cwd, and return to ours."""
    data = f"lowerdir={':'.join(reversed(lowers))},upperdir={upper},workdir={work}"
    if len(data) >= 4096:
        raise ImageError(f"{len(lowers)} layers are too many for one overlay mount")
    here = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.chdir(store_path)
        sc.mount("overlay", target, "overlay", 0, data)
    finally:
        os.fchdir(here)
        os.close(here)


def create(image_arg, bundle, store_path=None, flat=False):
    layout_path, tag = oci_layout.split_image_arg(image_arg)
    layout = oci_layout.Layout(layout_path)
    try:
        image = oci_layout.resolve(layout, tag)
        if not image.layers:
            raise ImageError(f"manifest {image.manifest_digest}: no layers")
        bundle = os.path.abspath(bundle)
        created = _prepare(bundle)
        store, marker = None, {}
        try:
            rootfs = os.path.join(bundle, "rootfs")
            own = os.path.join(bundle, OWN)
            os.mkdir(own, 0o700)
            os.mkdir(rootfs, 0o755)
            marker.update(image=image.manifest_digest, flat=flat)
            if flat:
                _write(os.path.join(bundle, layer_store.MARKER), json.dumps(marker).encode())
                fd = paths.open_root(rootfs)
                try:
                    for i, (desc, diff_id) in enumerate(zip(image.layers, image.diff_ids)):
                        layer_store.apply_blob(layout, desc, diff_id, fd, True, f"layer {i} ({desc['digest']})")
                finally:
                    os.close(fd)
            else:
                store = layer_store.Store(store_path).open()
                marker.update(id=os.urandom(16).hex(), store=store.path, layers=image.diff_ids)
                _write(os.path.join(bundle, layer_store.MARKER), json.dumps(marker).encode())
                store.add_ref(marker["id"], bundle, image.diff_ids)
                lowers = [store.add_layer(layout, desc, diff_id, f"layer {i} ({desc['digest']})")
                          for i, (desc, diff_id) in enumerate(zip(image.layers, image.diff_ids))]
                upper, work = os.path.join(own, "upper"), os.path.join(own, "work")
                os.mkdir(upper, 0o755)
                os.mkdir(work, 0o700)
                mount_overlay(store.path, lowers, upper, work, rootfs)
            fd = paths.open_root(rootfs)
            try:
                config = convert.runtime_config(image.config, fd, f"image {image.manifest_digest}")
            finally:
                os.close(fd)
            _write(os.path.join(bundle, "config.json"), defaults.render(config), 0o644)
        except BaseException:
            _undo(bundle, created)
            if store is not None:
                store.drop_created()
                if "id" in marker:
                    store.remove_ref(marker["id"])
            raise
        finally:
            if store is not None:
                store.close()
    finally:
        layout.close()


def read_marker(bundle):
    try:
        with open(os.path.join(bundle, layer_store.MARKER)) as f:
            marker = json.load(f)
    except (OSError, ValueError):
        marker = None
    if not isinstance(marker, dict):
        raise ImageError(f"bundle {bundle}: not made by `ocirun unpack` (no {layer_store.MARKER})")
    return marker


def remove(bundle, busy=None):
    """Unmount the rootfs, delete the bundle (its own layer with it), drop its ref.
    busy: ids of live containers running from this bundle (refused)."""
    bundle = os.path.abspath(bundle)
    marker = read_marker(bundle)
    if busy:
        raise ImageError(f"bundle {bundle}: in use by container {', '.join(busy)}: delete it first")
    store = None
    if not marker.get("flat"):
        store = layer_store.Store(marker.get("store")).open()
    try:
        rootfs = os.path.join(bundle, "rootfs")
        while os.path.ismount(rootfs):
            try:
                sc.umount2(rootfs, 0)
            except OSError as e:
                if e.errno == errno.EBUSY:
                    raise ImageError(f"bundle {bundle}: rootfs is busy (a process still uses it)") from None
                raise
        shutil.rmtree(bundle)
        if store is not None and isinstance(marker.get("id"), str):
            store.remove_ref(marker["id"])
    finally:
        if store is not None:
            store.close()


def gc(store_path=None):
    store = layer_store.Store(store_path)
    if not os.path.isdir(os.path.join(store.path, "refs")):
        return []  # not a store (none yet, or the wrong directory): nothing to collect, none made
    store.open()
    try:
        return store.gc()
    finally:
        store.close()
