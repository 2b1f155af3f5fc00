"""`exec` end to end: a new process in a running container (runc's `exec`).

The exec'd process must be indistinguishable from the container's own
processes: the same namespaces (runtime.md#operations: the container's
namespaces), the same cgroup and the same security setup as the init, plus
runc's per-exec overrides (--cwd, --env, --user, --cap, ...). Engines drive
exec as `exec --process FILE --detach --pid-file F [--console-socket S] ID`
(see the engine notes), so those flags are checked as an engine uses them:
the pid file is read strictly, the pty master comes over the socket, and the
process ends up the child of the calling subreaper.
"""
import errno
import json
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from conftest import HAVE_RUNC, console_listener, new_id, oci_files, status_fields, wait_until
from ocirun.state import proc_start_time

SECCOMP = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}],
}
CAP_SYS_ADMIN = 21
SECURITY_LINES = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")


# --- helpers -----------------------------------------------------------------

@pytest.fixture
def running(oci, bundle):
    """running(args=..., edit=fn) -> (id, init pid) of a started container."""
    def make(args=("sleep", "1000"), edit=None):
        cid = new_id("x")
        oci_files(oci, "create", "--bundle", bundle(args=args, edit=edit), cid, check=True)
        oci("start", cid, check=True)
        return cid, oci.state(cid)["pid"]
    return make


def host_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return status_fields(f.read())


def read_pid_file(path):
    data = open(path, "rb").read()
    assert re.fullmatch(rb"[0-9]+", data), f"pid file must be decimal with no newline: {data!r}"
    return int(data)


def alive(pid):
    return proc_start_time(pid) is not None


