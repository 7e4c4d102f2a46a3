"""Sequence rules (simulator.engine.rules.sequences): steps in order, exhaustion, and whose position counts."""

from __future__ import annotations

import pytest

from simulator.engine.rules import RequestFacts, Rule, SequenceExhausted, Sequences, conversation_key
from simulator.engine.types import CompletionRequest, Message
from tests.engine.rules.builders import NO_FACTS, request, rule


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
