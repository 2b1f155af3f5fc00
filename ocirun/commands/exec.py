"""exec: run a new process in a running container (container/exec.py).
This module turns runc's flags (or --process FILE) into the process object."""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)

from ocirun import SPEC_VERSION
from ocirun import state as st
from ocirun.errors import OciError, UsageError, describe

EXEC_FAILED = 255  # runc's exit code when the process could not be started


def run(opts, args, logger):
    from ocirun.container import exec as lib

    c = st.Store(opts["root"]).load(args[0])
    lib.check_status(c, opts.get("ignore-paused"))
    from ocirun import fastjson  # not json: it pulls re, enum, functools (~5 ms)

    with open(os.path.join(c.dir, "config.json"), "rb") as f:
        config = fastjson.loads(f.read())
    proc = build_process(config, opts, args[1:])
    try:
        return lib.exec_process(c, config, proc, opts, logger)
    except OciError as e:
        logger.error(f"exec failed: {e}")
        return EXEC_FAILED
    except OSError as e:
        # E.g. EPIPE: the container killed the process before it was ready.
        logger.error(f"exec failed: {describe(e)}")
        return EXEC_FAILED


def build_process(config, opts, args):
    """--process FILE, or the container's process with args and runc's flag overrides."""
    if opts.get("process"):
        from ocirun import fastjson
        from ocirun.spec.loader import read_input

        try:
            proc = fastjson.loads(read_input(opts["process"], f"--process {opts['process']}"))
        except OSError as e:
            raise UsageError(f"--process {opts['process']}: {describe(e)}") from None
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
