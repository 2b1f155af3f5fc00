"""start ID: container/start.py."""
from ocirun import state as st
from ocirun.container import start


def run(opts, args, logger):
    start.start(st.Store(opts["root"]).load(args[0]))
    return 0
