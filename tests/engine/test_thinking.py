"""Thinking in the planner: budgets that turn it on, cap or turn it off, and visible thinking text."""

from __future__ import annotations

import pytest
import tiktoken

from simulator.engine import tokens
from simulator.engine.latency import LatencyProfile
from simulator.engine.planner import plan
from simulator.engine.snapshot import ModelSpec, Scenario
from simulator.engine.types import CompletionRequest, Message

# 1 s to think at 20 ms a token: 50 thinking tokens.
SLOW = LatencyProfile(ttft_mean_ms=1000, tbt_mean_ms=20)
CHAT = ModelSpec(id="chat", latency=SLOW)
THINKER = ModelSpec(id="thinker", reasoning=True, latency=SLOW)
SCENARIO = Scenario(target_tokens=40)


@pytest.fixture(scope="module", autouse=True)
def loaded_vocabularies():
    tokens.warm_up()


def request(**kwargs) -> CompletionRequest:
    return CompletionRequest(model="m", messages=(Message("user", "Think about it."),), seed=1, **kwargs)


def token_count(text: str) -> int:
    return len(tiktoken.get_encoding("o200k_base").encode(text, disallowed_special=()))


def test_a_thinking_budget_makes_any_model_think():
    result = plan(request(thinking_budget=2048), CHAT, SCENARIO)
    assert result.usage.reasoning_tokens == 50
    assert result.usage.completion_tokens == 50 + 40


def test_the_budget_caps_the_thinking():
    assert plan(request(thinking_budget=20), THINKER, SCENARIO).usage.reasoning_tokens == 20


def test_a_budget_of_zero_turns_thinking_off_even_for_a_reasoning_model():
    result = plan(request(thinking_budget=0), THINKER, SCENARIO)
    assert result.usage.reasoning_tokens == 0
    assert result.usage.completion_tokens == 40


def test_hidden_thinking_has_no_text():
    choice = plan(request(thinking_budget=2048), CHAT, SCENARIO).choices[0]
    assert choice.thinking_pieces == ()
    assert choice.step_count == len(choice.pieces)


def test_visible_thinking_comes_as_text_of_the_thinking_tokens():
    result = plan(request(thinking_budget=2048, show_thinking=True), CHAT, SCENARIO)
    choice = result.choices[0]
    assert token_count(choice.thinking) == len(choice.thinking_pieces) == result.usage.reasoning_tokens == 50
    assert choice.completion_tokens == 40  # the answer's own tokens
    assert result.usage.completion_tokens == 90


def test_visible_thinking_streams_before_the_answer():
    result = plan(request(thinking_budget=2048, show_thinking=True), CHAT, SCENARIO)
    choice = result.choices[0]
    assert choice.step_count == len(choice.thinking_pieces) + len(choice.pieces) == len(result.offsets_s) == 90


def test_thinking_and_answer_share_max_tokens():
    result = plan(request(thinking_budget=2048, show_thinking=True, max_tokens=60), CHAT, SCENARIO)
    choice = result.choices[0]
    assert len(choice.thinking_pieces) == 50
    assert choice.completion_tokens == 10
    assert choice.finish_reason == "length"


def test_the_same_seed_thinks_the_same():
    one = plan(request(thinking_budget=100, show_thinking=True), CHAT, SCENARIO).choices[0]
    two = plan(request(thinking_budget=100, show_thinking=True), CHAT, SCENARIO).choices[0]
    assert one.thinking == two.thinking != ""


def test_a_stop_sequence_that_cuts_is_named():
    uncut = plan(request(), CHAT, SCENARIO).choices[0]
    word = uncut.text.split()[10].strip(".")
    cut = plan(request(stop=("nothing like this", word)), CHAT, SCENARIO).choices[0]
    assert cut.stop_sequence == word
    assert cut.finish_reason == "stop"
    assert uncut.stop_sequence is None


def test_media_tokens_count_in_the_prompt():
    plain = Message("user", "What is in this picture?")
    with_image = Message("user", "What is in this picture?", media_tokens=1600)
    assert tokens.count_messages((with_image,)) == tokens.count_messages((plain,)) + 1600


@pytest.mark.parametrize(("effort", "tokens"), [("low", 25), ("medium", 50), ("high", 100), ("xhigh", 150)])
def test_reasoning_effort_scales_the_thinking_and_the_time_it_takes(effort, tokens):
    result = plan(request(reasoning_effort=effort), THINKER, SCENARIO)
    assert result.usage.reasoning_tokens == tokens
    assert result.ttft_s == pytest.approx(tokens * 0.020)


def test_reasoning_effort_none_turns_thinking_off_and_leaves_a_quarter_of_the_wait():
    result = plan(request(reasoning_effort="none"), THINKER, SCENARIO)
    assert result.usage.reasoning_tokens == 0
    assert result.ttft_s == pytest.approx(0.25)


def test_reasoning_effort_scales_the_thinking_of_an_instant_model():
    instant = ModelSpec(id="instant-thinker", reasoning=True)
    low = plan(request(reasoning_effort="low"), instant, SCENARIO).usage.reasoning_tokens
    high = plan(request(reasoning_effort="high"), instant, SCENARIO).usage.reasoning_tokens
    assert (low, high) == (20, 80)


def test_reasoning_effort_leaves_models_that_do_not_think_alone():
    result = plan(request(reasoning_effort="high"), CHAT, SCENARIO)
    assert result.usage.reasoning_tokens == 0
    assert result.ttft_s == pytest.approx(1.0)
