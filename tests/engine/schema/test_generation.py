"""Generation (simulator.engine.schema.generation): JSON values made up from a JSON schema."""

from __future__ import annotations

import json
import random

import pytest
from jsonschema import Draft7Validator, Draft202012Validator

from simulator.engine.schema import (
    SchemaError,
    dump_arguments,
    generate_arguments,
    generate_value,
    load_arguments,
)
from tests.engine.schema.examples import (
    ALL_SCHEMAS,
    ANY_OF,
    CALENDAR_EVENT,
    ONE_DRAFT,
    OPENAI_STRICT,
    ORDER,
    RECURSIVE_TREE,
    SCHEMAS,
    TYPE_LISTS,
)

SEEDS = range(150)  # 32 schemas: about 5,000 values, each checked by two validators
CONTEXT = "Find me cheap flights from London to Paris next Friday, and what's the weather like there?"


def validators(name: str) -> list:
    drafts = [ONE_DRAFT[name][1]] if name in ONE_DRAFT else [Draft202012Validator, Draft7Validator]
    for draft in drafts:
        draft.check_schema(ALL_SCHEMAS[name])  # the test schema itself is well-formed
    return [draft(ALL_SCHEMAS[name], format_checker=draft.FORMAT_CHECKER) for draft in drafts]


def test_it_has_a_format_checker_that_really_checks_our_formats():
    # Without the format extras jsonschema passes date-time, uri... unchecked.
    checked = {"date", "date-time", "time", "email", "uri", "uuid", "hostname", "ipv4", "ipv6"}
    assert checked <= set(Draft202012Validator.FORMAT_CHECKER.checkers)
    assert not Draft202012Validator(
        {"format": "date-time"}, format_checker=Draft202012Validator.FORMAT_CHECKER
    ).is_valid("2025-13-01 nonsense")


@pytest.mark.parametrize("name", ALL_SCHEMAS)
def test_it_generates_values_that_validate(name):
    schema = ALL_SCHEMAS[name]
    checkers = validators(name)
    for seed in SEEDS:
        value = generate_value(schema, random.Random(seed), context=CONTEXT)
        for checker in checkers:
            if not checker.is_valid(value):
                errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in checker.iter_errors(value)]
                pytest.fail(f"seed {seed}: {json.dumps(value)}: {errors}")


@pytest.mark.parametrize("name", ["weather", "order", "openai_strict", "recursive_tree", "formats", "numbers"])
def test_it_generates_the_same_value_for_the_same_seed(name):
    schema = SCHEMAS[name]
    for seed in range(20):
        assert dump_arguments(generate_value(schema, random.Random(seed), context=CONTEXT)) == dump_arguments(
            generate_value(schema, random.Random(seed), context=CONTEXT)
        )


@pytest.mark.parametrize("name", ["search", "calendar_event", "order", "numbers", "patterns", "arrays"])
def test_it_varies_values_across_seeds(name):
    values = {dump_arguments(generate_value(SCHEMAS[name], random.Random(seed))) for seed in range(30)}
    assert len(values) >= 20


def test_it_leaves_the_global_random_state_alone():
    random.seed(7)
    expected = random.random()
    random.seed(7)
    generate_value(ORDER, random.Random(1))
    assert random.random() == expected


def test_it_includes_required_properties_and_only_sometimes_optional_ones():
    values = [generate_arguments(CALENDAR_EVENT, random.Random(seed)) for seed in SEEDS]
    assert all({"title", "start", "end", "attendees"} <= value.keys() for value in values)
    with_day = sum("day" in value for value in values)
    assert 0.3 * len(values) < with_day < 0.7 * len(values)


def test_it_includes_every_property_of_a_strict_schema():
    for seed in range(50):
        value = generate_arguments(OPENAI_STRICT, random.Random(seed))
        assert list(value) == ["location", "units", "days", "include", "options"]


def test_it_emits_only_declared_properties_when_additional_properties_are_false():
    for seed in range(50):
        value = generate_arguments(ORDER, random.Random(seed))
        assert set(value["customer"]) == {"name", "email"}
        assert all(set(item) == {"sku", "quantity", "price"} for item in value["line_items"])


def test_it_ends_recursive_schemas():
    def depth(node):
        return 1 + max((depth(child) for child in node["children"]), default=0)

    depths = [depth(generate_value(RECURSIVE_TREE, random.Random(seed))["root"]) for seed in SEEDS]
    assert max(depths) >= 2  # a tree, not just a leaf
    assert max(depths) <= 6


def test_it_reports_a_recursion_that_cannot_end():
    endless = {"$defs": {"a": {"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}, "required": ["a"]}}}
    with pytest.raises(SchemaError, match=r"nests deeper"):
        generate_value({**endless, "$ref": "#/$defs/a"}, random.Random(1))


def test_it_picks_each_branch_of_any_of():
    kinds = {type(generate_arguments(ANY_OF, random.Random(seed))["target"]) for seed in range(30)}
    assert kinds == {str, int}


def test_it_gives_none_or_a_value_for_nullable_types():
    values = [generate_arguments(TYPE_LISTS, random.Random(seed))["nullable_name"] for seed in SEEDS]
    assert None in values
    assert sum(value is None for value in values) < len(values) / 2


def test_it_gives_empty_arguments_for_no_schema():
    assert generate_arguments(None, random.Random(1)) == {}
    assert generate_arguments({}, random.Random(1)) == {}
    assert generate_arguments({"type": "object", "properties": {}}, random.Random(1)) == {}


def test_it_makes_something_simple_for_an_empty_schema():
    for seed in range(20):
        assert isinstance(generate_value({}, random.Random(seed)), str)
        assert isinstance(generate_value(True, random.Random(seed)), str)


def test_it_treats_untyped_tool_parameters_as_an_object():
    schema = {"properties": {"city": {"type": "string"}}, "required": ["city"]}
    assert set(generate_arguments(schema, random.Random(1))) == {"city"}


def test_it_refuses_arguments_that_are_not_an_object():
    with pytest.raises(SchemaError, match=r'^parameters: schema must be of type "object"'):
        generate_arguments({"type": "string"}, random.Random(1))


def test_it_dumps_arguments_compactly_as_openai_does():
    assert dump_arguments({"location": "São Paulo, Brazil", "days": [1, 2]}) == (
        '{"location":"São Paulo, Brazil","days":[1,2]}'
    )


def test_it_loads_arguments_as_an_object_or_nothing():
    assert load_arguments('{"city":"São Paulo","days":[1,2]}') == {"city": "São Paulo", "days": [1, 2]}
    assert load_arguments('{"city":"Par') == {}  # max_tokens cut the call short
    assert load_arguments("[1, 2]") == {}
