"""Where the milliseconds of run / create / exec go, ocirun beside runc.

    python3.11 bench/where.py [--verb run|create|exec] [--repeats N] [--ocirun PATH]

Runs the command under `strace -f -ttt -T` (as root, on bench.py's busybox
bundle, private --root on /run) for each runtime and sorts every syscall,
with the user time before it in the same process, into steps:

  start    the runtime's own start-up: exec, interpreter (or Go runtime) set-up
           with the standard library modules it loads itself, everything
           before it first touches its own code, config or state
  code     opening, reading, mapping Python code after that (.py/.pyc/.so of
           ocirun and of the standard library)
  config   reading config.json (and --process)
  ns+mnt   clone/unshare/setns, mounts, pivot_root, the rootfs, /proc, /dev
  cgroup   anything under /sys/fs/cgroup
  sync     reads/writes/polls on pipes and socket pairs, wait4 (one process
           waiting for another: round trips)
  state    the runtime's --root: state files, locks, renames, fifos
  exec     the container process's execve (and what the exec helper does)
  other    the rest (prctl, capabilities, seccomp, signals, ...)

Two views: the main process alone (its wall time from spawn to exit: the
critical path a caller waits for) and every process and thread summed, less
the time blocked in waits (the work; Go's idle threads would swamp it). The
ptrace of strace slows each syscall by a few microseconds, so totals are
larger than bench.py's: compare the shares and the two runtimes' steps, not
the absolute sum. For ocirun, `bench/profile.py` gives the import tree and
the Python functions. Medians over --repeats runs.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import signal
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (the bundles and the private roots)

STEPS = ("start", "code", "config", "ns+mnt", "cgroup", "sync", "state", "exec", "other")
LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
CALL = re.compile(r"^(\w+)\((.*)$")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
RET = re.compile(r"=\s+(-?\d+|0x[0-9a-f]+)(?:\s.*)?\s+<(\d+\.\d+)>$")
NS_CALLS = {"clone", "clone3", "fork", "vfork", "unshare", "setns", "mount", "umount2", "pivot_root",
            "chroot", "mount_setattr", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount",
            "sethostname", "setdomainname", "mknodat", "symlinkat"}
SYNC_CALLS = {"wait4", "waitid", "poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait",
              "recvmsg", "sendmsg", "futex", "pidfd_open", "nanosleep", "clock_nanosleep"}
FD_CALLS = {"read", "write", "pread64", "pwrite64", "fstat", "newfstatat", "mmap", "close", "lseek",
            "getdents64", "fcntl", "ioctl", "flock", "fsync", "recvmsg", "sendmsg", "readv", "writev",
            "statx", "fstatfs"}
PATH = re.compile(r'"((?:[^"\\]|\\.)*)"')


class Classifier:
    def __init__(self, root, bundle, pkg_dirs, own_dirs):
        self.root, self.bundle, self.pkg_dirs, self.own = root, bundle, pkg_dirs, own_dirs
        self.fds = {}  # (pid, fd) -> step of what it names
        self.started = set()  # pids past their start-up
        self.first = None  # the main pid

    def by_path(self, path):
        if path.startswith(self.root):
            return "state"
        if path.endswith("config.json") or path.endswith("process.json"):
            return "config"
        if path.startswith("/sys/fs/cgroup"):
            return "cgroup"
        if path.endswith((".py", ".pyc", ".so")) or "/__pycache__" in path or \
                any(path.startswith(d) for d in self.pkg_dirs):
            return "code"
        if path.startswith(self.bundle) or path.startswith(("/proc", "/dev")) or path in ("/", "."):
            return "ns+mnt"
        return None

    def step(self, pid, name, args, ret):
        """The step of one finished syscall of pid."""
        paths = PATH.findall(args)
        fd = args.split(",", 1)[0].strip()
        step = None
        if pid == self.first and pid not in self.started and \
                name in ("execve", "execveat", "fsopen", "fsconfig", "fsmount", "memfd_create"):
            return "start"  # ocirun-launch: the interpreter, sealed, then executed
        if name in ("execve", "execveat"):
            return "exec"
        if name in NS_CALLS:
            step = "ns+mnt"
        elif name in ("pipe2", "socketpair"):
            step = "sync"
        elif paths:
            step = self.by_path(paths[0])
            if step == "code" and pid == self.first and pid not in self.started and \
                    not any(paths[0].startswith(d) for d in self.own):
                step = "start"  # the interpreter's own set-up (encodings, codecs, io...)
        if step is None and name in FD_CALLS and fd.isdigit():
            step = self.fds.get((pid, int(fd)))
        if step is None and name in SYNC_CALLS:
            step = "sync"
        if name in ("openat", "open", "openat2", "memfd_create", "pidfd_open") and ret.isdigit() \
                and step != "start":
            self.fds[(pid, int(ret))] = step or ("sync" if name == "pidfd_open" else "other")
        if name in ("pipe2", "socketpair"):
            for n in re.findall(r"\[(\d+), (\d+)\]", args):
                for x in n:
                    self.fds[(pid, int(x))] = "sync"
        if step in ("code", "config", "state", "cgroup", "ns+mnt"):
            self.started.add(pid)
        if step is None:
            step = "other" if pid in self.started or pid != self.first else "start"
        return step


def parse(path, classifier):
    """strace -f -ttt -T output -> (main pid, {pid: [(t_end, step)]}, {pid: t_first})."""
    pending = {}  # pid -> (name, args start)
    events, first_t, last_t = {}, {}, {}
    main = None
    with open(path) as f:
        for raw in f:
            m = LINE.match(raw.rstrip("\n"))
            if not m:
                continue
            pid, t, rest = int(m.group(1)), float(m.group(2)), m.group(3)
            if main is None:
                main = classifier.first = pid
            first_t.setdefault(pid, t)
            last_t[pid] = t
            if rest.startswith("+++") or rest.startswith("---"):
                continue
            r = RESUMED.match(rest)
            if r:
                name, args0, t = pending.pop(pid, (r.group(1), "", t))  # -T counts from the call
                rest_args = args0 + r.group(2)
            else:
                c = CALL.match(rest)
                if not c:
                    continue
                name, rest_args = c.group(1), c.group(2)
                if rest.endswith("<unfinished ...>"):
                    pending[pid] = (name, rest_args.replace("<unfinished ...>", ""), t)
                    continue
            ret = RET.search(rest_args)
            if not ret:
                continue
            dur = float(ret.group(2))
            step = classifier.step(pid, name, rest_args, ret.group(1))
            waits = dur if name in SYNC_CALLS or (name == "read" and step == "sync") else 0.0
            events.setdefault(pid, []).append((t + dur, step, waits))
    return main, events, first_t


def attribute(events, first_t, blocked=True):
    """Per pid: {step: seconds}; the time since the previous syscall's end
    (user work, then this syscall) goes to this syscall's step; without
    `blocked`, less the time the syscall waited."""
    out = {}
    for pid, evs in events.items():
        prev = first_t[pid]
        acc = dict.fromkeys(STEPS, 0.0)
        for t_end, step, waits in sorted(evs):
            acc[step] += max(0.0, t_end - prev - (0.0 if blocked else waits))
            prev = max(prev, t_end)
        out[pid] = acc
    return out


def trace_once(rt_path, root, args, bundle, pkg_dirs, tmp):
    out = os.path.join(tmp, "trace")
    p = subprocess.Popen(["strace", "-I1", "-f", "-ttt", "-T", "-s", "200", "-o", out, rt_path, "--root", root,
                          *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    # After create the container's init lives on (traced): once the runtime
    # itself has exited, let strace detach (SIGINT) instead of waiting for it.
    runtime = None
    deadline = time.monotonic() + 120
    while p.poll() is None and time.monotonic() < deadline:
        try:
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                kids = f.read().split()
        except OSError:
            kids = []
        runtime = runtime or (int(kids[0]) if kids else None)
        if runtime and not os.path.exists(f"/proc/{runtime}"):
            p.send_signal(signal.SIGINT)
            break
        time.sleep(0.005)
    p.wait(timeout=60)
    cl = Classifier(root, bundle, pkg_dirs, pkg_dirs[1:])
    main, events, first_t = parse(out, cl)
    total = dict.fromkeys(STEPS, 0.0)
    for acc in attribute(events, first_t, blocked=False).values():
        for k, v in acc.items():
            total[k] += v
    mine = attribute({main: events.get(main, [])}, first_t).get(main, dict.fromkeys(STEPS, 0.0))
    return mine, total, len(events)


def clean(path, root):
    for c in os.listdir(root) if os.path.isdir(root) else ():
        subprocess.run([path, "--root", root, "delete", "--force", c], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    bench.reap_orphans()


def pkg_dirs_of(path):
    """Where the runtime's code lives: the launcher's interpreter's prefix,
    then its own sys.path entries (for an ocirun launcher), else nothing."""
    dirs = []
    try:
        with open(path, "rb") as f:
            head = f.read(4096).decode(errors="replace")
    except OSError:
        return dirs
    if head.startswith("#!") and "ocirun" in head:
        py = head.split("\n", 1)[0].split()[-1]
        dirs.append(os.path.dirname(os.path.dirname(os.path.realpath(py))) + "/lib")
        dirs += re.findall(r"'(/[^']+)'", head)
    return dirs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--verb", choices=("run", "create", "exec"), default="run")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--ocirun", default=shutil.which("ocirun"))
    p.add_argument("--runc", default=shutil.which("runc"))
    a = p.parse_args(argv)
    if os.geteuid() != 0 or not shutil.which("strace"):
        sys.exit("where: run as root, with strace installed")
    tmp = tempfile.mkdtemp(prefix="where-")
    base = tempfile.mkdtemp(prefix="where-", dir="/run")
    bundles = bench.make_bundles(tmp)
    runtimes = [(n, path) for n, path in (("ocirun", a.ocirun), ("runc", a.runc)) if path]
    results = {}  # (name, view) -> [per-run dicts]
    try:
        for i in range(a.repeats):
            for name, path in runtimes:  # alternating, as bench.py
                root = os.path.join(base, name)
                cid = f"where-{os.getpid()}-{i}"
                q = subprocess.DEVNULL
                if a.verb == "exec":
                    sleeper = f"where-{os.getpid()}-s{i}"
                    subprocess.run([path, "--root", root, "run", "-d", "--bundle", bundles["sleep"], sleeper],
                                   stdin=q, stdout=q, stderr=q, check=True, timeout=60)
                    args = ["exec", sleeper, "/bin/true"]
                elif a.verb == "create":
                    args = ["create", "--bundle", bundles["sleep"], cid]
                else:
                    args = ["run", "--bundle", bundles["true"], cid]
                mine, total, nproc = trace_once(path, root, args, bundles["true"].rsplit("/", 1)[0],
                                                pkg_dirs_of(path), tmp)
                results.setdefault((name, "main"), []).append(mine)
                results.setdefault((name, "all"), []).append(total)
                results.setdefault((name, "nproc"), []).append(nproc)
                clean(path, root)
    finally:
        for name, path in runtimes:
            clean(path, os.path.join(base, name))
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
    print(table(a.verb, runtimes, results, a.repeats))
    return 0


def table(verb, runtimes, results, repeats):
    names = [n for n, _ in runtimes]
    head = " | ".join(f"{n} main | {n} all" for n in names)
    lines = [f"`{verb}` under strace -f (ms, medians of {repeats}; main = the process the caller waits "
             f"for, all = every process summed)", "",
             f"| step | {head} |", "|---|" + "---:|" * (2 * len(names))]

    def med(name, view, step):
        return statistics.median(r[step] for r in results[(name, view)]) * 1000

    for step in STEPS + ("total",):
        cells = []
        for n in names:
            for view in ("main", "all"):
                if step == "total":
                    cells.append(f"{statistics.median(sum(r.values()) for r in results[(n, view)]) * 1000:.1f}")
                else:
                    cells.append(f"{med(n, view, step):.1f}")
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    procs = ", ".join(f"{n} {statistics.median(results[(n, 'nproc')]):.0f}" for n in names)
    lines.append(f"\nprocesses and threads (median): {procs}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
