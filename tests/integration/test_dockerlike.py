"""A Docker/podman-shaped container under runc (the oracle) and ocirun.

The config is what an engine sends by default: podman's default capability
list (bounding, effective and permitted; nothing inheritable or ambient),
an allow-list seccomp profile (defaultAction SCMP_ACT_ERRNO, defaultErrnoRet
1, ~300 names: test_seccomp's), Docker's masked and read-only paths,
noNewPrivileges false and RLIMIT_NOFILE 1024:1024. The process reports what
it got; the two reports must be equal, and the facts the config asks for
are pinned as well (so a mistake both runtimes share cannot pass).

runc 1.1.5 (spec 1.0.2-dev) runs the ociVersion 1.3.0 config unchanged: it
never checks the version.
"""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import HAVE_RUNC, default_config, new_id, write_bundle
from test_seccomp import PROFILE_ALLOW, docker_like_profile
from test_differential import sections  # the same probe output format

pytestmark = [pytest.mark.skipif(not HAVE_RUNC, reason="runc (the oracle) is not installed"),
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runs containers")]

RUNC = "/usr/sbin/runc" if os.path.exists("/usr/sbin/runc") else shutil.which("runc")

PODMAN_CAPS = ["CAP_" + n for n in (
    "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE", "SETFCAP",
    "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT")]
CAP_BITS = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_FSETID": 4, "CAP_KILL": 5,
            "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_NET_BIND_SERVICE": 10,
            "CAP_SYS_CHROOT": 18, "CAP_SETFCAP": 31}
DOCKER_MASKED = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                 "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                 "/sys/firmware"]
DOCKER_READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
EPERM_TEXT = "Operation not permitted"


def docker_seccomp():
    """test_seccomp's profile with Docker's defaultErrnoRet (EPERM). chroot
    is left to the default action: it would succeed (CAP_SYS_CHROOT is
    granted), so its failure can only be the filter's default errno."""
    sc = docker_like_profile()
    sc["defaultErrnoRet"] = 1
    sc["syscalls"][0]["names"] = [n for n in PROFILE_ALLOW if n != "chroot"]
    return sc


def docker_like_config(rootfs, args):
    c = default_config(rootfs, args)
    c["process"]["capabilities"] = {"bounding": list(PODMAN_CAPS), "effective": list(PODMAN_CAPS),
                                    "permitted": list(PODMAN_CAPS)}
    c["process"]["noNewPrivileges"] = False
    c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    c["linux"]["seccomp"] = docker_seccomp()
    c["linux"]["maskedPaths"] = list(DOCKER_MASKED)
    c["linux"]["readonlyPaths"] = list(DOCKER_READONLY)
    return c


PROBE = r"""
exec 2>&1
echo "== status"; grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status
echo "== uid_map"; cat /proc/self/uid_map
echo "== ulimit"; ulimit -a
echo "== masked"
for p in MASKED; do
  if [ -d $p ]; then echo "$p dir $(ls -A $p | wc -l) entries"
  elif [ -e $p ]; then echo "$p file $(cat $p | wc -c) bytes"
  else echo "$p missing"; fi
done
echo "== readonly"
for p in READONLY; do
  awk -v p=$p '$5 == p {split($6, o, ","); print p, o[1]}' /proc/self/mountinfo
done
(echo x > /proc/sys/kernel/domainname); echo "write /proc/sys rc=$?"
(echo x > /proc/sysrq-trigger); echo "write sysrq-trigger rc=$?"
echo "== denied"
unshare -U true; echo "unshare rc=$?"
mount -t tmpfs none /tmp; echo "mount rc=$?"
chroot / /bin/true; echo "chroot rc=$?"
swapon /bin/busybox; echo "swapon rc=$?"
echo "== end"
""".replace("MASKED", " ".join(DOCKER_MASKED)).replace("READONLY", " ".join(DOCKER_READONLY))


def run(binary, root, bundle):
    cid = new_id("dock")
    with tempfile.TemporaryFile("w+") as out:
        try:
            p = subprocess.run([binary, "--root", root, "run", "--bundle", bundle, cid],
                               stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=60)
        finally:
            subprocess.run([binary, "--root", root, "delete", "--force", cid], capture_output=True)
        out.seek(0)
        return p.returncode, out.read()


