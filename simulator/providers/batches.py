"""What OpenAI's batches and Anthropic's message batches share: each request answered by the
engine as its endpoint would answer it, and the batch's duration and outcome.

A provider's module parses each request of a batch into a BatchLine (its neutral
request, the Dialect its endpoint words failures in, and how its answer's body is
rendered); `answer_lines` plans them all under the creating request's scenario and
headers, as the pipeline plans a single request: response rules (a rule's error is that
request's error), injected errors and faults, the model's limits. Rate limits and the
model's concurrency do not apply: a real batch runs from its own queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.engine import planner
from simulator.engine.batch import OUTCOMES, fails_by_outcome
from simulator.engine.cost import cost_usd
from simulator.engine.rules import Action
from simulator.engine.snapshot import Scenario, Snapshot
from simulator.engine.types import CompletionRequest, InjectedError, Overrides, Plan, StreamFault
from simulator.server.http import Call, ProviderError, quoted
from simulator.server.overrides import parse_overrides
from simulator.server.pipeline import Dialect, SharedStep, scripted_action
from stats.recorder import recorder

DURATION_HEADER = "x-llmsim-batch-duration-s"
OUTCOME_HEADER = "x-llmsim-batch-outcome"
# The longest a batch may be told to take: the real completion window.
MAX_DURATION_S = 24 * 3600.0

# Both OpenAI and Anthropic charge batched requests half their usual price.
BATCH_PRICE_SHARE = 0.5

# A request's answer: its body (JSON bytes), or the error its endpoint answered.
Answer = bytes | ProviderError


@dataclass(slots=True)
class BatchLine:
    """One request of a batch, as its provider's module parsed it."""

    custom_id: str
    request: CompletionRequest | None = None  # None: refused, see `refused`
    refused: ProviderError | None = None
    dialect: Dialect | None = None
    fault_error: Callable[[StreamFault], ProviderError] | None = None
    render: Callable[[Plan], bytes] | None = None
    rules: bool = True  # whether response rules apply (not to embeddings)


def batch_settings(call: Call, scenario: Scenario) -> tuple[float, str]:
    """How long a new batch takes and how it ends: the headers', else the scenario's."""
    duration = scenario.batch_duration_s
    raw = call.headers.get(DURATION_HEADER)
    if raw is not None:
        try:
            duration = float(raw)
        except ValueError:
            duration = -1.0
        if not 0 <= duration <= MAX_DURATION_S:
            raise ProviderError(
                400,
                f"Invalid {DURATION_HEADER} header {quoted(raw)}: expected seconds from 0 to {MAX_DURATION_S:.0f}.",
                param=DURATION_HEADER,
            )
    outcome = call.headers.get(OUTCOME_HEADER, scenario.batch_outcome)
    if outcome not in OUTCOMES:
        raise ProviderError(
            400,
            f"Invalid {OUTCOME_HEADER} header {quoted(outcome)}: expected one of {', '.join(OUTCOMES)}.",
            param=OUTCOME_HEADER,
        )
    return duration, outcome


async def answer_lines(
    call: Call, lines: list[BatchLine], snapshot: Snapshot, scenario: Scenario, outcome: str
) -> list[Answer]:
    """Each line's answer, in order, planned by the engine as its endpoint would plan it."""
    actions: list[tuple[Action | None, str]] = []
    for line in lines:
        action = None
        if line.request is not None and line.refused is None and line.rules:
            try:
                action = scripted_action(call, scenario, line.request)
                if isinstance(action, SharedStep):
                    action = await action.take()
            except ProviderError as error:  # a sequence rule that has played out
                line.refused = error
        actions.append((action, call.rule))
        call.rule = ""
    overrides = parse_overrides(call.headers)
    # Planning and rendering grow with the batch (up to 50,000 requests): in a thread.
    tally = Tally()
    answers = await asyncio.to_thread(_plan_all, lines, actions, snapshot, scenario, overrides, outcome, tally)
    model = next((line.request.model for line in lines if line.request is not None), "")
    recorder.batch_answered(
        f"{call.route} (requests)",
        model,
        tally.statuses,
        (tally.prompt_tokens, tally.completion_tokens),
        tally.cost_usd,
    )
    return answers


@dataclass(slots=True)
class Tally:
    """What a batch's requests add to the stats: counts by (status, injected), tokens, cost."""

    statuses: dict[tuple[int, bool], int] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def count(self, status: int, injected: bool) -> None:
        self.statuses[status, injected] = self.statuses.get((status, injected), 0) + 1


def _plan_all(
    lines: list[BatchLine],
    actions: list[tuple[Action | None, str]],
    snapshot: Snapshot,
    scenario: Scenario,
    overrides: Overrides,
    outcome: str,
    tally: Tally,
) -> list[Answer]:
    answers: list[Answer] = []
    for index, (line, (action, rule)) in enumerate(zip(lines, actions, strict=True)):
        try:
            answer = _answer(index, line, action, rule, snapshot, scenario, overrides, outcome, tally)
        except ProviderError as error:  # refused as the endpoint refuses it
            tally.count(error.status, False)
            answer = error
        answers.append(answer)
    return answers


def _answer(
    index: int,
    line: BatchLine,
    action: Action | None,
    rule: str,
    snapshot: Snapshot,
    scenario: Scenario,
    overrides: Overrides,
    outcome: str,
    tally: Tally,
) -> Answer:
    """One request's answer; refusals raise (the endpoint's ProviderError), the rest are counted here."""
    if line.refused is not None:
        raise line.refused
    request, dialect = line.request, line.dialect
    assert request is not None and dialect is not None and line.render is not None and line.fault_error is not None
    if fails_by_outcome(outcome, index):
        return _injected(tally, dialect.injected_error(InjectedError(500, "server_error")))
    spec = snapshot.model_for(request.model)
    if spec is None:
        raise dialect.model_not_found(request.model)
    dialect.check_limits(request, spec)
    try:
        plan = planner.plan(request, spec, scenario, overrides, action, rule)
    except planner.ContextLengthExceeded as exc:
        raise dialect.context_exceeded(exc) from None
    if plan.error is not None:
        return _injected(tally, dialect.injected_error(plan.error))
    if plan.fault is not None:
        return _injected(tally, line.fault_error(plan.fault))
    body = line.render(plan)
    usage = plan.usage
    tally.count(200, False)
    tally.prompt_tokens += usage.prompt_tokens
    tally.completion_tokens += usage.completion_tokens
    if spec.prices is not None:
        price = cost_usd(
            spec.prices,
            usage.prompt_tokens,
            cached_tokens=usage.cached_tokens,
            completion_tokens=usage.completion_tokens,
        )
        tally.cost_usd += price * BATCH_PRICE_SHARE
    return body


def _injected(tally: Tally, error: ProviderError) -> ProviderError:
    tally.count(error.status, True)
    return error
