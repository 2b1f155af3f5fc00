"""Issue 11 item 11: `ocirun validate` says what `create` will do.

Every config of the validator's catalogue (tests/unit/test_validate.py: FAILS and PASSES,
plus the cases create alone used to judge), and configs generated from them, get the same
verdict from `validate` and from `create` (which runs it; the container is deleted after):
both accept, or both refuse with the same line.
"""
import copy
import importlib.util
import json
import os
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO, new_id
from test_engine_configs import own_rootfs  # noqa: F401 - a fixture: BASE has no /dev mount

_spec = importlib.util.spec_from_file_location("catalogue", os.path.join(REPO, "tests", "unit", "test_validate.py"))
cat = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cat)

# What create alone refused, or judged otherwise, before validate ran its checks.
EXTRA = {
    "seccomp-unknown-syscall": cat.setp("linux.seccomp", {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["no_such_syscall_ever"], "action": "SCMP_ACT_ERRNO"}]}),
    "personality-flags": cat.setp("linux.personality", {"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}),
    "cgroups-path-climbs": cat.setp("linux.cgroupsPath", "/../../x"),
}
MUTATORS = {**{f"fail-{k}": v[0] for k, v in cat.FAILS.items()},
            **{f"pass-{k}": v for k, v in cat.PASSES.items()}, **EXTRA}


def verdicts(oci, rootfs, tmp_path, mutate):
    config = copy.deepcopy(cat.BASE)
    mutate(config)
    if isinstance(config.get("root"), dict) and config["root"].get("path") == "rootfs":
        config["root"]["path"] = rootfs
    b = tmp_path / new_id("b")
    b.mkdir()
    (b / "config.json").write_text(json.dumps(config))
    v = oci("validate", "--bundle", str(b))
    cid = new_id()
    c = subprocess.run(oci.cmd("create", "--bundle", str(b), cid), stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60)
    if c.returncode == 0:
        oci("delete", "--force", cid, check=True)
    return v, c


def same(v, c, what):
    err_v = [ln for ln in v.stderr.splitlines() if "level=warning" not in ln and "warning" not in ln]
    err_c = [ln for ln in c.stderr.splitlines() if "level=warning" not in ln and "warning" not in ln]
    assert (v.returncode == 0) == (c.returncode == 0), f"{what}: validate {v.returncode} {v.stderr!r}, " \
                                                       f"create {c.returncode} {c.stderr!r}"
    if v.returncode:
        assert err_v[:1] == err_c[:1], what


@pytest.mark.parametrize("name", sorted(MUTATORS))
def test_catalogue_same_verdict(name, oci, own_rootfs, tmp_path):
    v, c = verdicts(oci, own_rootfs, tmp_path, MUTATORS[name])
    same(v, c, name)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(names=st.lists(st.sampled_from(sorted(MUTATORS)), min_size=2, max_size=3, unique=True))
def test_generated_same_verdict(names, oci, own_rootfs, tmp_path):
    def mutate(config):
        for n in names:
            try:
                MUTATORS[n](config)
            except (KeyError, IndexError, TypeError):
                pass  # an earlier mutation removed what this one edits
    v, c = verdicts(oci, own_rootfs, tmp_path, mutate)
    same(v, c, names)
