"""state: the runtime-spec state JSON on stdout. Never writes to stderr
on success (podman closes the pipe)."""
from ocirun import fastjson as json
from ocirun import fastos as os

from ocirun.state import Store


def run(opts, args, logger):
    c = Store(opts["root"]).load(args[0])
    os.write(1, (json.dumps_indent(c.spec_state())).encode())
    return 0
