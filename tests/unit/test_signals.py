import re
import signal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocirun.errors import UsageError
from ocirun.signals import parse_signal, signal_name

RTMIN, RTMAX = int(signal.SIGRTMIN), int(signal.SIGRTMAX)

# The names runc 1.1.5 accepted in `runc kill <id> NAME` on this host (each
# also tried lower-case and without "SIG"), with their Linux numbers.
RUNC_NAMES = {
    "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5,
    "SIGABRT": 6, "SIGBUS": 7, "SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10,
    "SIGSEGV": 11, "SIGUSR2": 12, "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15,
    "SIGSTKFLT": 16, "SIGCHLD": 17, "SIGCONT": 18, "SIGSTOP": 19, "SIGTSTP": 20,
    "SIGTTIN": 21, "SIGTTOU": 22, "SIGURG": 23, "SIGXCPU": 24, "SIGXFSZ": 25,
    "SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGIO": 29, "SIGPWR": 30,
    "SIGSYS": 31,
}


def case_variants(name):
    return st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda ups: "".join(c.upper() if u else c.lower() for c, u in zip(name, ups))
    )


@given(st.sampled_from(sorted(RUNC_NAMES)).flatmap(
    lambda n: st.tuples(st.just(n), st.booleans(), case_variants(n))))
def test_every_runc_name_in_any_case_with_or_without_sig(case):
    name, strip, variant = case
    text = variant[3:] if strip else variant
    assert parse_signal(text) == RUNC_NAMES[name]


@pytest.mark.parametrize("text,num", [
    ("9", 9), ("15", 15), ("KILL", 9), ("SIGKILL", 9), ("sigterm", 15), ("term", 15),
    ("SigWinch", 28), ("+28", 28), ("028", 28), ("64", 64), ("1", 1), ("34", 34),
    ("32", 32),  # glibc-internal realtime signal: no name, but a valid number
])
def test_examples(text, num):
    assert parse_signal(text) == num


@pytest.mark.parametrize("text,num", [
    ("SIGIOT", 6), ("CLD", 17), ("poll", 29),
    ("RTMIN", RTMIN), ("SIGRTMIN", RTMIN), ("rtmin+3", RTMIN + 3),
    ("SIGRTMAX-2", RTMAX - 2), ("RTMAX", RTMAX), ("RTMAX-0", RTMAX), ("RTMIN+0", RTMIN),
    ("RTMIN+%d" % (RTMAX - RTMIN), RTMAX), ("RTMAX-%d" % (RTMAX - RTMIN), RTMIN),
])
def test_extensions_beyond_runc(text, num):
    """Aliases and realtime names: runc rejects them, util-linux kill(1) takes them."""
    assert parse_signal(text) == num


@pytest.mark.parametrize("text", [
    "SIGFOO", "foo", "", "SIG", "SIGSIGKILL", " 9", "9 ", "1_0", "0x9", "9.0", "\u0669",
    "SIGUNUSED", "SIGINFO", "SIGEMT", "KILL ", "RTMIN+", "RTMIN-1", "RTMAX+1",
    "RTMIN+%d" % (RTMAX - RTMIN + 1), "RTMAX-%d" % (RTMAX - RTMIN + 1), "RTMIN+-1",
    "RTMIN++1", "RTMIN+ 1", "RTMIN+\u0661",
])
def test_unknown_names_use_runc_wording(text):
    with pytest.raises(UsageError) as err:
        parse_signal(text)
    assert str(err.value) == f'unknown signal "{text}"'


@pytest.mark.parametrize("text", ["0", "-0", "65", "-1", "-9", "+0", "99999999999999999999"])
def test_numbers_are_range_checked(text):
    # runc sends these to kill(2) and gets EINVAL (0 even "succeeds"); we refuse.
    with pytest.raises(UsageError, match="^" + re.escape(f'unknown signal "{text}"')):
        parse_signal(text)


@given(st.integers(min_value=1, max_value=RTMAX), st.sampled_from(["", "+", "0", "00"]))
def test_every_number_round_trips(num, prefix):
    assert parse_signal(prefix + str(num)) == num


@given(st.integers(min_value=1, max_value=RTMAX), st.booleans(), st.booleans())
def test_every_canonical_name_round_trips(num, lower, strip):
    name = signal_name(num)
    if strip and name.startswith("SIG"):
        name = name[3:]
    assert parse_signal(name.lower() if lower else name) == num


def test_canonical_names():
    assert signal_name(9) == "SIGKILL"
    assert signal_name(6) == "SIGABRT"
    assert signal_name(29) == "SIGIO"
    assert signal_name(RTMIN) == "SIGRTMIN"
    assert signal_name(RTMIN + 1) == "SIGRTMIN+1"
    assert signal_name(RTMAX - 1) == "SIGRTMAX-1"
    assert signal_name(RTMAX) == "SIGRTMAX"
    for bad in (0, -1, RTMAX + 1):
        with pytest.raises(ValueError):
            signal_name(bad)


@given(st.text())
def test_random_text_parses_or_raises_usage_error(text):
    try:
        num = parse_signal(text)
    except UsageError as err:
        assert "unknown signal" in str(err)
    else:
        assert 1 <= num <= RTMAX


@given(st.from_regex(r"(?i)(sig)?(rtm(in|ax)|[a-z]{2,7})([+-][0-9]{1,3})?|[+-]?[0-9]{1,4}",
                     fullmatch=True))
def test_signal_like_text_parses_or_raises_usage_error(text):
    try:
        num = parse_signal(text)
    except UsageError:
        return
    assert 1 <= num <= RTMAX
