"""Gemini's OpenAPI-subset Schema as JSON Schema (simulator.providers.gemini.schema.json_schema_of)."""

from __future__ import annotations

from simulator.providers.gemini.schema import json_schema_of


def test_types_are_lower_cased_and_nested_schemas_converted():
    schema = {
        "type": "OBJECT",
        "properties": {"tags": {"type": "ARRAY", "items": {"type": "STRING"}, "min_items": "1"}},
        "required": ["tags"],
        "property_ordering": ["tags"],
    }
    assert json_schema_of(schema) == {
        "type": "object",
        "properties": {"tags": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
        "required": ["tags"],
    }


def test_nullable_allows_null():
    assert json_schema_of({"type": "INTEGER", "nullable": True}) == {"type": ["integer", "null"]}
    assert json_schema_of({"type": "STRING", "enum": ["a"], "nullable": True}) == {
        "type": ["string", "null"],
        "enum": ["a", None],
    }
    assert json_schema_of({"anyOf": [{"type": "STRING"}], "nullable": True}) == {
        "anyOf": [{"anyOf": [{"type": "string"}]}, {"type": "null"}]
    }


def test_property_names_are_kept_as_written():
    schema = {"type": "OBJECT", "properties": {"first_name": {"type": "STRING", "format": "enum"}}}
    assert json_schema_of(schema) == {"type": "object", "properties": {"first_name": {"type": "string"}}}
