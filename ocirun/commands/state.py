"""state: the runtime-spec state JSON on stdout. Never writes to stderr
on success (podman closes the pipe)."""
import json
import os

from ocirun.state import Store


def run(opts, args, logger):
    c = Store(opts["root"]).load(args[0])
    os.write(1, (json.dumps(c.spec_state(), indent=2) + "\n").encode())
    return 0
