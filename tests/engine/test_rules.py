"""Response rules (simulator.engine.rules): parsing, matching and sequences."""

from __future__ import annotations

import time

import pytest

from simulator.engine.rules import (
    RULE_TEXT_CHARS,
    Match,
    RequestFacts,
    Rule,
    RuleError,
    RuleSet,
    SequenceExhausted,
    Sequences,
    conversation_key,
    describe,
    first_match,
    matches,
    parse_action,
    parse_step,
)
from simulator.engine.types import CompletionRequest, Message, ToolDefinition

NO_FACTS = RequestFacts()


def request(*messages: Message, model: str = "gpt-4o", tools: tuple[ToolDefinition, ...] = ()) -> CompletionRequest:
    return CompletionRequest(model=model, messages=messages or (Message("user", "hello"),), tools=tools)


def rule(action=None, name: str = "r", **match) -> Rule:
    steps, scope, exhausted = parse_action(action if action is not None else {"text": "x"})
    return Rule(name=name, match=Match(**match), steps=steps, scope=scope, when_exhausted=exhausted)


# --- parsing -------------------------------------------------------------------------


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


def test_an_invalid_regex_is_refused():
    with pytest.raises(RuleError, match="invalid regular expression"):
        rule(last_user="(unclosed", regex=True)


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        ("^(?=.*\\d)\\w+$", "lookahead (?=…) is not supported"),
        ("^(?!draft)", "negative lookahead (?!…) is not supported"),
        ("(?<=order )#\\d+", "lookbehind (?<=…) is not supported"),
        ("(['\"]).*\\1", "backreferences such as \\1 are not supported"),
        ("a{2000}", "repeat counts above 1000 are not supported"),
    ],
)
def test_a_regex_rules_cannot_match_in_linear_time_is_refused_with_the_reason(pattern, says):
    with pytest.raises(RuleError) as raised:
        rule(any_message=pattern, regex=True)
    assert says in str(raised.value)
    assert "RE2" in str(raised.value)


@pytest.mark.parametrize("pattern", ["^(a+)+$", "^(a|aa)+$", "(\\w+\\s?)*\\d"])
def test_a_backtracking_regex_matches_a_long_near_miss_at_once(pattern):
    # Python's re takes seconds per added character on these; RE2 is linear in the text.
    r = rule(last_user=pattern, any_message=pattern, regex=True)
    near_miss = request(Message("user", "a " * 20_000 + "!"), Message("user", "a" * 50_000 + "!"))
    started = time.perf_counter()
    assert first_match(RuleSet((r,)), near_miss, NO_FACTS) is None
    assert time.perf_counter() - started < 0.5
    assert first_match(RuleSet((r,)), request(Message("user", "aaaa 7")), NO_FACTS) is (r if "d" in pattern else None)


def test_a_megabyte_long_model_name_is_matched_but_not_kept():
    rules = RuleSet((rule(model="gpt-4*"),))
    name = "gpt-4o-" + "x" * 1_000_000
    assert first_match(rules, request(model=name), NO_FACTS) is rules[0]
    assert name not in rules.finders
    assert first_match(rules, request(model="gpt-4o"), NO_FACTS) is rules[0]
    assert "gpt-4o" in rules.finders


def test_a_rule_reads_the_first_rule_text_chars_of_a_message():
    r = rule(any_message="needle")
    inside = "x" * (RULE_TEXT_CHARS - 10) + " needle"
    beyond = "x" * RULE_TEXT_CHARS + " needle"
    assert first_match(RuleSet((r,)), request(Message("user", inside)), NO_FACTS) is r
    assert first_match(RuleSet((r,)), request(Message("user", inside[:-3])), NO_FACTS) is None
    assert first_match(RuleSet((r,)), request(Message("user", "x" * 100 + " needle")), NO_FACTS) is r
    assert first_match(RuleSet((r,)), request(Message("user", beyond)), NO_FACTS) is None


# --- matching ------------------------------------------------------------------------


