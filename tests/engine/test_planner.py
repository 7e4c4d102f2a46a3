"""The planner (simulator.engine.planner): from a neutral request to a Plan."""

from __future__ import annotations

import json
from itertools import combinations

import pytest
import tiktoken

from simulator.engine import tokens
from simulator.engine.errors import ErrorProfile
from simulator.engine.latency import LatencyProfile
from simulator.engine.planner import TOOL_CALL_OVERHEAD_TOKENS, ContextLengthExceeded, plan
from simulator.engine.rules import parse_step
from simulator.engine.snapshot import ModelSpec, Scenario
from simulator.engine.types import CompletionRequest, Message, Overrides, ToolCall, ToolDefinition

MESSAGES = (Message("system", "You are helpful."), Message("user", "Tell me something about héllo 世界 🌍."))
SPREAD = LatencyProfile(ttft_mean_ms=400, ttft_stddev_ms=100, tbt_mean_ms=20, tbt_stddev_ms=6)
CHAT = ModelSpec(id="chat", latency=SPREAD)
# 1 s to think at 20 ms a token: 50 reasoning tokens.
THINKER = ModelSpec(id="thinker", reasoning=True, latency=LatencyProfile(ttft_mean_ms=1000, tbt_mean_ms=20))


@pytest.fixture(scope="module", autouse=True)
def loaded_vocabularies():
    tokens.warm_up()


def request(**kwargs) -> CompletionRequest:
    kwargs.setdefault("model", "chat")
    kwargs.setdefault("messages", MESSAGES)
    return CompletionRequest(**kwargs)


def scenario(**kwargs) -> Scenario:
    kwargs.setdefault("target_tokens", 40)
    return Scenario(**kwargs)


def tiktoken_count(text: str) -> int:
    return len(tiktoken.get_encoding("o200k_base").encode(text, disallowed_special=()))


def test_it_plans_n_choices():
    result = plan(request(n=3, seed=1), CHAT, scenario())
    assert len(result.choices) == 3
    assert len({choice.text for choice in result.choices}) == 3  # each choice is its own answer
    assert all(tiktoken_count(choice.text) == 40 for choice in result.choices)
    assert result.error is None


def test_it_sums_usage_over_the_choices():
    result = plan(request(n=3, seed=1), CHAT, scenario())
    assert result.usage.prompt_tokens == tokens.count_messages(MESSAGES)
    assert result.usage.completion_tokens == sum(tiktoken_count(choice.text) for choice in result.choices) == 120
    assert result.usage.reasoning_tokens == 0
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens


def test_it_counts_tools_in_the_prompt():
    from simulator.engine.types import ToolDefinition

    tools = (ToolDefinition("get_weather", "Get the weather.", {"properties": {"city": {"type": "string"}}}),)
    with_tools = plan(request(seed=1, tools=tools), CHAT, scenario())
    assert with_tools.usage.prompt_tokens == tokens.count_prompt(MESSAGES, tools)
    assert with_tools.usage.prompt_tokens > plan(request(seed=1), CHAT, scenario()).usage.prompt_tokens


def test_it_schedules_one_step_per_piece_from_the_first_token():
    result = plan(request(n=2, seed=4, max_tokens=30), CHAT, scenario())
    assert len(result.offsets_s) == max(len(choice.pieces) for choice in result.choices)
    assert result.offsets_s[0] == result.ttft_s
    assert list(result.offsets_s) == sorted(result.offsets_s)
    assert result.duration_s == result.offsets_s[-1]


def test_it_gives_a_reasoning_model_reasoning_tokens():
    result = plan(request(seed=1), THINKER, scenario())
    assert result.usage.reasoning_tokens == round(result.ttft_s * 1000 / 20) == 50
    visible = tiktoken_count(result.choices[0].text)
    assert visible == 40
    assert result.usage.completion_tokens == visible + 50


def test_it_gives_other_models_no_reasoning_tokens():
    thinking_time = ModelSpec(id="slow", latency=THINKER.latency)  # same latency, not a reasoning model
    result = plan(request(seed=1), thinking_time, scenario())
    assert result.usage.reasoning_tokens == 0
    assert result.usage.completion_tokens == tiktoken_count(result.choices[0].text)


