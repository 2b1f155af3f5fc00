"""Rootless: ocirun run by a real unprivileged user (issue 15), runc --rootless as oracle.

The user (`ocirun-test`, with /etc/subuid and /etc/subgid ranges) and a
second one are created by rootless_env.py; commands run through setpriv with
the user's ids and groups, no --root: the state lives in $XDG_RUNTIME_DIR/ocirun
(runc's rule). The code run is a copy of this checkout's package.
On this cgroup v1 host a user can create no cgroup: containers run without one.
"""
import json
import os
import shutil
import subprocess
import uuid

import pytest

import rootless_env
from conftest import default_config, write_bundle

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates users")


@pytest.fixture(scope="module")
def env():
    e = rootless_env.Env()
    yield e
    e.remove()


@pytest.fixture(scope="module")
def user(env, rootfs):
    u = rootless_env.As(env, env.user)
    # The user's own copy of the rootfs: root inside (the user) makes mount points in it.
    u.rootfs = os.path.join(u.home, "rootfs")
    if not os.path.isdir(u.rootfs):
        shutil.copytree(rootfs, u.rootfs, symlinks=True)
        u.chown(u.rootfs)
    yield u
    for tool in (u.launcher, "runc", "crun"):
        root = os.path.join(u.xdg, "ocirun" if tool == u.launcher else os.path.basename(tool))
        for cid in os.listdir(root) if os.path.isdir(root) else ():
            u.run([tool, "delete", "--force", cid])


@pytest.fixture
def user2(env):
    return rootless_env.As(env, env.user2)


def cid_():
    return f"rl-{uuid.uuid4().hex[:10]}"


def own_map(pw):
    return ([{"containerID": 0, "hostID": pw.pw_uid, "size": 1}],
            [{"containerID": 0, "hostID": pw.pw_gid, "size": 1}])


def wide_map(pw):
    """Container 0 = the user; 1..65536 = its subordinate ids (newuidmap/newgidmap)."""
    su = rootless_env.sub_range(pw.pw_name, "/etc/subuid")
    sg = rootless_env.sub_range(pw.pw_name, "/etc/subgid")
    return ([{"containerID": 0, "hostID": pw.pw_uid, "size": 1},
             {"containerID": 1, "hostID": su[0], "size": rootless_env.SUB_SIZE}],
            [{"containerID": 0, "hostID": pw.pw_gid, "size": 1},
             {"containerID": 1, "hostID": sg[0], "size": rootless_env.SUB_SIZE}])


def user_bundle(u, args, edit=None, maps=None):
    """`runc spec --rootless` (ocirun's copy of it) for this user, on its rootfs."""
    from ocirun.spec.defaults import default_config as template

    c = template(rootless=True)
    c["root"] = {"path": u.rootfs, "readonly": False}
    c["process"]["args"] = list(args)
    c["process"]["terminal"] = False
    c["linux"]["uidMappings"], c["linux"]["gidMappings"] = maps or own_map(u.pw)
    if edit:
        edit(c)
    d = os.path.join(u.home, "b-" + uuid.uuid4().hex[:8])
    write_bundle(d, c)
    u.chown(d)
    return d


def one_line(p):
    assert "Traceback" not in p.stderr, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    return lines[0]


def assert_nothing_left(u, cid):
    assert u.oci("list", "-q", check=True).stdout.split() == []
    assert not os.path.lexists(os.path.join(u.xdg, "ocirun", cid))


# ---- install ------------------------------------------------------------

def test_installed_ocirun_runs_for_every_user(user):
    """.ci/install: the launcher on PATH, its interpreter and package are readable by others."""
    path = shutil.which("ocirun")
    assert path, "ocirun not on PATH: run .ci/install"
    with open(os.path.realpath(path)) as f:
        shebang = f.readline()
    assert "/root" not in shebang, shebang
    p = user.run(["ocirun", "--version"], check=True)
    assert p.stdout.startswith("ocirun version"), p.stdout


# ---- lifecycle ----------------------------------------------------------

