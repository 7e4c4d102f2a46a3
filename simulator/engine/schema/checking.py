"""Schema checking: whether a request's JSON schema is one we can and should honour.

`check_schema()` raises a `SchemaError` whose message starts with the JSON path of
the fault. It is not a metaschema validator: it checks what generation relies on. The
helpers that read a schema's keywords the same way everywhere ($refs, number bounds)
live here too, for the value checks and the generator.
"""

from __future__ import annotations

import json
import math
from typing import Any, NamedTuple
from urllib.parse import unquote

from simulator.engine.schema.limits import MAX_GENERATED_ITEMS, MAX_GENERATED_LENGTH
from simulator.engine.schema.patterns import matches, problem


class SchemaError(ValueError):
    """A schema we cannot or should not accept; the message starts with its JSON path."""


TYPES = ("string", "integer", "number", "boolean", "null", "object", "array")
# Keywords whose values are numbers; a schema with one and no "type" describes numbers.
NUMBER_KEYWORDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_COUNTS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
_COUNTS += ("minContains", "maxContains")


def check_schema(schema: Any, path: str = "parameters", *, check_root_object: bool = False) -> None:
    """Raise SchemaError for a schema we can't honour or that no value satisfies.

    Not a metaschema validator: it checks what generation relies on (types, enums,
    bounds, $refs, regexes) and contradictions such as minItems > maxItems. With
    `check_root_object` the root must describe an object (a missing "type" is taken
    as "object"), as tool parameters must.
    """
    if not isinstance(schema, dict):
        raise SchemaError(f"{path}: schema must be a JSON object, got {json_type(schema)}")
    if check_root_object and "type" in schema and schema["type"] != "object":
        raise SchemaError(f'{path}: schema must be of type "object", got {json.dumps(schema["type"])}')
    _check(schema, schema, path)


def json_type(value: Any) -> str:
    """A JSON value's type as JSON Schema names it ("number" for integers too)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def is_number(value: Any) -> bool:
    """Whether a value is a JSON number (true and false are not)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check(node: Any, root: dict, path: str) -> None:
    if isinstance(node, bool):
        return
    if not isinstance(node, dict):
        raise SchemaError(f"{path}: schema must be a JSON object or boolean, got {json_type(node)}")
    if "$ref" in node:
        if not isinstance(node["$ref"], str):
            raise SchemaError(f"{path}: $ref must be a string")
        _check_ref_chain(node, root, path)
    _check_type(node, path)
    if "enum" in node and (not isinstance(node["enum"], list) or not node["enum"]):
        raise SchemaError(f"{path}: enum must be a non-empty array")
    _check_numbers(node, path)
    _check_counts(node, path)
    if "pattern" in node:
        _check_regex(node["pattern"], f"{path}.pattern")
    if "format" in node and not isinstance(node["format"], str):
        raise SchemaError(f"{path}: format must be a string")
    _check_object(node, root, path)
    _check_subschemas(node, root, path)


def _check_ref_chain(node: dict, root: dict, path: str) -> None:
    """Resolve a $ref (its target is checked where it is defined) and refuse pure $ref cycles."""
    seen = [node]
    target = resolve(root, node["$ref"], path)
    while isinstance(target, dict) and isinstance(target.get("$ref"), str):
        if any(target is other for other in seen):
            raise SchemaError(f"{path}: $ref {node['$ref']!r} leads round a cycle of $refs to itself")
        seen.append(target)
        target = resolve(root, target["$ref"], path)


def _check_type(node: dict, path: str) -> None:
    if "type" not in node:
        return
    kinds = node["type"] if isinstance(node["type"], list) else [node["type"]]
    if not kinds:
        raise SchemaError(f"{path}: type must not be an empty array")
    for kind in kinds:
        if kind not in TYPES:
            raise SchemaError(f"{path}: unknown type {json.dumps(kind)}; expected one of {', '.join(TYPES)}")
    if len(set(kinds)) != len(kinds):
        raise SchemaError(f"{path}: type lists {json.dumps(node['type'])} with a repeat")


def _check_numbers(node: dict, path: str) -> None:
    for key in NUMBER_KEYWORDS:
        if key in node and not is_number(node[key]):
            raise SchemaError(f"{path}: {key} must be a number")
    if "multipleOf" in node and node["multipleOf"] <= 0:
        raise SchemaError(f"{path}: multipleOf must be greater than 0")
    lo, lo_open, hi, hi_open = bounds(node)
    if lo is not None and hi is not None and (lo > hi or (lo == hi and (lo_open or hi_open))):
        low = "exclusiveMinimum" if lo_open else "minimum"
        high = "exclusiveMaximum" if hi_open else "maximum"
        raise SchemaError(f"{path}: {low} {lo} leaves no number below {high} {hi}")
    if lo is None or hi is None or (node.get("type") != "integer" and "multipleOf" not in node):
        return
    step = node.get("multipleOf", 1)
    integer = node.get("type") == "integer"
    try:
        multiples = multiple_range(lo, lo_open, hi, hi_open, step, integer)
    except OverflowError:  # 1e300 / 1e-300: too many multiples to count
        raise SchemaError(f"{path}: multipleOf {step} is too small for the range {lo} to {hi}") from None
    if multiples is None:
        what = "integer" if integer else "number"
        raise SchemaError(f"{path}: no {what} that is a multiple of {step} lies between {lo} and {hi}")


