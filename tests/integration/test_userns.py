"""User namespaces, idmapped mounts and time namespaces, in real containers.

- config-linux.md#user-namespace-mappings: the container's uid_map/gid_map
  are the config's; root inside is the mapped host id outside; devices are
  bind-mounted host nodes (mknod is not allowed in a user namespace); a user
  namespace can be joined by `path`; the pid namespace is owned by the user
  namespace (ocirun.userns.stage1); `exec` joins it too.
- config.md#posix-platform-mounts: idmapped bind mounts (uidMappings and
  gidMappings on the mount, options idmap/ridmap).
- config-linux.md#namespaces ("time") and linux.timeOffsets.

The rootfs is a copy of the busybox one owned by the mapped root (host
100000), as an engine prepares an image for a user namespace: root inside
must be able to make mount points in it. It and the host directories live
under a world-traversable directory of /tmp (pytest's own base is 0700,
which root inside the user namespace, an unprivileged host uid, cannot enter).
"""
import fcntl
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import default_config, new_id, oci_files, wait_until, write_bundle
from ocirun import userns
from ocirun.errors import OciError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runs containers")

HOST_BASE = 100000
MAPS = [{"containerID": 0, "hostID": HOST_BASE, "size": 1000},
        {"containerID": 1000, "hostID": HOST_BASE + 1000, "size": 64536}]
NS_GET_USERNS = 0xB701  # ioctl on an nsfs file: an fd of its owning user namespace


def with_userns(c, uid_maps=MAPS, gid_maps=MAPS):
    c["linux"]["namespaces"].append({"type": "user"})
    c["linux"]["uidMappings"] = [dict(m) for m in uid_maps]
    c["linux"]["gidMappings"] = [dict(m) for m in gid_maps]


def sh(*edits):
    def edit(c):
        for e in edits:
            e(c)
    return edit


def map_lines(text):
    return [line.split() for line in text.strip().splitlines()]


def expected_map(maps):
    return [[str(m["containerID"]), str(m["hostID"]), str(m["size"])] for m in maps]


def one_line(p):
    lines = p.stderr.strip().splitlines()
    assert "Traceback" not in p.stderr, p.stderr
    assert len(lines) == 1, f"expected one line on stderr, got:\n{p.stderr}"
    return lines[0]


def assert_nothing_left(oci, cid):
    from ocirun import cgroups

    assert oci("list", "-q").stdout.split() == []
    assert not os.path.lexists(os.path.join(oci.root, cid)), "state directory left"
    left = [d for d in cgroups.create_manager(None, cid).paths.values() if os.path.exists(d)]
    assert left == [], f"cgroup directories left: {left}"


def run_detached(oci, b, cid):
    oci_files(oci, "run", "--detach", "--bundle", b, cid, check=True)
    return oci.state(cid)["pid"]


def exec_(oci, cid, *args):
    return oci("exec", cid, *args)


@pytest.fixture(scope="module")
def open_base(rootfs):
    """A 0755 directory under /tmp holding a copy of the rootfs, owned by the mapped root."""
    base = tempfile.mkdtemp(prefix="ocirun-userns-", dir="/tmp")
    os.chmod(base, 0o755)
    shutil.copytree(rootfs, os.path.join(base, "rootfs"), symlinks=True)
    subprocess.run(["chown", "-R", "-h", f"{HOST_BASE}:{HOST_BASE}", os.path.join(base, "rootfs")],
                   check=True)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def host_tmp(open_base):
    """A fresh directory the container's root can reach (as tmp_path, but traversable)."""
    from pathlib import Path

    d = tempfile.mkdtemp(dir=open_base)
    os.chmod(d, 0o755)
    return Path(d)


@pytest.fixture
def bundle(open_base, tmp_path):
    """bundle(args, edit) -> a bundle on the traversable rootfs copy."""
    n = [0]

    def make(args=("/bin/true",), edit=None):
        n[0] += 1
        c = default_config(os.path.join(open_base, "rootfs"), args)
        if edit:
            edit(c)
        return write_bundle(tmp_path / f"bundle{n[0]}", c)

    return make


@pytest.fixture
def hostdir(host_tmp):
    """A host directory root inside the container (100000) may write to."""
    d = host_tmp / "data"
    d.mkdir()
    os.chown(d, HOST_BASE, HOST_BASE)
    return d