def test_it_gives_a_quick_reasoning_model_a_minimum_of_reasoning():
    quick = ModelSpec(id="quick", reasoning=True, latency=LatencyProfile(ttft_mean_ms=40, tbt_mean_ms=20))
    assert plan(request(seed=1), quick, scenario()).usage.reasoning_tokens == 16


def test_it_counts_reasoning_for_every_choice():
    result = plan(request(n=2, seed=1), THINKER, scenario())
    assert result.usage.reasoning_tokens == 2 * 50
    assert result.usage.completion_tokens == 2 * 50 + sum(tiktoken_count(c.text) for c in result.choices)


def test_reasoning_shares_the_max_tokens_budget():
    result = plan(request(seed=1, max_tokens=70), THINKER, scenario())
    choice = result.choices[0]
    assert tiktoken_count(choice.text) == 70 - 50
    assert choice.finish_reason == "length"
    assert result.usage.reasoning_tokens == 50
    assert result.usage.completion_tokens == 70


def test_reasoning_beyond_the_budget_leaves_no_visible_answer():
    result = plan(request(seed=1, max_tokens=30), THINKER, scenario())
    choice = result.choices[0]
    assert choice.text == ""
    assert choice.finish_reason == "length"
    assert result.usage.completion_tokens == 30  # never more than the client allowed
    assert result.usage.reasoning_tokens <= 30


def test_max_tokens_cuts_a_chat_model_answer():
    result = plan(request(seed=1, max_tokens=15), CHAT, scenario())
    assert tiktoken_count(result.choices[0].text) == 15
    assert result.choices[0].finish_reason == "length"
    assert result.usage.completion_tokens == 15


def test_a_forced_error_replaces_the_answer():
    result = plan(request(seed=1), CHAT, scenario(), Overrides(error_status=503))
    assert result.error is not None
    assert result.error.status == 503
    assert result.error.kind == "forced"
    assert result.choices == ()


def test_a_forced_error_must_be_forceable():
    with pytest.raises(ValueError):
        plan(request(seed=1), CHAT, scenario(), Overrides(error_status=200))


def test_it_injects_the_scenarios_errors():
    result = plan(request(seed=1), CHAT, scenario(errors=ErrorProfile(rate_limit_rate=1.0)))
    assert result.error is not None
    assert result.error.status == 429
    assert result.choices == ()


def test_it_refuses_a_prompt_longer_than_the_context_window():
    prompt_tokens = tokens.count_messages(MESSAGES)
    small = ModelSpec(id="small", context_window=prompt_tokens - 1)
    with pytest.raises(ContextLengthExceeded) as exc:
        plan(request(seed=1), small, scenario())
    assert exc.value.limit == prompt_tokens - 1
    assert exc.value.prompt_tokens == prompt_tokens


def test_it_accepts_a_prompt_that_fills_the_context_window():
    exact = ModelSpec(id="exact", context_window=tokens.count_messages(MESSAGES))
    assert plan(request(seed=1), exact, scenario()).error is None


def test_the_same_seed_gives_the_same_plan():
    first = plan(request(n=2, seed=42), CHAT, scenario())
    again = plan(request(n=2, seed=42), CHAT, scenario())
    other = plan(request(n=2, seed=43), CHAT, scenario())
    assert first == again
    assert first.choices != other.choices
    assert first.offsets_s != other.offsets_s


def test_the_seed_override_beats_the_request_seed_which_beats_the_scenario_seed():
    def seeded(seed: int):
        return plan(request(seed=seed), CHAT, scenario())

    assert plan(request(seed=2), CHAT, scenario(seed=3), Overrides(seed=1)) == seeded(1)
    assert plan(request(seed=2), CHAT, scenario(seed=3)) == seeded(2)
    assert plan(request(), CHAT, scenario(seed=3)) == seeded(3)
    assert all_differ([seeded(1), seeded(2), seeded(3)])


def test_it_varies_without_any_seed():
    assert all_differ([plan(request(), CHAT, scenario()) for _ in range(3)])