def test_lifecycle_as_user_with_state_under_xdg_runtime_dir(user):
    b = user_bundle(user, ["sleep", "60"])
    cid = cid_()
    user.oci("create", "--bundle", b, cid, check=True)
    assert os.path.isdir(os.path.join(user.xdg, "ocirun", cid)), "state not under $XDG_RUNTIME_DIR/ocirun"
    st = json.loads(user.oci("state", cid, check=True).stdout)
    assert st["status"] == "created"
    assert user.oci("list", "-q", check=True).stdout.split() == [cid]
    user.oci("start", cid, check=True)
    st = json.loads(user.oci("state", cid, check=True).stdout)
    assert st["status"] == "running"
    # The init is the user's process on the host.
    with open(f"/proc/{st['pid']}/status") as f:
        uids = [line.split()[1:] for line in f if line.startswith("Uid:")][0]
    assert set(uids) == {str(user.pw.pw_uid)}
    p = user.oci("exec", cid, "sh", "-c", "id -u; cat /proc/self/uid_map", check=True)
    assert p.stdout.split() == ["0", "0", str(user.pw.pw_uid), "1"]
    user.oci("exec", "--detach", cid, "sleep", "30", check=True)
    pids = json.loads(user.oci("ps", "--format", "json", cid, check=True).stdout)
    assert len(pids) == 2 and pids[0] == st["pid"], pids
    assert user.oci("exec", cid, "sh", "-c", "exit 3").returncode == 3
    user.oci("kill", cid, "KILL", check=True)
    for _ in range(200):
        if json.loads(user.oci("state", cid, check=True).stdout)["status"] == "stopped":
            break
    user.oci("delete", cid, check=True)
    assert_nothing_left(user, cid)


def test_run_with_the_rootless_flag_values(user):
    b = user_bundle(user, ["true"])
    for value in ("auto", "true"):
        user.oci("--rootless", value, "run", "--bundle", b, cid_(), check=True)
    p = user.oci("--rootless", "maybe", "run", "--bundle", b, cid_())
    assert p.returncode != 0 and "-rootless" in one_line(p)


# ---- what the container sees, against runc --rootless ------------------------------

VIEW = ("cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; grep ^Cap /proc/self/status; "
        # runc 1.1 leaves out the hybrid host's cgroup2 hierarchy; ocirun binds it too
        "echo MOUNTS; cut -d' ' -f5 /proc/self/mountinfo | grep -vx /sys/fs/cgroup/unified | sort; "
        "touch /tmp/x 2>/dev/null && echo WRITE-OK; true")


def _view(text):
    return text.split()


@pytest.mark.parametrize("wide", [False, True], ids=["own-id", "newuidmap"])
def test_container_sees_what_runc_rootless_shows(user, wide):
    maps = wide_map(user.pw) if wide else own_map(user.pw)

    def edit(c):
        if wide:
            c["process"]["user"] = {"uid": 1000, "gid": 1000}
    b = user_bundle(user, ["sh", "-c", VIEW], edit, maps)
    ours = user.oci("run", "--bundle", b, cid_(), check=True).stdout
    theirs = user.runc("run", "--bundle", b, cid_(), check=True).stdout
    assert _view(ours) == _view(theirs)
    if wide:
        assert ours.split()[:6] == ["0", str(user.pw.pw_uid), "1", "1", str(maps[0][1]["hostID"]), "65536"]
        assert "1000" in ours.split()[12:14]


def test_wide_map_is_the_subordinate_id_on_the_host(user):
    maps = wide_map(user.pw)

    def edit(c):
        c["process"]["user"] = {"uid": 1000, "gid": 1000}
    b = user_bundle(user, ["sleep", "30"], edit, maps)
    cid = cid_()
    user.oci("run", "--detach", "--bundle", b, cid, check=True)
    pid = json.loads(user.oci("state", cid, check=True).stdout)["pid"]
    with open(f"/proc/{pid}/status") as f:
        fields = {ln.split(":")[0]: ln.split()[1:] for ln in f}
    assert fields["Uid"][0] == str(maps[0][1]["hostID"] + 999)
    assert fields["Gid"][0] == str(maps[1][1]["hostID"] + 999)
    user.oci("delete", "--force", cid, check=True)
    assert_nothing_left(user, cid)


