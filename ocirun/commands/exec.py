"""exec: run a new process in a running container.

The parent (this process) enters the container's pid and time namespaces
for its child only, forks, puts the child in the container's cgroup, and
lets it join the other namespaces itself (execproc.py). Without --detach
we wait for the process and return its exit status (128+n for a signal).
"""
import os

from ocirun import SPEC_VERSION
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
    from ocirun import fastjson  # not json: it pulls re, enum, functools (~5 ms)

    with open(os.path.join(c.dir, "config.json"), "rb") as f:
        config = fastjson.loads(f.read())
    proc = build_process(config, opts, args[1:])
    try:
        return start_process(c, config, proc, opts, logger)
    except OciError as e:
        logger.error(f"exec failed: {e}")
        return EXEC_FAILED
    except OSError as e:
        # E.g. EPIPE: the container killed the process before it was ready.
        logger.error(f"exec failed: {os.strerror(e.errno).lower() if e.errno else e}")
        return EXEC_FAILED


def build_process(config, opts, args):
    """--process FILE, or the container's process with args and runc's flag overrides."""
    if opts.get("process"):
        from ocirun import fastjson
        from ocirun.spec.loader import read_input

        try:
            proc = fastjson.loads(read_input(opts["process"], f"--process {opts['process']}"))
        except OSError as e:
            raise UsageError(f"--process {opts['process']}: {os.strerror(e.errno).lower()}") from None
        except (ValueError, RecursionError) as e:
            raise UsageError(f"--process {opts['process']}: invalid JSON: {e}") from None
        if not isinstance(proc, dict) or not proc.get("args"):
            raise UsageError(f"--process {opts['process']}: args must not be empty")
        _check_process(proc, opts["process"])
        if opts.get("tty"):
            proc["terminal"] = True
        return proc
    if not args:
        raise UsageError("exec args cannot be empty")
    # A shallow copy is enough: every value changed below is replaced, not
    # mutated, and the config is our own fresh parse (copy.deepcopy: ~0.6 ms).
    proc = dict(config.get("process") or {})
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


def _check_process(proc, path):
    """--process FILE against the schema's process object: a wrong type is
    one line naming the field, not a traceback later."""
    from ocirun.spec import fastschema, loader

    cfg = {"ociVersion": SPEC_VERSION, "root": {"path": "rootfs"}, "process": proc}
    try:
        loader.check_unicode(proc, "process")
        if fastschema.is_valid(cfg):
            return
        from ocirun.spec import schema

        schema.validate_config(cfg)
    except OciError as e:
        raise UsageError(f"--process {path}: {e}") from None
    raise UsageError(f"--process {path}: invalid process")


def start_process(c, config, proc, opts, logger):
    from ocirun import capabilities, cgroups, execproc, initproc, launcher, namespaces, sync
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
    preserve = launcher.check_preserved_fds(opts.get("preserve-fds"))
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
                from ocirun import console  # only here: it loads socket (and selectors, enum)

                relay_fd, console_fd = console.pair()
            fds.append(console_fd)
        # Every namespace is joined by an intermediate child (execproc.join)
        # that stays in our pid namespace; it forks the process that enters
        # the container's pid namespace only after the mount namespace is
        # joined, so that process never shows the host's root, cwd or fds to
        # the container (runc's order). We open no fd of our own namespaces.
        for n in linux.get("namespaces") or ():
            t = n["type"]
            ns_fds[t] = os.open(f"/proc/{c.pid}/ns/{namespaces.PROC_NAMES[t]}", os.O_RDONLY | os.O_CLOEXEC)
            fds.append(ns_fds[t])
        # After the opens: they are the container's, not a reused pid's.
        if not c.alive():
            raise InvalidState("container not running")
        plan = launcher.Plan(proc=proc, ns_fds=ns_fds, caps=caps, last_cap=last_cap, seccomp=seccomp,
                             exec_fd=exec_fd, console_fd=console_fd, console_mount=False,
                             preserve_fds=preserve, config=config,
                             env=None, exe=None, state=c.spec_state())
        if "user" in ns_fds:
            from ocirun import rootless

            plan.setgroups_deny = rootless.setgroups_denied(c.pid)
        parent_r, parent_w, child_r, child_w = sync.pair()
        fds += [parent_r, parent_w]
        chan = sync.Channel(parent_r, parent_w)
        child_chan = sync.Channel(child_r, child_w)
        # The process is our grandchild: when the intermediate exits, it
        # becomes our child, so we can wait for it.
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
        stage1 = os.fork()
        if stage1 == 0:
            for fd in (parent_r, parent_w, relay_fd):
                if fd is not None:
                    os.close(fd)
            execproc.main(plan, child_chan)
        child_chan.close()
        pid = None
        went = False
        try:
            manager = cgroups.load_manager(c.data["cgroup"]) if c.data.get("cgroup") else None
            if manager is not None:
                # Under the container's lock: a delete --force either ran
                # before (the container is gone: we fail) or comes after and
                # kills the intermediate and the process with the rest.
                # Not held longer: with --ignore-paused the join freezes us.
                lock = c.lock()
                try:
                    if not c.alive():
                        raise InvalidState("container not running")
                    _join_cgroup(manager, stage1, opts.get("cgroup") or [])
                finally:
                    os.close(lock)
            if "oomScoreAdj" in proc:  # inherited by the process at its fork
                launcher._write(f"/proc/{stage1}/oom_score_adj", str(proc["oomScoreAdj"]),
                                "process.oomScoreAdj")
            went = True
            chan.send("go")
            pid = _wait_ready(chan, logger)
            _reap(stage1, None)
        except BaseException:
            if went and pid is None:
                # The intermediate may have forked: learn the pid before it goes.
                pid = _drain_pid(chan)
            _reap(stage1, 9)
            _reap(pid, 9)
            raise
        if opts.get("pid-file"):
            try:
                launcher.write_pid_file(opts["pid-file"], pid)
            except OSError as e:
                # As runc: a process nobody can find is not left running.
                _reap(pid, 9)
                raise OciError(f"--pid-file {opts['pid-file']}: {os.strerror(e.errno).lower()}") from None
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


def _wait_ready(chan, logger):
    """The process's host pid (sent by the intermediate, which then exits)
    once the process has reported ready; in either order."""
    pid, ready = None, False
    while pid is None or not ready:
        msg = chan.next("exec process exited unexpectedly", logger)
        if msg["t"] == "pid":
            pid = msg["pid"]
        elif msg["t"] == "ready":
            ready = True
    return pid


def _drain_pid(chan):
    """After a failure: the process's pid if the intermediate sent it (read
    until every writer has gone), so that it is killed and reaped."""
    pid = None
    while True:
        try:
            msg = chan.recv()
        except (OSError, ValueError):
            return pid
        if msg is None:
            return pid
        if msg.get("t") == "pid":
            pid = msg["pid"]


def _reap(pid, sig):
    if not pid:
        return
    try:
        if sig:
            os.kill(pid, sig)
        os.waitpid(pid, 0)
    except OSError:
        pass


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
