"""Where one ocirun command spends its time: imports, then functions.

    python3.11 bench/profile.py [--ocirun PATH] [--top N] -- <ocirun args...>
    e.g.  bench/profile.py -- --root /run/x state ID

Runs the launcher the way its shebang does (-IS): --repeat times with
-X importtime (the import tree, medians, by cumulative cost), then once under
the C profiler (_lsprof: no profiling module is imported before ocirun, so
import costs stay visible), wall clock unless --cpu. The command really runs
each time: give it something repeatable (state; for run/create put {n} in the
id, replaced per run).
"""

import argparse
import os
import shutil
import subprocess
import sys

# Executed in a fresh `python -IS`: profile the launcher file as __main__.
PROFILED = r"""
import _lsprof, sys
launcher, out, clock = sys.argv[1], sys.argv[2], sys.argv[3]
sys.argv = [launcher] + sys.argv[4:]
class P(_lsprof.Profiler):
    pass
if clock == "cpu":
    import time
    p = P(time.process_time)
else:
    p = P()
# The launcher ends in cli.run(), which os._exit()s: profile cli.main instead.
code = compile(open(launcher).read().replace("run()", "sys.exit(__import__('ocirun.cli').cli.main())")
               .replace("from ocirun.cli import run", ""), launcher, "exec")
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


def import_tree(py, launcher, args, top, repeat):
    """-X importtime `repeat` times; per module the median self and cumulative us."""
    import statistics

    runs = {}  # indented module name -> ([cumulative], [self])
    for k in range(repeat):
        argv = [x.replace("{n}", f"i{k}") for x in args]
        p = subprocess.run([py, "-IS", "-X", "importtime", launcher, *argv],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in p.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, cum_us, name = line[len("import time:"):].split("|")
            cum, own = runs.setdefault(name.rstrip(), ([], []))
            cum.append(int(cum_us))
            own.append(int(self_us))
    rows = [(statistics.median(c), statistics.median(s), n) for n, (c, s) in runs.items()]
    total = sum(s for _, s, _ in rows)
    print(f"## imports: {len(rows)} modules, {total / 1000:.1f} ms self time in total "
          f"(median of {repeat} runs)")
    print("cumulative ms | self ms | module (indent = imported by a less indented one)")
    for cum, own, name in sorted(rows, reverse=True)[:top]:
        print(f"{cum / 1000:12.1f} | {own / 1000:7.1f} | {name}")


def functions(py, launcher, args, top, out, clock):
    subprocess.run([py, "-IS", "-c", PROFILED, launcher, out, clock, *args],
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
    ap.add_argument("--repeat", type=int, default=5, help="import-time runs to take medians of (5)")
    ap.add_argument("--cpu", action="store_true",
                    help="profile CPU time of the ocirun process (not wall time: waits on the "
                         "container's init and I/O vanish; steadier on a busy machine)")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    args = a.args[1:] if a.args[:1] == ["--"] else a.args
    launcher = os.path.realpath(a.ocirun)
    with open(launcher) as f:
        # The interpreter: the #! line's last word (the first is ocirun-launch,
        # which takes the interpreter as its argument).
        py = f.readline()[2:].split()[-1]
    import_tree(py, launcher, args, a.top, a.repeat)
    out = f"/tmp/ocirun-profile-{os.getpid()}.prof"
    try:
        functions(py, launcher, [x.replace("{n}", "p") for x in args], a.top, out,
                  "cpu" if a.cpu else "wall")
    finally:
        if os.path.exists(out):
            os.unlink(out)


if __name__ == "__main__":
    main()
