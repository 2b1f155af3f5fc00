"""Kubernetes' way to ocirun (issue 16): containerd's CRI plugin, driven
through the CRI v1 gRPC API as the kubelet drives it, with a runtime handler
"ocirun" (the runc.v2 shim, BinaryName = this checkout's launcher) and, for
every case, the same with the handler "runc": the results must be the same.

One private containerd for the module (tests/engines/containerd-start.sh
--cri: CRI enabled, CNI bridge + host-local from Debian's
containernetworking-plugins, restrict_oom_score_adj since this host has no
CAP_SYS_RESOURCE); the sandbox ("pause") and container image is a busybox
rootfs imported with ctr (tests/engines/cri-image.sh, no registry). The API
messages are a subset of the CRI api.proto (cri_api.proto beside this file),
compiled with grpcio-tools when the module starts. The last test stops
containerd and checks nothing is left: processes, mounts, cgroups, network
namespaces, veths, the bridge.

OCIRUN_CAPTURE_CRI_FIXTURES=1 also writes the config.json the CRI plugin gave
the runtime for a pod sandbox and for a container with a HostToContainer mount
to tests/fixtures/engine_configs/cri-*.json (see _fixture()).
"""
import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
import uuid

import pytest

from conftest import REPO, cgroup_v1_file, mounts_below, processes_with, wait_until

ENGINES = os.path.join(REPO, "tests", "engines")
FIXTURES = os.path.join(REPO, "tests", "fixtures", "engine_configs")
IMAGE = "localhost/ocirun-pause:1"
BRIDGE = "ocirun-cri0"  # containerd-start.sh's CNI network
SUBNET = "10.88.212."
HANDLERS = ["ocirun", "runc"]
TRAP_LOOP = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]
POD, CONTAINER, NODE = 0, 1, 2  # NamespaceMode
RUNNING, EXITED = 1, 2  # ContainerState


def run(args, check=True, **kw):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def stream_exec(url, timeout=30):
    """Run the exec behind a CRI streaming URL as `kubectl exec` does, over a
    WebSocket with the v4.channel.k8s.io protocol (each binary message: a
    channel byte, 1 stdout, 2 stderr, 3 the final status as JSON, then data).
    Returns (stdout, stderr, status)."""
    u = urllib.parse.urlsplit(url)
    with socket.create_connection((u.hostname, u.port), timeout=timeout) as s, s.makefile("rb") as f:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n").encode())
        assert f.readline().split()[1] == b"101", "no WebSocket upgrade"
        while f.readline() not in (b"\r\n", b""):
            pass
        chans = {1: b"", 2: b"", 3: b""}
        while len(head := f.read(2)) == 2:
            opcode, n = head[0] & 0x0F, head[1] & 0x7F  # the server's messages are not masked
            if n >= 126:
                n = struct.unpack(">H" if n == 126 else ">Q", f.read(2 if n == 126 else 8))[0]
            data = f.read(n)
            if opcode == 8:  # close
                break
            if data:
                chans[data[0]] += data[1:]
    return chans[1].decode(), chans[2].decode(), json.loads(chans[3] or b"{}")


def cgroup_tops():
    out = []
    for name in os.listdir("/sys/fs/cgroup"):
        top = os.path.join("/sys/fs/cgroup", name)
        if not os.path.islink(top) and os.path.isdir(top):
            out.append(top)
    return out


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """The CRI messages and stubs, compiled from cri_api.proto."""
    try:
        import grpc
        from grpc_tools import protoc
    except ImportError:
        pytest.fail("grpcio/grpcio-tools not installed: run .ci/install")
    out = tmp_path_factory.mktemp("cri_api")
    shutil.copy(os.path.join(os.path.dirname(__file__), "cri_api.proto"), out)
    rc = protoc.main(["protoc", f"-I{out}", f"--python_out={out}", f"--grpc_python_out={out}",
                      str(out / "cri_api.proto")])
    assert rc == 0, "protoc failed on cri_api.proto"
    sys.path.insert(0, str(out))
    try:
        import cri_api_pb2
        import cri_api_pb2_grpc
    finally:
        sys.path.remove(str(out))
    return grpc, cri_api_pb2, cri_api_pb2_grpc


