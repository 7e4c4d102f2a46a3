"""Rules whose answer is a sequence of steps, and how far each conversation got through one.

A sequence ("fail twice with 429, then answer") plays once per conversation by default,
or per API key, or once for everyone (the rule's scope). `Sequences` keeps the positions
in this process. With REDIS_URL the server keeps them in Redis instead
(simulator.state.sequences), under `position_key`, and plays them with `step_at`.
"""

from __future__ import annotations

import hashlib

from simulator.engine.rules.actions import Action
from simulator.engine.rules.matching import SYSTEM_ROLES, RequestFacts, Rule
from simulator.engine.types import CompletionRequest


def conversation_key(request: CompletionRequest, facts: RequestFacts) -> str:
    """Which conversation a request continues: x-llmsim-conversation, or its opening messages.

    An agent loop resends the same system prompt and first user message each turn, so
    those identify it; a test that needs several identical conversations names them.
    """
    named = facts.headers.get("x-llmsim-conversation")
    if named:
        return "c:" + named
    opening = [m for m in request.messages if m.role in SYSTEM_ROLES][:1]
    opening += [m for m in request.messages if m.role == "user"][:1]
    digest = hashlib.blake2b(digest_size=12)
    for message in opening:
        digest.update(message.role.encode() + b"\0" + message.content.encode() + b"\0")
    return "h:" + digest.hexdigest()


class SequenceExhausted(Exception):
    """A sequence with when_exhausted "error" has played every step."""


def is_sequence(rule: Rule) -> bool:
    """Whether the rule's answer depends on how many requests came before (a position to keep)."""
    return not (len(rule.steps) == 1 and rule.steps[0].times == 1 and rule.when_exhausted != "error")


def position_key(rule: Rule, request: CompletionRequest, facts: RequestFacts) -> str:
    """Whose place in the rule's sequence a request takes: the rule, and its scope's conversation or key."""
    if rule.scope == "conversation":
        who = conversation_key(request, facts)
    elif rule.scope == "api_key":
        # Hashed: the key may end up in Redis, which must never hold API keys.
        who = "k:" + hashlib.blake2b(facts.api_key.encode(), digest_size=12).hexdigest()
    else:
        who = ""
    return f"{rule.id}:{rule.name}:{who}"


def step_at(rule: Rule, position: int) -> Action:
    """The step a request gets at this position (0: the first request); SequenceExhausted past the end."""
    total = sum(step.times for step in rule.steps)
    if position >= total:
        if rule.when_exhausted == "error":
            raise SequenceExhausted(rule.name)
        if rule.when_exhausted == "loop":
            position %= total
        else:
            return rule.steps[-1]
    for step in rule.steps:
        if position < step.times:
            return step
        position -= step.times
    return rule.steps[-1]


class Sequences:
    """How far each (rule, conversation or key) got through its steps; per process, bounded.

    With REDIS_URL the server keeps the positions in Redis instead (simulator.state.sequences),
    so that every process plays one sequence; this store is then only the fallback.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._positions: dict[str, int] = {}
        self._limit = limit

    def next_action(self, rule: Rule, request: CompletionRequest, facts: RequestFacts) -> Action:
        """The step this request gets, advancing the position; SequenceExhausted past the end."""
        if not is_sequence(rule):
            return rule.steps[0]  # nothing to remember
        key = position_key(rule, request, facts)
        position = self._positions.get(key, 0)
        if len(self._positions) >= self._limit and key not in self._positions:
            self._positions.clear()  # a load test with endless conversations: forget, don't grow
        self._positions[key] = position + 1
        return step_at(rule, position)

    def reset(self) -> None:
        self._positions.clear()


# This process's positions (the server's, and the fallback while Redis is down).
local_sequences = Sequences()
