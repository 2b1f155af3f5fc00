"""Signal names and numbers, as `kill` takes them.

runc (1.1.5, checked by hand) accepts a decimal number (Go's Atoi: optional
sign, leading zeros, no spaces) or a name, case-insensitive, with or without
the "SIG" prefix, from the Linux list (SIGIO, SIGABRT, SIGCHLD; not the aliases
SIGPOLL, SIGIOT, SIGCLD and not realtime names). Anything else is
`unknown signal "<text as given>"`.

We accept a superset: the aliases and the realtime forms RTMIN, RTMIN+n,
RTMAX, RTMAX-n (the libc values, as util-linux kill(1) takes them). Unlike runc we
range-check numbers: runc passes 0, 65 or -1 straight to kill(2) and reports
EINVAL (or, for 0, silently succeeds); a number outside 1..SIGRTMAX is almost
always a typo, so we say so before touching the container.
"""

import _signal as signal  # the C module: `signal` would load enum (~8 ms at start-up)

from ocirun.errors import UsageError

_names = None  # "SIGKILL" -> 9, built on first use
ALIASES = ("SIGIOT", "SIGCLD", "SIGPOLL")  # accepted, never printed


def _table():
    global _names
    if _names is None:
        _names = {
            name: getattr(signal, name)
            for name in dir(signal)
            if name.startswith("SIG") and not name.startswith("SIG_")
            and name not in ("SIGRTMIN", "SIGRTMAX")
        }
    return _names


def _rt_range():
    # libc's SIGRTMIN (34 with glibc, which keeps 32 and 33) and SIGRTMAX (64).
    return int(signal.SIGRTMIN), int(signal.SIGRTMAX)


def _decimal(text):
    """Go's strconv.Atoi for ASCII input, or None. Python's int() would also
    take spaces, underscores and non-ASCII digits, which runc rejects."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits or not (digits.isascii() and digits.isdigit()):
        return None
    return int(text)


def _realtime(name):
    """'SIGRTMIN', 'SIGRTMIN+3', 'SIGRTMAX', 'SIGRTMAX-2' -> number, or None."""
    lo, hi = _rt_range()
    for base, value, sign in (("SIGRTMIN", lo, "+"), ("SIGRTMAX", hi, "-")):
        if not name.startswith(base):
            continue
        rest = name[len(base):]
        if not rest:
            return value
        if rest[0] != sign:
            return None
        offset = rest[1:]
        if not (offset.isascii() and offset.isdigit()):
            return None
        num = value + int(offset) if sign == "+" else value - int(offset)
        return num if lo <= num <= hi else None
    return None


def parse_signal(text: str) -> int:
    """Signal number for `text` ("9", "KILL", "SIGkill", "RTMIN+3").
    Raises UsageError('unknown signal "<text>"') otherwise."""
    num = _decimal(text)
    if num is not None:
        if 1 <= num <= _rt_range()[1]:
            return num
        raise UsageError(f'unknown signal "{text}" (numbers must be 1..{_rt_range()[1]})')
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    num = _table().get(name)
    if num is None:
        num = _realtime(name)
    if num is None:
        raise UsageError(f'unknown signal "{text}"')
    return num


def signal_name(num: int) -> str:
    """Canonical name for logs ("SIGKILL", "SIGRTMIN+3"); a decimal string for
    the glibc-internal 32 and 33. ValueError outside 1..SIGRTMAX."""
    lo, hi = _rt_range()
    if not 1 <= num <= hi:
        raise ValueError(f"signal number {num} out of range 1..{hi}")
    if num < lo:
        for name, n in _table().items():
            if n == num and name not in ALIASES:
                return name
        return str(num)
    if num == lo:
        return "SIGRTMIN"
    if num == hi:
        return "SIGRTMAX"
    # Same split as bash's `kill -l`: the lower half counts up from RTMIN.
    if num - lo <= hi - num:
        return f"SIGRTMIN+{num - lo}"
    return f"SIGRTMAX-{hi - num}"
