"""`ocirun --help` and `ocirun COMMAND --help`, laid out as runc's.

Imported only when help is asked for, so no other command pays for the text.
The flags themselves (names, aliases, values) come from cli.py's tables,
which cli.usage() passes in: this module only says what they mean, and
imports nothing from ocirun (cli imports help, never the other way round).

A new command's help is one entry in HELP: (one-line summary, description
or "", {flag: description}); its usage line is cli.COMMANDS' own. tests/unit/test_help.py
fails until every command and every flag that cli.py parses has its line.
"""
NAME = "ocirun - an Open Container Initiative runtime in Python (a drop-in for runc)"
ABOUT = """\
ocirun runs containers from OCI bundles: a directory with a "config.json"
(runtime-spec 1.3.0, checked before anything is created) and a root
filesystem. It takes runc's command line, so engines that drive runc (podman,
containerd and Kubernetes through it, Docker) drive ocirun the same way.

To start a new instance of a container:

    # ocirun run [ -b bundle ] <container-id>

Where "<container-id>" is your name for the instance of the container that you
are starting. The name must be unique under --root. The bundle defaults to the
current directory."""

GLOBAL = {
    "debug": "enable debug logging",
    "log": "set the log file to write ocirun's messages to, as well as stderr (default: stderr only)",
    "log-format": "set the log format ('text' (default), or 'json')",
    "root": 'root directory for storage of container state (this should be located in tmpfs) '
            '(default: "/run/ocirun")',
    "criu": 'path to the criu binary used for checkpoint and restore (default: "criu")',
    "systemd-cgroup": "accepted for runc's callers; ocirun has no systemd cgroup driver, so a "
                      '"slice:prefix:name" cgroupsPath is refused',
    "rootless": "accepted for runc's callers ('true', 'false', or 'auto') (default: \"auto\"); "
                "auto: rootless when not root or inside a user namespace",
    "help": "show help",
    "version": "print the version",
}

_BUNDLE = "path to the root of the bundle directory, defaults to the current directory"
_CONSOLE = ("path to an AF_UNIX socket which will receive a file descriptor referencing the master "
            "end of the console's pseudoterminal")
_PID_FILE = "specify the file to write the process id to"
_PRESERVE = "pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total) (default: 0)"
_CREATE = {
    "bundle": _BUNDLE,
    "console-socket": _CONSOLE,
    "pid-file": _PID_FILE,
    "no-pivot": "do not use pivot_root to jail the process inside rootfs (for a rootfs on a ramdisk)",
    "no-new-keyring": "do not create a new session keyring: the container inherits the caller's",
    "preserve-fds": _PRESERVE,
}
_FORMAT = 'select one of: table or json (default: "table")'
_BUNDLE_TEXT = """\
The bundle is a directory with a specification file named "config.json" and a
root filesystem. The args of its process are what runs when the container
starts (see "ocirun spec --help")."""

# command: (summary, description, {flag: description})
# checkpoint and restore share these (CRIU options)
_CRIU = {
    "image-path": "path for the criu image files (default: ./checkpoint)",
    "work-path": "path for saving work files and logs (default: the image path)",
    "tcp-established": "allow open tcp connections",
    "ext-unix-sk": "allow external unix sockets",
    "shell-job": "allow shell jobs",
    "lazy-pages": "use userfaultfd to lazily restore memory pages (refused: not supported by ocirun)",
    "file-locks": "handle file locks, for safety",
    "manage-cgroups-mode": "cgroups mode: 'soft' (default), 'full' and 'strict'",
    "empty-ns": "create a namespace, but don't restore its properties (only: network)",
    "auto-dedup": "enable auto deduplication of memory images",
}

