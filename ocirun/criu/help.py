"""Help text of checkpoint and restore, in the (summary, description,
{flag: description}) form of main's ocirun/help.py HELP table, which merges
it with one line: `HELP.update(ocirun.criu.help.HELP)`. Flag texts as runc's,
plus what ocirun refuses. tests/unit/test_criu.py checks every flag of
cli.py's tables has its line."""

_SHARED = {
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
    "checkpoint": (
        "checkpoint a running container",
        "Saves the state of the container with CRIU (>= 4.1, `criu` on PATH or --criu).\n"
        "Without --leave-running the container is stopped afterwards.",
        dict(_SHARED, **{
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
        dict(_SHARED, **{
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
