"""The command line as runc's, with real containers: list, spec, validate,
container ids (runtime.md#create: unique and valid), --pid-file,
--preserve-fds and --console-socket.
"""
import json
import os
import subprocess

import pytest

from conftest import console_listener, HAVE_RUNC, default_config, new_id, oci_files, pids_with, wait_until
from ocirun.state import proc_start_time

EMPTY_TABLE = "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"


def tabwrite(rows, minwidth=12, padding=3):
    """Go's text/tabwriter as `runc list` sets it up (minwidth 12, tabwidth 1,
    padding 3, ' '): each cell but a row's last is padded to its column's
    widest cell + 3, and at least 12."""
    ncol = len(rows[0])
    widths = [max(minwidth, max(len(r[i]) for r in rows) + padding) for i in range(ncol - 1)]
    return "".join("".join(c.ljust(w) for c, w in zip(r, widths)) + r[-1] + "\n" for r in rows)


def alive(pid):
    return proc_start_time(pid) is not None


# --- list --------------------------------------------------------------------------

def test_list_empty_table_like_runc(oci, tmp_path):
    """`list` on an empty (or missing) root prints runc's header, byte for byte."""
    p = oci("list")
    assert (p.returncode, p.stdout, p.stderr) == (0, EMPTY_TABLE, "")
    if HAVE_RUNC:
        r = subprocess.run(["runc", "--root", str(tmp_path / "runc"), "list"],
                           capture_output=True, text=True, check=True)
        assert r.stdout == p.stdout


@pytest.mark.skipif(not HAVE_RUNC, reason="compares with runc's own output")
def test_tabwrite_model_is_runcs(tmp_path, rootfs):
    """Our model of runc's table (tabwrite) reproduces real `runc list`
    output with cells of different widths."""
    root = str(tmp_path / "runc")
    c = default_config(rootfs, ["sleep", "30"])
    c["ociVersion"] = "1.0.2"
    b = str(tmp_path / "b")
    os.makedirs(b)
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(c, f)
    # Unique ids: runc's default cgroup is named after the id.
    ids = [new_id("a"), new_id("a-rather-long-container-identifier")]
    try:
        for cid in ids:
            subprocess.run(["runc", "--root", root, "create", "--bundle", b, cid], check=True,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=30)
        out = subprocess.run(["runc", "--root", root, "list"], capture_output=True, text=True,
                             check=True).stdout
    finally:
        for cid in ids:
            subprocess.run(["runc", "--root", root, "delete", "--force", cid], capture_output=True)
    rows = [line.split() for line in out.splitlines()]
    assert len(rows) == 3 and all(len(r) == 6 for r in rows), out
    assert out == tabwrite(rows)


def test_list_table(oci, bundle):
    """The table has runc's header and spacing (minwidth 12, padding 3) with real rows."""
    b = bundle(args=["sleep", "30"])
    ids = sorted([new_id("b"), new_id("a-rather-long-container-identifier")])
    for cid in ids:
        oci_files(oci, "create", "--bundle", b, cid, check=True)
    p = oci("list")
    assert p.returncode == 0, p.stderr
    states = [oci.state(cid) for cid in ids]
    rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]] + [
        [s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], "root"] for s in states]
    assert p.stdout == tabwrite(rows)
    header = p.stdout.splitlines()[0]
    assert header.startswith("ID" + " " * (len(ids[0]) + 3 - 2) + "PID         STATUS      BUNDLE")


def test_list_json_and_quiet(oci, bundle):
    """--format json: runc's fields per container; -q: the ids only, sorted."""
    assert json.loads(oci("list", "--format", "json").stdout) == []
    assert oci("list", "-q").stdout == ""
    b = bundle(args=["sleep", "30"])
    ids = sorted([new_id(), new_id()])
    for cid in ids:
        oci_files(oci, "create", "--bundle", b, cid, check=True)
    got = json.loads(oci("list", "--format", "json", check=True).stdout)
    assert [g["id"] for g in got] == ids
    for g in got:
        s = oci.state(g["id"])
        assert {k: g[k] for k in ("ociVersion", "id", "pid", "status", "bundle", "rootfs", "created")} \
            == {k: s[k] for k in ("ociVersion", "id", "pid", "status", "bundle", "rootfs", "created")}
        assert g["owner"] == "root"  # as runc: the state directory's owner
        assert "annotations" not in g or g["annotations"]  # omitted when empty, as runc
    assert oci("list", "-q").stdout == "".join(i + "\n" for i in ids)
    assert oci("list", "--format", "bogus").returncode == 1


