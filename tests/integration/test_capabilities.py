"""ocirun.capabilities: name->mask translation, and applying masks in a forked child.

Children report /proc/self/status over a pipe; exact masks are asserted. A
live comparison runs runc on the same capability configs and compares the
Cap* lines of the exec'd process.
"""
import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocirun import capabilities, procattrs, syscalls
from ocirun.captable import CAPABILITIES
from ocirun.errors import InvalidSpec, SyscallError
from conftest import in_child

REPO = Path(__file__).resolve().parents[2]
RUNC = shutil.which("runc")
CAT = shutil.which("cat")
STATUS_KEYS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")
CAP_KEYS = STATUS_KEYS[:5]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: changes capabilities and ids")

# runc 1.1.5 `runc spec` default process.capabilities (bounding = effective = permitted).
RUNC_DEFAULT = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def parse_status(data):
    out = {}
    for line in data.decode().splitlines():
        key, _, value = line.partition(":")
        if key in STATUS_KEYS:
            out[key] = int(value.strip(), 16 if key.startswith("Cap") else 10)
    return out


def status():
    """The Cap*/NoNewPrivs fields of /proc/self/status (binary read: import-free)."""
    with open("/proc/self/status", "rb") as f:
        data = f.read()
    out = {}
    for line in data.split(b"\n"):
        key, _, value = line.partition(b":")
        k = key.decode("ascii")
        if k in STATUS_KEYS:
            out[k] = int(value.strip(), 16 if k.startswith("Cap") else 10)
    return out


def exec_status(m, last_cap, user=None, warn=None):
    """Apply m (and user) in a child that then execs cat /proc/self/status; parse its output."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.dup2(w, 1)
            capabilities.apply(m, last_cap,
                               set_user=(lambda: procattrs.set_user(user)) if user else None, warn=warn)
            os.execv(CAT, [CAT, "/proc/self/status"])
        finally:
            os._exit(127)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, st_ = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(st_) == 0
    return {k: v for k, v in parse_status(data).items() if k in CAP_KEYS}


def bits(*names):
    mask = 0
    for n in names:
        mask |= 1 << CAPABILITIES[n]
    return mask


LAST_CAP = capabilities.prepare()
ALL = (1 << (LAST_CAP + 1)) - 1
NAMES = sorted(CAPABILITIES, key=CAPABILITIES.get)


# --- translation -------------------------------------------------------------

def test_prepare_reads_kernel_last_cap():
    with open("/proc/sys/kernel/cap_last_cap") as f:
        assert capabilities.prepare() == int(f.read())


def test_masks_of_runc_default():
    m = capabilities.masks({s: RUNC_DEFAULT for s in ("bounding", "effective", "permitted")}, LAST_CAP)
    want = bits(*RUNC_DEFAULT)
    assert want == (1 << 29) | (1 << 5) | (1 << 10)
    assert m == {"bounding": want, "effective": want, "permitted": want, "inheritable": 0, "ambient": 0}


@pytest.mark.parametrize("caps", [None, {}, {"bounding": None, "ambient": []}])
def test_masks_absent_means_empty(caps):
    assert capabilities.masks(caps, LAST_CAP) == dict.fromkeys(capabilities.SETS, 0)


def test_unknown_name_raises_naming_the_entry():
    with pytest.raises(InvalidSpec) as ei:
        capabilities.masks({"effective": ["CAP_CHOWN", "CAP_FOO"]}, LAST_CAP)
    assert ei.value.path == "process.capabilities.effective[1]"
    assert "unknown capability 'CAP_FOO'" in str(ei.value)
    assert "\n" not in str(ei.value)


def test_unknown_name_with_warn_is_skipped():
    """config.md#linux-process: unmappable capabilities MUST be logged as a warning."""
    warnings = []
    m = capabilities.masks({"bounding": ["CAP_FOO", "CAP_KILL"]}, LAST_CAP, warn=warnings.append)
    assert m["bounding"] == bits("CAP_KILL")
    assert len(warnings) == 1
    assert "process.capabilities.bounding[0]" in warnings[0] and "CAP_FOO" in warnings[0]


def test_caps_above_last_cap_are_skipped():
    warnings = []
    m = capabilities.masks({"permitted": ["CAP_CHECKPOINT_RESTORE", "CAP_BPF", "CAP_CHOWN"]}, 38,
                           warn=warnings.append)
    assert m["permitted"] == bits("CAP_CHOWN")
    assert [w.split(":")[0] for w in warnings] == ["process.capabilities.permitted[0]",
                                                   "process.capabilities.permitted[1]"]
    # Silently without a warn callback, still no error.
    assert capabilities.masks({"permitted": ["CAP_BPF"]}, 38)["permitted"] == 0


