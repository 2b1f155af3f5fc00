"""ocirun.fastos: the hot path's `os` without importing os (issue 13). Its
os.path functions must say exactly what posixpath says."""
import os
import posixpath

from hypothesis import given, settings, strategies as st

from ocirun import fastos

# Paths built from the parts that matter to the algorithms: slashes (one,
# two, three), dots, dot-dots, names; plus any text.
PART = st.sampled_from(["", "/", "//", "///", ".", "..", "a", "b.c", "..d", " ", "é"])
PATH = st.one_of(st.lists(PART, max_size=8).map("".join), st.text(max_size=20))


@settings(max_examples=500, deadline=None)
@given(PATH, st.lists(PATH, max_size=3))
def test_path_functions_match_posixpath(p, more):
    assert fastos.path.join(p, *more) == posixpath.join(p, *more)
    for q in (p, *more):
        assert fastos.path.normpath(q) == posixpath.normpath(q), q
        assert fastos.path.dirname(q) == posixpath.dirname(q), q
        assert fastos.path.basename(q) == posixpath.basename(q), q
        assert fastos.path.split(q) == posixpath.split(q), q
        if "\0" not in q:
            assert fastos.path.abspath(q) == posixpath.abspath(q), q


def test_file_tests_match_posixpath(tmp_path):
    (tmp_path / "f").write_text("")
    (tmp_path / "d").mkdir()
    (tmp_path / "l").symlink_to("d")
    (tmp_path / "dangling").symlink_to("nowhere")
    for name in ("f", "d", "l", "dangling", "missing", "f/x", "bad\0name"):
        p = str(tmp_path / name)
        for fn in ("exists", "isdir", "isfile", "islink"):
            assert getattr(fastos.path, fn)(p) == getattr(posixpath, fn)(p), (fn, name)


def test_bytes_and_pathlike_go_to_posixpath(tmp_path):
    assert fastos.path.join(b"/a", b"b") == b"/a/b"
    assert fastos.path.join(tmp_path, "x") == os.path.join(tmp_path, "x")
    assert fastos.path.abspath(b"x/../y") == os.path.abspath(b"x/../y")
    assert fastos.path.realpath is posixpath.realpath  # anything else: posixpath's own


def test_same_functions_as_os_and_the_rest_from_os(monkeypatch):
    assert fastos.open is os.open and fastos.write is os.write and fastos._exit is os._exit
    assert fastos.removedirs is os.removedirs  # not in posix: the real os, looked up on use
    assert fastos.O_CLOEXEC == os.O_CLOEXEC
    monkeypatch.setenv("OCIRUN_FASTOS_PROBE", "v\udcff")  # through os.environ: putenv + posix.environ
    assert fastos.getenv("OCIRUN_FASTOS_PROBE") == os.getenv("OCIRUN_FASTOS_PROBE") == "v\udcff"
    monkeypatch.delenv("OCIRUN_FASTOS_PROBE")
    assert fastos.getenv("OCIRUN_FASTOS_PROBE", "d") == "d"


# A tree: each entry a (kind, name) under a parent index; kinds: dir, file,
# a symlink to an earlier directory, a dangling symlink.
TREE = st.lists(st.tuples(st.sampled_from(["dir", "file", "dirlink", "dangling"]),
                          st.integers(0, 20), st.integers(0, 20)), max_size=25)


def build(root, spec):
    dirs = [root]
    for i, (kind, parent, target) in enumerate(spec):
        p = dirs[parent % len(dirs)] / f"e{i}"
        if kind == "dir":
            p.mkdir()
            dirs.append(p)
        elif kind == "file":
            p.write_text("")
        elif kind == "dirlink":
            p.symlink_to(dirs[target % len(dirs)])
        else:
            p.symlink_to(root / "nowhere")


def sort_walk(w):
    return [(top, sorted(d), sorted(f)) for top, d, f in w]


@settings(max_examples=100, deadline=None)
@given(TREE)
def test_walk_matches_os_walk(tmp_path_factory, spec):
    root = tmp_path_factory.mktemp("walk")
    build(root, spec)
    assert sort_walk(fastos.walk(str(root))) == sort_walk(os.walk(str(root)))


def test_walk_prunes_like_os_walk_and_skips_what_it_cannot_read(tmp_path):
    for d in ("a/x", "a/y", "b/z"):
        (tmp_path / d).mkdir(parents=True)

    def pruned(walker):
        out = []
        for top, dirs, _files in walker(str(tmp_path)):
            out.append(top)
            dirs[:] = [d for d in sorted(dirs) if d != "a"]
        return out

    assert pruned(fastos.walk) == pruned(os.walk) == [str(tmp_path), str(tmp_path / "b"), str(tmp_path / "b/z")]
    assert list(fastos.walk(str(tmp_path / "missing"))) == list(os.walk(str(tmp_path / "missing"))) == []
    assert list(fastos.walk(tmp_path)) == list(os.walk(tmp_path))  # a PathLike: os.walk's own


def test_environ_is_os_environ():
    """posix.environ is bytes: fastos must not pass it off as os.environ."""
    assert fastos.environ is os.environ


def test_makedirs_matches_os(tmp_path):
    fastos.makedirs(str(tmp_path / "a"), 0o700)
    assert (tmp_path / "a").is_dir() and (tmp_path / "a").stat().st_mode & 0o777 == 0o700
    fastos.makedirs(str(tmp_path / "a"), exist_ok=True)
    for exist_ok in (False, True):
        (tmp_path / "f").write_text("")
        try:
            fastos.makedirs(str(tmp_path / "f"), exist_ok=exist_ok)
        except FileExistsError:
            pass
        else:
            raise AssertionError("a file is not a directory")
    try:
        fastos.makedirs(str(tmp_path / "a"))
    except FileExistsError:
        pass
    else:
        raise AssertionError("exists")
    fastos.makedirs(str(tmp_path / "b" / "c" / "d"), exist_ok=True)  # missing parents: os.makedirs
    assert (tmp_path / "b" / "c" / "d").is_dir()
