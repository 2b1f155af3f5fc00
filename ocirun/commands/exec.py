"""exec: run a new process in a running container.

The parent (this process) enters the container's pid and time namespaces
for its child only, forks, puts the child in the container's cgroup, and
lets it join the other namespaces itself (execproc.py). Without --detach
we wait for the process and return its exit status (128+n for a signal).
"""
import os

from ocirun import state as st
from ocirun.errors import InvalidState, OciError, UsageError

EXEC_FAILED = 255  # runc's exit code when the process could not be started


def run(opts, args, logger):
    c = st.Store(opts["root"]).load(args[0])
    status = c.status()
    if status == st.STOPPED:
        raise InvalidState("cannot exec in a stopped container")
    if status == st.PAUSED and not opts.get("ignore-paused"):
        raise InvalidState("cannot exec in a paused container (use --ignore-paused to override)")
    if status == st.CREATING:
        raise InvalidState("cannot exec in a container that is being created")
    import json

    with open(os.path.join(c.dir, "config.json"), "rb") as f:
        config = json.loads(f.read())
    proc = build_process(config, opts, args[1:])
    try:
        return start_process(c, config, proc, opts, logger)
    except OciError as e:
        logger.error(f"exec failed: {e}")
        return EXEC_FAILED


def build_process(config, opts, args):
    """--process FILE, or the container's process with args and runc's flag overrides."""
    import copy
    import json

    if opts.get("process"):
        try:
            with open(opts["process"], "rb") as f:
                proc = json.loads(f.read())
        except (OSError, ValueError) as e:
            raise UsageError(f"--process {opts['process']}: {e}") from None
        if not isinstance(proc, dict) or not proc.get("args"):
            raise UsageError(f"--process {opts['process']}: args must not be empty")
        if opts.get("tty"):
            proc["terminal"] = True
        return proc
    if not args:
        raise UsageError("exec args cannot be empty")
    proc = copy.deepcopy(config.get("process") or {})
    proc["args"] = list(args)
    proc["terminal"] = bool(opts.get("tty"))
    proc["env"] = list(proc.get("env") or []) + list(opts.get("env") or [])
    if opts.get("cwd"):
        proc["cwd"] = opts["cwd"]
    if opts.get("no-new-privs"):
        proc["noNewPrivileges"] = True
    if opts.get("apparmor"):
        proc["apparmorProfile"] = opts["apparmor"]
    if opts.get("process-label"):
        proc["selinuxLabel"] = opts["process-label"]
    user = dict(proc.get("user") or {"uid": 0, "gid": 0})
    if opts.get("user"):
        uid, _, gid = opts["user"].partition(":")
        try:
            user["uid"] = int(uid)
            if gid:
                user["gid"] = int(gid)
        except ValueError:
            raise UsageError(f"--user {opts['user']}: must be <uid>[:<gid>] (numbers)") from None
    if opts.get("additional-gids"):
        try:
            user["additionalGids"] = [int(g) for g in opts["additional-gids"]]
        except ValueError:
            raise UsageError("--additional-gids: must be numbers") from None
    proc["user"] = user
    if opts.get("cap"):
        caps = dict(proc.get("capabilities") or {})
        # Never inheritable (CVE-2022-29162).
        for s in ("bounding", "effective", "permitted", "ambient"):
            caps[s] = list(dict.fromkeys(list(caps.get(s) or []) + list(opts["cap"])))
        proc["capabilities"] = caps
    return proc


def start_process(c, config, proc, opts, logger):
    from ocirun import capabilities, cgroups, console, execproc, initproc, launcher, namespaces, sync
    from ocirun import syscalls as sc

    from ocirun import lsm

    linux = config.get("linux") or {}
    lsm.check({"process": proc, "linux": {}})
    last_cap = capabilities.prepare()
    caps = capabilities.masks(proc.get("capabilities"), last_cap, warn=logger.warning,
                              held=capabilities.held(linux))
    seccomp = None
    if linux.get("seccomp"):
        from ocirun import seccomp as seccomp_mod

        seccomp = seccomp_mod.prepare(linux["seccomp"], proc, warn=logger.debug)
    if proc.get("terminal"):
        import fcntl  # noqa: F401 - the child uses them and may not import
        import socket  # noqa: F401
        import struct  # noqa: F401
    detach = opts.get("detach")
    fds = []
    relay_fd = None
    ns_fds = {}
    try:
        exec_fd = launcher.exec_memfd()
        fds.append(exec_fd)
        if seccomp is not None:
            listener = seccomp.connect_listener()
            if listener is not None:
                fds.append(listener)
        console_fd = None
        if proc.get("terminal"):
            if opts.get("console-socket"):
                console_fd = launcher.connect_console(opts["console-socket"])
            elif detach:
                raise UsageError("cannot allocate tty if ocirun will detach without setting console socket")
            else:
                relay_fd, console_fd = console.pair()
            fds.append(console_fd)
        for n in linux.get("namespaces") or ():
            t = n["type"]
            if t in ("pid", "time"):
                continue
            ns_fds[t] = os.open(f"/proc/{c.pid}/ns/{namespaces.PROC_NAMES[t]}", os.O_RDONLY | os.O_CLOEXEC)
        for fd in ns_fds.values():
            fds.append(fd)
        plan = launcher.Plan(proc=proc, ns_fds=ns_fds, caps=caps, last_cap=last_cap, seccomp=seccomp,
                             exec_fd=exec_fd, console_fd=console_fd, console_mount=False,
                             preserve_fds=int(opts.get("preserve-fds") or 0), config=config,
                             env=None, exe=None, state=c.spec_state())
        parent_r, parent_w, child_r, child_w = sync.pair()
        fds += [parent_r, parent_w]
        chan = sync.Channel(parent_r, parent_w)
        child_chan = sync.Channel(child_r, child_w)
        restore = {}
        entering = {}
        try:
            for n in linux.get("namespaces") or ():
                if n["type"] in ("pid", "time"):
                    entering[n["type"]] = os.open(f"/proc/{c.pid}/ns/{namespaces.PROC_NAMES[n['type']]}",
                                                  os.O_RDONLY | os.O_CLOEXEC)
            # After the opens (they are the container's, not a reused pid's)
            # and before the setns: in a time namespace /proc/PID/stat start
            # times are offset, so alive() would read a different one.
            if not c.alive():
                raise InvalidState("container not running")
            for t, fd in entering.items():
                restore[t] = namespaces.own_ns_fd(t)
                sc.setns(fd, namespaces.FLAGS[t])
            pid = os.fork()
            if pid == 0:
                for fd in (parent_r, parent_w, relay_fd):
                    if fd is not None:
                        os.close(fd)
                execproc.main(plan, child_chan)
        finally:
            for fd in entering.values():
                os.close(fd)
            for t, fd in restore.items():
                sc.setns(fd, namespaces.FLAGS[t])
                os.close(fd)
        child_chan.close()
        try:
            manager = cgroups.load_manager(c.data["cgroup"]) if c.data.get("cgroup") else None
            if manager is not None:
                _join_cgroup(manager, pid, opts.get("cgroup") or [])
            if "oomScoreAdj" in proc:
                launcher._write(f"/proc/{pid}/oom_score_adj", str(proc["oomScoreAdj"]), "process.oomScoreAdj")
            chan.send("go")
            while chan.next("exec process exited unexpectedly", logger)["t"] != "ready":
                pass
        except BaseException:
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except OSError:
                pass
            raise
        if opts.get("pid-file"):
            launcher.write_pid_file(opts["pid-file"], pid)
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
