"""CPU and NUMA node lists ("0-3,7", the kernel's cpulist format): one parser
for process.execCPUAffinity, linux.memoryPolicy.nodes and the cpuset files.

Imports nothing: the container's init parses with it where nothing can be
imported.
"""


def ranges(text):
    """'0-3, 7' -> [(0, 3), (7, 7)]; blank -> []. ValueError if malformed.

    Items are separated by ',', each a number or first-last (ASCII digits,
    blanks allowed around each number), first <= last. Ranges stay pairs, so
    "0-4294967295" costs nothing; callers that need the numbers cap them.
    """
    out = []
    if not text.strip():
        return out
    for item in text.split(","):
        lo, sep, hi = (part.strip() for part in item.partition("-"))
        if not _number(lo) or (sep and not _number(hi)):
            raise ValueError(text)
        first = int(lo)
        last = int(hi) if sep else first
        if first > last:
            raise ValueError(text)
        out.append((first, last))
    return out


def _number(s):
    return s.isascii() and s.isdigit()


def numbers(text):
    """'0-2,4' -> [0, 1, 2, 4], for lists the kernel wrote (cpuset.cpus;
    None for a missing file): whatever is malformed is skipped."""
    out = []
    for item in (text or "").split(","):
        try:
            pairs = ranges(item)
        except ValueError:
            continue
        for first, last in pairs:
            out.extend(range(first, last + 1))
    return out
