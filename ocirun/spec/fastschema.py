"""A small draft-04 validator for our own schemas: compiled once into nested
closures, it only answers "valid or not", fast and without jsonschema.

`create` runs this on every config; only when it says "invalid" is
jsonschema imported to explain the failure precisely (spec/schema.py).
Tests check it agrees with jsonschema on generated configs. It knows the
keywords draft-04 defines for validation; "format" is ignored, as
jsonschema does by default.
"""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)

from ocirun import fastjson


def _upper_word(s, prefix, extra=""):
    rest = s[len(prefix):]
    return s.startswith(prefix) and rest != "" and all("A" <= c <= "Z" or c in extra for c in rest)


def _anchored(pred):
    """re.search semantics of ^...$: `$` also matches before one final newline."""
    return lambda s: pred(s[:-1] if s.endswith("\n") else s)


# Our schemas' patterns as plain predicates: `re` (with enum, functools...)
# is most of create's import time. tests/unit/test_fastschema.py checks each
# against re; a pattern not listed here falls back to re.
PATTERNS = {
    "^RLIMIT_[A-Z]+$": _anchored(lambda s: _upper_word(s, "RLIMIT_")),
    "^CAP_[A-Z_]+$": _anchored(lambda s: _upper_word(s, "CAP_", "_")),
    "^[bcpu]$": _anchored(lambda s: s in ("b", "c", "p", "u")),
    "^[-0-9, ]*$": _anchored(lambda s: all(c in "-0123456789, " for c in s)),
    "^[1-9][0-9]*[KMG]B$": _anchored(lambda s: len(s) >= 3 and s[-1] == "B" and s[-2] in "KMG"
                                     and s[0] in "123456789" and s[:-2].isascii() and s[:-2].isdigit()),
    "^MB:[^\\n]*$": _anchored(lambda s: s.startswith("MB:") and "\n" not in s),
    ".": lambda s: any(c != "\n" for c in s),  # unanchored: any character but newline
}


