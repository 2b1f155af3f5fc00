"""The ocirun on PATH runs this checkout's code.

The tests import the checkout, so a module the install leaves out passes every
other test: a hand-kept package list in setup.py once left container/, image/
and criu/ out of /opt/ocirun (every `ocirun run` failed with ModuleNotFoundError
while the suite was green), and a stale build/ put a removed module back.
The README's test command runs after `.ci/install`, so the installed copy must
be there and equal; after changing a module, run `.ci/install` again.
"""
import os
import pathlib
import shutil

from setuptools import find_packages

REPO = pathlib.Path(__file__).resolve().parents[2]
PKG = REPO / "ocirun"


def module_dirs(root):
    return {p.parent for p in root.rglob("*.py") if "__pycache__" not in p.parts}


def modules(root):
    """{relative path: bytes} of every .py file below root."""
    return {str(p.relative_to(root)): p.read_bytes()
            for p in root.rglob("*.py") if "__pycache__" not in p.parts}


def test_every_directory_of_modules_is_a_package():
    missing = sorted(str(d.relative_to(REPO)) for d in module_dirs(PKG) if not (d / "__init__.py").exists())
    assert not missing, f"find_packages skips a directory without __init__.py: {missing}"


def test_setup_packages_every_subpackage():
    assert 'packages=find_packages(include=["ocirun", "ocirun.*"])' in (REPO / "setup.py").read_text()
    found = set(find_packages(str(REPO), include=["ocirun", "ocirun.*"]))
    want = {".".join(d.relative_to(REPO).parts) for d in module_dirs(PKG)}
    assert found == want


def installed_package():
    """The package directory of the ocirun on PATH: its launcher's #! names
    ocirun-launch, which lives in the installed package."""
    exe = shutil.which("ocirun")
    assert exe, "no ocirun on PATH: run .ci/install (the README's first step)"
    with open(exe, "rb") as f:
        first = f.readline().decode()
    assert first.startswith("#!"), f"{exe}: not the launcher setup.py writes"
    return pathlib.Path(os.path.dirname(first[2:].split()[0]))


GENERATED = "_commit.py"  # setup.py's build record (the commit installed), not in the checkout


def test_the_installed_copy_is_this_checkout():
    inst, here = modules(installed_package()), modules(PKG)
    assert inst.pop(GENERATED, None) is not None, "the install wrote no build record"
    here.pop(GENERATED, None)
    assert sorted(here.keys() - inst.keys()) == [], "modules not installed: run .ci/install"
    assert sorted(inst.keys() - here.keys()) == [], "stale installed modules: run .ci/install"
    changed = sorted(name for name in here if here[name] != inst[name])
    assert changed == [], "installed modules differ from the checkout: run .ci/install"
