"""ocirun.hooks with real processes (no root needed)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from ocirun.errors import HookError
from ocirun.hooks import STDERR_TAIL, run_hook, run_hooks

SH = shutil.which("sh")
CP = shutil.which("cp")
SLEEP = shutil.which("sleep")
TRUE = shutil.which("true")
FALSE = shutil.which("false")
TOUCH = shutil.which("touch")

STATE = {"ociVersion": "1.3.0", "id": "c1", "status": "creating", "pid": 4242,
         "bundle": "/tmp/bundle", "annotations": {"a": "b"}}


def sh(script, *args, **hook):
    return {"path": SH, "args": ["sh", "-c", script, "sh", *map(str, args)], **hook}


def test_state_json_on_stdin(tmp_path):
    """config.md#posix-platform-hooks: the state MUST be passed to hooks over stdin."""
    out = tmp_path / "state.json"
    run_hook(sh('cat > "$1"', out), STATE)
    assert json.loads(out.read_text()) == STATE


def test_large_state_is_fed_completely(tmp_path):
    state = dict(STATE, annotations={"big": "x" * (1 << 20)})
    out = tmp_path / "state.json"
    run_hook(sh('cat > "$1"', out), state)
    assert json.loads(out.read_text()) == state


def test_hook_that_ignores_stdin_does_not_hang():
    state = dict(STATE, annotations={"big": "x" * (1 << 20)})
    start = time.monotonic()
    run_hook({"path": TRUE}, state, timeout_default=10)
    assert time.monotonic() - start < 5


def test_argv_is_args_including_argv0(tmp_path):
    """config.md#posix-platform-hooks: args has execv's argv semantics (args[0] is argv[0])."""
    out = tmp_path / "cmdline"
    run_hook({"path": CP, "args": ["weird-zero", "/proc/self/cmdline", str(out)]}, STATE)
    assert out.read_bytes() == b"weird-zero\0/proc/self/cmdline\0" + bytes(out) + b"\0"


def test_without_args_argv_is_path():
    # cp names itself after argv[0] in its usage error.
    with pytest.raises(HookError) as err:
        run_hook({"path": CP}, STATE)
    assert str(err.value) == (
        f"hook {CP} failed: exit status 1: Try '{CP} --help' for more information.")


def test_env_is_the_whole_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OCIRUN_LEAK", "1")
    out = tmp_path / "environ"
    hook = {"path": CP, "args": ["cp", "/proc/self/environ", str(out)], "env": ["A=1", "B=x=y"]}
    run_hook(hook, STATE)
    assert out.read_bytes() == b"A=1\0B=x=y\0"


def test_empty_env_list_means_empty_environment(tmp_path):
    out = tmp_path / "environ"
    run_hook({"path": CP, "args": ["cp", "/proc/self/environ", str(out)], "env": []}, STATE)
    assert out.read_bytes() == b""


def test_env_duplicates_keep_last_value_and_junk_is_dropped(tmp_path):
    out = tmp_path / "environ"
    hook = {"path": CP, "args": ["cp", "/proc/self/environ", str(out)],
            "env": ["A=1", "NOEQUALS", "=x", "A=2"]}
    run_hook(hook, STATE)
    assert out.read_bytes() == b"A=2\0"


def test_no_env_inherits_ours_like_runc(tmp_path, monkeypatch):
    monkeypatch.setenv("OCIRUN_HOOK_TEST", "yes")
    out = tmp_path / "environ"
    run_hook({"path": CP, "args": ["cp", "/proc/self/environ", str(out)]}, STATE)
    assert b"OCIRUN_HOOK_TEST=yes\0" in out.read_bytes()


def test_cwd(tmp_path, monkeypatch):
    (tmp_path / "bundle").mkdir()
    out = tmp_path / "pwd"
    run_hook(sh('pwd -P > "$1"', out), STATE, cwd=str(tmp_path / "bundle"))
    assert out.read_text().strip() == str((tmp_path / "bundle").resolve())
    monkeypatch.chdir(tmp_path)
    run_hook(sh('pwd -P > "$1"', out), STATE)
    assert out.read_text().strip() == str(tmp_path.resolve())


def test_bad_cwd():
    with pytest.raises(HookError, match="failed: chdir /nonexistent-dir: no such file or dir"):
        run_hook({"path": TRUE}, STATE, cwd="/nonexistent-dir")


