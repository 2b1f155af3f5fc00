"""From an OCI image layout to a bundle (`ocirun unpack`, issue 17).

layout.py reads and verifies the layout and picks the manifest, tarapply.py
applies one layer tar under a directory fd, store.py keeps the shared
content-addressed layers and the per-bundle refs, convert.py turns the image
config into config.json, bundle.py mounts (or flattens) and removes bundles.
"""
from ocirun.errors import OciError


class ImageError(OciError):
    """The image, a layer or the store is not usable: one line naming what and where."""