class Pod:
    def __init__(self, cri, handler, config):
        self.cri = cri
        self.handler = handler
        self.config = config
        self.id = cri.call("RunPodSandbox", config=config, runtime_handler=handler).pod_sandbox_id
        cri.pods.append(self)
        self.net = config.linux.security_context.namespace_options.network
        self.containers = []

    def create(self, name, args, pid=CONTAINER, resources=None, mounts=()):
        pb = self.cri.pb
        config = pb.ContainerConfig(
            metadata={"name": name}, image={"image": IMAGE}, command=args, log_path=f"{name}.log",
            mounts=list(mounts),
            linux={"resources": resources or {},
                   "security_context": {"namespace_options": {"network": self.net, "pid": pid, "ipc": POD}}})
        cid = self.cri.call("CreateContainer", pod_sandbox_id=self.id, config=config,
                            sandbox_config=self.config).container_id
        self.containers.append(cid)
        return cid

    def start(self, name, args, **kw):
        cid = self.create(name, args, **kw)
        self.cri.call("StartContainer", container_id=cid)
        return cid

    def remove(self):
        """As the kubelet does: stop and remove every container, then the pod."""
        for cid in self.containers:
            self.cri.call("StopContainer", container_id=cid, timeout=0)
            self.cri.call("RemoveContainer", container_id=cid)
        self.cri.call("StopPodSandbox", pod_sandbox_id=self.id)
        self.cri.call("StopPodSandbox", pod_sandbox_id=self.id)  # idempotent, as the kubelet expects
        self.cri.call("RemovePodSandbox", pod_sandbox_id=self.id)
        self.cri.pods.remove(self)


class Cri:
    """A private containerd with the CRI plugin, and a CRI client for it."""

    def __init__(self, base, ocirun, api):
        self.grpc, self.pb, pbg = api
        self.base = base
        self.ocirun = ocirun
        self.d = os.path.join(base, "containerd")
        self.roots = {"ocirun": os.path.join(self.d, "ocirun-root", "k8s.io"),
                      "runc": os.path.join(self.d, "runc-root", "k8s.io")}
        self.binaries = {"ocirun": ocirun, "runc": shutil.which("runc")}
        self.cgroup_parent = f"/ocirun-cri-{uuid.uuid4().hex[:8]}"
        self.pods = []
        self.down = False
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            self.ip_forward = f.read().strip()  # the bridge plugin turns it on: put it back after
        self.had_bridge = os.path.exists(f"/sys/class/net/{BRIDGE}")
        self.channel = None
        self.pbg = pbg

    def start(self):
        self.sock = run(["bash", os.path.join(ENGINES, "containerd-start.sh"), self.base, "--cri",
                         self.ocirun]).stdout.strip()
        tar = os.path.join(self.base, "pause.tar")
        run(["bash", os.path.join(ENGINES, "cri-image.sh"), tar, IMAGE])
        run(["ctr", "--address", self.sock, "-n", "k8s.io", "images", "import", tar])
        self.channel = self.grpc.insecure_channel(f"unix://{self.sock}")
        self.rt = self.pbg.RuntimeServiceStub(self.channel)

    def call(self, name, deadline=60, **kw):
        """The RPC `name` with a `nameRequest` of the keywords (`deadline`: of the call)."""
        req = getattr(self.pb, name + "Request")(**kw)
        return getattr(self.rt, name)(req, timeout=deadline)

    def pod(self, handler, network=NODE, pid=CONTAINER):
        name = f"p-{uuid.uuid4().hex[:8]}"
        logs = os.path.join(self.base, "logs", name)
        os.makedirs(logs)
        config = self.pb.PodSandboxConfig(
            metadata={"name": name, "uid": uuid.uuid4().hex, "namespace": "ocirun-test"},
            hostname=name if network == POD else "", log_directory=logs,
            linux={"cgroup_parent": self.cgroup_parent,
                   "security_context": {"namespace_options": {"network": network, "pid": pid, "ipc": POD}}})
        return Pod(self, handler, config)

    def status(self, cid, verbose=False):
        return self.call("ContainerStatus", container_id=cid, verbose=verbose)

    def pid(self, cid):
        return json.loads(self.status(cid, verbose=True).info["info"])["pid"]

    def wait_exited(self, cid, timeout=30):
        return wait_until(lambda: (s := self.status(cid).status).state == EXITED and s, timeout=timeout,
                          what=f"container {cid[:12]} exited")

    def exec_sync(self, cid, *cmd, timeout=30):
        r = self.call("ExecSync", container_id=cid, cmd=list(cmd), timeout=timeout, deadline=timeout + 30)
        return r.exit_code, r.stdout.decode(), r.stderr.decode()

    def runtime_ids(self, handler):
        root = self.roots[handler]
        if not os.path.isdir(root):
            return []
        return run([self.binaries[handler], "--root", root, "list", "-q"]).stdout.split()

    def netns_files(self):
        d = os.path.join(self.d, "state", "io.containerd.grpc.v1.cri", "netns")
        return os.listdir(d) if os.path.isdir(d) else []

    def bundle_config(self, cid):
        path = os.path.join(self.d, "state", "io.containerd.runtime.v2.task", "k8s.io", cid, "config.json")
        with open(path) as f:
            return json.load(f)

    def remove_pods(self):
        """What a failed test left: RemovePodSandbox stops and removes its containers too."""
        for pod in list(self.pods):
            self.pods.remove(pod)
            for call in ("StopPodSandbox", "RemovePodSandbox"):
                try:
                    self.call(call, pod_sandbox_id=pod.id)
                except self.grpc.RpcError:
                    pass

    def shutdown(self):
        if self.down:
            return
        self.down = True
        if self.channel is not None:
            self.remove_pods()
            self.channel.close()
        run(["bash", os.path.join(ENGINES, "engines-stop.sh"), self.base, "containerd"], check=False)
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write(self.ip_forward)
        br = f"/sys/class/net/{BRIDGE}"
        if not self.had_bridge and os.path.exists(br) and not os.listdir(br + "/brif"):
            run(["ip", "link", "del", BRIDGE], check=False)
        for top in cgroup_tops():  # runc leaves the parent it made; ocirun removes it once empty
            d = top + self.cgroup_parent
            if os.path.isdir(d) and not any(e.is_dir() for e in os.scandir(d)):
                os.rmdir(d)