def bind(src, dest, *opts, **extra):
    return dict({"destination": dest, "type": "bind", "source": str(src),
                 "options": ["rbind", *opts]}, **extra)


# ---- the namespace itself ---------------------------------------------------

def test_maps_root_and_files_on_a_bind_mount(oci, bundle, hostdir):
    """config-linux.md#user-namespace-mappings: uid_map/gid_map inside are the
    config's mappings; root inside is root there, but what it creates on a
    host directory belongs to the mapped host id."""
    script = ("cat /proc/self/uid_map; echo ==; cat /proc/self/gid_map; echo ==; id -u; id -g; "
              "grep CapEff /proc/self/status; stat -c %u:%g /; touch /data/made-by-root")
    b = bundle(["/bin/sh", "-c", script],
               sh(with_userns, lambda c: c["mounts"].append(bind(hostdir, "/data"))))
    p = oci("run", "--bundle", b, new_id())
    assert p.returncode == 0, p.stderr
    uid_map, gid_map, rest = p.stdout.split("==\n")
    assert map_lines(uid_map) == expected_map(MAPS)
    assert map_lines(gid_map) == expected_map(MAPS)
    ids = rest.split()
    assert ids[:2] == ["0", "0"]
    assert int(ids[3], 16) != 0  # root's capabilities (in its own namespace)
    assert ids[4] == "0:0"  # the rootfs, host 100000's, is root's inside
    st = os.stat(hostdir / "made-by-root")
    assert (st.st_uid, st.st_gid) == (HOST_BASE, HOST_BASE)


def test_devices_are_staged_nodes_and_work(oci, bundle):
    """mknod is not allowed in a user namespace: the default devices
    (config-linux.md#default-devices) are nodes the runtime made as host root
    (owner mapped: root's inside), bind-mounted in, and they work."""
    script = ("for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %u' /dev/$d; done; "
              "grep -c ' /dev/null ' /proc/self/mountinfo; "
              "echo hello > /dev/null && echo null-ok; head -c1 /dev/zero | od -An -tx1 | tr -d ' '; "
              "head -c4 /dev/urandom | wc -c")
    p = oci("run", "--bundle", bundle(["/bin/sh", "-c", script], with_userns), new_id())
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    want = {"null": "1:3", "zero": "1:5", "full": "1:7", "random": "1:8", "urandom": "1:9", "tty": "5:0"}
    for line, (name, numbers) in zip(lines, want.items()):
        # owned by the container's root (host 100000), not the host's root (65534 inside)
        assert line == f"/dev/{name} character special file {numbers} 0", line
    assert lines[6] == "1"  # /dev/null is a mount (a bind), not a node we made
    assert lines[7:] == ["null-ok", "00", "4"]


def test_pid_namespace_is_owned_by_the_user_namespace(oci, bundle):
    """The pid namespace is created inside the user namespace (userns.stage1):
    the container may mount its proc, and ps works."""
    cid = new_id()
    pid = run_detached(oci, bundle(["/bin/sleep", "30"], with_userns), cid)
    user_ino = os.stat(f"/proc/{pid}/ns/user").st_ino
    assert user_ino != os.stat("/proc/self/ns/user").st_ino
    for ns in ("pid", "mnt", "net", "ipc", "uts"):
        fd = os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            owner = fcntl.ioctl(fd, NS_GET_USERNS)
        finally:
            os.close(fd)
        try:
            assert os.fstat(owner).st_ino == user_ino, f"{ns} namespace not owned by the container's"
        finally:
            os.close(owner)
    p = exec_(oci, cid, "/bin/sh", "-c", "grep -c ' /proc .* - proc ' /proc/self/mountinfo; ps -o pid,comm; true")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert lines[0] == "1"
    assert lines[1].split() == ["PID", "COMMAND"] and lines[2].split() == ["1", "sleep"]


