"""--version, --log/--log-format/--debug, and running in the environments
engines give us (engine-interface.md (b)-(e)).

The log checks read the file the way the engines do: podman json-decodes
the whole file after a failed create (exactly one object), containerd reads
it line by line and parses `time` as RFC 3339; the message phrases are the
ones their regexes match.
"""
import datetime
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import HAVE_RUNC, REPO, SITE, default_config, new_id, write_bundle

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
# Podman's exit-code regexes (engine-interface.md (d)).
PODMAN_126 = re.compile(r"(?i)permission denied|operation not permitted")
PODMAN_127 = re.compile(r"executable file not found in|no such file or directory")


def run_create(oci, b, cid, *pre, env=None, preexec_fn=None, pass_fds=()):
    """create with stdio on files (the init keeps them: pipes would never reach EOF)."""
    with tempfile.TemporaryFile("w+") as err:
        p = subprocess.run([oci.binary, *pre, "--root", oci.root, "create", "--bundle", b, cid],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                           env=env, preexec_fn=preexec_fn, pass_fds=pass_fds, timeout=60)
        err.seek(0)
        p.stderr = err.read()
    return p


def wait_status(oci, cid, status, timeout=10, **kw):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p = oci("state", cid, **kw)
        if p.returncode == 0 and json.loads(p.stdout)["status"] == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"{cid} never reached {status}")


def wait_exec(pid, name, timeout=10):
    """Until the container process has exec'd `name` (argv[0])."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if f.read().split(b"\0")[0] == name.encode():
                return
        time.sleep(0.02)
    raise AssertionError(f"pid {pid} never exec'd {name}")


def check_time(value):
    assert RFC3339.match(value), value
    t = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert t.utcoffset() == datetime.timedelta(0)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - t).total_seconds()) < 120


# -- --version ------------------------------------------------------------------------


def test_version_text_shape():
    """runc's three lines; go-runc needs "<name> version " first, dockerd "commit:"."""
    from ocirun import SPEC_VERSION, __version__
    from ocirun.cli import version_text

    text = version_text()
    assert text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) == 3
    assert lines[0] == f"ocirun version {__version__}"
    assert re.fullmatch(r"commit: \S+", lines[1])
    assert lines[2] == f"spec: {SPEC_VERSION}" == "spec: 1.3.0"


@pytest.mark.parametrize("flag", ["--version", "-v", "--version=true"])
def test_version_flag(ocirun_bin, flag):
    from ocirun.cli import version_text

    p = subprocess.run([ocirun_bin, flag], capture_output=True, text=True, env={})
    assert (p.returncode, p.stdout, p.stderr) == (0, version_text(), "")


def test_version_commit_is_the_version_without_a_build_record(tmp_path):
    """Run from a checkout (a copy of the package without ocirun/_commit.py,
    which only a build writes): the commit line says the version, never "none"."""
    import shutil

    from ocirun import __version__

    lib = tmp_path / "lib"
    shutil.copytree(os.path.join(REPO, "ocirun"), lib / "ocirun",
                    ignore=shutil.ignore_patterns("_commit.py", "__pycache__"))
    launcher = tmp_path / "ocirun"
    launcher.write_text(f"#!{sys.executable} -IS\nimport sys\nsys.path[:0] = {[str(lib)] + SITE!r}\n"
                        "from ocirun.cli import run\nrun()\n")
    launcher.chmod(0o755)
    p = subprocess.run([str(launcher), "--version"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[1] == f"commit: {__version__}"


def test_version_commit_recorded_at_build(tmp_path):
    """setup.py records the checkout's git revision in the built package (from
    a tree that is no git checkout: nothing, so the version); the installed
    launcher prints it without running git (empty PATH)."""
    from ocirun import __version__

    git = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty", "--abbrev=12"],
                         capture_output=True, text=True)
    want = git.stdout.strip() if git.returncode == 0 else __version__
    lib = tmp_path / "lib"
    subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(lib)], cwd=REPO,
                   check=True, capture_output=True, timeout=300)
    launcher = tmp_path / "ocirun"
    launcher.write_text(f"#!{sys.executable} -IS\nimport sys\nsys.path[:0] = {[str(lib)] + SITE!r}\n"
                        "from ocirun.cli import run\nrun()\n")
    launcher.chmod(0o755)
    p = subprocess.run([str(launcher), "--version"], capture_output=True, text=True, env={"PATH": ""})
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[1] == f"commit: {want}"


