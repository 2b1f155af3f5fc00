from ocirun.spec import defaults


def run(opts, args, logger):
    defaults.write_spec(opts.get("bundle") or "", bool(opts.get("rootless")))
    return 0