# --- spec / validate -------------------------------------------------------------

def test_spec_writes_config(oci, tmp_path):
    """`spec` writes runc's template config.json into cwd (or --bundle); a second time is an error."""
    from ocirun.spec.defaults import default_config as template

    d = tmp_path / "here"
    d.mkdir()
    p = oci("spec", cwd=d)
    assert (p.returncode, p.stderr) == (0, "")
    assert json.loads((d / "config.json").read_text()) == template()
    p = oci("spec", cwd=d)
    assert p.returncode == 1
    assert p.stderr.strip() == "ocirun: File config.json exists. Remove it first"

    other = tmp_path / "other"
    other.mkdir()
    assert oci("spec", "--bundle", str(other)).returncode == 0
    assert json.loads((other / "config.json").read_text()) == template()
    assert oci("spec", "-b", str(other)).returncode == 1


def test_validate_good_and_bad(oci, bundle):
    """validate: a good bundle -> 0; a bad one -> exit 1 and exactly one line
    `ocirun: config.json: <json path>: <message>`; nothing is created."""
    p = oci("validate", "--bundle", bundle())
    assert (p.returncode, p.stderr) == (0, ""), p.stderr
    bad = bundle(edit=lambda c: c["process"].update(cwd="relative/dir"))
    p = oci("validate", "--bundle", bad)
    assert p.returncode == 1
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("ocirun: config.json: process.cwd: "), lines[0]
    assert not os.path.exists(oci.root)


# --- ids ------------------------------------------------------------------------------

@pytest.mark.parametrize("cid", ["../x", ".", "..", "a/b", "", "foo bar"])
def test_invalid_ids(oci, bundle, tmp_path, cid):
    """runtime.md#create: an invalid id MUST generate an error and a new
    container MUST NOT be created (no state, no process)."""
    p = oci_files(oci, "create", "--bundle", bundle(args=["sleep", "30"]), cid)
    assert p.returncode == 1
    assert "container id cannot be empty" in p.stderr if cid == "" \
        else "invalid container ID format" in p.stderr
    assert not os.path.exists(oci.root) or os.listdir(oci.root) == []
    assert not (tmp_path / "x").exists()
    # Nor through the other commands.
    for args in (("delete", "--force", cid), ("state", cid), ("kill", cid, "KILL")):
        q = oci(*args)
        assert q.returncode == 1, args
    assert os.path.isdir(tmp_path)


def test_duplicate_id(oci, bundle):
    """runtime.md#create: an id that is not unique MUST generate an error and
    MUST NOT create a container; the first one is untouched."""
    cid = new_id()
    b = bundle(args=["sleep", "30"])
    oci_files(oci, "create", "--bundle", b, cid, check=True)
    before = oci.state(cid)
    p = oci_files(oci, "create", "--bundle", b, cid)
    assert p.returncode == 1
    assert p.stderr.strip() == f"ocirun: container with id {cid} already exists"
    assert oci.state(cid) == before and alive(before["pid"])
    oci("start", cid, check=True)
    assert oci.state(cid)["status"] == "running"


def test_concurrent_creates_one_wins(oci, bundle):
    """8 concurrent creates of one id: exactly one wins, the others fail with
    "already exists", and the winner's state stays intact (the runc 1.1 race
    where a loser's cleanup removed the winner's state; notes §4)."""
    cid = new_id()
    b = bundle(args=["sleep", "30"])
    files = []
    procs = []
    import tempfile

    for _ in range(8):
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        files.append((out, err))
        procs.append(subprocess.Popen(oci.cmd("create", "--bundle", b, cid), stdin=subprocess.DEVNULL,
                                      stdout=out, stderr=err))
    codes = [p.wait(timeout=60) for p in procs]
    errs = []
    for out, err in files:
        err.seek(0)
        errs.append(err.read().decode())
        out.close()
        err.close()
    assert sorted(codes) == [0] + [1] * 7, (codes, errs)
    for code, err in zip(codes, errs):
        if code:
            assert err.strip() == f"ocirun: container with id {cid} already exists", err
        else:
            assert err == ""
    s = oci.state(cid)
    assert s["status"] == "created" and alive(s["pid"])
    assert os.listdir(oci.root) == [cid]
    oci("start", cid, check=True)
    assert oci.state(cid)["status"] == "running"
    # No loser left an init behind (the winner's has exec'd `sleep`).
    wait_until(lambda: pids_with(cid) == [], what="no ocirun process for the id")