def test_an_empty_match_matches_everything():
    assert first_match([rule()], request(), NO_FACTS) is not None


def test_model_matches_exactly_or_by_glob():
    assert first_match([rule(model="gpt-4o")], request(model="gpt-4o"), NO_FACTS)
    assert first_match([rule(model="gpt-4*")], request(model="gpt-4o-mini"), NO_FACTS)
    assert not first_match([rule(model="gpt-4*")], request(model="o3"), NO_FACTS)


def test_last_user_substring_respects_case_setting():
    messages = (Message("user", "first"), Message("assistant", "x"), Message("user", "What is the WEATHER?"))
    assert first_match([rule(last_user="weather")], request(*messages), NO_FACTS)
    assert not first_match([rule(last_user="weather", ignore_case=False)], request(*messages), NO_FACTS)
    assert not first_match([rule(last_user="first")], request(*messages), NO_FACTS)
    assert first_match([rule(any_message="first")], request(*messages), NO_FACTS)


def test_case_insensitive_texts_compare_casefolded():
    german = request(Message("system", "Sprich wie ein PIRAT."), Message("user", "Wo ist die Hauptstraße?"))
    assert first_match([rule(last_user="HAUPTSTRASSE")], german, NO_FACTS)
    assert first_match([rule(any_message="hauptstrasse")], german, NO_FACTS)
    assert first_match([rule(system="pirat")], german, NO_FACTS)
    assert not first_match([rule(any_message="hauptstrasse", ignore_case=False)], german, NO_FACTS)
    assert first_match([rule(any_message="Hauptstraße", ignore_case=False)], german, NO_FACTS)
    assert not first_match([rule(system="pirat", ignore_case=False)], german, NO_FACTS)


def test_regex_matchers():
    r = rule(last_user=r"order #\d{4}", regex=True)
    assert first_match([r], request(Message("user", "where is order #1234?")), NO_FACTS)
    assert not first_match([r], request(Message("user", "where is order #12?")), NO_FACTS)


def test_system_prompt_matcher():
    messages = (Message("system", "You are a Pirate."), Message("user", "hi"))
    assert first_match([rule(system="pirate")], request(*messages), NO_FACTS)
    assert not first_match([rule(system="ninja")], request(*messages), NO_FACTS)


def test_tool_matchers():
    weather = ToolDefinition("get_weather")
    with_tools = request(tools=(weather,))
    assert first_match([rule(tools_present=True)], with_tools, NO_FACTS)
    assert not first_match([rule(tools_present=True)], request(), NO_FACTS)
    assert first_match([rule(tools_present=False)], request(), NO_FACTS)
    assert not first_match([rule(tools_present=False)], with_tools, NO_FACTS)
    assert first_match([rule(tool_offered="get_weather")], with_tools, NO_FACTS)
    assert not first_match([rule(tool_offered="search")], with_tools, NO_FACTS)
    assert not first_match([rule(tool_offered="get_weather")], request(), NO_FACTS)
    after_tools = request(Message("user", "hi"), Message("tool", "21C", tool_call_id="c1"))
    assert first_match([rule(last_is_tool_result=True)], after_tools, NO_FACTS)
    assert not first_match([rule(last_is_tool_result=True)], request(), NO_FACTS)
    assert first_match([rule(last_is_tool_result=False)], request(), NO_FACTS)
    assert not first_match([rule(last_is_tool_result=False)], after_tools, NO_FACTS)


def test_header_and_api_key_matchers():
    facts = RequestFacts(headers={"x-test-case": "checkout-42"}, api_key="sk-a")
    assert first_match([rule(header="x-test-case: checkout-*")], request(), facts)
    assert first_match([rule(header="X-Test-Case")], request(), facts)
    assert not first_match([rule(header="x-test-case: login")], request(), facts)
    assert first_match([rule(api_key="sk-a")], request(), facts)
    assert not first_match([rule(api_key="sk-b")], request(), facts)