HELP = {
    "create": ("create a container",
               "Creates the container's namespaces, mounts and cgroups and waits before its\n"
               "process: \"ocirun start\" runs it.\n" + _BUNDLE_TEXT, _CREATE),
    "run": ("create and run a container",
            "create, then start, then (unless --detach) wait for the process, relay its\n"
            "exit code and delete the container.\n" + _BUNDLE_TEXT,
            dict(_CREATE, **{
                "detach": "detach from the container's process",
                "keep": "do not delete the container after it exits",
                "no-subreaper": "do not become a subreaper to reap the container's reparented processes",
            })),
    "start": ("executes the user defined process in a created container", "", {}),
    "state": ("output the state of a container", "", {}),
    "kill": ("kill sends the specified signal (default: SIGTERM) to the container's init process",
             'The signal is a number ("9") or a name ("KILL", "SIGKILL").',
             {"all": "send the specified signal to all processes inside the container"}),
    "delete": ("delete any resources held by the container",
               "A created but never started container needs --force (the spec's lifecycle).",
               {"force": "forcibly delete the container if it is still running (uses SIGKILL)"}),
    "list": ("lists containers started by ocirun with the given root", "",
             {"format": _FORMAT, "quiet": "display only container IDs"}),
    "spec": ("create a new specification file",
             'Writes a default config.json (as "runc spec") to the bundle directory.',
             {"bundle": "path to the root of the bundle directory",
              "rootless": "generate a configuration for a rootless container"}),
    "validate": ("check a bundle as create would, and create nothing", "",
                 {"bundle": _BUNDLE}),
    "exec": ("execute new process inside the container",
             'Runs <command> in the container; "-p process.json" gives the whole process\n'
             "instead (then <command> may be left out).",
             {
                 "console-socket": _CONSOLE,
                 "cwd": "current working directory in the container",
                 "env": "set environment variables (VAR=value; repeatable)",
                 "tty": "allocate a pseudo-TTY",
                 "user": "UID (format: <uid>[:<gid>])",
                 "additional-gids": "additional gids (repeatable)",
                 "process": "path to the process.json",
                 "detach": "detach from the container's process",
                 "pid-file": _PID_FILE,
                 "process-label": "set the asm process label for the process commonly used with selinux",
                 "apparmor": "set the apparmor profile for the process",
                 "no-new-privs": "set the no new privileges value for the process",
                 "cap": "add a capability to the bounding set for the process (repeatable)",
                 "preserve-fds": _PRESERVE,
                 "cgroup": "run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>.",
                 "ignore-paused": "allow exec in a paused container",
             }),
    "pause": ("pause suspends all processes inside the container", "", {}),
    "resume": ("resumes all processes that have been previously paused", "", {}),
    "ps": ("ps displays the processes running inside a container", "",
           {"format": _FORMAT}),
    "events": ("display container events such as OOM notifications, cpu, memory, and IO usage statistics",
               "",
               {"interval": "set the stats collection interval (default: 5s)",
                "stats": "display the container's stats then exit"}),
    "update": ("update container resource constraints",
               'With --resources (a LinuxResources JSON file, or "-" for the standard input)\n'
               "all other options are ignored.",
               {
                   "resources": "path to the file containing the resources to update or '-' to read from "
                                "the standard input",
                   "blkio-weight": "specifies per cgroup weight, range is from 10 to 1000",
                   "cpu-period": "CPU CFS period to be used for hardcapping (in usecs). 0 to use system default",
                   "cpu-quota": "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period",
                   "cpu-share": "CPU shares (relative weight vs. other containers)",
                   "cpu-rt-period": "CPU realtime period to be used for hardcapping (in usecs)",
                   "cpu-rt-runtime": "CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period",
                   "cpuset-cpus": "CPU(s) to use",
                   "cpuset-mems": "memory node(s) to use",
                   "kernel-memory": "kernel memory limit (in bytes); ignored with a warning, as by runc",
                   "kernel-memory-tcp": "kernel memory limit for TCP buffers (in bytes); ignored with a warning",
                   "memory": "memory limit (in bytes, or with a unit: 64m)",
                   "cpu-idle": "set cgroup SCHED_IDLE or not, 0: default behavior, 1: SCHED_IDLE",
                   "memory-reservation": "memory reservation or soft_limit (in bytes)",
                   "memory-swap": "total memory usage (memory + swap); set '-1' to enable unlimited swap",
                   "pids-limit": "maximum number of pids allowed in the container",
                   "l3-cache-schema": "the string of Intel RDT/CAT L3 cache schema (refused: no RDT support)",
                   "mem-bw-schema": "the string of Intel RDT/MBA memory bandwidth schema (refused: no RDT support)",
               }),
    "features": ("show the enabled features", "What this build supports, as JSON (runtime-spec features.md).",
                 {}),
    "unpack": ("make a bundle from an OCI image layout (umoci's verb), remove one, or collect layers",
               "--image LAYOUT[:TAG] BUNDLE: BUNDLE/rootfs is an overlay of shared, verified layers\n"
               "(one copy each in the store) and a writable layer of the bundle's own; config.json is\n"
               "\"ocirun spec\"'s default plus the image config.",
               {"image": "the OCI image layout and the ref name to unpack (default tag: latest)",
                "layers": 'the shared layer store (default: "/var/lib/ocirun/layers")',
                "flatten": "write BUNDLE/rootfs as a plain directory (hosts without overlayfs)",
                "remove": "unmount BUNDLE and delete it with its own layer",
                "gc": "remove the layers that no bundle uses"}),
    "checkpoint": (
        "checkpoint a running container",
        "Saves the state of the container with CRIU (>= 4.1, `criu` on PATH or --criu).\n"
        "Without --leave-running the container is stopped afterwards.",
        dict(_CRIU, **{
            "parent-path": "path for previous criu image files in pre-dump (refused: no pre-dump)",
            "leave-running": "leave the process running after checkpointing",
            "status-fd": "criu writes \\0 to this FD once lazy-pages is ready (refused: no lazy pages)",
            "page-server": "ADDRESS:PORT of the page server (refused: not supported by ocirun)",
            "pre-dump": "dump container's memory information only, leave the container running "
                        "after this (refused: needs CONFIG_MEM_SOFT_DIRTY)",
        })),
    "restore": (
        "restore a container from a previous checkpoint",
        "Restores the saved state of a container checkpointed with \"ocirun checkpoint\"\n"
        "(or runc's) as a new container, with the same or a new id.",
        dict(_CRIU, **{
            "console-socket": "path to an AF_UNIX socket which will receive a file descriptor "
                              "referencing the master end of the console's pseudoterminal",
            "bundle": "path to the root of the bundle directory",
            "detach": "detach from the container's process",
            "pid-file": "specify the file to write the process id to",
            "no-subreaper": "disable the use of the subreaper used to reap reparented processes",
            "no-pivot": "do not use pivot root to jail process inside rootfs (accepted; CRIU "
                        "restores the mounts itself)",
            "lsm-profile": "Specify an LSM profile to be used during restore in the form of TYPE:NAME",
            "lsm-mount-context": "Specify an LSM mount context to be used during restore",
        })),
}


