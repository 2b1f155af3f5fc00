"""cgroup v2 device filtering: a BPF_PROG_TYPE_CGROUP_DEVICE program.

cgroup v2 has no devices files; the kernel asks an eBPF program attached
to the cgroup instead. The program is generated from the same end state the
v1 controller would reach (devices.emulate), so the rules mean the same on
both. It reads struct bpf_cgroup_dev_ctx {u32 access_type (access << 16 |
type); u32 major; u32 minor} and returns 1 (allow) or 0 (deny):

    deny-all default:  allowed iff one exception matches type/major/minor
                       and its access covers the whole request
    allow-all default: denied iff one exception matches and shares any access bit

It is attached with BPF_F_ALLOW_MULTI (runc does the same); a replaced
program is detached only after its successor is attached, so there is never
a moment without a filter. The kernel frees the programs with the cgroup.
"""
import os
import struct

from ..errors import CgroupError, os_error
from .devices import ALL, emulate

# bpf(2) commands, program and attach types, flags (linux/bpf.h).
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2

# Device types in the context (BPF_DEVCG_DEV_*).
DEV_BLOCK, DEV_CHAR = 1, 2
_TYPES = {"b": DEV_BLOCK, "c": DEV_CHAR}

ATTR_SIZE = 128  # more than every bpf_attr member used here; the rest stays zero
LICENSE = b"Apache-2.0\0"
MAX_IDS = 64

# Opcodes (class | op | source).
LDX_W = 0x61        # BPF_LDX | BPF_MEM | BPF_W
MOV64_X = 0xBF      # BPF_ALU64 | BPF_MOV | BPF_X
MOV64_K = 0xB7      # BPF_ALU64 | BPF_MOV | BPF_K
AND64_K = 0x57      # BPF_ALU64 | BPF_AND | BPF_K
RSH64_K = 0x77      # BPF_ALU64 | BPF_RSH | BPF_K
JNE_K = 0x55        # BPF_JMP | BPF_JNE | BPF_K
JEQ_K = 0x15        # BPF_JMP | BPF_JEQ | BPF_K
JNE32_K = 0x56      # BPF_JMP32 | BPF_JNE | BPF_K: compares the low 32 bits (u32 device numbers)
EXIT = 0x95         # BPF_JMP | BPF_EXIT


def insn(code, dst=0, src=0, off=0, imm=0):
    """One struct bpf_insn: u8 code, u8 dst:4|src:4, s16 off, s32 imm (little endian)."""
    if imm >= 1 << 31:
        imm -= 1 << 32  # u32 constants travel as their s32 bit pattern
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _block(kind, major, minor, mask, allow_all):
    """Instructions testing one exception; every test jumps past the block when it fails."""
    tests = [(JNE_K, 3, _TYPES[kind])]
    if allow_all:
        tests.append("overlap")
    elif mask != ALL:
        tests.append("subset")
    if major is not None:
        tests.append((JNE32_K, 5, major))
    if minor is not None:
        tests.append((JNE32_K, 6, minor))
    # size: 1 per plain test, 3 per access test, 2 for the verdict
    size = sum(3 if isinstance(t, str) else 1 for t in tests) + 2
    out, used = [], 0
    for t in tests:
        if t == "subset":
            # r7 = access & ~mask; any bit left means the exception does not cover the request
            out += [insn(MOV64_X, 7, 4), insn(AND64_K, 7, imm=~mask & ALL)]
            used += 3
            out.append(insn(JNE_K, 7, off=size - used, imm=0))
        elif t == "overlap":
            out += [insn(MOV64_X, 7, 4), insn(AND64_K, 7, imm=mask)]
            used += 3
            out.append(insn(JEQ_K, 7, off=size - used, imm=0))
        else:
            code, reg, value = t
            used += 1
            out.append(insn(code, reg, off=size - used, imm=value))
    out += [insn(MOV64_K, 0, imm=0 if allow_all else 1), insn(EXIT)]
    return out


def program(state):
    """The instructions (bytes, 8 per instruction) for a devices.DeviceState."""
    out = [
        insn(LDX_W, 2, 1, 0),      # r2 = ctx->access_type
        insn(MOV64_X, 3, 2),
        insn(AND64_K, 3, imm=0xFFFF),  # r3 = device type
        insn(MOV64_X, 4, 2),
        insn(RSH64_K, 4, imm=16),  # r4 = requested access
        insn(LDX_W, 5, 1, 4),      # r5 = major
        insn(LDX_W, 6, 1, 8),      # r6 = minor
    ]
    for (kind, major, minor), mask in state.exceptions.items():
        if (major is not None and major >= 1 << 32) or (minor is not None and minor >= 1 << 32):
            continue  # no device has such a number: the exception can never match
        out += _block(kind, major, minor, mask, state.allow_all)
    out += [insn(MOV64_K, 0, imm=1 if state.allow_all else 0), insn(EXIT)]
    return b"".join(out)


