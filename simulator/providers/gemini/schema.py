"""Gemini's Schema, the OpenAPI 3.0 subset its function declarations and responseSchema
are written in, as the JSON Schema the engine checks and generates arguments for.

As described in Google's Gemini API reference ("Schema", "Function calling",
"Structured output").
"""

from __future__ import annotations

import re
from typing import Any

# Keywords of Gemini's Schema (an OpenAPI 3.0 subset) that JSON Schema spells alike.
_SCHEMA_COUNTS = frozenset({"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"})
_DROPPED_SCHEMA_KEYS = frozenset({"nullable", "propertyOrdering", "example"})
_OPENAPI_ONLY_FORMATS = frozenset({"float", "double", "int32", "int64", "enum"})


def json_schema_of(schema: Any) -> Any:
    """Gemini's Schema (uppercase types, `nullable`, snake_case or camelCase keys) as JSON Schema."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for raw_key, value in schema.items():
        key = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), raw_key)
        if key in _DROPPED_SCHEMA_KEYS or (key == "format" and value in _OPENAPI_ONLY_FORMATS):
            continue
        if key == "type":
            if str(value).upper() != "TYPE_UNSPECIFIED":
                out["type"] = str(value).lower()
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: json_schema_of(sub) for name, sub in value.items()}
        elif key == "items":
            out[key] = json_schema_of(value)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [json_schema_of(sub) for sub in value]
        elif key in _SCHEMA_COUNTS and isinstance(value, str) and value.isdigit():
            out[key] = int(value)  # proto JSON writes int64 as strings
        elif key in ("minimum", "maximum") and isinstance(value, str):
            out[key] = float(value)
        else:
            out[key] = value
    if schema.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if isinstance(out.get("enum"), list):
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out
