"""Time ocirun, runc and crun side by side on the same busybox bundle.

One command (as root):  python3.11 bench/bench.py [--quick] [--repeats N]

Every case runs for each runtime in turn (ocirun, runc, crun, ocirun, ...),
so drift on the machine (caches, frequency, noise) hits all three alike.
Each timed command is started with os.posix_spawn and reaped with waitpid;
its wall time is perf_counter_ns around both. Peak memory comes from a
separate untimed pass: wait4's ru_maxrss of each command (see rss_call).
Prints a markdown table of medians and ratios and saves it, with the
machine and versions, under bench/results/.
"""

import argparse
import ctypes
import json
import os
import platform
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RUNTIMES = ("ocirun", "runc", "crun")
BUSYBOX = os.environ.get("BUSYBOX", "/bin/busybox")
PR_SET_CHILD_SUBREAPER = 36
USER_OCIRUN = "/usr/local/bin/ocirun"  # .ci/install's launcher, runnable by every user
WAIT_TIMEOUT_S = 30


class BenchError(Exception):
    """A runtime command failed; str() is a one-line reason."""


# The interpreter's own floor (ocirun's column only): start-up of the
# interpreter ocirun runs on, isolated, no site, doing nothing.
FLOOR_ROW = "python3.11 -I -S -c pass: interpreter floor (ms)"
PODMAN_ROW = "podman run --rm busybox true (ms)"
CHECKPOINT_ROWS = ("checkpoint of a running sleep (ms)", "restore of it, detached (ms)")


def row_labels(seq, par, checkpoint=False, podman=False):
    """The table's rows, in order (the smoke test checks every one is there)."""
    rows = [
        "run /bin/true (ms)",
        "rootless run /bin/true, as a user (ms)",
        "create→start→wait→delete (ms)",
        "· create (ms)",
        "· start (ms)",
        "· delete (ms)",
        "state (ms)",
        "exec /bin/true into a running sleep (ms)",
        "exec -t /bin/true, on a pty (ms)",
        "--version: start-up alone (ms)",
        FLOOR_ROW,
        "kill+delete of a running sleep (ms)",
        "· kill (ms)",
        "pause of a running sleep (ms)",
        "resume of it (ms)",
        f"{seq} × run /bin/true in a row, total (s)",
        f"{par} × create in parallel, total (s)",
    ]
    if checkpoint:
        rows += CHECKPOINT_ROWS
    if podman:
        rows.append(PODMAN_ROW)
    rows += [f"peak RSS: {verb} (MiB)" for verb in VERBS]
    rows.append("peak RSS: max over commands (MiB)")
    return rows


VERBS = ("run", "create", "start", "state", "exec", "pause", "resume", "kill", "delete")
# The small commands issue 13 holds to the interpreter floor + 1 ms (ocirun's
# median minus the floor is printed under the table).
SMALL_ROWS = ("· start (ms)", "· delete (ms)", "state (ms)", "· kill (ms)",
              "pause of a running sleep (ms)", "resume of it (ms)")


# ---------------------------------------------------------------- processes

