"""Read a bundle's config.json and locate its root filesystem.

Only JSON syntax is checked here, with the C scanner (ocirun.fastjson, no
`import json`); the json module is imported only to explain a file that does
not parse. The schema and semantic checks come later (spec.schema,
spec.validate), so a bad file fails here with one plain line.
"""

import errno
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)
import stat

from ocirun.errors import InvalidSpec, OciError, SyscallError, describe, os_error

CONFIG_NAME = "config.json"
MAX_INPUT = 32 << 20  # far above any real config; bounds what one read may hold


def read_input(path, what):
    """The bytes of a regular file (of stdin for "-"), at most MAX_INPUT:
    /dev/zero, a FIFO or a huge file must not be read until memory runs out.
    OSError from the open is the caller's to word."""
    if path == "-":
        fd = 0
    else:
        # O_NONBLOCK: opening a FIFO must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if fd and stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, describe(errno.EISDIR), path)
        if fd and not stat.S_ISREG(mode):
            raise OciError(f"{what}: not a regular file")
        chunks, n = [], 0
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                return b"".join(chunks)
            n += len(b)
            if n > MAX_INPUT:
                raise OciError(f"{what}: larger than {MAX_INPUT >> 20} MiB")
            chunks.append(b)
    finally:
        if fd:
            os.close(fd)


def _reject_constant(name):
    # Python's json accepts NaN/Infinity; JSON (and runc) do not.
    raise ValueError(f"{name} is not valid JSON")


def load_bundle(bundle):
    """Return (config dict, absolute bundle path) for the bundle directory.

    The bundle path is made absolute lexically (os.path.abspath): symlinks in
    it are kept, so the state reports the path the caller gave.
    """
    path = os.path.abspath(bundle or ".")
    cfg = os.path.join(path, CONFIG_NAME)
    try:
        data = read_input(cfg, CONFIG_NAME)
    except FileNotFoundError:
        raise OciError(f"JSON specification file {CONFIG_NAME} not found") from None
    except NotADirectoryError:
        # <bundle> is a file: same answer as a missing config.json.
        raise OciError(f"JSON specification file {CONFIG_NAME} not found") from None
    except OSError as e:
        raise SyscallError("open", e.errno or errno.EIO, cfg) from None
    try:
        # The C scanner alone (no `import json`) for the common case; any
        # failure is parsed again by json below for its precise message.
        from ocirun import fastjson

        config = fastjson.loads(data)
    except (ValueError, RecursionError):
        config = _slow_loads(data)
    if not isinstance(config, dict):
        raise InvalidSpec("", "config must be a JSON object")
    if b"\\ud" in data or b"\\uD" in data:
        check_unicode(config)
    _strip_device_type_bits(config)
    return config, path


# S_IFCHR, S_IFBLK, S_IFIFO by linux.devices[].type.
_TYPE_BITS = {"c": 0o020000, "u": 0o020000, "b": 0o060000, "p": 0o010000}


def _strip_device_type_bits(config):
    """podman --privileged copies each host device's st_mode into fileMode,
    file type bits included (24960 = 0o60600 for a block device); runc uses
    only the permission bits. Drop type bits that name the device's own type,
    so the schema (permissions, 0-511) judges what is used."""
    linux = config.get("linux")
    devices = linux.get("devices") if isinstance(linux, dict) else None
    if not isinstance(devices, list):
        return
    for d in devices:
        if not isinstance(d, dict):
            continue
        t = d.get("type")  # any JSON type here: the schema judges it later
        mode, bits = d.get("fileMode"), _TYPE_BITS.get(t) if isinstance(t, str) else None
        if type(mode) is int and bits and mode > 0o777 and mode & 0o170000 == bits:
            d["fileMode"] = mode & 0o7777


def check_unicode(value, path=""):
    """JSON may escape a lone surrogate (\\ud800): a string no syscall can
    take. Name the first such field instead of failing later in an encode."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            raise InvalidSpec(path, "string is not valid Unicode (a lone surrogate)") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            check_unicode(k, path)
            check_unicode(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_unicode(v, f"{path}[{i}]")


def _slow_loads(data):
    import json

    try:
        return json.loads(data, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise InvalidSpec("", f"invalid JSON: {e.msg} (line {e.lineno} column {e.colno})") from None
    except UnicodeDecodeError as e:
        raise InvalidSpec("", f"invalid JSON: not UTF-8 text (byte {e.start})") from None
    except ValueError as e:  # NaN / Infinity
        raise InvalidSpec("", f"invalid JSON: {e}") from None
    except RecursionError:
        raise InvalidSpec("", "invalid JSON: nested too deeply") from None


def _realpath(p):
    """os.path.realpath of an existing path, as the kernel resolves it (one
    open and a readlink instead of an lstat per component, and no `os`);
    anything else (a missing component) in os.path.realpath itself."""
    try:
        fd = os.open(p, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        fd = None
    if fd is not None:
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
        finally:
            os.close(fd)
    return os.path.realpath(p)


def rootfs_path(config, bundle):
    """Absolute path of root.path (relative paths are relative to the bundle).

    It must exist and be a directory, and no component of root.path may be a
    symlink (runc: "invalid rootfs: not an absolute path, or a symlink");
    symlinks in the bundle path itself are allowed. Errors are InvalidSpec at
    `root.path` (`root` when it is missing).
    """
    root = config.get("root")
    if not isinstance(root, dict) or not isinstance(root.get("path"), str) or not root["path"]:
        raise InvalidSpec("root", "root must be specified")
    given = root["path"]
    if "\0" in given:
        raise InvalidSpec("root.path", "invalid rootfs: path contains a NUL byte")
    bundle = os.path.abspath(bundle)
    result = os.path.normpath(os.path.join(bundle, given))
    try:
        st = os.lstat(result)
    except OSError as e:
        raise InvalidSpec("root.path", f"invalid rootfs: {os_error('stat', e, result)}") from None
    # Compare the lexical and the resolved path, with the bundle part already
    # resolved: any difference is a symlink (or '..' through one) in root.path.
    # realpath() of the raw join follows 'x/..' through x as the kernel would.
    raw = os.path.join(_realpath(bundle), given)
    if stat.S_ISLNK(st.st_mode) or _realpath(raw) != os.path.normpath(raw):
        raise InvalidSpec("root.path", "invalid rootfs: not an absolute path, or a symlink")
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidSpec("root.path", f"invalid rootfs: {result}: not a directory")
    return result
