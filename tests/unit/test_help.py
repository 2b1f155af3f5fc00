"""`ocirun --help` and `ocirun COMMAND --help` teach as runc's do (issue 16):
every command with a one-line summary, every global option, and every flag
that cli.py's tables accept, aliases included, with a description. The help
text lives in ocirun/help.py, which no other command imports
(tests/unit/test_imports.py's allow-lists)."""
import os
import re
import subprocess
import sys
import sysconfig

import pytest

from ocirun import cli, help

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ocirun(*args):
    """The checkout's CLI as the launcher runs it (isolated interpreter)."""
    paths = [REPO] + list(dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib")))
    code = f"import sys; sys.path[:0] = {paths!r}; from ocirun.cli import run; run()"
    return subprocess.run([sys.executable, "-I", "-S", "-c", code, *args], capture_output=True, text=True,
                          timeout=60)


def option_lines(text):
    """{flag spelling: description} from an OPTIONS / GLOBAL OPTIONS block."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^   (-\S.*?)(?:  +(\S.*))?$", line)
        if m:
            for spelling in m.group(1).split(", "):
                out[spelling.split(" ")[0]] = m.group(2) or ""
    return out


def spellings(name, aliases):
    return [("-" if len(n) == 1 else "--") + n for n in (name, *aliases)]


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"], []])
def test_main_help_lists_every_command_and_global_option(args):
    p = ocirun(*args)
    assert (p.returncode, p.stderr) == (0, ""), p.stderr
    commands = p.stdout.split("COMMANDS:\n", 1)[1].split("\n\n", 1)[0]
    summaries = dict(re.match(r"^   (.+?)  +(\S.*)$", line).groups() for line in commands.splitlines())
    for cmd in cli.COMMANDS:
        assert summaries.get(cmd), f"{cmd}: no one-line description in ocirun --help"
    assert "help, h" in summaries
    opts = option_lines(p.stdout.split("GLOBAL OPTIONS:\n", 1)[1])
    for name, (aliases, *_rest) in cli.GLOBAL_FLAGS.items():
        for s in spellings(name, aliases):
            assert opts.get(s), f"global option {s}: not described in ocirun --help"
    for must in ("--root", "--log", "--log-format", "--debug", "--systemd-cgroup", "--rootless"):
        assert must in opts
    assert "USAGE:\n   ocirun [global options] command [command options] [arguments...]" in p.stdout
    assert "commit: " in p.stdout and "spec: 1.3.0" in p.stdout


@pytest.mark.parametrize("cmd", list(cli.COMMANDS))
def test_command_help_describes_every_flag(cmd):
    """Each flag the parser accepts for CMD (and each alias) is in `ocirun CMD --help`, with words."""
    for flag in ("--help", "-h"):
        p = ocirun(cmd, flag)
        assert (p.returncode, p.stderr) == (0, ""), p.stderr
        assert p.stdout.startswith(f"NAME:\n   ocirun {cmd} - {help.HELP[cmd][0]}\n")
        assert f"USAGE:\n   ocirun {cli.COMMANDS[cmd][3]}\n" in p.stdout
    flags = cli.COMMANDS[cmd][0]
    opts = option_lines(p.stdout.split("OPTIONS:\n", 1)[1]) if flags else {}
    expected = {s for name, (aliases, *_rest) in flags.items() for s in spellings(name, aliases)}
    assert set(opts) == expected
    for s, text in opts.items():
        assert len(text) > 10, f"ocirun {cmd} {s}: no description"
    assert "OPTIONS:" in p.stdout or not flags


def test_help_for_one_command_through_help():
    p = ocirun("help", "kill")
    assert p.returncode == 0 and p.stdout == cli.usage("kill")
    assert "--all, -a" in p.stdout


def test_help_table_has_no_stale_entries():
    """Every HELP entry and flag text is for a command and flag the parser has."""
    assert set(help.HELP) <= set(cli.COMMANDS)
    for cmd, (_summary, _desc, texts) in help.HELP.items():
        assert set(texts) <= set(cli.COMMANDS[cmd][0]), cmd
    assert set(help.GLOBAL) == set(cli.GLOBAL_FLAGS)
