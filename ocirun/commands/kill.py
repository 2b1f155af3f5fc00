"""kill ID [SIGNAL] [--all]: container/kill.py."""
import _signal as signal  # not `signal`: it loads enum

from ocirun import state as st
from ocirun.container import kill
from ocirun.signals import parse_signal


def run(opts, args, logger):
    sig = parse_signal(args[1]) if len(args) > 1 else signal.SIGTERM
    kill.kill(st.Store(opts["root"]).load(args[0]), sig, bool(opts.get("all")))
    return 0
