"""checkpoint / restore with real CRIU on real containers (issue 14).

The counter container of the issue is checkpointed and restored: it goes
on counting from where it stopped, in a new cgroup, and the usual commands
work on it. Variants: --leave-running, a read-only root with a tmpfs, a
terminal through a console socket, a bind mount; runc on the same bundle
and the same CRIU for comparison; refusals (--pre-dump on a kernel without
soft-dirty tracking) and failures that must leave nothing behind. The
container's stdio are pipes, as engines give (a file of a host mount
cannot be checkpointed, by runc either).
"""
import glob
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import (HAVE_RUNC, bind_mount, cgroup_dirs, console_listener, new_id, processes_with,
                      wait_until)

CRIU = shutil.which("criu")
COUNTER = ["sh", "-c", "while :; do i=$((i+1)); echo $i >/tmp/c; sleep 1; done"]
# The same, also telling its terminal (for the console test).
TTY_COUNTER = ["sh", "-c", "while :; do i=$((i+1)); echo $i >/tmp/c; echo tick$i; sleep 1; done"]



@pytest.fixture(scope="module", autouse=True)
def working_criu():
    """A missing CRIU fails these tests (it is installed by .ci/install), never skips them."""
    if CRIU is None or subprocess.run([CRIU, "check"], capture_output=True).returncode != 0:
        pytest.fail("no working CRIU >= 4.1 on PATH: run .ci/install (it builds one)")


class Detached:
    """`ocirun run -d` / `restore -d` with pipes for stdio, kept open: the
    container writes into them after ocirun has exited."""

    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.rc = self.p.wait(timeout=120)
        if self.rc != 0:
            os.set_blocking(self.p.stderr.fileno(), False)
            err = self.p.stderr.read() or b""
            raise AssertionError(f"{' '.join(argv)} -> {self.rc}: {err.decode(errors='replace')}")

    def close(self):
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            f.close()


@pytest.fixture
def keep():
    held = []
    yield held
    for d in held:
        d.close()


def host_counter(rootfs):
    with open(os.path.join(rootfs, "tmp", "c")) as f:
        text = f.read().strip()
    return int(text) if text else 0


def exec_counter(oci, cid):
    """The counter as the container sees it (its shell truncates the file, then
    writes: an empty read is that moment, read again)."""
    for _ in range(20):
        text = oci("exec", cid, "cat", "/tmp/c", check=True).stdout.strip()
        if text:
            return int(text)
        time.sleep(0.05)
    raise AssertionError("/tmp/c stays empty")


def pid_of(oci, cid):
    return oci.state(cid)["pid"]