class Runtime:
    """One runtime binary with its private --root; times and measures calls."""

    def __init__(self, name, path, root, scratch):
        self.name = name
        self.path = path
        self.root = root  # the runtime's --root, holding nothing but its own state
        self.scratch = scratch  # our stderr and pid files
        self.err = os.path.join(scratch, "stderr")
        self.rss = {}  # verb -> max ru_maxrss (KiB)
        self.n = 0

    def new_id(self):
        self.n += 1
        return f"b{self.n}"

    def spawn(self, args, err=None):
        argv = [self.path, "--root", self.root, *args]
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, err or self.err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        ]
        return os.posix_spawn(self.path, argv, os.environ, file_actions=actions)

    def reap(self, pid, verb, err=None):
        """Wait for a spawned command; raise on failure."""
        _, status = os.waitpid(pid, 0)
        self.check(status, verb, err)

    def check(self, status, verb, err=None):
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise BenchError(f"{self.name} {verb}: exit {code}: {last_line(err or self.err)}")

    def call_tty(self, verb, *args):
        """call() with stdin and stdout a new pty that is the runtime's
        controlling terminal (runc's -t wants /dev/tty); its wall time in ns."""
        master, slave = os.openpty()
        name = os.ttyname(slave)
        os.close(slave)
        argv = [self.path, "--root", self.root, verb, *args]
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, name, os.O_RDWR, 0),  # after setsid: our ctty
            (os.POSIX_SPAWN_DUP2, 0, 1),
            (os.POSIX_SPAWN_OPEN, 2, self.err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        ]
        try:
            t0 = time.perf_counter_ns()
            pid = os.posix_spawn(self.path, argv, os.environ, file_actions=actions, setsid=True)
            self.reap(pid, verb)
            return time.perf_counter_ns() - t0
        finally:
            os.close(master)

    def rss_call(self, verb, *args):
        """Run a command untimed and record its ru_maxrss (KiB).

        A child's ru_maxrss counts the memory image it had before exec, so a
        runtime spawned (fork or vfork) by this Python process would report at
        least our own ~17 MiB. Instead a static busybox sh forks it and exits at
        once; the runtime is re-parented to us (we are a subreaper) and wait4
        gives its own peak: max(runtime, its reaped children, sh's ~1 MiB)."""
        r, w = os.pipe()
        argv = ["sh", "-c", '"$@" 3>&- & echo $! >&3', "sh", self.path, "--root", self.root, verb, *args]
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, self.err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
            (os.POSIX_SPAWN_DUP2, w, 3),
        ]
        try:
            sh = os.posix_spawn(BUSYBOX, argv, os.environ, file_actions=actions)
        finally:
            os.close(w)
        with os.fdopen(r) as f:
            out = f.read().strip()
        os.waitpid(sh, 0)  # once sh is gone, its child is ours
        _, status, ru = os.wait4(int(out), 0)
        self.check(status, verb)
        self.rss[verb] = max(self.rss.get(verb, 0), ru.ru_maxrss)

    def call(self, verb, *args):
        """Run `<runtime> --root R verb args...`; return its wall time in ns."""
        t0 = time.perf_counter_ns()
        self.reap(self.spawn([verb, *args]), verb)
        return time.perf_counter_ns() - t0

    def quiet(self, *args):
        """Untimed, unchecked (cleanup)."""
        subprocess.run([self.path, "--root", self.root, *args], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def clean(self):
        if os.path.isdir(self.root):
            for cid in os.listdir(self.root):
                self.quiet("delete", "--force", cid)
        reap_orphans()


class UserRuntime(Runtime):
    """The same runtime run by an unprivileged user (setpriv, whose exec is
    timed for every runtime alike), with a --root the user owns."""

    def __init__(self, rt, pw, base):
        super().__init__(rt.name, rt.path, os.path.join(base, f"{rt.name}.rootless"), rt.scratch)
        self.pw = pw
        os.chmod(base, 0o711)  # the tmpfs is 0700: let the user reach its own root
        os.makedirs(self.root, 0o700)
        os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.setpriv = shutil.which("setpriv")

    def spawn(self, args, err=None):
        argv = [self.setpriv, f"--reuid={self.pw.pw_uid}", f"--regid={self.pw.pw_gid}", "--init-groups",
                "--", self.path, "--root", self.root, *args]
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, err or self.err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        ]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/", "USER": self.pw.pw_name}
        return os.posix_spawn(self.setpriv, argv, env, file_actions=actions)


def last_line(path):
    try:
        with open(path, errors="replace") as f:
            lines = [ln.strip() for ln in f if ln.strip()]
    except OSError:
        return "(no stderr)"
    if not lines:
        return "(no stderr)"
    line = lines[-1]
    # runc/crun log JSON or logfmt lines; keep the message only.
    try:
        line = json.loads(line).get("msg", line)
    except (ValueError, AttributeError):
        pass
    return line[:200]


def reap_orphans():
    """Container inits are re-parented to us (subreaper): collect the exited ones.

    Only called between measurements, when no runtime command is in flight."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def read_pid(path):
    with open(path) as f:
        return int(f.read().strip())


def wait_exit(pid):
    """Block until process pid exits (it need not be our child)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        p = select.poll()
        p.register(fd, select.POLLIN)
        if not p.poll(WAIT_TIMEOUT_S * 1000):
            raise BenchError(f"pid {pid} still running after {WAIT_TIMEOUT_S}s")
    finally:
        os.close(fd)


# -------------------------------------------------------------------- cases
# Each case takes (runtime, bundles, ctx) and returns {row label: ns}.

def case_run(rt, b, ctx):
    return {"run /bin/true (ms)": rt.call("run", "--bundle", b["true"], rt.new_id())}


def case_rootless_run(rt, b, ctx):
    user_rt = (ctx.get("rootless") or {}).get(rt.name)
    if user_rt is None:
        raise BenchError(f"{rt.name} rootless: {ctx.get('rootless_why') or 'not set up'}")
    return {"rootless run /bin/true, as a user (ms)":
            user_rt.call("run", "--bundle", b["rootless"], user_rt.new_id())}


