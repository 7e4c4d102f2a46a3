"""Requests and rules for the rule tests, in a line each."""

from __future__ import annotations

from simulator.engine.rules import Match, RequestFacts, Rule, parse_action
from simulator.engine.types import CompletionRequest, Message, ToolDefinition

NO_FACTS = RequestFacts()


def request(*messages: Message, model: str = "gpt-4o", tools: tuple[ToolDefinition, ...] = ()) -> CompletionRequest:
    return CompletionRequest(model=model, messages=messages or (Message("user", "hello"),), tools=tools)


def rule(action=None, name: str = "r", **match) -> Rule:
    steps, scope, exhausted = parse_action(action if action is not None else {"text": "x"})
    return Rule(name=name, match=Match(**match), steps=steps, scope=scope, when_exhausted=exhausted)