def test_map_outside_the_subordinate_range_is_one_clear_line(user):
    bad = [{"containerID": 0, "hostID": user.pw.pw_uid, "size": 1},
           {"containerID": 1, "hostID": 3_000_000, "size": 10}]
    b = user_bundle(user, ["true"], maps=(bad, own_map(user.pw)[1]))
    cid = cid_()
    p = user.oci("run", "--bundle", b, cid)
    assert p.returncode != 0
    line = one_line(p)
    assert "linux.uidMappings" in line and "newuidmap" in line, line
    assert_nothing_left(user, cid)


# ---- mounts -----------------------------------------------------------------

def test_bind_of_a_user_directory_and_read_only_root(user):
    data = os.path.join(user.home, "data-" + uuid.uuid4().hex[:6])
    os.mkdir(data)
    user.chown(data)

    def edit(c):
        c["root"]["readonly"] = True
        c["mounts"].append({"destination": "/data", "type": "bind", "source": data,
                            "options": ["rbind", "rw"]})
    b = user_bundle(user, ["sh", "-c", "cat /data/f 2>/dev/null; echo hi > /data/f && touch /x; echo rc=$?"],
                    edit)
    p = user.oci("run", "--bundle", b, cid_(), check=True)
    assert p.stdout.split() == ["rc=1"] and "Read-only file system" in p.stderr, (p.stdout, p.stderr)
    st = os.stat(os.path.join(data, "f"))
    assert (st.st_uid, st.st_gid) == (user.pw.pw_uid, user.pw.pw_gid)
    # runc --rootless on the same bundle: the same view (the file is there now)
    theirs = user.runc("run", "--bundle", b, cid_(), check=True)
    assert theirs.stdout.split() == ["hi", "rc=1"] and "Read-only file system" in theirs.stderr


def test_a_user_without_a_user_namespace_is_one_clear_error(user):
    def edit(c):
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "user"]
        del c["linux"]["uidMappings"], c["linux"]["gidMappings"]
    cid = cid_()
    p = user.oci("run", "--bundle", user_bundle(user, ["true"], edit), cid)
    assert p.returncode != 0
    assert "rootless container requires user namespaces" in one_line(p)
    assert_nothing_left(user, cid)


def test_locked_flags_of_a_bind_source_are_kept(user):
    """A ro,noatime source mounted by root: in the user's namespace those flags
    are locked; a remount asked only for nodev keeps them rather than failing."""
    src = os.path.join(user.env.base, "ro-" + uuid.uuid4().hex[:6])
    os.mkdir(src)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,noatime,nosuid,size=64k", "tmpfs", src], check=True)
    try:
        def edit(c):
            c["mounts"].append({"destination": "/mnt", "type": "bind", "source": src,
                                "options": ["rbind", "nodev"]})
        b = user_bundle(user, ["sh", "-c", "grep ' /mnt ' /proc/self/mountinfo"], edit)
        opts = user.oci("run", "--bundle", b, cid_(), check=True).stdout.split()[5].split(",")
        assert {"ro", "nosuid", "nodev", "noatime"} <= set(opts), opts
    finally:
        subprocess.run(["umount", "-l", src], check=False)


def test_sysfs_without_a_network_namespace_is_a_bind_of_the_host_sys(user):
    """sysfs needs the network namespace's owner: runc's template binds /sys;
    given sysfs anyway, ocirun binds it as crun does (runc 1.1 fails)."""
    def edit(c):
        c["ociVersion"] = "1.0.2-dev"  # what crun 1.8 accepts
        for m in c["mounts"]:
            if m["destination"] == "/sys":
                m.update(type="sysfs", source="sysfs", options=["nosuid", "noexec", "nodev", "ro"])
    b = user_bundle(user, ["sh", "-c", "grep ' /sys ' /proc/self/mountinfo; ls /sys/class | grep -c ."], edit)
    ours = user.oci("run", "--bundle", b, cid_(), check=True).stdout.split()
    theirs = user.run(["crun", "run", "--bundle", b, cid_()], check=True).stdout.split()
    assert ours[8] == theirs[8] == "sysfs"  # fstype: the host's sysfs
    assert ours[4] == theirs[4] == "/sys" and ours[5].startswith("ro,")
    assert int(ours[-1]) > 0 and ours[-1] == theirs[-1]