def _check_counts(node: dict, path: str) -> None:
    for key in _COUNTS:
        if key in node and (not isinstance(node[key], int) or isinstance(node[key], bool) or node[key] < 0):
            raise SchemaError(f"{path}: {key} must be a non-negative integer")
    for low, high in (("minLength", "maxLength"), ("minItems", "maxItems"), ("minProperties", "maxProperties")):
        if low in node and high in node and node[low] > node[high]:
            raise SchemaError(f"{path}: {low} {node[low]} is greater than {high} {node[high]}")
    for key, most in _GENERATED_LIMITS.items():
        if node.get(key, 0) > most:
            raise SchemaError(f"{path}: {key} {node[key]} is more than a model generates (at most {most})")


_GENERATED_LIMITS = {"minLength": MAX_GENERATED_LENGTH} | dict.fromkeys(
    ("minItems", "minProperties", "minContains"), MAX_GENERATED_ITEMS
)


def _check_regex(pattern: Any, path: str) -> None:
    if not isinstance(pattern, str):
        raise SchemaError(f"{path}: must be a string")
    reason = problem(pattern)
    if reason is not None:
        shown = pattern if len(pattern) <= 80 else pattern[:80] + "…"
        raise SchemaError(f"{path}: invalid regular expression {shown!r} ({reason})")


def _check_object(node: dict, root: dict, path: str) -> None:
    required = node.get("required", [])
    if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
        raise SchemaError(f"{path}: required must be an array of strings")
    for key in ("properties", "patternProperties", "$defs", "definitions", "dependentRequired", "dependentSchemas"):
        if key in node and not isinstance(node[key], dict):
            raise SchemaError(f"{path}: {key} must be an object")
    for pattern in node.get("patternProperties", {}):
        _check_regex(pattern, f"{path}.patternProperties")
    if node.get("additionalProperties") is False:
        properties = node.get("properties", {})
        patterns = node.get("patternProperties", {})
        for name in required:
            if name not in properties and not any(matches(p, name, unreadable=False) for p in patterns):
                raise SchemaError(
                    f"{path}: required property {name!r} is not in properties and additionalProperties is false"
                )


def _check_subschemas(node: dict, root: dict, path: str) -> None:
    for key in ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas"):
        for name, sub in node.get(key, {}).items():
            _check(sub, root, f"{path}.{key}.{name}")
    for key in ("additionalProperties", "propertyNames", "contains", "not", "additionalItems", "if", "then", "else"):
        if key in node:
            _check(node[key], root, f"{path}.{key}")
    if "items" in node:
        if isinstance(node["items"], list):  # draft 7 tuple
            for index, sub in enumerate(node["items"]):
                _check(sub, root, f"{path}.items[{index}]")
        else:
            _check(node["items"], root, f"{path}.items")
    for key in ("prefixItems", "anyOf", "oneOf", "allOf"):
        if key not in node:
            continue
        if not isinstance(node[key], list) or not node[key]:
            raise SchemaError(f"{path}: {key} must be a non-empty array of schemas")
        for index, sub in enumerate(node[key]):
            _check(sub, root, f"{path}.{key}[{index}]")


# -- Reading a schema (shared with the value checks and the generator) ------------------


def resolve(root: Any, ref: str, path: str) -> Any:
    """The schema a local $ref ("#", "#/$defs/Name", any JSON pointer) points at."""
    if not ref.startswith("#") or (len(ref) > 1 and not ref.startswith("#/")):
        raise SchemaError(f"{path}: unsupported $ref {ref!r} (only local JSON pointers such as '#/$defs/Name')")
    node = root
    for escaped in ref[2:].split("/") if len(ref) > 1 else ():
        token = unquote(escaped).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise SchemaError(f"{path}: unresolvable $ref {ref!r}")
    if not isinstance(node, dict | bool):
        raise SchemaError(f"{path}: $ref {ref!r} does not point at a schema")
    return node


class Bounds(NamedTuple):
    """A number schema's bounds; None where it has none."""

    low: float | None
    low_exclusive: bool
    high: float | None
    high_exclusive: bool


def bounds(schema: dict) -> Bounds:
    """A number schema's bounds, the tighter of minimum and exclusiveMinimum (and maximum) winning."""
    lo, lo_open = schema.get("minimum"), False
    hi, hi_open = schema.get("maximum"), False
    low = schema.get("exclusiveMinimum")
    if is_number(low) and (lo is None or low >= lo):
        lo, lo_open = low, True
    high = schema.get("exclusiveMaximum")
    if is_number(high) and (hi is None or high <= hi):
        hi, hi_open = high, True
    return Bounds(lo, lo_open, hi, hi_open)


def multiple_range(
    lo: float, lo_open: bool, hi: float, hi_open: bool, step: float, integer: bool
) -> tuple[int, int] | None:
    """The k for which k * step lies in the bounds (None: no such k); `integer` keeps whole values."""
    if integer:
        lo = math.floor(lo) + 1 if lo_open and float(lo).is_integer() else math.ceil(lo)
        hi = math.ceil(hi) - 1 if hi_open and float(hi).is_integer() else math.floor(hi)
        lo_open = hi_open = False
    first, last = math.ceil(lo / step), math.floor(hi / step)
    if lo_open and first * step <= lo:
        first += 1
    if hi_open and last * step >= hi:
        last -= 1
    return (first, last) if first <= last else None
