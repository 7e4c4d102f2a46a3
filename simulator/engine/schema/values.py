"""Value checks: whether a JSON value conforms to a schema, as far as generation needs to know.

The generator draws a value, then `Conformance` checks it against the whole schema and
a failed value is drawn again. It is the subset of JSON Schema validation that
generation needs, judged as the validators clients use judge it (1 == 1.0, true != 1).
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from urllib.parse import urlsplit

from simulator.engine.schema.checking import bounds, is_number, json_type, resolve
from simulator.engine.schema.limits import MAX_DEPTH, WorkLimit
from simulator.engine.schema.patterns import matches


def json_equal(one: Any, two: Any) -> bool:
    """JSON equality: 1 == 1.0, but true != 1."""
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one is two
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(json_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(json_equal(one[key], two[key]) for key in one)
    if is_number(one) and is_number(two):
        return one == two
    return type(one) is type(two) and one == two


def unique_key(value: Any) -> str:
    """A key equal for JSON-equal values (1 and 1.0 alike), for uniqueItems."""

    def normal(item: Any) -> Any:
        if isinstance(item, float) and item.is_integer():
            return int(item)
        if isinstance(item, list):
            return [normal(x) for x in item]
        if isinstance(item, dict):
            return {key: normal(x) for key, x in item.items()}
        return item

    return json.dumps(normal(value), sort_keys=True)


def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return is_number(value) and float(value).is_integer()
    if kind == "number":
        return is_number(value)
    if kind == "null":
        return value is None
    return json_type(value) == kind


def _is_multiple(value: float, step: float) -> bool:
    # The test jsonschema applies, so that values pass the validators clients use.
    if isinstance(step, float):
        quotient = value / step
        return not math.isinf(quotient) and int(quotient) == quotient
    return value % step == 0


_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME_RE = r"\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")


def _parses(parse: Callable[[str], Any], text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


def _valid_uri(text: str) -> bool:
    parts = urlsplit(text)
    return bool(parts.scheme and (parts.netloc or parts.path)) and " " not in text


def _valid_uuid(text: str) -> bool:
    return _parses(uuid.UUID, text) and all(text[at : at + 1] == "-" for at in (8, 13, 18, 23))


# Formats checked when choosing between branches; others are annotations.
_FORMAT_CHECKS: dict[str, Callable[[str], bool]] = {
    "date": lambda s: bool(_DATE_RE.fullmatch(s)) and _parses(date.fromisoformat, s),
    "date-time": lambda s: (
        bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]" + _TIME_RE, s)) and _parses(datetime.fromisoformat, s.upper())
    ),
    "time": lambda s: bool(re.fullmatch(_TIME_RE, s)) and _parses(time.fromisoformat, s.upper()),
    "email": lambda s: "@" in s,
    "uuid": _valid_uuid,
    "ipv4": lambda s: _parses(ipaddress.IPv4Address, s),
    "ipv6": lambda s: _parses(ipaddress.IPv6Address, s),
    "hostname": lambda s: bool(_HOSTNAME_RE.fullmatch(s)),
    "uri": _valid_uri,
}


@dataclass(frozen=True, slots=True)
class Conformance:
    """Whether a value satisfies a schema, as far as generation needs to know.

    Formats are checked for the ones we generate; `root` is the document local
    $refs point into.
    """

    root: Any
    work: WorkLimit

    def check(self, value: Any, schema: Any, depth: int) -> bool:
        """Whether `value` satisfies `schema`, met `depth` levels into the document."""
        self.work.spend()
        if isinstance(schema, bool):
            return schema
        if not isinstance(schema, dict) or depth > MAX_DEPTH:
            return True
        if "$ref" in schema and not self.check(value, resolve(self.root, schema["$ref"], "schema"), depth + 1):
            return False
        if "type" in schema:
            kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_is_type(value, kind) for kind in kinds):
                return False
        if "enum" in schema and not any(json_equal(value, option) for option in schema["enum"]):
            return False
        if "const" in schema and not json_equal(value, schema["const"]):
            return False
        if is_number(value) and not self.check_number(value, schema):
            return False
        if isinstance(value, str) and not self.check_string(value, schema):
            return False
        if isinstance(value, list) and not self._array(value, schema, depth):
            return False
        if isinstance(value, dict) and not self._object(value, schema, depth):
            return False
        return self._combinators(value, schema, depth)

    def _combinators(self, value: Any, schema: dict, depth: int) -> bool:
        if not all(self.check(value, sub, depth + 1) for sub in schema.get("allOf", ())):
            return False
        if "anyOf" in schema and not any(self.check(value, sub, depth + 1) for sub in schema["anyOf"]):
            return False
        if "oneOf" in schema and sum(self.check(value, sub, depth + 1) for sub in schema["oneOf"]) != 1:
            return False
        if "if" in schema:
            holds = self.check(value, schema["if"], depth + 1)
            if not self.check(value, schema.get("then" if holds else "else", True), depth + 1):
                return False
        return not ("not" in schema and self.check(value, schema["not"], depth + 1))

    @staticmethod
    def check_number(value: float, schema: dict) -> bool:
        """Whether a number keeps to the schema's bounds and multipleOf."""
        lo, lo_open, hi, hi_open = bounds(schema)
        if lo is not None and (value < lo or (lo_open and value == lo)):
            return False
        if hi is not None and (value > hi or (hi_open and value == hi)):
            return False
        return "multipleOf" not in schema or _is_multiple(value, schema["multipleOf"])

    @staticmethod
    def check_string(value: str, schema: dict) -> bool:
        """Whether a string keeps to the schema's lengths, pattern and (checked) format."""
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
            return False
        if "pattern" in schema and not matches(schema["pattern"], value):
            return False
        check = _FORMAT_CHECKS.get(schema.get("format", ""))
        return check is None or check(value)

    def _array(self, value: list, schema: dict, depth: int) -> bool:
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            return False
        if schema.get("uniqueItems") and len({unique_key(item) for item in value}) != len(value):
            return False
        prefix, rest = item_schemas(schema)
        for index, item in enumerate(value):
            if not self.check(item, prefix[index] if index < len(prefix) else rest, depth + 1):
                return False
        return "contains" not in schema or any(self.check(item, schema["contains"], depth + 1) for item in value)

    def _object(self, value: dict, schema: dict, depth: int) -> bool:
        if not schema.get("minProperties", 0) <= len(value) <= schema.get("maxProperties", len(value)):
            return False
        if any(name not in value for name in schema.get("required", ())):
            return False
        for name, dependents in dependent_required(schema).items():
            if name in value and any(other not in value for other in dependents):
                return False
        for name, sub in schema.get("dependentSchemas", {}).items():
            if name in value and not self.check(value, sub, depth + 1):
                return False
        properties = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        for name, item in value.items():
            if "propertyNames" in schema and not self.check(name, schema["propertyNames"], depth + 1):
                return False
            matched = [sub for pattern, sub in patterns.items() if matches(pattern, name, unreadable=False)]
            if name in properties:
                matched.append(properties[name])
            elif not matched:
                matched.append(schema.get("additionalProperties", True))
            if not all(self.check(item, sub, depth + 1) for sub in matched):
                return False
        return True


def item_schemas(schema: dict) -> tuple[list[Any], Any]:
    """An array schema's positional item schemas and the schema of the items after them."""
    items = schema.get("items", True)
    if isinstance(items, list):  # draft 7 tuple form
        return items, schema.get("additionalItems", True)
    return list(schema.get("prefixItems", ())), items


def dependent_required(schema: dict) -> dict[str, list[str]]:
    """Property name -> names it brings in (dependentRequired, dependentSchemas' required, draft 7)."""
    found = {name: list(names) for name, names in schema.get("dependentRequired", {}).items()}
    for key in ("dependentSchemas", "dependencies"):
        for name, names in schema.get(key, {}).items():
            if isinstance(names, dict):
                names = names.get("required", [])
            if isinstance(names, list):
                found.setdefault(name, []).extend(names)
    return found
