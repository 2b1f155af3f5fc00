from ocirun import launcher
from ocirun.state import Store


def run(opts, args, logger):
    launcher.create(args[0], opts, Store(opts["root"]), logger)
    return 0