def test_a_header_glob_needs_the_header_sent():
    assert not first_match([rule(header="x-test-case: *")], request(), NO_FACTS)
    assert first_match([rule(header="x-test-case: *")], request(), RequestFacts(headers={"x-test-case": ""}))


def test_a_rule_set_decides_model_matchers_once_per_model_and_still_reads_each_request():
    rules = RuleSet(
        [
            rule(name="gpt4-weather", model="gpt-4*", last_user="weather"),
            rule(name="tools", tools_present=True),
            rule(name="after-tools", last_is_tool_result=True),
            rule(name="fallback", api_key="sk-a"),
        ]
    )
    weather = request(Message("user", "weather?"), model="gpt-4o")
    assert [r.name for r in rules.in_play("gpt-4o")] == ["gpt4-weather", "tools", "after-tools", "fallback"]
    assert [r.name for r in rules.in_play("o3")] == ["tools", "after-tools", "fallback"]
    assert rules.first_match(weather, NO_FACTS).name == "gpt4-weather"
    # Same model, other words: the content matcher runs again, per request.
    assert rules.first_match(request(Message("user", "news?"), model="gpt-4o"), NO_FACTS) is None
    assert rules.first_match(request(Message("user", "news?"), model="gpt-4o"), RequestFacts(api_key="sk-a")).name == (
        "fallback"
    )
    with_tools = request(model="o3", tools=(ToolDefinition("get_weather"),))
    assert rules.first_match(with_tools, NO_FACTS).name == "tools"
    after = request(Message("user", "hi"), Message("tool", "21C", tool_call_id="c1"), model="o3")
    assert rules.first_match(after, NO_FACTS).name == "after-tools"
    assert rules == tuple(rules) and len(rules) == 4


def test_a_rule_with_every_content_matcher_needs_them_all():
    full = rule(
        name="all",
        last_user="refund",
        any_message="order",
        system="support",
        header="x-test-case: checkout-*",
        api_key="sk-a",
    )
    rules = RuleSet([full, rule(name="rest")])
    messages = (Message("system", "You are SUPPORT."), Message("user", "order 7"), Message("user", "a refund please"))
    facts = RequestFacts(headers={"x-test-case": "checkout-1"}, api_key="sk-a")
    assert rules.first_match(request(*messages), facts).name == "all"
    assert matches(full, request(*messages), facts)
    for missing in (
        RequestFacts(headers={"x-test-case": "checkout-1"}, api_key="sk-b"),
        RequestFacts(headers={"x-test-case": "login"}, api_key="sk-a"),
    ):
        assert rules.first_match(request(*messages), missing).name == "rest"
        assert not matches(full, request(*messages), missing)
    assert rules.first_match(request(*messages[1:]), facts).name == "rest"  # no system prompt
    assert rules.first_match(request(messages[0], Message("user", "a refund")), facts).name == "rest"  # no "order"


def test_message_matchers_with_other_conditions_fall_through_in_priority_order():
    rules = RuleSet(
        [
            rule(name="key-and-order", api_key="sk-a", any_message="order"),
            rule(name="exact-pirate", system="Pirate", ignore_case=False),
            rule(name="rest"),
        ]
    )
    order = Message("user", "my order")
    pirate = Message("developer", "You are a Pirate.")
    assert rules.first_match(request(order), RequestFacts(api_key="sk-a")).name == "key-and-order"
    assert rules.first_match(request(order), RequestFacts(api_key="sk-b")).name == "rest"
    assert rules.first_match(request(pirate, order), RequestFacts(api_key="sk-b")).name == "exact-pirate"
    assert rules.first_match(request(Message("system", "a pirate"), order), NO_FACTS).name == "rest"
    assert rules.first_match(request(Message("user", "Pirate")), NO_FACTS).name == "rest"  # not a system prompt


def test_matcher_text_is_data_never_code():
    tricky = rule(last_user='") or True or ("', api_key="x' + 'y")
    assert not first_match([tricky], request(Message("user", "hello")), RequestFacts(api_key="xy"))
    assert first_match([tricky], request(Message("user", 'say ") or True or ("')), RequestFacts(api_key="x' + 'y"))