def gone(pid):
    """No such process, or a zombie (its parent, pytest or init, reaps it later)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def cgroup_of(pid):
    with open(f"/proc/{pid}/cgroup") as f:
        return {ctrls: path for _, ctrls, path in (ln.rstrip("\n").split(":", 2) for ln in f)}


def leftovers():
    """What a checkpoint or restore could leave: its private root dirs and mounts."""
    with open("/proc/self/mountinfo") as f:
        mounts = [ln for ln in f if "ocirun-criu-root" in ln]
    return mounts + glob.glob("/tmp/ocirun-criu-root.*")


def start_counter(oci, keep, b, cid, args=COUNTER):
    keep.append(Detached(oci.cmd("run", "-d", "--bundle", b, cid)))
    wait_until(lambda: exec_counter(oci, cid) >= 2, timeout=20, what="the counter")


def restore(oci, keep, cid, image, b, *extra):
    keep.append(Detached(oci.cmd("restore", "-d", "--image-path", image, "--bundle", b, *extra, cid)))


def test_counter_checkpoint_and_restore(oci, keep, bundle, rootfs, tmp_path):
    """The issue's demonstration: the counter goes on from where it stopped,
    in a new cgroup, and state/exec/pause/kill/delete work on the restored one."""
    b = bundle(COUNTER)
    cid, cid2 = new_id("cr"), new_id("cr")
    start_counter(oci, keep, b, cid)
    old_pid = pid_of(oci, cid)
    image = str(tmp_path / "image")
    oci("checkpoint", "--image-path", image, cid, check=True)
    # Not --leave-running: stopped (processes gone), and deletable.
    assert oci.state(cid)["status"] == "stopped"
    assert gone(old_pid)
    with open(os.path.join(image, "descriptors.json")) as f:
        desc = json.load(f)
    assert desc[0] == "/dev/null" or desc[0].startswith("pipe:"), desc
    assert all(d.startswith("pipe:") for d in desc[1:]), desc
    saved = host_counter(rootfs)
    time.sleep(1.5)
    assert host_counter(rootfs) == saved, "the checkpointed container kept counting"
    oci("delete", cid, check=True)
    assert not [d for d in cgroup_dirs() if d.endswith("/" + cid)]

    restore(oci, keep, cid2, image, b)
    st = oci.state(cid2)
    assert st["status"] == "running" and st["pid"] not in (0, old_pid)
    assert all(path.endswith("/" + cid2) for path in cgroup_of(st["pid"]).values())
    n = wait_until(lambda: (v := exec_counter(oci, cid2)) > saved and v, timeout=10, what="counting")
    assert n <= saved + 5, (saved, n)  # continued, not restarted from 1
    oci("pause", cid2, check=True)
    assert oci.state(cid2)["status"] == "paused"
    oci("resume", cid2, check=True)
    oci("kill", cid2, "KILL", check=True)
    wait_until(lambda: oci.state(cid2)["status"] == "stopped", what="stopped")
    oci("delete", cid2, check=True)
    assert not [d for d in cgroup_dirs() if d.endswith("/" + cid2)]
    assert leftovers() == []


def test_restore_reuses_the_checkpointed_id(oci, keep, bundle, rootfs, tmp_path):
    """runc deletes the container at checkpoint; ocirun keeps it stopped, and
    a restore under the same id takes its place (as `runc checkpoint X;
    runc restore X` does)."""
    b = bundle(COUNTER)
    cid = new_id("cr")
    start_counter(oci, keep, b, cid)
    image = str(tmp_path / "image")
    oci("checkpoint", "--image-path", image, cid, check=True)
    saved = host_counter(rootfs)
    restore(oci, keep, cid, image, b)
    assert oci.state(cid)["status"] == "running"
    wait_until(lambda: exec_counter(oci, cid) > saved, what="counting")
    oci("delete", "--force", cid, check=True)


def test_leave_running(oci, keep, bundle, tmp_path):
    b = bundle(COUNTER)
    cid, cid2 = new_id("cr"), new_id("cr")
    start_counter(oci, keep, b, cid)
    pid = pid_of(oci, cid)
    image = str(tmp_path / "image")
    oci("checkpoint", "--leave-running", "--image-path", image, cid, check=True)
    st = oci.state(cid)
    assert st["status"] == "running" and st["pid"] == pid
    n = exec_counter(oci, cid)
    wait_until(lambda: exec_counter(oci, cid) > n, what="still counting")
    # The image restores beside the original (its own pid namespace and cgroup).
    restore(oci, keep, cid2, image, b)
    assert oci.state(cid2)["status"] == "running"
    assert oci.state(cid)["status"] == "running"
    for c in (cid, cid2):
        oci("delete", "--force", c, check=True)


def test_empty_network_namespace_and_work_path(oci, keep, bundle, tmp_path):
    """--empty-ns network: the netns is not saved, restore gives a new empty
    one (lo down); --work-path takes CRIU's logs apart from the image."""
    b = bundle(COUNTER)
    cid = new_id("cr")
    start_counter(oci, keep, b, cid)
    image, work = str(tmp_path / "image"), str(tmp_path / "work")
    oci("checkpoint", "--empty-ns", "network", "--work-path", work, "--image-path", image, cid,
        check=True)
    assert os.path.exists(os.path.join(work, "dump.log"))
    assert not os.path.exists(os.path.join(image, "dump.log"))
    assert not glob.glob(os.path.join(image, "netns-*.img"))
    restore(oci, keep, cid, image, b, "--empty-ns", "network", "--work-path", work)
    assert os.path.exists(os.path.join(work, "restore.log"))
    out = oci("exec", cid, "ip", "-o", "link", check=True).stdout
    assert [ln.split(":")[1].strip() for ln in out.splitlines()] == ["lo"], out
    oci("delete", "--force", cid, check=True)


