"""Regression tests for runc's CVE classes, one real container (or more) each.

Not repeated here (tests/integration/test_init_safety.py has them): planted
sitecustomize/encodings, fd leaks (CVE-2024-21626), the non-dumpable init
(CVE-2016-9962), hostile symlinks on mount destinations and /proc/self/exe
(CVE-2019-5736).

Each test names its CVE; /work/shared/notes/reliability-and-security.md
has the attack and runc's guard for each.
"""
import os
import shutil
import stat
import subprocess

import pytest

from conftest import default_config, mountinfo, new_id, oci_files, status_fields, write_bundle
from ocirun import lsm
from ocirun.errors import OciError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runs containers")


# ---- helpers ----------------------------------------------------------------

@pytest.fixture
def make(tmp_path, rootfs):
    """make(args, edit=fn(config), prepare=fn(rootfs_dir)) -> bundle on a private rootfs copy."""
    n = [0]

    def mk(args=("/bin/true",), edit=None, prepare=None):
        n[0] += 1
        b = tmp_path / f"bundle{n[0]}"
        r = b / "rootfs"
        shutil.copytree(rootfs, r, symlinks=True)
        if prepare:
            prepare(r)
        c = default_config(str(r), list(args))
        if edit:
            edit(c)
        return write_bundle(b, c)

    return mk


def one_line(p):
    lines = p.stderr.strip().splitlines()
    assert "Traceback" not in p.stderr, p.stderr
    assert len(lines) == 1, f"expected one line on stderr, got:\n{p.stderr}"
    return lines[0]


def assert_nothing_left(oci, cid, mounts_before=None, needle=None):
    from ocirun import cgroups

    assert oci("list", "-q").stdout.split() == []
    assert not os.path.lexists(os.path.join(oci.root, cid)), "state directory left"
    left = [d for d in cgroups.create_manager(None, cid).paths.values() if os.path.exists(d)]
    assert left == [], f"cgroup directories left: {left}"
    if mounts_before is not None:
        new = {m for m in mountinfo() - mounts_before if needle in m or cid in m}
        assert new == set(), f"new host mounts: {new}"


def fail_create(oci, b, *words, needle=None):
    """create must fail with one line holding every word, leaving nothing."""
    before = mountinfo()
    cid = new_id("cve")
    p = oci("create", "--bundle", b, cid)
    assert p.returncode == 1, (p.stdout, p.stderr)
    line = one_line(p)
    for w in words:
        assert w in line, f"{w!r} not in {line!r}"
    assert_nothing_left(oci, cid, before, needle or os.path.dirname(b))
    return line


CAP_CHOWN, CAP_NET_RAW = 0, 13


# ---- CVE-2016-3697: numeric users are never names ---------------------------

def plant_user_named_1000(r):
    """An image whose /etc/passwd has a user NAMED "1000" that is uid 0, first."""
    passwd = r / "etc" / "passwd"
    passwd.write_text("1000:x:0:0:evil:/root:/bin/sh\n" + passwd.read_text())
    group = r / "etc" / "group"
    group.write_text("1000:x:0:\n" + group.read_text())


IDS = "id -u; id -g; grep -E '^(Uid|Gid|CapEff)' /proc/self/status; echo HOME=$HOME"


def test_cve_2016_3697_numeric_uid_is_not_looked_up_as_a_name(oci, make):
    """CVE-2016-3697: process.user.uid 1000 runs as uid 1000 even though the
    image names a uid-0 user "1000" (config.md#posix-platform-user: uid is
    the user ID in the container namespace, a number)."""
    def edit(c):
        c["process"]["user"] = {"uid": 1000, "gid": 1000}

    p = oci("run", "--bundle", make(["/bin/sh", "-c", IDS], edit, plant_user_named_1000), new_id())
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[:2] == ["1000", "1000"]
    f = status_fields(p.stdout)
    assert f["Uid"].split() == ["1000"] * 4 and f["Gid"].split() == ["1000"] * 4
    assert int(f["CapEff"], 16) == 0
    assert "HOME=/home/user" in lines  # looked up by number, not by the name "1000"


