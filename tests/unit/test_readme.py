"""README.md's engine recipes stay true (issue 16): each test it names exists,
and the settings it tells users to write are the ones the engine test scripts
write (so the suite runs the recipes)."""
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read(*path):
    with open(os.path.join(REPO, *path)) as f:
        return f.read()


def test_named_tests_exist():
    readme = read("README.md")
    engines = readme.split("\n## Engines\n", 1)[1].split("\n## ", 1)[0]
    names = set(re.findall(r"\btest_[a-z0-9_]+\b", engines)) - {"test_engines", "test_cri"}
    assert len(names) >= 10
    sources = "".join(read("tests", "integration", f) for f in os.listdir(os.path.join(REPO, "tests", "integration"))
                      if f.endswith(".py"))
    missing = sorted(n for n in names if f"def {n}(" not in sources)
    assert missing == []


def test_recipes_match_what_the_suite_runs():
    readme = read("README.md")
    podman = read("tests", "engines", "podman-setup.sh")
    for line in ("[engine.runtimes]", 'runtime = "', "runtime_supports_json = ["):
        assert line in readme and line in podman, line
    docker = read("tests", "engines", "dockerd-start.sh")
    assert '"runtimes": {"ocirun": {"path": "/usr/local/bin/ocirun"}}' in readme
    assert '"default-runtime": "ocirun"' in readme
    assert '{"runtimes": {"%s": {"path": "%s"}}, "default-runtime": "%s"}' in docker
    cri = read("tests", "engines", "containerd-start.sh")
    for line in ('[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.ocirun]',
                 'runtime_type = "io.containerd.runc.v2"', "BinaryName = ", "Root = ",
                 "restrict_oom_score_adj = true"):
        assert line in readme, line
        assert line.replace('plugins."io.containerd.grpc.v1.cri"', "$cri") in cri, line
    assert "handler: ocirun" in readme and "runtimeClassName: ocirun" in readme
    assert 'HANDLERS = ["ocirun", "runc"]' in read("tests", "integration", "test_cri.py")


def test_first_two_commands():
    """The README's first two commands (the brief's promise) stay as they are."""
    block = read("README.md").split("```\n", 2)[1]
    assert block == ('bash .ci/install && ocirun run --bundle bundles/busybox demo\n'
                     '"$(cat .ci/python)" -m pytest -q -p no:cacheprovider tests\n')
