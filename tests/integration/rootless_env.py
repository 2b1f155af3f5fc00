"""A real unprivileged user for the rootless tests, and this checkout's ocirun for it.

- users(): `ocirun-test` (with /etc/subuid and /etc/subgid ranges, for
  newuidmap/newgidmap) and `ocirun-test2` (none), created once with
  useradd/usermod; a re-run finds them and changes nothing.
- Base: a world-traversable directory under /tmp (pytest's base is 0700) with
  a copy of this checkout's package (the checkout may sit in a directory other
  users cannot read), a launcher naming Debian's /usr/bin/python3.11 (the
  pyenv interpreter is under /root), and per user an XDG_RUNTIME_DIR.
- As(user).run(argv): the command run as that user through setpriv, with a
  clean environment (PATH, HOME, USER, XDG_RUNTIME_DIR).
"""
import glob
import os
import pwd
import shutil
import subprocess
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = "/usr/bin/python3.11"
USER, USER2 = "ocirun-test", "ocirun-test2"
SUB_SIZE = 65536
# Where Debian's python3.11 finds cffi's backend: the /opt venv .ci/install makes,
# else Debian's python3-cffi-backend.
DEP_SITES = ("/opt/ocirun/lib/python3.11/site-packages", "/usr/lib/python3/dist-packages")


def _ensure_user(name, subids):
    try:
        pwd.getpwnam(name)
    except KeyError:
        # No automatic subordinate range (it would start at 100000, where
        # test_userns maps its rootful containers): ours is set below.
        subprocess.run(["useradd", "--create-home", "--home-dir", f"/var/lib/{name}", "--shell", "/bin/sh",
                        "--user-group", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", name],
                       check=True, capture_output=True)
    if subids:
        for f, flag in (("/etc/subuid", "--add-subuids"), ("/etc/subgid", "--add-subgids")):
            if sub_range(name, f) is None:
                start = 400000 if name == USER else 500000
                subprocess.run(["usermod", flag, f"{start}-{start + SUB_SIZE - 1}", name], check=True,
                               capture_output=True)
    return pwd.getpwnam(name)


def sub_range(name, path):
    """(start, size) of the user's first range of at least SUB_SIZE ids in path, or None."""
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[0] == name and int(parts[2]) >= SUB_SIZE:
                    return int(parts[1]), int(parts[2])
    except (OSError, ValueError):
        pass
    return None


def dep_site():
    for d in DEP_SITES:
        if glob.glob(os.path.join(d, "_cffi_backend*.so")):
            return d
    raise AssertionError(f"no cffi backend for {PYTHON} in {DEP_SITES}: run .ci/install")


class Env:
    """Base directory, launcher and users; remove() at the end."""

    def __init__(self):
        if not os.access(PYTHON, os.X_OK):
            raise AssertionError(f"{PYTHON} missing: run .ci/install (Debian's python3)")
        self.user = _ensure_user(USER, True)
        self.user2 = _ensure_user(USER2, False)
        self.base = tempfile.mkdtemp(prefix="ocirun-rootless-", dir="/tmp")
        os.chmod(self.base, 0o755)
        pkg = os.path.join(self.base, "pkg")
        shutil.copytree(os.path.join(REPO, "ocirun"), os.path.join(pkg, "ocirun"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(os.path.join(REPO, "schemas"), os.path.join(pkg, "schemas"))
        self.launcher = os.path.join(self.base, "ocirun")
        with open(self.launcher, "w") as f:
            f.write(f"#!{PYTHON} -IS\nimport gc\nimport sys\ngc.disable()\n"
                    f"sys.path[:0] = {[pkg, dep_site()]!r}\nfrom ocirun.cli import run\nrun()\n")
        subprocess.run(["chmod", "-R", "a+rX", pkg], check=True)
        os.chmod(self.launcher, 0o755)

    def home_of(self, pw):
        """A directory of the base owned by the user (its bundles, its XDG_RUNTIME_DIR)."""
        d = os.path.join(self.base, pw.pw_name)
        if not os.path.isdir(d):
            os.mkdir(d, 0o700)
            os.makedirs(os.path.join(d, "xdg"), 0o700)
            for p in (d, os.path.join(d, "xdg")):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        return d

    def remove(self):
        shutil.rmtree(self.base, ignore_errors=True)


class As:
    """Runs commands as `pw` (setpriv: real and effective ids, its groups)."""

    def __init__(self, env, pw, launcher=None):
        self.env, self.pw = env, pw
        self.home = env.home_of(pw)
        self.xdg = os.path.join(self.home, "xdg")
        self.launcher = launcher or env.launcher

    def environ(self, **extra):
        e = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "HOME": self.pw.pw_dir, "USER": self.pw.pw_name, "LOGNAME": self.pw.pw_name,
             "XDG_RUNTIME_DIR": self.xdg}
        e.update(extra)
        return e

    def prefix(self):
        return ["setpriv", f"--reuid={self.pw.pw_uid}", f"--regid={self.pw.pw_gid}", "--init-groups", "--"]

    def run(self, argv, timeout=60, check=False, env=None, **kw):
        """Output through temporary files, not pipes: a detached container keeps its copies open."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.run(self.prefix() + list(argv), timeout=timeout, cwd=self.home,
                               env=env or self.environ(), stdin=subprocess.DEVNULL, stdout=out,
                               stderr=err, **kw)
            out.seek(0)
            err.seek(0)
            p.stdout = out.read().decode(errors="replace")
            p.stderr = err.read().decode(errors="replace")
        if check and p.returncode != 0:
            raise AssertionError(f"as {self.pw.pw_name}: {' '.join(argv)} -> {p.returncode}\n"
                                 f"{p.stdout}\n{p.stderr}")
        return p

    def oci(self, *args, **kw):
        return self.run([self.launcher, *args], **kw)

    def runc(self, *args, **kw):
        return self.run(["runc", *args], **kw)

    def chown(self, path):
        subprocess.run(["chown", "-R", f"{self.pw.pw_uid}:{self.pw.pw_gid}", path], check=True)
