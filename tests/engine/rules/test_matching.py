"""Matching (simulator.engine.rules.matching): each matcher, RuleSet's order and its memo per model."""

from __future__ import annotations

import itertools
import time

import pytest

from simulator.engine.rules import RULE_TEXT_CHARS, Match, RequestFacts, RuleError, RuleSet, describe
from simulator.engine.types import Message, ToolDefinition
from tests.engine.rules.builders import NO_FACTS, request, rule


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
    assert RuleSet((r,)).first_match(near_miss, NO_FACTS) is None
    assert time.perf_counter() - started < 0.5
    assert RuleSet((r,)).first_match(request(Message("user", "aaaa 7")), NO_FACTS) is (r if "d" in pattern else None)


def test_a_regex_matches_text_beyond_ascii_in_either_case():
    r = rule(last_user=r"ärger #\d+", regex=True)
    assert r.matches(request(Message("user", "Noch mehr ÄRGER #42 — schon wieder")), NO_FACTS)
    assert not r.matches(request(Message("user", "Ärger # 42")), NO_FACTS)


def test_a_megabyte_long_model_name_is_matched_but_not_kept():
    rules = RuleSet((rule(model="gpt-4*"),))
    name = "gpt-4o-" + "x" * 1_000_000
    assert rules.first_match(request(model=name), NO_FACTS) is rules[0]
    assert name not in rules.in_play_by_model
    assert rules.first_match(request(model="gpt-4o"), NO_FACTS) is rules[0]
    assert "gpt-4o" in rules.in_play_by_model


def test_a_rule_reads_the_first_rule_text_chars_of_a_message():
    r = rule(any_message="needle")
    inside = "x" * (RULE_TEXT_CHARS - 10) + " needle"
    beyond = "x" * RULE_TEXT_CHARS + " needle"
    assert RuleSet((r,)).first_match(request(Message("user", inside)), NO_FACTS) is r
    assert RuleSet((r,)).first_match(request(Message("user", inside[:-3])), NO_FACTS) is None
    assert RuleSet((r,)).first_match(request(Message("user", "x" * 100 + " needle")), NO_FACTS) is r
    assert RuleSet((r,)).first_match(request(Message("user", beyond)), NO_FACTS) is None


def test_an_empty_match_matches_everything():
    assert rule().matches(request(), NO_FACTS)
    assert RuleSet([rule()]).first_match(request(), NO_FACTS) is not None


def test_model_matches_exactly_or_by_glob():
    assert rule(model="gpt-4o").matches(request(model="gpt-4o"), NO_FACTS)
    assert rule(model="gpt-4*").matches(request(model="gpt-4o-mini"), NO_FACTS)
    assert not rule(model="gpt-4*").matches(request(model="o3"), NO_FACTS)


def test_last_user_substring_respects_case_setting():
    messages = (Message("user", "first"), Message("assistant", "x"), Message("user", "What is the WEATHER?"))
    assert rule(last_user="weather").matches(request(*messages), NO_FACTS)
    assert not rule(last_user="weather", ignore_case=False).matches(request(*messages), NO_FACTS)
    assert not rule(last_user="first").matches(request(*messages), NO_FACTS)
    assert rule(any_message="first").matches(request(*messages), NO_FACTS)


def test_case_insensitive_texts_compare_casefolded():
    german = request(Message("system", "Sprich wie ein PIRAT."), Message("user", "Wo ist die Hauptstraße?"))
    assert rule(last_user="HAUPTSTRASSE").matches(german, NO_FACTS)
    assert rule(any_message="hauptstrasse").matches(german, NO_FACTS)
    assert rule(system="pirat").matches(german, NO_FACTS)
    assert not rule(any_message="hauptstrasse", ignore_case=False).matches(german, NO_FACTS)
    assert rule(any_message="Hauptstraße", ignore_case=False).matches(german, NO_FACTS)
    assert not rule(system="pirat", ignore_case=False).matches(german, NO_FACTS)


def test_regex_matchers():
    r = rule(last_user=r"order #\d{4}", regex=True)
    assert r.matches(request(Message("user", "where is order #1234?")), NO_FACTS)
    assert not r.matches(request(Message("user", "where is order #12?")), NO_FACTS)


def test_system_prompt_matcher():
    messages = (Message("system", "You are a Pirate."), Message("user", "hi"))
    assert rule(system="pirate").matches(request(*messages), NO_FACTS)
    assert not rule(system="ninja").matches(request(*messages), NO_FACTS)
    assert rule(system="pirate").matches(request(Message("developer", "a pirate")), NO_FACTS)


def test_the_system_matcher_is_plain_text_even_in_a_regex_rule():
    assert not rule(system="a.c", regex=True).matches(request(Message("system", "abc")), NO_FACTS)
    assert rule(system="a.c", regex=True).matches(request(Message("system", "say A.C")), NO_FACTS)


