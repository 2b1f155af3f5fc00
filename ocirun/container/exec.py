"""exec: run a new process in a running container (commands/exec.py
builds the process object from the flags; this spawns it).

Process tree (docs/architecture.md; the messages are sync.py's):
    ocirun exec (a subreaper) ──fork── intermediate ──fork── process
The intermediate is put in the container's cgroup, joins every namespace
itself (execproc.py), forks the process and exits: the process becomes our
child. Without --detach we wait for it and return its exit status (128+n
for a signal).
"""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)

from ocirun import state as st
from ocirun.container import spawn
from ocirun.errors import InvalidState, OciError, UsageError, describe


def check_status(c, ignore_paused=False):
    """Only a running container (or a paused one, if told) takes a new process."""
    status = c.status()
    if status == st.STOPPED:
        raise InvalidState("cannot exec in a stopped container")
    if status == st.PAUSED and not ignore_paused:
        raise InvalidState("cannot exec in a paused container (use --ignore-paused to override)")
    if status == st.CREATING:
        raise InvalidState("cannot exec in a container that is being created")


def exec_process(c, config, proc, opts, logger):
    """Spawn proc in c; its exit status, or 0 with opts["detach"]."""
    from ocirun import lsm

    linux = config.get("linux") or {}
    lsm.check({"process": proc, "linux": {}})
    sec = spawn.security(proc, linux, logger, check=False)
    detach = opts.get("detach")
    fds = []
    relay_fd = None
    preserve = spawn.check_preserved_fds(opts.get("preserve-fds"))
    try:
        exec_fd, console_fd, relay_fd = spawn.open_process_fds(
            proc, sec, opts.get("console-socket"), not detach, UsageError, fds)
        ns_fds = _open_namespaces(c, linux, fds)
        plan = spawn.Plan(config=config, proc=proc, state=c.spec_state(), security=sec,
                          exec_fd=exec_fd, console_fd=console_fd, console_mount=False,
                          preserve_fds=preserve, ns_fds=ns_fds)
        if "user" in ns_fds:
            from ocirun import rootless

            plan.setgroups_deny = rootless.setgroups_denied(c.pid)
        pid = _spawn(c, plan, opts, relay_fd, logger)
        if opts.get("pid-file"):
            try:
                spawn.write_pid_file(opts["pid-file"], pid)
            except OSError as e:
                # As runc: a process nobody can find is not left running.
                spawn.reap(pid, 9)
                raise OciError(f"--pid-file {opts['pid-file']}: {describe(e)}") from None
    except BaseException:
        if relay_fd is not None:
            os.close(relay_fd)
        raise
    finally:
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
    if detach:
        return 0
    return wait_process(pid, relay_fd)


def _open_namespaces(c, linux, fds):
    """{type: fd} of every namespace of the container's init (added to fds).
    Every namespace is joined by an intermediate child (execproc.join) that
    stays in our pid namespace; it forks the process that enters the
    container's pid namespace only after the mount namespace is joined, so
    that process never shows the host's root, cwd or fds to the container
    (runc's order). We open no fd of our own namespaces."""
    from ocirun import namespaces

    ns_fds = {}
    for n in linux.get("namespaces") or ():
        t = n["type"]
        ns_fds[t] = os.open(f"/proc/{c.pid}/ns/{namespaces.PROC_NAMES[t]}", os.O_RDONLY | os.O_CLOEXEC)
        fds.append(ns_fds[t])
    # After the opens: they are the container's, not a reused pid's.
    if not c.alive():
        raise InvalidState("container not running")
    return ns_fds


