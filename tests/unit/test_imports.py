"""Start-up stays lean (issue: speed): the hot commands import only what they
need. Each check runs a fresh isolated interpreter like the launcher does."""
import os
import subprocess
import sys
import sysconfig

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# What `import ocirun.cli` + parsing a command line may load beyond a bare
# `python -I -S -c pass` (which has codecs, io, abc, but not os: -S skips
# site, which is what would have loaded it). Not os either: it costs ~0.9 ms
# (its _collections_abc); the hot path uses ocirun.fastos (posix) instead.
CLI_ALLOWED = {"ocirun", "ocirun.cli", "ocirun.errors", "ocirun.log", "ocirun.fastos"}
OS = {"os", "os.path", "posixpath", "genericpath", "stat", "_stat", "_collections_abc"}
# What `state` may load on top of the CLI (no json, re, enum, jsonschema).
STATE_ALLOWED = CLI_ALLOWED | {
    "ocirun.commands", "ocirun.commands.state", "ocirun.state", "ocirun.fastjson", "_json",
    "ocirun.cgroups",  # the freezer check of a container with a cgroup (the package alone)
}


# The launcher's sys.path: the checkout (here) and site-packages (no site processing).
PATHS = [REPO] + list(dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib")))
# Runs code, then prints "--" and the modules it loaded beyond the baseline.
PROBE = ("import sys; before = set(sys.modules); sys.path[:0] = %r\n%s\n"
         "print('\\n--\\n' + '\\n'.join(sorted(set(sys.modules) - before)))")


def loaded_modules(code, *args):
    """Modules a fresh `python -I -S` has after running `code` (minus the baseline)."""
    out = subprocess.run([sys.executable, "-I", "-S", "-c", PROBE % (PATHS, code), *args],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split("\n--\n")[-1].split())


def test_cli_parse_imports_only_its_allow_list():
    mods = loaded_modules("from ocirun import cli\ncli.parse_flags(['--root', '/x', 'state', 'a'], "
                          "cli.GLOBAL_FLAGS, '')")
    assert mods <= CLI_ALLOWED, sorted(mods - CLI_ALLOWED)


def test_state_never_imports_json_re_or_jsonschema(tmp_path):
    code = ("from ocirun import cli\n"
            "try:\n    cli.main(['--root', %r, 'state', 'nope'])\nexcept SystemExit:\n    pass\n") % str(tmp_path)
    mods = loaded_modules(code)
    assert not {"jsonschema", "json", "re", "enum"} & mods, sorted(mods)
    assert mods <= STATE_ALLOWED, sorted(mods - STATE_ALLOWED)


def test_state_and_list_never_import_os(tmp_path):
    """state of a record whose process is alive (this one) with a cgroup, so the
    start-time and freezer checks run too; and list."""
    with open(f"/proc/{os.getpid()}/stat", "rb") as f:
        start = int(f.read().rsplit(b")", 1)[1].split()[19])
    root = tmp_path / "root"
    (root / "c1").mkdir(parents=True)
    (root / "c1" / "state.json").write_text(
        '{"pid": %d, "pidStartTime": %d, "status": "running", "bundle": "/b", "rootfs": "/r", '
        '"created": "2026-01-01T00:00:00Z", "cgroup": {"paths": {"freezer": "%s"}}}'
        % (os.getpid(), start, tmp_path))
    (tmp_path / "freezer.state").write_text("FROZEN\n")
    code = ("from ocirun import cli\n"
            "assert cli.main(['--root', %r, 'state', 'c1']) == 0\n"
            "assert cli.main(['--root', %r, 'list']) == 0\n") % (str(root), str(root))
    out = subprocess.run([sys.executable, "-I", "-S", "-c", PROBE % (PATHS, code)],
                         capture_output=True, text=True, check=True).stdout
    assert '"status": "paused"' in out, out
    mods = set(out.split("\n--\n")[-1].split())
    assert not OS & mods, sorted(OS & mods)
    assert "ocirun.fastos" in mods
    assert mods <= STATE_ALLOWED | {"ocirun.commands.list", "pwd"}, sorted(mods - STATE_ALLOWED)


@pytest.mark.parametrize("cmd", [["kill", "nope", "9"], ["delete", "--force", "nope"], ["list"]])
def test_other_hot_commands_never_import_jsonschema(tmp_path, cmd):
    code = ("from ocirun import cli\n"
            "cli.main(['--root', %r] + %r)\n") % (str(tmp_path), cmd)
    mods = loaded_modules(code)
    assert "jsonschema" not in mods and "json" not in mods, sorted(mods)


def test_valid_create_path_never_imports_jsonschema(tmp_path):
    """A valid config is checked by spec/fastschema.py; jsonschema only explains failures."""
    code = ("from ocirun.container import create\n"
            "create.load(%r)\n") % os.path.join(REPO, "bundles", "busybox")
    rootfs = os.path.join(REPO, "bundles", "busybox", "rootfs")
    if not os.path.isdir(rootfs):
        subprocess.run(["bash", os.path.join(REPO, "bundles", "mkrootfs.sh"), rootfs], check=True)
    mods = loaded_modules(code)
    assert not {"jsonschema", "json", "re", "enum", "socket", "shutil", "pathlib"} & mods, sorted(mods)


# What `exec` of a process into a running container may load (issue 13): no
# json (re, enum, functools, collections), no socket/selectors (only with -t),
# no copy, no jsonschema.
# (issue 12: the exec child no longer loads the init's modules: initproc,
# rootfs, mountopts, paths, hooks, signals, select are out; the spawn path's
# container/, container.exec, container.spawn and childproc are in.)
# Nor os (issue 13 E1): every module on the path uses ocirun.fastos.
EXEC_ALLOWED = STATE_ALLOWED | {"fcntl",
    "ocirun.commands.exec", "ocirun.capabilities", "ocirun.captable", "ocirun.cgroups",
    "ocirun.cgroups.base", "ocirun.cgroups.mounts", "ocirun.cgroups.v1", "ocirun.cgroups.v2",
    "ocirun.execproc", "ocirun.childproc", "ocirun.container", "ocirun.container.exec",
    "ocirun.container.spawn", "ocirun.lsm", "ocirun.namespaces",
    "ocirun.procattrs", "ocirun.sync", "ocirun.syscalls", "ocirun.sysops",
    "ocirun._shim", "ocirun._shim.lib",
    "_cffi_backend", "errno", "resource",
    "ocirun.cpulist", "ocirun.fileio",  # one CPU-list parser, the whole-file writes (issue 12)
    "ocirun.cgroups.files", "ocirun.cgroups.freezer",  # the manager's file primitives and freezer
}


def sleep_bundle(tmp_path):
    """A bundle of the example busybox running `sleep 1000`, without a terminal."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    rootfs = os.path.join(REPO, "bundles", "busybox", "rootfs")
    if not os.path.isdir(rootfs):
        subprocess.run(["bash", os.path.join(REPO, "bundles", "mkrootfs.sh"), rootfs], check=True)
    import json

    with open(os.path.join(REPO, "bundles", "busybox", "config.json")) as f:
        config = json.load(f)
    config["root"] = {"path": rootfs, "readonly": True}
    config["process"]["args"] = ["sleep", "1000"]
    config["process"]["terminal"] = False
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def test_exec_imports_only_its_allow_list(tmp_path):
    """A real exec of /bin/true into a real running container, in a fresh -I -S interpreter."""
    bundle = sleep_bundle(tmp_path)
    root, cid = str(tmp_path / "root"), f"imports-{os.getpid()}"
    paths = PATHS
    cli = ("import sys; sys.path[:0] = %r\nfrom ocirun import cli\n"
           "sys.exit(cli.main(sys.argv[1:]))") % paths
    subprocess.run([sys.executable, "-I", "-S", "-c", cli, "--root", root, "run", "-d", "--bundle",
                    str(bundle), cid], check=True, timeout=60, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL)
    try:
        code = ("from ocirun import cli\n"
                "assert cli.main(['--root', %r, 'exec', %r, '/bin/true']) == 0\n") % (root, cid)
        mods = loaded_modules(code)
    finally:
        subprocess.run([sys.executable, "-I", "-S", "-c", cli, "--root", root, "delete", "--force", cid],
                       check=True, timeout=60)
    assert not {"json", "re", "enum", "socket", "selectors", "copy", "jsonschema"} & mods, sorted(mods)
    assert not OS & mods, sorted(OS & mods)
    assert mods <= EXEC_ALLOWED, sorted(mods - EXEC_ALLOWED)


# Records, in the process that forks, the modules loaded at its first fork;
# at the end of the command any loaded since are printed (the parent); at
# the execve of a forked child (the init, the exec'd process) any loaded
# since are written to stderr, then a marker (so the check cannot pass
# without having run).
FORK_PROBE = r"""
import posix, sys
at_fork = []
_fork, _execve = posix.fork, posix.execve
def fork():
    if not at_fork:
        at_fork.append(set(sys.modules))
    return _fork()
def execve(path, args, env):
    if at_fork:
        new = sorted(set(sys.modules) - at_fork[0])
        posix.write(2, ("\nchild-after-fork: %%s\nchild-at-exec\n" %% " ".join(new)).encode())
    return _execve(path, args, env)
posix.fork, posix.execve = fork, execve
sys.path[:0] = %r
from ocirun import cli
rc = cli.main(sys.argv[1:])
print("\nparent-forked: %%s" %% bool(at_fork))
print("parent-after-fork: " + " ".join(sorted(set(sys.modules) - at_fork[0])) if at_fork else "")
print("parent-os: " + " ".join(sorted(%r & set(sys.modules))))
sys.stdout.flush()
posix._exit(rc)
"""


def _after_fork(out, key):
    """The names on the line `key: ...` of out (None if there is no such line)."""
    for line in out.splitlines():
        if line.startswith(key + ":"):
            return line[len(key) + 1:].split()
    return None


def test_nothing_imported_after_a_fork(tmp_path):
    """issue 13 (E3/C1): once a child is forked, its parent's first write to
    each shared page is a copy-on-write fault (an import after the fork costs
    ~1 ms more), and a child can import nothing (childproc.seal). So create
    and exec load everything before they fork: checked in the parent (create
    until it returns, exec until its process exits) and in the children up to
    their execve (the init at start, the exec'd process)."""
    bundle = sleep_bundle(tmp_path)
    root, cid = str(tmp_path / "root"), f"afterfork-{os.getpid()}"
    probe = FORK_PROBE % (PATHS, OS - {"stat", "_stat"})
    cli = ("import sys; sys.path[:0] = %r\nfrom ocirun import cli\n"
           "sys.exit(cli.main(sys.argv[1:]))") % PATHS

    def ocirun(*args, probed=True, stderr=None):
        # Output to files: the init keeps the fds it was given open.
        with open(tmp_path / "out", "w+") as out:
            subprocess.run([sys.executable, "-I", "-S", "-c", probe if probed else cli, "--root", root,
                            *args], check=True, timeout=60, stdin=subprocess.DEVNULL, stdout=out,
                           stderr=stderr)
            out.seek(0)
            return out.read()

    init_err = tmp_path / "init.err"
    try:
        with open(init_err, "w") as err:
            out = ocirun("create", "--bundle", str(bundle), cid, stderr=err)
        assert _after_fork(out, "parent-forked") == ["True"], out
        assert _after_fork(out, "parent-after-fork") == [], ("create", out)
        # issue 13 C2: create loads no os either (stat, a small module, stays).
        assert _after_fork(out, "parent-os") == [], ("create", out)
        ocirun("start", cid, probed=False)
        import time

        deadline = time.monotonic() + 10
        while "child-at-exec" not in init_err.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        text = init_err.read_text()
        assert "child-at-exec" in text, text
        assert _after_fork(text, "child-after-fork") == [], ("init", text)
        exec_err = tmp_path / "exec.err"
        with open(exec_err, "w") as err:
            out = ocirun("exec", cid, "/bin/true", stderr=err)
        assert _after_fork(out, "parent-after-fork") == [], ("exec", out)
        assert _after_fork(out, "parent-os") == [], ("exec", out)
        text = exec_err.read_text()
        assert "child-at-exec" in text, text
        assert _after_fork(text, "child-after-fork") == [], ("exec process", text)
    finally:
        subprocess.run([sys.executable, "-I", "-S", "-c", cli, "--root", root, "delete", "--force", cid],
                       timeout=60)


@pytest.mark.parametrize("cmd", ["pause", "resume"])
def test_pause_and_resume_load_no_cgroup_manager(tmp_path, cmd):
    """issue 13: pause and resume freeze from the saved cgroup dict
    (cgroups/freezer.py): no cgroups.base, v1, v2 or mounts (~0.35 ms), no os.
    A fake freezer directory stands in for the cgroup (the real one is in
    tests/integration); this process is the container's live init."""
    with open(f"/proc/{os.getpid()}/stat", "rb") as f:
        start = int(f.read().rsplit(b")", 1)[1].split()[19])
    root = tmp_path / "root"
    (root / "c1").mkdir(parents=True)
    frz = tmp_path / "freezer"
    frz.mkdir()
    (frz / "freezer.state").write_text("FROZEN\n" if cmd == "resume" else "THAWED\n")
    (root / "c1" / "state.json").write_text(
        '{"pid": %d, "pidStartTime": %d, "status": "running", "bundle": "/b", "rootfs": "/r", '
        '"created": "2026-01-01T00:00:00Z", "paused": %s, '
        '"cgroup": {"mode": "legacy", "paths": {"freezer": "%s"}}}'
        % (os.getpid(), start, "true" if cmd == "resume" else "false", frz))
    # A regular file keeps what was written last: THAWED or FROZEN, as the kernel's would.
    code = ("from ocirun import cli\n"
            "assert cli.main(['--root', %r, %r, 'c1']) == 0\n") % (str(root), cmd)
    mods = loaded_modules(code)
    assert (frz / "freezer.state").read_text() == ("THAWED" if cmd == "resume" else "FROZEN")
    assert not OS & mods, sorted(OS & mods)
    assert not {"ocirun.cgroups.base", "ocirun.cgroups.v1", "ocirun.cgroups.v2", "ocirun.cgroups.mounts"} & mods
    assert "ocirun.cgroups.freezer" in mods


def test_freezer_names_the_unified_hierarchy_as_mounts_does():
    from ocirun.cgroups import freezer, mounts

    assert freezer.UNIFIED == mounts.UNIFIED
