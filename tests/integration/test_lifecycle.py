"""The lifecycle end to end, with real containers (runtime.md#lifecycle,
#state, #operations): create, state, start, kill, delete and run, and what
the container process gets from config.json (config.md#process, #mounts,
config-linux.md#namespaces, #default-devices).

Containers that must stay up block on a fifo in a bind-mounted host
directory (released by the test) or run `sleep`; the `oci` fixture deletes
what is left.
"""
import calendar
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import bind_mount, new_id, oci_files, pids_with, wait_until
from ocirun.state import proc_start_time

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
SPEC_SCHEMAS = "/work/shared/runtime-spec/schema"


# --- helpers -----------------------------------------------------------------

def _spec_state_validator():
    """The official state-schema.json (with its defs.json), draft 4."""
    from jsonschema import Draft4Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    def load(name):
        with open(os.path.join(SPEC_SCHEMAS, name)) as f:
            return json.load(f)

    registry = Registry().with_resource(
        "defs.json", Resource.from_contents(load("defs.json"), default_specification=DRAFT4))
    return Draft4Validator(load("state-schema.json"), registry=registry)


def status(oci, cid):
    """The status, or None while the container does not exist (yet)."""
    p = oci("state", cid)
    return json.loads(p.stdout)["status"] if p.returncode == 0 else None


def wait_status(oci, cid, want, timeout=10):
    wait_until(lambda: status(oci, cid) == want, timeout, what=f"{cid} {want}")


def release(fifo, timeout=10):
    """Let a process blocked in `read x < fifo` go on."""
    def opened():
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            return None
    fd = wait_until(opened, timeout, what=f"a reader on {fifo}")
    os.write(fd, b"go\n")
    os.close(fd)


def alive(pid):
    return proc_start_time(pid) is not None


def hostdir(tmp_path, name="m", fifo=True):
    d = tmp_path / name
    d.mkdir()
    if fifo:
        os.mkfifo(d / "go")
    return d


def no_pidns(c):
    c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "pid"]