@pytest.mark.skipif(not HAVE_RUNC, reason="runc not installed")
def test_version_lines_like_runc(ocirun_bin):
    theirs = subprocess.run(["runc", "--version"], capture_output=True, text=True).stdout.splitlines()
    mine = subprocess.run([ocirun_bin, "--version"], capture_output=True, text=True).stdout.splitlines()
    assert theirs[0].startswith("runc version ") and mine[0].startswith("ocirun version ")
    for a, b in zip(theirs[1:3], mine[1:3]):
        assert a.split(" ")[0] == b.split(" ")[0]  # "commit:", "spec:"


# -- --log ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_log_file_created_on_success(oci, tmp_path, fmt):
    """runc creates the log file even when nothing goes wrong; callers open it after."""
    log = tmp_path / "sub" / ".." / "log.json"
    p = subprocess.run([oci.binary, "--log", str(log), "--log-format", fmt, "--root", oci.root,
                        "list", "-q"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "log.json").read_text() == ""
    rel = subprocess.run([oci.binary, "--log=rel.log", "--root", oci.root, "list"],
                         capture_output=True, cwd=tmp_path)
    assert rel.returncode == 0 and (tmp_path / "rel.log").exists()


def test_log_appends(oci, tmp_path):
    log = tmp_path / "log.json"
    log.write_text('{"level":"info","msg":"before","time":"2020-01-01T00:00:00Z"}\n')
    subprocess.run([oci.binary, "--log", str(log), "--log-format", "json", "--root", oci.root,
                    "state", "nope"], capture_output=True)
    lines = log.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["msg"] == "before"


def test_bad_log_format_and_unopenable_log(oci, tmp_path):
    p = subprocess.run([oci.binary, "--log-format", "xml", "list"], capture_output=True, text=True)
    assert p.returncode == 1 and "log-format" in p.stderr
    p = subprocess.run([oci.binary, "--log", str(tmp_path / "no" / "dir.json"), "--root", oci.root,
                        "list"], capture_output=True, text=True)
    assert p.returncode == 1 and "no such file or directory" in p.stderr


def _stopped(oci, bundle):
    cid = new_id()
    b = bundle(args=["/bin/true"])
    assert run_create(oci, b, cid).returncode == 0
    oci("start", cid, check=True)
    wait_status(oci, cid, "stopped")
    return cid


def _make_noexec(rootfs):
    path = os.path.join(rootfs, "noexec.txt")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write("#!/bin/sh\n")
        os.chmod(path, 0o644)


# name -> (setup(oci, bundle, rootfs) -> argv after the global flags, phrase)
FAILURES = {
    "state-unknown": (lambda o, b, r: ["state", "nope"], "does not exist"),
    "kill-unknown": (lambda o, b, r: ["kill", "nope", "9"], "does not exist"),
    "delete-unknown": (lambda o, b, r: ["delete", "nope"], "does not exist"),
    "start-unknown": (lambda o, b, r: ["start", "nope"], "does not exist"),
    "kill-stopped": (lambda o, b, r: ["kill", _stopped(o, b), "9"], "container not running"),
    "create-not-in-path": (lambda o, b, r: ["create", "--bundle", b(args=["nosuchbinary"]), new_id()],
                           "executable file not found"),
    "create-missing-path": (lambda o, b, r: ["create", "--bundle", b(args=["/missing"]), new_id()],
                            "no such file or directory"),
    "create-not-executable": (lambda o, b, r: (_make_noexec(r), ["create", "--bundle",
                                               b(args=["/noexec.txt"]), new_id()])[1],
                              "permission denied"),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_failure_is_one_json_line(oci, bundle, rootfs, tmp_path, case):
    """Without --debug a failure is exactly one JSON object in the log (podman
    json-decodes the whole file), with level, msg and an RFC 3339 time
    (containerd), and the phrase the engines match."""
    setup, phrase = FAILURES[case]
    argv = setup(oci, bundle, rootfs)
    log = tmp_path / "log.json"
    with tempfile.TemporaryFile("w+") as err:
        p = subprocess.run([oci.binary, "--root", oci.root, "--log", str(log), "--log-format", "json",
                            *argv], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=err, timeout=60)
        err.seek(0)
        stderr = err.read()
    assert p.returncode != 0
    entry = json.loads(log.read_text())  # the whole file: podman's reading
    assert log.read_text().count("\n") == 1
    assert set(entry) == {"level", "msg", "time"}
    assert entry["level"] == "error"
    assert phrase in entry["msg"], entry["msg"]
    check_time(entry["time"])
    assert entry["msg"] in stderr  # also on stderr, as runc does
    if argv[0] == "create":
        assert oci("list", "-q").stdout == ""  # nothing left behind
        expect = PODMAN_126 if phrase == "permission denied" else PODMAN_127
        assert expect.search(entry["msg"])
        if expect is PODMAN_127:
            assert not PODMAN_126.search(entry["msg"])


def test_text_log_format(oci, tmp_path):
    log = tmp_path / "log.txt"
    p = subprocess.run([oci.binary, "--root", oci.root, "--log", str(log), "state", "nope"],
                       capture_output=True, text=True)
    assert p.returncode == 1
    lines = log.read_text().splitlines()
    assert len(lines) == 1
    m = re.fullmatch(r'time="([^"]+)" level=error msg="(.*)"', lines[0])
    assert m, lines[0]
    check_time(m.group(1))
    assert "container nope does not exist" in m.group(2)


def _warn_bundle(bundle, args):
    # An unknown capability is a warning (config.md: logged, not fatal).
    return bundle(args=args, edit=lambda c: c["process"]["capabilities"]["bounding"].append("CAP_BOGUS"))


def test_warnings_do_not_break_the_one_line_rule(oci, bundle, tmp_path):
    """A warning then a failure: still one JSON object; the warning is on stderr."""
    log = tmp_path / "log.json"
    p = run_create(oci, _warn_bundle(bundle, ["nosuchbinary"]), new_id(),
                   "--log", str(log), "--log-format", "json")
    assert p.returncode == 1
    assert "CAP_BOGUS" in p.stderr
    assert json.loads(log.read_text())["level"] == "error"


def test_warnings_are_logged_on_success(oci, bundle, tmp_path):
    log = tmp_path / "log.json"
    cid = new_id()
    p = run_create(oci, _warn_bundle(bundle, ["/bin/true"]), cid, "--log", str(log), "--log-format", "json")
    assert p.returncode == 0, p.stderr
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["level"] for e in entries] == ["warning"]
    assert "CAP_BOGUS" in entries[0]["msg"]
    check_time(entries[0]["time"])
    oci("delete", "--force", cid, check=True)


def test_debug_lines_are_all_json(oci, bundle, tmp_path):
    """--debug may write several lines (podman then falls back to stderr), each JSON."""
    log = tmp_path / "log.json"
    p = run_create(oci, _warn_bundle(bundle, ["nosuchbinary"]), new_id(),
                   "--debug", "--log", str(log), "--log-format", "json")
    assert p.returncode == 1
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(entries) >= 2
    assert {e["level"] for e in entries} <= {"debug", "info", "warning", "error"}
    assert entries[-1]["level"] == "error" and "executable file not found" in entries[-1]["msg"]
    for e in entries:
        check_time(e["time"])


def test_one_prefix_under_conmon(oci, bundle):
    """podman prefixes conmon's copy of the runtime's stderr with the
    runtime's name: under conmon (its _OCI_SYNCPIPE in the environment) the
    line is the bare message, so the user reads one prefix; elsewhere, ours."""
    env = dict(os.environ, _OCI_SYNCPIPE="3")
    p = oci("delete", "nosuch", env=env)
    assert (p.returncode, p.stderr) == (1, "container nosuch does not exist\n")
    p = oci("create", "--bundle", bundle(args=["nosuchcmd"]), new_id(), env=env)
    assert p.returncode == 1
    assert p.stderr.startswith('exec: "nosuchcmd": executable file not found in $PATH'), p.stderr
    p = oci("delete", "nosuch")
    assert (p.returncode, p.stderr) == (1, "ocirun: container nosuch does not exist\n")


# -- state and stderr -------------------------------------------------------------------


@pytest.fixture
def created(oci, bundle):
    cid = new_id()
    p = run_create(oci, bundle(args=["/bin/sleep", "30"]), cid)
    assert p.returncode == 0, p.stderr
    return cid


def test_state_with_stderr_closed(oci, created):
    """podman runs `state` with only XDG_RUNTIME_DIR="" and stderr closed."""
    p = subprocess.run(oci.cmd("state", created), capture_output=False, stdout=subprocess.PIPE,
                       env={"XDG_RUNTIME_DIR": ""}, preexec_fn=lambda: os.close(2), text=True)
    assert p.returncode == 0
    assert json.loads(p.stdout)["status"] == "created"


@pytest.mark.parametrize("known", [True, False])
def test_state_with_stderr_pipe_closed_by_reader(oci, created, known):
    """The reader has gone: no SIGPIPE death, no traceback; the exit code stands."""
    proc = subprocess.Popen(oci.cmd("state", created if known else "nope"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={"XDG_RUNTIME_DIR": ""})
    proc.stderr.close()
    out = proc.stdout.read()
    proc.stdout.close()
    assert proc.wait(timeout=30) == (0 if known else 1)
    if known:
        assert json.loads(out)["id"] == created


def test_state_writes_nothing_to_stderr(oci, created):
    p = oci("state", created)
    assert p.returncode == 0 and p.stderr == ""


# -- environments -----------------------------------------------------------------------


def _hostile_env(tmp_path):
    """PYTHON* variables an engine's daemon may pass on, pointing at modules
    that leave a marker if they are ever imported or run."""
    evil = tmp_path / "evil"
    evil.mkdir()
    marker = tmp_path / "marker"
    payload = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\n"
    for mod in ("json", "os", "re", "signal", "fastjson", "sitecustomize", "usercustomize",
                "encodings", "startup", "_json", "errno", "ocirun"):
        (evil / f"{mod}.py").write_text(payload)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(evil),
        "PYTHONHOME": str(evil),  # no stdlib there: honoured, it would not even start
        "PYTHONSTARTUP": str(evil / "startup.py"),
        "PYTHONINSPECT": "1",
        "PYTHONWARNINGS": "error",
        "PYTHONIOENCODING": "undefined",
        "PYTHONSAFEPATH": "",
        "PYTHONUSERBASE": str(evil),
    }
    return env, evil, marker


ENVS = ["empty", "xdg-empty", "hostile-python"]


def _env(kind, tmp_path):
    if kind == "empty":
        return {}, tmp_path, None
    if kind == "xdg-empty":
        return {"XDG_RUNTIME_DIR": ""}, tmp_path, None
    return _hostile_env(tmp_path)


@pytest.mark.parametrize("kind", ENVS)
def test_every_command_in_environment(oci, bundle, tmp_path, kind):
    """engine-interface.md (e)1: podman runs state/delete/kill/pause with only
    XDG_RUNTIME_DIR=""; shims pass the daemon's PYTHON* variables."""
    env, cwd, marker = _env(kind, tmp_path)
    kw = dict(env=env, cwd=cwd)
    cid = new_id()
    b = bundle(args=["/bin/sleep", "30"])
    with tempfile.TemporaryFile("w+") as err:
        p = subprocess.run(oci.cmd("create", "--bundle", b, cid), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=err, timeout=60, **kw)
        err.seek(0)
        assert p.returncode == 0, err.read()
    assert json.loads(oci("state", cid, check=True, **kw).stdout)["status"] == "created"
    oci("start", cid, check=True, **kw)
    wait_status(oci, cid, "running", **kw)
    assert cid in oci("list", "-q", check=True, **kw).stdout
    assert json.loads(oci("list", "--format", "json", check=True, **kw).stdout)[0]["id"] == cid
    oci("kill", cid, "9", check=True, **kw)
    wait_status(oci, cid, "stopped", **kw)
    oci("delete", cid, check=True, **kw)
    oci("delete", "--force", cid, check=True, **kw)  # twice, as containerd does
    json.loads(oci("features", check=True, **kw).stdout)
    assert oci("--version", check=True, **kw).stdout.startswith("ocirun version ")
    spec_dir = tmp_path / "spec"
    spec_dir.mkdir()
    oci("spec", "--bundle", str(spec_dir), check=True, **kw)
    assert json.loads((spec_dir / "config.json").read_text())["ociVersion"]
    p = oci("run", "--bundle", bundle(args=["/bin/sh", "-c", "env; exit 5"]), new_id(), **kw)
    assert p.returncode == 5, p.stderr
    # The container's environment is process.env, nothing of ours.
    lines = p.stdout.splitlines()
    assert set(default_config("/")["process"]["env"]) <= set(lines)
    assert not [line for line in lines if line.startswith(("PYTHON", "XDG_"))]
    p = oci("state", "nope", **kw)
    assert p.returncode == 1 and "does not exist" in p.stderr
    if marker is not None:
        assert not marker.exists(), marker.read_text()


def test_empty_xdg_runtime_dir_is_unset(ocirun_bin, tmp_path):
    """engine-interface.md (e)1: an empty XDG_RUNTIME_DIR is treated as unset (no
    state directory relative to the caller's cwd)."""
    p = subprocess.run([ocirun_bin, "state", new_id()], capture_output=True, text=True,
                       env={"XDG_RUNTIME_DIR": ""}, cwd=tmp_path)
    assert p.returncode == 1 and "does not exist" in p.stderr
    p = subprocess.run([ocirun_bin, "list", "-q"], capture_output=True, text=True,
                       env={"XDG_RUNTIME_DIR": ""}, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert os.listdir(tmp_path) == []


def _stray_fds(tmp_path):
    """Open fds 3..9 of every dangerous kind: a host directory, a file, pipes, sockets."""
    made = []
    (tmp_path / "stray").write_text("x")
    opened = [
        os.open("/", os.O_RDONLY | os.O_DIRECTORY),
        os.open(str(tmp_path), os.O_PATH),
        os.open(str(tmp_path / "stray"), os.O_RDWR),
        *os.pipe(),
        *[s.detach() for s in socket.socketpair()],
    ]
    for target, fd in zip(range(3, 10), opened):
        if fd != target:
            os.dup2(fd, target, inheritable=True)
        made.append(target)
    for fd in opened:
        if fd not in made:
            os.close(fd)
    return made


def _fds_of(pid):
    return sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))


