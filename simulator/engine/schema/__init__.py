"""Arguments: JSON values made up from a JSON schema, for tool calls and structured outputs.

`generate_arguments()` makes a tool call's arguments object and `generate_value()` any
value. Values satisfy the schema (types, enums, bounds, lengths, formats, simple
patterns, anyOf/oneOf/allOf, local $refs, recursion) and look plausible: where the
constraints leave room, a property's name flavours its value ("city" is a real city,
"query" comes from the user's message). `check_schema()` rejects the schemas a
request must not carry, naming the JSON path of the fault. `dump_arguments()` writes
arguments as OpenAI sends them.

Everything is drawn from the caller's Random, so a seeded request repeats exactly.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import math
import re
import string
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from random import Random
from typing import Any
from urllib.parse import unquote, urlsplit

from simulator.engine.schema.patterns import MAX_GENERATED_LENGTH, matches, problem, string_matching


class SchemaError(ValueError):
    """A schema we cannot or should not accept; the message starts with its JSON path."""


TYPES = ("string", "integer", "number", "boolean", "null", "object", "array")

# Past this nesting (objects, arrays, $refs) values shrink to what the schema requires:
# optional properties are left out, arrays get minItems, nullable branches win.
_SOFT_DEPTH = 5
# A schema still nesting here recurses without end (every branch of a cycle is required).
_MAX_DEPTH = 64
# Fresh tries at a value before settling for the last one (best effort on odd schemas).
_ATTEMPTS = 8
# How likely an optional property is to appear.
_OPTIONAL_RATE = 0.5
# How likely a nullable value is null (when it is not too deep to be anything else).
_NULL_RATE = 0.2
# What one request may ask of the generator. A real model's output ends at its token
# limit (strings: patterns.MAX_GENERATED_LENGTH); a schema that demands more is refused,
# and the work of one request's generations (values made plus values checked, retries
# included) is capped, so no schema stalls the event loop: $refs that fan out ten
# properties a level, or nested anyOf/not retries, grow exponentially with the depth.
MAX_GENERATED_ITEMS = 10_000
MAX_GENERATION_STEPS = 4_000

# Keywords that describe a schema without constraining values.
_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$comment", "$id", "$schema", "$anchor", "deprecated"}
    | {"readOnly", "writeOnly", "$defs", "definitions"}
)
_COUNTS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
_COUNTS += ("minContains", "maxContains")
_NUMBERS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")


# -- Plausible values -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    city: str
    location: str
    country: str
    country_code: str
    timezone: str
    latitude: float
    longitude: float


PLACES = (
    Place("San Francisco", "San Francisco, CA", "United States", "US", "America/Los_Angeles", 37.7749, -122.4194),
    Place("Paris", "Paris, France", "France", "FR", "Europe/Paris", 48.8566, 2.3522),
    Place("Tokyo", "Tokyo, Japan", "Japan", "JP", "Asia/Tokyo", 35.6762, 139.6503),
    Place("London", "London, UK", "United Kingdom", "GB", "Europe/London", 51.5074, -0.1278),
    Place("New York", "New York, NY", "United States", "US", "America/New_York", 40.7128, -74.006),
    Place("Berlin", "Berlin, Germany", "Germany", "DE", "Europe/Berlin", 52.52, 13.405),
    Place("Sydney", "Sydney, Australia", "Australia", "AU", "Australia/Sydney", -33.8688, 151.2093),
    Place("Toronto", "Toronto, Canada", "Canada", "CA", "America/Toronto", 43.6532, -79.3832),
    Place("Madrid", "Madrid, Spain", "Spain", "ES", "Europe/Madrid", 40.4168, -3.7038),
    Place("Mumbai", "Mumbai, India", "India", "IN", "Asia/Kolkata", 19.076, 72.8777),
    Place("São Paulo", "São Paulo, Brazil", "Brazil", "BR", "America/Sao_Paulo", -23.5505, -46.6333),
    Place("Seoul", "Seoul, South Korea", "South Korea", "KR", "Asia/Seoul", 37.5665, 126.978),
    Place("Amsterdam", "Amsterdam, Netherlands", "Netherlands", "NL", "Europe/Amsterdam", 52.3676, 4.9041),
    Place("Mexico City", "Mexico City, Mexico", "Mexico", "MX", "America/Mexico_City", 19.4326, -99.1332),
    Place("Singapore", "Singapore", "Singapore", "SG", "Asia/Singapore", 1.3521, 103.8198),
    Place("Cairo", "Cairo, Egypt", "Egypt", "EG", "Africa/Cairo", 30.0444, 31.2357),
)
FIRST_NAMES = ("Alice", "Ben", "Chloé", "David", "Emma", "Hiro", "Maria", "Noah", "Priya", "Sam", "Lena", "Omar")
LAST_NAMES = ("Martin", "Nguyen", "Smith", "García", "Müller", "Tanaka", "Dubois", "Patel", "Kim", "Rossi")
_SENTENCES = (
    "Please review the attached report before the meeting.",
    "The package arrived on time and in good condition.",
    "Let's move the call to later this afternoon.",
    "Thanks for the quick reply, that works for me.",
    "The results look promising but need another check.",
    "Remember to bring the signed forms tomorrow.",
)
_TITLES = ("Quarterly planning review", "Team sync", "Project kickoff", "Weekly update", "Budget check-in")
_QUERIES = ("latest news", "best coffee near me", "weather this weekend", "how to reset a password")
_WORDS = ("alpha", "bravo", "river", "summit", "garden", "signal", "harbor", "meadow", "orbit", "maple")
_STREETS = ("221B Baker Street", "10 Downing Street", "1600 Amphitheatre Parkway", "350 Fifth Avenue")
_COMPANIES = ("Acme Corp", "Globex", "Initech", "Umbrella Ltd", "Stark Industries")
_COLORS = ("blue", "green", "red", "orange", "purple", "teal")
_FILES = ("report.pdf", "notes.txt", "photo.jpg", "data.csv", "slides.pptx")
# Fixed dates, not today's: a seeded request must give the same answer next year.
_BASE_DATE = date(2025, 1, 1)
_DATE_SPAN_DAYS = 730
# A query quoted from the user's message stops at a word boundary before this length.
_QUERY_CHARS = 80


# Where camelCase words meet: "getWeather" -> get|Weather, "HTTPServer" -> HTTP|Server.
# Lookarounds test a fixed width at each position, so the scan is linear; the greedy
# "([A-Z]+)([A-Z][a-z])" it replaces backtracked quadratically on a long run of capitals.
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_ALNUM = re.compile(r"[^a-zA-Z0-9]+")


def name_words(name: str) -> tuple[str, ...]:
    """A name's lower-case words: split on _, -, spaces, punctuation and camelCase."""
    return tuple(word for word in _NOT_ALNUM.split(_CAMEL_BOUNDARY.sub("_", name).lower()) if word)


