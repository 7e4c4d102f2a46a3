"""Tool calls (simulator.engine.toolcalls): whether the model calls tools, which, and how."""

from __future__ import annotations

import json
import random
import re
import time

import pytest

from simulator.engine.toolcalls import (
    ID_SUFFIX_LENGTH,
    PlannedToolCall,
    ToolBehaviour,
    plan_tool_calls,
    tool_results_summary,
    unknown_tool_call_ids,
)
from simulator.engine.types import CompletionRequest, Message, ToolCall, ToolDefinition

WEATHER = ToolDefinition(
    name="get_weather",
    description="Get the current weather in a given location",
    parameters={
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["location"],
    },
)
SEARCH = ToolDefinition(
    name="searchWeb",
    description="Search the internet for pages about a topic",
    parameters={"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)
SEND_EMAIL = ToolDefinition(
    name="send-email",
    description="Send an e-mail message to someone",
    parameters={
        "type": "object",
        "properties": {"to": {"type": "string", "format": "email"}, "body": {"type": "string"}},
        "required": ["to", "body"],
        "additionalProperties": False,
    },
)
NO_PARAMETERS = ToolDefinition(name="get_time", description="The current time")
TOOLS = (WEATHER, SEARCH, SEND_EMAIL, NO_PARAMETERS)
ASK_WEATHER = (Message("system", "You are helpful."), Message("user", "What's the weather like in Paris?"))
EVERY_TIME = ToolBehaviour()


def request(messages=ASK_WEATHER, tools=TOOLS, tool_choice=None) -> CompletionRequest:
    return CompletionRequest(model="chat", messages=tuple(messages), tools=tuple(tools), tool_choice=tool_choice)


def plan(req: CompletionRequest, behaviour: ToolBehaviour = EVERY_TIME, seed: int = 1, **kwargs):
    return plan_tool_calls(req, behaviour, random.Random(seed), **kwargs)


def after_tool_round(messages, *names: str, result: str = '{"ok": true}') -> tuple[Message, ...]:
    """The conversation with one more tool-call turn (calling `names`) and its results."""
    calls = tuple(ToolCall(id=f"call_{len(messages)}_{i}", name=name, arguments="{}") for i, name in enumerate(names))
    results = tuple(Message("tool", result, tool_call_id=call.id) for call in calls)
    return (*messages, Message("assistant", "", tool_calls=calls), *results)


def test_it_calls_the_best_matching_tool_by_default():
    calls = plan(request())
    assert [call.name for call in calls] == ["get_weather"]
    assert isinstance(calls[0], PlannedToolCall)


def test_it_makes_no_calls_without_tools():
    assert plan(request(tools=())) == ()
    assert plan(request(tools=(), tool_choice="required")) == ()


def test_it_makes_no_calls_for_tool_choice_none():
    for seed in range(20):
        assert plan(request(tool_choice="none"), ToolBehaviour(parallel_calls=3), seed) == ()


def test_it_treats_auto_like_no_tool_choice():
    assert plan(request(tool_choice="auto")) == plan(request(tool_choice=None))


def test_it_calls_exactly_the_named_function():
    for choice in ({"name": "send-email"}, {"type": "function", "function": {"name": "send-email"}}):
        calls = plan(request(tool_choice=choice), ToolBehaviour(parallel_calls=3))
        assert [call.name for call in calls] == ["send-email"]


def test_it_calls_the_named_function_even_after_tool_results():
    messages = after_tool_round(ASK_WEATHER, "get_weather")
    assert [call.name for call in plan(request(messages, tool_choice={"name": "get_time"}))] == ["get_time"]


def test_it_refuses_a_named_function_that_is_not_offered():
    with pytest.raises(ValueError, match="'lookup'"):
        plan(request(tool_choice={"name": "lookup"}))


def test_it_refuses_an_unknown_tool_choice():
    with pytest.raises(ValueError, match="unknown tool_choice 'any'"):
        plan(request(tool_choice="any"))


def test_it_always_calls_for_required_even_when_call_rate_is_zero():
    never = ToolBehaviour(call_rate=0.0)
    for seed in range(20):
        assert len(plan(request(tool_choice="required"), never, seed)) == 1
    messages = after_tool_round(ASK_WEATHER, "get_weather")
    assert len(plan(request(messages, tool_choice="required"), never)) == 1


def test_it_never_calls_in_auto_with_call_rate_zero():
    never = ToolBehaviour(call_rate=0.0)
    assert all(plan(request(), never, seed) == () for seed in range(50))


def test_it_calls_at_about_the_call_rate():
    sometimes = ToolBehaviour(call_rate=0.3)
    called = sum(bool(plan(request(), sometimes, seed)) for seed in range(400))
    assert 80 < called < 160


def test_it_makes_parallel_calls_to_distinct_tools_best_first():
    calls = plan(request(), ToolBehaviour(parallel_calls=3))
    assert calls[0].name == "get_weather"
    assert len({call.name for call in calls}) == 3


def test_it_caps_parallel_calls_at_the_number_of_tools_offered():
    calls = plan(request(tools=(WEATHER, SEARCH)), ToolBehaviour(parallel_calls=5))
    assert sorted(call.name for call in calls) == ["get_weather", "searchWeb"]


def test_it_makes_one_call_when_parallel_tool_calls_is_off():
    assert len(plan(request(), ToolBehaviour(parallel_calls=3), parallel=False)) == 1
    assert len(plan(request(tool_choice="required"), ToolBehaviour(parallel_calls=3), parallel=False)) == 1


def test_it_makes_parallel_calls_for_required():
    assert len(plan(request(tool_choice="required"), ToolBehaviour(parallel_calls=2))) == 2


def test_it_answers_in_text_after_one_round_by_default():
    messages = after_tool_round(ASK_WEATHER, "get_weather")
    assert plan(request(messages)) == ()


def test_it_calls_again_until_the_rounds_are_done():
    two_rounds = ToolBehaviour(rounds=2)
    first = after_tool_round(ASK_WEATHER, "get_weather")
    again = plan(request(first), two_rounds)
    assert len(again) == 1
    assert again[0].name != "get_weather"  # a second round reaches for another tool
    second = after_tool_round(first, again[0].name)
    assert plan(request(second), two_rounds) == ()


def test_it_counts_rounds_from_the_last_user_message():
    earlier = after_tool_round(ASK_WEATHER, "get_weather")
    follow_up = (*earlier, Message("assistant", "It is sunny."), Message("user", "And in Tokyo?"))
    assert len(plan(request(follow_up))) == 1


def test_it_makes_no_calls_with_zero_rounds_in_auto():
    assert plan(request(), ToolBehaviour(rounds=0)) == ()


def test_it_makes_no_calls_when_the_assistant_spoke_last():
    messages = (*ASK_WEATHER, Message("assistant", "Let me think."))
    assert plan(request(messages)) == ()


def test_it_calls_when_a_system_prompt_opens_the_conversation():
    assert len(plan(request((Message("developer", "Check the weather in Paris."),)))) == 1
    later = (*ASK_WEATHER, Message("assistant", "Sunny."), Message("system", "Be brief."))
    assert plan(request(later)) == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What's the weather like in Paris?", "get_weather"),
        ("Is it going to rain in Tokyo? Check the forecast and weather", "get_weather"),
        ("Search the web for pages about Python packaging", "searchWeb"),
        ("Please send an email to Bob", "send-email"),
        ("What time is it?", "get_time"),
        ("Hello there", "get_weather"),  # no match at all: the first tool offered
    ],
)
def test_it_picks_the_tool_that_matches_the_users_message(text, expected):
    calls = plan(request((Message("user", text),)))
    assert calls[0].name == expected