def test_cve_2016_3697_exec_user_is_numeric(oci, make):
    """CVE-2016-3697: `exec --user 1000` (and 1000:1000) is uid 1000, never the user named "1000"."""
    cid = new_id()
    oci_files(oci, "run", "--detach", "--bundle", make(["/bin/sleep", "30"], None, plant_user_named_1000),
              cid, check=True)
    for user in ("1000", "1000:1000"):
        p = oci("exec", "--user", user, cid, "/bin/sh", "-c", IDS)
        assert p.returncode == 0, p.stderr
        f = status_fields(p.stdout)
        assert p.stdout.splitlines()[0] == "1000"
        assert f["Uid"].split() == ["1000"] * 4
        assert int(f["CapEff"], 16) == 0
        if user == "1000:1000":
            assert f["Gid"].split() == ["1000"] * 4
    # a name is not a uid: rejected, not looked up
    p = oci("exec", "--user", "root", cid, "/bin/id", "-u")
    assert p.returncode != 0 and p.stdout == ""


# ---- CVE-2022-29162: no inheritable capabilities unless asked ----------------

def test_cve_2022_29162_create_leaves_inheritable_empty(oci, make):
    """CVE-2022-29162: with no process.capabilities.inheritable the container's
    inheritable set is empty, both in the created init and in the process."""
    cid = new_id()
    b = make(["/bin/sh", "-c", "grep -E '^Cap' /proc/self/status"])
    oci_files(oci, "create", "--bundle", b, cid, check=True)
    with open(f"/proc/{oci.state(cid)['pid']}/status") as f:
        init = status_fields(f.read())
    assert int(init["CapInh"], 16) == 0 and int(init["CapAmb"], 16) == 0
    oci("delete", "--force", cid, check=True)
    p = oci("run", "--bundle", b, new_id())
    assert p.returncode == 0, p.stderr
    f = status_fields(p.stdout)
    assert int(f["CapInh"], 16) == 0
    assert int(f["CapEff"], 16) != 0  # the default set is there, just not inheritable


def test_cve_2022_29162_exec_cap_is_not_inheritable(oci, make):
    """CVE-2022-29162: `exec --cap CAP_NET_RAW` adds it to the bounding,
    effective and permitted sets only, never to inheritable (nor so to ambient)."""
    cid = new_id()
    oci_files(oci, "run", "--detach", "--bundle", make(["/bin/sleep", "30"]), cid, check=True)
    p = oci("exec", "--cap", "CAP_NET_RAW", cid, "/bin/grep", "^Cap", "/proc/self/status")
    assert p.returncode == 0, p.stderr
    f = status_fields(p.stdout)
    assert int(f["CapInh"], 16) == 0
    assert int(f["CapAmb"], 16) & (1 << CAP_NET_RAW) == 0
    for s in ("CapPrm", "CapEff", "CapBnd"):
        assert int(f[s], 16) & (1 << CAP_NET_RAW), s


def test_cve_2022_29162_inheritable_only_what_is_listed(oci, make):
    """config.md#linux-process: inheritable is exactly the listed set."""
    def edit(c):
        caps = c["process"]["capabilities"]
        for s in ("bounding", "permitted", "effective"):
            caps[s] = list(caps[s]) + ["CAP_CHOWN"]
        caps["inheritable"] = ["CAP_CHOWN"]

    p = oci("run", "--bundle", make(["/bin/grep", "^Cap", "/proc/self/status"], edit), new_id())
    assert p.returncode == 0, p.stderr
    assert int(status_fields(p.stdout)["CapInh"], 16) == 1 << CAP_CHOWN


# ---- CVE-2019-16884: labels only ever written to procfs ---------------------

FAKE_PROC_CHILD_OK, FAKE_PROC_WROTE, FAKE_PROC_OTHER = 0, 1, 2