# --- create flags -------------------------------------------------------------------

def test_pid_file(oci, bundle, tmp_path):
    """--pid-file: the init's pid in decimal, no newline (containerd reads it
    strictly), equal to state.pid; a relative path is taken from the cwd."""
    cid = new_id()
    pf = tmp_path / "sub" / "c.pid"
    pf.parent.mkdir()
    oci_files(oci, "create", "--bundle", bundle(args=["sleep", "30"]), "--pid-file", str(pf), cid, check=True)
    data = pf.read_bytes()
    assert data.isdigit(), data
    assert int(data) == oci.state(cid)["pid"]

    cid2 = new_id()
    p = subprocess.run(oci.cmd("run", "-d", "--pid-file", "rel.pid", "--bundle",
                               bundle(args=["sleep", "30"]), cid2),
                       cwd=pf.parent, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
    assert p.returncode == 0
    assert (pf.parent / "rel.pid").read_bytes() == str(oci.state(cid2)["pid"]).encode()


def test_preserve_fds(oci, bundle, tmp_path):
    """--preserve-fds 2: fds 3 and 4 reach the container open; fd 5 (not
    preserved) does not."""
    b = bundle(args=["/bin/sh", "-c", "echo three >&3; echo four >&4; ls /proc/1/fd; true"])
    f3, f4, f5 = (tmp_path / n for n in ("f3", "f4", "f5"))
    script = 'exec 3>"$1" 4>"$2" 5>"$3"; shift 3; exec "$@"'
    p = subprocess.run(["bash", "-c", script, "bash", str(f3), str(f4), str(f5),
                        *oci.cmd("run", "--preserve-fds", "2", "--bundle", b, new_id())],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert f3.read_text() == "three\n"
    assert f4.read_text() == "four\n"
    assert f5.read_text() == ""
    assert sorted(p.stdout.split(), key=int) == ["0", "1", "2", "3", "4"]  # the shell's fds


def test_console_socket(oci, bundle, tmp_path):
    """--console-socket with process.terminal: exactly one fd, the pty master,
    arrives over SCM_RIGHTS (runc's protocol); it carries the container's
    output, and the container's stdio is a terminal (config.md#process terminal)."""
    import errno
    import select

    path = str(tmp_path / "console.sock")
    srv, t, got = console_listener(path)
    b = bundle(args=["/bin/sh", "-c", "tty; echo hello-from-tty; read x"],
               edit=lambda c: c["process"].update(terminal=True))
    cid = new_id()
    try:
        p = oci_files(oci, "run", "-d", "--console-socket", path, "--bundle", b, cid)
        assert p.returncode == 0, p.stderr
        t.join(timeout=30)
        assert len(got["fds"]) == 1, got
        master = got["fds"][0]
        out = b""
        deadline = 100
        while b"hello-from-tty" not in out and deadline:
            deadline -= 1
            if select.select([master], [], [], 0.2)[0]:
                try:
                    out += os.read(master, 4096)
                except OSError as e:
                    assert e.errno == errno.EIO
                    break
        lines = out.decode().replace("\r", "").splitlines()
        assert lines[0] in ("/dev/console",) or lines[0].startswith("/dev/pts/"), out
        assert "hello-from-tty" in lines
        os.write(master, b"bye\n")  # `read x` returns: the container exits
        wait_until(lambda: oci.state(cid)["status"] == "stopped", what="the container to exit")
        os.close(master)
    finally:
        srv.close()


def test_console_socket_unreachable(oci, bundle, tmp_path):
    """A --console-socket that cannot be connected to fails create, leaving nothing."""
    b = bundle(args=["true"], edit=lambda c: c["process"].update(terminal=True))
    cid = new_id()
    p = oci_files(oci, "create", "--console-socket", str(tmp_path / "nope.sock"), "--bundle", b, cid)
    assert p.returncode == 1
    assert "console-socket" in p.stderr
    assert oci("state", cid).returncode == 1
    assert pids_with(cid) == []

