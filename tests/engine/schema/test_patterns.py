"""Patterns (simulator.engine.schema.patterns): strings made to match a schema's `pattern`."""

from __future__ import annotations

import random
import re

from simulator.engine.schema import generate_arguments, generate_value
from tests.engine.schema.examples import PATTERNS


def test_it_generates_strings_for_simple_patterns():
    for seed in range(50):
        value = generate_arguments(PATTERNS, random.Random(seed))
        assert re.fullmatch(r"[A-Z]{3}-\d{4}", value["code"])
        assert value["answer"] in ("yes", "no", "maybe")


def test_it_checks_patterns_that_open_with_lookaheads_without_python_re():
    schema = {"type": "string", "pattern": "^(?=.*[0-9])(?!.*z)[a-z0-9]{6}$"}
    for seed in range(30):
        value = generate_value(schema, random.Random(seed))
        assert re.fullmatch("^(?=.*[0-9])(?!.*z)[a-z0-9]{6}$", value), value
