"""Runs last (by name): the whole session left nothing on the host.

- no cgroup directory that a container of this session used (or a parent
  ocirun made for it) is still there, in any hierarchy, unless it existed when
  the session started (conftest.session_record);
- no process started through this session's launcher is alive (a leaked
  init is a child of pid 1 whose cmdline is the launcher's);
- no mount in the host's mountinfo mentions this session's tmp dirs.
"""
import os
import time

from conftest import cgroup_dirs, launcher_pids, mountinfo


def _container_dirs(record):
    """Every directory this session's containers had (or would have had) in any hierarchy."""
    from ocirun import cgroups
    from ocirun.errors import OciError

    dirs = set()
    for cid, cpath in record.containers:
        try:
            dirs.update(cgroups.create_manager(cpath, cid).paths.values())
        except OciError:
            continue  # a bad cgroupsPath: nothing can have been made for it
    return dirs


def _ours(d, dirs, ids):
    if os.path.basename(d) in ids:
        return True
    return any(d == x or d.startswith(x + "/") or x.startswith(d + "/") for x in dirs)


def test_no_cgroup_left(session_record):
    dirs = _container_dirs(session_record)
    ids = {cid for cid, _ in session_record.containers}
    new = cgroup_dirs() - session_record.cgroups_at_start
    left = sorted(d for d in new if _ours(d, dirs, ids))
    assert left == [], f"cgroup directories left behind: {left}"


def test_no_process_left(session_record):
    deadline = time.monotonic() + 3
    while True:
        pids = launcher_pids(session_record.launcher)
        if not pids or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    info = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            info.append(f"pid {pid} ppid {stat[stat.rfind(')') + 2:].split()[1]}: {cmd}")
        except OSError:
            continue
    assert info == [], "processes of this session's ocirun still alive:\n" + "\n".join(info)


def test_no_mount_left(session_record):
    base = session_record.basetemp
    left = sorted(line for line in mountinfo("/proc/1/mountinfo") | mountinfo() if base in line)
    assert left == [], "mounts left behind:\n" + "\n".join(left)