def test_devices_are_host_nodes_and_mqueue_is_mounted(user):
    b = user_bundle(user, ["sh", "-c", "echo x > /dev/null && head -c 4 /dev/zero | wc -c; "
                                       "grep -c ' /dev/mqueue .* mqueue ' /proc/self/mountinfo"])
    assert user.oci("run", "--bundle", b, cid_(), check=True).stdout.split() == ["4", "1"]


# ---- cgroups ------------------------------------------------------------

def test_limits_without_a_writable_cgroup_are_one_clear_error(user):
    def edit(c):
        c["linux"]["resources"] = {"memory": {"limit": 64 << 20}}
    cid = cid_()
    p = user.oci("run", "--bundle", user_bundle(user, ["true"], edit), cid)
    assert p.returncode != 0
    line = one_line(p)
    assert "linux.resources.memory" in line and "cgroup" in line, line
    assert_nothing_left(user, cid)


def test_pause_and_events_say_there_is_no_cgroup(user):
    cid = cid_()
    user.oci("run", "--detach", "--bundle", user_bundle(user, ["sleep", "30"]), cid, check=True)
    try:
        for args in (("pause", cid), ("events", "--stats", cid)):
            p = user.oci(*args)
            assert p.returncode != 0 and "no cgroup" in one_line(p), p.stderr
    finally:
        user.oci("delete", "--force", cid, check=True)
    assert_nothing_left(user, cid)


# ---- isolation --------------------------------------------------------------

