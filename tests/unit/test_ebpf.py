"""Device rules → kernel v1 semantics (devices.py) → eBPF program (ebpf.py), without a kernel.

The program is run by a small interpreter of the instructions ebpf.py emits
and must decide every request exactly as the v1 permission check does on the
emulated state. tests/integration/test_ebpf_devices.py checks the same
against the real kernel (v1 devices.list, and open(2) under the program).
"""
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocirun.cgroups import devices as dv
from ocirun.cgroups import ebpf
from ocirun.errors import InvalidSpec

R, W, M = dv.READ, dv.WRITE, dv.MKNOD


# -- an interpreter for the instruction subset ebpf.py uses ---------------------------------


def run_program(code, kind, major, minor, access):
    """Execute the program on a bpf_cgroup_dev_ctx; returns r0. Fails on anything unexpected."""
    assert len(code) % 8 == 0 and code
    insns = [struct.unpack_from("<BBhi", code, i) for i in range(0, len(code), 8)]
    ctx = struct.pack("<III", (access << 16) | {"b": 1, "c": 2}[kind], major, minor)
    regs = [None] * 11
    regs[1] = "ctx"
    pc, steps = 0, 0
    mask64 = (1 << 64) - 1
    while True:
        steps += 1
        assert steps <= len(insns), "a loop, or a jump backwards"
        assert 0 <= pc < len(insns), f"jumped outside the program to {pc}"
        code_, regs_byte, off, imm = insns[pc]
        dst, src = regs_byte & 0xF, regs_byte >> 4
        pc += 1
        if code_ == ebpf.LDX_W:
            assert regs[src] == "ctx" and off in (0, 4, 8)
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code_ == ebpf.MOV64_X:
            assert regs[src] is not None, f"r{src} read before it was set"
            regs[dst] = regs[src]
        elif code_ == ebpf.MOV64_K:
            regs[dst] = imm & mask64
        elif code_ == ebpf.AND64_K:
            regs[dst] &= imm & mask64  # imm is sign-extended to 64 bits
        elif code_ == ebpf.RSH64_K:
            regs[dst] >>= imm
        elif code_ in (ebpf.JNE_K, ebpf.JEQ_K):
            assert off >= 0
            taken = regs[dst] != (imm & mask64) if code_ == ebpf.JNE_K else regs[dst] == (imm & mask64)
            if taken:
                pc += off
        elif code_ == ebpf.JNE32_K:
            assert off >= 0
            if (regs[dst] & 0xFFFFFFFF) != (imm & 0xFFFFFFFF):
                pc += off
        elif code_ == ebpf.EXIT:
            assert regs[0] in (0, 1)
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {code_:#x}")


# -- strategies --------------------------------------------------------------------------------

numbers = st.one_of(st.none(), st.sampled_from([0, 1, 3, 5, 7, 136, 4095, 1 << 20, (1 << 32) - 1]))
accesses = st.sampled_from(["r", "w", "m", "rw", "rm", "wm", "rwm", "mr", "wr"])
rules = st.lists(st.fixed_dictionaries(
    {"allow": st.booleans()},
    optional={"type": st.sampled_from(["a", "b", "c"]), "major": numbers, "minor": numbers, "access": accesses}),
    max_size=8)
requests = st.tuples(st.sampled_from(["b", "c"]), st.sampled_from([0, 1, 5, 136, 4095, (1 << 32) - 1]),
                     st.sampled_from([0, 1, 3, 5, 7, 1 << 20, (1 << 32) - 1]),
                     st.sampled_from([R, W, M, R | W, R | M, W | M, R | W | M]))


def kernel_allows(state, kind, major, minor, access):
    """The v1 kernel's permission check (devcgroup_legacy_check_permission) for one request."""
    for (k, ma, mi), mask in state.exceptions.items():
        if k != kind or (ma is not None and ma != major) or (mi is not None and mi != minor):
            continue
        if state.allow_all:
            if access & mask:  # any overlap with a deny exception refuses
                return False
        elif not access & ~mask:  # one allow exception must cover it all
            return True
    return state.allow_all


@settings(max_examples=250, deadline=None)
@given(rules, st.lists(requests, min_size=1, max_size=12))
def test_program_decides_like_the_v1_kernel_check(rule_list, reqs):
    state = dv.emulate(rule_list)
    code = ebpf.program(state)
    for kind, major, minor, access in reqs:
        want = kernel_allows(state, kind, major, minor, access)
        assert run_program(code, kind, major, minor, access) == int(want), (state, kind, major, minor, access)


def sequential_kernel(rule_list):
    """An independent model written like the kernel's devcgroup code: a list of
    exception structs, walked in order for add/remove (exact-key match)."""
    behavior_allow, excs = False, []
    for r in rule_list:
        kind = r.get("type") or "a"
        acc = 0
        for c in r.get("access") or "rwm":
            acc |= {"r": R, "w": W, "m": M}[c]
        ma = r.get("major")
        mi = r.get("minor")
        ma = None if ma in (None, -1) else ma
        mi = None if mi in (None, -1) else mi
        if kind == "a":
            behavior_allow, excs = r["allow"], []
            continue
        adding = r["allow"] != behavior_allow
        for e in excs:
            if e[0] == kind and e[1] == ma and e[2] == mi:
                if adding:
                    e[3] |= acc
                else:
                    e[3] &= ~acc
                break
        else:
            if adding:
                excs.append([kind, ma, mi, acc])
        excs = [e for e in excs if e[3]]
    return behavior_allow, [tuple(e) for e in excs]


@settings(max_examples=200, deadline=None)
@given(rules)
def test_emulation_matches_an_independent_model(rule_list):
    allow, excs = sequential_kernel(rule_list)
    state = dv.emulate(rule_list)
    assert state.allow_all == allow
    assert [(k, ma, mi, m) for (k, ma, mi), m in state.exceptions.items()] == excs


# -- the semantics, by example ---------------------------------------------------------------------

DENY_ALL = {"allow": False, "access": "rwm"}


def c(major, minor, access="rwm", allow=True):
    return {"allow": allow, "type": "c", "major": major, "minor": minor, "access": access}


def test_only_allowed_devices_open():
    state = dv.emulate([DENY_ALL, c(1, 3)])
    code = ebpf.program(state)
    assert run_program(code, "c", 1, 3, R | W) == 1
    assert run_program(code, "c", 1, 5, R) == 0  # /dev/zero
    assert run_program(code, "b", 1, 3, R) == 0  # same numbers, other type


def test_access_must_be_covered_by_one_rule():
    state = dv.emulate([DENY_ALL, c(1, 5, "r"), c(1, None, "w")])
    code = ebpf.program(state)
    assert run_program(code, "c", 1, 5, R) == 1
    assert run_program(code, "c", 1, 5, W) == 1
    assert run_program(code, "c", 1, 5, R | W) == 0  # as the v1 kernel: no single exception has rw


def test_allow_all_with_denied_exceptions():
    state = dv.emulate([{"allow": True}, c(1, 5, "w", allow=False)])
    assert state.allow_all and state.lines() == ["a *:* rwm"]
    code = ebpf.program(state)
    assert run_program(code, "c", 1, 5, R) == 1
    assert run_program(code, "c", 1, 5, R | W) == 0  # any overlap refuses
    assert run_program(code, "c", 1, 3, R | W) == 1


def test_a_deny_cannot_punch_a_hole_in_a_wildcard_allow():
    """As the v1 kernel (and runc on v2): the deny only removes an exactly matching exception."""
    state = dv.emulate([DENY_ALL, {"allow": True, "type": "c", "access": "rwm"}, c(1, 5, allow=False)])
    assert state.lines() == ["c *:* rwm"]
    assert run_program(ebpf.program(state), "c", 1, 5, R) == 1


def test_later_rules_merge_and_remove_access():
    state = dv.emulate([DENY_ALL, c(1, 3, "r"), c(1, 3, "wm"), c(1, 3, "m", allow=False),
                        c(1, 7), c(1, 7, allow=False)])
    assert state.lines() == ["c 1:3 rw"]


def test_an_a_rule_switches_mode_whatever_its_numbers():
    state = dv.emulate([c(1, 3), {"allow": True, "type": "a", "major": 1, "minor": 3, "access": "r"}])
    assert state.allow_all and not state.exceptions


def test_no_rules_is_deny_all():
    state = dv.emulate([])
    assert not state.allow_all and state.lines() == []
    assert run_program(ebpf.program(state), "c", 1, 3, R) == 0


def test_invalid_rules_name_the_entry():
    with pytest.raises(InvalidSpec) as e:
        dv.emulate([DENY_ALL, {"allow": True, "type": "x"}])
    assert e.value.path == "linux.resources.devices[1].type"
    with pytest.raises(InvalidSpec) as e:
        ebpf.program(dv.emulate([{"allow": "yes"}]))
    assert e.value.path == "linux.resources.devices[0].allow"


def test_numbers_beyond_32_bits_never_match():
    state = dv.emulate([DENY_ALL, c(1 << 32, 3)])
    code = ebpf.program(state)
    assert run_program(code, "c", 0, 3, R) == 0


def test_instruction_encoding():
    # mov r0, 1 ; exit
    assert ebpf.insn(ebpf.MOV64_K, 0, imm=1) == bytes([0xB7, 0, 0, 0, 1, 0, 0, 0])
    assert ebpf.insn(ebpf.LDX_W, 2, 1, 4) == bytes([0x61, 0x12, 4, 0, 0, 0, 0, 0])
    assert ebpf.insn(ebpf.JNE32_K, 5, off=3, imm=0xFFFFFFFF) == bytes([0x56, 5, 3, 0, 0xFF, 0xFF, 0xFF, 0xFF])
    assert ebpf.insn(ebpf.EXIT) == bytes([0x95, 0, 0, 0, 0, 0, 0, 0])


# -- devices.list parsing and the v1 transitions -------------------------------------------------


def test_parse_list_round_trip():
    state = dv.emulate([DENY_ALL, c(1, 3), c(136, None, "rw"), {"allow": True, "type": "b", "access": "m"}])
    text = "\n".join(state.lines()) + "\n"
    assert text == "c 1:3 rwm\nc 136:* rw\nb *:* m\n"
    assert dv.parse_list(text) == state
    assert dv.parse_list("a *:* rwm\n") is None
    assert dv.parse_list("") == dv.DeviceState()


def test_v1_writes_from_a_fresh_cgroup_switch_to_deny_all_first():
    target = dv.emulate([DENY_ALL, c(1, 3), c(1, 5, "r")])
    assert dv.v1_writes(target, "a *:* rwm\n") == [
        ("devices.deny", "a"), ("devices.allow", "c 1:3 rwm"), ("devices.allow", "c 1:5 r")]


def test_v1_writes_between_deny_all_states_are_only_the_difference():
    """An update never passes through "deny a": running containers keep their devices."""
    target = dv.emulate([DENY_ALL, c(1, 3), c(1, 5, "rw"), c(10, 200)])
    current = "c 1:3 rwm\nc 1:5 r\nc 1:7 rwm\n"
    assert dv.v1_writes(target, current) == [
        ("devices.allow", "c 1:5 w"), ("devices.allow", "c 10:200 rwm"), ("devices.deny", "c 1:7 rwm")]
    assert dv.v1_writes(target, "c 1:3 rwm\nc 1:5 rw\nc 10:200 rwm\n") == []


def test_v1_writes_to_allow_all():
    target = dv.emulate([{"allow": True}, c(1, 5, allow=False)])
    assert dv.v1_writes(target, "c 1:3 rwm\n") == [("devices.allow", "a"), ("devices.deny", "c 1:5 rwm")]


@settings(max_examples=200, deadline=None)
@given(rules, rules)
def test_v1_writes_reach_the_target_from_any_deny_all_state(first, second):
    """Applying the writes (with the kernel's own rules) to the first state gives the second."""
    start = dv.emulate([DENY_ALL] + first)
    target = dv.emulate(second)
    state = dv.emulate([DENY_ALL] + first)
    for name, value in dv.v1_writes(target, "\n".join(start.lines())):
        allow = name == "devices.allow"
        if value == "a":
            state.apply(allow, "a", None, None, dv.ALL)
            continue
        kind, nums, acc = value.split()
        ma, mi = nums.split(":")
        state.apply(allow, kind, None if ma == "*" else int(ma), None if mi == "*" else int(mi),
                    sum({"r": R, "w": W, "m": M}[x] for x in acc))
    assert state.allow_all == target.allow_all
    if not target.allow_all:
        assert dict(state.exceptions) == dict(target.exceptions)
