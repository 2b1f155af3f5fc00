"""Docker's four network models with the example bundles (bundles/net-*), and
linux.netDevices (config-linux.md#network-devices).

The container tests copy an example's config.json (only root.path, and the
names and addresses that must be unique to the test, are changed), so the
examples themselves are what runs; the examples' run.sh run as they are where
they use nothing shared. Traffic only flows between containers these tests
create, over a bridge with a name and subnet of their own; nothing is sent
to an address outside them. The last test checks that no interface, NAT rule
or named netns is left behind.
"""
import ipaddress
import json
import os
import re
import shutil
import subprocess
import time
import uuid

import pytest
from conftest import REPO, new_id, write_bundle

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces, bridges")

BUNDLES = os.path.join(REPO, "bundles")
NET = os.path.join(BUNDLES, "net")
TAG = "oct" + uuid.uuid4().hex[:5]  # prefix of every interface these tests make
PORT = 7777


def sh(*args, check=True):
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=30)


def wait_until(pred, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def host_links():
    """Interface names in our network namespace ("veth0@if3" -> "veth0")."""
    out = sh("ip", "-o", "link").stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def nat_rules():
    """The host's NAT rules as text, from every tool that is installed."""
    text = ""
    if shutil.which("nft"):
        text += sh("nft", "list", "ruleset").stdout
    if shutil.which("iptables"):
        text += sh("iptables", "-w", "-t", "nat", "-S", check=False).stdout
    return text


def named_netns():
    return sh("ip", "netns", "list").stdout


@pytest.fixture(scope="module", autouse=True)
def before():
    """What the host had before this module: compared in the last test."""
    return {"links": host_links(), "nat": nat_rules(), "netns": named_netns()}


@pytest.fixture(scope="module")
def subnet(before):
    """A /24 in 10.88.0.0/16 that no route or address of the host touches."""
    used = [ipaddress.ip_network(w, strict=False)
            for w in re.findall(r"\b\d+\.\d+\.\d+\.\d+(?:/\d+)?\b",
                                sh("ip", "-o", "-4", "route").stdout + sh("ip", "-o", "-4", "addr").stdout)]
    for i in range(100, 250):
        net = ipaddress.ip_network(f"10.88.{i}.0/24")
        if not any(net.overlaps(u) for u in used):
            return net
    pytest.fail("no free /24 in 10.88.0.0/16")


def example(name, tmp_path, rootfs, edit=None):
    """A copy of bundles/<name>/config.json in tmp_path, on the test rootfs.
    tmp_path/net links to bundles/net: the hooks find their scripts there."""
    with open(os.path.join(BUNDLES, name, "config.json")) as f:
        config = json.load(f)
    config["root"]["path"] = rootfs
    if edit:
        edit(config)
    link = tmp_path / "net"
    if not link.exists():
        link.symlink_to(NET)
    return write_bundle(tmp_path / f"{name}-{uuid.uuid4().hex[:6]}", config)


class Bridge:
    """A bridge private to one test: its name, gateway and container addresses."""

    def __init__(self, subnet):
        self.name = f"{TAG}b{uuid.uuid4().hex[:4]}"
        self.subnet = subnet
        self.gateway = f"{subnet[1]}/{subnet.prefixlen}"
        self.n = 1

    def address(self):
        self.n += 1
        return f"{self.subnet[self.n]}/{self.subnet.prefixlen}"

    def edit(self, address, args):
        """An edit for example("net-bridge"): this bridge, `address`, `args`."""
        def edit(c):
            c["process"]["args"] = list(args)
            c["annotations"]["ocirun.net.address"] = address
            for phase in ("createRuntime", "poststop"):
                for hook in c["hooks"][phase]:
                    a = hook["args"]
                    a[a.index("-b") + 1] = self.name
                    if "-g" in a:
                        a[a.index("-g") + 1] = self.gateway
                    hook["timeout"] = 30
        return edit

    def ports(self):
        return sh("ip", "-o", "link", "show", "master", self.name, check=False).stdout.splitlines()

    def exists(self):
        return sh("ip", "link", "show", self.name, check=False).returncode == 0


@pytest.fixture
def bridge(subnet, oci):
    b = Bridge(subnet)
    yield b
    oci.cleanup()  # delete --force runs the poststop hooks (oci's own teardown comes later)
    assert not b.exists(), f"bridge {b.name} left behind"
    assert b.name not in nat_rules()


def start(oci, bundle_dir, cid, tmp_path):
    """create + start, the container's output to a file; returns its pid."""
    log = tmp_path / f"{cid}.log"
    with open(log, "w") as f:
        p = oci("create", "--bundle", bundle_dir, cid, capture_output=False,
                stdin=subprocess.DEVNULL, stdout=f, stderr=f)
    assert p.returncode == 0, log.read_text()
    oci("start", cid, check=True)
    return oci.state(cid)["pid"]


def listening(pid, port):
    """Whether a TCP socket listens on `port` in pid's network namespace
    (busybox nc listens on a dual-stack IPv6 socket)."""
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            next(f)
            if any(line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A" for line in f):
                return True
    return False


# -- bridge ------------------------------------------------------------------------


def test_bridged_containers_reach_each_other(oci, rootfs, tmp_path, bridge):
    """Two containers on one bridge: ping and a TCP echo; the bridge and its
    NAT rule live as long as a container uses them."""
    a_addr, b_addr = bridge.address(), bridge.address()
    a_ip = a_addr.split("/")[0]
    a = example("net-bridge", tmp_path, rootfs,
                bridge.edit(a_addr, ["nc", "-ll", "-p", str(PORT), "-e", "cat"]))
    a_id = new_id("neta")
    a_pid = start(oci, a, a_id, tmp_path)
    wait_until(lambda: listening(a_pid, PORT), what="the echo server")
    assert len(bridge.ports()) == 1
    assert f"ocirun:{bridge.name}" in nat_rules()

    script = (f"ip -o -4 addr show eth0; ip route; ping -c1 -W5 {a_ip} >/dev/null && echo ping-ok; "
              f"echo hello-echo | nc -w5 {a_ip} {PORT}")
    b = example("net-bridge", tmp_path, rootfs, bridge.edit(b_addr, ["sh", "-c", script]))
    p = oci("run", "--bundle", b, new_id("netb"))
    assert p.returncode == 0, p.stderr
    assert f"inet {b_addr}" in p.stdout
    assert f"default via {bridge.gateway.split('/')[0]} dev eth0" in p.stdout
    assert "ping-ok" in p.stdout
    assert "hello-echo" in p.stdout

    # b's poststop removed its port only: a still uses the bridge.
    assert bridge.exists() and len(bridge.ports()) == 1
    oci("delete", "--force", a_id, check=True)
    assert not bridge.exists()
    assert bridge.name not in nat_rules()


def test_bridge_hook_failure_leaves_nothing(oci, rootfs, tmp_path, bridge):
    """A createRuntime hook that fails (an address that is not one) fails
    create, and the poststop hook then removes what bridge-up.sh made."""
    b = example("net-bridge", tmp_path, rootfs, bridge.edit("not-an-address", ["true"]))
    p = oci("run", "--bundle", b, new_id("netf"))
    assert p.returncode != 0
    assert "createRuntime hook" in p.stderr
    assert oci("list", "-q").stdout == ""
    assert not bridge.exists()


# -- container (joined) ------------------------------------------------------------


def test_joined_container_shares_network_uts_and_ipc(oci, rootfs, tmp_path, bridge):
    """network, uts and ipc namespaces given as paths are joined
    (config-linux.md#namespaces): the second container sees the first one's
    interfaces, address and hostname."""
    addr = bridge.address()

    def first_edit(c):
        bridge.edit(addr, ["sleep", "600"])(c)
        c["hostname"] = "first-one"

    first = example("net-bridge", tmp_path, rootfs, first_edit)
    first_pid = start(oci, first, new_id("netj"), tmp_path)

    def join(c):
        for ns in c["linux"]["namespaces"]:
            if "path" in ns:
                ns["path"] = ns["path"].replace("/proc/0/", f"/proc/{first_pid}/")
        c["process"]["args"] = ["sh", "-c", "hostname; for n in net uts ipc; do readlink /proc/self/ns/$n; done; "
                                            "ip -o -4 addr show eth0; cat /proc/net/dev"]

    p = oci("run", "--bundle", example("net-joined", tmp_path, rootfs, join), new_id("netj"))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "first-one"
    assert lines[1:4] == [os.readlink(f"/proc/{first_pid}/ns/{n}") for n in ("net", "uts", "ipc")]
    assert f"inet {addr}" in lines[4]
    with open(f"/proc/{first_pid}/net/dev") as f:
        assert dev_names(f.read()) == dev_names("\n".join(lines[5:]))


def dev_names(proc_net_dev):
    return sorted(line.split(":")[0].strip() for line in proc_net_dev.splitlines()[2:] if ":" in line)


@pytest.fixture
def ocirun_env(oci, tmp_path):
    """Environment for the examples' run.sh: OCIRUN runs this checkout with
    the test's private --root."""
    wrapper = tmp_path / "ocirun"
    wrapper.write_text(f'#!/bin/sh\nexec {oci.binary} --root {oci.root} "$@"\n')
    wrapper.chmod(0o755)
    return dict(os.environ, OCIRUN=str(wrapper))


@pytest.mark.parametrize("name", ["net-none", "net-host", "net-joined"])
def test_example_run_sh(name, ocirun_env, oci):
    """The examples that use nothing shared on the host run as documented
    (net-bridge and net-netdevice use fixed names: covered by the copies
    above and below). net-joined's run.sh fills in the first container's pid."""
    p = subprocess.run([os.path.join(BUNDLES, name, "run.sh")], env=ocirun_env, capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    if name == "net-none":
        assert p.stdout.startswith("1: lo: <LOOPBACK,UP")
    elif name == "net-host":  # more than the lo a new namespace would have
        assert "lo" in dev_names(p.stdout) and len(dev_names(p.stdout)) == len(host_links())
    else:
        assert p.stdout.startswith("hostname: net-joined-first\n1: lo: <LOOPBACK,UP")
    assert oci("list", "-q").stdout == ""


def test_example_scripts_are_posix_sh():
    for name in os.listdir(BUNDLES):
        if name.startswith("net"):
            for script in ("run.sh", "bridge-up.sh", "bridge-down.sh", "lib.sh"):
                path = os.path.join(BUNDLES, name, script)
                if os.path.exists(path):
                    assert sh("sh", "-n", path, check=False).returncode == 0, path


# -- host --------------------------------------------------------------------------


def test_host_network_sees_host_interfaces(oci, rootfs, tmp_path):
    """Without a network namespace the container is in the runtime's
    (config-linux.md#namespaces: "the process ... inherits the runtime's")."""
    def edit(c):
        c["process"]["args"] = ["sh", "-c", "readlink /proc/self/ns/net; cat /proc/net/dev"]

    b = example("net-host", tmp_path, rootfs, edit)
    links = host_links()
    p = oci("run", "--bundle", b, new_id("neth"))
    after = host_links()  # (another process may add or remove one meanwhile)
    assert p.returncode == 0, p.stderr
    first, rest = p.stdout.split("\n", 1)
    assert first == os.readlink("/proc/self/ns/net")
    assert links & after <= set(dev_names(rest)) <= links | after


# -- none --------------------------------------------------------------------------


def test_closed_network_has_only_lo_up(oci, rootfs, tmp_path):
    """A new network namespace holds only lo, which ocirun sets up."""
    def edit(c):
        c["process"]["args"] = ["sh", "-c", "ip -o link; cat /sys/class/net/lo/flags"]

    b = example("net-none", tmp_path, rootfs, edit)
    p = oci("run", "--bundle", b, new_id("netn"))
    assert p.returncode == 0, p.stderr
    links, flags = p.stdout.strip().rsplit("\n", 1)
    assert len(links.splitlines()) == 1
    assert re.match(r"1: lo: <[^>]*\bUP\b", links)
    assert int(flags, 16) & 0x1  # IFF_UP


# -- linux.netDevices ----------------------------------------------------------------


@pytest.fixture
def veth():
    """A veth pair on the host: (the end to move, its peer); removed after."""
    name = f"{TAG}{uuid.uuid4().hex[:5]}"
    peer = name + "p"
    sh("ip", "link", "add", name, "type", "veth", "peer", "name", peer)
    yield name, peer
    for n in (name, peer):
        sh("ip", "link", "del", n, check=False)
    # A moved veth dies with the container's namespace, which the kernel
    # frees asynchronously.
    wait_until(lambda: not {name, peer} & host_links(), what="the veth pair to go")


def netdevice(tmp_path, rootfs, devices, args, more=None):
    def edit(c):
        c["linux"]["netDevices"] = devices
        c["process"]["args"] = list(args)
        if more:
            more(c)

    return example("net-netdevice", tmp_path, rootfs, edit)


def test_netdevice_moved_renamed_up_with_attributes(oci, rootfs, tmp_path, veth, subnet):
    """config-linux.md#network-devices: the device is moved and renamed, set
    up, keeps its MTU and MAC, and its permanent global addresses (of any
    family) but not the others."""
    name, _peer = veth
    keep4 = f"{subnet[10]}/{subnet.prefixlen}"
    drop4 = f"{subnet[11]}/{subnet.prefixlen}"
    keep6 = "fd88:77::a/64"
    sh("ip", "link", "set", name, "mtu", "1280", "address", "02:0c:01:02:03:04")
    sh("ip", "addr", "add", keep4, "dev", name)
    sh("ip", "addr", "add", keep6, "dev", name, "nodad")
    sh("ip", "addr", "add", drop4, "dev", name, "valid_lft", "300", "preferred_lft", "300")
    b = netdevice(tmp_path, rootfs, {name: {"name": "eth1"}},
                  ["sh", "-c", "cat /sys/class/net/eth1/flags; ip -o link show eth1; ip -o addr show eth1"])
    p = oci("run", "--bundle", b, new_id("netd"))
    assert p.returncode == 0, p.stderr
    flags, link, addrs = p.stdout.split("\n", 2)
    assert int(flags, 16) & 0x1  # IFF_UP
    assert re.match(r"\d+: eth1(@\S+)?: <[^>]*\bUP\b", link)
    assert "mtu 1280" in link and "link/ether 02:0c:01:02:03:04" in link
    assert f"inet {keep4}" in addrs
    assert f"inet6 {keep6}" in addrs
    assert drop4 not in addrs
    assert name not in host_links()  # moved, and not moved back


def test_netdevice_keeps_host_name_and_numbers_a_template(oci, rootfs, tmp_path, veth):
    """Without `name` the host name is kept; a "%d" template gets a number
    from the kernel (config-linux.md#network-devices)."""
    name, peer = veth
    devices = {name: {}, peer: {"name": "net%d"}}
    b = netdevice(tmp_path, rootfs, devices, ["sh", "-c", "ls /sys/class/net"])
    p = oci("run", "--bundle", b, new_id("netd"))
    assert p.returncode == 0, p.stderr
    assert sorted(p.stdout.split()) == sorted(["lo", name, "net0"])


def test_netdevice_missing_on_host_is_an_error(oci, rootfs, tmp_path):
    """A device that is not on the host: create fails, one line naming it."""
    missing = f"{TAG}none"
    b = netdevice(tmp_path, rootfs, {missing: {"name": "eth1"}}, ["true"])
    p = oci("run", "--bundle", b, new_id("netd"))
    assert p.returncode == 1
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert f"linux.netDevices.{missing}" in p.stderr and "does not exist" in p.stderr
    assert oci("list", "-q").stdout == ""


def test_netdevice_name_taken_in_container_is_an_error(oci, rootfs, tmp_path, veth):
    """config-linux.md#network-devices: "If a network device with the
    specified name already exists in the container namespace, the runtime
    MUST generate an error"; the device stays on the host."""
    name, _peer = veth
    b = netdevice(tmp_path, rootfs, {name: {"name": "lo"}}, ["true"])
    p = oci("run", "--bundle", b, new_id("netd"))
    assert p.returncode == 1
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert f"linux.netDevices.{name}.name" in p.stderr and "already exists" in p.stderr
    assert name in host_links()
    assert oci("list", "-q").stdout == ""


def test_netdevice_into_joined_namespace(oci, rootfs, tmp_path, veth):
    """The device goes into the container's network namespace also when that
    namespace is joined by path."""
    name, _peer = veth
    holder = subprocess.Popen(["unshare", "--net", "sleep", "600"])
    try:
        wait_until(lambda: os.readlink(f"/proc/{holder.pid}/ns/net") != os.readlink("/proc/self/ns/net"),
                   what="unshare")

        def edit(c):
            for ns in c["linux"]["namespaces"]:
                if ns["type"] == "network":
                    ns["path"] = f"/proc/{holder.pid}/ns/net"

        b = netdevice(tmp_path, rootfs, {name: {"name": "eth7"}}, ["true"], edit)
        p = oci("run", "--bundle", b, new_id("netd"))
        assert p.returncode == 0, p.stderr
        out = sh("nsenter", f"--net=/proc/{holder.pid}/ns/net", "ip", "-o", "link", "show", "eth7").stdout
        assert "eth7" in out and "UP" in out
    finally:
        holder.kill()
        holder.wait()


# -- linux.namespaces[].path errors --------------------------------------------------


@pytest.mark.parametrize("path, message", [
    ("/proc/self/ns/uts", "is a uts namespace, not network"),
    ("/etc/hostname", "is not a namespace file"),
])
def test_bad_namespace_path_is_one_line_naming_the_field(oci, rootfs, tmp_path, path, message):
    """config-linux.md#namespaces: path is "the namespace file"; any other
    file, or one of another type, is a config error."""
    def edit(c):
        c["process"]["args"] = ["true"]
        for ns in c["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = path

    b = example("net-none", tmp_path, rootfs, edit)
    index = [n["type"] for n in json.load(open(os.path.join(b, "config.json")))["linux"]["namespaces"]].index("network")
    p = oci("run", "--bundle", b, new_id("netp"))
    assert p.returncode == 1
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert f"linux.namespaces[{index}].path" in p.stderr and message in p.stderr
    assert oci("list", "-q").stdout == ""


# -- nothing left --------------------------------------------------------------------


def test_zz_nothing_left_behind(before):
    """Last in this module: every bridge, veth and NAT rule the tests made is
    gone, and no named netns appeared. (Only what these tests name is
    checked: other processes may change the host meanwhile.)"""
    def ours():
        return {n for n in host_links() - before["links"] if n.startswith((TAG, "ocv", "ocnd"))}

    wait_until(lambda: not ours(), what=f"interfaces to go: {ours()}")
    rules = nat_rules()
    assert TAG not in rules
    new = set(rules.splitlines()) - set(before["nat"].splitlines())
    assert not [line for line in new if "ocirun" in line]
    assert named_netns() == before["netns"]
