"""runc's command line, flag for flag: a small table-driven parser.

Flags follow Go's flag package as urfave/cli uses it: `-f`, `--flag`,
`--flag=value`, `--flag value`; parsing stops at the first positional
argument or `--`. Each command lives in ocirun/commands/<name>.py and is
imported only when it runs, so `state` never pays for `create`'s imports.
"""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)
import sys

from ocirun.errors import OciError, UsageError

# name: (aliases, takes_value, default, repeatable)
GLOBAL_FLAGS = {
    "debug": ((), False, False, False),
    "log": ((), True, "", False),
    "log-format": ((), True, "text", False),
    "root": ((), True, None, False),
    "criu": ((), True, "criu", False),
    "systemd-cgroup": ((), False, False, False),
    "rootless": ((), True, "auto", False),
    "help": (("h",), False, False, False),
    "version": (("v",), False, False, False),
}

_CREATE = {
    "bundle": (("b",), True, "", False),
    "console-socket": ((), True, "", False),
    "pid-file": ((), True, "", False),
    "no-pivot": ((), False, False, False),
    "no-new-keyring": ((), False, False, False),
    "preserve-fds": ((), True, "0", False),
}

# The flags checkpoint and restore share (runc's).
_CRIU = {
    "image-path": ((), True, "", False),
    "work-path": ((), True, "", False),
    "tcp-established": ((), False, False, False),
    "ext-unix-sk": ((), False, False, False),
    "shell-job": ((), False, False, False),
    "lazy-pages": ((), False, False, False),
    "file-locks": ((), False, False, False),
    "manage-cgroups-mode": ((), True, "", False),
    "empty-ns": ((), True, "", False),
    "auto-dedup": ((), False, False, False),
}
# Commands that make or change a container's cgroups: they refuse --systemd-cgroup.
CGROUP_MAKERS = ("create", "run", "update")

# command: (flags, min args, max args (None = any), usage)
COMMANDS = {
    "create": (_CREATE, 1, 1, "create [command options] <container-id>"),
    "run": (dict(_CREATE, **{
        "detach": (("d",), False, False, False),
        "keep": ((), False, False, False),
        "no-subreaper": ((), False, False, False),
    }), 1, 1, "run [command options] <container-id>"),
    "start": ({}, 1, 1, "start <container-id>"),
    "state": ({}, 1, 1, "state <container-id>"),
    "kill": ({"all": (("a",), False, False, False)}, 1, 2, "kill [command options] <container-id> [signal]"),
    "delete": ({"force": (("f",), False, False, False)}, 1, 1, "delete [command options] <container-id>"),
    "list": ({"format": (("f",), True, "table", False), "quiet": (("q",), False, False, False)},
             0, 0, "list [command options]"),
    "spec": ({"bundle": (("b",), True, "", False), "rootless": ((), False, False, False)},
             0, 0, "spec [command options]"),
    "validate": ({"bundle": (("b",), True, "", False)}, 0, 0, "validate [--bundle <path>]"),
    "exec": ({
        "console-socket": ((), True, "", False),
        "cwd": ((), True, "", False),
        "env": (("e",), True, [], True),
        "tty": (("t",), False, False, False),
        "user": (("u",), True, "", False),
        "additional-gids": (("g",), True, [], True),
        "process": (("p",), True, "", False),
        "detach": (("d",), False, False, False),
        "pid-file": ((), True, "", False),
        "process-label": ((), True, "", False),
        "apparmor": ((), True, "", False),
        "no-new-privs": ((), False, False, False),
        "cap": (("c",), True, [], True),
        "preserve-fds": ((), True, "0", False),
        "cgroup": ((), True, [], True),
        "ignore-paused": ((), False, False, False),
    }, 1, None, "exec [command options] <container-id> <command> [command options]"),
    "pause": ({}, 1, 1, "pause <container-id>"),
    "resume": ({}, 1, 1, "resume <container-id>"),
    "ps": ({"format": (("f",), True, "table", False)}, 1, None, "ps [command options] <container-id> [ps options]"),
    "events": ({"interval": ((), True, "5s", False), "stats": ((), False, False, False)},
               1, 1, "events [command options] <container-id>"),
    "update": ({
        "resources": (("r",), True, "", False),
        "blkio-weight": ((), True, "", False),
        "cpu-period": ((), True, "", False),
        "cpu-quota": ((), True, "", False),
        "cpu-share": ((), True, "", False),
        "cpu-rt-period": ((), True, "", False),
        "cpu-rt-runtime": ((), True, "", False),
        "cpuset-cpus": ((), True, "", False),
        "cpuset-mems": ((), True, "", False),
        "kernel-memory": ((), True, "", False),
        "kernel-memory-tcp": ((), True, "", False),
        "memory": ((), True, "", False),
        "cpu-idle": ((), True, "", False),
        "memory-reservation": ((), True, "", False),
        "memory-swap": ((), True, "", False),
        "pids-limit": ((), True, "", False),
        "l3-cache-schema": ((), True, "", False),
        "mem-bw-schema": ((), True, "", False),
    }, 1, 1, "update [command options] <container-id>"),
    "features": ({}, 0, 0, "features"),
    "unpack": ({"image": ((), True, "", False), "layers": ((), True, "", False),
                "flatten": ((), False, False, False), "remove": ((), False, False, False),
                "gc": ((), False, False, False)}, 0, 1,
               "unpack --image <layout>[:<tag>] [--layers <dir>] [--flatten] <bundle> | --remove <bundle> | --gc"),
    "checkpoint": (dict(_CRIU, **{
        "parent-path": ((), True, "", False),
        "leave-running": ((), False, False, False),
        "status-fd": ((), True, "-1", False),
        "page-server": ((), True, "", False),
        "pre-dump": ((), False, False, False),
    }), 1, 1, "checkpoint [command options] <container-id>"),
    "restore": (dict(_CRIU, **{
        "console-socket": ((), True, "", False),
        "bundle": (("b",), True, "", False),
        "detach": (("d",), False, False, False),
        "pid-file": ((), True, "", False),
        "no-subreaper": ((), False, False, False),
        "no-pivot": ((), False, False, False),
        "lsm-profile": ((), True, "", False),
        "lsm-mount-context": ((), True, "", False),
    }), 1, 1, "restore [command options] <container-id>"),
}