def all_differ(plans: list) -> bool:
    # Plans are made per request and not frozen (engine.types): compared, not hashed.
    return all(a != b for a, b in combinations(plans, 2))


def test_overrides_tokens_set_the_length():
    result = plan(request(seed=1), CHAT, scenario(), Overrides(tokens=7))
    assert tiktoken_count(result.choices[0].text) == 7
    assert len(result.offsets_s) == 7


def test_the_scenario_generator_is_used():
    fixed = scenario(generator="fixed", fixed_text="Always this.")
    assert plan(request(seed=1), CHAT, fixed).choices[0].text == "Always this."
    echo = scenario(generator="echo")
    assert plan(request(seed=1), CHAT, echo).choices[0].text == MESSAGES[-1].content


def test_the_scenario_latency_override_beats_the_models_latency():
    override = LatencyProfile(ttft_mean_ms=250, tbt_mean_ms=10)
    result = plan(request(seed=1), CHAT, scenario(latency_override=override))
    assert result.ttft_s == 0.25
    assert result.offsets_s[-1] == pytest.approx(0.25 + 39 * 0.010)


def test_latency_overrides_pin_ttft_and_tbt():
    result = plan(request(seed=1), CHAT, scenario(), Overrides(ttft_ms=0, tbt_ms=0))
    assert result.ttft_s == 0
    assert set(result.offsets_s) == {0}


def test_an_answer_longer_than_the_models_output_limit_stops_there_with_length():
    spec = ModelSpec(id="small-output", max_output_tokens=12)
    request = CompletionRequest(model="small-output", messages=(Message("user", "hi"),))
    result = plan(request, spec, Scenario(target_tokens=50), Overrides(seed=3))
    [choice] = result.choices
    assert choice.finish_reason == "length"
    assert choice.completion_tokens == 12
    assert result.usage.completion_tokens == 12


# --- tool calls and structured outputs ---------------------------------------------

WEATHER_TOOL = ToolDefinition(
    name="get_weather",
    description="Weather for a city",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
)


def test_it_plans_a_tool_call_with_arguments_cut_into_tokens():
    result = plan(request(tools=(WEATHER_TOOL,), seed=5), CHAT, scenario())
    [choice] = result.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.pieces == ()
    [call] = choice.tool_calls
    assert call.name == "get_weather"
    assert "".join(call.argument_pieces) == call.arguments
    assert json.loads(call.arguments)["unit"] in ("celsius", "fahrenheit")
    overhead = tiktoken_count("get_weather") + TOOL_CALL_OVERHEAD_TOKENS
    assert choice.completion_tokens == tiktoken_count(call.arguments) + overhead
    assert len(result.offsets_s) == choice.step_count == 1 + len(call.argument_pieces)


def test_a_named_tool_choice_finishes_with_stop():
    result = plan(request(tools=(WEATHER_TOOL,), tool_choice={"name": "get_weather"}), CHAT, scenario())
    assert result.choices[0].finish_reason == "stop"
    assert result.choices[0].tool_calls[0].name == "get_weather"


def test_max_tokens_cuts_the_arguments_with_length():
    result = plan(request(tools=(WEATHER_TOOL,), max_tokens=8), CHAT, scenario())
    [choice] = result.choices
    assert choice.finish_reason == "length"
    assert choice.completion_tokens == 8
    [call] = choice.tool_calls
    assert len(call.argument_pieces) == 8 - tiktoken_count("get_weather") - TOOL_CALL_OVERHEAD_TOKENS


def test_after_tool_results_the_answer_quotes_them():
    messages = (
        Message("user", "Weather in Oslo?"),
        Message("assistant", "", tool_calls=(ToolCall("call_1", "get_weather", '{"city":"Oslo"}'),)),
        Message("tool", '{"temp": -3}', tool_call_id="call_1"),
    )
    result = plan(request(messages=messages, tools=(WEATHER_TOOL,)), CHAT, scenario())
    [choice] = result.choices
    assert choice.tool_calls == ()
    assert choice.finish_reason == "stop"
    assert choice.text.startswith('Based on get_weather: {"temp": -3}')
    assert choice.completion_tokens == tiktoken_count(choice.text)


