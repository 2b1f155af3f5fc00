"""create/run flags not covered elsewhere: --no-new-keyring and --no-pivot,
checked against runc where runc has the same behaviour."""
import shutil

import pytest

from conftest import HAVE_RUNC, new_id


def keyring_bundle(bundle):
    def edit(c):
        c["linux"]["maskedPaths"] = [p for p in c["linux"].get("maskedPaths", []) if p != "/proc/keys"]
    return bundle(args=["cat", "/proc/keys"], edit=edit)


def session_keyrings(out, cid):
    """(name, perm) of the container's own session keyring, as /proc/keys shows
    it (other, dead containers' keyrings linger there until the kernel's GC)."""
    rows = []
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 9 and f[7] == "keyring" and f[8].rstrip(":") == f"_ses.{cid}":
            rows.append((f[8].rstrip(":"), f[4]))
    return rows


def test_new_session_keyring_by_default(oci, bundle):
    """Each container gets its own session keyring `_ses.<id>` (runc's name and
    permissions), so containers never share keys."""
    cid = new_id()
    p = oci("run", "--bundle", keyring_bundle(bundle), cid)
    assert p.returncode == 0, p.stderr
    assert session_keyrings(p.stdout, cid) == [(f"_ses.{cid}", "3f1b0000")]


def test_no_new_keyring_keeps_the_callers(oci, bundle):
    cid = new_id()
    p = oci("run", "--no-new-keyring", "--bundle", keyring_bundle(bundle), cid)
    assert p.returncode == 0, p.stderr
    assert session_keyrings(p.stdout, cid) == []


@pytest.mark.skipif(not HAVE_RUNC, reason="runc (the oracle) is not installed")
def test_keyring_matches_runc(oci, bundle, tmp_path):
    """Same name pattern and permissions as runc's session keyring."""
    import subprocess

    b = keyring_bundle(bundle)
    cid, rid = new_id(), new_id()
    ours = session_keyrings(oci("run", "--bundle", b, cid, check=True).stdout, cid)
    theirs = subprocess.run([shutil.which("runc"), "--root", str(tmp_path / "runc-root"), "run",
                             "--bundle", b, rid], capture_output=True, text=True, timeout=60)
    assert theirs.returncode == 0, theirs.stderr
    theirs = session_keyrings(theirs.stdout, rid)
    assert len(ours) == len(theirs) == 1
    assert ours[0][1] == theirs[0][1]  # the permission mask


def test_no_pivot_runs_in_the_rootfs(oci, bundle):
    """--no-pivot: the rootfs is moved onto / and chrooted into (for a rootfs on a
    ramdisk); the process still sees only the rootfs, with its mounts."""
    cid = new_id()
    b = bundle(args=["/bin/sh", "-c", "ls /; cat /proc/self/status | grep -c NoNewPrivs; "
                                      "test -e /etc/passwd && echo passwd; test -d /root/.pyenv || echo nohost"])
    p = oci("run", "--no-pivot", "--bundle", b, cid)
    assert p.returncode == 0, p.stderr
    assert "bin" in p.stdout.split() and "passwd" in p.stdout and "nohost" in p.stdout
    assert oci("list", "-q").stdout == ""


def test_socket_activation_fds_are_passed(oci, bundle, tmp_path):
    """$LISTEN_FDS/$LISTEN_PID (systemd socket activation) as runc: when
    LISTEN_PID is the runtime's pid, fds 3..3+N-1 reach the container, which
    gets LISTEN_FDS=N and LISTEN_PID=1; --preserve-fds ones come after them."""
    import os
    import subprocess

    f3, f4 = tmp_path / "three", tmp_path / "four"
    f3.write_text("three\n")
    f4.write_text("four\n")
    b = bundle(args=["/bin/sh", "-c", "cat <&3; cat <&4; echo $LISTEN_FDS $LISTEN_PID; ls /proc/self/fd"])
    # exec's the runtime in place so LISTEN_PID can name it.
    script = (f'exec 3<{f3} 4<{f4}; LISTEN_FDS=1 LISTEN_PID=$$ exec '
              f'{" ".join(oci.cmd("run", "--preserve-fds", "1", "--bundle", b, new_id()))}')
    p = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split("\n")
    assert lines[:3] == ["three", "four", "1 1"], p.stdout
    assert sorted(lines[3:-1], key=int) == ["0", "1", "2", "3", "4", "5"]  # 5: ls's own dir fd