def test_stray_fds_never_reach_the_container(oci, bundle, tmp_path):
    """engine-interface.md (e)3: containerd leaks fd 3 (a socket); every fd but
    0-2 is closed for the container (CVE-2024-21626 for the directory)."""
    cid = new_id()
    b = bundle(args=["/bin/sleep", "30"])
    # Run the runtime from a child whose 3..9 are set up: pytest's own fds stay intact.
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            keep = fcntl.fcntl(w, fcntl.F_DUPFD_CLOEXEC, 10)
            for fd in range(3, 10):
                if fd != keep:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            fds = _stray_fds(tmp_path)
            rc = run_create(oci, b, cid, pass_fds=fds).returncode
            rc |= subprocess.run(oci.cmd("start", cid), pass_fds=fds, capture_output=True).returncode
            os.write(keep, bytes([rc]))
        finally:
            os._exit(0)
    os.close(w)
    rc = os.read(r, 1)
    os.close(r)
    os.waitpid(pid, 0)
    assert rc == b"\0"
    cpid = oci.state(cid)["pid"]
    wait_exec(cpid, "/bin/sleep")
    assert _fds_of(cpid) == [0, 1, 2]
    oci("delete", "--force", cid, check=True)


def test_preserve_fds_passes_exactly_those(oci, bundle, tmp_path):
    """--preserve-fds N: 3..2+N reach the container, the rest do not."""
    cid = new_id()
    b = bundle(args=["/bin/sleep", "30"])
    (tmp_path / "stray").write_text("x")
    fds = [os.open(str(tmp_path / "stray"), os.O_RDONLY) for _ in range(4)]
    try:
        targets = list(range(3, 7))
        p = run_create(oci, b, cid, pass_fds=fds)  # plain: none pass
        assert p.returncode == 0, p.stderr
        oci("start", cid, check=True)
        cpid = oci.state(cid)["pid"]
        wait_exec(cpid, "/bin/sleep")
        assert _fds_of(cpid) == [0, 1, 2]
        oci("delete", "--force", cid, check=True)

        # Move them to 3..6 in a child so the numbers are exact.
        cid2 = new_id()

        def remap():
            for t, fd in zip(targets, fds):
                os.dup2(fd, t + 100)
            for t in targets:
                os.dup2(t + 100, t)
                os.close(t + 100)
        with tempfile.TemporaryFile("w+") as err:
            p = subprocess.run(oci.cmd("create", "--bundle", b, "--preserve-fds", "2", cid2),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                               preexec_fn=remap, close_fds=False, timeout=60)
            err.seek(0)
            assert p.returncode == 0, err.read()
        oci("start", cid2, check=True)
        cpid = oci.state(cid2)["pid"]
        wait_exec(cpid, "/bin/sleep")
        assert _fds_of(cpid) == [0, 1, 2, 3, 4]
        assert os.readlink(f"/proc/{cpid}/fd/3") == str(tmp_path / "stray")
        oci("delete", "--force", cid2, check=True)
    finally:
        for fd in fds:
            os.close(fd)


