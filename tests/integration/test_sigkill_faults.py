"""Fault injection (issue 10): SIGKILL of ocirun at random points of every
mutating command, in a bounded loop (a fixed seed, 7 commands x 3 delays).
Afterwards `state` and `list` never crash, and `delete --force` leaves no
process, cgroup, mount or state directory.
"""
import os
import random
import subprocess
import time

import pytest

from conftest import cgroup_dirs, mountinfo, new_id, oci_files, pids_with

# What must exist before the command that is killed, and the command.
SETUP = {"create": [], "run": [], "start": ["create"], "exec": ["create", "start"],
         "pause": ["create", "start"], "resume": ["create", "start", "pause"],
         "delete": ["create", "start"]}
ROUNDS = 3


def _args(step, cid, b, marker):
    return {"create": ["create", "--bundle", b, cid], "run": ["run", "--bundle", b, cid],
            "start": ["start", cid], "pause": ["pause", cid], "resume": ["resume", cid],
            "exec": ["exec", cid, "sleep", marker + "1"], "delete": ["delete", "--force", cid]}[step]


def _no_crash(p):
    assert "Traceback" not in p.stderr and "SystemError" not in p.stderr, p.stderr
    assert p.returncode in (0, 1), (p.returncode, p.stderr)


@pytest.mark.parametrize("verb", sorted(SETUP))
def test_sigkill_at_random_points_leaves_nothing(oci, bundle, verb):
    rng = random.Random(f"issue10-{verb}")
    for r in range(ROUNDS):
        cid = new_id("k")
        marker = f"{8100 + r}{sorted(SETUP).index(verb)}{os.getpid() % 79}"
        b = bundle(["sleep", marker])
        for step in SETUP[verb]:
            oci_files(oci, *_args(step, cid, b, marker), check=True)
        delay = rng.uniform(0, 0.25)
        p = subprocess.Popen(oci.cmd(*_args(verb, cid, b, marker)), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.kill()
        p.wait(timeout=30)
        for cmd in (["state", cid], ["list"], ["list", "-f", "json"]):
            _no_crash(oci(*cmd))
        d = oci("delete", "--force", cid, timeout=60)
        assert d.returncode == 0, (verb, r, delay, d.stderr)
        assert not os.path.exists(os.path.join(oci.root, cid)), (verb, r, delay)
        assert pids_with(f"sleep {marker}") == [], (verb, r, delay)
        assert [x for x in cgroup_dirs() if cid in x] == [], (verb, r, delay)
        assert [m for m in mountinfo() if cid in m or b in m] == [], (verb, r, delay)
