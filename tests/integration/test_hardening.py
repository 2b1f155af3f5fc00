"""Issue 10: preserved fds, the exec helper's exits, unbounded reads and
inputs found by fuzzing. Each test failed before its fix."""
import os
import subprocess
import sys
import time

import pytest

from conftest import REPO, new_id, oci_files, pids_with, wait_until


@pytest.fixture
def running(oci, bundle):
    cid = new_id("h")
    oci_files(oci, "run", "-d", "--bundle", bundle(["sleep", "1000"]), cid, check=True)
    return cid


def _closed_above_2():
    """Run a command with only fds 0-2 open (pytest may hold others)."""
    return dict(close_fds=True, pass_fds=())


# ---- item 3: --preserve-fds N with fewer fds open -------------------------------------

@pytest.mark.parametrize("verb", ["exec", "run"])
def test_preserve_fds_that_are_not_open_fail_before_anything(oci, bundle, running, verb):
    """Nothing of ocirun's own (exec.fifo, the exec memfd, a namespace fd) may
    reach the container as a 'preserved' fd: runc's 'unable to stat preserved-fd'."""
    args = ["exec", "--preserve-fds", "3", running, "true"] if verb == "exec" else \
        ["run", "--preserve-fds", "3", "--bundle", bundle(), new_id()]
    p = subprocess.run(oci.cmd(*args), capture_output=True, text=True, timeout=30, **_closed_above_2())
    assert p.returncode != 0
    assert "unable to stat preserved-fd 3 (of 3)" in p.stderr


def test_preserve_fds_huge_does_not_hang(oci, running):
    p = subprocess.run(oci.cmd("exec", "--preserve-fds", "99999999", running, "true"),
                       capture_output=True, text=True, timeout=30, **_closed_above_2())
    assert p.returncode != 0 and "preserved-fd 3" in p.stderr


@pytest.mark.parametrize("value", ["x", "-1"])
def test_preserve_fds_not_a_number_is_one_line(oci, running, value):
    p = oci("exec", "--preserve-fds", value, running, "true")
    assert p.returncode != 0
    assert p.stderr.count("\n") == 1 and "preserve-fds" in p.stderr and "Traceback" not in p.stderr


# ---- item 11: --pid-file in a missing directory --------------------------------------

def test_exec_pid_file_in_a_missing_directory_leaves_no_process(oci, running, tmp_path):
    marker = f"sleep 4242{os.getpid() % 1000}"
    p = oci_files(oci, "exec", "-d", "--pid-file", str(tmp_path / "no" / "such" / "pid"), running,
                  "sh", "-c", f"exec {marker}")
    assert p.returncode != 0 and "pid-file" in p.stderr
    assert pids_with(marker) == []


# ---- items 2 and 4: the launcher ---------------------------------------------------

PLANT = "import _io\n_io.open({marker!r}, 'w').write('planted')\n"  # _io: before `open` exists
PYTHON_VARS = ("PYTHONEXECUTABLE", "PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONPLATLIBDIR",
               "PYTHONUSERBASE", "PYTHONPYCACHEPREFIX", "PYTHONSAFEPATH", "__PYVENV_LAUNCHER__")


