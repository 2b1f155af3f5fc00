"""An attacker inside: a container that holds CAP_SYS_PTRACE watches
/proc/*/{root,cwd,exe,fd} of every process it can see while the host runs
`exec` (and `create` into its pid namespace) in a loop. Whatever it reaches
must be the container's: no host file is ever written, no host namespace fd
or host path is reachable, and the executable it can open is never a host
file (issue 10 items 1-3; CVE-2019-5736 is the pattern).

Every loop is bounded (a count and a few seconds).
"""
import os
import subprocess
import sys
import time

import shutil
import tempfile

import pytest

from conftest import default_config, new_id, oci_files, wait_until, write_bundle
from test_userns import open_base, with_userns  # noqa: F401 - a fixture

# Every 'ls -l' line of /proc/PID/fd the attacker saw, and what it wrote.
WATCH = r"""
me=$$
: > /tmp/fds
while [ ! -e /tmp/stop ]; do
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" = "$me" ] && continue
    echo x 2>/dev/null > "$p/root$HOSTDIR/root-$pid"
    echo x 2>/dev/null > "$p/cwd/cwd-$pid"
    if [ -r "$p/exe" ] 2>/dev/null; then
      stat -L -c "exe %d:%i" "$p/exe" 2>/dev/null >> /tmp/fds
    fi
    for f in $p/fd/*; do
      l=$(readlink "$f" 2>/dev/null) && echo "fd $pid $l" >> /tmp/fds
    done
  done
done
echo done > /tmp/finished
exec sleep 600
"""

# What a process of the container may hold: nothing that names the host.
ALLOWED_FD = ("pipe:", "socket:", "anon_inode:", "/dev/null", "/dev/pts/", "/memfd:ocirun-exec",
              "/tmp/fds", "/proc/", "/etc/passwd")