def _singular(word: str) -> str:
    """An array's item name from the array's: "cities" -> "city", "addresses" -> "address"."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 2:
        return word[:-1]
    return word


def _phrase(text: str, limit: int = _QUERY_CHARS) -> str:
    """Text on one line, cut at a word boundary to at most `limit` characters."""
    # Only the start can end up in the phrase: a long prompt is not split whole.
    text = " ".join(text[: limit * 8].split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit + 1)
    return text[: cut if cut > 0 else limit].rstrip(" ,;:")


# -- Schema checking --------------------------------------------------------------------


def check_schema(schema: Any, path: str = "parameters", *, check_root_object: bool = False) -> None:
    """Raise SchemaError for a schema we can't honour or that no value satisfies.

    Not a metaschema validator: it checks what generation relies on (types, enums,
    bounds, $refs, regexes) and contradictions such as minItems > maxItems. With
    `check_root_object` the root must describe an object (a missing "type" is taken
    as "object"), as tool parameters must.
    """
    if not isinstance(schema, dict):
        raise SchemaError(f"{path}: schema must be a JSON object, got {_json_type(schema)}")
    if check_root_object and "type" in schema and schema["type"] != "object":
        raise SchemaError(f'{path}: schema must be of type "object", got {json.dumps(schema["type"])}')
    _check(schema, schema, path)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check(node: Any, root: dict, path: str) -> None:
    if isinstance(node, bool):
        return
    if not isinstance(node, dict):
        raise SchemaError(f"{path}: schema must be a JSON object or boolean, got {_json_type(node)}")
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
    target = _resolve(root, node["$ref"], path)
    while isinstance(target, dict) and isinstance(target.get("$ref"), str):
        if any(target is other for other in seen):
            raise SchemaError(f"{path}: $ref {node['$ref']!r} leads round a cycle of $refs to itself")
        seen.append(target)
        target = _resolve(root, target["$ref"], path)


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
    for key in _NUMBERS:
        if key in node and not _is_number(node[key]):
            raise SchemaError(f"{path}: {key} must be a number")
    if "multipleOf" in node and node["multipleOf"] <= 0:
        raise SchemaError(f"{path}: multipleOf must be greater than 0")
    lo, lo_open, hi, hi_open = _bounds(node)
    if lo is not None and hi is not None and (lo > hi or (lo == hi and (lo_open or hi_open))):
        low = "exclusiveMinimum" if lo_open else "minimum"
        high = "exclusiveMaximum" if hi_open else "maximum"
        raise SchemaError(f"{path}: {low} {lo} leaves no number below {high} {hi}")
    if lo is None or hi is None or (node.get("type") != "integer" and "multipleOf" not in node):
        return
    step = node.get("multipleOf", 1)
    integer = node.get("type") == "integer"
    try:
        multiples = _multiple_range(lo, lo_open, hi, hi_open, step, integer)
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


def _resolve(root: Any, ref: str, path: str) -> Any:
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


# -- Conformance: the subset of JSON Schema validation generation needs ------------------


def _json_equal(one: Any, two: Any) -> bool:
    """JSON equality: 1 == 1.0, but true != 1."""
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one is two
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(_json_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(_json_equal(one[key], two[key]) for key in one)
    if _is_number(one) and _is_number(two):
        return one == two
    return type(one) is type(two) and one == two


def _unique_key(value: Any) -> str:
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
        return _is_number(value) and float(value).is_integer()
    if kind == "number":
        return _is_number(value)
    if kind == "null":
        return value is None
    return _json_type(value) == kind


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


class _OutOfWork(Exception):
    """The generations of one request used up their steps."""


class WorkLimit:
    """The steps (values made, values checked) the generations of one request may take together.

    Past them a generation settles for its last whole value, or a fallback: the answer
    comes at once, if not always valid, for schemas that would take seconds.
    """

    __slots__ = ("left",)

    def __init__(self, steps: int = MAX_GENERATION_STEPS) -> None:
        self.left = steps

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise _OutOfWork


@dataclass(frozen=True, slots=True)
class _Conformance:
    """Whether a value satisfies a schema, as far as generation needs to know.

    Formats are checked for the ones we generate; `root` is the document local
    $refs point into.
    """

    root: Any
    work: WorkLimit

    def check(self, value: Any, schema: Any, depth: int) -> bool:
        self.work.spend()
        if isinstance(schema, bool):
            return schema
        if not isinstance(schema, dict) or depth > _MAX_DEPTH:
            return True
        if "$ref" in schema and not self.check(value, _resolve(self.root, schema["$ref"], "schema"), depth + 1):
            return False
        if "type" in schema:
            kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_is_type(value, kind) for kind in kinds):
                return False
        if "enum" in schema and not any(_json_equal(value, option) for option in schema["enum"]):
            return False
        if "const" in schema and not _json_equal(value, schema["const"]):
            return False
        if _is_number(value) and not self._number(value, schema):
            return False
        if isinstance(value, str) and not self._string(value, schema):
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
    def _number(value: float, schema: dict) -> bool:
        lo, lo_open, hi, hi_open = _bounds(schema)
        if lo is not None and (value < lo or (lo_open and value == lo)):
            return False
        if hi is not None and (value > hi or (hi_open and value == hi)):
            return False
        return "multipleOf" not in schema or _is_multiple(value, schema["multipleOf"])

    @staticmethod
    def _string(value: str, schema: dict) -> bool:
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
            return False
        if "pattern" in schema and not matches(schema["pattern"], value):
            return False
        check = _FORMAT_CHECKS.get(schema.get("format", ""))
        return check is None or check(value)

    def _array(self, value: list, schema: dict, depth: int) -> bool:
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            return False
        if schema.get("uniqueItems") and len({_unique_key(item) for item in value}) != len(value):
            return False
        prefix, rest = _item_schemas(schema)
        for index, item in enumerate(value):
            if not self.check(item, prefix[index] if index < len(prefix) else rest, depth + 1):
                return False
        return "contains" not in schema or any(self.check(item, schema["contains"], depth + 1) for item in value)

    def _object(self, value: dict, schema: dict, depth: int) -> bool:
        if not schema.get("minProperties", 0) <= len(value) <= schema.get("maxProperties", len(value)):
            return False
        if any(name not in value for name in schema.get("required", ())):
            return False
        for name, dependents in _dependencies(schema).items():
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


def _item_schemas(schema: dict) -> tuple[list[Any], Any]:
    """An array schema's positional item schemas and the schema of the items after them."""
    items = schema.get("items", True)
    if isinstance(items, list):  # draft 7 tuple form
        return items, schema.get("additionalItems", True)
    return list(schema.get("prefixItems", ())), items