def test_the_model_memo_is_bounded():
    rules = RuleSet([rule(model="gpt-4*")])
    for i in range(RuleSet.MEMO_LIMIT + 10):
        rules.first_match(request(model=f"model-{i}"), NO_FACTS)
    assert len(rules.finders) <= RuleSet.MEMO_LIMIT
    assert rules.first_match(request(model="gpt-4o"), NO_FACTS) is not None


def test_the_first_matching_rule_wins():
    rules = [rule(name="a", last_user="nope"), rule(name="b"), rule(name="c")]
    assert first_match(rules, request(), NO_FACTS).name == "b"


def test_describe_says_what_a_rule_matches():
    text = describe(Match(model="gpt-4*", last_user="weather", tools_present=True))
    assert "model is gpt-4*" in text and "'weather'" in text and "tools are offered" in text
    assert describe(Match()) == "Every request"


# --- sequences -----------------------------------------------------------------------


def play(r: Rule, count: int, req: CompletionRequest | None = None, facts: RequestFacts = NO_FACTS) -> list[str]:
    sequences = Sequences()
    out = []
    for _ in range(count):
        step = sequences.next_action(r, req or request(), facts)
        out.append(step.kind if step.kind != "error" else f"error{step.error.status}")
    return out


def test_fail_twice_then_answer():
    r = rule({"sequence": [{"error": 429, "times": 2}, {"generate": True}]})
    assert play(r, 5) == ["error429", "error429", "generate", "generate", "generate"]


def test_loop_starts_over_and_error_ends():
    looping = rule({"sequence": [{"text": "a"}, {"error": 500}], "when_exhausted": "loop"})
    assert play(looping, 5) == ["text", "error500", "text", "error500", "text"]
    ending = rule({"sequence": [{"text": "a"}], "when_exhausted": "error"})
    sequences = Sequences()
    sequences.next_action(ending, request(), NO_FACTS)
    with pytest.raises(SequenceExhausted):
        sequences.next_action(ending, request(), NO_FACTS)


def test_positions_are_per_conversation_by_default():
    r = rule({"sequence": [{"tool_calls": {"name": "f"}}, {"text": "done"}]})
    sequences = Sequences()
    one = request(Message("user", "conversation one"))
    two = request(Message("user", "conversation two"))
    assert sequences.next_action(r, one, NO_FACTS).kind == "tool_calls"
    assert sequences.next_action(r, two, NO_FACTS).kind == "tool_calls"
    # The agent loop's next turn: same opening, tool results appended.
    one_later = request(Message("user", "conversation one"), Message("assistant", ""), Message("tool", "x"))
    assert sequences.next_action(r, one_later, NO_FACTS).kind == "text"


def test_positions_per_api_key_and_global():
    per_key = rule({"sequence": [{"text": "a"}, {"text": "b"}], "scope": "api_key"})
    sequences = Sequences()
    a, b = RequestFacts(api_key="sk-a"), RequestFacts(api_key="sk-b")
    assert sequences.next_action(per_key, request(Message("user", "1")), a).text == "a"
    assert sequences.next_action(per_key, request(Message("user", "2")), a).text == "b"
    assert sequences.next_action(per_key, request(Message("user", "3")), b).text == "a"
    shared = rule({"sequence": [{"text": "a"}, {"text": "b"}], "scope": "global"})
    assert sequences.next_action(shared, request(Message("user", "1")), a).text == "a"
    assert sequences.next_action(shared, request(Message("user", "2")), b).text == "b"


def test_a_conversation_header_names_the_conversation():
    facts = RequestFacts(headers={"x-llmsim-conversation": "case-7"})
    assert conversation_key(request(Message("user", "a")), facts) == conversation_key(
        request(Message("user", "b")), facts
    )
    assert conversation_key(request(Message("user", "a")), NO_FACTS) != conversation_key(
        request(Message("user", "b")), NO_FACTS
    )