def test_it_ranks_tools_by_the_ends_of_a_huge_message_in_bounded_time():
    # A 4 MB message of capitals (quadratic for the old splitter): the ask at its end still counts.
    text = "A" * 4_000_000 + " please send an email"
    started = time.perf_counter()
    calls = plan(request((Message("user", text),)))
    assert time.perf_counter() - started < 1.0
    assert calls[0].name == "send-email"


def test_it_breaks_ties_by_the_order_tools_are_offered():
    twins = (ToolDefinition("lookup_b", "Look something up"), ToolDefinition("lookup_a", "Look something up"))
    assert plan(request((Message("user", "lookup please"),), tools=twins))[0].name == "lookup_b"


def test_it_is_deterministic_for_a_seed():
    req = request(tool_choice="required")
    behaviour = ToolBehaviour(parallel_calls=3)
    assert plan(req, behaviour, seed=42) == plan(req, behaviour, seed=42)
    ids = {call.id_suffix for seed in range(20) for call in plan(req, behaviour, seed=seed)}
    assert len(ids) == 60


def test_it_makes_24_character_alphanumeric_id_suffixes():
    assert ID_SUFFIX_LENGTH == 24
    for seed in range(20):
        for call in plan(request(), ToolBehaviour(parallel_calls=4), seed):
            assert re.fullmatch(r"[A-Za-z0-9]{24}", call.id_suffix)