def _spawn(c, plan, opts, relay_fd, logger):
    """Fork the intermediate, put it in the cgroup, let it go; the process's
    pid once it is ready. On failure nothing of ours is left running."""
    from ocirun import execproc, sync
    from ocirun import syscalls as sc

    join_chan, join_child = sync.pair("exec intermediate", "exec process exited unexpectedly")
    chan, child = sync.pair("exec process")
    # The process is our grandchild: when the intermediate exits, it
    # becomes our child, so we can wait for it.
    sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    # Loaded before the fork, as every module: after it, each import is ~1 ms
    # dearer (copy-on-write of the pages it writes while the child lives).
    manager = _load_manager(c)
    try:
        stage1 = spawn.fork(lambda: execproc.main(plan, join_child, child),
                            (join_chan.rfd, join_chan.wfd, chan.rfd, chan.wfd, relay_fd))
    finally:
        join_child.close()
        child.close()
    pid = None
    went = False
    try:
        _join_cgroup_locked(c, manager, stage1, opts.get("cgroup") or [])
        spawn.set_oom_score_adj(stage1, plan.proc)  # inherited by the process at its fork
        went = True
        join_chan.send(sync.GO)
        pid = join_chan.expect(sync.PID, logger=logger)["pid"]
        spawn.reap(stage1)
        stage1 = None
        chan.expect(sync.READY, logger=logger)
    except BaseException:
        if went and pid is None:
            # The intermediate may have forked: learn the pid before it goes.
            pid = _drain_pid(join_chan)
        spawn.reap(stage1, 9)
        spawn.reap(pid, 9)
        raise
    finally:
        join_chan.close()
        chan.close()
    return pid


def _load_manager(c):
    """The container's cgroup manager (None without a cgroup), with what
    _join_cgroup will use."""
    if not c.data.get("cgroup"):
        return None
    from ocirun import cgroups
    from ocirun.cgroups.base import write_procs  # noqa: F401 - _join_cgroup's

    return cgroups.load_manager(c.data["cgroup"])


def _join_cgroup_locked(c, manager, pid, sub):
    """Under the container's lock: a delete --force either ran before (the
    container is gone: we fail) or comes after and kills the intermediate and
    the process with the rest. Not held longer: with --ignore-paused the join
    freezes us."""
    if manager is None:
        return
    lock = c.lock()
    try:
        if not c.alive():
            raise InvalidState("container not running")
        _join_cgroup(manager, pid, sub)
    finally:
        os.close(lock)


def _drain_pid(chan):
    """After a failure (already being raised): the process's pid if the
    intermediate sent it (read until every writer has gone), so that it is
    killed and reaped. Its other lines (an "error") are not news: the
    failure being raised is what is reported."""
    from ocirun import sync

    pid = None
    while True:
        try:
            msg = chan.recv()
        except (OSError, ValueError):
            return pid
        if msg is None:
            return pid
        if msg.get("t") == sync.PID:
            pid = msg["pid"]


def _join_cgroup(manager, pid, sub):
    if not sub:
        manager.join(pid)
        return
    from ocirun.cgroups.base import write_procs

    # --cgroup [controller:]path: a sub-cgroup of the container's.
    targets = {}
    for item in sub:
        ctrl, sep, path = item.rpartition(":")
        if ".." in path.split("/"):
            raise UsageError(f"--cgroup {item}: path must not contain ..")
        for name, d in manager.paths.items():
            if not sep or ctrl in name.split(","):
                targets[name] = os.path.join(d, path.lstrip("/"))
    for name, d in manager.paths.items():
        write_procs(targets.get(name, d), pid)


def wait_process(pid, relay_fd=None):
    """Wait for our child `pid`, forwarding signals (and relaying its pty when
    relay_fd is set); its exit status, or 128+n for a signal."""
    import _signal as signal

    pidfd = os.pidfd_open(pid)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(s, lambda n, _f: _forward(pidfd, n))
    result = []

    def done():
        if not result:
            try:
                w, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return True
            if w:
                result.append(status)
        return bool(result)

    if relay_fd is not None:
        from ocirun import console

        master = console.receive_master(relay_fd)
        try:
            console.relay(master, done)
        finally:
            os.close(master)
    while not result:
        try:
            _, status = os.waitpid(pid, 0)
            result.append(status)
        except InterruptedError:
            continue
    status = result[0]
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _forward(pidfd, n):
    import _signal as signal

    try:
        signal.pidfd_send_signal(pidfd, n)
    except ProcessLookupError:
        pass
