"""Vocabulary (simulator.engine.schema.vocabulary): names that make generated values plausible."""

from __future__ import annotations

import datetime
import ipaddress
import random
import re
import time
import urllib.parse
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.engine.schema import generate_arguments, name_words
from simulator.engine.schema.vocabulary import PLACES
from tests.engine.schema.examples import FORMATS, NAMES_UNDER_CONSTRAINTS, PLAUSIBLE_NAMES, SEARCH


def test_it_gives_a_known_city_for_city():
    cities = {place.city for place in PLACES}
    for seed in range(50):
        assert (
            generate_arguments({"properties": {"city": {"type": "string"}}, "required": ["city"]}, random.Random(seed))[
                "city"
            ]
            in cities
        )


def test_it_takes_the_city_from_the_users_message():
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    assert generate_arguments(schema, random.Random(1), context="Is it raining in Tokyo?") == {"city": "Tokyo"}


def test_it_keeps_a_place_consistent_within_one_value():
    schema = {"type": "object", "properties": {k: {"type": "string"} for k in ("city", "country", "timezone")}}
    schema["required"] = ["city", "country", "timezone"]
    for seed in range(30):
        value = generate_arguments(schema, random.Random(seed))
        place = next(p for p in PLACES if p.city == value["city"])
        assert (value["country"], value["timezone"]) == (place.country, place.timezone)


def test_it_makes_plausible_values_from_property_names():
    value = generate_arguments(PLAUSIBLE_NAMES, random.Random(3))
    assert value["country"] in {place.country for place in PLACES}
    assert "@" in value["email"]
    assert value["website"].startswith("https://")
    assert value["phone_number"].startswith("+1-555-01")
    assert value["currency"] == "USD"
    assert value["user_id"].startswith("user_")
    assert 1 <= value["count"] <= 10
    assert 5 <= value["price"] <= 500
    assert value["message"].endswith(".")
    datetime.date.fromisoformat(value["date"])
    assert " " not in value["firstName"] and " " not in value["last_name"]


def test_it_defaults_unit_to_celsius_without_an_enum():
    schema = {"type": "object", "properties": {"unit": {"type": "string"}}, "required": ["unit"]}
    assert generate_arguments(schema, random.Random(1)) == {"unit": "celsius"}


def test_it_quotes_the_users_message_in_a_query():
    value = generate_arguments(SEARCH, random.Random(1), context="  What is   the tallest\nbuilding in Dubai?  ")
    assert value["query"] == "What is the tallest building in Dubai?"


def test_it_trims_a_long_message_to_a_short_query_at_a_word_boundary():
    long_text = "Please look up " + "the history of the printing press in Europe " * 10
    query = generate_arguments(SEARCH, random.Random(1), context=long_text)["query"]
    assert len(query) <= 60  # the schema's maxLength wins over the name's 80-character phrase
    schema = {"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"]}
    question = generate_arguments(schema, random.Random(1), context=long_text)["question"]
    assert 40 < len(question) <= 80
    assert long_text.startswith(question)
    assert long_text[len(question)] == " "


def test_it_lets_constraints_win_over_names():
    for seed in range(50):
        value = generate_arguments(NAMES_UNDER_CONSTRAINTS, random.Random(seed), context="weather in Paris")
        assert len(value["city"]) <= 3
        assert re.fullmatch(r"[a-z]{2}\d", value["email"])
        assert value["unit"] == "kelvin"
        assert len(value["query"]) >= 300
        assert 500 <= value["limit"] <= 510
        assert 60 <= value["latitude"] <= 61
        uuid.UUID(value["date"])


def test_it_makes_formats_the_standard_library_accepts():
    for seed in range(100):
        value = generate_arguments(FORMATS, random.Random(seed))
        datetime.date.fromisoformat(value["day"])
        assert datetime.datetime.fromisoformat(value["moment"]).tzinfo is not None
        assert datetime.time.fromisoformat(value["clock"]).tzinfo is not None
        local, _, domain = value["email"].partition("@")
        assert local and "." in domain
        url = urllib.parse.urlsplit(value["homepage"])
        assert url.scheme == "https" and url.netloc
        assert str(uuid.UUID(value["request_id"])) == value["request_id"]
        assert all(label.isalnum() for label in value["server"].split("."))
        ipaddress.IPv4Address(value["address"])
        ipaddress.IPv6Address(value["address6"])


def test_it_splits_names_into_words():
    assert name_words("firstName") == ("first", "name")
    assert name_words("max-results") == ("max", "results")
    assert name_words("getHTTPResponse_code") == ("get", "http", "response", "code")


def _name_words_as_before(name: str) -> tuple[str, ...]:
    """The two-pass splitter name_words replaced (quadratic on long runs of capitals)."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return tuple(word for word in re.split(r"[^a-zA-Z0-9]+", name.lower()) if word)


@settings(max_examples=500, derandomize=True, database=None)
@given(st.text(alphabet="aAbBzZ09_- .é", max_size=24))
def test_it_splits_names_as_the_two_pass_splitter_did(name):
    assert name_words(name) == _name_words_as_before(name)


@pytest.mark.parametrize("text", ["A" * 200_000, "aA" * 100_000, "AAa" * 70_000, "A" * 100_000 + "b"])
def test_it_splits_long_runs_of_capitals_in_linear_time(text):
    started = time.perf_counter()
    words = name_words(text)
    assert time.perf_counter() - started < 1.0  # the old splitter took minutes on these
    assert "".join(words) == text.lower()