def case_lifecycle(rt, b, ctx):
    cid = rt.new_id()
    pidfile = os.path.join(rt.scratch, "pid")
    t0 = time.perf_counter_ns()
    create = rt.call("create", "--bundle", b["true"], "--pid-file", pidfile, cid)
    pid = read_pid(pidfile)
    start = rt.call("start", cid)
    wait_exit(pid)
    delete = rt.call("delete", cid)
    total = time.perf_counter_ns() - t0
    reap_orphans()
    return {"create→start→wait→delete (ms)": total, "· create (ms)": create,
            "· start (ms)": start, "· delete (ms)": delete}


def start_sleeper(rt, b):
    """An untimed running `sleep` container: (id, pid)."""
    cid = rt.new_id()
    pidfile = os.path.join(rt.scratch, "pid")
    pid = rt.spawn(["create", "--bundle", b["sleep"], "--pid-file", pidfile, cid])
    rt.reap(pid, "create")
    pid = rt.spawn(["start", cid])
    rt.reap(pid, "start")
    return cid, read_pid(pidfile)


def case_state(rt, b, ctx):
    if rt.name not in ctx:
        ctx[rt.name] = start_sleeper(rt, b)[0]
    # --version does no work: it is each runtime's start-up cost (for ocirun,
    # the interpreter's), the floor under every other row.
    out = {"state (ms)": rt.call("state", ctx[rt.name]),
           "--version: start-up alone (ms)": rt.call("--version")}
    if rt.name == "ocirun":  # beside the small commands too (exec has it as well)
        out[FLOOR_ROW] = floor_call(ctx["python"])
    return out


def case_exec(rt, b, ctx):
    """exec into the sleeper case_state started (an engine's health check)."""
    if rt.name not in ctx:
        ctx[rt.name] = start_sleeper(rt, b)[0]
    cid = ctx[rt.name]
    out = {"exec /bin/true into a running sleep (ms)": rt.call("exec", cid, "/bin/true"),
           "exec -t /bin/true, on a pty (ms)": rt.call_tty("exec", "-t", cid, "/bin/true")}
    if rt.name == "ocirun":
        out[FLOOR_ROW] = floor_call(ctx["python"])
    return out


def floor_call(python):
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(python, [python, "-I", "-S", "-c", "pass"], os.environ)
    os.waitpid(pid, 0)
    return time.perf_counter_ns() - t0


def interpreter_of(path):
    """The interpreter an ocirun launcher runs: the last word of its #! line."""
    try:
        with open(path, "rb") as f:
            first = f.readline().decode(errors="replace")
    except OSError:
        return sys.executable
    words = first[2:].split() if first.startswith("#!") else []
    return words[-1] if words else sys.executable


