"""Limits (simulator.engine.schema.limits): what one request may cost the generator."""

from __future__ import annotations

import random
import time

import pytest

from simulator.engine.schema import WorkLimit, generate_arguments
from tests.engine.schema.examples import WEATHER, fanning_out

NESTED_NOT: dict = {"type": "string"}
for _ in range(12):
    NESTED_NOT = {"not": NESTED_NOT}

COSTLY = {
    "ten to the twelfth leaves": fanning_out(12, 10),
    "nested not": {"type": "object", "properties": {"x": NESTED_NOT}, "required": ["x"]},
    "a backtracking pattern": {
        "type": "object",
        "properties": {"s": {"type": "string", "pattern": r"^(\w+\s?)*(?=x)y$", "minLength": 40}},
        "required": ["s"],
    },
    "a pattern of a million characters": {
        "type": "object",
        "properties": {"s": {"type": "string", "pattern": "^(a{1000}){1000}$"}},
        "required": ["s"],
    },
    "fifty thousand properties": {
        "type": "object",
        "properties": {f"p{i}": {"type": "string"} for i in range(50_000)},
        "required": [f"p{i}" for i in range(50_000)],
    },
}


@pytest.mark.parametrize("name", COSTLY)
def test_it_answers_a_costly_schema_in_bounded_time(name):
    # Each of these took from seconds to forever; the answer may fall short of the schema.
    started = time.perf_counter()
    made = generate_arguments(COSTLY[name], random.Random(1))
    assert time.perf_counter() - started < 1.5
    assert isinstance(made, dict)


def test_it_shares_one_work_limit_between_the_generations_of_a_request():
    work = WorkLimit()
    first = generate_arguments(COSTLY["ten to the twelfth leaves"], random.Random(1), work=work)
    assert first == {}  # the limit ran out inside the first whole value
    small = generate_arguments(WEATHER, random.Random(1), work=work)
    assert small == {}  # and nothing is left for the next choice
    assert generate_arguments(WEATHER, random.Random(1))["location"]