def test_launcher_is_immune_to_python_variables(oci, tmp_path):
    """Item 4: CPython reads PYTHONEXECUTABLE even with -I (a planted stdlib
    next to it is then loaded as root); no PYTHON* variable may change what runs."""
    fake = tmp_path / "fake"
    marker = str(tmp_path / "planted")
    lib = fake / "lib" / "python3.11"
    for pkg in ("encodings", "ocirun"):
        (lib / pkg).mkdir(parents=True)
        (lib / pkg / "__init__.py").write_text(PLANT.format(marker=marker))
    for mod in ("os", "site", "sitecustomize", "gc"):
        (lib / f"{mod}.py").write_text(PLANT.format(marker=marker))
    (fake / "bin").mkdir()
    (fake / "pyvenv.cfg").write_text(f"home = {fake / 'bin'}\n")
    env = dict(os.environ, **{v: str(fake / "bin" / "python3") if v in ("PYTHONEXECUTABLE", "__PYVENV_LAUNCHER__")
                              else str(lib) for v in PYTHON_VARS})
    p = subprocess.run(oci.cmd("list"), env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(marker)


OVERLAYFS_MAGIC = 0x794C7630


def _statfs_type(path):
    import ctypes
    buf = ctypes.create_string_buffer(128)  # struct statfs; f_type comes first
    assert ctypes.CDLL(None, use_errno=True).statfs(path.encode(), buf) == 0
    return int.from_bytes(buf.raw[:8], "little")


def test_every_ocirun_process_runs_a_sealed_interpreter(oci, running):
    """Item 2: /proc/PID/exe of ocirun (so of the init and exec helper, its
    forks) can never be opened for writing: as root it is the interpreter seen
    through a read-only overlayfs mount attached nowhere (issue 13: no 7 MB
    copy per command), never the host's file."""
    import errno

    p = subprocess.Popen(oci.cmd("exec", running, "sh", "-c", "read x"), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        exe = f"/proc/{p.pid}/exe"
        # ocirun-launch first, then the interpreter it executes.
        wait_until(lambda: not os.readlink(exe).endswith("ocirun-launch"), what="the interpreter")
        host = os.stat(os.path.realpath(sys.executable))
        assert (os.stat(exe).st_dev, os.stat(exe).st_ino) != (host.st_dev, host.st_ino)
        assert _statfs_type(exe) == OVERLAYFS_MAGIC
        for how in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC):
            with pytest.raises(OSError) as e:
                os.close(os.open(exe, how))
            assert e.value.errno == errno.EROFS
        fd = os.open(exe, os.O_PATH)  # reopening an O_PATH fd: the same mount
        try:
            with pytest.raises(OSError) as e:
                os.close(os.open(f"/proc/self/fd/{fd}", os.O_WRONLY))
            assert e.value.errno == errno.EROFS
        finally:
            os.close(fd)
        # attached nowhere: no mount table shows it
        lower = "lowerdir=" + os.path.dirname(os.path.realpath(sys.executable)) + ":"
        assert lower not in open("/proc/self/mountinfo").read()
        assert lower not in open(f"/proc/{p.pid}/mountinfo").read()
    finally:
        p.communicate(b"\n", timeout=30)


def test_launch_falls_back_to_a_sealed_memfd_copy(tmp_path):
    """Where the overlay cannot be made (rootless, or a path overlayfs's option
    syntax cannot carry, as here) the interpreter runs from a sealed memfd copy."""
    odd = tmp_path / "a:b"
    odd.mkdir()
    (odd / "python3").symlink_to(os.path.realpath(sys.executable))
    script = tmp_path / "probe.py"
    script.write_text("import fcntl, os\n"
                      "print(os.readlink('/proc/self/exe'))\n"
                      "fd = os.open('/proc/self/exe', os.O_RDONLY)\n"
                      "print(fcntl.fcntl(fd, 1034) & 15)\n")  # F_GET_SEALS: seal, shrink, grow, write
    launch = os.path.join(REPO, "ocirun", "ocirun-launch")
    out = subprocess.run([launch, str(odd / "python3"), str(script)], capture_output=True,
                         text=True, timeout=30, check=True).stdout.splitlines()
    assert out[0].startswith("/memfd:python") and out[1] == "15"


# ---- item 10: exec -d racing delete -f (no pid namespace of its own) ----------------

def test_exec_racing_delete_force_leaves_nothing(oci, bundle):
    """exec holds the container's lock while it joins, and delete -f kills
    until the cgroup is empty: no exec'd process survives (bounded: 8 rounds)."""
    from conftest import cgroup_dirs

    def host_pidns(c):
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "pid"]
    for i in range(8):
        cid = new_id("r")
        marker = f"{7100 + i}{os.getpid() % 83}"
        oci_files(oci, "run", "-d", "--bundle", bundle(["sleep", "1000"], host_pidns), cid, check=True)
        ex = subprocess.Popen(oci.cmd("exec", "-d", cid, "sleep", marker), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        if i % 2:
            time.sleep(0.01 * i)
        oci("delete", "--force", cid, check=True)
        ex.wait(timeout=60)
        assert pids_with(f"sleep {marker}") == [], f"round {i}"
        assert [d for d in cgroup_dirs() if cid in d] == []



# ---- item 12: unbounded reads ------------------------------------------------------

def _one_line(p, *words):
    assert p.returncode != 0
    assert "Traceback" not in p.stderr and p.stderr.count("\n") == 1, p.stderr
    for w in words:
        assert w in p.stderr, p.stderr


def test_config_json_that_is_not_a_regular_file(oci, bundle):
    for target in ("/dev/zero", "fifo"):
        b = bundle()
        cfg = os.path.join(b, "config.json")
        os.unlink(cfg)
        if target == "fifo":
            os.mkfifo(cfg)
        else:
            os.symlink(target, cfg)
        _one_line(oci("create", "--bundle", b, new_id(), timeout=30), "config.json", "not a regular file")


def test_update_resources_and_exec_process_from_dev_zero(oci, running):
    _one_line(oci("update", "-r", "/dev/zero", running, timeout=30), "not a regular file")
    _one_line(oci("exec", "--process", "/dev/zero", running, timeout=30), "not a regular file")
    p = subprocess.run(oci.cmd("update", "-r", "-", running), stdin=open("/dev/zero", "rb"),
                       capture_output=True, text=True, timeout=60)
    _one_line(p, "larger than")


# ---- item 13: tracebacks found by fuzzing ------------------------------------------

@pytest.mark.parametrize("edit, words", [
    (lambda c: c["linux"].setdefault("devices", []).append(
        {"path": "/dev/x", "type": ["c"], "major": 1, "minor": 3, "fileMode": 0o20666}), ["devices[0]"]),
    (lambda c: c["linux"].setdefault("devices", []).append(
        {"path": "/dev/x", "type": {"c": 1}, "major": 1, "minor": 3}), ["devices[0]"]),
    (lambda c: c.update(hostname="\ud800"), ["hostname", "surrogate"]),
    (lambda c: c["process"]["env"].append("X=\udfff"), ["process.env[", "surrogate"]),
], ids=["device-type-list", "device-type-dict", "surrogate-hostname", "surrogate-env"])
def test_fuzzed_configs_are_one_line(oci, bundle, edit, words):
    import json

    b = bundle()
    with open(os.path.join(b, "config.json")) as f:
        c = json.load(f)
    edit(c)
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(c, f)  # ensure_ascii: a lone surrogate is written as \\udXXX
    _one_line(oci("create", "--bundle", b, new_id(), timeout=30), "config.json", *words)


def test_hook_timeout_of_2_31_seconds_works(oci, bundle):
    def edit(c):
        c["hooks"] = {"prestart": [{"path": "/bin/true", "timeout": 2**31}]}
    cid = new_id()
    p = oci_files(oci, "create", "--bundle", bundle(edit=edit), cid, timeout=60)
    assert p.returncode == 0, p.stderr
    oci("delete", "--force", cid, check=True)


@pytest.mark.parametrize("proc, field", [
    ({"args": ["true"], "cwd": 5}, "process.cwd"),
    ({"args": "true", "cwd": "/"}, "process.args"),
    ({"args": ["true"], "cwd": "/", "env": [1]}, "process.env"),
    ({"args": ["true"], "cwd": "/", "user": {"uid": "0"}}, "process.user.uid"),
])
def test_exec_process_with_wrong_types_is_one_line(oci, running, tmp_path, proc, field):
    import json

    f = tmp_path / "process.json"
    f.write_text(json.dumps(proc))
    _one_line(oci("exec", "--process", str(f), running, timeout=30), "--process", field)


def test_created_init_holds_no_host_namespace_fd(oci, bundle):
    """Item 3: the parent's fds of its own pid/time namespaces (opened to
    return to them after the fork) are closed in the init at once."""
    cid = new_id()
    oci_files(oci, "create", "--bundle", bundle(["true"]), cid, check=True)
    pid = oci.state(cid)["pid"]
    host = {os.readlink(f"/proc/self/ns/{n}") for n in ("pid", "time", "mnt", "net", "ipc", "uts")}
    links = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    assert links & host == set(), links