def kill_wait(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    wait_until(lambda: not alive(pid), what=f"pid {pid} to die")


def read_master(master, until=None, timeout=10):
    """Everything the pty master gives until EIO (all slaves closed) or `until` is seen."""
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if until is not None and until in out:
            break
        if not select.select([master], [], [], 0.2)[0]:
            continue
        try:
            data = os.read(master, 4096)
        except OSError as e:
            assert e.errno == errno.EIO, e
            break
        if not data:
            break
        out += data
    return out


# --- exit status ---------------------------------------------------------------

@pytest.mark.parametrize("script,code", [("exit 0", 0), ("exit 5", 5), ("kill -9 $$", 137)])
def test_exit_status_passes_through(oci, running, script, code):
    """The exec'd process's status is exec's (128+n for a signal, as runc)."""
    cid, _ = running()
    p = oci("exec", cid, "sh", "-c", script)
    assert p.returncode == code, p.stderr


def test_output_and_stdin(oci, running):
    cid, _ = running()
    p = oci("exec", cid, "sh", "-c", "read x; echo got-$x; echo err >&2", input="hello\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "got-hello\n"
    assert p.stderr == "err\n"


# --- what the process joins ------------------------------------------------------

def test_joins_every_namespace_of_the_container(oci, running):
    """runtime.md#operations / config-linux.md#namespaces: the exec'd process
    is in each of the container's namespaces (also pid_for_children, user,
    time: the ones the container shares with the host)."""
    cid, init = running()
    p = oci("exec", cid, "ls", "-l", "/proc/self/ns")
    assert p.returncode == 0, p.stderr
    seen = dict(re.findall(r"(\w+) -> (\w+:\[\d+\])", p.stdout))
    want = {n: os.readlink(f"/proc/{init}/ns/{n}") for n in os.listdir(f"/proc/{init}/ns")}
    assert seen == want
    # The container has its own of these: the exec'd process is not in the host's.
    for n in ("pid", "net", "ipc", "uts", "mnt"):
        assert seen[n] != os.readlink(f"/proc/self/ns/{n}"), n


def test_joins_the_container_cgroup(oci, running, tmp_path):
    """The exec'd process is in the init's cgroup in every hierarchy."""
    cid, init = running()
    pf = tmp_path / "exec.pid"
    oci_files(oci, "exec", "--detach", "--pid-file", str(pf), cid, "sleep", "100", check=True)
    pid = read_pid_file(pf)
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            mine = f.read()
        with open(f"/proc/{init}/cgroup") as f:
            theirs = f.read()
        assert mine == theirs
    finally:
        kill_wait(pid)


def test_same_security_as_the_init(oci, running):
    """Capabilities, no_new_privs and seccomp of an exec'd process equal the
    init's (config.md#process: capabilities, noNewPrivileges; seccomp)."""
    def edit(c):
        c["linux"]["seccomp"] = SECCOMP
        c["process"]["noNewPrivileges"] = True
    cid, init = running(edit=edit)
    p = oci("exec", cid, "cat", "/proc/self/status")
    assert p.returncode == 0, p.stderr
    mine, theirs = status_fields(p.stdout), host_status(init)
    assert {k: mine[k] for k in SECURITY_LINES} == {k: theirs[k] for k in SECURITY_LINES}
    assert theirs["Seccomp"] == "2" and theirs["NoNewPrivs"] == "1"


def test_seccomp_filter_applies_to_exec(oci, running):
    def edit(c):
        c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                                 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
    cid, _ = running(edit=edit)
    p = oci("exec", cid, "mkdir", "/tmp/x")
    assert p.returncode != 0
    assert "not permitted" in p.stderr


# --- flags ----------------------------------------------------------------------

def test_process_file(oci, running, tmp_path):
    """--process: a full process JSON replaces the container's process (args,
    env, cwd, user); it is what podman and containerd pass."""
    cid, _ = running()
    proc = {"terminal": False, "user": {"uid": 1000, "gid": 1000, "additionalGids": [10]},
            "args": ["sh", "-c", "echo $FOO; pwd; id -u; id -g; grep Groups /proc/self/status"],
            "env": ["PATH=/bin:/usr/bin", "FOO=from-process-json"], "cwd": "/tmp",
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                             "permitted": ["CAP_KILL"]},
            "noNewPrivileges": True}
    f = tmp_path / "process.json"
    f.write_text(json.dumps(proc))
    p = oci("exec", "--process", str(f), cid)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[:4] == ["from-process-json", "/tmp", "1000", "1000"]
    assert lines[4].split() == ["Groups:", "10"]


def test_process_file_terminal_without_tty_flag(oci, running, tmp_path):
    """containerd's shape: `exec --process J --console-socket S --detach
    --pid-file F ID`, no --tty: terminal comes from J; exactly one fd (the pty
    master) is sent over the socket."""
    cid, _ = running()
    proc = {"terminal": True, "user": {"uid": 0, "gid": 0},
            "args": ["sh", "-c", "tty; echo exec-on-a-pty; exit 3"],
            "env": ["PATH=/bin"], "cwd": "/"}
    f = tmp_path / "process.json"
    f.write_text(json.dumps(proc))
    sock = str(tmp_path / "pty.sock")
    srv, t, got = console_listener(sock)
    pf = tmp_path / "exec.pid"
    try:
        p = oci_files(oci, "exec", "--process", str(f), "--console-socket", sock, "--detach",
                      "--pid-file", str(pf), cid)
        assert p.returncode == 0, p.stderr
        t.join(timeout=30)
        assert len(got["fds"]) == 1, got
        assert got["msgs"] and got["msgs"][0] and len(got["msgs"][0]) < 4096
        master = got["fds"][0]
        try:
            assert os.isatty(master)
            out = read_master(master).decode().replace("\r", "")
        finally:
            os.close(master)
        lines = out.splitlines()
        assert lines[0].startswith("/dev/pts/"), out
        assert "exec-on-a-pty" in lines
        assert read_pid_file(pf) > 0
    finally:
        srv.close()


def test_tty_with_console_socket(oci, running, tmp_path):
    """podman's shape: `exec --tty --console-socket S --detach --pid-file F`:
    the process gets the pty on 0-2 as its controlling terminal."""
    cid, _ = running()
    sock = str(tmp_path / "term.sock")
    srv, t, got = console_listener(sock)
    pf = tmp_path / "exec.pid"
    try:
        p = oci_files(oci, "exec", "--tty", "--console-socket", sock, "--detach", "--pid-file", str(pf),
                      cid, "sh", "-c", "tty; tty <&1; tty <&2; cat /proc/$$/stat; echo done")
        assert p.returncode == 0, p.stderr
        t.join(timeout=30)
        assert len(got["fds"]) == 1, got
        master = got["fds"][0]
        try:
            out = read_master(master, until=b"done\r\n").decode().replace("\r", "")
        finally:
            os.close(master)
        lines = out.splitlines()
        assert lines[0].startswith("/dev/pts/") and lines[0] == lines[1] == lines[2], out
        stat = lines[3]
        fields = stat[stat.rfind(")") + 2:].split()
        pid, sid, tty_nr = int(stat.split()[0]), int(fields[3]), int(fields[4])
        assert sid == pid, "setsid: the exec'd process leads its own session"
        assert tty_nr != 0, "the pty is its controlling terminal"
    finally:
        srv.close()


def test_tty_without_console_socket_and_detach_fails(oci, running):
    cid, _ = running()
    p = oci("exec", "--tty", "--detach", cid, "true")
    assert p.returncode != 0
    assert "console socket" in p.stderr


def test_detach_pid_file(oci, running, tmp_path):
    """--detach returns once the process runs; --pid-file holds its host pid,
    decimal with no newline (containerd parses it with strconv.Atoi)."""
    cid, init = running()
    pf = tmp_path / "exec.pid"
    t0 = time.monotonic()
    p = oci_files(oci, "exec", "--detach", "--pid-file", str(pf), cid, "sleep", "100")
    assert p.returncode == 0, p.stderr
    assert time.monotonic() - t0 < 20
    pid = read_pid_file(pf)
    try:
        assert alive(pid)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert f.read().split(b"\0")[:2] == [b"sleep", b"100"]
        assert os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(f"/proc/{init}/ns/pid")
    finally:
        kill_wait(pid)


SUBREAPER = r"""
import ctypes, os, subprocess, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
pf = sys.argv[1]
rc = subprocess.run(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL).returncode
pid = int(open(pf).read())
_, status = os.waitpid(pid, 0)
print(rc, os.waitstatus_to_exitcode(status))
"""


def test_detached_process_is_reaped_by_the_calling_subreaper(oci, running, tmp_path):
    """conmon and the containerd shim are subreapers and waitpid the exec'd
    process: after `exec --detach` exits, the process must be their child, and
    its exit status theirs to collect."""
    cid, _ = running()
    pf = tmp_path / "exec.pid"
    p = subprocess.run([sys.executable, "-c", SUBREAPER, str(pf),
                        *oci.cmd("exec", "--detach", "--pid-file", str(pf), cid, "sh", "-c", "sleep 0.3; exit 7")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["0", "7"]


def test_cwd(oci, running):
    cid, _ = running()
    p = oci("exec", "--cwd", "/tmp", cid, "pwd")
    assert (p.returncode, p.stdout) == (0, "/tmp\n"), p.stderr


def test_cwd_missing_fails(oci, running):
    cid, _ = running()
    p = oci("exec", "--cwd", "/does/not/exist", cid, "pwd")
    assert p.returncode == 255
    assert "no such file or directory" in p.stderr


def test_env_is_appended_and_later_wins(oci, running):
    """--env adds to the container's process.env; a later value of a name wins."""
    cid, _ = running(edit=lambda c: c["process"]["env"].append("KEEP=config"))
    p = oci("exec", "--env", "FOO=1", "-e", "FOO=2", "--env", "TERM=dumb", cid,
            "sh", "-c", 'echo "$FOO $TERM $KEEP $PATH"')
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["2", "dumb", "config", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


def test_user(oci, running):
    cid, _ = running()
    p = oci("exec", "--user", "1000:1000", cid, "sh", "-c", "id -u; id -g; grep Groups /proc/self/status")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[:2] == ["1000", "1000"]
    assert lines[2].split() == ["Groups:"]


def test_additional_gids(oci, running):
    cid, _ = running()
    p = oci("exec", "--user", "1000:1000", "--additional-gids", "10", "-g", "20", cid,
            "grep", "Groups", "/proc/self/status")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["Groups:", "10", "20"]


def test_cap_added_but_never_inheritable(oci, running):
    """--cap CAP_SYS_ADMIN: in the bounding, effective and permitted sets, and
    NEVER inheritable (CVE-2022-29162). Ambient gets it only if inheritable
    has it, which it must not, so the kernel leaves ambient empty (runc too)."""
    cid, init = running()
    base = host_status(init)
    p = oci("exec", "--cap", "CAP_SYS_ADMIN", cid, "cat", "/proc/self/status")
    assert p.returncode == 0, p.stderr
    s = status_fields(p.stdout)
    bit = 1 << CAP_SYS_ADMIN
    for k in ("CapBnd", "CapEff", "CapPrm"):
        assert int(s[k], 16) == int(base[k], 16) | bit, k
    assert int(s["CapInh"], 16) & bit == 0
    assert int(s["CapAmb"], 16) & bit == 0
    assert int(base["CapEff"], 16) & bit == 0  # the init really lacks it


@pytest.mark.skipif(not HAVE_RUNC, reason="runc not installed")
def test_cap_sets_match_runc(oci, running, tmp_path, rootfs):
    """The same exec --cap against runc on the same config gives the same sets."""
    from conftest import default_config, write_bundle

    cid, _ = running()
    ours = status_fields(oci("exec", "--cap", "CAP_SYS_ADMIN", "--cap", "CAP_NET_RAW", cid,
                            "cat", "/proc/self/status", check=True).stdout)
    b = write_bundle(tmp_path / "runc-bundle", default_config(rootfs, ["sleep", "1000"]))
    root, rid = str(tmp_path / "runc-root"), new_id("r")
    with open(os.devnull, "w") as null:
        subprocess.run(["runc", "--root", root, "run", "-d", "-b", b, rid], stdin=null, stdout=null,
                       stderr=null, check=True, timeout=60)
    try:
        theirs = status_fields(subprocess.run(
            ["runc", "--root", root, "exec", "--cap", "CAP_SYS_ADMIN", "--cap", "CAP_NET_RAW", rid,
             "cat", "/proc/self/status"], capture_output=True, text=True, timeout=60, check=True).stdout)
    finally:
        subprocess.run(["runc", "--root", root, "delete", "-f", rid], capture_output=True, timeout=60)
    assert {k: ours[k] for k in SECURITY_LINES} == {k: theirs[k] for k in SECURITY_LINES}


def test_no_new_privs(oci, running):
    cid, _ = running(edit=lambda c: c["process"].update(noNewPrivileges=False))
    assert status_fields(oci("exec", cid, "cat", "/proc/self/status", check=True).stdout)["NoNewPrivs"] == "0"
    p = oci("exec", "--no-new-privs", cid, "cat", "/proc/self/status", check=True)
    assert status_fields(p.stdout)["NoNewPrivs"] == "1"


def fd_listing(text):
    """`ls -l /proc/self/fd` -> {fd: link target or None (unreadable)}."""
    out = {}
    for m in re.finditer(r"^l\S+\s.*? (\d+)(?: -> (.*))?$", text, re.M):
        out[int(m.group(1))] = m.group(2)
    return out


def test_preserve_fds(oci, running, tmp_path):
    """--preserve-fds 1: fd 3 reaches the process; fd 4 (not preserved) does not."""
    cid, _ = running()
    f3, f4 = tmp_path / "f3", tmp_path / "f4"
    script = 'exec 3>"$1" 4>"$2"; shift 2; exec "$@"'
    p = subprocess.run(["bash", "-c", script, "bash", str(f3), str(f4),
                        *oci.cmd("exec", "--preserve-fds", "1", cid, "sh", "-c",
                                 "echo three >&3; echo four >&4; ls -l /proc/self/fd")],
                       capture_output=True, text=True, timeout=60)
    assert f3.read_text() == "three\n"
    assert f4.read_text() == ""
    assert "4: Bad file descriptor" in p.stderr
    fds = fd_listing(p.stdout)
    # 0-2, the preserved fd 3, and the directory fd `ls` opened itself (4, its
    # link gone by the time ls reads it).
    assert sorted(fds) == [0, 1, 2, 3, 4], p.stdout
    assert fds[3] == str(f3)
    assert str(f4) not in p.stdout


def test_no_runtime_fd_visible(oci, running, tmp_path):
    """The exec'd process has 0-2 and nothing of the runtime's (no sync
    socket, memfd, namespace fds, nor an fd the caller leaked to ocirun, like
    containerd's fd 3)."""
    cid, _ = running()
    leak = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        p = subprocess.run(oci.cmd("exec", cid, "ls", "-l", "/proc/self/fd"), pass_fds=(leak,),
                           capture_output=True, text=True, timeout=60)
    finally:
        os.close(leak)
    assert p.returncode in (0, 1), p.stderr  # ls cannot read its own (closed) directory fd link
    fds = fd_listing(p.stdout)
    # 0-2 plus the directory fd `ls` opened itself (its link is gone when ls reads it).
    assert sorted(fds) == [0, 1, 2, 3], p.stdout + p.stderr
    assert fds[3] is None or fds[3].startswith("/proc/"), fds
    assert str(tmp_path) not in p.stdout


def test_ignore_paused(oci, running):
    """exec into a paused container fails unless --ignore-paused; with it the
    process is started frozen and runs once the container resumes (runc)."""
    cid, _ = running()
    oci("pause", cid, check=True)
    try:
        p = oci("exec", cid, "echo", "hi")
        assert p.returncode != 0
        assert "paused" in p.stderr
        proc = subprocess.Popen(oci.cmd("exec", "--ignore-paused", cid, "echo", "hi-while-paused"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        assert proc.poll() is None, "the exec'd process must be frozen with the container"
    finally:
        oci("resume", cid, check=True)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out) == (0, "hi-while-paused\n"), err


def _pids_cgroup(pid):
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if "pids" in ctrls.split(","):
                return path
    raise AssertionError("no pids hierarchy")


@pytest.mark.skipif(not os.path.isdir("/sys/fs/cgroup/pids"), reason="needs the cgroup v1 pids hierarchy")
def test_cgroup_sub_cgroup(oci, running, tmp_path):
    """--cgroup pids:sub puts the process in <container>/sub of the pids
    hierarchy only; --cgroup sub in every hierarchy; a missing sub-cgroup fails."""
    from ocirun import cgroups

    cid, init = running()
    manager = cgroups.load_manager(json.load(open(os.path.join(oci.root, cid, "state.json")))["cgroup"])
    made = []
    pids = []
    try:
        for d in manager.paths.values():
            sub = os.path.join(d, "sub")
            os.mkdir(sub)
            made.append(sub)
            for knob in ("cpuset.cpus", "cpuset.mems"):  # an empty cpuset takes no process
                if os.path.exists(os.path.join(d, knob)):
                    with open(os.path.join(d, knob)) as src, open(os.path.join(sub, knob), "w") as dst:
                        dst.write(src.read())
        pf = tmp_path / "one.pid"
        oci_files(oci, "exec", "--cgroup", "pids:sub", "-d", "--pid-file", str(pf), cid, "sleep", "100",
                  check=True)
        pids.append(read_pid_file(pf))
        base = open(f"/proc/{init}/cgroup").read().splitlines()
        mine = open(f"/proc/{pids[-1]}/cgroup").read().splitlines()
        for a, b in zip(base, mine):
            if "pids" in a.split(":")[1].split(","):
                assert b == a + "/sub"
            else:
                assert b == a
        pf = tmp_path / "all.pid"
        oci_files(oci, "exec", "--cgroup", "sub", "-d", "--pid-file", str(pf), cid, "sleep", "100", check=True)
        pids.append(read_pid_file(pf))
        mine = open(f"/proc/{pids[-1]}/cgroup").read().splitlines()
        assert mine == [a + "/sub" if not a.endswith("/") else a + "sub" for a in base]
        p = oci("exec", "--cgroup", "pids:nosuch", cid, "true")
        assert p.returncode != 0
        assert "nosuch" in p.stderr
    finally:
        for pid in pids:
            kill_wait(pid)
        for d in made:
            wait_until(lambda: _rmdir(d), what=f"rmdir {d}")


def _rmdir(d):
    try:
        os.rmdir(d)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


# --- failures ------------------------------------------------------------------------

def test_exec_in_stopped_container(oci, running):
    cid, init = running(args=("true",))
    wait_until(lambda: oci.state(cid)["status"] == "stopped", what="the container to exit")
    p = oci("exec", cid, "true")
    assert p.returncode == 1
    assert "cannot exec in a stopped container" in p.stderr


def test_exec_unknown_container(oci):
    p = oci("exec", new_id(), "true")
    assert p.returncode == 1
    assert "does not exist" in p.stderr


@pytest.mark.parametrize("exe,words", [("nosuchcmd", "executable file not found in $PATH"),
                                       ("/bin/nosuchcmd", "no such file or directory")])
def test_missing_executable(oci, running, tmp_path, exe, words):
    """runc's exit code 255 and Go's exec.LookPath words (podman maps them to
    127); with --log-format json, one error object in the log."""
    cid, _ = running()
    log = tmp_path / "log.json"
    p = subprocess.run([oci.binary, "--root", oci.root, "--log", str(log), "--log-format", "json",
                        "exec", cid, exe], capture_output=True, text=True, timeout=60)
    assert p.returncode == 255
    assert words in p.stderr
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(entries) == 1 and entries[0]["level"] == "error" and words in entries[0]["msg"]
    assert oci.state(cid)["status"] == "running"


def test_exec_leaves_nothing_behind(oci, running):
    """A failed exec kills its half-made process: nothing but the init (and
    nothing of ours) stays in the container's cgroup."""
    from ocirun import cgroups

    cid, init = running()
    assert oci("exec", cid, "nosuchcmd").returncode == 255
    assert oci("exec", cid, "true").returncode == 0
    manager = cgroups.load_manager(json.load(open(os.path.join(oci.root, cid, "state.json")))["cgroup"])
    wait_until(lambda: sorted(manager.pids()) == [init], what="only the init in the cgroup")


# --- a terminal on the caller's tty ----------------------------------------------------

SCRIPT = "/usr/bin/script"


def _script(cmd, timeout=60):
    """Run a shell command line on a new pty (util-linux script); (exit code, output)."""
    p = subprocess.run([SCRIPT, "-qec", cmd, "/dev/null"], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace").replace("\r", "")


def _sh(args):
    return " ".join("'" + a.replace("'", "'\\''") + "'" for a in args)


@pytest.mark.skipif(not os.path.exists(SCRIPT), reason="util-linux script not installed")
def test_foreground_exec_tty(oci, running):
    """`exec -t` without a console socket: ocirun relays the pty to its own
    terminal; output arrives and the exit status is the process's."""
    cid, _ = running()
    rc, out = _script(_sh(oci.cmd("exec", "-t", cid, "sh", "-c", "tty; echo hello-tty; exit 3")))
    lines = out.splitlines()
    assert rc == 3, out
    assert lines[0].startswith("/dev/pts/") and "hello-tty" in lines, out


@pytest.mark.skipif(not os.path.exists(SCRIPT), reason="util-linux script not installed")
def test_foreground_run_tty(oci, bundle):
    """`run` of a terminal: true container in the foreground, on the caller's tty."""
    b = bundle(args=["sh", "-c", "tty; echo hello-run; exit 4"],
               edit=lambda c: c["process"].update(terminal=True))
    rc, out = _script(_sh(oci.cmd("run", "--bundle", b, new_id())))
    lines = out.splitlines()
    assert rc == 4, out
    assert "hello-run" in lines and (lines[0].startswith("/dev/pts/") or lines[0] == "/dev/console"), out