def test_it_sends_arguments_as_compact_json_that_fit_the_schema():
    calls = {call.name: call for call in plan(request(), ToolBehaviour(parallel_calls=4))}
    weather = json.loads(calls["get_weather"].arguments)
    assert weather["location"] == "Paris, France"  # taken from the user's message
    assert weather.get("unit", "celsius") in ("celsius", "fahrenheit")
    assert json.loads(calls["searchWeb"].arguments) == {"query": "What's the weather like in Paris?"}
    assert set(json.loads(calls["send-email"].arguments)) == {"to", "body"}
    assert calls["get_time"].arguments == "{}"
    assert ", " not in calls["get_weather"].arguments.replace("Paris, France", "")


def test_it_summarises_the_tool_results_the_conversation_ends_with():
    messages = after_tool_round(ASK_WEATHER, "get_weather", result='{"temperature": 21, "unit": "celsius"}')
    assert tool_results_summary(messages) == 'Based on get_weather: {"temperature": 21, "unit": "celsius"}.'


def test_it_names_every_tool_of_parallel_results():
    calls = (ToolCall("call_a", "get_weather", "{}"), ToolCall("call_b", "get_time", "{}"))
    messages = (
        *ASK_WEATHER,
        Message("assistant", "", tool_calls=calls),
        Message("tool", "Sunny,\n 21 °C", tool_call_id="call_a"),
        Message("tool", "14:05", tool_call_id="call_b"),
    )
    assert tool_results_summary(messages) == "Based on get_weather: Sunny, 21 °C; get_time: 14:05."


def test_it_cuts_long_tool_results_short():
    long_result = json.dumps({"items": [f"result number {i}" for i in range(50)]})
    summary = tool_results_summary(after_tool_round(ASK_WEATHER, "searchWeb", result=long_result))
    quoted = summary.removeprefix("Based on searchWeb: ")
    assert quoted.endswith("…")
    assert len(quoted) <= 80
    assert long_result.startswith(quoted[:-1])


def test_it_summarises_only_the_latest_round():
    first = after_tool_round(ASK_WEATHER, "get_weather", result="sunny")
    second = after_tool_round(first, "get_time", result="noon")
    assert tool_results_summary(second) == "Based on get_time: noon."


def test_it_has_no_summary_unless_the_conversation_ends_with_tool_results():
    assert tool_results_summary(ASK_WEATHER) == ""
    assert tool_results_summary(()) == ""
    done = (*after_tool_round(ASK_WEATHER, "get_weather"), Message("assistant", "Sunny."))
    assert tool_results_summary(done) == ""


def test_it_summarises_a_result_whose_call_is_unknown_without_failing():
    messages = (*ASK_WEATHER, Message("tool", "", tool_call_id="call_missing"))
    assert tool_results_summary(messages) == "Based on the tool: (no content)."


def test_it_finds_no_unknown_ids_in_a_well_formed_conversation():
    messages = after_tool_round(after_tool_round(ASK_WEATHER, "get_weather", "get_time"), "searchWeb")
    assert unknown_tool_call_ids(messages) == []


def test_it_finds_tool_messages_that_answer_no_call():
    messages = (
        *after_tool_round(ASK_WEATHER, "get_weather"),
        Message("tool", "stray", tool_call_id="call_stray"),
        Message("tool", "stray again", tool_call_id="call_stray"),
        Message("tool", "other", tool_call_id="call_other"),
    )
    assert unknown_tool_call_ids(messages) == ["call_stray", "call_other"]


def test_it_finds_a_tool_message_that_comes_before_its_call():
    call = ToolCall("call_late", "get_weather", "{}")
    messages = (
        Message("user", "Weather?"),
        Message("tool", "sunny", tool_call_id="call_late"),
        Message("assistant", "", tool_calls=(call,)),
    )
    assert unknown_tool_call_ids(messages) == ["call_late"]
