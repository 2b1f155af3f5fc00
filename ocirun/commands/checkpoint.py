"""checkpoint: save a running container with CRIU (runc's flags).

CRIU freezes the container through its freezer cgroup, dumps it into
--image-path (default ./checkpoint) and, unless --leave-running, kills it:
the container is then stopped and `delete` removes it (runc deletes it
itself; ocirun keeps the stopped record, and restore may reuse the id).
descriptors.json records the init's stdio as runc does, for restore.
"""
import os

from ocirun import state as st
from ocirun.errors import InvalidState, OciError, UsageError


def run(opts, args, logger):
    from ocirun.criu import plan, swrk, wire

    plan.refuse(opts, ("lazy-pages", "page-server", "status-fd"),
                "CRIU's lazy migration (userfaultfd page server) is not driven")
    criu = swrk.find(opts.get("criu") or "criu")
    if opts.get("pre-dump"):
        _refuse_pre_dump(criu)
    if opts.get("parent-path"):
        raise UsageError("--parent-path: needs a --pre-dump image, which ocirun does not make")
    crit = plan.common_opts(opts, "dump.log")

    store = st.Store(opts["root"])
    c = store.load(args[0])
    lock = c.lock()
    fds = []
    try:
        c = store.load(args[0])
        status = c.status()
        if status not in (st.RUNNING, st.PAUSED):
            raise InvalidState(f"container {c.id} is not running: {status}")
        config = _saved_config(c)
        image, work = plan.image_dirs(opts, create=True)
        fds += [plan.open_dir(image), plan.open_dir(work)]
        from ocirun import cgroups
        from ocirun.container.create import cgroup_mounts

        manager = cgroups.load_manager(c.data["cgroup"])
        crit.update(images_dir_fd=fds[0], work_dir_fd=fds[1], pid=c.pid,
                    root=os.path.realpath(c.data["rootfs"]),
                    leave_running=bool(opts.get("leave-running")))
        freezer = _freezer_dir(manager)
        if freezer:
            crit["freeze_cgroup"] = freezer
        dirs = [(name, d) for name, _t, _o, d in cgroup_mounts(manager)]
        crit["ext_mnt"] = [{"key": k, "val": k} for k, _src in
                           plan.external_mounts(config, c.data["bundle"], dirs)]
        crit["ext_mnt"] += plan.masked_files(config, c.pid)
        crit["external"] = [f"{cname}[{os.stat(path).st_ino}]:{key}" for _t, path, cname, key
                            in plan.external_ns(config, crit.get("empty_ns"))]
        _write_descriptors(c.pid, image)
        proc = swrk.Criu(criu, pass_fds=fds)
        try:
            proc.call(wire.DUMP, crit, what="checkpoint", log=os.path.join(work, "dump.log"))
        finally:
            proc.close()
        if not opts.get("leave-running"):
            c.data["checkpointed"] = image
            c.data["paused"] = False
            c.save()
    finally:
        for fd in fds:
            os.close(fd)
        os.close(lock)
    return 0


def _refuse_pre_dump(criu):
    """runc's --pre-dump needs memory change tracking (soft-dirty bits);
    CRIU says whether this kernel has it."""
    from ocirun.criu import swrk, wire

    resp = swrk.request(criu, wire.FEATURE_CHECK, what="checkpoint --pre-dump",
                        features={"mem_track": True})
    if not (resp.get("features") or {}).get("mem_track"):
        raise UsageError("--pre-dump: this kernel cannot track memory changes "
                         "(no CONFIG_MEM_SOFT_DIRTY): only full checkpoints are possible")
    raise UsageError("--pre-dump: iterative (pre-dump) checkpoints are not supported by ocirun")


def _saved_config(c):
    from ocirun import fastjson as json

    try:
        with open(os.path.join(c.dir, "config.json"), "rb") as f:
            return json.loads(f.read())
    except (OSError, ValueError) as e:
        raise OciError(f"container {c.id}: saved config.json: {e}") from None


def _freezer_dir(manager):
    for name, d in manager.paths.items():
        if "freezer" in name.split(",") or manager.mode == "unified":
            return d
    return None


def _write_descriptors(pid, image):
    """runc's descriptors.json: what the init's fds 0-2 are (e.g. "pipe:[123]"),
    so restore can hand CRIU new pipes in their place."""
    from ocirun import fastjson as json

    out = []
    for fd in range(3):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            out.append("/dev/null")
    st.write_atomic(os.path.join(image, "descriptors.json"), json.dumps(out).encode(), 0o600)