@pytest.fixture
def hostdir():
    """A host directory anyone may write: a write through a host root lands here."""
    d = tempfile.mkdtemp(prefix="ocirun-attacker-", dir="/tmp")
    os.chmod(d, 0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _attacker(bundle, tmp_path, extra_caps=("CAP_SYS_PTRACE",), userns=False):
    def edit(c):
        caps = c["process"]["capabilities"]
        for s in ("bounding", "effective", "permitted"):
            caps[s] = list(dict.fromkeys(list(caps[s]) + list(extra_caps)))
        c["process"]["env"].append(f"HOSTDIR={tmp_path}")
        c["process"]["cwd"] = "/tmp"
        c["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                            "options": ["nosuid", "nodev", "mode=1777"]})
        if userns:
            with_userns(c)
    return bundle(["/bin/sh", "-c", WATCH], edit)


def _edited(root, args, edit):
    c = default_config(root, args)
    edit(c)
    return c


def _host_files_written(tmp_path):
    return sorted(n for n in os.listdir(tmp_path) if n.startswith(("root-", "cwd-")))


def _seen(oci, cid, cwd):
    """Stop the watcher; what it saw. (Run from cwd: a host cwd leaked to the
    container would get the attacker's files there.)"""
    oci("exec", cid, "/bin/touch", "/tmp/stop", check=True, cwd=cwd)
    wait_until(lambda: oci("exec", cid, "/bin/cat", "/tmp/finished", cwd=cwd).stdout.strip() == "done",
               timeout=20, what="the watcher to stop")
    return oci("exec", cid, "/bin/cat", "/tmp/fds", check=True, cwd=cwd).stdout.splitlines()


def _exec_loop(oci, cid, cwd, seconds=3.0, count=40, least=5):
    """exec /bin/true for `seconds` (at least `least`, at most `count` times)."""
    deadline = time.monotonic() + seconds
    n = 0
    while n < count and (n < least or time.monotonic() < deadline):
        p = subprocess.run(oci.cmd("exec", cid, "/bin/true"), cwd=cwd, capture_output=True, timeout=30)
        assert p.returncode == 0, p.stderr
        n += 1
    return n


@pytest.mark.parametrize("userns", [False, True], ids=["ptrace", "userns-all-caps"])
def test_exec_never_shows_host_root_cwd_or_fds(oci, bundle, hostdir, userns, request, tmp_path):
    """Item 1 and 3: the exec'd process is in the container's root and cwd,
    with no host namespace fd, from its first instant in the pid namespace."""
    caps = ("CAP_SYS_PTRACE",) if not userns else ALL_CAPS
    if userns:
        root = os.path.join(request.getfixturevalue("open_base"), "rootfs")
        bundle = lambda args, edit: write_bundle(tmp_path / "b", _edited(root, args, edit))  # noqa: E731
    cid = new_id()
    oci_files(oci, "run", "-d", "--bundle", _attacker(bundle, hostdir, caps, userns), cid, check=True)
    n = _exec_loop(oci, cid, cwd=hostdir)
    seen = _seen(oci, cid, hostdir)
    assert n >= 5
    assert _host_files_written(hostdir) == []
    bad = [line for line in seen if line.startswith("fd ")
           and not line.split(" ", 2)[2].startswith(ALLOWED_FD)]
    assert bad == [], bad[:10]


def test_exec_helper_exe_is_never_the_host_interpreter(oci, bundle, hostdir):
    """Item 2 (CVE-2019-5736): /proc/PID/exe of every process the container can
    see is never a host file it could later write."""
    cid = new_id()
    oci_files(oci, "run", "-d", "--bundle", _attacker(bundle, hostdir), cid, check=True)
    _exec_loop(oci, cid, cwd=hostdir)
    seen = _seen(oci, cid, hostdir)
    host = os.stat(os.path.realpath(sys.executable))  # the interpreter ocirun runs on
    assert any(line.startswith("exe ") for line in seen)
    assert f"exe {host.st_dev}:{host.st_ino}" not in seen


ALL_CAPS = ("CAP_SYS_PTRACE", "CAP_SYS_ADMIN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH",
            "CAP_SYS_CHROOT", "CAP_FOWNER", "CAP_CHOWN", "CAP_SETUID", "CAP_SETGID",
            "CAP_SYS_RESOURCE", "CAP_NET_ADMIN", "CAP_MKNOD")


def test_create_into_a_watched_pid_namespace(oci, bundle, hostdir):
    """A container created into the attacker's pid namespace never shows the host's root."""
    cid = new_id()
    oci_files(oci, "run", "-d", "--bundle", _attacker(bundle, hostdir), cid, check=True)
    pid = oci.state(cid)["pid"]
    deadline = time.monotonic() + 3
    n = 0
    while n < 15 and time.monotonic() < deadline:
        def edit(c, pid=pid):
            c["linux"]["namespaces"] = [x for x in c["linux"]["namespaces"] if x["type"] != "pid"]
            c["linux"]["namespaces"].append({"type": "pid", "path": f"/proc/{pid}/ns/pid"})
        other = new_id()
        p = subprocess.run(oci.cmd("run", "--bundle", bundle(edit=edit), other), cwd=hostdir,
                           capture_output=True, timeout=30)
        assert p.returncode == 0, p.stderr
        n += 1
    _seen(oci, cid, hostdir)
    assert _host_files_written(hostdir) == []



def test_created_into_a_pid_namespace_is_in_it(oci, bundle):
    """The init that joined a pid namespace late (after its pivot_root) is in
    it, with the pid `state` reports, and its /proc shows that namespace."""
    a = new_id()
    oci_files(oci, "run", "-d", "--bundle", bundle(["/bin/sleep", "60"]), a, check=True)
    first = oci.state(a)["pid"]

    def edit(c):
        for ns in c["linux"]["namespaces"]:
            if ns["type"] == "pid":
                ns["path"] = f"/proc/{first}/ns/pid"
    probe = ["/bin/sh", "-c", "echo $$ $(cat /proc/$$/comm /proc/1/comm)"]
    b = new_id()
    oci_files(oci, "create", "--bundle", bundle(probe, edit), b, check=True)
    pid = oci.state(b)["pid"]
    assert os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(f"/proc/{first}/ns/pid")
    with open(f"/proc/{pid}/status") as f:
        nspid = [line.split()[1:] for line in f if line.startswith("NSpid:")][0]
    assert len(nspid) == 2 and nspid[1] != "1", nspid
    oci("delete", "--force", b, check=True)
    p = oci("run", "--bundle", bundle(probe, edit), new_id(), check=True)
    me, my_comm, first_comm = p.stdout.split()
    assert me != "1" and my_comm == "sh" and first_comm == "sleep", p.stdout
