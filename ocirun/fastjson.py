"""JSON through CPython's C accelerator (_json) directly.

`import json` pulls in re and enum (~15 ms at start-up); state, kill,
delete and list only need to read and write our own state file and print
small objects, which the C scanner and encoder do alone.
"""
import _json


class _Ctx:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = None

    @staticmethod
    def parse_constant(name):
        raise ValueError(f"invalid constant {name}")


_scan = _json.make_scanner(_Ctx)
_WS = " \t\n\r"


def loads(s):
    if isinstance(s, (bytes, bytearray)):
        s = s.decode()
    i = len(s) - len(s.lstrip(_WS))
    try:
        obj, end = _scan(s, i)
    except StopIteration as e:
        raise ValueError(f"invalid JSON at offset {e.value}") from None
    if s[end:].strip(_WS):
        raise ValueError(f"extra data at offset {end}")
    return obj


def _default(o):
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


_compact = _json.make_encoder(None, _default, _json.encode_basestring, None, ":", ",", False, False, False)


def dumps(obj):
    """Compact, UTF-8 friendly (non-ASCII kept as is)."""
    return "".join(_compact(obj, 0))


def dumps_indent(obj, indent="  ", level=0):
    """Like json.dumps(obj, indent=2) (Go's MarshalIndent shape, as runc prints)."""
    pad = indent * (level + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{pad}{_json.encode_basestring(str(k))}: {dumps_indent(v, indent, level + 1)}"
                 for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent * level + "}"
    if isinstance(obj, (list, tuple)):
        if not obj:
            return "[]"
        items = [pad + dumps_indent(v, indent, level + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + indent * level + "]"
    return dumps(obj)