def case_podman(rt, b, ctx):
    """`podman run --rm` through the runtime (--podman): an engine's whole path,
    podman + conmon + the runtime's create, start, state, delete."""
    pm = (ctx.get("podman") or {}).get(rt.name)
    if pm is None:
        raise BenchError(f"{rt.name} podman: {ctx.get('podman_why') or 'not set up'}")
    t0 = time.perf_counter_ns()
    p = subprocess.run(pm["argv"] + ["run", "--rm", "localhost/busybox", "true"], env=pm["env"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    total = time.perf_counter_ns() - t0
    if p.returncode != 0:
        raise BenchError(f"{rt.name} podman run: exit {p.returncode}: {p.stderr.strip()[-200:]}")
    return {PODMAN_ROW: total}


def podman_setup(runtimes, base, tmp):
    """A private podman (tests/engines/podman-setup.sh: own storage, run and
    config) per runtime; busybox imported. -> ({name: ...}, why).
    The runtime is a two-line busybox sh wrapper adding a --root of its own,
    so no default runtime root is touched (podman's --runtime-flag is not
    passed on to the cleanup command conmon runs); it costs every runtime
    the same ~1 ms a call."""
    if not shutil.which("podman") or not shutil.which("conmon"):
        return {}, "podman/conmon not installed"
    tar = os.path.join(tmp, "rootfs.tar")
    subprocess.run(["bash", os.path.join(REPO, "bundles", "mkrootfs-tar.sh"), tar], check=True,
                   stdout=subprocess.DEVNULL)
    out = {}
    for rt in runtimes:
        # Short: conmon's attach socket lies ~110 characters below it, and a
        # longer unix socket path leaves podman waiting 20 s for the exit.
        pbase = tempfile.mkdtemp(prefix="pm-")
        # podman-setup.sh matches the runtime by name: give it a path named `ocirun`, `runc`...
        root = os.path.join(base, f"{rt.name}.podman")
        wrapper = os.path.join(tmp, f"bin-{rt.name}", rt.name)
        os.makedirs(os.path.dirname(wrapper))
        with open(wrapper, "w") as f:
            f.write(f'#!{BUSYBOX} sh\nexec {rt.path} --root {root} "$@"\n')
        os.chmod(wrapper, 0o755)
        p = subprocess.run(["bash", os.path.join(REPO, "tests", "engines", "podman-setup.sh"), pbase,
                            wrapper], check=True, capture_output=True, text=True)
        env = dict(os.environ)
        env.update(line.split("=", 1) for line in p.stdout.splitlines())
        argv = ["podman"]
        subprocess.run(argv + ["import", tar, "localhost/busybox"], env=env, check=True,
                       capture_output=True)
        out[rt.name] = {"argv": argv, "env": env, "base": pbase, "root": root}
    return out, None


def podman_teardown(pms, runtimes):
    paths = {rt.name: rt.path for rt in runtimes}
    for name, pm in pms.items():
        subprocess.run(pm["argv"] + ["rm", "-af", "-t", "0"], env=pm["env"], capture_output=True,
                       timeout=300)
        for cid in os.listdir(pm["root"]) if os.path.isdir(pm["root"]) else ():
            subprocess.run([paths[name], "--root", pm["root"], "delete", "--force", cid],
                           capture_output=True, timeout=60)
        subprocess.run(["bash", os.path.join(REPO, "tests", "engines", "engines-stop.sh"), pm["base"],
                        "podman"], capture_output=True, timeout=300)
        shutil.rmtree(pm["base"], ignore_errors=True)


def case_kill_delete(rt, b, ctx):
    cid, pid = start_sleeper(rt, b)
    t0 = time.perf_counter_ns()
    kill = rt.call("kill", cid, "KILL")
    wait_exit(pid)
    rt.call("delete", cid)
    total = time.perf_counter_ns() - t0
    reap_orphans()
    return {"kill+delete of a running sleep (ms)": total, "· kill (ms)": kill}


def case_pause(rt, b, ctx):
    """pause, then resume, of the sleeper case_state started (its own here)."""
    if rt.name not in ctx:
        ctx[rt.name] = start_sleeper(rt, b)[0]
    cid = ctx[rt.name]
    return {"pause of a running sleep (ms)": rt.call("pause", cid),
            "resume of it (ms)": rt.call("resume", cid)}


def case_checkpoint(rt, b, ctx):
    """CRIU dump of a running sleep, then its restore as a new container
    (--checkpoint only: it needs a working criu on PATH, which every
    runtime here drives). The sleeper's stdio are /dev/null: a file of a
    host mount (our stderr file) cannot be checkpointed."""
    cid = rt.new_id()
    pidfile = os.path.join(rt.scratch, "pid")
    rt.reap(rt.spawn(["create", "--bundle", b["sleep"], "--pid-file", pidfile, cid], err="/dev/null"),
            "create")
    rt.reap(rt.spawn(["start", cid]), "start")
    image = os.path.join(rt.scratch, "image")
    shutil.rmtree(image, ignore_errors=True)
    try:
        dump = rt.call("checkpoint", "--image-path", image, cid)
    finally:
        rt.quiet("delete", "--force", cid)  # runc forgets it by itself, ocirun keeps it stopped
        reap_orphans()
    new = rt.new_id()
    try:
        restore = rt.call("restore", "-d", "--image-path", image, "--bundle", b["sleep"], new)
    finally:
        rt.quiet("delete", "--force", new)
        reap_orphans()
    return dict(zip(CHECKPOINT_ROWS, (dump, restore)))


def case_seq(rt, b, ctx):
    n = ctx["seq"]
    t0 = time.perf_counter_ns()
    for _ in range(n):
        rt.call("run", "--bundle", b["true"], rt.new_id())
    total = time.perf_counter_ns() - t0
    return {f"{n} × run /bin/true in a row, total (s)": total}


def case_par(rt, b, ctx):
    n = ctx["par"]
    ids = [rt.new_id() for _ in range(n)]
    errs = [os.path.join(rt.scratch, f"stderr{i}") for i in range(n)]
    t0 = time.perf_counter_ns()
    pids = [rt.spawn(["create", "--bundle", b["sleep"], cid], err=e) for cid, e in zip(ids, errs)]
    failure = None
    for pid, e in zip(pids, errs):
        try:
            rt.reap(pid, "create", err=e)
        except BenchError as exc:  # keep reaping the others
            failure = failure or exc
    total = time.perf_counter_ns() - t0
    for cid in ids:
        rt.quiet("delete", "--force", cid)
    reap_orphans()
    if failure:
        raise failure
    return {f"{n} × create in parallel, total (s)": total}


# ------------------------------------------------------------------- unpack
# Optional (--unpack), ocirun only: runc and crun have no such verb, so these
# rows are a table of their own below the comparison.

UNPACK_ROWS = ("unpack: first bundle, layers verified + extracted (ms)",
               "unpack: second bundle from the unpacked layers (ms)")


def make_layout(rootfs, path):
    """A one-layer OCI image layout (tar+gzip) of the bench's busybox rootfs."""
    import gzip
    import hashlib
    import io
    import tarfile

    def blob(data):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(path, "blobs", "sha256", digest), "wb") as f:
            f.write(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    os.makedirs(os.path.join(path, "blobs", "sha256"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(rootfs, arcname=".")
    tar = buf.getvalue()
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"]},
              "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           **blob(json.dumps(config).encode())},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            **blob(gzip.compress(tar, 6))}]}
    index = {"schemaVersion": 2, "manifests": [
        {"mediaType": manifest["mediaType"], **blob(json.dumps(manifest).encode())}]}
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return path


def case_unpack(rt, layout, tmp, repeats):
    """Medians of the two UNPACK_ROWS over `repeats` fresh stores."""
    first, second = [], []
    for i in range(repeats):
        store, b1, b2 = (os.path.join(tmp, f"unpack{i}-{n}") for n in ("layers", "b1", "b2"))
        try:
            first.append(rt.call("unpack", "--image", layout, "--layers", store, b1))
            second.append(rt.call("unpack", "--image", layout, "--layers", store, b2))
        finally:
            for b in (b1, b2):
                if os.path.exists(b):
                    rt.quiet("unpack", "--remove", b)
            rt.quiet("unpack", "--gc", "--layers", store)
            shutil.rmtree(store, ignore_errors=True)
    return {UNPACK_ROWS[0]: statistics.median(first), UNPACK_ROWS[1]: statistics.median(second)}


# ------------------------------------------------------------------ machine

def cgroup_mode():
    if fstype("/sys/fs/cgroup") == "cgroup2":
        return "v2 (unified)"
    if fstype("/sys/fs/cgroup/unified") == "cgroup2":
        return "v1 hybrid (cgroup2 at /sys/fs/cgroup/unified)"
    return "v1 (legacy)"


def ensure_hugetlb():
    """crun refuses a hybrid host whose cgroup2 still holds hugetlb: give hugetlb
    a v1 hierarchy. Returns a line for the output, or None on a cgroup v2 host."""
    if cgroup_mode().startswith("v2"):
        return None
    target = "/sys/fs/cgroup/hugetlb"
    if os.path.ismount(target):
        return f"hugetlb cgroup v1 controller already mounted at {target}"
    try:
        os.makedirs(target, exist_ok=True)
        subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", target],
                       check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        detail = getattr(e, "stderr", "") or str(e)
        return f"could not mount hugetlb at {target} (crun may fail): {detail.strip()}"
    return f"mounted the hugetlb cgroup v1 controller at {target} (crun needs it off cgroup2)"


def fstype(path):
    """Filesystem type of the mount holding path (longest mount-point prefix)."""
    best, kind = "", "?"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mnt = fields[4]
            inside = path == mnt or path.startswith(mnt.rstrip("/") + "/")
            if inside and len(mnt) >= len(best):
                best, kind = mnt, fields[fields.index("-") + 1]
    return kind


def ensure_tmpfs(path):
    """Private state roots on tmpfs: mount one on path unless it already is.
    Returns True if we mounted it (and must unmount it)."""
    os.makedirs(path, exist_ok=True)
    if fstype(path) == "tmpfs":
        return False
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0700", "tmpfs", path], check=True)
    return True


def git_describe():
    try:
        p = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                           capture_output=True, text=True, timeout=20)
    except OSError:
        return "?"
    return p.stdout.strip() or "?"


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def version(path):
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20).stdout
    except OSError as e:
        return f"n/a ({e})"
    return out.splitlines()[0] if out else "n/a"


def machine_header():
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return [
        f"- host: {socket.gethostname()}, nproc {len(os.sched_getaffinity(0))}, "
        f"memory {mem_kib / 1048576:.1f} GiB, cpu {cpu}",
        f"- kernel: {platform.release()}; cgroups: {cgroup_mode()}",
    ]


# -------------------------------------------------------------------- bundle

def make_bundles(tmp, user=None):
    rootfs = os.path.join(tmp, "rootfs")
    subprocess.run(["bash", os.path.join(REPO, "bundles", "mkrootfs.sh"), rootfs], check=True,
                   stdout=subprocess.DEVNULL)
    sys.path.insert(0, REPO)
    from ocirun.spec.defaults import default_config

    bundles = {}
    for name, args in (("true", ["/bin/true"]), ("sleep", ["/bin/sleep", "3600"])):
        c = default_config()
        # crun 1.8.1 rejects newer ociVersions; all three get the same config.
        c["ociVersion"] = "1.0.2"
        c["root"] = {"path": rootfs, "readonly": True}
        c["process"]["terminal"] = False
        c["process"]["args"] = args
        d = os.path.join(tmp, name)
        os.makedirs(d)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(c, f, indent="\t")
        bundles[name] = d
    if user is not None:
        # `runc spec --rootless` for the user: its own ids mapped to root, no
        # cgroup, no network namespace; the read-only rootfs is readable by all.
        os.chmod(tmp, 0o755)
        c = default_config(rootless=True)
        c["ociVersion"] = "1.0.2"
        c["root"] = {"path": rootfs, "readonly": True}
        c["process"]["terminal"] = False
        c["process"]["args"] = ["/bin/true"]
        c["linux"]["uidMappings"][0]["hostID"] = user.pw_uid
        c["linux"]["gidMappings"][0]["hostID"] = user.pw_gid
        d = os.path.join(tmp, "rootless")
        os.makedirs(d)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(c, f, indent="\t")
        bundles["rootless"] = d
    return bundles


# --------------------------------------------------------------------- main

def fmt(value, unit):
    if value is None:
        return "n/a"
    if unit == "s":
        return f"{value / 1e9:.2f}"
    if unit == "MiB":
        return f"{value / 1024:.1f}"
    ms = value / 1e6
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}"


def ratio(a, b):
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.1f}×"