# -- the kernel side ----------------------------------------------------------------------


def _bpf(cmd, attr, what, path):
    from ocirun import syscalls

    try:
        return syscalls.bpf(cmd, attr, ATTR_SIZE)
    except OSError as e:
        raise CgroupError(os_error(what, e, path), errno=e.errno, file=path) from None


def _addr(cdata):
    from ocirun._shim import ffi

    return int(ffi.cast("uintptr_t", cdata))


def load(code, path="", log_size=1 << 16):
    """BPF_PROG_LOAD; returns the program fd. On refusal, load again with a log to say why."""
    from ocirun._shim import ffi

    insns = ffi.new("char[]", code)
    lic = ffi.new("char[]", LICENSE)
    attr = ffi.new("char[]", ATTR_SIZE)
    ffi.memmove(attr, struct.pack("<IIQQ", BPF_PROG_TYPE_CGROUP_DEVICE, len(code) // 8,
                                  _addr(insns), _addr(lic)), 24)
    try:
        return _bpf(BPF_PROG_LOAD, attr, "load device filter for", path)
    except CgroupError as e:
        log = ffi.new("char[]", log_size)
        ffi.memmove(attr + 24, struct.pack("<IIQ", 1, log_size, _addr(log)), 16)
        try:
            os.close(_bpf(BPF_PROG_LOAD, attr, "load device filter for", path))
        except CgroupError:
            pass
        text = ffi.string(log).decode(errors="replace").strip()
        if text:
            e.args = (f"{e} (verifier: {text.splitlines()[-1]})",)
        raise


def query(cgroup_fd, path=""):
    """Ids of the device programs attached to the cgroup itself."""
    from ocirun._shim import ffi

    ids = ffi.new("uint32_t[]", MAX_IDS)
    attr = ffi.new("char[]", ATTR_SIZE)
    ffi.memmove(attr, struct.pack("<IIIIQI", cgroup_fd, BPF_CGROUP_DEVICE, 0, 0, _addr(ids), MAX_IDS), 28)
    _bpf(BPF_PROG_QUERY, attr, "query device filters of", path)
    count = struct.unpack_from("<I", ffi.buffer(attr, ATTR_SIZE), 24)[0]
    return [ids[i] for i in range(min(count, MAX_IDS))]


def attach(cgroup_fd, prog_fd, path=""):
    from ocirun._shim import ffi

    attr = ffi.new("char[]", ATTR_SIZE)
    ffi.memmove(attr, struct.pack("<IIII", cgroup_fd, prog_fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI), 16)
    _bpf(BPF_PROG_ATTACH, attr, "attach device filter to", path)


def detach(cgroup_fd, prog_id, path=""):
    """Detach the program with this id (gone already is fine)."""
    import errno

    from ocirun._shim import ffi

    attr = ffi.new("char[]", ATTR_SIZE)
    ffi.memmove(attr, struct.pack("<I", prog_id), 4)
    try:
        prog_fd = _bpf(BPF_PROG_GET_FD_BY_ID, attr, "find device filter of", path)
    except CgroupError as e:
        if e.errno == errno.ENOENT:
            return
        raise
    try:
        attr = ffi.new("char[]", ATTR_SIZE)
        ffi.memmove(attr, struct.pack("<III", cgroup_fd, prog_fd, BPF_CGROUP_DEVICE), 12)
        try:
            _bpf(BPF_PROG_DETACH, attr, "detach old device filter from", path)
        except CgroupError as e:
            if e.errno != errno.ENOENT:
                raise
    finally:
        os.close(prog_fd)


def set_devices(path, rules):
    """Filter device access in the cgroup2 directory `path` by linux.resources.devices `rules`."""
    code = program(emulate(rules))  # InvalidSpec before touching the kernel
    try:
        dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise CgroupError(os_error("open cgroup", e, path), errno=e.errno, file=path) from None
    try:
        old = query(dfd, path)
        prog_fd = load(code, path)
        try:
            attach(dfd, prog_fd, path)
        finally:
            os.close(prog_fd)
        for prog_id in old:
            detach(dfd, prog_id, path)
    finally:
        os.close(dfd)
