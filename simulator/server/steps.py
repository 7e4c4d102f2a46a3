"""The provider-neutral steps of answering a generation request, shared by every adapter.

An adapter parses its wire format into a CompletionRequest, then:

    scenario = scenario_for(call, snapshot)           # x-llmsim-scenario, or the default
    action = scripted_action(call, scenario, request) # a matching response rule's step, if any
    # (a SharedStep to await when the rule is a sequence kept in Redis)
    plan = planner.plan(request, spec, scenario, overrides, action, call.rule)

then (answering.plan_answer) takes `reserved_tokens()` from the rate-limit buckets of
the scenario's limits or the model's defaults, and renders the plan in its own format.
The endpoint decorator settles the rate-limit reservation when the answer is done
(`settle`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from simulator.engine.rules import (
    Action,
    RequestFacts,
    Rule,
    SequenceExhausted,
    is_sequence,
    local_sequences,
    position_key,
    step_at,
)
from simulator.engine.snapshot import Scenario, Snapshot
from simulator.engine.types import CompletionRequest, Plan
from simulator.server.http import Call, ProviderError, api_key_of, quoted
from simulator.state import buckets as ratelimits
from simulator.state import sequences as shared_sequences

logger = logging.getLogger(__name__)

SCENARIO_HEADER = "x-llmsim-scenario"


def scenario_for(call: Call, snapshot: Snapshot) -> Scenario:
    """The scenario the request names in x-llmsim-scenario (400 when there is none by that name)."""
    name = call.headers.get(SCENARIO_HEADER)
    scenario = snapshot.scenario(name)
    if scenario is None:
        known = ", ".join(sorted(s.name for s in snapshot.scenarios.values())) or "none defined"
        raise ProviderError(
            400,
            f"Unknown scenario {quoted(name)} in the {SCENARIO_HEADER} header. Known scenarios: {known}.",
            param=SCENARIO_HEADER,
            code="unknown_scenario",
        )
    call.scenario = scenario.name
    return scenario


def scripted_action(call: Call, scenario: Scenario, request: CompletionRequest) -> Action | SharedStep | None:
    """The step of the first response rule that matches, advancing its sequence; None when none matches.

    A SharedStep when the rule is a sequence whose position lives in Redis: await its take().
    """
    if not scenario.rules:
        return None
    if not call.api_key_read:
        api_key_of(call)
    facts = RequestFacts(call.headers, call.api_key or "")
    rule = scenario.rules.first_match(request, facts)
    if rule is None:
        return None
    call.rule = rule.name
    if not is_sequence(rule):
        return rule.steps[0]
    if shared_sequences.shared():
        return SharedStep(scenario.name, rule, request, facts)
    try:
        return local_sequences.next_action(rule, request, facts)
    except SequenceExhausted as exc:
        raise _exhausted(scenario.name, rule) from exc


@dataclass(frozen=True, slots=True)
class SharedStep:
    """A sequence rule's step whose position every process shares (in Redis)."""

    scenario: str
    rule: Rule
    request: CompletionRequest
    facts: RequestFacts

    async def take(self) -> Action:
        """The step at the next shared position (this process's own count while Redis is down)."""
        position = await shared_sequences.next_position(position_key(self.rule, self.request, self.facts))
        try:
            if position is None:
                return local_sequences.next_action(self.rule, self.request, self.facts)
            return step_at(self.rule, position)
        except SequenceExhausted as exc:
            raise _exhausted(self.scenario, self.rule) from exc


def _exhausted(scenario: str, rule: Rule) -> ProviderError:
    return ProviderError(
        500,
        f"The response rule {rule.name!r} of scenario {scenario!r} has played its whole sequence "
        "(when_exhausted: error).",
        "server_error",
        code="sequence_exhausted",
    )


def reserved_tokens(request: CompletionRequest, plan: Plan, scenario: Scenario) -> int:
    """What a request holds of the tokens-per-minute budget while it runs: prompt + max_tokens.

    Without max_tokens the reservation is the scenario's usual answer length, so a
    budget is not drained by requests that leave the cap to the model.
    """
    cap = request.max_tokens if request.max_tokens is not None else scenario.target_tokens
    return plan.usage.prompt_tokens + cap * request.n


def settle(call: Call) -> None:
    """Give back what a finished request reserved beyond what it used (prompt + tokens sent)."""
    if call.reservation is None:
        return
    key, limit, reserved, enforced = call.reservation
    call.reservation = None
    actual = call.prompt_tokens + call.completion_tokens
    if reserved == actual or limit.tokens_per_minute is None:
        return
    if not enforced and call.ratelimit.remaining_tokens == 0:
        # A reported limit's count that found less than its reservation took what was
        # there, down to empty: there is nothing to give back from.
        return
    buckets = ratelimits.in_process
    if buckets is not None:  # at once, enforced or reported alike
        buckets.settle(key, limit, reserved, actual)
    elif enforced:
        ratelimits.settle_soon(ratelimits.bucket_key(*key), limit, reserved, actual)
    else:
        ratelimits.settle_count(key, limit, reserved, actual)