def table(rows, med, failed):
    out = ["| case | " + " | ".join(RUNTIMES) + " | ocirun/runc | ocirun/crun |",
           "|---|" + "---:|" * (len(RUNTIMES) + 2)]
    for label in rows:
        unit = label.rsplit("(", 1)[1].rstrip(")")
        vals = {rt: med.get((rt, label)) for rt in RUNTIMES}
        if label == FLOOR_ROW:  # not a runtime's: ocirun's column only
            out.append(f"| {label} | {fmt(vals['ocirun'], unit)} | — | — | — | — |")
            continue
        out.append(f"| {label} | "
                   + " | ".join(fmt(vals[rt], unit) for rt in RUNTIMES)
                   + f" | {ratio(vals['ocirun'], vals['runc'])} | {ratio(vals['ocirun'], vals['crun'])} |")
    notes = [f"- {rt} n/a: {reason}" for rt, reason in failed.items()]
    return out + floor_gaps(med), notes


def floor_gaps(med):
    """One line: each small command's ocirun median minus the interpreter floor."""
    floor = med.get(("ocirun", FLOOR_ROW))
    gaps = [(label.split(" (")[0].lstrip("· ").split(" of ")[0], med.get(("ocirun", label)))
            for label in SMALL_ROWS]
    gaps = [f"{name} {(v - floor) / 1e6:+.2f}" for name, v in gaps if v is not None]
    if floor is None or not gaps:
        return []
    return ["", "ocirun above the interpreter floor (ms; issue 13's target ≤ +1): " + ", ".join(gaps)]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ocirun", help="ocirun binary (default: the installed one on PATH)")
    p.add_argument("--runc", default=shutil.which("runc"))
    p.add_argument("--crun", default=shutil.which("crun"))
    p.add_argument("--quick", action="store_true",
                   help="smoke run: warm-up 1, repeats 3, 5 in a row, 3 in parallel, 1 RSS pass")
    p.add_argument("--repeats", type=int, help="measured iterations per single-command case (15)")
    p.add_argument("--warmup", type=int, help="unmeasured iterations before them (3)")
    p.add_argument("--batch-repeats", type=int,
                   help="measured iterations of the in-a-row / parallel cases (3)")
    p.add_argument("--rss-repeats", type=int, help="iterations of the peak-RSS pass (3)")
    p.add_argument("--seq", type=int, help="containers run in a row (100)")
    p.add_argument("--par", type=int, help="containers created in parallel (20)")
    p.add_argument("--unpack", action="store_true",
                   help="also time `ocirun unpack` of a one-layer busybox image (ocirun only)")
    p.add_argument("--rootless-user", default="ocirun-test",
                   help="who runs the rootless row (default ocirun-test, the tests' user; "
                        "the runtimes must be readable by it)")
    p.add_argument("--rootless-ocirun", default=USER_OCIRUN if os.path.exists(USER_OCIRUN) else None,
                   help=f"ocirun binary for that user (default: {USER_OCIRUN}, .ci/install's, "
                        "else --ocirun)")
    p.add_argument("--output", help="where to save the table (default bench/results/<date>-<host>.md)")
    p.add_argument("--no-save", action="store_true")
    p.add_argument("--podman", action="store_true",
                   help="also time `podman run --rm` with each runtime (private podman storage; "
                        "adds ~1 min)")
    p.add_argument("--only", help="comma-separated cases to run (run, lifecycle, state, exec, "
                   "kill_delete, podman, seq, par...; the other rows are n/a)")
    p.add_argument("--checkpoint", action="store_true",
                   help="also time checkpoint and restore (needs criu >= 4.1 on PATH)")
    a = p.parse_args(argv)
    q = a.quick
    a.repeats = a.repeats if a.repeats is not None else (3 if q else 15)
    a.warmup = a.warmup if a.warmup is not None else (1 if q else 3)
    a.batch_repeats = a.batch_repeats if a.batch_repeats is not None else min(a.repeats, 3)
    a.rss_repeats = a.rss_repeats if a.rss_repeats is not None else (1 if q else 3)
    a.seq = a.seq or (5 if q else 100)
    a.par = a.par or (3 if q else 20)
    a.ocirun = a.ocirun or shutil.which("ocirun")
    a.python = interpreter_of(a.ocirun) if a.ocirun else sys.executable
    return a