def _in_fake_proc(fake_mountinfo):
    """In a child with a private mount namespace whose /proc is a tmpfs the
    "image" controls (with attr files, and optionally a mountinfo claiming
    that tmpfs is procfs), call lsm._write_attr. Exit code: 0 refused with
    OciError and the file untouched, 1 the label was written, 2 anything else."""
    from ocirun import syscalls as sc

    pid = os.fork()
    if pid == 0:
        code = FAKE_PROC_OTHER
        try:
            sc.unshare(sc.CLONE_NEWNS)
            sc.mount(None, "/", None, sc.MS_SLAVE | sc.MS_REC)
            sc.mount("tmpfs", "/proc", "tmpfs", 0, "mode=755")
            for d in ("/proc/thread-self/attr", "/proc/self"):
                os.makedirs(d)
            with open("/proc/thread-self/attr/exec", "w"):
                pass
            if fake_mountinfo:
                dev = os.stat("/proc").st_dev
                with open("/proc/self/mountinfo", "w") as f:
                    f.write(f"1 0 {os.major(dev)}:{os.minor(dev)} / /proc rw - proc proc rw\n")
            try:
                lsm._write_attr("exec", "unconfined_t")
            except OciError:
                with open("/proc/thread-self/attr/exec") as f:
                    code = FAKE_PROC_CHILD_OK if f.read() == "" else FAKE_PROC_WROTE
            else:
                code = FAKE_PROC_WROTE
        except BaseException:  # noqa: B902 - reported as the exit code
            code = FAKE_PROC_OTHER
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.parametrize("fake_mountinfo", [False, True], ids=["plain-tmpfs", "forged-mountinfo"])
def test_cve_2019_16884_label_write_refuses_a_fake_proc(fake_mountinfo):
    """CVE-2019-16884: an image-controlled /proc (a tmpfs) must not receive the
    label write, even when its own /proc/self/mountinfo claims to be procfs."""
    assert _in_fake_proc(fake_mountinfo) == FAKE_PROC_CHILD_OK


def test_cve_2019_16884_label_write_reaches_real_procfs():
    """The control: on the real procfs the guard lets the write through (this
    host has no LSM, so the kernel itself then refuses the label: EINVAL)."""
    with pytest.raises(OSError) as exc:
        lsm._write_attr("exec", "unconfined_t")
    assert not isinstance(exc.value, OciError)


@pytest.mark.skipif(lsm.apparmor_enabled() or lsm.selinux_enabled(), reason="this host has an LSM")
@pytest.mark.parametrize("edit, path", [
    (lambda c: c["process"].update(apparmorProfile="docker-default"), "process.apparmorProfile"),
    (lambda c: c["process"].update(selinuxLabel="system_u:system_r:container_t:s0"), "process.selinuxLabel"),
    (lambda c: c["linux"].update(mountLabel="system_u:object_r:container_file_t:s0"), "linux.mountLabel"),
], ids=["apparmor", "selinux", "mount-label"])
def test_cve_2019_16884_label_without_the_lsm_fails_cleanly(oci, make, edit, path):
    """CVE-2019-16884 (its other half: never run unconfined while believing a
    label was applied): a label for an LSM this host lacks is one clear error,
    and nothing is left."""
    fail_create(oci, make(edit=edit), path, "not enabled")


# ---- CVE-2019-19921 / CVE-2023-27561: symlinked /proc, masked symlinks ------

@pytest.mark.parametrize("where", ["inside", "host"])
def test_cve_2023_27561_sys_symlink_is_refused(oci, make, tmp_path, where):
    """CVE-2019-19921, CVE-2023-27561 (runc mask.bats "prohibit symlink
    /sys"): the rootfs's /sys is a symlink; sysfs is never mounted through
    it (its masks would land elsewhere): create fails naming it, nothing is
    left, and a host directory it points at is untouched. (/proc as a
    symlink: test_init_safety.py.)"""
    host = tmp_path / "host-target"
    host.mkdir()

    def prepare(r):
        (r / "elsewhere").mkdir()
        shutil.rmtree(r / "sys")
        os.symlink("/elsewhere" if where == "inside" else str(host), r / "sys")

    line = fail_create(oci, make(prepare=prepare), "/sys")
    assert "not a directory" in line or "symlink" in line, line
    assert os.listdir(host) == [] and not os.path.ismount(host)


@pytest.mark.parametrize("link", ["absolute", "climbing"])
def test_cve_2019_19921_masked_symlink_is_not_followed_out(oci, make, tmp_path, link):
    """CVE-2019-19921 / CVE-2023-27561: a maskedPaths entry that is a symlink
    pointing out of the container resolves inside the rootfs: the host file
    is neither masked nor touched."""
    secret = tmp_path / "host-secret"
    secret.write_text("host data\n")

    def prepare(r):
        target = str(secret) if link == "absolute" else "../" * 30 + str(secret).lstrip("/")
        os.symlink(target, r / "etc" / "masklink")

    def edit(c):
        c["linux"]["maskedPaths"].append("/etc/masklink")

    before = mountinfo()
    script = "cat /proc/self/mountinfo; echo ==; cat /etc/masklink; echo rc=$?"
    p = oci("run", "--bundle", make(["/bin/sh", "-c", script], edit, prepare), new_id())
    assert p.returncode == 0, p.stderr
    mounts, rest = p.stdout.split("==\n")
    points = [line.split()[4] for line in mounts.splitlines()]
    assert "/etc/masklink" not in points and str(secret) not in points
    assert rest.strip() == "rc=1"  # dangling inside the container
    assert secret.read_text() == "host data\n"
    assert {m for m in mountinfo() - before if str(secret) in m} == set()