def test_user_cannot_see_signal_or_delete_roots_or_another_users_containers(user, user2, oci, rootfs):
    # root's container, in a state root under a directory everyone can traverse
    root_state = os.path.join(user.env.base, "root-state-" + uuid.uuid4().hex[:6])
    oci.root = root_state
    rb = write_bundle(os.path.join(user.env.base, "rb-" + uuid.uuid4().hex[:6]),
                      default_config(rootfs, ["sleep", "60"]))
    rid = cid_()
    subprocess.run(oci.cmd("run", "--detach", "--bundle", rb, rid), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    # the user's container, under its XDG_RUNTIME_DIR
    uid_ = cid_()
    user.oci("run", "--detach", "--bundle", user_bundle(user, ["sleep", "60"]), uid_, check=True)
    user_state = os.path.join(user.xdg, "ocirun")
    try:
        for who, root, cid in ((user, root_state, rid), (user2, user_state, uid_)):
            assert who.oci("--root", root, "list", "-q").stdout.strip() == ""
            for args in (("state", cid), ("kill", cid, "KILL"), ("delete", "--force", cid),
                         ("exec", cid, "true")):
                p = who.oci("--root", root, *args)
                assert p.returncode != 0, (who.pw.pw_name, args, p.stdout)
                assert "permission denied" in one_line(p), p.stderr
        assert user2.oci("list", "-q", check=True).stdout.strip() == ""  # its own XDG root
        assert oci.state(rid)["status"] == "running"
        assert json.loads(user.oci("state", uid_, check=True).stdout)["status"] == "running"
    finally:
        user.oci("delete", "--force", uid_)
        oci.cleanup()
        shutil.rmtree(root_state, ignore_errors=True)


# ---- rootless podman --------------------------------------------------------

class UserPodman:
    """The user's own podman (podman-setup.sh: private storage and config, runtime = this
    checkout's ocirun for the user, network none), with a busybox image imported."""

    def __init__(self, u, image_tar):
        self.u = u
        self.base = os.path.join(u.home, "podman-" + uuid.uuid4().hex[:6])
        os.mkdir(self.base, 0o700)
        u.chown(self.base)
        setup = os.path.join(rootless_env.REPO, "tests", "engines", "podman-setup.sh")
        out = u.run(["bash", setup, self.base, u.launcher], check=True).stdout
        conf = dict(line.split("=", 1) for line in out.split())
        # A user's podman ignores graphroot: its storage goes to rootless_storage_path.
        with open(conf["CONTAINERS_STORAGE_CONF"], "a") as f:
            f.write(f'rootless_storage_path = "{self.base}/podman/graph"\n')
        home = os.path.join(self.base, "home")  # caches, cni lock: nothing in the user's real home
        os.mkdir(home)
        u.chown(home)
        self.env = u.environ(HOME=home, **conf)
        self("import", "--change", 'CMD ["/bin/sh"]', image_tar, "localhost/busybox", check=True)

    def __call__(self, *args, **kw):
        return self.u.run(["podman", *args], env=self.env, timeout=120, **kw)

    def shutdown(self):
        # Rootless podman keeps a pause process owning its user namespace (and the
        # overlay mounts in its mount namespace): stop it by its recorded pid.
        pidfile = os.path.join(self.base, "podman", "tmp", "pause.pid")
        try:
            with open(pidfile) as f:
                pid = int(f.read().strip())
            os.kill(pid, 9)
        except (OSError, ValueError):
            pass


@pytest.fixture(scope="module")
def user_podman(user):
    if not shutil.which("podman") or not shutil.which("newuidmap"):
        pytest.fail("podman/uidmap not installed: run .ci/install")
    tar = os.path.join(user.env.base, "busybox.tar")
    subprocess.run(["bash", os.path.join(rootless_env.REPO, "bundles", "mkrootfs-tar.sh"), tar], check=True,
                   stdout=subprocess.DEVNULL)
    os.chmod(tar, 0o644)
    p = UserPodman(user, tar)
    yield p
    p("rm", "--all", "--force", "--time", "0")
    p.shutdown()


def test_rootless_podman_run_rm_through_ocirun(user_podman, user):
    info = user_podman("info", "--format", "{{.Host.OCIRuntime.Path}} {{.Host.Security.Rootless}}",
                       check=True).stdout.split()
    assert info == [user.launcher, "true"]
    p = user_podman("run", "--rm", "localhost/busybox", "sh", "-c",
                    "cat /proc/self/uid_map; echo out-$((6*7)); exit 3")
    assert p.returncode == 3, p.stderr
    lines = p.stdout.split()
    # podman's own user namespace: the user, then its subordinate range
    assert lines[:3] == ["0", str(user.pw.pw_uid), "1"] and lines[-1] == "out-42", p.stdout
    assert user_podman("ps", "-aq", check=True).stdout.strip() == ""


def test_rootless_podman_detached_exec_stop_rm(user_podman):
    name = cid_()
    user_podman("run", "-d", "--name", name, "localhost/busybox", "sleep", "1000", check=True)
    p = user_podman("exec", "-e", "FOO=bar", name, "sh", "-c", "echo $FOO; exit 4")
    assert (p.returncode, p.stdout.strip()) == (4, "bar"), p.stderr
    user_podman("stop", "-t", "1", name, check=True)
    state = user_podman("inspect", "--format", "{{.State.Status}}", name, check=True).stdout.strip()
    assert state == "exited"
    user_podman("rm", name, check=True)
    assert user_podman("ps", "-aq", check=True).stdout.strip() == ""


def _tun_open_to_users():
    try:
        return bool(os.stat("/dev/net/tun").st_mode & 0o006)
    except OSError:
        return False


@pytest.mark.xfail(not _tun_open_to_users(), strict=True,
                   reason="this host's /dev/net/tun is not open to users (0600): slirp4netns cannot run")
def test_rootless_podman_with_slirp4netns(user_podman):
    """podman's rootless network (slirp4netns): the container has a tap0 with an address."""
    p = user_podman("run", "--rm", "--network", "slirp4netns", "localhost/busybox", "ip", "-4", "addr")
    assert p.returncode == 0, p.stderr
    assert "tap0" in p.stdout and "inet " in p.stdout
