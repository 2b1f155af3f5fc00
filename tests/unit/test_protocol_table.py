"""docs/architecture.md's protocol table and sync.py's message kinds are the
same set (issue 12): a kind added to the code without the table, or a row
naming a kind the code does not have, fails here."""
import errno
import os
import re

import pytest

from ocirun import childproc, sync
from ocirun.errors import OciError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def table_rows():
    """(pipe, sender, kind, when) of every row of the table under "Processes and protocol"."""
    with open(os.path.join(REPO, "docs", "architecture.md")) as f:
        text = f.read()
    section = text[text.index("**Processes and protocol**"):]
    rows = []
    for line in section.splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] in ("pipe", "") or set(cells[0]) <= {"-"}:
            continue
        rows.append(tuple(cells))
    return rows


def code_kinds():
    """Every string constant of sync.py in upper case (the message kinds)."""
    return {v for k, v in vars(sync).items() if k.isupper() and isinstance(v, str)}


def test_table_has_rows():
    rows = table_rows()
    assert len(rows) >= len(sync.KINDS)
    assert all(len(r) == 4 for r in rows), rows


def test_every_kind_in_the_table_exists_in_the_code():
    kinds = {re.fullmatch(r"`([a-z-]+)`", r[2]).group(1) for r in table_rows()}
    assert kinds <= code_kinds(), sorted(kinds - code_kinds())


def test_every_kind_in_the_code_is_in_the_table():
    kinds = {re.fullmatch(r"`([a-z-]+)`", r[2]).group(1) for r in table_rows()}
    assert code_kinds() <= kinds, sorted(code_kinds() - kinds)
    assert set(sync.KINDS) == code_kinds()


def test_sync_docstring_names_the_same_kinds():
    """The table in sync.py's docstring (third column) lists the same kinds."""
    doc_kinds = set()
    for line in sync.__doc__.splitlines():
        words = line.split()
        for i, w in enumerate(words[:-1]):
            if w in ("parent", "stage1", "init", "join", "process", "child") and words[i + 1] in code_kinds():
                doc_kinds.add(words[i + 1])
    assert doc_kinds == code_kinds(), sorted(doc_kinds ^ code_kinds())


def test_no_bare_message_string_outside_sync():
    """Every send/expect in the package uses sync's constants, not a literal."""
    pat = re.compile(r"""\.(send|expect)\(\s*["']""")
    bad = []
    for d, _, files in os.walk(os.path.join(REPO, "ocirun")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(d, name)
                with open(path) as f:
                    for n, line in enumerate(f, 1):
                        if pat.search(line):
                            bad.append(f"{os.path.relpath(path, REPO)}:{n}: {line.strip()}")
    assert not bad, bad


# ---- the channel's rules (real pipes, a real forked child) ----------------

class _Log:
    def __init__(self):
        self.lines = []

    def debug(self, m):
        self.lines.append(m)


def test_expect_returns_the_kind_and_logs_debug_lines():
    parent, child = sync.pair("test child")
    try:
        child.send(sync.DEBUG, msg="one")
        child.send(sync.READY)
        log = _Log()
        assert parent.expect(sync.READY, logger=log)["t"] == sync.READY
        assert log.lines == ["one"]
    finally:
        parent.close()
        child.close()


def test_expect_raises_on_any_other_kind():
    parent, child = sync.pair("test child")
    try:
        child.send(sync.HOOKS)
        with pytest.raises(sync.ProtocolError, match="test child: unexpected message 'hooks' "
                                                     r"\(expected ready or pid\)"):
            parent.expect(sync.READY, sync.PID)
    finally:
        parent.close()
        child.close()


def test_expect_says_gone_when_the_child_exits_without_a_word():
    parent, child = sync.pair("test child", "test child exited unexpectedly")
    child.close()
    try:
        with pytest.raises(OciError, match="^test child exited unexpectedly$"):
            parent.expect(sync.READY)
    finally:
        parent.close()


def test_a_failing_child_reports_why_with_its_errno_before_it_exits():
    """childproc.fail: an "error" message with the OSError's errno, then exit 1."""
    parent, child = sync.pair("test child")
    pid = os.fork()
    if pid == 0:
        parent.close()
        childproc.fail(child, PermissionError(errno.EACCES, "Permission denied", "/x"))
    child.close()
    try:
        with pytest.raises(sync.RemoteError) as e:
            parent.expect(sync.READY)
        assert e.value.errno == errno.EACCES
        assert str(e.value) == "Permission denied (/x)"
        assert not e.value.hook
    finally:
        parent.close()
        _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 1


def test_close_twice_never_closes_a_reused_fd():
    parent, child = sync.pair("test child")
    child.close()
    r, w = os.pipe()
    try:
        child.close()
        os.fstat(r)
        os.fstat(w)
    finally:
        os.close(r)
        os.close(w)
        parent.close()
