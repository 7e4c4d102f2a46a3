"""Generation: JSON values made up from a JSON schema, for tool calls and structured outputs.

`generate_arguments()` makes a tool call's arguments object and `generate_value()` any
value; `dump_arguments()` and `load_arguments()` turn arguments into the JSON text
OpenAI sends and back into the object Anthropic and Gemini send. A value is drawn
(combinators folded or chosen, then the type's generator), checked against the whole
schema, and drawn again if it falls short. Everything is drawn from the caller's
Random, so a seeded request repeats exactly.
"""

from __future__ import annotations

import copy
import json
import math
from random import Random
from typing import Any

from simulator.engine.schema.checking import (
    NUMBER_KEYWORDS,
    TYPES,
    SchemaError,
    bounds,
    multiple_range,
    resolve,
)
from simulator.engine.schema.limits import MAX_DEPTH, OutOfWork, WorkLimit
from simulator.engine.schema.patterns import matches, string_matching
from simulator.engine.schema.values import Conformance, dependent_required, item_schemas, json_equal, unique_key
from simulator.engine.schema.vocabulary import Vocabulary, name_words, phrase, singular

# Past this nesting (objects, arrays, $refs) values shrink to what the schema requires:
# optional properties are left out, arrays get minItems, nullable branches win.
_SOFT_DEPTH = 5
# Fresh tries at a value before settling for the last one (best effort on odd schemas).
_ATTEMPTS = 8
# How likely an optional property is to appear.
_OPTIONAL_RATE = 0.5
# How likely a nullable value is null (when it is not too deep to be anything else).
_NULL_RATE = 0.2

# Keywords that describe a schema without constraining values.
_ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$comment", "$id", "$schema", "$anchor", "deprecated"}
    | {"readOnly", "writeOnly", "$defs", "definitions"}
)


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
    builder = _Builder(root=schema if root is None else root, rng=rng, context=phrase(context), work=work)
    value = fallback
    try:
        for _ in range(_ATTEMPTS):
            value = builder.value(schema, (), 0, path)
            if builder.checker.check(value, schema, 0):
                break
    except OutOfWork:
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
        self.work = work
        self.checker = Conformance(root, work)
        self.vocabulary = Vocabulary(rng, context)

    # The dispatcher: combinators first (each pass removes one), then the type's generator.

    def value(self, schema: Any, words: tuple[str, ...], depth: int, path: str) -> Any:
        self.work.spend()
        if depth > MAX_DEPTH:
            raise SchemaError(
                f"{path}: the schema nests deeper than {MAX_DEPTH} levels (a $ref cycle with no way out?)"
            )
        if schema is True or schema == {}:
            return self.vocabulary.anything(words)
        if not isinstance(schema, dict):
            return None  # `false`: nothing satisfies it, and callers avoid it where they can
        if "$ref" in schema:
            target = resolve(self.root, schema["$ref"], path)
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
        return self.vocabulary.anything(words)

    def _deref(self, schema: Any, path: str) -> Any:
        """`schema` with a top-level $ref chain replaced by its target (siblings merged in)."""
        for _ in range(MAX_DEPTH):
            if not isinstance(schema, dict) or "$ref" not in schema:
                return schema
            target = resolve(self.root, schema["$ref"], path)
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
                merged[key] = [a for a in mine if any(json_equal(a, b) for b in theirs)] or mine
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
        dependencies = dependent_required(schema)
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
        prefix, rest = item_schemas(schema)
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
        item_words = (*words[:-1], singular(words[-1])) if words else ()
        items: list[Any] = []
        seen: set[str] = set()
        for index in range(count):
            sub = prefix[index] if index < len(prefix) else rest
            item_path = f"{path}.prefixItems[{index}]" if index < len(prefix) else f"{path}.items"
            item = self.value(sub, item_words, depth + 1, item_path)
            if schema.get("uniqueItems"):
                for _ in range(_ATTEMPTS * 2):
                    if unique_key(item) not in seen:
                        break
                    item = self.value(sub, item_words, depth + 1, item_path)
                if unique_key(item) in seen and len(items) >= least:
                    break  # the item schema allows no more distinct values
                seen.add(unique_key(item))
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
            if made is None:  # a format's string is drawn again, never cut or padded: a cut date is no date
                made = self.vocabulary.formatted(fmt, words)
            text = self._fitted(self.vocabulary.anything(words), least, most) if made is None else made
            if self.checker.check_string(text, schema):
                return text
        return text

    def _fitted(self, text: str, least: int, most: int | None) -> str:
        """`text` padded with words to at least `least` characters and cut to `most`."""
        while len(text) < least:
            text = f"{text} {self.vocabulary.word()}" if text else self.vocabulary.word()
        if most is not None and len(text) > most:
            text = text[:most]
            if len(text.rstrip()) >= least:
                text = text.rstrip()
        return text

    def _number(self, schema: dict, words: tuple[str, ...], *, integer: bool) -> int | float:
        lo, lo_open, hi, hi_open = bounds(schema)
        hint = self.vocabulary.number_hint(words)
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
        return next((c for c in candidates if self.checker.check_number(c, schema)), drawn)

    def _multiple(self, schema: dict, low: float, high: float, integer: bool) -> int | float:
        """A multiple of multipleOf, in the preferred window if one lies there, else in the bounds."""
        step = schema["multipleOf"]
        ks = multiple_range(low, False, high, False, step, integer)
        if ks is None:
            lo, lo_open, hi, hi_open = bounds(schema)
            if lo is None and hi is None:
                lo, hi = 0, 100 * step
            elif lo is None:
                lo = hi - 100 * step
            elif hi is None:
                hi = lo + 100 * step
            ks = multiple_range(lo, lo_open, hi, hi_open, step, integer) or (0, 0)
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
            if self.checker.check_number(value, schema):
                return value
        return value


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
    if keys & set(NUMBER_KEYWORDS):
        return "integer" if isinstance(schema.get("multipleOf"), int) else "number"
    return None