def test_tool_matchers():
    weather = ToolDefinition("get_weather")
    with_tools = request(tools=(weather,))
    assert rule(tools_present=True).matches(with_tools, NO_FACTS)
    assert not rule(tools_present=True).matches(request(), NO_FACTS)
    assert rule(tools_present=False).matches(request(), NO_FACTS)
    assert not rule(tools_present=False).matches(with_tools, NO_FACTS)
    assert rule(tool_offered="get_weather").matches(with_tools, NO_FACTS)
    assert not rule(tool_offered="search").matches(with_tools, NO_FACTS)
    assert not rule(tool_offered="get_weather").matches(request(), NO_FACTS)
    after_tools = request(Message("user", "hi"), Message("tool", "21C", tool_call_id="c1"))
    assert rule(last_is_tool_result=True).matches(after_tools, NO_FACTS)
    assert not rule(last_is_tool_result=True).matches(request(), NO_FACTS)
    assert rule(last_is_tool_result=False).matches(request(), NO_FACTS)
    assert not rule(last_is_tool_result=False).matches(after_tools, NO_FACTS)


def test_header_and_api_key_matchers():
    facts = RequestFacts(headers={"x-test-case": "checkout-42"}, api_key="sk-a")
    assert rule(header="x-test-case: checkout-*").matches(request(), facts)
    assert rule(header="X-Test-Case").matches(request(), facts)
    assert not rule(header="x-test-case: login").matches(request(), facts)
    assert rule(api_key="sk-a").matches(request(), facts)
    assert not rule(api_key="sk-b").matches(request(), facts)


def test_a_header_glob_needs_the_header_sent():
    assert not rule(header="x-test-case: *").matches(request(), NO_FACTS)
    assert rule(header="x-test-case: *").matches(request(), RequestFacts(headers={"x-test-case": ""}))


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
    assert full.matches(request(*messages), facts)
    for missing in (
        RequestFacts(headers={"x-test-case": "checkout-1"}, api_key="sk-b"),
        RequestFacts(headers={"x-test-case": "login"}, api_key="sk-a"),
    ):
        assert rules.first_match(request(*messages), missing).name == "rest"
        assert not full.matches(request(*messages), missing)
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


def test_matcher_text_is_matched_as_text():
    tricky = rule(last_user='") or True or ("', api_key="x' + 'y")
    assert not tricky.matches(request(Message("user", "hello")), RequestFacts(api_key="xy"))
    assert tricky.matches(request(Message("user", 'say ") or True or ("')), RequestFacts(api_key="x' + 'y"))


def test_the_model_memo_is_bounded():
    rules = RuleSet([rule(model="gpt-4*")])
    for i in range(RuleSet.MEMO_LIMIT + 10):
        rules.first_match(request(model=f"model-{i}"), NO_FACTS)
    assert len(rules.in_play_by_model) <= RuleSet.MEMO_LIMIT
    assert rules.first_match(request(model="gpt-4o"), NO_FACTS) is not None


def test_the_first_matching_rule_wins():
    rules = RuleSet([rule(name="a", last_user="nope"), rule(name="b"), rule(name="c")])
    assert rules.first_match(request(), NO_FACTS).name == "b"


def test_describe_says_what_a_rule_matches():
    text = describe(Match(model="gpt-4*", last_user="weather", tools_present=True))
    assert "model is gpt-4*" in text and "'weather'" in text and "tools are offered" in text
    assert describe(Match()) == "Every request"


def test_a_rule_set_answers_as_the_first_rule_that_matches_on_its_own():
    """RuleSet decides model matchers once per name: it must agree with every rule's own matches()."""
    rules = RuleSet(
        [
            rule(name="gpt4-refund", model="GPT-4*", any_message="refund"),
            rule(name="weather-regex", last_user=r"weather|forecast", regex=True),
            rule(name="pirate-tools", system="pirate", tools_present=True),
            rule(name="o3-after-tools", model="o3", last_is_tool_result=True),
            rule(name="checkout", header="x-test-case: checkout-*", tool_offered="pay"),
            rule(name="key", api_key="sk-a", last_user="hi", ignore_case=False),
            rule(name="claude", model="claude-*"),
        ]
    )
    models = ["gpt-4o", "gpt-4o-mini", "o3", "claude-sonnet-4", "gemini-2.5-pro"]
    conversations = [
        (Message("user", "hi"),),
        (Message("user", "a refund please"),),
        (Message("system", "You are a PIRATE."), Message("user", "Hi there")),
        (Message("user", "and now?"), Message("assistant", ""), Message("tool", "21C")),
        (Message("developer", "pirate"), Message("user", "the forecast")),
    ]
    tool_sets = [(), (ToolDefinition("pay"),)]
    facts = [NO_FACTS, RequestFacts(headers={"x-test-case": "checkout-7"}, api_key="sk-a")]
    seen = set()
    for model, messages, tools, fact in itertools.product(models, conversations, tool_sets, facts):
        asked = request(*messages, model=model, tools=tools)
        expected = next((r for r in rules if r.matches(asked, fact)), None)
        assert rules.first_match(asked, fact) is expected
        seen.add(expected and expected.name)
    assert seen == {r.name for r in rules} | {None}


def test_any_object_with_headers_and_a_key_serves_as_facts():
    """The server hands its Call over as it is, whose key is None when the request sent none."""

    class Call:
        headers = {"x-test-case": "checkout-1"}
        api_key = None

    rules = RuleSet([rule(name="key", api_key="sk-a"), rule(name="header", header="x-test-case: checkout-*")])
    assert rules.first_match(request(), Call()).name == "header"
