"""bench/bench.py --unpack: its layout is one ocirun unpacks, and both rows are measured."""
import os
import subprocess

import pytest
from conftest import REPO
from test_bench_smoke import load_bench


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts overlays: needs root")
def test_unpack_rows_measured(ocirun_bin, tmp_path):
    bench = load_bench()
    rootfs = tmp_path / "rootfs"
    subprocess.run(["bash", os.path.join(REPO, "bundles", "mkrootfs.sh"), str(rootfs)], check=True,
                   stdout=subprocess.DEVNULL)
    layout = bench.make_layout(str(rootfs), str(tmp_path / "layout"))
    (tmp_path / "root").mkdir()
    (tmp_path / "scratch").mkdir()
    rt = bench.Runtime("ocirun", ocirun_bin, str(tmp_path / "root"), str(tmp_path / "scratch"))
    rows = bench.case_unpack(rt, layout, str(tmp_path), 1)
    assert list(rows) == list(bench.UNPACK_ROWS)
    assert all(ns > 0 for ns in rows.values())
    # Each run cleans up after itself: no bundle, no store, no mount.
    assert sorted(os.listdir(tmp_path)) == ["layout", "root", "rootfs", "scratch"]
    with open("/proc/self/mountinfo") as f:
        assert str(tmp_path) not in f.read()
