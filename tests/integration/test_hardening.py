"""Issue 10: preserved fds, the exec helper's exits, unbounded reads and
inputs found by fuzzing. Each test failed before its fix."""
import os
import subprocess

import pytest

from conftest import new_id, oci_files, pids_with


@pytest.fixture
def running(oci, bundle):
    cid = new_id("h")
    oci_files(oci, "run", "-d", "--bundle", bundle(["sleep", "1000"]), cid, check=True)
    return cid


def _closed_above_2():
    """Run a command with only fds 0-2 open (pytest may hold others)."""
    return dict(close_fds=True, pass_fds=())


# ---- item 3: --preserve-fds N with fewer fds open -------------------------------------

@pytest.mark.parametrize("verb", ["exec", "run"])
def test_preserve_fds_that_are_not_open_fail_before_anything(oci, bundle, running, verb):
    """Nothing of ocirun's own (exec.fifo, the exec memfd, a namespace fd) may
    reach the container as a 'preserved' fd: runc's 'unable to stat preserved-fd'."""
    args = ["exec", "--preserve-fds", "3", running, "true"] if verb == "exec" else \
        ["run", "--preserve-fds", "3", "--bundle", bundle(), new_id()]
    p = subprocess.run(oci.cmd(*args), capture_output=True, text=True, timeout=30, **_closed_above_2())
    assert p.returncode != 0
    assert "unable to stat preserved-fd 3 (of 3)" in p.stderr


def test_preserve_fds_huge_does_not_hang(oci, running):
    p = subprocess.run(oci.cmd("exec", "--preserve-fds", "99999999", running, "true"),
                       capture_output=True, text=True, timeout=30, **_closed_above_2())
    assert p.returncode != 0 and "preserved-fd 3" in p.stderr


@pytest.mark.parametrize("value", ["x", "-1"])
def test_preserve_fds_not_a_number_is_one_line(oci, running, value):
    p = oci("exec", "--preserve-fds", value, running, "true")
    assert p.returncode != 0
    assert p.stderr.count("\n") == 1 and "preserve-fds" in p.stderr and "Traceback" not in p.stderr


# ---- item 11: --pid-file in a missing directory --------------------------------------

def test_exec_pid_file_in_a_missing_directory_leaves_no_process(oci, running, tmp_path):
    marker = f"sleep 4242{os.getpid() % 1000}"
    p = oci_files(oci, "exec", "-d", "--pid-file", str(tmp_path / "no" / "such" / "pid"), running,
                  "sh", "-c", f"exec {marker}")
    assert p.returncode != 0 and "pid-file" in p.stderr
    assert pids_with(marker) == []
