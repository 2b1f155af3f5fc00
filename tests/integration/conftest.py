"""Shared fixtures for tests that run real containers (as root).

`oci` runs this checkout's ocirun exactly as the installed launcher does
(isolated interpreter, no site processing), with a private --root per test.
`bundle` makes a bundle from `runc spec`'s defaults on a busybox rootfs.
"""
import ast
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import threading
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SITE = [p for p in dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])]
HAVE_RUNC = shutil.which("runc") is not None

# As setup.py writes it: ocirun-launch drops PYTHON* and runs the interpreter
# -IS through a detached read-only overlayfs (else a sealed memfd copy).
LAUNCHER = f"""#!{REPO}/ocirun/ocirun-launch {os.path.realpath(sys.executable)}
import gc
import sys
gc.disable()
sys.path[:0] = {[REPO] + SITE!r}
from ocirun.cli import run
run()
"""


@pytest.fixture(scope="session")
def ocirun_bin(tmp_path_factory):
    """Path of a launcher for this checkout (the same flags as the installed one)."""
    path = tmp_path_factory.mktemp("bin") / "ocirun"
    path.write_text(LAUNCHER)
    path.chmod(0o755)
    return str(path)


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory):
    d = tmp_path_factory.mktemp("rootfs") / "rootfs"
    subprocess.run(["bash", os.path.join(REPO, "bundles", "mkrootfs.sh"), str(d)], check=True,
                   stdout=subprocess.DEVNULL)
    return str(d)