def _flag_names(name, spec):
    aliases, takes = spec[0], spec[1]
    value = " value" if takes else ""
    return ", ".join(f"{'-' if len(n) == 1 else '--'}{n}{value}" for n in (name, *aliases))


def _table(rows, indent="   "):
    width = max((len(a) for a, _ in rows), default=0)
    return "".join(f"{indent}{a.ljust(width)}  {b}".rstrip() + "\n" for a, b in rows)


def _options(flags, texts):
    return _table([(_flag_names(name, spec), texts.get(name, "")) for name, spec in flags.items()])


def main_help(commands, global_flags, version):
    """`ocirun --help`: cli.COMMANDS, cli.GLOBAL_FLAGS and cli.version_text()."""
    rows = [(name, HELP.get(name, ("",))[0]) for name in commands]
    rows.append(("help, h", "Shows a list of commands or help for one command"))
    return (f"NAME:\n   {NAME}\n\n{ABOUT}\n\n"
            "USAGE:\n   ocirun [global options] command [command options] [arguments...]\n\n"
            f"VERSION:\n   {version.replace('ocirun version ', '', 1)}\n"
            f"COMMANDS:\n{_table(rows)}\n"
            f"GLOBAL OPTIONS:\n{_options(global_flags, GLOBAL)}")


def command_help(cmd, flags, usage):
    """`ocirun CMD --help`: its flags and usage line are cli.COMMANDS[cmd]'s."""
    summary, description, texts = HELP.get(cmd, ("", "", {}))
    out = f"NAME:\n   ocirun {cmd} - {summary}\n\nUSAGE:\n   ocirun {usage}\n"
    if description:
        out += "\nDESCRIPTION:\n" + "".join(f"   {line}".rstrip() + "\n" for line in description.splitlines())
    if flags:
        out += f"\nOPTIONS:\n{_options(flags, texts)}"
    return out