@pytest.fixture(scope="module")
def cri(tmp_path_factory, ocirun_bin, api):
    for tool in ("containerd", "ctr", "runc"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} not installed: run .ci/install")
    if not os.path.exists("/usr/lib/cni/bridge"):
        pytest.fail("CNI plugins not installed (containernetworking-plugins): run .ci/install")
    c = Cri(str(tmp_path_factory.mktemp("cri")), ocirun_bin, api)
    try:
        c.start()
    except BaseException:
        c.shutdown()
        raise
    yield c
    c.shutdown()


@pytest.fixture(params=HANDLERS)
def handler(request, cri):
    yield request.param
    left = list(cri.pods)
    cri.remove_pods()
    assert left == [], "the test did not remove its pods"
    assert cri.runtime_ids(request.param) == [], "the runtime still holds containers of removed pods"


def _fixture(cri, name, cid, *private):
    """Write the bundle's config.json as tests/fixtures/engine_configs/cri-NAME.json,
    made runnable anywhere: root.path is "ROOTFS"; namespace paths (the pod's
    /proc/PID/ns/..., its netns file) are dropped, so a replay makes fresh ones
    and never joins whatever process holds that pid by then; bind mounts of
    files and directories that lived in this test's private dirs (hostname,
    hosts, resolv.conf, /dev/shm, the HostToContainer source) get /dev/null
    and /mnt as sources."""
    config = cri.bundle_config(cid)
    if os.environ.get("OCIRUN_CAPTURE_CRI_FIXTURES") != "1":
        return config
    out = json.loads(json.dumps(config))
    out["root"]["path"] = "ROOTFS"
    for ns in out["linux"].get("namespaces", []):
        ns.pop("path", None)
    for m in out.get("mounts", []):
        src = m.get("source", "")
        if any(src == d or src.startswith(d + "/") for d in (cri.base, *private)):
            m["source"] = "/mnt" if os.path.isdir(src) else "/dev/null"
    for k, v in out.get("annotations", {}).items():  # the pod's log directory
        if v.startswith(cri.base + "/"):
            out["annotations"][k] = "/var/log/pods/" + os.path.basename(v)
    os.makedirs(FIXTURES, exist_ok=True)
    with open(os.path.join(FIXTURES, f"cri-{name}.json"), "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
        f.write("\n")
    return config


# --- tests ---------------------------------------------------------------------------------

def test_cri_version(cri):
    v = cri.call("Version", version="v1")
    assert v.runtime_name == "containerd" and v.runtime_api_version == "v1"


def test_cri_host_network_pod(cri, handler):
    """A pod on the host network; in it: ExecSync (output and exit code, and a
    timeout), Exec (streamed over the URL it returns), UpdateContainerResources (landing in
    the cgroup files), ContainerStats, StopContainer of a container that
    traps TERM (quick, exit 0) and of one that ignores it (killed after the
    grace period, 137)."""
    pod = cri.pod(handler)
    st = cri.call("PodSandboxStatus", pod_sandbox_id=pod.id).status
    assert (st.state, st.runtime_handler) == (0, handler)
    assert pod.id in cri.runtime_ids(handler), "the sandbox runs under the handler's runtime"
    trap = pod.start("trap", TRAP_LOOP)
    stubborn = pod.start("stubborn", ["sleep", "1000"])
    assert set(cri.runtime_ids(handler)) == {pod.id, trap, stubborn}

    assert cri.exec_sync(trap, "sh", "-c", "echo out; echo err >&2; exit 3") == (3, "out\n", "err\n")
    assert cri.exec_sync(trap, "readlink", "/proc/self/ns/net") == (0, os.readlink("/proc/self/ns/net") + "\n", "")
    t0 = time.monotonic()
    with pytest.raises(cri.grpc.RpcError) as e:
        cri.exec_sync(trap, "sleep", "30", timeout=1)
    assert time.monotonic() - t0 < 15
    assert "timeout 1s exceeded" in e.value.details(), e.value.details()
    url = cri.call("Exec", container_id=trap, cmd=["sh", "-c", "echo streamed; echo e >&2; exit 7"],
                   stdout=True, stderr=True).url
    assert url.startswith("http://127.0.0.1:") and "/exec/" in url, url
    out, err, status = stream_exec(url)
    assert (out, err, status.get("reason")) == ("streamed\n", "e\n", "NonZeroExitCode"), status
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "7"}]

    cri.call("UpdateContainerResources", container_id=trap,
             linux={"cpu_period": 100000, "cpu_quota": 50000, "cpu_shares": 512, "memory_limit_in_bytes": 64 << 20})
    pid = cri.pid(trap)
    assert cgroup_v1_file(pid, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert cgroup_v1_file(pid, "cpu", "cpu.cfs_quota_us") == "50000"
    assert cgroup_v1_file(pid, "cpu", "cpu.shares") == "512"
    stats = cri.call("ContainerStats", container_id=trap).stats
    assert stats.attributes.id == trap
    assert stats.cpu.usage_core_nano_seconds.value > 0
    assert stats.memory.working_set_bytes.value > 0

    t0 = time.monotonic()
    cri.call("StopContainer", container_id=trap, timeout=30)
    assert time.monotonic() - t0 < 15, "TERM must reach the container"
    s = cri.status(trap).status
    assert (s.state, s.exit_code) == (EXITED, 0)
    t0 = time.monotonic()
    cri.call("StopContainer", container_id=stubborn, timeout=2)
    assert 2 <= time.monotonic() - t0 < 20
    s = cri.status(stubborn).status
    assert (s.state, s.exit_code) == (EXITED, 137)
    pod.remove()


def test_cri_failures(cri, handler):
    """A missing executable: StartContainer fails with the runtime's words,
    status StartError 128. A memory hog over its limit: OOMKilled, 137."""
    pod = cri.pod(handler)
    cid = pod.create("missing", ["nosuchcmd"])
    with pytest.raises(cri.grpc.RpcError) as e:
        cri.call("StartContainer", container_id=cid)
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in e.value.details(), e.value.details()
    s = cri.status(cid).status
    assert (s.state, s.exit_code, s.reason) == (EXITED, 128, "StartError")
    assert "executable file not found" in s.message
    hog = pod.start("hog", ["sh", "-c", "a=x; while :; do a=$a$a; done"],
                    resources={"memory_limit_in_bytes": 32 << 20})
    s = cri.wait_exited(hog, timeout=60)
    assert (s.exit_code, s.reason) == (137, "OOMKilled")
    pod.remove()


def test_cri_bridge_network(cri, handler):
    """A pod on the CNI bridge: its own network namespace, eth0 with the
    address the CRI reports, the gateway (the host's bridge) reachable."""
    pod = cri.pod(handler, network=POD)
    ip = cri.call("PodSandboxStatus", pod_sandbox_id=pod.id).status.network.ip
    assert ip.startswith(SUBNET), ip
    cid = pod.start("web", ["sleep", "1000"])
    rc, out, err = cri.exec_sync(cid, "ip", "-4", "-o", "addr", "show", "eth0")
    assert rc == 0 and f"inet {ip}/24" in out, out + err
    assert cri.exec_sync(cid, "hostname")[1] == pod.config.hostname + "\n"
    assert cri.exec_sync(cid, "readlink", "/proc/self/ns/net")[1] != os.readlink("/proc/self/ns/net") + "\n"
    rc, out, err = cri.exec_sync(cid, "ping", "-c", "1", "-W", "5", SUBNET + "1")
    assert rc == 0, out + err
    assert len(cri.netns_files()) == 1, "the pod's network namespace is kept under the private state dir"
    assert len(os.listdir(f"/sys/class/net/{BRIDGE}/brif")) == 1, "one veth on the bridge"
    pod.remove()
    assert cri.netns_files() == [] and os.listdir(f"/sys/class/net/{BRIDGE}/brif") == []


def test_cri_shared_pid_namespace(cri, handler):
    """shareProcessNamespace: every container sees the others and the
    sandbox's process as pid 1."""
    pod = cri.pod(handler, pid=POD)
    pod.start("a", ["sleep", "1001"], pid=POD)
    b = pod.start("b", ["sleep", "1002"], pid=POD)
    rc, out, _ = cri.exec_sync(b, "ps", "-o", "pid,args")
    assert rc == 0 and "sleep 1001" in out and "sleep 1002" in out, out
    assert cri.exec_sync(b, "cat", "/proc/1/cmdline")[1] == "sleep\0" + "2147483647\0"
    pod.remove()


def test_cri_host_to_container_mount(cri, handler, tmp_path):
    """A HostToContainer (rslave) mount: the CRI plugin asks for
    rootfsPropagation rslave, and a mount made on the host after the start
    shows up inside."""
    src = tmp_path / "shared"
    src.mkdir()
    run(["mount", "-t", "tmpfs", "-o", "size=1m", "cri-src", src])
    try:
        run(["mount", "--make-shared", src])
        pod = cri.pod(handler)
        mount = cri.pb.Mount(container_path="/mnt/h", host_path=str(src), propagation=1)
        cid = pod.start("h2c", ["sleep", "1000"], mounts=[mount])
        # The CRI plugin writes the same config whichever the handler: keep runc's.
        config = _fixture(cri, "host-to-container", cid, str(src)) if handler == "runc" else cri.bundle_config(cid)
        if handler == "runc":
            _fixture(cri, "pod-sandbox", pod.id)
        assert config["linux"]["rootfsPropagation"] == "rslave"
        assert "rslave" in next(m for m in config["mounts"] if m["destination"] == "/mnt/h")["options"]
        (src / "sub").mkdir()
        run(["mount", "-t", "tmpfs", "-o", "size=1m", "cri-sub", src / "sub"])
        (src / "sub" / "f").write_text("from-host")
        assert cri.exec_sync(cid, "cat", "/mnt/h/sub/f") == (0, "from-host", "")
        pod.remove()
    finally:
        run(["umount", "-R", src], check=False)


def test_zz_cri_leaves_nothing(cri):
    """Stop containerd (and the shims): no process, mount, cgroup, network
    namespace or veth of the pods is left, and the runtimes' roots are empty."""
    assert cri.pods == []
    cri.shutdown()
    for handler in HANDLERS:
        assert cri.runtime_ids(handler) == []
    wait_until(lambda: not processes_with(cri.base), timeout=10, what="no process of the CRI test")
    assert mounts_below(cri.base) == []
    assert [top for top in cgroup_tops() if os.path.isdir(top + cri.cgroup_parent)] == []
    assert cri.netns_files() == []
    assert not os.path.exists(f"/sys/class/net/{BRIDGE}") or cri.had_bridge
