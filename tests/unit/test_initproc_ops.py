"""The container init's filesystem part, driven through the syscall double
(recording_ops.py) without root: initproc.set_names, prepare_rootfs and the
rootfs.pivot they lead to take their system calls from plan.ops, so the
sequence a small config makes is recorded instead of made. initproc.setup as
a whole is not driven here: it seals the process, calls setsid and talks to
the parent over real pipes (sync.py); those parts run for real, as root, in
tests/integration (test_lifecycle.py, test_init_safety.py)."""
import os
from types import SimpleNamespace

from mount_plan_kit import ops, root  # noqa: F401 - fixtures
from ocirun import initproc, namespaces, rootfs
from ocirun import syscalls as sc


def config(**over):
    cfg = {
        "hostname": "box", "domainname": "lan",
        "process": {"cwd": "/work", "terminal": False},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                   {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}],
        "linux": {"namespaces": [{"type": "mount"}, {"type": "uts"}, {"type": "pid"}], "devices": []},
    }
    cfg.update(over)
    return cfg


def plan_of(root, ops, cfg):
    return SimpleNamespace(config=cfg, proc=cfg["process"], rootfs=root.path, bundle=root.bundle,
                           ns=namespaces.NamespaceSet(cfg["linux"]["namespaces"], ops),
                           mount_ctx={}, bind_devices=False, no_pivot=False, ops=ops)


def stand_in_node(call):
    """mknod needs privilege: a regular file stands in for the node (create_devices
    then opens and chmods it for real)."""
    os.close(os.open(call.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, dir_fd=call.dir_fd))


def drive(root, ops, cfg):
    ops.script("mknod", stand_in_node)
    plan = plan_of(root, ops, cfg)
    initproc.set_names(cfg, plan.ns, ops)
    initproc.prepare_rootfs(plan)
    return plan


def test_names_then_root_then_mounts_then_devices(root, ops):
    drive(root, ops, config())
    names = ops.names()
    assert names[:2] == ["sethostname", "setdomainname"]
    assert ops.calls[0].name == "sethostname" and ops.calls[0].args == {"name": "box"}
    assert ops.calls[1].args == {"name": "lan"}
    mounts = ops.of("mount")
    # prepare_root: the host's tree is made a slave of ours first, then the
    # rootfs is bound onto itself (pivot_root needs a mount point).
    assert (mounts[0].src, mounts[0].dst, mounts[0].fstype) == (None, "/", None)
    assert mounts[0].flags & sc.MS_REC
    assert any(m.src == m.dst == root.path and m.flags == sc.MS_BIND | sc.MS_REC for m in mounts[:3])
    # The config's mounts, in order, each on its target resolved in the root.
    made = [(m.fstype, root.rel(m.where["dst"])) for m in mounts if m.fstype in ("proc", "tmpfs")]
    assert made == [("proc", "/proc"), ("tmpfs", "/tmp")]
    tmpfs = next(m for m in mounts if m.fstype == "tmpfs")
    assert tmpfs.flags & sc.MS_NOSUID
    # The default devices are made with mknod, after every mount, inside the root's /dev.
    nodes = ops.of("mknod")
    assert {c.path for c in nodes} >= {"null", "zero", "full", "random", "urandom", "tty"}
    assert names.index("mknod") > max(i for i, n in enumerate(names) if n == "mount")
    assert os.path.islink(os.path.join(root.path, "dev/ptmx"))
    assert os.path.isdir(os.path.join(root.path, "work"))  # process.cwd, made after the mounts


def test_no_uts_namespace_sets_no_names(root, ops):
    cfg = config(linux={"namespaces": [{"type": "mount"}], "devices": []})
    drive(root, ops, cfg)
    assert "sethostname" not in ops.names() and "setdomainname" not in ops.names()


def test_a_bound_dev_gets_no_device_nodes(root, ops):
    dev = os.path.join(root.bundle, "hostdev")
    os.mkdir(dev)
    cfg = config(mounts=[{"destination": "/dev", "type": "bind", "source": dev, "options": ["rbind"]}])
    drive(root, ops, cfg)
    assert not ops.of("mknod")
    [bind] = [m for m in ops.of("mount") if m.src == dev]
    assert root.rel(bind.where["dst"]) == "/dev"


def test_pivot_goes_through_the_same_ops(root, ops):
    plan = drive(root, ops, config())
    del ops.calls[:]
    rootfs.pivot(plan.rootfs, plan.no_pivot, plan.ns.has("mount"), plan.ops)
    assert ops.names() == ["fchdir", "pivot_root", "fchdir", "mount", "umount2", "chdir"]
    assert ops.calls[1].args == {"new_root": ".", "put_old": "."}
