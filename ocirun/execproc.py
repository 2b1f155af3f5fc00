"""The child of `exec`: joins the running container and becomes the new process.

Like the init it is the host's Python inside the container's namespaces, so
the same rules hold: non-dumpable before any setns, no imports (sys.meta_path
emptied), every fd but 0-2 and --preserve-fds close-on-exec, cwd checked,
and the final exec through the sealed ocirun-exec memfd. The parent has
already put us in the container's pid (and time) namespace and cgroup.
"""
import os

from ocirun import initproc, lsm, procattrs
from ocirun import syscalls as sc

ORDER = ("user", "ipc", "uts", "network", "cgroup", "mount")  # mount last: it moves our root


def main(plan, chan):
    try:
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


def setup(plan, chan):
    initproc.seal()
    msg = chan.recv()
    if msg is None or msg.get("t") != "go":
        os._exit(1)
    proc = plan.proc
    if proc.get("terminal"):
        os.setsid()
    for t in ORDER:
        fd = plan.ns_fds.get(t)
        if fd is not None:
            sc.setns(fd, 0)
    if proc.get("terminal"):
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