def test_only_std_fds_are_inherited(tmp_path):
    out = tmp_path / "fds"
    leak = os.open(os.devnull, os.O_RDONLY)
    os.dup2(leak, 100, inheritable=True)
    try:
        code = ("import os, sys; fds = os.listdir('/proc/self/fd'); "
                "open(sys.argv[1], 'w').write(' '.join(fds))")
        run_hook({"path": sys.executable, "args": ["python", "-I", "-S", "-c", code, str(out)]},
                 STATE)
    finally:
        os.close(100)
        os.close(leak)
    fds = {int(fd) for fd in out.read_text().split()}
    assert {0, 1, 2} <= fds and 100 not in fds and leak not in fds
    assert len(fds) <= 4  # 0-2 plus the directory listdir itself opened


def test_signal_dispositions_and_mask_are_reset(tmp_path):
    out = tmp_path / "status"
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    try:
        run_hook({"path": CP, "args": ["cp", "/proc/self/status", str(out)]}, STATE)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    fields = dict(line.split(":\t", 1) for line in out.read_text().splitlines() if ":\t" in line)
    ignored = int(fields["SigIgn"], 16)
    assert int(fields["SigBlk"], 16) == 0
    # Python ignores these two; a hook must not inherit that.
    assert not ignored & (1 << (signal.SIGPIPE - 1))
    assert not ignored & (1 << (signal.SIGXFSZ - 1))


def test_nonzero_exit_names_path_status_and_last_stderr_line(capfd):
    with pytest.raises(HookError) as err:
        run_hook(sh('echo first >&2; echo "boom here" >&2; exit 3'), STATE)
    assert str(err.value) == f"hook {SH} failed: exit status 3: boom here"
    assert "\n" not in str(err.value)
    assert err.value.hook_path == SH
    assert "first\nboom here\n" in capfd.readouterr().err


def test_killed_by_signal():
    with pytest.raises(HookError, match=r"failed: killed by signal SIGTERM$"):
        run_hook(sh("kill -TERM $$"), STATE)


def test_stdout_goes_to_our_stderr_and_stderr_is_quiet_on_success(capfd):
    run_hook(sh("echo to-stdout; echo to-stderr >&2"), STATE)
    out, err = capfd.readouterr()
    assert "to-stdout" not in out and "to-stdout" in err
    assert "to-stderr" not in err


def test_stderr_kept_is_bounded(capfd):
    script = 'head -c 100000 /dev/zero | tr "\\0" x >&2; echo >&2; echo last words >&2; exit 1'
    with pytest.raises(HookError, match="exit status 1: last words$"):
        run_hook(sh(script), STATE)
    echoed = capfd.readouterr().err
    assert echoed.endswith("last words\n")
    assert len(echoed) <= STDERR_TAIL + 1


def test_missing_binary(tmp_path):
    path = str(tmp_path / "nope")
    with pytest.raises(HookError) as err:
        run_hook({"path": path}, STATE)
    assert str(err.value) == f"hook {path} failed: exec: no such file or directory"


def test_not_executable(tmp_path):
    path = tmp_path / "script"
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o644)
    with pytest.raises(HookError, match="failed: exec: permission denied$"):
        run_hook({"path": str(path)}, STATE)


def test_timeout_kills_the_hook(tmp_path):
    """config.md#posix-platform-hooks: timeout is the number of seconds before aborting the hook."""
    pidfile = tmp_path / "pid"
    start = time.monotonic()
    with pytest.raises(HookError) as err:
        run_hook(sh('echo $$ > "$1"; echo still going >&2; exec sleep 10', pidfile, timeout=1),
                 STATE)
    elapsed = time.monotonic() - start
    assert 0.9 <= elapsed < 2.5
    assert str(err.value) == f"hook {SH} timed out after 1 s: still going"
    assert not os.path.exists(f"/proc/{pidfile.read_text().strip()}")  # killed and reaped


def test_timeout_default_applies_only_without_timeout():
    start = time.monotonic()
    with pytest.raises(HookError, match="timed out after 0.5 s$"):
        run_hook({"path": SLEEP, "args": ["sleep", "10"]}, STATE, timeout_default=0.5)
    assert time.monotonic() - start < 2
    run_hook({"path": SLEEP, "args": ["sleep", "0.3"], "timeout": 5}, STATE, timeout_default=0.1)


@pytest.mark.parametrize("timeout", [0, -1])
def test_timeout_must_be_positive(timeout):
    """config.md#posix-platform-hooks: if set, timeout MUST be greater than zero."""
    with pytest.raises(HookError, match="greater than zero"):
        run_hook({"path": TRUE, "timeout": timeout}, STATE)


def test_without_pidfd_waitpid_polling_still_works(monkeypatch, tmp_path):
    def no_pidfd(pid, flags=0):
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    out = tmp_path / "state.json"
    run_hook(sh('cat > "$1"', out), STATE)
    assert json.loads(out.read_text()) == STATE
    with pytest.raises(HookError, match="exit status 2$"):
        run_hook(sh("exit 2"), STATE)
    start = time.monotonic()
    with pytest.raises(HookError, match="timed out after 1 s$"):
        run_hook({"path": SLEEP, "args": ["sleep", "10"], "timeout": 1}, STATE)
    assert time.monotonic() - start < 2.5


