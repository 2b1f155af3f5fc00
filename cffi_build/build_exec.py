"""Compile ocirun-exec (exec_helper.c) and ocirun-launch (launch_helper.c):
static, no libc, a few KiB each."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def build(out_dir):
    """Both static helpers: ocirun-exec and ocirun-launch (launch_helper.c)."""
    for name, src in (("ocirun-exec", "exec_helper.c"), ("ocirun-launch", "launch_helper.c")):
        out = _build_one(out_dir, name, src)
    return out


def _build_one(out_dir, name, src):
    out = os.path.join(out_dir, name)
    subprocess.check_call([
        os.environ.get("CC", "gcc"), "-Os", "-static", "-nostdlib", "-ffreestanding",
        "-fno-builtin", "-fno-stack-protector", "-fno-asynchronous-unwind-tables",
        "-Wl,--build-id=none", "-s", "-o", out + ".new", os.path.join(HERE, src),
    ])
    os.replace(out + ".new", out)  # never rewrite a binary in place: it may be running
    return out


if __name__ == "__main__":
    build(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "ocirun"))