# ---- CVE-2025-31133: masking only with the real /dev/null -------------------

def _host_dev(tmp_path, null):
    """A host directory to bind at /dev whose `null` is `null` (see below)."""
    d = tmp_path / "hostdev"
    d.mkdir()
    target = tmp_path / "core_pattern"
    target.write_text("|/original\n")
    if null == "regular-file":
        (d / "null").write_text("not a device\n")
    elif null == "symlink":
        os.symlink(str(target), d / "null")
    elif null == "wrong-device":
        os.mknod(d / "null", stat.S_IFCHR | 0o666, os.makedev(1, 5))  # /dev/zero's numbers
    else:
        os.mknod(d / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return d, target


def _bind_dev(hostdev):
    def edit(c):
        c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/dev"]
        c["mounts"].insert(1, {"destination": "/dev", "type": "bind", "source": str(hostdev),
                               "options": ["rbind"]})
    return edit


@pytest.mark.parametrize("null", ["regular-file", "symlink", "wrong-device"])
def test_cve_2025_31133_fake_dev_null_is_never_used_to_mask(oci, make, tmp_path, null):
    """CVE-2025-31133: /dev (bound from a prepared host directory) has a
    /dev/null that is not the null device; masking a file (/proc/keys) with
    it would bind an attacker-chosen file over the masked path. Create must
    refuse, one line, nothing left, and the files are untouched."""
    hostdev, target = _host_dev(tmp_path, null)
    before = (hostdev / "null").read_text() if null == "regular-file" else None
    line = fail_create(oci, make(["/bin/true"], _bind_dev(hostdev)), "/dev/null")
    assert "null device" in line, line
    assert target.read_text() == "|/original\n"
    if before is not None:
        assert (hostdev / "null").read_text() == before


def test_cve_2025_31133_real_dev_null_masks(oci, make, tmp_path):
    """The control: the same bound /dev with a real 1:3 node works, and the
    masked files read empty through it."""
    hostdev, _ = _host_dev(tmp_path, "real")
    script = "wc -c < /proc/keys; grep -c ' /proc/keys ' /proc/self/mountinfo; stat -c %t:%T /dev/null"
    p = oci("run", "--bundle", make(["/bin/sh", "-c", script], _bind_dev(hostdev)), new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["0", "1", "1:3"]


# ---- CVE-2024-45310: mount points under dangling symlinks -------------------

@pytest.mark.parametrize("link", ["absolute", "climbing"])
def test_cve_2024_45310_nothing_created_outside_the_rootfs(oci, make, tmp_path, link):
    """CVE-2024-45310: mount destinations below dangling symlinks in the
    rootfs, pointing at host paths that do not exist anywhere (so a
    MkdirAll that followed them on the host would create them), never
    create anything on the host, whether the runtime follows them inside
    the rootfs or refuses. (Symlinks to existing host directories:
    test_init_safety.py.)"""
    outside = tmp_path / "outside"      # must never come to exist
    source = tmp_path / "src-file"
    source.write_text("bound\n")

    def target(name):
        p = str(outside / name)
        return p if link == "absolute" else "../" * 30 + p.lstrip("/")

    def prepare(r):
        os.symlink(target("dir"), r / "dangle-dir")
        (r / "mnt").mkdir()
        os.symlink(target("file"), r / "mnt" / "dangle-file")

    def edit(c):
        c["mounts"] += [
            {"destination": "/dangle-dir/sub/deeper", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/mnt/dangle-file", "type": "bind", "source": str(source), "options": ["bind"]},
        ]

    before = mountinfo()
    cid = new_id()
    # Followed inside the root, the tmpfs is where the link points (mountinfo names that).
    b = make(["/bin/sh", "-c", f"cat /mnt/dangle-file; grep -c ' {outside}/dir/sub/deeper ' /proc/self/mountinfo"],
             edit, prepare)
    p = oci("run", "--bundle", b, cid)
    assert not os.path.lexists(outside), os.listdir(outside)
    if p.returncode == 0:
        assert p.stdout.split() == ["bound", "1"]
        # what was made is inside the rootfs
        assert os.path.isdir(os.path.join(b, "rootfs", str(outside).lstrip("/"), "dir", "sub", "deeper"))
    else:
        one_line(p)
        assert_nothing_left(oci, cid, before, str(tmp_path))
    assert source.read_text() == "bound\n"


# ---- CVE-2023-25809: /sys/fs/cgroup read-only when the config says ro --------

@pytest.mark.parametrize("variant", ["host-cgroupns", "cgroupns", "userns"])
def test_cve_2023_25809_cgroup_mount_is_read_only(oci, make, variant):
    """CVE-2023-25809: the config's /sys/fs/cgroup mount is "ro": every mount
    at or below it is read-only inside, and nothing can be made there (the
    CVE's case is the one without a cgroup namespace)."""
    def edit(c):
        if variant == "cgroupns":
            c["linux"]["namespaces"].append({"type": "cgroup"})
        if variant == "userns":
            m = [{"containerID": 0, "hostID": 0, "size": 65536}]
            c["linux"]["namespaces"].append({"type": "user"})
            c["linux"]["uidMappings"] = m
            c["linux"]["gidMappings"] = m

    script = r"""
grep ' /sys/fs/cgroup' /proc/self/mountinfo | awk '{print $5, $6}'
echo ==
mkdir /sys/fs/cgroup/new 2>&1; echo "top rc=$?"
for d in /sys/fs/cgroup/*/; do
  [ -L "${d%/}" ] && continue
  mkdir "$d/ocirun-cve-probe" 2>/dev/null && echo "WRITABLE $d"
done
echo done
"""
    p = oci("run", "--bundle", make(["/bin/sh", "-c", script], edit), new_id())
    assert p.returncode == 0, p.stderr
    mounts, rest = p.stdout.split("==\n")
    rows = [line.split() for line in mounts.strip().splitlines()]
    assert len(rows) >= 2, mounts  # the tmpfs and the hierarchies (cgroup v1 here)
    for point, opts in rows:
        assert opts.split(",")[0] == "ro", (point, opts)
    assert "Read-only file system" in rest and "top rc=1" in rest
    assert "WRITABLE" not in rest and rest.strip().endswith("done")


def test_cve_2019_16884_only_procfs_on_proc(oci, bundle, tmp_path):
    """CVE-2019-16884: a bind of a non-procfs directory over /proc (where label
    and sysctl writes would then land) is refused, as runc's checkProcMount;
    the lxcfs-style files under /proc stay allowed."""
    fake = tmp_path / "fakeproc"
    fake.mkdir()
    cid = new_id()
    b = bundle(args=["/bin/true"], edit=lambda c: c["mounts"].append(
        {"destination": "/proc", "type": "bind", "source": str(fake), "options": ["rbind"]}))
    p = oci("run", "--bundle", b, cid)
    assert p.returncode != 0
    assert "only procfs may be mounted on /proc" in p.stderr
    assert oci("list", "-q").stdout == ""
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 1 kB\n")
    b = bundle(args=["/bin/cat", "/proc/meminfo"], edit=lambda c: c["mounts"].append(
        {"destination": "/proc/meminfo", "type": "bind", "source": str(meminfo), "options": ["bind"]}))
    p = oci("run", "--bundle", b, new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout == "MemTotal: 1 kB\n"


def test_mount_label_goes_to_context_option():
    """linux.mountLabel (config-linux.md#mount-label) becomes context= on the
    filesystems that take it (applied only where SELinux is enabled: on this
    host lsm.check refuses the config, see the CVE-2019-16884 tests above)."""
    from ocirun import rootfs

    assert rootfs.with_mount_label("mode=755", "tmpfs", "system_u:object_r:x:s0") == \
        'mode=755,context="system_u:object_r:x:s0"'
    assert rootfs.with_mount_label("", "mqueue", "l") == 'context="l"'
    assert rootfs.with_mount_label("mode=755", "proc", "l") == "mode=755"
    assert rootfs.with_mount_label("mode=755", "tmpfs", None) == "mode=755"
