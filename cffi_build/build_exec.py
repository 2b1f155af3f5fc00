"""Compile ocirun-exec (exec_helper.c): static, no libc, a few KiB."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def build(out_dir):
    out = os.path.join(out_dir, "ocirun-exec")
    subprocess.check_call([
        os.environ.get("CC", "gcc"), "-Os", "-static", "-nostdlib", "-ffreestanding",
        "-fno-builtin", "-fno-stack-protector", "-fno-asynchronous-unwind-tables",
        "-Wl,--build-id=none", "-s", "-o", out + ".new", os.path.join(HERE, "exec_helper.c"),
    ])
    os.replace(out + ".new", out)  # never rewrite a binary in place: it may be running
    return out


if __name__ == "__main__":
    build(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "ocirun"))