@given(st.dictionaries(st.sampled_from(capabilities.SETS), st.lists(st.sampled_from(NAMES))))
def test_masks_names_round_trip(caps):
    m = capabilities.masks(caps, max(CAPABILITIES.values()))
    for cap_set in capabilities.SETS:
        want = sorted(set(caps.get(cap_set, [])), key=CAPABILITIES.get)
        assert capabilities.names(m[cap_set]) == want
        assert m[cap_set] == sum(1 << CAPABILITIES[n] for n in want)


@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_names_masks_round_trip(mask):
    table = sum(1 << n for n in CAPABILITIES.values())
    got = capabilities.masks({"bounding": capabilities.names(mask)})["bounding"]
    assert got == mask & table


# --- applying, in a forked child --------------------------------------------

def test_apply_runc_default_as_root():
    caps = {s: RUNC_DEFAULT for s in ("bounding", "effective", "permitted")}
    m = capabilities.masks(caps, LAST_CAP)
    want = bits(*RUNC_DEFAULT)

    def child():
        capabilities.apply(m, LAST_CAP)
        return status()

    got = in_child(child)
    assert {k: got[k] for k in CAP_KEYS} == {"CapInh": 0, "CapPrm": want, "CapEff": want,
                                              "CapBnd": want, "CapAmb": 0}


def test_apply_absent_capabilities_drops_everything():
    """Matches runc 1.1.5 with process.capabilities absent: all five sets empty."""
    m = capabilities.masks(None, LAST_CAP)

    def child():
        before = status()
        capabilities.apply(m, LAST_CAP)
        return before, status()

    before, after = in_child(child)
    assert before["CapBnd"] != 0  # the test would prove nothing otherwise
    assert {k: after[k] for k in CAP_KEYS} == dict.fromkeys(CAP_KEYS, 0)


def test_apply_keeps_caps_across_setuid_and_raises_ambient():
    caps = {"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID"], "effective": ["CAP_CHOWN"],
            "permitted": ["CAP_CHOWN", "CAP_KILL"], "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]}
    m = capabilities.masks(caps, LAST_CAP)
    user = {"uid": 1000, "gid": 1000}

    def child():
        capabilities.apply(m, LAST_CAP, set_user=lambda: procattrs.set_user(user))
        # keep-caps is cleared again afterwards (PR_GET_KEEPCAPS = 7)
        return status(), os.getresuid(), syscalls.prctl(7)

    st_, ids, keepcaps = in_child(child)
    assert ids == (1000, 1000, 1000)
    assert keepcaps == 0
    assert {k: st_[k] for k in CAP_KEYS} == {
        "CapInh": bits("CAP_KILL"), "CapPrm": bits("CAP_CHOWN", "CAP_KILL"), "CapEff": bits("CAP_CHOWN"),
        "CapBnd": bits("CAP_CHOWN", "CAP_KILL", "CAP_SETUID"), "CapAmb": bits("CAP_KILL")}


def test_without_keepcaps_setuid_would_lose_permitted():
    """Guards the test above: the same uid change without keep-caps empties permitted."""
    def child():
        procattrs.set_user({"uid": 1000, "gid": 1000})
        return status()["CapPrm"]

    assert in_child(child) == 0


def test_ambient_not_in_inheritable_warns_or_raises():
    caps = {"bounding": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
            "ambient": ["CAP_KILL"]}
    m = capabilities.masks(caps, LAST_CAP)

    def warned():
        warnings = []
        capabilities.apply(m, LAST_CAP, warn=warnings.append)
        return warnings, status()["CapAmb"]

    warnings, amb = in_child(warned)
    assert amb == 0
    assert len(warnings) == 1 and "process.capabilities.ambient" in warnings[0] and "CAP_KILL" in warnings[0]

    got = in_child(lambda: capabilities.apply(m, LAST_CAP))
    assert got[:2] == ("raised", "SyscallError")
    assert "process.capabilities.ambient" in got[2] and "CAP_KILL" in got[2]


def test_effective_outside_permitted_names_the_field():
    m = capabilities.masks({"bounding": ["CAP_KILL"], "effective": ["CAP_KILL", "CAP_CHOWN"],
                            "permitted": ["CAP_KILL"]}, LAST_CAP)
    got = in_child(lambda: capabilities.apply(m, LAST_CAP))
    assert got[:2] == ("raised", "SyscallError")
    # runc says "unable to apply caps: operation not permitted" for the same config
    assert got[2].startswith("unable to apply caps: operation not permitted")
    assert "process.capabilities.effective: CAP_CHOWN" in got[2]


