"""The children of `exec`: join the running container, become the new process.

The parent's child (the intermediate) is put in the container's cgroup,
joins every namespace of the container, mount last but for pid and time,
and forks the process; it sends that pid and exits. So the process is in
the container's root and cwd from its first instant in the container's pid
namespace, with no fd of the host's namespaces (as runc's nsexec), and
becomes our parent's child (it is a subreaper).

Like the init it is the host's Python inside the container's namespaces, so
the same rules hold: non-dumpable before any setns, no imports (sys.meta_path
emptied), every fd but 0-2 and --preserve-fds close-on-exec, cwd checked,
and the final exec through the sealed ocirun-exec memfd.
"""
import os

from ocirun import initproc, lsm, namespaces, procattrs
from ocirun import syscalls as sc


def main(plan, chan):
    try:
        join(plan, chan)
        setup(plan, chan)
    except BaseException as e:  # noqa: B902 - report anything to the parent
        try:
            chan.send("error", msg=initproc.describe(e))
        finally:
            os._exit(1)
    try:
        os.execve(plan.exec_fd, [initproc.EXEC_MARKER, plan.exe, *plan.proc["args"]], plan.env)
    except BaseException as e:
        initproc._say(f"ocirun: {initproc.describe(e)}\n")
    os._exit(127)


def join(plan, chan):
    """The intermediate: returns only in the forked process."""
    initproc.seal()
    msg = chan.recv()
    if msg is None or msg.get("t") != "go":
        os._exit(1)
    for t in namespaces.ORDER:
        fd = plan.ns_fds.get(t)
        if fd is not None:
            sc.setns(fd, 0)
    for fd in plan.ns_fds.values():
        os.close(fd)
    pid = os.fork()
    if pid:
        chan.send("pid", pid=pid)
        os._exit(0)


def setup(plan, chan):
    proc = plan.proc
    if proc.get("terminal"):
        os.setsid()
        initproc.setup_terminal(plan)
    # Personality and memory policy belong to the container's init (as in runc).
    initproc.become_process(plan, proc, {}, chan)
    aff = proc.get("execCPUAffinity") or {}
    if aff.get("final"):
        procattrs.set_exec_cpu_affinity(aff, False)
    initproc.default_signals()
    lsm.apply_exec_labels(proc)
    if plan.seccomp is not None and not plan.seccomp.needs_early(proc):
        plan.seccomp(plan.state)
    chan.send("ready")
    chan.close()
