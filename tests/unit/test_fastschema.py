"""The fast validator `create` uses agrees with jsonschema on our schemas.

config.md, config-linux.md: whatever jsonschema (the reference) accepts or
rejects with schemas/, fastschema must too; otherwise `create` would accept
an invalid config or reject a valid one without saying why.
"""
import copy
import glob
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocirun.errors import InvalidSpec
from ocirun.spec import fastschema, schema

SHARED = os.environ.get("OCIRUN_SHARED") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))), "shared")


def _is_json(path):
    try:
        with open(path) as f:
            json.load(f)
        return True
    except ValueError:
        return False  # a vector of invalid JSON: the loader's business (test_loader.py)


VECTORS = [p for p in sorted(glob.glob(os.path.join(SHARED, "runtime-spec", "schema", "test", "*", "*", "*.json")))
           if _is_json(p)]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def reference(doc, kind="config"):
    try:
        getattr(schema, f"validate_{kind}")(doc)
        return True
    except InvalidSpec:
        return False


def seeds():
    out = []
    for path in VECTORS:
        if f"{os.sep}config{os.sep}" not in path:
            continue
        try:
            with open(path) as f:
                out.append(json.load(f))
        except ValueError:
            continue
    with open(os.path.join(REPO, "bundles", "busybox", "config.json")) as f:
        out.append(json.load(f))
    return out


SEEDS = seeds()


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: "/".join(p.split(os.sep)[-3:]))
def test_official_vectors(path):
    kind = path.split(os.sep)[-3]
    with open(path) as f:
        doc = json.load(f)
    assert fastschema.is_valid(doc, f"{kind}.json") == reference(doc, kind)


def paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from paths(v, prefix + (i,))


REPLACEMENTS = st.one_of(
    st.none(), st.booleans(), st.integers(-2**64, 2**65), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8), st.sampled_from(["", "foo", "RLIMIT_NOFILE", "pid", "c", "1MB", "SCMP_ACT_ALLOW"]),
    st.lists(st.integers(-1, 5), max_size=3), st.dictionaries(st.sampled_from(["a", "type", "path"]),
                                                             st.integers(0, 3), max_size=2),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.data())
def test_mutations_agree(seed, data):
    doc = copy.deepcopy(seed)
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(list(paths(doc))))
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if not where:
            continue
        parent = doc
        for k in where[:-1]:
            parent = parent[k]
        key = where[-1]
        if action == "delete":
            del parent[key]
        elif action == "add" and isinstance(parent[key], dict):
            parent[key][data.draw(st.sampled_from(["x", "type", "path", "options"]))] = data.draw(REPLACEMENTS)
        else:
            parent[key] = data.draw(REPLACEMENTS)
    assert fastschema.is_valid(doc) == reference(doc)


PATTERN_TEXT = st.text(alphabet="RLIMIT_CAPNOFbcpuxMB:KG0123456789-, \n\t.", max_size=14)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(sorted(fastschema.PATTERNS)), st.one_of(PATTERN_TEXT, st.text(max_size=6)))
def test_pattern_predicates_match_re(pattern, text):
    """Each hand-written pattern predicate is exactly re.search (jsonschema's rule)."""
    import re

    assert fastschema.PATTERNS[pattern](text) == (re.search(pattern, text) is not None)


def test_every_schema_pattern_has_a_predicate():
    """So a valid create never imports re (see test_imports.py)."""
    found = set()

    def walk(x):
        if isinstance(x, dict):
            if isinstance(x.get("pattern"), str):
                found.add(x["pattern"])
            found.update(k for k in (x.get("patternProperties") or {}))
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    for name in os.listdir(fastschema.schema_dir()):
        with open(os.path.join(fastschema.schema_dir(), name)) as f:
            walk(json.load(f))
    assert found <= set(fastschema.PATTERNS), sorted(found - set(fastschema.PATTERNS))