def test_closed_stderr_becomes_dev_null(oci, bundle):
    """create with fd 2 closed: the container's fd 2 is /dev/null, never a file
    the runtime happened to open next (a host fd in the container)."""
    cid = new_id()
    p = subprocess.run(oci.cmd("create", "--bundle", bundle(args=["/bin/sleep", "30"]), cid),
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       preexec_fn=lambda: os.close(2), timeout=60)
    assert p.returncode == 0
    oci("start", cid, check=True)
    cpid = oci.state(cid)["pid"]
    wait_exec(cpid, "/bin/sleep")
    assert _fds_of(cpid) == [0, 1, 2]
    assert os.readlink(f"/proc/{cpid}/fd/2") == "/dev/null"
    oci("delete", "--force", cid, check=True)


def test_container_signal_dispositions_are_default(oci, bundle):
    """The container must not inherit the runtime's Python-specific SIG_IGNs."""
    p = oci("run", "--bundle", bundle(args=["/bin/sh", "-c", "grep SigIgn /proc/self/status"]),
            new_id())
    assert p.returncode == 0, p.stderr
    ignored = int(p.stdout.split()[1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1)), "SIGPIPE ignored"
    assert not ignored & (1 << (signal.SIGXFSZ - 1)), "SIGXFSZ ignored"
