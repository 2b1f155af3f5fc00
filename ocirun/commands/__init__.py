"""One module per command; each exposes run(opts, args, logger) -> exit code."""
