"""run ID: create + start (+ wait and delete): container/run.py."""
from ocirun.container import run as lib
from ocirun.state import Store


def run(opts, args, logger):
    return lib.run(args[0], opts, Store(opts["root"]), logger)
