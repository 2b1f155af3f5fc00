"""What importing some modules costs, measured inside fresh interpreters.

    python3.11 bench/importcost.py [--ocirun PATH] [--runs N] [--after-fork] [--pre M1,M2] MODS...

Each run starts ocirun's own interpreter isolated (-I -S, its sys.path, GC
off, as the launcher does), imports the prerequisites PRE untimed, then
times importing MODS (perf_counter_ns around the imports: no -X importtime
overhead); prints the median and the spread over --runs fresh processes.
With --after-fork the process forks first and the timed imports happen in
the parent while the child waits, as create's parent does while its init
waits on exec.fifo: every first write to a shared page is then a
copy-on-write fault. bench/results/2026-12-03-exec-create-plan.md quotes it.
"""
import argparse
import ast
import os
import statistics
import subprocess

PROBE = r"""
import gc, sys
gc.disable()
sys.path[:0] = %(paths)r
import posix
from time import perf_counter_ns as now
for m in %(pre)r:
    __import__(m)
child = 0
if %(fork)r:
    r, w = posix.pipe()
    child = posix.fork()
    if child == 0:
        posix.read(r, 1)  # waits, holding the shared pages, like an init on exec.fifo
        posix._exit(0)
t = now()
for m in %(mods)r:
    __import__(m)
t = now() - t
if child:
    posix.write(w, b"x")
    posix.waitpid(child, 0)
print(t // 1000)
"""


def launcher_python(path):
    """(interpreter, sys.path entries) of an ocirun launcher: the #! line's
    last word and the list its `sys.path[:0] = [...]` line adds."""
    with open(os.path.realpath(path)) as f:
        lines = f.read().splitlines()
    paths = [ast.literal_eval(line.split("=", 1)[1].strip()) for line in lines
             if line.startswith("sys.path[:0] =")]
    return lines[0][2:].split()[-1], paths[0] if paths else []


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ocirun", default="/usr/local/bin/ocirun", help="the launcher whose interpreter and path to use")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--after-fork", action="store_true")
    ap.add_argument("--pre", default="", help="modules imported first, untimed (comma-separated)")
    ap.add_argument("modules", nargs="+", help="the modules whose import is timed")
    a = ap.parse_args()
    pre, mods = [m for m in a.pre.split(",") if m], a.modules
    py, paths = launcher_python(a.ocirun)
    code = PROBE % {"paths": paths, "pre": pre, "mods": mods, "fork": a.after_fork}
    us = [int(subprocess.run([py, "-I", "-S", "-c", code], check=True, capture_output=True,
                             text=True).stdout) for _ in range(a.runs)]
    print(f"{statistics.median(us)} µs median (min {min(us)}, max {max(us)}, {a.runs} runs"
          f"{', after a fork' if a.after_fork else ''}): import {' '.join(mods)}"
          + (f" after {' '.join(pre)}" if pre else ""))


if __name__ == "__main__":
    main()