class Oci:
    """Runs ocirun with a private state root; deletes what is left at teardown."""

    def __init__(self, binary, root):
        self.binary = binary
        self.root = root

    def cmd(self, *args):
        return [self.binary, "--root", self.root, *args]

    def __call__(self, *args, check=False, timeout=60, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        p = subprocess.run(self.cmd(*args), timeout=timeout, **kw)
        if check and p.returncode != 0:
            raise AssertionError(f"ocirun {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def state(self, cid):
        return json.loads(self("state", cid, check=True).stdout)

    def cleanup(self):
        if not os.path.isdir(self.root):
            return
        for cid in os.listdir(self.root):
            subprocess.run(self.cmd("delete", "--force", cid), capture_output=True, timeout=60)


@pytest.fixture
def oci(ocirun_bin, tmp_path):
    o = Oci(ocirun_bin, str(tmp_path / "state"))
    yield o
    o.cleanup()


def new_id(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def default_config(rootfs, args=("/bin/true",)):
    from ocirun.spec.defaults import default_config as runc_default

    c = runc_default()
    c["root"] = {"path": rootfs, "readonly": False}
    c["process"]["args"] = list(args)
    c["process"]["terminal"] = False
    return c


def write_bundle(path, config):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    return str(path)


@pytest.fixture
def bundle(tmp_path, rootfs):
    """bundle(args=..., edit=fn) -> bundle dir; edit(config) may change the config in place."""
    n = [0]

    def make(args=("/bin/true",), edit=None):
        n[0] += 1
        c = default_config(rootfs, args)
        if edit:
            edit(c)
        return write_bundle(tmp_path / f"bundle{n[0]}", c)

    return make


# ---- session-wide leftovers (checked by test_zz_no_leftovers.py) ----------
# What this session's ocirun runs created is known from their command lines:
# an audit hook records every subprocess started with the launcher (its
# container id, and the bundle's linux.cgroupsPath read at that moment), so
# that containers of other sessions running at the same time are not
# mistaken for ours.

CGROUP_ROOT = "/sys/fs/cgroup"


def cgroup_dirs():
    """Every cgroup directory below every hierarchy mounted under /sys/fs/cgroup."""
    out = set()
    try:
        names = os.listdir(CGROUP_ROOT)
    except OSError:
        return out
    for name in names:
        top = os.path.join(CGROUP_ROOT, name)
        if os.path.islink(top) or not os.path.isdir(top):
            continue
        for dirpath, _dirs, _files in os.walk(top):
            if dirpath != top:
                out.add(dirpath)
    return out


def launcher_pids(launcher, needle=None):
    """Pids whose cmdline holds the launcher path (and `needle`, if given); zombies have none."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                args = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if launcher in args and (needle is None or needle in args):
            out.append(int(d))
    return out


def mountinfo(path="/proc/self/mountinfo"):
    with open(path) as f:
        return set(f.read().splitlines())


class SessionRecord:
    def __init__(self, launcher, basetemp):
        self.launcher = launcher
        self.basetemp = basetemp
        self.cgroups_at_start = cgroup_dirs()
        self.containers = set()  # (id, cgroupsPath or None)
        self.active = True

    def audit(self, event, args):
        if not self.active or event != "subprocess.Popen":
            return
        try:
            argv = args[1]
            if isinstance(argv, (str, bytes)) or self.launcher not in argv:
                return
            argv = [str(a) for a in argv]
            rest = argv[argv.index(self.launcher) + 1:]
            verb = next((a for a in rest if a in ("create", "run")), None)
            if verb is None or not rest:
                return
            bundle = args[2] or os.getcwd()
            after = rest[rest.index(verb) + 1:]
            for i, a in enumerate(after):
                if a in ("-b", "--bundle", "-bundle") and i + 1 < len(after):
                    bundle = after[i + 1]
                elif a.startswith(("--bundle=", "-b=", "-bundle=")):
                    bundle = a.split("=", 1)[1]
            cpath = None
            try:
                if not os.path.isfile(os.path.join(bundle, "config.json")):
                    raise OSError("not a regular file (a FIFO, /dev/zero: tests of bad input)")
                with open(os.path.join(bundle, "config.json")) as f:
                    cpath = (json.load(f).get("linux") or {}).get("cgroupsPath")
            except (OSError, ValueError, AttributeError):
                pass
            self.containers.add((rest[-1], cpath if isinstance(cpath, str) else None))
        except Exception:  # noqa: BLE001 - an audit hook must never break the caller
            pass


@pytest.fixture(scope="session", autouse=True)
def session_record(ocirun_bin, tmp_path_factory):
    """The cgroup snapshot taken at session start, plus what this session's runs created."""
    rec = SessionRecord(ocirun_bin, str(tmp_path_factory.getbasetemp()))
    sys.addaudithook(rec.audit)
    yield rec
    rec.active = False


# --- helpers for the lifecycle/CLI/hooks tests (additive) ---

def wait_until(pred, timeout=10.0, interval=0.02, what="condition"):
    """Poll pred() until it returns something true; return that value."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def bind_mount(source, destination, *options):
    """A config.json mounts[] entry binding host `source` at `destination`."""
    return {"destination": destination, "type": "bind", "source": str(source),
            "options": ["rbind", *options]}


def processes_with(text):
    """(pid, command line) of live (non-zombie) processes whose command line contains `text`."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        if text.encode() in cmd and stat[stat.rfind(b")") + 2:][:1] not in b"ZX":
            out.append((int(d), cmd.replace(b"\0", b" ").decode(errors="replace")))
    return out


def pids_with(text):
    """Pids of live (non-zombie) processes whose command line contains `text`."""
    return [pid for pid, _ in processes_with(text)]


def oci_files(oci, *args, check=False, timeout=60):
    """oci(*args) with stdout/stderr in temporary files, not pipes: for
    `create` and `run --detach`, whose container keeps (a copy of) them open,
    so a pipe would not reach EOF until the container exits."""
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.run(oci.cmd(*args), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                           timeout=timeout)
        out.seek(0)
        err.seek(0)
        p.stdout = out.read().decode(errors="replace")
        p.stderr = err.read().decode(errors="replace")
    if check and p.returncode != 0:
        raise AssertionError(f"ocirun {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def in_child(fn, empty_meta_path=False):
    """Run fn() in a forked child; return its result, or ('raised', type, message).

    The result travels as repr() and comes back through ast.literal_eval, so
    the child needs no import to send it.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            if empty_meta_path:
                sys.meta_path[:] = []
            try:
                result = fn()
            except Exception as e:
                result = ("raised", type(e).__name__, str(e))
            os.write(w, repr(result).encode())
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    _, st_ = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(st_) == 0
    assert chunks, "child sent nothing"
    return ast.literal_eval(b"".join(chunks).decode())


def console_listener(path):
    """A SOCK_STREAM listener like conmon's/go-runc's: collects every message and fd sent."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(30)
    got = {"fds": [], "msgs": []}

    def serve():
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(30)
            while True:
                try:
                    msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 8)
                except OSError:
                    break
                if not msg and not fds:
                    break
                got["msgs"].append(msg)
                got["fds"] += fds

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv, t, got


def status_fields(text):
    """/proc/PID/status text as {field: value}."""
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            out[k] = v.strip()
    return out


def mounts_below(base):
    """Mount points at or below `base` (the host's mount namespace)."""
    base = str(base)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [m for m in points if m == base or m.startswith(base + "/")]


def cgroup_v1_file(pid, controller, name):
    """The content of cgroup file `name` in the v1 `controller` hierarchy of `pid`'s cgroup."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                with open(f"/sys/fs/cgroup/{ctrls}{path}/{name}") as g:
                    return g.read().strip()
    raise AssertionError(f"pid {pid}: no {controller} hierarchy")
