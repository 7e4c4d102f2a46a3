"""Value checks (simulator.engine.schema.values): whether a value conforms to a schema."""

from __future__ import annotations

import pytest

from simulator.engine.schema import WorkLimit
from simulator.engine.schema.values import Conformance, json_equal, unique_key


def conforms(value, schema) -> bool:
    return Conformance(root=schema, work=WorkLimit()).check(value, schema, 0)


def test_it_compares_values_as_json_does():
    assert json_equal(1, 1.0)
    assert json_equal({"a": [1, 2.0]}, {"a": [1.0, 2]})
    assert not json_equal(True, 1)
    assert not json_equal({"a": 1}, {"a": True})
    assert not json_equal([1], [1, 1])


def test_it_keys_json_equal_items_alike_for_unique_items():
    assert unique_key(1) == unique_key(1.0)
    assert unique_key({"b": 1, "a": [2]}) == unique_key({"a": [2.0], "b": 1.0})
    assert unique_key(True) != unique_key(1)


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        ("2025-02-28", "date", True),
        ("2025-02-30", "date", False),
        ("2025-02-28T09:15:00Z", "date-time", True),
        ("2025-02-28T09:15:00", "date-time", False),  # RFC 3339 requires the offset
        ("12345678-1234-5678-1234-567812345678", "uuid", True),
        ("12345678123456781234567812345678", "uuid", False),
        ("https://example.com/a", "uri", True),
        ("not a uri", "uri", False),
        ("anything at all", "color", True),  # formats we do not make are annotations
    ],
)
def test_it_checks_the_formats_it_makes(value, fmt, expected):
    assert conforms(value, {"type": "string", "format": fmt}) is expected


def test_it_requires_exactly_one_branch_of_one_of():
    schema = {"oneOf": [{"type": "integer"}, {"type": "number"}]}
    assert not conforms(1, schema)
    assert conforms(1.5, schema)


def test_it_follows_local_refs_and_exclusive_bounds():
    schema = {"$defs": {"small": {"type": "number", "exclusiveMaximum": 10}}, "$ref": "#/$defs/small"}
    assert conforms(9.5, schema)
    assert not conforms(10, schema)
    assert Conformance.check_number(6, {"multipleOf": 3})
    assert not Conformance.check_number(7, {"multipleOf": 3})
