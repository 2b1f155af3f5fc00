"""Where one ocirun command spends its time: imports, then functions.

    python3.11 bench/profile.py [--ocirun PATH] [--top N] -- <ocirun args...>
    e.g.  bench/profile.py -- --root /run/x state ID

Runs the launcher the way the shebang does (-IS) twice: once with
-X importtime (the import tree, sorted by cumulative cost), once under the C
profiler (_lsprof, so no profiling module is imported before ocirun and import
costs stay visible). The command really runs both times: give it something
repeatable (state, a fresh `run` id each time with {n} in the id, ...).
"""

import argparse
import os
import shutil
import subprocess
import sys

# Executed in a fresh `python -IS`: profile the launcher file as __main__.
PROFILED = r"""
import _lsprof, sys
launcher, out = sys.argv[1], sys.argv[2]
sys.argv = [launcher] + sys.argv[3:]
class P(_lsprof.Profiler):
    pass
p = P()
code = compile(open(launcher).read(), launcher, "exec")
rc = 0
p.enable()
try:
    exec(code, {"__name__": "__main__", "__file__": launcher})
except SystemExit as e:
    rc = e.code
finally:
    p.disable()
import cProfile
cProfile.Profile.snapshot_stats(p)
import marshal
with open(out, "wb") as f:
    marshal.dump(p.stats, f)
sys.exit(rc)
"""


def import_tree(py, launcher, args, top):
    p = subprocess.run([py, "-IS", "-X", "importtime", launcher, *args],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rows = []
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line[len("import time:"):].split("|")
        rows.append((int(parts[1]), int(parts[0]), parts[2].rstrip()))
    total = sum(s for _, s, _ in rows)
    print(f"## imports: {len(rows)} modules, {total / 1000:.1f} ms self time in total")
    print("cumulative ms | self ms | module (indent = imported by the line above)")
    for cum, self_us, name in sorted(rows, reverse=True)[:top]:
        print(f"{cum / 1000:12.1f} | {self_us / 1000:7.1f} | {name}")
    return total


def functions(py, launcher, args, top, out):
    subprocess.run([py, "-IS", "-c", PROFILED, launcher, out, *args],
                   stdout=subprocess.DEVNULL)
    import pstats

    for key in ("cumulative", "tottime"):
        print(f"## functions by {key}")
        s = pstats.Stats(out)
        s.sort_stats(key).print_stats(top)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ocirun", default=shutil.which("ocirun"))
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    args = a.args[1:] if a.args[:1] == ["--"] else a.args
    launcher = os.path.realpath(a.ocirun)
    with open(launcher) as f:
        py = f.readline()[2:].split()[0]  # the launcher's own interpreter
    import_tree(py, launcher, [x.replace("{n}", "1") for x in args], a.top)
    out = f"/tmp/ocirun-profile-{os.getpid()}.prof"
    try:
        functions(py, launcher, [x.replace("{n}", "2") for x in args], a.top, out)
    finally:
        if os.path.exists(out):
            os.unlink(out)


if __name__ == "__main__":
    main()