def _regex(pattern):
    import re

    rx = re.compile(pattern)
    return lambda s: rx.search(s) is not None

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _equal(a, b):
    """JSON equality: 1 == 1.0, but True != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


class Compiler:
    def __init__(self, directory):
        self.directory = directory
        self.docs = {}
        self.cache = {}  # (file, pointer) -> check

    def doc(self, name):
        if name not in self.docs:
            with open(os.path.join(self.directory, name), "rb") as f:
                self.docs[name] = fastjson.loads(f.read())
        return self.docs[name]

    def ref(self, base, ref):
        name, _, pointer = ref.partition("#")
        name = os.path.basename(name) if name else base
        key = (name, pointer)
        if key not in self.cache:
            self.cache[key] = None  # recursion guard: filled below
            node = self.doc(name)
            for part in [p for p in pointer.split("/") if p]:
                node = node[part.replace("~1", "/").replace("~0", "~")]
            self.cache[key] = self.compile(node, name)
        return lambda v: self.cache[key](v)

    def lazy(self, s, base):
        """Compile on first use: most of the schema (other platforms, rare
        fields) is never reached by a given config."""
        box = []

        def check(v):
            if not box:
                box.append(self.compile(s, base))
            return box[0](v)

        return check

    def compile(self, s, base):
        if "$ref" in s:
            return self.ref(base, s["$ref"])
        checks = []
        add = checks.append
        if "type" in s:
            types = s["type"] if isinstance(s["type"], list) else [s["type"]]
            fns = [_TYPES[t] for t in types]
            add(lambda v: any(f(v) for f in fns))
        if "enum" in s:
            options = s["enum"]
            add(lambda v: any(_equal(v, o) for o in options))
        for kw in ("allOf", "anyOf", "oneOf"):
            if kw in s:
                subs = [self.compile(x, base) for x in s[kw]]
                if kw == "allOf":
                    add(lambda v, subs=subs: all(f(v) for f in subs))
                elif kw == "anyOf":
                    add(lambda v, subs=subs: any(f(v) for f in subs))
                else:
                    add(lambda v, subs=subs: sum(1 for f in subs if f(v)) == 1)
        if "not" in s:
            sub = self.compile(s["not"], base)
            add(lambda v: not sub(v))
        self._numbers(s, add)
        self._strings(s, add)
        self._arrays(s, add, base)
        self._objects(s, add, base)
        if not checks:
            return lambda v: True
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(c(v) for c in checks)

    def _numbers(self, s, add):
        def num(v):
            return isinstance(v, (int, float)) and not isinstance(v, bool)

        if "minimum" in s:
            m, ex = s["minimum"], s.get("exclusiveMinimum", False)
            add(lambda v, m=m, ex=ex: not num(v) or (v > m if ex else v >= m))
        if "maximum" in s:
            m, ex = s["maximum"], s.get("exclusiveMaximum", False)
            add(lambda v, m=m, ex=ex: not num(v) or (v < m if ex else v <= m))
        if "multipleOf" in s:
            m = s["multipleOf"]
            add(lambda v: not num(v) or (v / m) == int(v / m))

    def _strings(self, s, add):
        if "minLength" in s:
            n = s["minLength"]
            add(lambda v, n=n: not isinstance(v, str) or len(v) >= n)
        if "maxLength" in s:
            n = s["maxLength"]
            add(lambda v, n=n: not isinstance(v, str) or len(v) <= n)
        if "pattern" in s:
            match = PATTERNS.get(s["pattern"]) or _regex(s["pattern"])
            add(lambda v: not isinstance(v, str) or match(v))

    def _arrays(self, s, add, base):
        if "items" in s:
            if isinstance(s["items"], list):
                subs = [self.compile(x, base) for x in s["items"]]
                extra = s.get("additionalItems", True)
                more = self.compile(extra, base) if isinstance(extra, dict) else (lambda v: extra)
                add(lambda v: not isinstance(v, list) or (
                    all(f(x) for f, x in zip(subs, v)) and all(more(x) for x in v[len(subs):])))
            else:
                sub = self.compile(s["items"], base)
                add(lambda v: not isinstance(v, list) or all(sub(x) for x in v))
        if "minItems" in s:
            n = s["minItems"]
            add(lambda v, n=n: not isinstance(v, list) or len(v) >= n)
        if "maxItems" in s:
            n = s["maxItems"]
            add(lambda v, n=n: not isinstance(v, list) or len(v) <= n)
        if s.get("uniqueItems"):
            add(lambda v: not isinstance(v, list) or all(
                not _equal(v[i], v[j]) for i in range(len(v)) for j in range(i)))

    def _objects(self, s, add, base):
        if "required" in s:
            req = s["required"]
            add(lambda v: not isinstance(v, dict) or all(k in v for k in req))
        if "minProperties" in s:
            n = s["minProperties"]
            add(lambda v, n=n: not isinstance(v, dict) or len(v) >= n)
        if "maxProperties" in s:
            n = s["maxProperties"]
            add(lambda v, n=n: not isinstance(v, dict) or len(v) <= n)
        props = {k: self.lazy(x, base) for k, x in (s.get("properties") or {}).items()}
        pats = [(PATTERNS.get(p) or _regex(p), self.compile(x, base))
                for p, x in (s.get("patternProperties") or {}).items()]
        extra = s.get("additionalProperties", True)
        more = self.compile(extra, base) if isinstance(extra, dict) else None
        if props or pats or extra is not True:
            def obj(v):
                if not isinstance(v, dict):
                    return True
                for k, x in v.items():
                    matched = False
                    if k in props:
                        matched = True
                        if not props[k](x):
                            return False
                    for match, f in pats:
                        if match(k):
                            matched = True
                            if not f(x):
                                return False
                    if not matched:
                        if extra is False:
                            return False
                        if more is not None and not more(x):
                            return False
                return True

            add(obj)
        if "dependencies" in s:
            deps = {}
            for k, d in s["dependencies"].items():
                deps[k] = (lambda v, d=d: all(x in v for x in d)) if isinstance(d, list) else self.compile(d, base)
            add(lambda v: not isinstance(v, dict) or all(f(v) for k, f in deps.items() if k in v))


_compiled = {}


def schema_dir():
    """Installed package data (ocirun/schemas) first, then the checkout's schemas/."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for d in (os.path.join(here, "schemas"), os.path.join(os.path.dirname(here), "schemas")):
        if os.path.isfile(os.path.join(d, "config.json")):
            return d
    raise FileNotFoundError(f"ocirun schemas not found next to {here}")


def is_valid(doc, name="config.json", directory=None):
    if directory is None:
        directory = schema_dir()
    key = (directory, name)
    if key not in _compiled:
        c = Compiler(directory)
        _compiled[key] = c.compile(c.doc(name), name)
    return _compiled[key](doc)
