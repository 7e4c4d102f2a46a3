"""Parsing rule actions (simulator.engine.rules.actions): each kind of step, sequences, refusals naming the field."""

from __future__ import annotations

import pytest

from simulator.engine.rules import RuleError, parse_action, parse_step


def test_it_parses_each_kind_of_action():
    assert parse_step({"text": "Hi"}).text == "Hi"
    assert parse_step("Hi").text == "Hi"
    calls = parse_step({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}).tool_calls
    assert calls[0].name == "get_weather" and calls[0].arguments == {"city": "Paris"}
    assert parse_step({"tool_calls": {"name": "f"}}).tool_calls[0].arguments is None
    assert parse_step({"json": {"a": 1}}).json == {"a": 1}
    error = parse_step({"error": {"status": 429, "retry_after_ms": 1500, "type": "tokens"}}).error
    assert (error.status, error.retry_after_s, error.error_type) == (429, 1.5, "tokens")
    assert parse_step({"error": 503}).error.status == 503
    latency = parse_step({"latency": {"ttft_ms": 5, "tbt_ms": 1}})
    assert (latency.kind, latency.ttft_ms, latency.tbt_ms) == ("generate", 5.0, 1.0)
    fault = parse_step({"text": "abc", "fault": {"kind": "error", "after_tokens": 3, "status": 500}}).fault
    assert (fault.kind, fault.after_tokens, fault.status) == ("error", 3, 500)
    assert parse_step({"generate": True}).kind == "generate"


def test_it_reads_the_seeds_content_as_text():
    step = parse_step({"content": "Hi", "latency": {"ttft_ms": 5}})
    assert (step.kind, step.text, step.ttft_ms) == ("text", "Hi", 5.0)
    assert parse_action({"sequence": [{"content": "a"}, {"text": "b"}]})[0][0].text == "a"


def test_it_parses_a_sequence_with_times_scope_and_exhaustion():
    steps, scope, exhausted = parse_action(
        {"sequence": [{"error": 429, "times": 2}, {"generate": True}], "scope": "api_key", "when_exhausted": "loop"}
    )
    assert [(s.kind, s.times) for s in steps] == [("error", 2), ("generate", 1)]
    assert (scope, exhausted) == ("api_key", "loop")


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"txt": "Hi"}, "action: unknown field 'txt'"),
        ({"text": "a", "json": {}}, "use one of"),
        ({"text": "a", "content": "b"}, "not text and content"),
        ({"content": 7}, "action.content: must be a string"),
        ({}, "needs one of"),
        ({"error": {"status": 418}}, "action.error.status: must be one of"),
        ({"error": {"status": 429, "retry": 1}}, "action.error: unknown field 'retry'"),
        ({"tool_calls": [{"name": "bad name"}]}, "action.tool_calls[0].name"),
        ({"tool_calls": []}, "needs at least one call"),
        ({"fault": {"kind": "explode"}}, "action.fault.kind: must be one of"),
        ({"fault": {"kind": "stall"}}, "a stall needs a duration"),
        ({"latency": {"ttft": 5}}, "action.latency: unknown field 'ttft'"),
        ({"latency": {"ttft_ms": -1}}, "at least 0"),
        ({"text": "a", "times": 0}, "action.times"),
        ({"sequence": []}, "needs at least one step"),
        ({"sequence": [{"text": "a"}, {"oops": 1}]}, "action.sequence[1]: unknown field 'oops'"),
        ({"sequence": [{"text": "a"}], "times": 2}, "inside a step of the sequence"),
        ({"text": "a", "scope": "world"}, "action.scope"),
        ({"text": "a", "when_exhausted": "explode"}, "action.when_exhausted"),
        (42, "must be a mapping"),
    ],
)
def test_it_refuses_bad_actions_naming_the_field(data, says):
    with pytest.raises(RuleError) as raised:
        parse_action(data)
    assert says in str(raised.value)
