"""Schema checking (simulator.engine.schema.checking): which schemas a request may carry."""

from __future__ import annotations

import pytest

from simulator.engine.schema import SchemaError, check_schema
from tests.engine.schema.examples import ALL_SCHEMAS


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ("nope", r"^parameters: schema must be a JSON object, got string$"),
        ([], r"^parameters: schema must be a JSON object, got array$"),
        (
            {"type": "object", "properties": {"city": {"$ref": "#/$defs/X"}}},
            r"^parameters\.properties\.city: unresolvable \$ref '#/\$defs/X'$",
        ),
        (
            {"properties": {"a": {"$ref": "https://example.com/schema.json"}}},
            r"^parameters\.properties\.a: unsupported \$ref",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "text"}}},
            r"^parameters\.properties\.a: unknown type \"text\"",
        ),
        ({"type": ["string", "strin"]}, r"^parameters: unknown type \"strin\""),
        ({"type": []}, r"^parameters: type must not be an empty array"),
        ({"properties": {"u": {"enum": []}}}, r"^parameters\.properties\.u: enum must be a non-empty array"),
        ({"properties": {"u": {"enum": "celsius"}}}, r"^parameters\.properties\.u: enum must be a non-empty array"),
        (
            {"properties": {"tags": {"type": "array", "minItems": 3, "maxItems": 2}}},
            r"^parameters\.properties\.tags: minItems 3 is greater than maxItems 2",
        ),
        ({"properties": {"s": {"minLength": -1}}}, r"^parameters\.properties\.s: minLength must be a non-negative"),
        ({"properties": {"s": {"maxLength": 2.5}}}, r"^parameters\.properties\.s: maxLength must be a non-negative"),
        ({"properties": {"n": {"minimum": 5, "maximum": 1}}}, r"^parameters\.properties\.n: minimum 5 leaves no"),
        (
            {"properties": {"n": {"exclusiveMinimum": 1, "maximum": 1}}},
            r"^parameters\.properties\.n: exclusiveMinimum 1 leaves no number below maximum 1",
        ),
        ({"properties": {"n": {"type": "integer", "minimum": 1.2, "maximum": 1.8}}}, r"no integer"),
        ({"properties": {"n": {"multipleOf": 0}}}, r"^parameters\.properties\.n: multipleOf must be greater than 0"),
        ({"properties": {"n": {"minimum": "1"}}}, r"^parameters\.properties\.n: minimum must be a number"),
        ({"properties": {"n": {"multipleOf": 7, "minimum": 1, "maximum": 6}}}, r"no number that is a multiple of 7"),
        ({"properties": {"p": {"pattern": "[a-"}}}, r"^parameters\.properties\.p\.pattern: invalid regular expression"),
        ({"properties": {"x": {"anyOf": []}}}, r"^parameters\.properties\.x: anyOf must be a non-empty array"),
        ({"properties": {"x": {"oneOf": [{"type": "wat"}]}}}, r"^parameters\.properties\.x\.oneOf\[0\]: unknown type"),
        ({"properties": {"x": {"items": {"type": "wat"}}}}, r"^parameters\.properties\.x\.items: unknown type"),
        ({"$defs": {"D": {"type": 5}}}, r"^parameters\.\$defs\.D: unknown type 5"),
        ({"properties": "a"}, r"^parameters: properties must be an object"),
        ({"required": "a"}, r"^parameters: required must be an array of strings"),
        (
            {"properties": {"a": {}}, "required": ["b"], "additionalProperties": False},
            r"^parameters: required property 'b' is not in properties and additionalProperties is false",
        ),
        ({"properties": {"a": 3}}, r"^parameters\.properties\.a: schema must be a JSON object or boolean, got number"),
        (
            {"properties": {"s": {"type": "string", "minLength": 10**9}}},
            r"^parameters\.properties\.s: minLength 1000000000 is more than a model generates \(at most 65536\)",
        ),
        (
            {"properties": {"a": {"type": "array", "minItems": 10**6}}},
            r"minItems 1000000 is more than a model generates",
        ),
        ({"properties": {"o": {"minProperties": 10**6}}}, r"minProperties 1000000 is more than a model generates"),
        (
            {"properties": {"n": {"multipleOf": 1e-300, "minimum": 0, "maximum": 1e300}}},
            r"^parameters\.properties\.n: multipleOf 1e-300 is too small for the range 0 to 1e\+300",
        ),
        (
            {"properties": {"p": {"pattern": "(" * 5_000 + "a" + ")" * 4_999}}},
            r"invalid regular expression '\(\(\(.*…'",
        ),
    ],
)
def test_it_rejects_bad_schemas_naming_the_path(schema, message):
    with pytest.raises(SchemaError, match=message):
        check_schema(schema)


def test_it_checks_the_root_is_an_object_when_asked():
    check_schema({"type": "string"})
    check_schema({"properties": {}}, check_root_object=True)
    with pytest.raises(SchemaError, match=r'^parameters: schema must be of type "object", got "string"$'):
        check_schema({"type": "string"}, check_root_object=True)
    with pytest.raises(SchemaError, match=r"^response_format\.json_schema\.schema: "):
        check_schema({"type": "array"}, "response_format.json_schema.schema", check_root_object=True)


@pytest.mark.parametrize("name", ALL_SCHEMAS)
def test_it_accepts_every_schema_it_can_generate_for(name):
    check_schema(ALL_SCHEMAS[name])
