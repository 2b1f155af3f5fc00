"""The children of `exec`: join the running container, become the new process.

The parent's child (the intermediate) is put in the container's cgroup,
joins every namespace of the container, mount last but for pid and time,
and forks the process; it sends that pid and exits. So the process is in
the container's root and cwd from its first instant in the container's pid
namespace, with no fd of the host's namespaces (as runc's nsexec), and
becomes our parent's child (it is a subreaper).

Each has its own channel to the parent (sync.py: exec:join, exec:process);
the process closes the intermediate's first thing. Like the init they are
the host's Python inside the container's namespaces, so childproc.py's rules
hold: non-dumpable before any setns, no imports (sys.meta_path emptied),
every fd but 0-2 and --preserve-fds close-on-exec, cwd checked, the final
exec through the sealed ocirun-exec memfd, and any failure reported to the
parent before exiting.
"""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)

from ocirun import childproc, namespaces, sync
from ocirun import syscalls as sc


def main(plan, join_chan, chan):
    """The intermediate; never returns. join_chan: its channel, chan: the process's."""
    try:
        join(plan, join_chan, chan)
    except BaseException as e:  # noqa: B902 - report anything to the parent
        childproc.fail(join_chan, e)
    try:
        setup(plan, chan)
    except BaseException as e:  # noqa: B902 - report anything to the parent
        childproc.fail(chan, e)
    try:
        childproc.exec_program(plan)
    except BaseException as e:  # noqa: B902 - the parent has gone: stderr is the process's
        childproc.say(f"ocirun: {childproc.describe(e)}\n")
    os._exit(127)


def join(plan, join_chan, chan):
    """The intermediate: returns only in the forked process."""
    childproc.seal()
    join_chan.expect(sync.GO)
    for t in namespaces.ORDER:
        fd = plan.ns_fds.get(t)
        if fd is not None:
            sc.setns(fd, 0)
    for fd in plan.ns_fds.values():
        os.close(fd)
    pid = os.fork()
    if pid:
        chan.close()
        join_chan.send(sync.PID, pid=pid)
        os._exit(0)
    join_chan.close()


def setup(plan, chan):
    proc = plan.proc
    if proc.get("terminal"):
        os.setsid()
        childproc.setup_terminal(plan)
    # Personality and memory policy belong to the container's init (as in runc).
    childproc.become_process(plan, proc, {}, chan)
    childproc.last_steps(plan)
    chan.send(sync.READY)
    chan.close()
