"""bench/bench.py --quick --repeats 1 completes and prints every row for all three runtimes."""
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import HAVE_RUNC, REPO

HAVE_CRUN = shutil.which("crun") is not None
BENCH = os.path.join(REPO, "bench", "bench.py")
NUMBER = re.compile(r"^\d+(\.\d+)?$")
RATIO = re.compile(r"^\d+(\.\d+)?×$")


def load_bench():
    spec = importlib.util.spec_from_file_location("ocirun_bench", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(os.geteuid() != 0, reason="runs containers: needs root")
@pytest.mark.skipif(not HAVE_RUNC, reason="runc not installed")
@pytest.mark.skipif(not HAVE_CRUN, reason="crun not installed")
def test_quick_bench_table_complete(ocirun_bin, tmp_path):
    import rootless_env

    out = tmp_path / "result.md"
    env = rootless_env.Env()  # the rootless row's user, and this checkout's ocirun for it
    try:
        p = subprocess.run([sys.executable, BENCH, "--quick", "--repeats", "1", "--ocirun", ocirun_bin,
                            "--rootless-user", rootless_env.USER, "--rootless-ocirun", env.launcher,
                            "--output", str(out)], capture_output=True, text=True, timeout=180)
    finally:
        env.remove()
    assert p.returncode == 0, p.stderr[-3000:]

    rows = {}
    for line in p.stdout.splitlines():
        if line.startswith("| ") and not line.startswith("| case "):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    bench = load_bench()
    a = bench.parse_args(["--quick", "--repeats", "1"])
    expected = bench.row_labels(a.seq, a.par)
    assert list(rows) == expected, p.stdout
    for label, cells in rows.items():
        # ocirun, runc, crun, then the two ratios: all measured, none n/a.
        assert len(cells) == 5, (label, cells)
        if label == bench.FLOOR_ROW:  # the interpreter's, not a runtime's: ocirun's column only
            assert NUMBER.match(cells[0]) and cells[1:] == ["—"] * 4, cells
            continue
        assert all(NUMBER.match(c) for c in cells[:3]), (label, cells, p.stdout + p.stderr)
        assert all(RATIO.match(c) for c in cells[3:]), (label, cells)

    saved = out.read_text()
    assert "| case | ocirun | runc | crun |" in saved
    for word in ("nproc", "kernel", "cgroups", "python", "runc version", "crun version"):
        assert word in saved, word


def test_importcost_times_the_group_after_its_prerequisites(ocirun_bin):
    """bench/importcost.py (the plan's numbers): µs for a group, with and without a fork first."""
    tool = os.path.join(REPO, "bench", "importcost.py")
    for extra in ([], ["--after-fork"]):
        p = subprocess.run([sys.executable, tool, "--ocirun", ocirun_bin, "--runs", "3", *extra,
                            "--pre", "ocirun.cli", "ocirun.state"], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, p.stderr
        us, _, rest = p.stdout.partition(" µs median")
        assert int(us) > 0 and "import ocirun.state after ocirun.cli" in rest, p.stdout
        assert ("after a fork" in rest) == bool(extra), p.stdout
    # A module that does not exist fails loudly rather than timing nothing.
    p = subprocess.run([sys.executable, tool, "--ocirun", ocirun_bin, "--runs", "1", "ocirun.nope"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