def test_exec_joins_the_user_namespace(oci, bundle, hostdir):
    """ocirun exec: the new process is in the container's user namespace (same
    uid_map); a non-root user's files land as its mapped host id."""
    cid = new_id()
    b = bundle(["/bin/sleep", "30"], sh(with_userns, lambda c: c["mounts"].append(bind(hostdir, "/data"))))
    pid = run_detached(oci, b, cid)
    os.chmod(hostdir, 0o777)
    p = exec_(oci, cid, "/bin/sh", "-c", "cat /proc/self/uid_map; readlink /proc/self/ns/user; id -u")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert [line.split() for line in lines[:2]] == expected_map(MAPS)
    assert lines[2] == os.readlink(f"/proc/{pid}/ns/user")
    assert lines[3] == "0"
    p = oci("exec", "--user", "1000:1000", cid, "/bin/touch", "/data/made-by-1000")
    assert p.returncode == 0, p.stderr
    st = os.stat(hostdir / "made-by-1000")
    assert (st.st_uid, st.st_gid) == (HOST_BASE + 1000, HOST_BASE + 1000)


def test_join_user_namespace_by_path(oci, bundle):
    """config-linux.md#namespaces: a `path` joins an existing user namespace
    (a first container's); its mappings are that namespace's."""
    first = new_id()
    pid = run_detached(oci, bundle(["/bin/sleep", "30"], with_userns), first)

    def join(c):
        c["linux"]["namespaces"].append({"type": "user", "path": f"/proc/{pid}/ns/user"})

    script = "cat /proc/self/uid_map; readlink /proc/self/ns/user; id -u; ps -o pid,comm; true"
    p = oci("run", "--bundle", bundle(["/bin/sh", "-c", script], join), new_id())
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert [line.split() for line in lines[:2]] == expected_map(MAPS)
    assert lines[2] == os.readlink(f"/proc/{pid}/ns/user")
    assert lines[3] == "0"
    # its own (new) pid namespace, inside the joined user namespace
    assert [line.split() for line in lines[4:6]] == [["PID", "COMMAND"], ["1", "sh"]]


