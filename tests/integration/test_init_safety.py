"""The container's init is the host's Python running inside the container:
nothing of the container may get a hold on it, and nothing of the runtime
may leak into the container. Each test runs real containers.

- no Python code of the rootfs runs (sitecustomize, usercustomize, os.py,
  encodings, ocirun's own module names planted where an import would look);
- no fd of the caller or the runtime reaches the container (CVE-2024-21626),
  and a cwd through a leaked fd is refused;
- the init is not dumpable before exec (CVE-2016-9962): a process of the
  container's pid namespace cannot read its environ or exe;
- symlinks in the rootfs cannot send a mount outside it (CVE-2021-30465 family);
- a `#!/proc/self/exe` program cannot reach the host interpreter or libpython
  (CVE-2019-5736).
"""
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

from conftest import REPO, new_id

PY = os.path.realpath(sys.executable)


@pytest.fixture
def myroot(rootfs, tmp_path):
    """A private copy of the busybox rootfs this test may change."""
    d = tmp_path / "rootfs"
    subprocess.run(["cp", "-a", rootfs, str(d)], check=True)
    return d


def bind(source, destination, ro=False):
    return {"destination": destination, "type": "bind", "source": str(source),
            "options": ["rbind", "ro" if ro else "rw"]}


def detached(oci, tmp_path, *args, pre=()):
    """Run an ocirun command whose container outlives it (stdio to files, not pipes)."""
    err = tmp_path / f"stderr-{uuid.uuid4().hex[:8]}"
    out = tmp_path / f"stdout-{uuid.uuid4().hex[:8]}"
    with open(err, "w") as e, open(out, "w") as o:
        p = subprocess.run([*pre, *oci.cmd(*args)], stdin=subprocess.DEVNULL, stdout=o, stderr=e,
                           timeout=60)
    return subprocess.CompletedProcess(args, p.returncode, out.read_text(), err.read_text())


# ---- no Python code from the rootfs -----------------------------------------

def _marker_code(tag, host_dir):
    # Only builtins: os.py cannot import os, and the init imports nothing.
    return (f"for _p in ({str(host_dir)!r} + '/{tag}', '/markers/{tag}', '/planted-ran-{tag}'):\n"
            "    try:\n"
            "        open(_p, 'w').close()\n"
            "    except Exception:\n"
            "        pass\n")


