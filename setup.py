"""Build and install ocirun.

Besides the pure-Python package this builds three things:
- ocirun._shim, the cffi extension (cffi_build/build_shim.py);
- ocirun/ocirun-exec, the tiny static exec helper (cffi_build/exec_helper.c);
- ocirun/ocirun-launch, the static launch helper (cffi_build/launch_helper.c);
- the `ocirun` launcher: `#!<ocirun-launch> <this interpreter>` plus a fixed
  sys.path; ocirun-launch drops every PYTHON* variable and runs the
  interpreter with -I -S through a detached read-only overlayfs mount, else a
  sealed memfd copy (see launch_helper.c), so
  start-up skips site processing and never goes through a shell shim.
  It is installed as a data file into the interpreter's scripts directory
  (pip rewrites real scripts' shebangs and would drop the flags).
The JSON schemas are copied into the package as ocirun/schemas/, and the
checkout's git revision into ocirun/_commit.py (`ocirun --version` reads it
there, never runs git; without git or a checkout it says the version).
"""
import os
import shutil
import subprocess
import sys
import sysconfig

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "build")

LAUNCHER = """#!{launch} {python}
# ocirun launcher, written by setup.py: isolated, no site processing, no
# cyclic GC (a short-lived process; GC could also close a reused fd number).
import gc
import sys
gc.disable()
sys.path[:0] = {paths!r}
from ocirun.cli import run
run()
"""


def write_launcher():
    paths = []
    for key in ("purelib", "platlib"):
        p = sysconfig.get_paths()[key]
        if p not in paths:
            paths.append(p)
    os.makedirs(BUILD, exist_ok=True)
    path = os.path.join(BUILD, "ocirun")
    with open(path, "w") as f:
        launch = os.path.join(sysconfig.get_paths()["platlib"], "ocirun", "ocirun-launch")
        f.write(LAUNCHER.format(launch=launch, python=os.path.realpath(sys.executable), paths=paths))
    os.chmod(path, 0o755)
    return path


def git_commit():
    """The checkout's revision (`-dirty` if it has uncommitted changes), or None."""
    try:
        p = subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty", "--abbrev=12"],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if p.returncode != 0:
        return None
    return p.stdout.strip() or None


def write_commit(pkg):
    path = os.path.join(pkg, "_commit.py")
    commit = git_commit()
    if commit is None:
        if os.path.exists(path):
            os.unlink(path)
        return
    with open(path, "w") as f:
        f.write(f'"""Written by setup.py at build time."""\nCOMMIT = {commit!r}\n')


class BuildPy(build_py):
    def run(self):
        super().run()
        pkg = os.path.join(self.build_lib, "ocirun")
        schemas = os.path.join(pkg, "schemas")
        shutil.rmtree(schemas, ignore_errors=True)
        shutil.copytree(os.path.join(HERE, "schemas"), schemas)
        write_commit(pkg)
        sys.path.insert(0, os.path.join(HERE, "cffi_build"))
        import build_exec

        build_exec.build(pkg)


setup(
    name="ocirun",
    version="0.1.0",
    description="An OCI runtime-spec v1.3.0 container runtime in Python (a drop-in for runc)",
    python_requires=">=3.11",
    # Every subpackage (container/, image/, criu/ ...): a hand-kept list missed new ones.
    packages=find_packages(include=["ocirun", "ocirun.*"]),
    install_requires=["jsonschema", "cffi"],
    setup_requires=["cffi"],
    cffi_modules=["cffi_build/build_shim.py:ffibuilder"],
    cmdclass={"build_py": BuildPy},
    data_files=[(os.path.relpath(sysconfig.get_path("scripts"), sys.prefix), [write_launcher()])],
    zip_safe=False,
)
