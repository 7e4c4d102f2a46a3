"""Log probabilities of an answer's tokens (simulator.engine.logprobs) and how the planner attaches them."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from simulator.engine import tokens
from simulator.engine.latency import LatencyProfile
from simulator.engine.logprobs import answer_logprobs, text_logprobs, token_text
from simulator.engine.planner import plan
from simulator.engine.snapshot import ModelSpec, Scenario
from simulator.engine.types import CompletionRequest, Message, Overrides

CHAT = ModelSpec(id="chat")
MESSAGES = (Message("user", "Tell me something."),)


@pytest.fixture(scope="module", autouse=True)
def loaded_vocabularies():
    tokens.warm_up()


def request(**kwargs) -> CompletionRequest:
    return CompletionRequest(model="chat", messages=MESSAGES, **kwargs)


def entries(result) -> list:
    return [entry for choice in result.choices for piece in choice.logprobs for entry in piece]


def test_it_gives_each_token_of_the_answer_one_entry():
    result = plan(request(seed=1, logprobs=True, top_logprobs=3), CHAT, Scenario(target_tokens=60))
    (choice,) = result.choices
    assert len(choice.logprobs) == len(choice.pieces)
    assert len(entries(result)) == choice.completion_tokens == 60
    assert b"".join(entry.raw for entry in entries(result)).decode() == choice.text


def test_it_ranks_the_chosen_token_first_then_distinct_tokens_of_the_vocabulary():
    enc = tokens.get_encoding("o200k_base")
    result = plan(request(seed=2, logprobs=True, top_logprobs=20), CHAT, Scenario(target_tokens=200))
    for entry in entries(result):
        assert entry.logprob < 0
        assert len(entry.top) == len(entry.top_logprobs) == 20
        assert entry.top[0] == entry.raw and entry.top_logprobs[0] == entry.logprob
        assert len(set(entry.top)) == 20  # distinct, none the chosen one again
        values = list(entry.top_logprobs)
        assert values == sorted(values, reverse=True)
        assert sum(math.exp(value) for value in values) < 1
        for other in entry.top:
            enc.encode_single_token(other)  # a real token (KeyError if not)


def test_it_is_sure_of_most_tokens_and_unsure_of_some():
    values = [piece[0].logprob for piece in answer_logprobs(["x"] * 2000, "o200k_base", random.Random(3), 0)]
    assert statistics.median(values) > -0.1
    assert 0.1 < sum(value < -0.5 for value in values) / len(values) < 0.3
    assert max(values) < 0


def test_it_offers_variants_of_the_chosen_word():
    (piece,) = answer_logprobs([" Paris"], "o200k_base", random.Random(4), 4)
    (entry,) = piece
    assert [token_text(other) for other in entry.top][1:] == ["Paris", " paris", " Pari"]


def test_it_repeats_for_the_same_seed_and_not_for_another():
    def drawn(seed: int | None = None, header: int | None = None) -> list:
        overrides = Overrides(seed=header)
        result = plan(request(seed=seed, logprobs=True, top_logprobs=5), CHAT, Scenario(target_tokens=40), overrides)
        return entries(result)

    assert drawn(seed=7) == drawn(seed=7) == drawn(header=7)
    assert drawn(seed=7) != drawn(seed=8)


def test_asking_for_logprobs_changes_nothing_else_of_a_seeded_answer():
    spread = ModelSpec(
        id="spread", latency=LatencyProfile(ttft_mean_ms=400, ttft_stddev_ms=100, tbt_mean_ms=20, tbt_stddev_ms=6)
    )
    without = plan(request(seed=5, n=2), spread, Scenario(target_tokens=30))
    with_them = plan(request(seed=5, n=2, logprobs=True, top_logprobs=2), spread, Scenario(target_tokens=30))
    assert [choice.pieces for choice in with_them.choices] == [choice.pieces for choice in without.choices]
    assert with_them.offsets_s == without.offsets_s
    assert all(choice.logprobs is None for choice in without.choices)


def test_it_gives_no_alternatives_for_top_logprobs_zero():
    result = plan(request(seed=1, logprobs=True), CHAT, Scenario(target_tokens=10))
    assert all(entry.top == entry.top_logprobs == () for entry in entries(result))


def test_a_character_spelled_by_several_tokens_keeps_each_token_and_its_bytes():
    result = plan(
        request(seed=1, logprobs=True, top_logprobs=2),
        CHAT,
        Scenario(generator="fixed", fixed_text="Earth 🌍 is home"),
    )
    (choice,) = result.choices
    emoji = choice.pieces.index(" 🌍")
    parts = choice.logprobs[emoji]
    assert b"".join(entry.raw for entry in parts) == " 🌍".encode()
    assert len(parts) == 2
    assert [token_text(entry.raw) for entry in parts] == [" \\xf0\\x9f\\x8c", "\\x8d"]
    assert len(entries(result)) == choice.completion_tokens


def test_a_text_gets_the_logprobs_of_each_of_its_tokens():
    text = "Hello wörld 🌍"
    scored = text_logprobs(text, "cl100k_base", random.Random(1), 2)
    assert b"".join(entry.raw for entry in scored) == text.encode()
    assert len(scored) == tokens.count_text(text, "cl100k_base")
