"""features: the features document (features.md) on stdout, indented like runc's."""
import os


def run(opts, args, logger):
    from ocirun import fastjson
    from ocirun.features import build

    text = fastjson.dumps_indent(build(), indent="    ") + "\n"
    data = text.encode()
    while data:
        data = data[os.write(1, data):]
    return 0