def _flag_table(flags):
    table = {}
    for name, (aliases, takes, _default, _rep) in flags.items():
        for n in (name, *aliases):
            table[n] = (name, takes)
    return table


def parse_flags(args, flags, where):
    """Returns (values dict, remaining positional args)."""
    values = {name: spec[2] for name, spec in flags.items()}
    table = _flag_table(flags)
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            break
        name, eq, val = a.lstrip("-").partition("=")
        if name not in table:
            raise UsageError(f"flag provided but not defined: -{name}" + where)
        canon, takes = table[name]
        if takes:
            if not eq:
                i += 1
                if i >= len(args):
                    raise UsageError(f"flag needs an argument: -{name}" + where)
                val = args[i]
            if flags[canon][3]:
                values[canon] = values[canon] + [val] if values[canon] else [val]
            else:
                values[canon] = val
        else:
            if eq:
                if val.lower() in ("1", "t", "true"):
                    val = True
                elif val.lower() in ("0", "f", "false", ""):
                    val = False
                else:
                    raise UsageError(f'invalid boolean value "{val}" for -{name}' + where)
            else:
                val = True
            values[canon] = val
        i += 1
    return values, args[i:]


def version_text():
    """runc's three lines. The commit is the git revision setup.py recorded
    when it built the package from a checkout (dockerd shows it as "runc
    version" in `docker info`); otherwise the version."""
    from ocirun import SPEC_VERSION, __version__

    try:
        from ocirun._commit import COMMIT
    except ImportError:
        COMMIT = __version__
    return f"ocirun version {__version__}\ncommit: {COMMIT}\nspec: {SPEC_VERSION}\n"


def usage(cmd=None):
    """runc-style help (ocirun/help.py: imported only here, off every other path)."""
    from ocirun import help

    if cmd:
        return help.command_help(cmd, COMMANDS[cmd][0], COMMANDS[cmd][3])
    return help.main_help(COMMANDS, GLOBAL_FLAGS, version_text())


def main(argv=None):
    from ocirun import log

    argv = sys.argv[1:] if argv is None else argv
    logger = log.Logger()
    try:
        g, rest = parse_flags(argv, GLOBAL_FLAGS, "")
        logger.configure(g["log"], g["log-format"], g["debug"])
        if g["version"]:
            sys.stdout.write(version_text())
            return 0
        if not rest or g["help"] or rest[0] in ("help", "h"):
            sys.stdout.write(usage(rest[1] if len(rest) > 1 and rest[1] in COMMANDS else None))
            return 0
        cmd, cmd_args = rest[0], rest[1:]
        if cmd not in COMMANDS:
            raise UsageError(f"No help topic for '{cmd}'")
        flags, lo, hi, _ = COMMANDS[cmd]
        if "-h" in cmd_args[:1] or "--help" in cmd_args[:1]:
            sys.stdout.write(usage(cmd))
            return 0
        opts, pos = parse_flags(cmd_args, flags, "")
        if hi is not None and lo == hi and len(pos) != lo:
            raise UsageError(f'"{cmd}" requires exactly {lo} argument(s)')
        if len(pos) < lo:
            raise UsageError(f'"{cmd}" requires a minimum of {lo} argument(s)')
        if hi is not None and len(pos) > hi:
            raise UsageError(f'"{cmd}" requires a maximum of {hi} argument(s)')
        opts["root"] = g["root"]
        if g["systemd-cgroup"] and cmd in CGROUP_MAKERS:
            # Accepting it and using cgroupfs would put the container where
            # the engine (and systemd) do not look for it.
            raise OciError("--systemd-cgroup: the systemd cgroup driver is not supported: "
                           "configure the engine for cgroupfs (without --systemd-cgroup)")
        if opts["root"] is None:
            opts["root"] = "/run/ocirun"
            if os.getenv("XDG_RUNTIME_DIR"):  # only then may it differ (runc's rule)
                from ocirun import rootless

                opts["root"] = rootless.state_root()
        opts["rootless_mode"] = g["rootless"]
        opts["systemd_cgroup"] = g["systemd-cgroup"]
        opts["criu"] = g["criu"]
        module = __import__(f"ocirun.commands.{cmd}", fromlist=["run"])
        rc = module.run(opts, pos, logger) or 0
        logger.flush()
        return rc
    except OciError as e:
        logger.error(str(e))
        return e.exit_code
    except OSError as e:
        logger.error(_oserror_text(e))
        return 1
    except KeyboardInterrupt:
        return 130


def _oserror_text(e):
    text = e.strerror or str(e)
    if e.filename:
        return f"{e.filename}: {text.lower()}" if ":" not in text else f"{text} ({e.filename})"
    return text


def run():
    """The launcher's entry: main(), then exit at once. Interpreter shutdown
    (module teardown, GC) costs milliseconds on every call and does nothing
    for a process that has written its output with os.write."""
    rc = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(rc)


if __name__ == "__main__":
    sys.exit(main())