def test_a_json_schema_answer_validates():
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 3}}, "required": ["n"]}
    response_format = {"type": "json_schema", "name": "x", "schema": schema}
    for seed in range(20):
        text = plan(request(response_format=response_format, seed=seed), CHAT, scenario()).choices[0].text
        assert json.loads(text)["n"] >= 3


def test_a_json_object_answer_is_an_object_of_the_usual_length():
    text = plan(request(response_format={"type": "json_object"}), CHAT, scenario()).choices[0].text
    assert isinstance(json.loads(text), dict)
    assert tiktoken_count(text) >= 40


# --- response rules and faults -----------------------------------------------------


def test_a_rule_text_replaces_the_answer_on_the_latency_schedule():
    result = plan(request(seed=1), CHAT, scenario(), action=parse_step({"text": "Scripted answer."}), rule="r1")
    assert result.choices[0].text == "Scripted answer."
    assert result.rule == "r1"
    assert len(result.offsets_s) == tiktoken_count("Scripted answer.")
    assert result.ttft_s > 0


def test_a_rule_error_becomes_the_injected_error():
    action = parse_step({"error": {"status": 429, "message": "slow down", "retry_after_ms": 2500}})
    error = plan(request(seed=1), CHAT, scenario(), action=action).error
    assert (error.status, error.kind, error.message, error.retry_after_s) == (429, "rule", "slow down", 2.5)


def test_rule_tool_calls_use_given_arguments_or_the_tools_schema():
    given = parse_step({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Rome", "unit": "celsius"}}]})
    [call] = plan(request(seed=1), CHAT, scenario(), action=given).choices[0].tool_calls
    assert json.loads(call.arguments) == {"city": "Rome", "unit": "celsius"}
    generated = parse_step({"tool_calls": {"name": "get_weather"}})
    [call] = plan(request(seed=1, tools=(WEATHER_TOOL,)), CHAT, scenario(), action=generated).choices[0].tool_calls
    assert set(json.loads(call.arguments)) == {"city", "unit"}


def test_a_rule_json_answer_is_that_json():
    result = plan(request(seed=1), CHAT, scenario(), action=parse_step({"json": {"ok": True, "n": [1, 2]}}))
    assert json.loads(result.choices[0].text) == {"ok": True, "n": [1, 2]}


def test_rule_latency_sets_timing_but_headers_win():
    action = parse_step({"latency": {"ttft_ms": 1234, "tbt_ms": 0}})
    assert plan(request(seed=1), CHAT, scenario(), action=action).ttft_s == pytest.approx(1.234, abs=0.05)
    pinned = plan(request(seed=1), CHAT, scenario(), Overrides(ttft_ms=10), action=action)
    assert pinned.ttft_s == pytest.approx(0.010, abs=0.005)


def test_a_stall_delays_the_rest_of_the_stream():
    action = parse_step({"fault": {"kind": "stall", "after_tokens": 5, "stall_ms": 3000}})
    calm = plan(request(seed=1), CHAT, scenario())
    stalled = plan(request(seed=1), CHAT, scenario(), action=action)
    assert stalled.fault is None
    assert stalled.offsets_s[:5] == calm.offsets_s[:5]
    assert stalled.offsets_s[5] - calm.offsets_s[5] == pytest.approx(3.0)


def test_a_disconnect_fault_is_left_to_the_adapter():
    action = parse_step({"fault": {"kind": "disconnect", "after_tokens": 4}})
    result = plan(request(seed=1), CHAT, scenario(), action=action)
    assert (result.fault.kind, result.fault.after_tokens) == ("disconnect", 4)


def test_the_error_profile_draws_mid_stream_faults_for_streams_only():
    faulty = scenario(errors=ErrorProfile(stream_error_rate=1.0, fault_after_tokens=3))
    assert plan(request(seed=1, stream=True), CHAT, faulty).fault.kind == "error"
    assert plan(request(seed=1), CHAT, faulty).fault is None
