"""create ID: container/create.py."""
from ocirun.container import create
from ocirun.state import Store


def run(opts, args, logger):
    create.create(args[0], opts, Store(opts["root"]), logger)
    return 0