def test_works_when_our_std_fds_are_closed(tmp_path):
    """Pipes must not land on 0-2, which the child overwrites."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = tmp_path / "state.json"
    code = (
        "import os, sys\n"
        "sys.path.insert(0, %r)\n"
        "import ocirun.hooks as h\n"
        "os.close(0); os.close(1)\n"
        "h.run_hook({'path': %r, 'args': ['sh', '-c', 'cat > \"$1\"', 'sh', %r]}, {'id': 'x'})\n"
    ) % (root, SH, str(out))
    subprocess.run([sys.executable, "-I", "-S", "-c", code], check=True, timeout=10)
    assert json.loads(out.read_text()) == {"id": "x"}


def test_a_grandchild_holding_stderr_does_not_delay_us():
    start = time.monotonic()
    with pytest.raises(HookError, match="exit status 4$"):
        run_hook(sh("sleep 3 & exit 4"), STATE)
    assert time.monotonic() - start < 2


def test_run_hooks_in_order_first_failure_stops(tmp_path):
    """config.md#posix-platform-hooks: hooks MUST be called in the listed order;
    runtime.md#lifecycle: a failing createRuntime hook is an error."""
    log = tmp_path / "log"
    hooks = [sh('echo one >> "$1"', log), sh('echo two >> "$1"', log), {"path": FALSE},
             sh('echo four >> "$1"', log)]
    with pytest.raises(HookError) as err:
        run_hooks(hooks, STATE, "createRuntime")
    assert str(err.value) == f"createRuntime hook #2 ({FALSE}) failed: exit status 1"
    assert (err.value.phase, err.value.index, err.value.hook_path) == ("createRuntime", 2, FALSE)
    assert log.read_text() == "one\ntwo\n"


def test_run_hooks_timeout_message():
    with pytest.raises(HookError) as err:
        run_hooks([{"path": SLEEP, "args": ["sleep", "5"], "timeout": 1}], STATE, "prestart")
    assert str(err.value) == f"prestart hook #0 ({SLEEP}) timed out after 1 s"


def test_run_hooks_missing_binary_message(tmp_path):
    path = str(tmp_path / "nope")
    with pytest.raises(HookError) as err:
        run_hooks([{"path": path}], STATE, "startContainer")
    assert str(err.value) == (
        f"startContainer hook #0 ({path}) failed: exec: no such file or directory")


def test_poststop_failure_is_a_warning_and_the_rest_run(tmp_path, capfd):
    """runtime.md#lifecycle: if a poststop hook fails the runtime MUST log a
    warning, and the remaining hooks and lifecycle continue."""
    marker = tmp_path / "ran"
    run_hooks([{"path": FALSE}, {"path": TOUCH, "args": ["touch", str(marker)]}], STATE,
              "poststop")
    assert marker.exists()
    assert f"ocirun: warning: poststop hook #0 ({FALSE}) failed: exit status 1\n" in \
        capfd.readouterr().err


def test_poststop_warning_can_go_to_a_logger():
    seen = []
    run_hooks([{"path": FALSE}, {"path": FALSE}], STATE, "poststop", warn=seen.append)
    assert seen == [f"poststop hook #{i} ({FALSE}) failed: exit status 1" for i in (0, 1)]


def test_run_hooks_passes_the_same_state_to_each(tmp_path):
    outs = [tmp_path / "a", tmp_path / "b"]
    run_hooks([sh('cat > "$1"', o) for o in outs], STATE, "poststart")
    assert [json.loads(o.read_text()) for o in outs] == [STATE, STATE]


@pytest.mark.parametrize("hooks", [None, []])
def test_no_hooks(hooks):
    run_hooks(hooks, STATE, "prestart")


def test_nothing_is_imported_while_running_a_hook():
    """Hooks may run inside the container's mount namespace: every import is
    done at module import time, and subprocess is never used."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = (
        "import sys\n"
        "sys.path.insert(0, %r)\n"
        "import ocirun.hooks as h\n"
        "before = set(sys.modules)\n"
        "h.run_hook({'path': %r}, {'id': 'x'}, timeout_default=5)\n"
        "try:\n"
        "    h.run_hook({'path': %r}, {'id': 'x'})\n"
        "except h.HookError:\n"
        "    pass\n"
        "print(sorted(set(sys.modules) - before), 'subprocess' in sys.modules)\n"
    ) % (root, TRUE, FALSE)
    res = subprocess.run([sys.executable, "-I", "-S", "-c", code], check=True,
                         capture_output=True, text=True)
    assert res.stdout.strip() == "[] False"