def test_join_user_and_pid_namespaces_by_path(oci, bundle):
    """A pod's shape (rootless podman with a shared pid namespace): the second
    container joins the first's user and pid namespaces; its init enters the
    pid namespace after its pivot_root (initproc.enter_pid_late), and its
    /proc shows that namespace."""
    first = new_id()
    pid = run_detached(oci, bundle(["/bin/sleep", "30"], with_userns), first)

    def join(c):
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "pid"]
        c["linux"]["namespaces"] += [{"type": "user", "path": f"/proc/{pid}/ns/user"},
                                     {"type": "pid", "path": f"/proc/{pid}/ns/pid"}]

    script = "id -u; readlink /proc/self/ns/pid; cat /proc/1/comm /proc/$$/comm; true"
    p = oci("run", "--bundle", bundle(["/bin/sh", "-c", script], join), new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["0", os.readlink(f"/proc/{pid}/ns/pid"), "sleep", "sh"], p.stdout


@pytest.mark.parametrize("edit, path, words", [
    (lambda c: (c["linux"]["namespaces"].append({"type": "user"})),
     "linux.uidMappings", "no uid mappings"),
    (lambda c: with_userns(c, uid_maps=[{"containerID": 0, "hostID": HOST_BASE, "size": 1000},
                                        {"containerID": 500, "hostID": 300000, "size": 10}]),
     "linux.uidMappings[1].containerID", "overlaps"),
    (lambda c: with_userns(c, uid_maps=[{"containerID": 0, "hostID": HOST_BASE, "size": 1000},
                                        {"containerID": 5000, "hostID": HOST_BASE + 10, "size": 10}]),
     "linux.uidMappings[1].hostID", "overlaps"),
], ids=["userns-without-maps", "overlap-inside", "overlap-outside"])
def test_bad_mappings_fail_create_cleanly(oci, bundle, edit, path, words):
    """config-linux.md#user-namespace-mappings: an invalid mapping is an error
    (one line naming linux.uidMappings), and nothing is left (runtime.md#create)."""
    cid = new_id()
    p = oci("create", "--bundle", bundle(edit=edit), cid)
    assert p.returncode == 1
    line = one_line(p)
    assert path in line and words in line, line
    assert_nothing_left(oci, cid)


def test_maps_without_userns_are_ignored_with_a_warning(oci, bundle):
    """runc drops mappings when there is no user namespace (found by the acceptance
    differential, test_runc_acceptance.py): a warning here, and the container runs."""
    p = oci("run", "--bundle", bundle(args=["id", "-u"], edit=lambda c: c["linux"].update(
        uidMappings=MAPS, gidMappings=MAPS)), new_id())
    assert (p.returncode, p.stdout) == (0, "0\n"), p.stderr
    assert "linux.uidMappings: no user namespace in the config: the mappings are ignored" in p.stderr


def _fresh_userns_child():
    """A child that has unshared its user namespace and waits; returns (pid, write end)."""
    from ocirun import syscalls as sc

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(w)
            sc.unshare(sc.CLONE_NEWUSER)
            os.read(r, 1)
        finally:
            os._exit(0)
    os.close(r)
    own = os.stat("/proc/self/ns/user").st_ino
    wait_until(lambda: os.stat(f"/proc/{pid}/ns/user").st_ino != own, what="the child's unshare")
    return pid, w


@pytest.mark.parametrize("maps", [
    [{"containerID": 0, "hostID": HOST_BASE, "size": 10}, {"containerID": 5, "hostID": 300000, "size": 10}],
    [{"containerID": i, "hostID": HOST_BASE + i, "size": 1} for i in range(341)],  # limit: 340 lines
], ids=["overlapping", "too-many-lines"])
def test_mapping_the_kernel_refuses_names_the_field(maps):
    """What validation would catch first, written anyway: the kernel's refusal
    comes back as one message naming linux.uidMappings."""
    pid, w = _fresh_userns_child()
    try:
        with pytest.raises(OciError) as exc:
            userns.write_maps(pid, maps, MAPS)
        msg = str(exc.value)
        assert msg.startswith("linux.uidMappings: write /proc/") and "invalid argument" in msg, msg
        assert "\n" not in msg
        with open(f"/proc/{pid}/uid_map") as f:
            assert f.read() == ""  # nothing was written
    finally:
        os.close(w)
        os.waitpid(pid, 0)


# ---- idmapped mounts --------------------------------------------------------

@pytest.fixture
def owned_1000(host_tmp):
    """A host directory whose file is owned by 1000:1000."""
    d = host_tmp / "owned"
    d.mkdir()
    (d / "f").write_text("x")
    for p in (d, d / "f"):
        os.chown(p, 1000, 1000)
    return d


@pytest.fixture
def with_submount(owned_1000, host_tmp):
    """owned_1000 with another directory of 1000-owned files bind-mounted at sub/."""
    other = host_tmp / "other"
    other.mkdir()
    (other / "g").write_text("y")
    for p in (other, other / "g"):
        os.chown(p, 1000, 1000)
    sub = owned_1000 / "sub"
    sub.mkdir()
    subprocess.run(["mount", "--bind", str(other), str(sub)], check=True)
    subprocess.run(["mount", "--make-private", str(sub)], check=True)
    try:
        yield owned_1000
    finally:
        subprocess.run(["umount", "-l", str(sub)], check=True)


STAT = ["/bin/stat", "-c", "%n %u:%g"]


def test_idmapped_mount_without_userns(oci, bundle, owned_1000):
    """config.md#posix-platform-mounts: a mount's uidMappings/gidMappings map
    the ids of its files (on-disk 1000 -> hostID 5000/6000 here), with no
    user namespace in the container; the source itself is unchanged."""
    maps = {"uidMappings": [{"containerID": 1000, "hostID": 5000, "size": 10}],
            "gidMappings": [{"containerID": 1000, "hostID": 6000, "size": 10}]}
    b = bundle([*STAT, "/mapped/f", "/plain/f"],
               lambda c: c["mounts"].extend([bind(owned_1000, "/mapped", **maps),
                                             bind(owned_1000, "/plain")]))
    p = oci("run", "--bundle", b, new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[:2] == ["/mapped/f 5000:6000", "/plain/f 1000:1000"]
    assert os.stat(owned_1000 / "f").st_uid == 1000


@pytest.mark.parametrize("how", ["idmap-option", "mount-mappings"])
def test_idmapped_mount_in_userns(oci, bundle, owned_1000, how):
    """In a user namespace, an idmapped mount with the container's mappings
    (the `idmap` option alone uses them) shows on-disk owners as they are
    on the host; a plain bind shows them unmapped (65534). Files root
    creates through it are owned by on-disk root."""
    os.chmod(owned_1000, 0o777)
    if how == "idmap-option":
        mapped = bind(owned_1000, "/mapped", "idmap")
    else:
        mapped = bind(owned_1000, "/mapped", uidMappings=MAPS, gidMappings=MAPS)
    script = "stat -c '%n %u:%g' /mapped/f /plain/f; touch /mapped/by-root"
    b = bundle(["/bin/sh", "-c", script],
               sh(with_userns, lambda c: c["mounts"].extend([mapped, bind(owned_1000, "/plain")])))
    p = oci("run", "--bundle", b, new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["/mapped/f 1000:1000", "/plain/f 65534:65534"]
    st = os.stat(owned_1000 / "by-root")
    assert (st.st_uid, st.st_gid) == (0, 0)


@pytest.mark.parametrize("option, sub_owner", [("idmap", "65534:65534"), ("ridmap", "1000:1000")])
def test_ridmap_maps_submounts_and_idmap_does_not(oci, bundle, with_submount, option, sub_owner):
    """config.md#posix-platform-mounts: `ridmap` idmaps the mount and every
    submount of an rbind, `idmap` only the mount itself."""
    b = bundle([*STAT, "/mapped/f", "/mapped/sub/g"],
               sh(with_userns, lambda c: c["mounts"].append(bind(with_submount, "/mapped", option))))
    p = oci("run", "--bundle", b, new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["/mapped/f 1000:1000", f"/mapped/sub/g {sub_owner}"]


@pytest.mark.parametrize("option", ["idmap", "ridmap"])
def test_idmap_without_mappings_or_userns_is_an_error(oci, bundle, owned_1000, option):
    """config.md#posix-platform-mounts: with `idmap` and no uidMappings on the
    mount, the container's user namespace mappings are used; with neither
    the runtime MUST report an error."""
    cid = new_id()
    index = []

    def edit(c):
        index.append(len(c["mounts"]))
        c["mounts"].append(bind(owned_1000, "/mapped", option))

    p = oci("create", "--bundle", bundle(edit=edit), cid)
    assert p.returncode == 1
    line = one_line(p)
    assert f"mounts[{index[0]}].options" in line and "user namespace" in line, line
    assert_nothing_left(oci, cid)


# ---- time namespace ---------------------------------------------------------

def host_uptime():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


@pytest.mark.parametrize("user", [False, True], ids=["no-userns", "userns"])
def test_time_namespace_offsets(oci, bundle, user):
    """config-linux.md#namespaces ("time") with linux.timeOffsets: the
    container's boottime clock runs 3600 s ahead (/proc/uptime), and its
    timens_offsets are the config's. With a user namespace the time
    namespace is made in userns.stage1."""
    def edit(c):
        c["linux"]["namespaces"].append({"type": "time"})
        c["linux"]["timeOffsets"] = {"monotonic": {"secs": 86400}, "boottime": {"secs": 3600}}
        if user:
            with_userns(c)

    before = host_uptime()
    p = oci("run", "--bundle", bundle(["/bin/sh", "-c", "cat /proc/uptime /proc/self/timens_offsets"],
                                      edit), new_id())
    after = host_uptime()
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    inside = float(lines[0].split()[0])
    assert before + 3600 - 1 <= inside <= after + 3600 + 1, (before, inside, after)
    assert [line.split() for line in lines[1:]] == [["monotonic", "86400", "0"], ["boottime", "3600", "0"]]


def test_time_namespace_exec_sees_the_offsets(oci, bundle):
    """exec joins the container's time namespace too."""
    def edit(c):
        c["linux"]["namespaces"].append({"type": "time"})
        c["linux"]["timeOffsets"] = {"boottime": {"secs": 7200}}
        with_userns(c)

    cid = new_id()
    run_detached(oci, bundle(["/bin/sleep", "30"], edit), cid)
    before = host_uptime()
    p = exec_(oci, cid, "/bin/cat", "/proc/uptime")
    assert p.returncode == 0, p.stderr
    assert float(p.stdout.split()[0]) - before == pytest.approx(7200, abs=5)