def test_permitted_the_runtime_lacks_names_the_field():
    m = capabilities.masks({"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
                           LAST_CAP)

    def child():
        eff, prm, inh = syscalls.capget()
        kill = bits("CAP_KILL")
        syscalls.capset(eff & ~kill, prm & ~kill, inh & ~kill)
        capabilities.apply(m, LAST_CAP)

    got = in_child(child)
    assert got[:2] == ("raised", "SyscallError")
    assert "process.capabilities.permitted: CAP_KILL not held by the runtime" in got[2]


def test_inheritable_outside_bounding_names_the_field():
    m = capabilities.masks({"bounding": ["CAP_CHOWN"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
                            "inheritable": ["CAP_KILL"]}, LAST_CAP)
    got = in_child(lambda: capabilities.apply(m, LAST_CAP))
    assert got[:2] == ("raised", "SyscallError")
    assert "process.capabilities.inheritable: CAP_KILL not in process.capabilities.bounding" in got[2]


def test_apply_imports_nothing():
    """apply() runs after the root switch with sys.meta_path emptied."""
    m = capabilities.masks({"bounding": ["CAP_KILL", "CAP_SETUID", "CAP_SETGID"], "effective": ["CAP_KILL"],
                            "permitted": ["CAP_KILL"], "inheritable": ["CAP_KILL"],
                            "ambient": ["CAP_KILL", "CAP_CHOWN"]}, LAST_CAP)
    bad = capabilities.masks({"effective": ["CAP_CHOWN"]}, LAST_CAP)
    assert "colorsys" not in sys.modules

    def child():
        try:
            import colorsys  # noqa: F401  (proves the guard is live)
            guard = "import worked"
        except ImportError:
            guard = "import blocked"
        warnings = []
        capabilities.apply(m, LAST_CAP, set_user=lambda: procattrs.set_user({"uid": 1000, "gid": 1000}),
                           warn=warnings.append)
        return guard, warnings, status()

    guard, warnings, st_ = in_child(child, empty_meta_path=True)
    assert guard == "import blocked"
    assert len(warnings) == 1 and "CAP_CHOWN" in warnings[0]
    assert st_["CapAmb"] == bits("CAP_KILL") and st_["CapBnd"] == bits("CAP_KILL", "CAP_SETUID", "CAP_SETGID")
    # the error path (diagnosis included) imports nothing either
    failed = in_child(lambda: capabilities.apply(bad, LAST_CAP), empty_meta_path=True)
    assert failed[:2] == ("raised", "SyscallError")
    assert "process.capabilities.effective: CAP_CHOWN" in failed[2]


def test_module_functions_contain_no_import():
    tree = ast.parse(Path(capabilities.__file__).read_text())
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for node in ast.walk(fn):
                assert not isinstance(node, (ast.Import, ast.ImportFrom)), f"import inside {fn.name}"


# --- against runc --------------------------------------------------------------

RUNC_CASES = {
    "absent": (None, {"uid": 0, "gid": 0}),
    "runc-default": ({s: RUNC_DEFAULT for s in ("bounding", "effective", "permitted")}, {"uid": 0, "gid": 0}),
    "uid1000-ambient": ({"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID"], "effective": ["CAP_CHOWN"],
                         "permitted": ["CAP_CHOWN", "CAP_KILL"], "inheritable": ["CAP_KILL"],
                         "ambient": ["CAP_KILL"]}, {"uid": 1000, "gid": 1000}),
    "root-ambient-refused": ({"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN", "CAP_KILL"],
                              "permitted": ["CAP_CHOWN", "CAP_KILL"], "ambient": ["CAP_KILL"]},
                             {"uid": 0, "gid": 0}),
    "uid1000-full-inheritable": ({s: ["CAP_NET_RAW", "CAP_SYS_ADMIN", "CAP_MKNOD"] for s in capabilities.SETS},
                                 {"uid": 1000, "gid": 1000}),
}


@pytest.fixture(scope="module")
def runc_bundle(tmp_path_factory):
    if RUNC is None:
        pytest.skip("runc is not installed (comparison only)")
    bundle = tmp_path_factory.mktemp("capbundle")
    subprocess.run(["bash", str(REPO / "bundles" / "mkrootfs.sh"), str(bundle / "rootfs")], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([RUNC, "spec"], cwd=bundle, check=True)
    return bundle


@pytest.mark.parametrize("case", sorted(RUNC_CASES))
def test_matches_runc_after_exec(runc_bundle, case):
    caps, user = RUNC_CASES[case]
    config_path = runc_bundle / "config.json"
    config = json.loads(config_path.read_text())
    proc = config["process"]
    proc.update(terminal=False, args=["/bin/cat", "/proc/self/status"], noNewPrivileges=False, user=user)
    proc.pop("capabilities", None)
    if caps is not None:
        proc["capabilities"] = caps
    config_path.write_text(json.dumps(config))
    cid = f"ocirun-captest-{os.getpid()}-{case}"
    res = subprocess.run([RUNC, "run", "--bundle", str(runc_bundle), cid], capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    want = {k: v for k, v in parse_status(res.stdout).items() if k in CAP_KEYS}

    got = exec_status(capabilities.masks(caps, LAST_CAP), LAST_CAP, user=user, warn=lambda msg: None)
    assert got == want
