"""Validate config.json, state and features documents against ocirun's JSON Schemas.

The schemas live in `schemas/` (draft-04, written from the runtime-spec text and
proven by tests to judge documents exactly like the spec's published schemas).
They check structure and types only; cross-field rules are in spec/validate.py.

jsonschema is imported lazily: importing it takes about 0.1 s and most commands
(state, kill, delete) never need it.
"""

from ocirun.errors import InvalidSpec

_ID_BASE = "https://ocirun.invalid/schemas/"
_MAX_REPR = 60
_MAX_MESSAGE = 240

_validators = {}  # schema file name -> Draft4Validator, built on first use


def schema_dir():
    """The directory holding our schemas: installed package data first, then the repo checkout."""
    from pathlib import Path

    here = Path(__file__).resolve()
    for candidate in (here.parent.parent / "schemas", here.parents[2] / "schemas"):
        if (candidate / "config.json").is_file():
            return candidate
    raise FileNotFoundError(f"ocirun schemas not found next to {here.parent.parent}")


def _registry(directory):
    import json

    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    resources = []
    for path in sorted(directory.glob("*.json")):
        contents = json.loads(path.read_text())
        resource = Resource.from_contents(contents, default_specification=DRAFT4)
        resources.append((contents.get("id", _ID_BASE + path.name), resource))
    return Registry().with_resources(resources)


def _inline(schema, resolver):
    """Copy of `schema` with every $ref replaced by its target (draft-04: a $ref's siblings are
    ignored). Our schemas are not recursive, so this ends; validating the result skips the
    per-$ref registry lookups, which made validation about three times slower."""
    ref = schema.get("$ref")
    if ref is not None:
        resolved = resolver.lookup(ref)
        return _inline(resolved.contents, resolved.resolver)
    out = {}
    for key, value in schema.items():
        if key in ("id", "$schema", "definitions"):
            continue
        if key in ("properties", "patternProperties"):
            value = {name: _inline(sub, resolver) for name, sub in value.items()}
        elif key in ("allOf", "anyOf", "oneOf") or (key == "items" and isinstance(value, list)):
            value = [_inline(sub, resolver) for sub in value]
        elif key in ("items", "additionalProperties", "additionalItems", "not") and isinstance(value, dict):
            value = _inline(value, resolver)
        out[key] = value
    return out


def validator(name):
    """The cached Draft4Validator for schemas/<name> ('config.json', 'state.json', 'features.json')."""
    found = _validators.get(name)
    if found is None:
        from jsonschema import Draft4Validator

        registry = _registry(schema_dir())
        uri = _ID_BASE + name
        found = Draft4Validator(_inline(registry.contents(uri), registry.resolver(base_uri=uri)))
        _validators[name] = found
    return found


def json_path(parts):
    """['linux', 'namespaces', 2, 'type'] -> 'linux.namespaces[2].type'; keys that are not
    plain words (sysctl names, annotation keys) are quoted: 'linux.sysctl["net.ipv4.ip_forward"]'."""
    import json

    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _short(value):
    text = repr(value)
    if len(text) > _MAX_REPR:
        text = text[: _MAX_REPR - 3] + "..."
    return text


def _message(error):
    """jsonschema's message, with a long offending value cut down and kept on one line."""
    message = error.message
    full = repr(error.instance)
    if len(full) > _MAX_REPR and full in message:
        message = message.replace(full, _short(error.instance), 1)
    message = message.replace("\r", " ").replace("\n", " ")
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return message


def _check(name, document, source):
    from jsonschema.exceptions import best_match

    error = best_match(validator(name).iter_errors(document))
    if error is not None:
        raise InvalidSpec(json_path(error.absolute_path), _message(error), source=source)


def validate_config(config):
    """Raise InvalidSpec(path, message) for the most relevant schema error in a config.json dict."""
    _check("config.json", config, "config.json")


def validate_state(state):
    """Raise InvalidSpec(path, message, source='state') if a state document breaks runtime.md#runtimeState."""
    _check("state.json", state, "state")


def validate_features(features):
    """Raise InvalidSpec(path, message, source='features') if a features document breaks features.md."""
    _check("features.json", features, "features")