@pytest.fixture(scope="module")
def reports(rootfs, ocirun_bin, tmp_path_factory):
    """{runtime: (exit code, sections)} for the same config.json."""
    base = tmp_path_factory.mktemp("dockerlike")
    config = docker_like_config("rootfs", ["/bin/sh", "-c", PROBE])
    out = {}
    for name, binary in (("runc", RUNC), ("ocirun", ocirun_bin)):
        b = base / name
        shutil.copytree(rootfs, b / "rootfs", symlinks=True)
        write_bundle(b, json.loads(json.dumps(config)))
        code, text = run(binary, str(base / f"{name}-state"), str(b))
        assert "== end" in text, f"{name} exited {code} before the probe finished:\n{text}"
        out[name] = (code, sections(text))
    return out


@pytest.mark.parametrize("section", ["status", "uid_map", "ulimit", "masked", "readonly", "denied"])
def test_same_as_runc(reports, section):
    """The process sees the same thing under both runtimes."""
    assert reports["ocirun"][0] == reports["runc"][0] == 0
    assert reports["ocirun"][1][section] == reports["runc"][1][section]


def test_capabilities_are_podmans(reports):
    """config.md#linux-process: the sets are exactly the listed ones; nothing
    inheritable or ambient (CVE-2022-29162); no_new_privs off."""
    f = dict(line.split(":\t") for line in reports["ocirun"][1]["status"])
    want = sum(1 << CAP_BITS[c] for c in PODMAN_CAPS)
    assert [int(f[k], 16) for k in ("CapPrm", "CapEff", "CapBnd")] == [want] * 3
    assert int(f["CapInh"], 16) == 0 and int(f["CapAmb"], 16) == 0
    assert f["NoNewPrivs"] == "0"
    assert (f["Seccomp"], f["Seccomp_filters"]) == ("2", "1")


def test_rlimit_and_uid_map(reports):
    """config.md#posix-process rlimits; no user namespace: the identity map."""
    s = reports["ocirun"][1]
    assert any(line.endswith("(-n) 1024") for line in s["ulimit"]), s["ulimit"]
    assert [line.split() for line in s["uid_map"]] == [["0", "0", "4294967295"]]


def test_masked_and_readonly_paths(reports):
    """config-linux.md#masked-paths, #readonly-paths: masked ones read empty
    (a file) or have no entries (a directory); read-only ones are ro mounts."""
    s = reports["ocirun"][1]
    for line in s["masked"]:
        words = line.split()
        assert words[1] == "missing" or words[2] == "0", line
        assert words[0] in DOCKER_MASKED
    assert any(line.split()[1] != "missing" for line in s["masked"])
    ro = [line.split() for line in s["readonly"] if line.startswith("/proc/")]
    present = [p for p in DOCKER_READONLY if os.path.exists(p)]
    assert sorted(r[0] for r in ro) == sorted(present)
    assert all(r[1] == "ro" for r in ro), ro
    assert "write /proc/sys rc=1" in s["readonly"] and "write sysrq-trigger rc=1" in s["readonly"]


def test_denied_syscalls_fail_with_the_configured_errno(reports):
    """config-linux.md#seccomp: unlisted syscalls get defaultErrnoRet (1,
    EPERM): chroot would otherwise succeed with CAP_SYS_CHROOT; unshare and
    mount hit their own EPERM rules."""
    s = reports["ocirun"][1]["denied"]
    for name in ("unshare", "mount", "chroot", "swapon"):
        assert f"{name} rc=1" in s, s
    assert sum(EPERM_TEXT in line for line in s) >= 3, s
    assert any("chroot" in line and EPERM_TEXT in line for line in s), s


def test_chroot_probe_succeeds_without_the_filter(oci, rootfs, tmp_path):
    """The control for the chroot probe above: same config, no seccomp."""
    c = docker_like_config(rootfs, ["/bin/sh", "-c", "chroot / /bin/true; echo rc=$?"])
    del c["linux"]["seccomp"]
    b = write_bundle(tmp_path / "bundle", c)
    p = oci("run", "--bundle", b, new_id())
    assert (p.returncode, p.stdout.strip()) == (0, "rc=0"), p.stderr