def test_read_only_root_with_tmpfs(oci, keep, bundle, tmp_path):
    """The counter's file is on a tmpfs: CRIU saves the tmpfs contents."""
    def edit(c):
        c["root"]["readonly"] = True
        c["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                            "options": ["nosuid", "nodev", "mode=1777"]})
    b = bundle(COUNTER, edit=edit)
    cid = new_id("cr")
    start_counter(oci, keep, b, cid)
    image = str(tmp_path / "image")
    oci("checkpoint", "--image-path", image, cid, check=True)
    oci("delete", cid, check=True)
    restore(oci, keep, cid, image, b)
    n = exec_counter(oci, cid)
    assert n >= 2  # the tmpfs came back with its file
    wait_until(lambda: exec_counter(oci, cid) > n, what="counting")
    p = oci("exec", cid, "touch", "/x")
    assert p.returncode != 0  # the root is still read-only
    oci("delete", "--force", cid, check=True)


def test_bind_mount(oci, keep, bundle, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    args = ["sh", "-c", "while :; do i=$((i+1)); echo $i >/data/c; echo $i >/tmp/c; sleep 1; done"]
    b = bundle(args, edit=lambda c: c["mounts"].append(bind_mount(data, "/data", "rbind", "rw")))
    cid = new_id("cr")
    start_counter(oci, keep, b, cid)
    image = str(tmp_path / "image")
    oci("checkpoint", "--image-path", image, cid, check=True)
    saved = int((data / "c").read_text())
    oci("delete", cid, check=True)
    restore(oci, keep, cid, image, b)
    # The restored process writes into the same host directory again.
    wait_until(lambda: int((data / "c").read_text() or 0) > saved, what="counting into the bind mount")
    oci("delete", "--force", cid, check=True)


def test_terminal_through_console_socket(oci, bundle, tmp_path):
    def edit(c):
        c["process"]["terminal"] = True
    b = bundle(TTY_COUNTER, edit=edit)
    cid = new_id("cr")
    sock = str(tmp_path / "console.sock")
    srv, t, got = console_listener(sock)
    oci("run", "-d", "--console-socket", sock, "--bundle", b, cid, check=True,
        stdin=subprocess.DEVNULL)
    t.join(30)
    srv.close()
    master = got["fds"][0]
    image = str(tmp_path / "image")
    try:
        wait_until(lambda: exec_counter(oci, cid) >= 2, timeout=20, what="the counter")
        oci("checkpoint", "--image-path", image, cid, check=True)
    finally:
        os.close(master)
    oci("delete", cid, check=True)
    os.unlink(sock)
    srv, t, got = console_listener(sock)
    oci("restore", "-d", "--console-socket", sock, "--image-path", image, "--bundle", b, cid,
        check=True, stdin=subprocess.DEVNULL)
    t.join(30)
    srv.close()
    assert got["fds"], "no pty master sent to the console socket"
    master = got["fds"][0]
    try:
        out = b""
        deadline = time.time() + 10
        while b"tick" not in out and time.time() < deadline:
            out += os.read(master, 4096)
        assert b"tick" in out, out
        p = oci("exec", cid, "sh", "-c", "readlink /proc/1/fd/0", check=True)
        assert p.stdout.startswith("/dev/pts/"), p.stdout
    finally:
        os.close(master)
        oci("delete", "--force", cid)


def test_pre_dump_is_refused_clearly(oci, keep, bundle, tmp_path):
    """No CONFIG_MEM_SOFT_DIRTY here: --pre-dump fails with one line, the
    container goes on running."""
    b = bundle(COUNTER)
    cid = new_id("cr")
    start_counter(oci, keep, b, cid)
    for flags, word in ((["--pre-dump"], "CONFIG_MEM_SOFT_DIRTY"),
                        (["--lazy-pages"], "--lazy-pages"),
                        (["--page-server", "127.0.0.1:1"], "--page-server"),
                        (["--manage-cgroups-mode", "bogus"], "--manage-cgroups-mode"),
                        (["--empty-ns", "ipc"], "--empty-ns")):
        p = oci("checkpoint", *flags, "--image-path", str(tmp_path / "img"), cid)
        assert p.returncode != 0 and word in p.stderr, (flags, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert oci.state(cid)["status"] == "running"
    oci("delete", "--force", cid, check=True)


def test_failed_dump_leaves_container_running(oci, bundle, tmp_path):
    """An fd of a host device (passed with --preserve-fds) is on a mount the
    container does not have: CRIU cannot dump it and fails, the container is
    thawed and goes on, nothing is recorded."""
    b = bundle(COUNTER)
    cid = new_id("cr")
    subprocess.run(["sh", "-c", 'exec "$@" 3</dev/zero', "sh",
                    *oci.cmd("run", "-d", "--preserve-fds", "1", "--bundle", b, cid)], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: exec_counter(oci, cid) >= 1, timeout=20, what="the counter")
    p = oci("checkpoint", "--image-path", str(tmp_path / "image"), cid)
    assert p.returncode != 0 and "criu" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert oci.state(cid)["status"] == "running"
    n = exec_counter(oci, cid)
    wait_until(lambda: exec_counter(oci, cid) > n, what="still counting")
    oci("delete", "--force", cid, check=True)


def test_failed_restore_leaves_nothing(oci, keep, bundle, tmp_path):
    b = bundle(COUNTER)
    cid = new_id("cr")
    start_counter(oci, keep, b, cid)
    image = tmp_path / "image"
    oci("checkpoint", "--image-path", str(image), cid, check=True)
    oci("delete", cid, check=True)
    # No image there at all: refused before anything is made.
    p = oci("restore", "-d", "--image-path", str(tmp_path / "none"), "--bundle", b, cid)
    assert p.returncode != 0 and "--image-path" in p.stderr, p.stderr
    # A broken image: CRIU fails midway.
    (image / "pstree.img").unlink()
    p = oci("restore", "-d", "--image-path", str(image), "--bundle", b, cid, stdin=subprocess.DEVNULL)
    assert p.returncode != 0 and "criu" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert oci("state", cid).returncode != 0
    assert not [d for d in cgroup_dirs() if cid in d]  # (others' containers come and go)
    assert leftovers() == []
    assert not processes_with(cid)


@pytest.mark.skipif(not HAVE_RUNC, reason="runc not installed")
def test_same_outcome_as_runc(oci, bundle, rootfs, tmp_path):
    """runc on the same bundle with the same CRIU (from PATH): checkpoint
    stops the counter, restore continues it, the restored container runs.
    The one difference: runc forgets the checkpointed container, ocirun
    shows it stopped until it is deleted or restored over."""
    b = bundle(COUNTER)
    outcome = {}
    for name, argv in (("runc", ["runc", "--root", str(tmp_path / "runc")]), ("ocirun", oci.cmd())):
        cid = new_id(name)
        held = []
        try:
            held.append(Detached([*argv, "run", "-d", "--bundle", b, cid]))
            wait_until(lambda: host_counter(rootfs) >= 2, timeout=20, what="the counter")
            image = str(tmp_path / f"image-{name}")
            ck = subprocess.run([*argv, "checkpoint", "--image-path", image, cid], capture_output=True,
                                text=True, timeout=120)
            saved = host_counter(rootfs)
            time.sleep(1.2)
            frozen = host_counter(rootfs) == saved
            held.append(Detached([*argv, "restore", "-d", "--image-path", image, "--bundle", b, cid]))
            state = json.loads(subprocess.run([*argv, "state", cid], capture_output=True, text=True,
                                              check=True).stdout)
            wait_until(lambda: host_counter(rootfs) > saved, what=f"{name} counting")
            outcome[name] = (ck.returncode, frozen, state["status"], host_counter(rootfs) <= saved + 5)
        finally:
            subprocess.run([*argv, "delete", "--force", cid], capture_output=True)
            for d in held:
                d.close()
            with open(os.path.join(rootfs, "tmp", "c"), "w"):
                pass  # the next runtime counts from 0 again
    assert outcome["ocirun"] == outcome["runc"] == (0, True, "running", True), outcome


@pytest.mark.skipif(not HAVE_RUNC, reason="runc not installed")
def test_restores_runcs_checkpoint(oci, keep, bundle, rootfs, tmp_path):
    """A container checkpointed by runc is restored by ocirun (the image's
    external mounts use runc's keys, e.g. "/dev/null" for masked files).
    The other way does not work with runc 1.1 on this hybrid host: ocirun also
    mounts the cgroup2 hierarchy, for which runc's restore has no mapping."""
    b = bundle(COUNTER)
    runc = ["runc", "--root", str(tmp_path / "runc")]
    rid, cid = new_id("runc"), new_id("cr")
    keep.append(Detached([*runc, "run", "-d", "--bundle", b, rid]))
    try:
        wait_until(lambda: host_counter(rootfs) >= 2, timeout=20, what="the counter")
        image = str(tmp_path / "image")
        subprocess.run([*runc, "checkpoint", "--image-path", image, rid], check=True, timeout=120)
    finally:
        subprocess.run([*runc, "delete", "--force", rid], capture_output=True)
    saved = host_counter(rootfs)
    try:
        restore(oci, keep, cid, image, b)
        assert oci.state(cid)["status"] == "running"
        wait_until(lambda: exec_counter(oci, cid) > saved, what="counting on")
        assert exec_counter(oci, cid) <= saved + 5
    finally:
        oci("delete", "--force", cid)
        with open(os.path.join(rootfs, "tmp", "c"), "w"):
            pass


def test_restore_runs_runtime_hooks(oci, keep, bundle, tmp_path):
    """At CRIU's setup-namespaces, the restored container's prestart and
    createRuntime hooks run with its state on stdin (as runc does)."""
    b = bundle(COUNTER)
    cid, cid2 = new_id("cr"), new_id("cr")
    start_counter(oci, keep, b, cid)
    image = str(tmp_path / "image")
    oci("checkpoint", "--image-path", image, cid, check=True)
    out = tmp_path / "hook.json"

    def edit(c):
        c["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {out}"]}]}
    b2 = bundle(COUNTER, edit=edit)
    restore(oci, keep, cid2, image, b2)
    state = json.loads(out.read_text())
    assert state["id"] == cid2 and state["pid"] > 0 and state["bundle"] == b2
    oci("delete", "--force", cid2, check=True)