def main(argv=None):
    a = parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("bench: run as root (containers, cgroups, mounts)")
    paths = {"ocirun": a.ocirun, "runc": a.runc, "crun": a.crun}
    failed = {rt: "not found" for rt, p in paths.items() if not p}
    if "ocirun" in failed:
        sys.exit("bench: no ocirun on PATH (install it: see README) and no --ocirun")

    # Orphaned container inits come to us rather than to pid 1, which may not reap.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    notes = []
    if "crun" not in failed:
        msg = ensure_hugetlb()
        if msg:
            notes.append(msg)
            if "already" not in msg:
                print(f"bench: {msg}", file=sys.stderr)

    load_before = loadavg()
    base = f"/run/ocirun-bench-{os.getpid()}"
    tmp = tempfile.mkdtemp(prefix="ocirun-bench-")
    mounted = False
    runtimes = []
    rootless = {}  # runtime name -> the same runtime run by the rootless user
    errors = []
    unpacked = {}
    pms, pm_why = {}, None
    try:
        mounted = ensure_tmpfs(base)
        if mounted:
            notes.append(f"state roots on a tmpfs mounted at {base} (/run is not tmpfs here)")
        user = rootless_user(a.rootless_user)
        bundles = make_bundles(tmp, user)
        for name in RUNTIMES:
            if name in failed:
                continue
            root, scratch = os.path.join(base, name), os.path.join(base, f"{name}.files")
            os.makedirs(root)
            os.makedirs(scratch)
            runtimes.append(Runtime(name, paths[name], root, scratch))
            if user is not None:
                rootless[name] = UserRuntime(runtimes[-1], user, base)
                if name == "ocirun" and a.rootless_ocirun:
                    rootless[name].path = a.rootless_ocirun
        why = None if user else f"no user {a.rootless_user!r} (the rootless tests create it)"
        if a.podman:
            pms, pm_why = podman_setup(runtimes, base, tmp)
        med = run_cases(a, runtimes, bundles, failed, errors, rootless, why,
                        extra={"podman": pms, "podman_why": pm_why, "python": a.python})
        if a.unpack and "ocirun" not in failed:
            layout = make_layout(os.path.join(tmp, "rootfs"), os.path.join(tmp, "layout"))
            try:
                unpacked = case_unpack(runtimes[0], layout, tmp, a.repeats)
            except BenchError as e:
                errors.append(f"unpack: {e}")
    finally:
        podman_teardown(pms, runtimes)
        for rt in runtimes + list(rootless.values()):
            rt.clean()
        shutil.rmtree(tmp, ignore_errors=True)
        if mounted:
            subprocess.run(["umount", base], check=False)
        shutil.rmtree(base, ignore_errors=True)

    rows = row_labels(a.seq, a.par, a.checkpoint, a.podman)
    lines, fail_notes = table(rows, med, failed)
    fail_notes += [f"- n/a in one case: {e}" for e in errors]
    if unpacked:
        lines += ["", "| ocirun only | ms |", "|---|---:|"]
        lines += [f"| {label} | {fmt(unpacked[label], 'ms')} |" for label in UNPACK_ROWS]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    for n in fail_notes:
        print(n)

    header = [f"# ocirun vs runc vs crun — {time.strftime('%Y-%m-%d %H:%M')}", ""]
    header += machine_header()
    header.append(f"- load average (1, 5, 15 min) before: {load_before}; after: {loadavg()}")
    header.append(f"- python: {platform.python_version()} ({sys.executable}); ocirun's interpreter: "
                  f"{a.python}")
    header.append(f"- this checkout: {git_describe()} (ocirun below is whatever is installed)")
    for name in RUNTIMES:
        header.append(f"- {name}: {paths[name] or 'not found'} — "
                      + (version(paths[name]) if paths[name] else ""))
    header.append(f"- method: median of {a.repeats} (warm-up {a.warmup}) for single commands, "
                  f"{a.batch_repeats} for the batch rows; runtimes alternate every iteration; "
                  "same ociVersion 1.0.2 busybox bundle, no cgroupsPath; peak RSS = wait4's "
                  f"ru_maxrss (runtime + descendants it reaped), max over {a.rss_repeats} "
                  "separate untimed runs of each command")
    header += [f"- note: {n}" for n in notes]
    doc = "\n".join(header) + "\n\n" + text + "".join(n + "\n" for n in fail_notes)
    if not a.no_save:
        out = a.output or os.path.join(
            HERE, "results", f"{time.strftime('%Y-%m-%d')}-{socket.gethostname().split('.')[0]}.md")
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            f.write(doc)
        print(f"saved {out}", file=sys.stderr)
    return 0