def _dependencies(schema: dict) -> dict[str, list[str]]:
    """Property name -> names it brings in (dependentRequired, dependentSchemas' required, draft 7)."""
    found = {name: list(names) for name, names in schema.get("dependentRequired", {}).items()}
    for key in ("dependentSchemas", "dependencies"):
        for name, names in schema.get(key, {}).items():
            if isinstance(names, dict):
                names = names.get("required", [])
            if isinstance(names, list):
                found.setdefault(name, []).extend(names)
    return found


def _bounds(schema: dict) -> tuple[float | None, bool, float | None, bool]:
    """(lower, lower is exclusive, upper, upper is exclusive), the tighter bound winning."""
    lo, lo_open = schema.get("minimum"), False
    hi, hi_open = schema.get("maximum"), False
    low = schema.get("exclusiveMinimum")
    if _is_number(low) and (lo is None or low >= lo):
        lo, lo_open = low, True
    high = schema.get("exclusiveMaximum")
    if _is_number(high) and (hi is None or high <= hi):
        hi, hi_open = high, True
    return lo, lo_open, hi, hi_open


def _multiple_range(
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


# -- Generation -------------------------------------------------------------------------


def generate_value(schema: dict | bool, rng: Random, *, context: str = "", work: WorkLimit | None = None) -> Any:
    """A value that satisfies `schema`, plausible where the schema leaves room.

    `context` is the user's last message: free-text fields such as "query" quote it.
    `work` is the request's WorkLimit, shared by all its generations (None: one of its own).
    """
    return _generate(schema, rng, context, "schema", work=work or WorkLimit(), fallback=None)


def generate_arguments(schema: dict | None, rng: Random, *, context: str = "", work: WorkLimit | None = None) -> dict:
    """A tool call's arguments: an object satisfying the tool's parameters schema ({} for none)."""
    if not schema:
        return {}
    target = schema if "type" in schema else {**schema, "type": "object"}
    value = _generate(target, rng, context, "parameters", root=schema, work=work or WorkLimit(), fallback={})
    if not isinstance(value, dict):
        raise SchemaError(f'parameters: schema must be of type "object", got {json.dumps(schema.get("type"))}')
    return value


def dump_arguments(value: Any) -> str:
    """Arguments as the compact JSON text OpenAI sends (non-ASCII kept as is)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def load_arguments(text: str) -> dict:
    """Arguments as the object Anthropic and Gemini send: {} when the text is not a whole
    JSON object (max_tokens cut the call short)."""
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _generate(
    schema: Any, rng: Random, context: str, path: str, *, work: WorkLimit, fallback: Any, root: Any = None
) -> Any:
    builder = _Builder(root=schema if root is None else root, rng=rng, context=_phrase(context), work=work)
    value = fallback
    try:
        for _ in range(_ATTEMPTS):
            value = builder.value(schema, (), 0, path)
            if builder.checker.check(value, schema, 0):
                break
    except _OutOfWork:
        pass  # the last whole value (or the fallback): a schema this costly gets best effort
    return value


_MIN_KEYS = frozenset({"minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties", "minContains"})
_MAX_KEYS = frozenset({"maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "maxContains"})
# Keywords whose two values cannot be folded into one: the second becomes an allOf entry.
_NESTED_KEYS = frozenset({"anyOf", "oneOf", "not"})


class _Builder:
    """One generation: the schema document, the random source and what the user said."""

    def __init__(self, root: Any, rng: Random, context: str, work: WorkLimit) -> None:
        self.root = root
        self.rng = rng
        self.context = context
        self.work = work
        self.checker = _Conformance(root, work)
        # Chosen on first use, so that city, country and timezone agree within a value.
        self._place: Place | None = None
        self._person: tuple[str, str] | None = None

    # The dispatcher: combinators first (each pass removes one), then the type's generator.

    def value(self, schema: Any, words: tuple[str, ...], depth: int, path: str) -> Any:
        self.work.spend()
        if depth > _MAX_DEPTH:
            raise SchemaError(
                f"{path}: the schema nests deeper than {_MAX_DEPTH} levels (a $ref cycle with no way out?)"
            )
        if schema is True or schema == {}:
            return self._anything(words)
        if not isinstance(schema, dict):
            return None  # `false`: nothing satisfies it, and callers avoid it where they can
        if "$ref" in schema:
            target = _resolve(self.root, schema["$ref"], path)
            rest = _without(schema, "$ref")
            merged = target if _is_annotation_only(rest) else self._merge(self._deref(target, path), rest, path)
            return self.value(merged, words, depth + 1, path)
        if "anyOf" in schema or "oneOf" in schema:
            return self._branch(schema, words, depth, path)
        if "not" in schema:
            return self._negated(schema, words, depth, path)
        if "allOf" in schema:
            merged = _without(schema, "allOf")
            for branch in schema["allOf"]:
                merged = self._merge(merged, self._deref(branch, path), path)
            return self.value(merged, words, depth + 1, path)
        if "const" in schema:
            return copy.deepcopy(schema["const"])
        if "enum" in schema:
            rest = _without(schema, "enum")
            fitting = [option for option in schema["enum"] if self.checker.check(option, rest, 0)]
            return copy.deepcopy(self.rng.choice(fitting or schema["enum"]))
        kind = self._type(schema, depth)
        if kind == "object":
            return self._object(schema, words, depth, path)
        if kind == "array":
            return self._array(schema, words, depth, path)
        if kind == "string":
            return self._string(schema, words)
        if kind in ("integer", "number"):
            return self._number(schema, words, integer=kind == "integer")
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        return self._anything(words)

    def _deref(self, schema: Any, path: str) -> Any:
        """`schema` with a top-level $ref chain replaced by its target (siblings merged in)."""
        for _ in range(_MAX_DEPTH):
            if not isinstance(schema, dict) or "$ref" not in schema:
                return schema
            target = _resolve(self.root, schema["$ref"], path)
            rest = _without(schema, "$ref")
            if _is_annotation_only(rest):
                schema = target
            elif isinstance(target, dict) and "$ref" not in target:
                return self._merge(target, rest, path)
            else:
                return schema
        raise SchemaError(f"{path}: $ref cycle with no schema at its end")

    def _branch(self, schema: dict, words: tuple[str, ...], depth: int, path: str) -> Any:
        """anyOf/oneOf: a value of one branch (for oneOf, of that branch only)."""
        key = "oneOf" if "oneOf" in schema else "anyOf"
        branches = schema[key]
        rest = _without(schema, key)
        order = list(range(len(branches)))
        self.rng.shuffle(order)
        if depth >= _SOFT_DEPTH:  # deep down, a branch that ends the recursion first
            order.sort(key=lambda index: _recursion_rank(self._deref(branches[index], path)))
        value = None
        for index in order:
            branch = self._deref(branches[index], path)
            if branch is False:
                continue
            merged = branch if rest == {} else self._merge(rest, branch, path)
            for _ in range(3):
                value = self.value(merged, words, depth + 1, path)
                if key == "anyOf" or sum(self.checker.check(value, sub, 0) for sub in branches) == 1:
                    return value
        return value

    def _negated(self, schema: dict, words: tuple[str, ...], depth: int, path: str) -> Any:
        """A value of the schema without `not`, drawn again while it matches the `not`."""
        rest = _without(schema, "not")
        tries = [rest] * _ATTEMPTS
        if "type" not in rest:  # {"not": {"type": "string"}}: other types may be what it takes
            tries += [{**rest, "type": kind} for kind in TYPES]
        value = None
        for attempt in tries:
            value = self.value(attempt, words, depth + 1, path)
            if not self.checker.check(value, schema["not"], 0):
                break
        return value

    def _merge(self, one: Any, two: Any, path: str) -> Any:
        """allOf of two schemas as one schema, for the cases that fold simply.

        Keywords that don't fold (two patterns) keep the first; the retry against
        the whole schema catches what that misses.
        """
        if one is True or two is False:
            return two
        if two is True or one is False or not isinstance(one, dict) or not isinstance(two, dict):
            return one  # (a draft 7 tuple `items` list is not merged)
        merged = dict(one)
        for key, theirs in two.items():
            if key not in merged:
                merged[key] = theirs
                continue
            mine = merged[key]
            if key in _MIN_KEYS:
                merged[key] = max(mine, theirs)
            elif key in _MAX_KEYS:
                merged[key] = min(mine, theirs)
            elif key == "type":
                merged[key] = _common_types(mine, theirs)
            elif key == "required":
                merged[key] = list(dict.fromkeys([*mine, *theirs]))
            elif key in ("properties", "patternProperties"):
                merged[key] = self._merge_properties(mine, theirs, path)
            elif key == "enum":
                merged[key] = [a for a in mine if any(_json_equal(a, b) for b in theirs)] or mine
            elif key in ("additionalProperties", "items", "additionalItems", "contains", "propertyNames"):
                merged[key] = self._merge(self._deref(mine, path), self._deref(theirs, path), path)
            elif key == "allOf":
                merged[key] = [*mine, *theirs]
            elif key in _NESTED_KEYS:
                merged["allOf"] = [*merged.get("allOf", ()), {key: theirs}]
            elif key == "uniqueItems":
                merged[key] = mine or theirs
            elif key == "multipleOf" and isinstance(mine, int) and isinstance(theirs, int):
                merged[key] = math.lcm(mine, theirs)
            elif key == "multipleOf":
                merged[key] = max(mine, theirs)
        for side in (one, two):
            if side.get("additionalProperties") is False:
                # Only this side's declared properties may appear at all.
                allowed = side.get("properties", {})
                merged["properties"] = {k: v for k, v in merged.get("properties", {}).items() if k in allowed}
        return merged

    def _merge_properties(self, mine: dict, theirs: dict, path: str) -> dict:
        merged = dict(mine)
        for name, sub in theirs.items():
            merged[name] = (
                self._merge(self._deref(mine[name], path), self._deref(sub, path), path) if name in mine else sub
            )
        return merged

    def _type(self, schema: dict, depth: int) -> str | None:
        kinds = schema.get("type")
        if isinstance(kinds, str):
            return kinds
        if isinstance(kinds, list) and kinds:
            solid = [kind for kind in kinds if kind != "null"]
            if "null" in kinds and (not solid or depth >= _SOFT_DEPTH or self.rng.random() < _NULL_RATE):
                return "null"
            return self.rng.choice(solid)
        return _implied_type(schema)

    # Objects and arrays.

    def _object(self, schema: dict, words: tuple[str, ...], depth: int, path: str) -> dict:
        properties: dict[str, Any] = schema.get("properties", {})
        patterns: dict[str, Any] = schema.get("patternProperties", {})
        additional = schema.get("additionalProperties", True)
        required = list(schema.get("required", ()))
        most = schema.get("maxProperties", math.inf)
        # An insertion-ordered set (a dict): membership tests stay cheap with thousands of properties.
        chosen = dict.fromkeys(required)
        for name, sub in properties.items():
            if name in chosen:
                continue
            # One draw per optional property whatever the outcome, so that the draws
            # stay in step: the same seed picks the same properties.
            wanted = self.rng.random() < _OPTIONAL_RATE
            if wanted and sub is not False and depth < _SOFT_DEPTH and len(chosen) < most:
                chosen[name] = None
        dependencies = _dependencies(schema)
        walk = list(chosen)
        for name in walk:  # grows while we walk it: dependents of dependents
            for other in dependencies.get(name, ()):
                if other not in chosen:
                    chosen[other] = None
                    walk.append(other)
        spare = (name for name, sub in properties.items() if name not in chosen and sub is not False)
        extra = 1
        while len(chosen) < schema.get("minProperties", 0):
            name = next(spare, None)
            if name is None:
                if additional is False:
                    break
                name, extra = self._extra_name(schema, chosen, extra, depth, path), extra + 1
            chosen[name] = None
        # Declared order first, as a model writes them; then the rest.
        ordered = [name for name in properties if name in chosen] + [name for name in chosen if name not in properties]
        result = {}
        for name in ordered:
            subs = [sub for pattern, sub in patterns.items() if matches(pattern, name, unreadable=False)]
            if name in properties:
                subs.insert(0, properties[name])
            elif not subs:
                subs.append(additional)
            sub = subs[0]
            for other in subs[1:]:
                sub = self._merge(self._deref(sub, path), self._deref(other, path), path)
            result[name] = self.value(sub, name_words(name), depth + 1, f"{path}.properties.{name}")
        return result

    def _extra_name(self, schema: dict, chosen: dict[str, None], index: int, depth: int, path: str) -> str:
        """A name for a property beyond the declared ones (to reach minProperties)."""
        if "propertyNames" in schema:
            names = self._merge({"type": "string"}, self._deref(schema["propertyNames"], path), path)
            for _ in range(_ATTEMPTS):
                name = self.value(names, (), depth + 1, f"{path}.propertyNames")
                if isinstance(name, str) and name not in chosen:
                    return name
        return f"extra_{index}"

    def _array(self, schema: dict, words: tuple[str, ...], depth: int, path: str) -> list:
        prefix, rest = _item_schemas(schema)
        least = schema.get("minItems", 0)
        most = schema.get("maxItems", math.inf)
        if rest is False:
            most = min(most, len(prefix))
        if depth >= _SOFT_DEPTH:
            count = least
        elif prefix:  # a tuple: as many items as it has positions
            count = max(least, min(len(prefix), most))
        else:
            low = max(least, min(1, most))
            count = self.rng.randint(low, int(min(most, low + 2)))
        item_words = (*words[:-1], _singular(words[-1])) if words else ()
        items: list[Any] = []
        seen: set[str] = set()
        for index in range(count):
            sub = prefix[index] if index < len(prefix) else rest
            item_path = f"{path}.prefixItems[{index}]" if index < len(prefix) else f"{path}.items"
            item = self.value(sub, item_words, depth + 1, item_path)
            if schema.get("uniqueItems"):
                for _ in range(_ATTEMPTS * 2):
                    if _unique_key(item) not in seen:
                        break
                    item = self.value(sub, item_words, depth + 1, item_path)
                if _unique_key(item) in seen and len(items) >= least:
                    break  # the item schema allows no more distinct values
                seen.add(_unique_key(item))
            items.append(item)
        contains = schema.get("contains")
        if contains is not None and not any(self.checker.check(item, contains, 0) for item in items):
            item = self.value(contains, item_words, depth + 1, f"{path}.contains")
            if len(items) < most:
                items.append(item)
            elif len(items) > len(prefix):
                items[-1] = item
        return items

    # Scalars.

    def _string(self, schema: dict, words: tuple[str, ...]) -> str:
        least = schema.get("minLength", 0)
        most = schema.get("maxLength")
        pattern = schema.get("pattern")
        fmt = schema.get("format")
        text = ""
        for attempt in range(_ATTEMPTS):
            # Later attempts let open-ended repeats run longer, for patterns with a minLength.
            made = None if pattern is None else string_matching(pattern, self.rng, extra=3 + 4 * attempt + least)
            if made is not None:
                text = made
            elif fmt in _FORMATS:  # cut or padded, a date is no longer a date: draw again instead
                text = _FORMATS[fmt](self, words)
            else:
                text = self._fitted(self._anything(words), least, most)
            if self.checker._string(text, schema):
                return text
        return text

    def _fitted(self, text: str, least: int, most: int | None) -> str:
        """`text` padded with words to at least `least` characters and cut to `most`."""
        while len(text) < least:
            text = f"{text} {self.rng.choice(_WORDS)}" if text else self.rng.choice(_WORDS)
        if most is not None and len(text) > most:
            text = text[:most]
            if len(text.rstrip()) >= least:
                text = text.rstrip()
        return text

    def _number(self, schema: dict, words: tuple[str, ...], *, integer: bool) -> int | float:
        lo, lo_open, hi, hi_open = _bounds(schema)
        hint = self._number_hint(words)
        if hint is None and lo is not None and hi is not None:
            hint = (lo, hi, 2)  # no name to go by: the whole range
        hint_lo, hint_hi, digits = hint or ((1, 100, 0) if integer else (0, 100, 2))
        if integer:
            # Whole, closed bounds: exclusiveMinimum 3 means 4 at least.
            if lo is not None:
                lo = math.floor(lo) + 1 if lo_open else math.ceil(lo)
            if hi is not None:
                hi = math.ceil(hi) - 1 if hi_open else math.floor(hi)
            lo_open = hi_open = False
            hint_lo, hint_hi = math.floor(hint_lo), math.ceil(hint_hi)
        low, high = _window(lo, hi, hint_lo, hint_hi)
        if "multipleOf" in schema:
            return self._multiple(schema, low, high, integer)
        if integer:
            return self.rng.randint(low, high)
        drawn = self.rng.uniform(low, high)
        # Rounded reads better (19.99, 21.5); unrounded may be needed near an open bound.
        candidates = (round(drawn, digits), drawn, (low + high) / 2)
        return next((c for c in candidates if self.checker._number(c, schema)), drawn)

    def _multiple(self, schema: dict, low: float, high: float, integer: bool) -> int | float:
        """A multiple of multipleOf, in the preferred window if one lies there, else in the bounds."""
        step = schema["multipleOf"]
        ks = _multiple_range(low, False, high, False, step, integer)
        if ks is None:
            lo, lo_open, hi, hi_open = _bounds(schema)
            if lo is None and hi is None:
                lo, hi = 0, 100 * step
            elif lo is None:
                lo = hi - 100 * step
            elif hi is None:
                hi = lo + 100 * step
            ks = _multiple_range(lo, lo_open, hi, hi_open, step, integer) or (0, 0)
        decimals = _decimals(step)
        value: int | float = 0
        for _ in range(_ATTEMPTS * 4):
            k = self.rng.randint(*ks)
            # k * 0.1 is 0.30000000000000004 for k = 3: round to the step's decimals.
            value = k * step if isinstance(step, int) else round(k * step, decimals)
            if integer:
                if not float(value).is_integer():
                    continue
                value = int(value)
            if self.checker._number(value, schema):
                return value
        return value

    def _number_hint(self, words: tuple[str, ...]) -> tuple[float, float, int] | None:
        """The range a number named like this usually falls in, and its decimal places."""
        for word in _lookup_order(words):
            if word in ("latitude", "lat"):
                return self.place.latitude, self.place.latitude, 4
            if word in ("longitude", "lon", "lng", "long"):
                return self.place.longitude, self.place.longitude, 4
            if word in _NUMBER_HINTS:
                return _NUMBER_HINTS[word]
        return None

    def _anything(self, words: tuple[str, ...]) -> Any:
        """A value for a schema that allows any: a string, flavoured by the name if possible."""
        return self._hinted_string(words) or self.rng.choice(_WORDS)

    # Names that flavour values.

    @property
    def place(self) -> Place:
        if self._place is None:
            mentioned = [p for p in PLACES if re.search(rf"\b{re.escape(p.city)}\b", self.context, re.IGNORECASE)]
            self._place = mentioned[0] if mentioned else self.rng.choice(PLACES)
        return self._place

    @property
    def person(self) -> tuple[str, str]:
        if self._person is None:
            self._person = (self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES))
        return self._person

    def _hinted_string(self, words: tuple[str, ...]) -> str | None:
        for key in _lookup_order(words):
            make = _STRING_HINTS.get(key)
            if make is not None:
                return make(self, words)
        return None

    def query(self) -> str:
        return self.context or self.rng.choice(_QUERIES)

    def identifier(self, words: tuple[str, ...]) -> str:
        code = "".join(self.rng.choices(string.ascii_lowercase + string.digits, k=8))
        return f"{words[0]}_{code}" if len(words) > 1 else code

    def email(self) -> str:
        first, last = self.person
        return f"{_ascii(first)}.{_ascii(last)}@example.com".lower()

    def uri(self, words: tuple[str, ...]) -> str:
        host = self.rng.choice(("www.example.com", "docs.example.org", "example.net"))
        return f"https://{host}/{self.rng.choice(_WORDS)}"

    def date(self) -> str:
        return (_BASE_DATE + timedelta(days=self.rng.randrange(_DATE_SPAN_DAYS))).isoformat()

    def date_time(self) -> str:
        minutes = self.rng.randrange(8 * 4, 20 * 4) * 15  # office hours, on the quarter
        return f"{self.date()}T{minutes // 60:02d}:{minutes % 60:02d}:00Z"

    def clock(self) -> str:
        minutes = self.rng.randrange(8 * 4, 20 * 4) * 15
        return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _window(lo: float | None, hi: float | None, hint_lo: float, hint_hi: float) -> tuple[float, float]:
    """Where to draw a number: the hint's range within the bounds, else the bounds themselves."""
    low = hint_lo if lo is None else max(lo, hint_lo)
    high = hint_hi if hi is None else min(hi, hint_hi)
    if low <= high:
        return low, high
    span = max(hint_hi - hint_lo, 10)
    if lo is None:
        return hi - span, hi
    if hi is None:
        return lo, lo + span
    return lo, hi


def _decimals(step: float) -> int:
    text = repr(float(step))
    if "e-" in text:
        return int(text.split("e-")[1]) + 2
    return len(text.split(".")[1]) if "." in text else 0


def _ascii(text: str) -> str:
    """ "Chloé" -> "Chloe": names made fit for e-mail addresses and user names."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _without(schema: dict, key: str) -> dict:
    return {k: v for k, v in schema.items() if k != key}


def _is_annotation_only(schema: dict) -> bool:
    return all(key in _ANNOTATIONS for key in schema)


def _recursion_rank(schema: Any) -> int:
    """How surely a branch ends a recursion: 0 null, 1 no $ref/object/array, 2 maybe not."""
    if not isinstance(schema, dict):
        return 1
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "null" in kinds:
        return 0
    if "$ref" in schema or {"object", "array"} & set(kinds) or _implied_type(schema) in ("object", "array"):
        return 2
    return 1


def _common_types(one: Any, two: Any) -> Any:
    mine = one if isinstance(one, list) else [one]
    theirs = two if isinstance(two, list) else [two]
    common = [kind for kind in mine if kind in theirs]
    if ("integer" in mine and "number" in theirs) or ("number" in mine and "integer" in theirs):
        common.append("integer")
    common = list(dict.fromkeys(common))
    if not common:
        return one  # contradictory; the retry gives up on it
    return common[0] if len(common) == 1 else common


def _implied_type(schema: dict) -> str | None:
    """The type a schema without "type" describes, from its keywords."""
    keys = schema.keys()
    if keys & {"properties", "required", "additionalProperties", "patternProperties", "minProperties"}:
        return "object"
    if keys & {"items", "prefixItems", "minItems", "maxItems", "contains", "uniqueItems"}:
        return "array"
    if keys & {"minLength", "maxLength", "pattern", "format"}:
        return "string"
    if keys & set(_NUMBERS):
        return "integer" if isinstance(schema.get("multipleOf"), int) else "number"
    return None


def _lookup_order(words: tuple[str, ...]) -> list[str]:
    """Keys to look a name up by: the whole name, its last two words, then each word from the end."""
    if not words:
        return []
    keys = ["_".join(words)]
    if len(words) > 2:
        keys.append("_".join(words[-2:]))
    keys.extend(reversed(words))
    if len(words) > 1 and words[-1] == "at":  # created_at, updated_at
        keys.insert(1, "timestamp")
    return keys


# name -> (low, high, decimal places): where a number with this name usually falls.
_NUMBER_HINTS: dict[str, tuple[float, float, int]] = {
    **dict.fromkeys(("limit", "count", "max_results", "num_results", "top_k", "page_size", "size", "n"), (1, 10, 0)),
    **dict.fromkeys(("results", "max", "k", "number"), (1, 10, 0)),
    **dict.fromkeys(("quantity", "qty", "guests", "people", "adults", "passengers", "nights"), (1, 5, 0)),
    **dict.fromkeys(("days", "weeks", "hours"), (1, 7, 0)),
    **dict.fromkeys(("price", "amount", "cost", "total", "budget", "balance", "subtotal", "salary"), (5, 500, 2)),
    **dict.fromkeys(("temperature", "temp"), (-5, 35, 1)),
    **dict.fromkeys(("rating", "stars"), (1, 5, 1)),
    **dict.fromkeys(("percent", "percentage", "discount"), (0, 100, 1)),
    **dict.fromkeys(("confidence", "probability", "score", "threshold", "ratio"), (0, 1, 2)),
    **dict.fromkeys(("radius", "distance", "miles", "km"), (1, 50, 1)),
    **dict.fromkeys(("timeout", "seconds", "minutes", "duration"), (5, 60, 0)),
    "age": (18, 80, 0),
    "year": (2020, 2026, 0),
    "month": (1, 12, 0),
    "day": (1, 28, 0),
    "page": (1, 5, 0),
    "offset": (0, 50, 0),
    "id": (1, 99_999, 0),
    "weight": (0.5, 80, 1),
    "height": (150, 195, 0),
    "port": (1024, 9999, 0),
}

_Make = Callable[[_Builder, tuple[str, ...]], str]


def _person(part: int) -> _Make:
    return lambda b, w: b.person[part]


def _one_of(options: tuple[str, ...]) -> _Make:
    return lambda b, w: b.rng.choice(options)


def _fixed(text: str) -> _Make:
    return lambda b, w: text


# Words before "name" that make it a person's name ("customer_name"); "product_name" is not one.
_PEOPLE = frozenset({"user", "customer", "contact", "full", "display", "author", "person", "owner", "sender"})
_PEOPLE |= {"recipient", "employee", "patient", "student", "guest", "passenger", "attendee", "client", "my", "your"}


def _name(b: _Builder, w: tuple[str, ...]) -> str:
    if len(w) < 2 or w[-1] != "name" or w[-2] in _PEOPLE:
        return " ".join(b.person)
    return f"{' '.join(w[:-1]).title()} {b.rng.choice(_WORDS).title()}"


def _phone(b: _Builder, w: tuple[str, ...]) -> str:
    return f"+1-555-01{b.rng.randrange(100):02d}"  # 555-0100..0199: reserved for fiction


_STRING_HINTS: dict[str, _Make] = {
    **dict.fromkeys(("city", "city_name", "town", "destination", "origin"), lambda b, w: b.place.city),
    **dict.fromkeys(("location", "place", "where"), lambda b, w: b.place.location),
    **dict.fromkeys(("country", "country_name"), lambda b, w: b.place.country),
    **dict.fromkeys(("country_code", "region_code"), lambda b, w: b.place.country_code),
    **dict.fromkeys(("timezone", "time_zone", "tz"), lambda b, w: b.place.timezone),
    **dict.fromkeys(
        ("query", "q", "search", "search_query", "search_term", "term", "question"), lambda b, w: b.query()
    ),
    **dict.fromkeys(("prompt", "keywords", "keyword", "topic", "input"), lambda b, w: b.query()),
    **dict.fromkeys(("email", "mail", "e_mail", "email_address"), lambda b, w: b.email()),
    **dict.fromkeys(("url", "uri", "link", "website", "homepage", "href", "endpoint"), lambda b, w: b.uri(w)),
    **dict.fromkeys(("hostname", "host", "domain"), _one_of(("api.example.com", "www.example.org"))),
    **dict.fromkeys(("ip", "ip_address", "ipv4"), lambda b, w: f"192.0.2.{b.rng.randint(1, 254)}"),
    **dict.fromkeys(("id", "uuid", "guid", "key", "ref", "reference"), lambda b, w: b.identifier(w)),
    **dict.fromkeys(("date", "day", "birthday", "deadline", "due", "dob"), lambda b, w: b.date()),
    **dict.fromkeys(("datetime", "date_time", "timestamp", "when", "start", "end"), lambda b, w: b.date_time()),
    "time": lambda b, w: b.clock(),
    **dict.fromkeys(("unit", "units", "temperature_unit"), _fixed("celsius")),
    **dict.fromkeys(("language", "lang"), _one_of(("English", "French", "Spanish", "German", "Japanese"))),
    **dict.fromkeys(("language_code", "lang_code", "locale"), _one_of(("en", "fr", "es", "de", "ja"))),
    **dict.fromkeys(("currency", "currency_code"), _fixed("USD")),
    **dict.fromkeys(("phone", "phone_number", "mobile", "telephone", "tel"), _phone),
    **dict.fromkeys(("address", "street", "street_address", "home_address"), _one_of(_STREETS)),
    **dict.fromkeys(
        ("zip", "zip_code", "zipcode", "postal_code", "postcode"), lambda b, w: f"{b.rng.randint(10000, 99999)}"
    ),
    **dict.fromkeys(("first_name", "firstname", "given_name", "first"), _person(0)),
    **dict.fromkeys(("last_name", "lastname", "surname", "family_name", "last"), _person(1)),
    **dict.fromkeys(("name", "fullname", "contact", "customer", "author"), _name),
    **dict.fromkeys(("recipient", "assignee", "attendee", "organizer", "owner"), lambda b, w: " ".join(b.person)),
    **dict.fromkeys(
        ("username", "user_name", "handle", "login", "user"), lambda b, w: _ascii(b.person[0]).lower() + "42"
    ),
    **dict.fromkeys(
        ("description", "text", "message", "content", "body", "comment", "note", "notes"), _one_of(_SENTENCES)
    ),
    **dict.fromkeys(("summary", "reason", "instructions", "details", "bio", "feedback"), _one_of(_SENTENCES)),
    **dict.fromkeys(("title", "subject", "headline", "event", "event_name"), _one_of(_TITLES)),
    **dict.fromkeys(
        ("company", "company_name", "organization", "organisation", "org", "employer"), _one_of(_COMPANIES)
    ),
    **dict.fromkeys(("color", "colour"), _one_of(_COLORS)),
    **dict.fromkeys(("file", "filename", "file_name", "attachment"), _one_of(_FILES)),
    **dict.fromkeys(("path", "file_path", "filepath"), lambda b, w: f"/home/user/documents/{b.rng.choice(_FILES)}"),
    **dict.fromkeys(("tag", "label", "category"), _one_of(("work", "personal", "urgent", "travel", "finance"))),
    "status": _one_of(("active", "pending", "completed")),
    "state": _one_of(("CA", "NY", "TX", "WA")),
    **dict.fromkeys(("symbol", "ticker", "stock"), _one_of(("AAPL", "MSFT", "GOOGL", "AMZN"))),
    "version": lambda b, w: f"{b.rng.randint(1, 3)}.{b.rng.randint(0, 9)}.{b.rng.randint(0, 9)}",
}

_FORMATS: dict[str, _Make] = {
    "date": lambda b, w: b.date(),
    "date-time": lambda b, w: b.date_time(),
    "time": lambda b, w: b.clock() + ":00Z",  # RFC 3339 full-time: the offset is required
    **dict.fromkeys(("email", "idn-email"), lambda b, w: b.email()),
    **dict.fromkeys(("uri", "iri", "url"), lambda b, w: b.uri(w)),
    **dict.fromkeys(("uri-reference", "iri-reference"), lambda b, w: f"/docs/{b.rng.choice(_WORDS)}"),
    "uuid": lambda b, w: str(uuid.UUID(int=b.rng.getrandbits(128), version=4)),
    **dict.fromkeys(("hostname", "idn-hostname"), _one_of(("api.example.com", "mail.example.org", "example.net"))),
    "ipv4": lambda b, w: f"{b.rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{b.rng.randint(1, 254)}",
    "ipv6": lambda b, w: f"2001:db8::{b.rng.randint(1, 0xFFFF):x}",
    "duration": _one_of(("PT15M", "PT1H", "P1D", "P2W")),
    "json-pointer": _fixed("/items/0"),
    "regex": _fixed("^[a-z]+$"),
}