def popen_run(oci, *args):
    return subprocess.Popen(oci.cmd("run", *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


# --- create / state / start / delete ------------------------------------------

def test_lifecycle_create_start_exit_delete(oci, bundle, tmp_path):
    """runtime.md#lifecycle steps 1-12: `create` MUST NOT run process.args
    (runtime.md#create); `start` runs them (runtime.md#start); the state
    (runtime.md#state) goes created -> running -> stopped; `delete` removes
    the container (runtime.md#delete) and `state` then MUST generate an error
    (runtime.md#query-state)."""
    m = hostdir(tmp_path)
    b = bundle(args=["/bin/sh", "-c", "touch /m/marker; read x < /m/go; exit 0"],
               edit=lambda c: c["mounts"].append(bind_mount(m, "/m")))
    cid = new_id()
    before = time.time()
    oci_files(oci, "create", "--bundle", b, cid, check=True)

    s = oci.state(cid)
    errors = [e.message for e in _spec_state_validator().iter_errors(s)]
    assert not errors, errors
    assert s["status"] == "created"
    assert s["id"] == cid
    assert s["ociVersion"] == "1.3.0"
    assert s["bundle"] == b and os.path.isabs(s["bundle"])
    assert isinstance(s["pid"], int) and s["pid"] > 0 and alive(s["pid"])
    assert RFC3339.match(s["created"]), s["created"]
    assert "owner" in s and isinstance(s["owner"], str)
    # The created time is now-ish (UTC "Z").
    assert s["created"].endswith("Z")
    stamp = calendar.timegm(time.strptime(s["created"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert before - 2 <= stamp <= time.time() + 2
    pid = s["pid"]

    time.sleep(0.2)  # would be plenty for the shell to touch its marker
    assert not (m / "marker").exists(), "process.args ran before start"
    assert status(oci, cid) == "created"
    # runtime.md#lifecycle step 2: later changes to config.json MUST NOT affect the container.
    with open(os.path.join(b, "config.json")) as f:
        changed = json.load(f)
    changed["process"]["args"] = ["/bin/sh", "-c", "touch /m/wrong"]
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(changed, f)

    oci("start", cid, check=True)
    wait_until(lambda: (m / "marker").exists(), what="the marker")
    assert not (m / "wrong").exists()
    s = oci.state(cid)
    assert (s["status"], s["pid"]) == ("running", pid)

    release(m / "go")
    wait_status(oci, cid, "stopped")
    s = oci.state(cid)
    assert s["pid"] == 0
    assert not _spec_state_validator().is_valid({**s, "status": "bogus"})
    assert _spec_state_validator().is_valid(s)

    oci("delete", cid, check=True)
    p = oci("state", cid)
    assert p.returncode == 1
    assert "does not exist" in p.stderr
    assert not os.path.exists(os.path.join(oci.root, cid))


def test_state_of_unknown_container_fails(oci):
    """runtime.md#query-state: querying a container that does not exist MUST generate an error."""
    p = oci("state", "nosuchcontainer")
    assert p.returncode == 1
    assert p.stderr.strip() == "ocirun: container nosuchcontainer does not exist"
    assert p.stdout == ""


def test_annotations_in_state(oci, bundle):
    """runtime.md#state: annotations of config.json appear in the state."""
    b = bundle(args=["sleep", "30"], edit=lambda c: c.update(annotations={"org.test.k": "v"}))
    cid = new_id()
    oci_files(oci, "create", "--bundle", b, cid, check=True)
    assert oci.state(cid)["annotations"] == {"org.test.k": "v"}


def test_create_without_process_fails(oci, bundle):
    """runtime.md#start: "This operation MUST generate an error if `process`
    was not set" -- we refuse at create already (as runc), creating nothing."""
    cid = new_id()
    p = oci_files(oci, "create", "--bundle", bundle(edit=lambda c: c.pop("process")), cid)
    assert p.returncode == 1
    assert "process" in p.stderr
    assert oci("state", cid).returncode == 1
    assert pids_with(cid) == []


def test_start_twice_fails(oci, bundle):
    """runtime.md#start: starting a container that is not `created` MUST have
    no effect on it and MUST generate an error."""
    cid = new_id()
    oci_files(oci, "create", "--bundle", bundle(args=["sleep", "30"]), cid, check=True)
    oci("start", cid, check=True)
    pid = oci.state(cid)["pid"]
    p = oci("start", cid)
    assert p.returncode == 1
    assert "cannot start an already running container" in p.stderr
    s = oci.state(cid)
    assert (s["status"], s["pid"]) == ("running", pid) and alive(pid)


def test_start_stopped_fails(oci, bundle):
    """runtime.md#start: start of a `stopped` container MUST generate an error."""
    cid = new_id()
    oci_files(oci, "create", "--bundle", bundle(args=["true"]), cid, check=True)
    oci("start", cid, check=True)
    wait_status(oci, cid, "stopped")
    p = oci("start", cid)
    assert p.returncode == 1
    assert "cannot start a container that has stopped" in p.stderr
    assert status(oci, cid) == "stopped"


def test_start_unknown_fails(oci):
    p = oci("start", "nosuch")
    assert p.returncode == 1 and "does not exist" in p.stderr


# --- kill ----------------------------------------------------------------------

def test_kill_stopped_fails(oci, bundle):
    """runtime.md#kill: signalling a container that is neither created nor
    running MUST generate an error."""
    cid = new_id()
    oci_files(oci, "create", "--bundle", bundle(args=["true"]), cid, check=True)
    oci("start", cid, check=True)
    wait_status(oci, cid, "stopped")
    for args in ((cid,), (cid, "KILL")):
        p = oci("kill", *args)
        assert p.returncode == 1
        assert p.stderr.strip() == "ocirun: container not running"


@pytest.mark.parametrize("sig,code", [("KILL", 137), ("SIGKILL", 137), ("9", 137),
                                      ("TERM", 143), (None, 143)])
def test_kill_signal_names(oci, bundle, sig, code):
    """runtime.md#kill: the named signal (default SIGTERM, as runc) MUST be
    sent to the container process. Without a pid namespace the process is
    not an init, so the default action applies and `run` reports 128+n."""
    cid = new_id()
    proc = popen_run(oci, "--bundle", bundle(args=["sleep", "30"], edit=no_pidns), cid)
    try:
        wait_status(oci, cid, "running")
        p = oci("kill", cid, *([sig] if sig else []))
        assert p.returncode == 0, p.stderr
        assert proc.wait(timeout=10) == code
    finally:
        proc.kill()
        proc.wait()


def test_kill_created_container(oci, bundle):
    """runtime.md#kill: a `created` container may be signalled; KILL stops it."""
    cid = new_id()
    oci_files(oci, "create", "--bundle", bundle(args=["sleep", "30"]), cid, check=True)
    pid = oci.state(cid)["pid"]
    oci("kill", cid, "KILL", check=True)
    wait_status(oci, cid, "stopped")
    wait_until(lambda: not alive(pid), what="the init to die")


def test_kill_all(oci, bundle, tmp_path):
    """kill --all signals every process of the container (its cgroup), not
    only the init: a background child in the host pid namespace dies too."""
    m = hostdir(tmp_path, fifo=False)
    b = bundle(args=["/bin/sh", "-c", "sleep 31 & echo $! > /m/child; wait"],
               edit=lambda c: (no_pidns(c), c["mounts"].append(bind_mount(m, "/m"))))
    cid = new_id()
    proc = popen_run(oci, "--bundle", b, cid)
    try:
        wait_until(lambda: (m / "child").exists() and (m / "child").read_text().strip(),
                   what="the child pid")
        child = int((m / "child").read_text())
        assert alive(child)
        p = oci("kill", "--all", cid, "KILL")
        assert p.returncode == 0, p.stderr
        assert proc.wait(timeout=10) == 137
        wait_until(lambda: not alive(child), what="the child to die")
    finally:
        proc.kill()
        proc.wait()


def test_kill_unknown_signal(oci, bundle):
    """`kill X SIGFOO` is an error (runc: unknown signal "SIGFOO") and the container is untouched."""
    cid = new_id()
    oci_files(oci, "create", "--bundle", bundle(args=["sleep", "30"]), cid, check=True)
    p = oci("kill", cid, "SIGFOO")
    assert p.returncode == 1
    assert p.stderr.strip() == 'ocirun: unknown signal "SIGFOO"'
    assert status(oci, cid) == "created"


# --- delete --------------------------------------------------------------------

def test_delete_running_without_force_fails(oci, bundle):
    """runtime.md#delete: deleting a container that is not stopped MUST have
    no effect on it and MUST generate an error."""
    cid = new_id()
    oci_files(oci, "create", "--bundle", bundle(args=["sleep", "30"]), cid, check=True)
    oci("start", cid, check=True)
    before = oci.state(cid)
    p = oci("delete", cid)
    assert p.returncode == 1
    assert "not stopped" in p.stderr
    assert oci.state(cid) == before and alive(before["pid"])


def test_delete_created_without_force_fails(oci, bundle):
    """runtime.md#delete: "Attempting to delete a container that is not
    stopped MUST have no effect on the container and MUST generate an error"
    -- `created` is not stopped. (runc 1.1.5 deletes a created container
    silently; we follow the spec.)"""
    cid = new_id()
    oci_files(oci, "create", "--bundle", bundle(args=["sleep", "30"]), cid, check=True)
    before = oci.state(cid)
    p = oci("delete", cid)
    assert p.returncode == 1
    assert "not stopped: created" in p.stderr
    assert oci.state(cid) == before and alive(before["pid"])


def test_delete_force_kills_and_deletes(oci, bundle):
    """runtime.md#delete: deleting MUST delete the resources made by create
    (the process, the state, the cgroup)."""
    cid = new_id()
    b = bundle(args=["sleep", "30"],
               edit=lambda c: c["linux"].update(cgroupsPath=f"/ocirun-itest/{cid}"))
    oci_files(oci, "create", "--bundle", b, cid, check=True)
    oci("start", cid, check=True)
    pid = oci.state(cid)["pid"]
    cgdirs = [f"/sys/fs/cgroup/{h}/ocirun-itest/{cid}" for h in os.listdir("/sys/fs/cgroup")]
    assert any(os.path.isdir(d) for d in cgdirs)
    p = oci("delete", "--force", cid)
    assert p.returncode == 0, p.stderr
    assert not alive(pid)
    assert not os.path.exists(os.path.join(oci.root, cid))
    assert not [d for d in cgdirs if os.path.exists(d)]
    assert oci("state", cid).returncode == 1


def test_delete_unknown(oci):
    """runtime.md#delete; --force of an unknown id is not an error (engines delete twice), plain is."""
    p = oci("delete", "--force", "nosuch")
    assert (p.returncode, p.stderr) == (0, "")
    p = oci("delete", "nosuch")
    assert p.returncode == 1
    assert "does not exist" in p.stderr


# --- run -------------------------------------------------------------------------

@pytest.mark.parametrize("code", [0, 3, 42])
def test_run_exit_status(oci, bundle, code):
    """run returns the container process's exit status, and deletes it."""
    cid = new_id()
    p = oci("run", "--bundle", bundle(args=["/bin/sh", "-c", f"exit {code}"]), cid)
    assert p.returncode == code, p.stderr
    assert oci("list", "-q").stdout == ""


def test_run_signal_death_is_128_plus_n(oci, bundle):
    """A process killed by signal n makes run exit 128+n (SIGKILL -> 137)."""
    b = bundle(args=["/bin/sh", "-c", "kill -KILL $$"], edit=no_pidns)
    p = oci("run", "--bundle", b, new_id())
    assert p.returncode == 137, p.stderr


def test_run_detach_returns_running(oci, bundle):
    cid = new_id()
    t = time.monotonic()
    p = oci_files(oci, "run", "--detach", "--bundle", bundle(args=["sleep", "30"]), cid, timeout=20)
    assert p.returncode == 0, p.stderr
    assert time.monotonic() - t < 10
    s = oci.state(cid)
    assert s["status"] == "running" and alive(s["pid"])


def test_run_keep_leaves_stopped(oci, bundle):
    b = bundle(args=["/bin/sh", "-c", "exit 5"])
    cid = new_id()
    assert oci("run", "--keep", "--bundle", b, cid).returncode == 5
    assert oci("list", "-q").stdout == cid + "\n"
    assert oci.state(cid)["status"] == "stopped"
    oci("delete", cid, check=True)
    assert oci("run", "--bundle", b, cid).returncode == 5
    assert oci("list", "-q").stdout == ""


def test_run_forwards_sigterm(oci, bundle, tmp_path):
    """A foreground run forwards SIGTERM to the container; its exit status becomes ours."""
    m = hostdir(tmp_path, fifo=False)
    b = bundle(args=["/bin/sh", "-c", 'trap "exit 7" TERM; touch /m/ready; sleep 30 & wait'],
               edit=lambda c: c["mounts"].append(bind_mount(m, "/m")))
    cid = new_id()
    proc = popen_run(oci, "--bundle", b, cid)
    try:
        wait_until(lambda: (m / "ready").exists(), what="the trap")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 7
    finally:
        proc.kill()
        proc.wait()
    assert oci("list", "-q").stdout == ""


# --- what the process gets -------------------------------------------------------

def sections(text):
    """'== name' headed sections of a probe's output -> {name: [lines]}."""
    out, cur = {}, None
    for line in text.splitlines():
        if line.startswith("== "):
            cur = out.setdefault(line[3:], [])
        elif cur is not None:
            cur.append(line)
    return out


USER_PROBE = r"""
echo "== id"; id
echo "== status"; grep -E '^(Uid|Gid|Groups):' /proc/self/status
echo "== cwd"; pwd
echo "== env"; tr '\0' '\n' < /proc/$$/environ
echo "== umask"; umask
echo "== touch"; touch /tmp/umask-$$; stat -c %a /tmp/umask-$$
echo "== host"; cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname
"""

ROOT_PROBE = r"""
echo "== rofs"; touch /rootfile 2>&1; echo "rc=$?"
echo "== tmpfs"; grep ' /scratch ' /proc/self/mountinfo; stat -c %a /scratch
echo "== rel"; grep ' /reldest ' /proc/self/mountinfo
echo "== ro"; cat /robind/hello; echo x > /robind/new 2>&1; echo "rc=$?"
echo "== dev"; for n in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$n; done
echo "== links"; for n in ptmx fd stdin stdout stderr; do echo "$n $(readlink /dev/$n)"; done
echo "== ns"; for n in mnt uts ipc net pid; do echo "$n $(readlink /proc/self/ns/$n)"; done
"""


@pytest.fixture(scope="module")
def module_oci(ocirun_bin, tmp_path_factory):
    from conftest import Oci

    o = Oci(ocirun_bin, str(tmp_path_factory.mktemp("state")))
    yield o
    o.cleanup()


@pytest.fixture(scope="module")
def user_probe(module_oci, rootfs, tmp_path_factory):
    from conftest import default_config, write_bundle

    tag = new_id("cwd")
    c = default_config(rootfs, ["/bin/sh", "-c", USER_PROBE])
    c["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [100, 4242], "umask": 0o027}
    c["process"]["cwd"] = f"/{tag}/sub"
    c["process"]["env"] = ["PATH=/bin:/usr/bin", "FOO=bar baz", "EMPTY=", "EQ=a=b"]
    c["hostname"] = "probe-host"
    c["domainname"] = "probe.example"
    b = write_bundle(tmp_path_factory.mktemp("bundle"), c)
    p = module_oci("run", "--bundle", b, new_id())
    assert p.returncode == 0, p.stderr
    return sections(p.stdout), tag


@pytest.fixture(scope="module")
def root_probe(module_oci, rootfs, tmp_path_factory):
    from conftest import default_config, write_bundle

    ro = tmp_path_factory.mktemp("robind")
    (ro / "hello").write_text("hello from the host\n")
    c = default_config(rootfs, ["/bin/sh", "-c", ROOT_PROBE])
    c["root"]["readonly"] = True
    c["mounts"] += [
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "size=1m", "mode=710"]},
        {"destination": "reldest", "type": "tmpfs", "source": "tmpfs", "options": ["size=64k"]},
        bind_mount(ro, "/robind", "ro"),
    ]
    b = write_bundle(tmp_path_factory.mktemp("bundle"), c)
    p = module_oci("run", "--bundle", b, new_id())
    assert p.returncode == 0, p.stderr
    return sections(p.stdout), ro


def test_process_user_ids(user_probe):
    """config.md#user (POSIX): uid, gid and additionalGids are applied exactly."""
    out, _ = user_probe
    status = dict(line.split(":", 1) for line in out["status"])
    assert status["Uid"].split() == ["1000"] * 4
    assert status["Gid"].split() == ["1000"] * 4
    assert sorted(status["Groups"].split()) == ["100", "4242"]
    ident = out["id"][0]
    assert ident.startswith("uid=1000(user) gid=1000(user) groups=")
    assert set(ident.split("groups=")[1].split(",")) == {"100(users)", "4242"}


def test_process_cwd_created(user_probe, rootfs):
    """config.md#process: cwd is the working directory; a missing one is created (as runc)."""
    out, tag = user_probe
    assert out["cwd"] == [f"/{tag}/sub"]
    assert os.path.isdir(os.path.join(rootfs, tag, "sub"))


def test_process_env_exact(user_probe):
    """config.md#process: env is the process environment, as configured, plus
    HOME from the container's /etc/passwd when not set (runc)."""
    out, _ = user_probe
    assert sorted(out["env"]) == sorted(["PATH=/bin:/usr/bin", "FOO=bar baz", "EMPTY=", "EQ=a=b",
                                         "HOME=/home/user"])


def test_process_umask(user_probe):
    """config.md#user: umask is applied (0027: a new file is 0640)."""
    out, _ = user_probe
    assert out["umask"] == ["0027"]
    assert out["touch"] == ["640"]


def test_hostname_domainname(user_probe):
    """config.md#hostname, config.md#domainname (in the container's UTS namespace)."""
    out, _ = user_probe
    assert out["host"] == ["probe-host", "probe.example"]
    assert os.uname().nodename != "probe-host"


def test_root_readonly(root_probe):
    """config.md#root: readonly true makes the root filesystem read-only (EROFS)."""
    out, _ = root_probe
    assert "Read-only file system" in "\n".join(out["rofs"])
    assert out["rofs"][-1] == "rc=1"


def test_mount_tmpfs_options(root_probe):
    """config.md#mounts: tmpfs with size and mode options."""
    out, _ = root_probe
    line = out["tmpfs"][0]
    fields = line.split(" - ")
    assert fields[1].split()[0] == "tmpfs"
    opts = fields[1].split()[2].split(",")
    assert "size=1024k" in opts and "mode=710" in opts
    assert "nosuid" in fields[0].split()[5].split(",")
    assert out["tmpfs"][1] == "710"


def test_mount_relative_destination(root_probe):
    """config.md#mounts (v1.3.0): a relative destination MUST be interpreted as relative to "/"."""
    out, _ = root_probe
    assert len(out["rel"]) == 1 and " /reldest " in out["rel"][0]


def test_mount_bind_readonly(root_probe):
    """config.md#mounts: a bind mount with `ro` is readable, not writable."""
    out, ro = root_probe
    assert out["ro"][0] == "hello from the host"
    assert out["ro"][-1] == "rc=1"
    assert not (ro / "new").exists()


def test_dev_contents(root_probe):
    """config-linux.md#default-devices: null, zero, full, random, urandom, tty
    (char, 0666), plus /dev/ptmx -> pts/ptmx and the fd symlinks (runtime-linux.md#dev-symbolic-links)."""
    out, _ = root_probe
    assert out["dev"] == [
        "/dev/null character special file 1:3 666",
        "/dev/zero character special file 1:5 666",
        "/dev/full character special file 1:7 666",
        "/dev/random character special file 1:8 666",
        "/dev/urandom character special file 1:9 666",
        "/dev/tty character special file 5:0 666",
    ]
    assert out["links"] == ["ptmx pts/ptmx", "fd /proc/self/fd", "stdin /proc/self/fd/0",
                            "stdout /proc/self/fd/1", "stderr /proc/self/fd/2"]


def test_namespaces_are_new(root_probe):
    """config-linux.md#namespaces: each listed namespace without a path is a new one."""
    out, _ = root_probe
    inside = dict(line.split(" ", 1) for line in out["ns"])
    assert set(inside) == {"mnt", "uts", "ipc", "net", "pid"}
    for n, link in inside.items():
        assert link.startswith(f"{n}:["), link
        assert link != os.readlink(f"/proc/self/ns/{n}"), n


def test_join_network_namespace_by_path(oci, bundle):
    """config-linux.md#namespaces: with `path` the container MUST join that
    namespace (here: the network namespace of a first container)."""
    first = new_id()
    oci_files(oci, "create", "--bundle", bundle(args=["sleep", "30"]), first, check=True)
    pid = oci.state(first)["pid"]
    want = os.readlink(f"/proc/{pid}/ns/net")
    assert want != os.readlink("/proc/self/ns/net")

    def join(c):
        for n in c["linux"]["namespaces"]:
            if n["type"] == "network":
                n["path"] = f"/proc/{pid}/ns/net"
    p = oci("run", "--bundle", bundle(args=["readlink", "/proc/self/ns/net"], edit=join), new_id())
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == want


def test_no_leftover_init_after_run(oci, bundle):
    """After run (and its delete) no process of the container remains."""
    cid = new_id()
    assert oci("run", "--bundle", bundle(args=["true"]), cid).returncode == 0
    assert pids_with(cid) == []


def test_kill_all_of_a_stopped_container_is_not_an_error(oci, bundle):
    """runc 1.1.5: `kill --all` with nothing left to signal exits 0 (docker stop
    sends it after its timeout); a plain `kill` says "container not running"."""
    cid = new_id()
    oci("run", "--keep", "--bundle", bundle(args=["/bin/true"]), cid, check=True)
    assert status(oci, cid) == "stopped"
    p = oci("kill", "--all", cid, "9")
    assert p.returncode == 0, p.stderr
    p = oci("kill", cid, "9")
    assert p.returncode == 1 and "container not running" in p.stderr