def _plant(root, host_dir):
    """Plant code in every place an import of the init (or of Python's start-up)
    would look, inside the rootfs. Returns the planted directories (in-root)."""
    import sysconfig

    dirs = {"/", "/usr/lib/python3.11", "/usr/local/lib/python3.11/site-packages", "/app",
            REPO, *sys.path[1:]}
    dirs |= {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    dirs = sorted(d for d in dirs if d and d.startswith("/") and not d.endswith(".zip"))
    n = 0
    for d in dirs:
        target = root / d.lstrip("/")
        for rel in ("sitecustomize.py", "usercustomize.py", "os.py", "encodings/__init__.py",
                    "ocirun/__init__.py"):
            n += 1
            p = target / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(_marker_code(f"m{n}", host_dir))
    # ocirun's own modules, where ocirun.__path__ points after pivot_root.
    for dirpath, _dirs, files in os.walk(os.path.join(REPO, "ocirun")):
        for f in files:
            if f.endswith(".py"):
                n += 1
                p = root / os.path.relpath(os.path.join(dirpath, f), "/")
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(_marker_code(f"m{n}", host_dir))
    return dirs


def _no_marker(root, host_dir):
    ran = sorted(os.listdir(host_dir))
    ran += [f for f in os.listdir(root) if f.startswith("planted-ran-")]
    ran += [f for f in os.listdir("/") if f.startswith("planted-ran-")]
    assert ran == [], f"planted code ran: {ran}"


def test_no_python_code_from_the_rootfs_runs(oci, bundle, myroot, tmp_path):
    host_dir = tmp_path / "markers"
    host_dir.mkdir()
    dirs = _plant(myroot, host_dir)
    (myroot / "hook-ran").mkdir()
    env = dict(os.environ, PYTHONPATH=":".join(str(myroot / d.lstrip("/")) for d in dirs),
               PYTHONSTARTUP=str(myroot / "os.py"), PYTHONUSERBASE=str(myroot / "usr/local"))

    def base(c, args):
        c["root"]["path"] = str(myroot)
        c["process"]["args"] = args
        c["process"]["cwd"] = "/app"
        c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
        c["mounts"].append(bind(host_dir, "/markers"))
        c["hostname"] = "planted"

    def full(c):
        base(c, ["/bin/sh", "-c", "test -e /markers && echo ok"])
        c["hooks"] = {"createContainer": [{"path": "/bin/true"}],
                      "startContainer": [{"path": "/bin/true"}]}
        c["linux"]["sysctl"] = {"net.ipv4.ip_forward": "0"}

    def sysctl_fails(c):
        base(c, ["/bin/true"])
        c["linux"]["sysctl"] = {"kernel.no_such_sysctl": "1"}

    # Success (hooks in the init, a loopback up, sysctl), an exec that fails
    # after pivot_root, and a failure while setting up after pivot_root.
    cases = [(full, 0, "ok"), (lambda c: base(c, ["/nope"]), None, ""),
             (sysctl_fails, None, "")]
    for edit, rc, out in cases:
        b = bundle(edit=edit)
        p = subprocess.run(oci.cmd("run", "--bundle", b, new_id("py")), capture_output=True,
                           text=True, timeout=60, cwd=str(myroot / "app"), env=env)
        if rc is None:
            assert p.returncode != 0, p.stderr
        else:
            assert p.returncode == rc and p.stdout.strip() == out, p.stderr
        assert "Traceback" not in p.stderr, p.stderr
        _no_marker(myroot, host_dir)


# ---- fds ----------------------------------------------------------------------

HOLD_FDS = r"""
import os, socket, sys
f = os.open(sys.argv[1], os.O_RDONLY)
d = os.open("/sys/fs/cgroup", os.O_RDONLY | os.O_DIRECTORY)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
keep = [os.dup(x) for x in (d, f, s.fileno())]
for fd, target in zip(keep, (7, 8, 9)):
    os.dup2(fd, target)
if sys.argv[2] != "-":
    os.dup2(os.open(sys.argv[2], os.O_RDONLY), 3)
os.execv(sys.argv[3], sys.argv[3:])
"""


def _fds_in_container(oci, b, tmp_path, preserve=None):
    """`ls -l /proc/self/fd` of a container run while the caller holds fds
    7 (the host's /sys/fs/cgroup), 8 (a host file) and 9 (a socket)."""
    secret = tmp_path / "host-secret"
    secret.write_text("x")
    args = ["run", "--bundle", b, new_id("fd")]
    if preserve:
        args[1:1] = ["--preserve-fds", "1"]
    p = subprocess.run([PY, "-I", "-c", HOLD_FDS, str(secret), str(preserve or "-"), *oci.cmd(*args)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    fds = {}
    for line in p.stdout.splitlines():
        words = line.split()
        if "->" in words:
            i = words.index("->")
            fds[int(words[i - 1])] = " ".join(words[i + 1:])
        elif words and words[-1].isdigit():
            fds[int(words[-1])] = ""
    return fds


def test_no_fd_reaches_the_container(oci, bundle, tmp_path):
    """CVE-2024-21626: only stdio (and ls's own directory fd) are open."""
    fds = _fds_in_container(oci, bundle(["/bin/ls", "-l", "/proc/self/fd/"]), tmp_path)
    assert {0, 1, 2} <= set(fds), fds
    extra = {fd: t for fd, t in fds.items() if fd > 2}
    assert len(extra) == 1, f"fds beyond stdio and ls's own: {fds}"
    (fd, target), = extra.items()
    assert fd == 3 and (target == "" or target.startswith("/proc/")), fds
    for t in fds.values():
        assert "cgroup" not in t and "secret" not in t and "socket" not in t and "memfd" not in t


def test_preserve_fds(oci, bundle, tmp_path):
    """--preserve-fds 1 passes fd 3 (runc's flag), and only it."""
    keep = tmp_path / "preserved-file"
    keep.write_text("kept")
    b = bundle(["/bin/sh", "-c", "cat <&3; echo; ls -l /proc/self/fd/"])
    fds = _fds_in_container(oci, b, tmp_path, preserve=str(keep))
    assert fds.get(3, "").endswith("preserved-file"), fds
    assert not {7, 8, 9} & set(fds), fds
    assert max(fds) <= 4, fds  # 4: ls's own directory


def test_cwd_through_a_leaked_fd_is_refused(oci, bundle, tmp_path):
    """CVE-2024-21626: cwd /proc/self/fd/7, fd 7 being a host directory the
    runtime inherited, must not become the container's cwd."""
    b = bundle(["/bin/sh", "-c", "pwd; ls"], lambda c: c["process"].update(cwd="/proc/self/fd/7"))
    cid = new_id("fd")
    secret = tmp_path / "host-secret"
    secret.write_text("x")
    p = subprocess.run([PY, "-I", "-c", HOLD_FDS, str(secret), "-", *oci.cmd("run", "--bundle", b, cid)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0, p.stdout
    assert "cgroup" not in p.stdout and "memory" not in p.stdout, p.stdout
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "process.cwd" in lines[0], p.stderr
    assert any(w in lines[0] for w in ("outside", "breakout", "no such file")), lines
    assert not os.path.exists(os.path.join(oci.root, cid))


# ---- not dumpable before exec ------------------------------------------------------

def _join_pidns(bundle, pid, args, extra=None):
    def edit(c):
        for ns in c["linux"]["namespaces"]:
            if ns["type"] == "pid":
                ns["path"] = f"/proc/{pid}/ns/pid"
        if extra:
            extra(c)

    return bundle(args, edit)


PROBE = ("cat /proc/1/environ >/dev/null; echo environ=$?; "
         "readlink /proc/1/exe >/dev/null; echo exe=$?; "
         "grep CapEff /proc/self/status")


def test_init_is_not_dumpable_before_exec(oci, bundle, tmp_path):
    """CVE-2016-9962: a process in the container's pid namespace, without
    CAP_SYS_PTRACE (the default capabilities), can read neither /proc/1/environ
    nor /proc/1/exe of the created init. After start the container's own
    program is dumpable again and the same reads succeed (the probe works)."""
    a = new_id("dump")
    p = detached(oci, tmp_path, "create", "--bundle", bundle(["/bin/sleep", "30"]), a)
    assert p.returncode == 0, p.stderr
    pid = oci.state(a)["pid"]
    probe = _join_pidns(bundle, pid, ["/bin/sh", "-c", PROBE])
    before = oci("run", "--bundle", probe, new_id("probe"), check=True)
    caps = int(before.stdout.split("CapEff:")[1].split()[0], 16)
    assert not caps & (1 << 19), "the probe must run without CAP_SYS_PTRACE"
    assert "environ=1" in before.stdout and "exe=1" in before.stdout, before.stdout
    assert before.stderr.count("ermission denied") >= 1, before.stderr
    oci("start", a, check=True)
    after = oci("run", "--bundle", probe, new_id("probe"), check=True)
    assert "environ=0" in after.stdout and "exe=0" in after.stdout, after.stdout
    oci("delete", "--force", a, check=True)


# ---- hostile symlinks in the rootfs --------------------------------------------

def _tmpfs(dest):
    return {"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}


def _untouched(d):
    assert os.listdir(d) == [], f"{d} was written to: {os.listdir(d)}"


def test_symlinks_cannot_lead_mounts_out_of_the_rootfs(oci, bundle, myroot, tmp_path):
    host = tmp_path / "host-marker-dir"
    host.mkdir()
    hostdev = f"/tmp/ocirun-hostdev-{uuid.uuid4().hex[:8]}"
    clamp = f"ocirun-clamp-{uuid.uuid4().hex[:8]}"
    os.mkdir(hostdev)
    try:
        (myroot / "evil").symlink_to("/")
        # Followed on the host, this climbs out of the rootfs into `host`.
        (myroot / "tmp/x").symlink_to(os.path.relpath(host, myroot / "tmp"))
        shutil.rmtree(myroot / "dev")
        (myroot / "dev").symlink_to(hostdev)
        (myroot / hostdev.lstrip("/")).mkdir(parents=True)
        src = tmp_path / "bind-me"
        src.write_text("bound")

        def edit(c):
            c["root"]["path"] = str(myroot)
            c["mounts"] += [_tmpfs("/evil/mnt-evil"), _tmpfs("/tmp/x/sub"),
                            {**bind(src, "/tmp/x/file", ro=True), "options": ["bind", "ro"]},
                            _tmpfs(f"/../../../../tmp/{clamp}")]

        b = bundle(["/bin/sh", "-c", "cut -d' ' -f5 /proc/self/mountinfo; cat /tmp/x/file; echo; "
                                     "ls /dev/null /dev/pts/ptmx"], edit)
        before = set(open("/proc/self/mountinfo"))
        p = oci("run", "--bundle", b, new_id("link"))
        assert p.returncode == 0, p.stderr
        points = p.stdout.split()
        rel_host = "/" + os.path.basename(host)  # ../.. clamps at the root
        for m in ("/mnt-evil", f"{rel_host}/sub", f"{rel_host}/file", f"/tmp/{clamp}", hostdev,
                  f"{hostdev}/pts"):
            assert m in points, f"{m} not mounted inside: {points}"
        assert "bound" in points and "/dev/null" in points
        # Everything landed in the rootfs; nothing was created or mounted on the host.
        assert (myroot / "mnt-evil").is_dir() and (myroot / rel_host.lstrip("/") / "sub").is_dir()
        assert (myroot / "tmp" / clamp).is_dir()
        assert not os.path.exists("/mnt-evil") and not os.path.exists(f"/tmp/{clamp}")
        _untouched(host)
        _untouched(hostdev)
        # No mount of ours on the host (only lines naming this test's paths: other
        # programs may mount and unmount meanwhile).
        ours = tuple(map(str, (tmp_path, host, hostdev, clamp, "mnt-evil")))
        after = set(open("/proc/self/mountinfo"))
        assert {m for m in after - before if any(x in m for x in ours)} == set()
    finally:
        shutil.rmtree(hostdev, ignore_errors=True)


@pytest.mark.parametrize("target", ["absolute", "relative"])
def test_proc_symlink_is_refused(oci, bundle, myroot, tmp_path, target):
    """CVE-2019-19921: proc is never mounted over a symlink (config.md#mounts)."""
    host = tmp_path / "host-dir"
    host.mkdir()
    shutil.rmtree(myroot / "proc")
    link = str(host) if target == "absolute" else os.path.relpath(host, myroot)
    (myroot / "proc").symlink_to(link)
    (myroot / str(host).lstrip("/")).mkdir(parents=True)  # so the link resolves inside too
    cid = new_id("proc")
    p = oci("run", "--bundle", bundle(["/bin/true"], lambda c: c["root"].update(path=str(myroot))), cid)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "/proc" in lines[0], p.stderr
    assert "not a directory" in lines[0] or "symlink" in lines[0], lines
    _untouched(host)
    assert not os.path.exists(os.path.join(oci.root, cid))


# ---- /proc/self/exe -------------------------------------------------------------

def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _host_binaries():
    """The host interpreter, its libpython and our own compiled parts."""
    files = {PY}
    with open("/proc/self/maps") as f:
        files |= {line.split()[-1] for line in f if "libpython" in line}
    files |= {os.path.join(REPO, "ocirun", n) for n in os.listdir(os.path.join(REPO, "ocirun"))
              if n == "ocirun-exec" or n.endswith(".so")}
    return {p: _sha(p) for p in sorted(files)}


def test_proc_self_exe_cannot_reach_the_host(oci, bundle, myroot, tmp_path):
    """CVE-2019-5736: /bin/evil is `#!/proc/self/exe`. As the container
    process it gets the sealed ocirun-exec copy (which refuses to run), from a
    shell it gets the container's own busybox; and while the container's init
    is alive, another process of its pid namespace cannot open
    /proc/1/exe for writing."""
    hashes = _host_binaries()
    assert any("libpython" in p for p in hashes) or not os.path.exists(
        os.path.join(os.path.dirname(PY), "..", "lib", "libpython3.11.so.1.0"))
    evil = myroot / "bin/evil"
    evil.write_text("#!/proc/self/exe\necho escaped\n")
    evil.chmod(0o755)

    def at(args, extra=None):
        def edit(c):
            c["root"]["path"] = str(myroot)
            if extra:
                extra(c)
        return bundle(args, edit)

    p = oci("run", "--bundle", at(["/bin/evil"]), new_id("exe"))
    assert p.returncode == 127 and "escaped" not in p.stdout, (p.stdout, p.stderr)
    assert "refusing to run outside of ocirun" in p.stderr, p.stderr
    p = oci("run", "--bundle", at(["/bin/sh", "-c", "/bin/evil; echo rc=$?"]), new_id("exe"))
    assert p.returncode == 0 and "escaped" not in p.stdout and "rc=" in p.stdout, (p.stdout, p.stderr)

    # A: created with /bin/evil; B: in A's pid namespace, tries to open
    # /proc/1/exe read-write in a loop, while A is created and then started.
    log = tmp_path / "log"
    log.mkdir()
    a = new_id("exe")
    p = detached(oci, tmp_path, "create", "--bundle", at(["/bin/evil"]), a)
    assert p.returncode == 0, p.stderr
    pid = oci.state(a)["pid"]
    loop = ("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); echo t >>/log/tries; "
            "true 2>>/log/err 3<>/proc/1/exe && echo OPENED >>/log/opened; done")
    probe = _join_pidns(bundle, pid, ["/bin/sh", "-c", loop],
                        lambda c: (c["root"].update(path=str(myroot)), c["mounts"].append(bind(log, "/log"))))
    b = subprocess.Popen(oci.cmd("run", "--bundle", probe, new_id("probe")), stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not (log / "tries").exists() or os.path.getsize(log / "tries") < 100:
            assert b.poll() is None and time.monotonic() < deadline, "the probe did not run"
            time.sleep(0.01)
        oci("start", a, check=True)
        # A's program exits at once (ocirun-exec refuses it); its pid
        # namespace goes, and the probe with it.
        assert b.wait(timeout=30) in (-signal.SIGKILL, 128 + signal.SIGKILL, 137), b.returncode
    finally:
        if b.poll() is None:
            b.kill()
            b.wait()
    assert not (log / "opened").exists(), "a container process opened the init's exe for writing"
    errors = (log / "err").read_text()
    assert "Permission denied" in errors or "Text file busy" in errors, errors[:500]
    assert _host_binaries() == hashes
    oci("delete", "--force", a, check=True)