def test_restore_in_the_foreground(oci, keep, bundle, tmp_path):
    """Without --detach, restore waits like `run`: the init is its child
    (CRIU restores it as our sibling), its exit status is ours, and the
    container is deleted after."""
    b = bundle(COUNTER)
    cid = new_id("cr")
    start_counter(oci, keep, b, cid)
    image = str(tmp_path / "image")
    oci("checkpoint", "--image-path", image, cid, check=True)
    with open(tmp_path / "err", "w") as err:
        p = subprocess.Popen(oci.cmd("restore", "--image-path", image, "--bundle", b, cid),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        try:
            def running():
                q = oci("state", cid)  # one call: the old record goes away meanwhile
                return q.returncode == 0 and json.loads(q.stdout)["status"] == "running"
            wait_until(running, timeout=30, what="restored")
            oci("kill", cid, "KILL", check=True)
            assert p.wait(timeout=30) == 137, (tmp_path / "err").read_text()
        finally:
            p.kill()
            p.wait()
            p.stdin.close()
            p.stdout.close()
    assert oci("state", cid).returncode != 0  # deleted


def test_restore_needs_console_socket_for_terminal(oci, bundle, tmp_path):
    b = bundle(COUNTER, edit=lambda c: c["process"].update(terminal=True))
    os.makedirs(tmp_path / "image")
    (tmp_path / "image" / "descriptors.json").write_text('["/dev/null","/dev/null","/dev/null"]')
    p = oci("restore", "-d", "--image-path", str(tmp_path / "image"), "--bundle", b, new_id())
    assert p.returncode != 0 and "--console-socket" in p.stderr, p.stderr


# --- podman -------------------------------------------------------------------------------
# A private podman (as test_engines.py sets it up) with this checkout's ocirun as its runtime.
from test_engines import IMAGE, Podman, image_tar, parents_before  # noqa: E402,F401 (fixtures)


@pytest.fixture(scope="module")
def podman(tmp_path_factory, ocirun_bin, image_tar, parents_before):  # noqa: F811
    if not shutil.which("podman") or not shutil.which("conmon"):
        pytest.fail("podman/conmon not installed: run .ci/install")
    p = Podman(str(tmp_path_factory.mktemp("podman-cr")), ocirun_bin, image_tar)
    yield p
    p.shutdown()


def podman_counter(podman, cid):
    return int(podman("exec", cid, "cat", "/tmp/c", check=True).stdout)


def test_podman_checkpoint_and_restore(podman, tmp_path):
    """podman container checkpoint / restore (conmon runs `ocirun restore`),
    then an exported checkpoint imported as a new container (new rootfs)."""
    cid = podman.start("--name", new_id("pcr"), IMAGE, *COUNTER)
    wait_until(lambda: podman_counter(podman, cid) >= 3, timeout=20, what="the counter")
    before = podman_counter(podman, cid)
    podman("container", "checkpoint", cid, check=True)
    assert podman.inspect(cid, "{{.State.Status}}") == "exited"
    podman("container", "restore", cid, check=True)
    assert podman.inspect(cid, "{{.State.Status}}") == "running"
    pid = int(podman.inspect(cid, "{{.State.Pid}}"))
    st = json.loads(subprocess.run([podman.runtime, "state", cid], capture_output=True, text=True,
                                   check=True).stdout)
    assert st["status"] == "running" and st["pid"] == pid
    n = podman_counter(podman, cid)
    assert n >= before >= 3  # restored, not restarted (a new one would be at 1 or 2)
    wait_until(lambda: podman_counter(podman, cid) > n, what="counting")

    export = str(tmp_path / "export.tar.gz")
    podman("container", "checkpoint", "--export", export, cid, check=True)
    podman("rm", "-f", "-t", "0", cid, check=True)
    out = podman("container", "restore", "--import", export, "--name", new_id("pcr"), check=True)
    cid2 = out.stdout.strip().splitlines()[-1]
    podman.ids.add(cid2)
    assert podman.inspect(cid2, "{{.State.Status}}") == "running"
    assert podman_counter(podman, cid2) >= n
    podman("rm", "-f", "-t", "0", cid2, check=True)


def test_podman_checkpoint_and_restore_with_a_terminal(podman):
    """podman run -t: conmon holds the pty master; on restore CRIU makes a new
    pty and ocirun sends its master to conmon's console socket."""
    cid = podman.start("-t", "--name", new_id("pcr"), IMAGE, *TTY_COUNTER)
    wait_until(lambda: podman_counter(podman, cid) >= 2, timeout=20, what="the counter")
    podman("container", "checkpoint", cid, check=True)
    n = int(podman("logs", cid, check=True).stdout.split("tick")[-1].split()[0])
    podman("container", "restore", cid, check=True)
    # The restored counter's output reaches podman's log through the new pty.
    wait_until(lambda: f"tick{n + 1}" in podman("logs", cid, check=True).stdout, timeout=15,
               what="output through the new pty")
    podman("rm", "-f", "-t", "0", cid, check=True)