def rootless_user(name):
    import pwd

    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def run_cases(a, runtimes, bundles, failed, errors, rootless=None, rootless_why=None, extra=None):
    """Probe each runtime, then every case with runtimes alternating; -> medians.

    A runtime whose probe fails goes to failed (whole column n/a); one that
    fails within a case is dropped from that case, the reason added to errors."""
    active = []
    for rt in runtimes:
        try:
            rt.call("run", "--bundle", bundles["true"], rt.new_id())
            active.append(rt)
        except BenchError as e:
            failed[rt.name] = str(e)
        rt.clean()

    samples = {}  # (runtime, label) -> [ns]
    single = a.warmup + a.repeats
    # The batch cases come after the single ones have warmed everything up.
    batch = a.batch_repeats
    plan = [(case_run, single, a.warmup), (case_rootless_run, single, a.warmup),
            (case_lifecycle, single, a.warmup),
            (case_state, single, a.warmup), (case_exec, single, a.warmup),
            (case_kill_delete, single, a.warmup), (case_pause, single, a.warmup)]
    if a.checkpoint:
        plan.append((case_checkpoint, single, a.warmup))
    if getattr(a, "podman", False):
        plan.append((case_podman, single, a.warmup))
    plan += [(case_seq, batch, 0), (case_par, batch, 0)]
    if getattr(a, "only", None):
        plan = [p for p in plan if p[0].__name__[5:] in a.only.split(",")]
    for case, iterations, warm in plan:
        ctx = {"seq": a.seq, "par": a.par, "rootless": rootless, "rootless_why": rootless_why,
               "python": getattr(a, "python", sys.executable), **(extra or {})}
        broken = set()
        for i in range(iterations):
            for rt in active:
                if rt.name in broken:
                    continue
                try:
                    result = case(rt, bundles, ctx)
                except BenchError as e:
                    broken.add(rt.name)
                    errors.append(f"{case.__name__[5:]}: {e}")
                    print(f"bench: {case.__name__}: {e}", file=sys.stderr)
                    rt.clean()
                    continue
                if i >= warm:
                    for label, ns in result.items():
                        samples.setdefault((rt.name, label), []).append(ns)
        for rt in active:  # the `state` case leaves its sleeper running
            rt.clean()
        print(f"bench: {case.__name__} done", file=sys.stderr)

    rss_pass(active, bundles, a.rss_repeats, errors)
    med = {k: statistics.median(v) for k, v in samples.items()}
    for rt in active:
        for verb in VERBS:
            if verb in rt.rss:
                med[(rt.name, f"peak RSS: {verb} (MiB)")] = rt.rss[verb]
        if rt.rss:
            med[(rt.name, "peak RSS: max over commands (MiB)")] = max(rt.rss.values())
    return med


def rss_pass(active, bundles, repeats, errors):
    """Peak RSS of each verb: run; create, start, state, kill, delete of a sleeper."""
    broken = set()
    for _ in range(repeats):
        for rt in active:
            if rt.name in broken:
                continue
            try:
                rt.rss_call("run", "--bundle", bundles["true"], rt.new_id())
                cid = rt.new_id()
                pidfile = os.path.join(rt.scratch, "pid")
                rt.rss_call("create", "--bundle", bundles["sleep"], "--pid-file", pidfile, cid)
                pid = read_pid(pidfile)
                rt.rss_call("start", cid)
                rt.rss_call("state", cid)
                rt.rss_call("exec", cid, "/bin/true")
                rt.rss_call("pause", cid)
                rt.rss_call("resume", cid)
                rt.rss_call("kill", cid, "KILL")
                wait_exit(pid)
                rt.rss_call("delete", cid)
            except (BenchError, OSError, ValueError) as e:
                broken.add(rt.name)
                errors.append(f"peak RSS: {e}")
                rt.rss.clear()
                rt.clean()
            reap_orphans()
    print("bench: rss pass done", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
