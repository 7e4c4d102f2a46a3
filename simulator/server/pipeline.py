"""The one pipeline of a generation request, whatever the provider: the neutral steps
(scenario, response rule, plan, rate limits, faults), injected errors, the wait for a
non-streaming reply, and the stream.

An adapter parses its wire format into a CompletionRequest, then:

    plan = await plan_answer(call, request, dialect)  # None: an injected error has answered
    await wait_for_reply(call, plan, fault_error)     # a JSON body, or
    await stream_plan(call, plan, render, error_event)  # the provider's events, at their deadlines

plan_answer takes the steps in order:

    scenario = scenario_for(call, snapshot)            # x-llmsim-scenario, or the default
    await admit_load(call, spec, dialect)              # a slot, if the model has a max_concurrency
    action = scripted_action(call, scenario, request)  # a matching response rule's step, if any
    cached = await prompt_cache.look_up(request, api_key, spec)   # what the prompt cache holds of it
    plan = planner.plan(request, spec, scenario, overrides, action, call.rule, cached, stretch, waited)
    await reserve(call, request, plan, scenario, spec)  # the scenario's rate limit, or the model's

Each adapter brings its Dialect (how it words each failure) and its renderings of the
plan; the steps, the timing and the connection handling are the same for all of them.
The endpoint decorator settles the rate-limit reservation and frees the model's slot
when the answer is done (`settle`, `release_load`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from simulator.engine import planner
from simulator.engine.cost import cost_usd
from simulator.engine.load import Overloaded
from simulator.engine.ratelimit import RateLimit, RateLimited
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
from simulator.engine.schedule import pacer, sleep_until
from simulator.engine.snapshot import ModelSpec, Scenario, Snapshot
from simulator.engine.types import CompletionRequest, InjectedError, Plan, StreamFault
from simulator.server.http import (
    Call,
    ProviderError,
    api_key_of,
    compute,
    drop_connection,
    end_stream,
    quoted,
    until_disconnect,
    write_stream,
)
from simulator.server.overrides import parse_overrides
from simulator.state import buckets, load, prompt_cache, snapshots
from simulator.state import sequences as shared_sequences

SCENARIO_HEADER = "x-llmsim-scenario"
# How long a stream that is about to be dropped waits for its last bytes to leave:
# an abort discards unsent data (Daphne's Twisted transport would lose the tokens).
_FLUSH_S = 0.02

SendError = Callable[[Call, ProviderError], Awaitable[None]]
# The most steps (tokens) a stream renders into one write: about 30 KB of events.
WRITE_STEPS = 128


def no_limits(request: CompletionRequest, spec: ModelSpec) -> None:
    """A Dialect's check_limits for an API that refuses nothing beyond the profile's limits."""
    return None


@dataclass(slots=True)
class Dialect:
    """How one provider words the failures of the neutral steps.

    Not frozen, though nothing changes one once made: OpenAI's routes make one per
    request (their messages name the requested model), and a frozen dataclass is the
    slower kind to make.
    """

    send_error: SendError
    injected_error: Callable[[InjectedError], ProviderError]
    rate_limited: Callable[[RateLimited], ProviderError]
    model_not_found: Callable[[str], ProviderError]
    context_exceeded: Callable[[planner.ContextLengthExceeded], ProviderError]
    # The model runs at capacity and its queue is full (engine.load).
    overloaded: Callable[[Overloaded], ProviderError]
    # Refuses what the model refuses (e.g. max_tokens above its limit) by raising.
    check_limits: Callable[[CompletionRequest, ModelSpec], None] = no_limits


async def plan_answer(call: Call, request: CompletionRequest, dialect: Dialect, rules: bool = True) -> Plan | None:
    """The neutral steps: scenario, model profile, response rule, plan, injected error, rate
    limit (the scenario's, or the model's defaults); the call's stats fields are filled in.

    Returns the plan to render, or None when an injected error has answered already.
    `rules`: whether response rules apply (not to embeddings).
    """
    overrides = parse_overrides(call.headers)
    snapshot = snapshots.current()
    scenario = scenario_for(call, snapshot)
    spec = snapshot.model_for(request.model)
    if spec is None:
        raise dialect.model_not_found(request.model)
    dialect.check_limits(request, spec)
    if spec.load is not None:
        call.model, call.stream = request.model, request.stream  # an overload counts against the model too
        await admit_load(call, spec, dialect)
    action = scripted_action(call, scenario, request) if rules else None
    if isinstance(action, SharedStep):
        action = await action.take()
    cached = None
    if prompt_cache.wanted(request, spec):  # what the prompt cache holds of this prompt (None: nothing)
        cached = await prompt_cache.look_up(request, api_key_of(call) or "", spec)
    ticket = call.load_ticket
    slowed = () if ticket is None else (ticket.stretch, ticket.waited_s)
    try:
        # Logprobs are drawn for every token with up to 20 alternatives each: for a long
        # answer that would hold the event loop too long, so such a request is planned in a thread.
        plan = await compute(
            call,
            planner.plan,
            request,
            spec,
            scenario,
            overrides,
            action,
            call.rule,
            cached,
            *slowed,
            heavy=request.logprobs,
        )
    except planner.ContextLengthExceeded as exc:
        raise dialect.context_exceeded(exc) from exc
    if ticket is not None:
        load.expect(ticket, call.arrival + plan.duration_s)
    call.model = request.model
    call.stream = request.stream
    if plan.error is not None:
        await answer_injected_error(call, plan.error, dialect.injected_error, dialect.send_error)
        return None
    try:
        await reserve(call, request, plan, scenario, spec)
    except RateLimited as exc:
        raise dialect.rate_limited(exc) from None
    usage = plan.usage
    call.prompt_tokens = usage.prompt_tokens
    call.completion_tokens = usage.completion_tokens
    if spec.prices is not None:
        # Once, from the plan: a stream's header goes out before its tokens do, and a
        # complete answer's usage is the plan's. The stats count it when the answer is complete.
        call.cost_usd = cost_usd(
            spec.prices,
            usage.prompt_tokens,
            cached_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            completion_tokens=usage.completion_tokens,
            cache_write_1h_tokens=usage.cache_write_1h_tokens,
        )
    return plan


# --- load ---------------------------------------------------------------------------------


async def admit_load(call: Call, spec: ModelSpec, dialect: Dialect) -> None:
    """A slot among the model's max_concurrency (engine.load): at once, or after a wait in
    its queue while the client stays; the provider's overload answer when that is full too.

    The slot is the call's (call.load_ticket) until release_load, when the answer is over.
    """
    try:
        ticket = load.admit_at_once(spec.id, spec.load)
        if ticket is None:
            waiting = asyncio.ensure_future(load.admit(spec.id, spec.load))
            await until_disconnect(call, waiting)
            if waiting.cancelled():  # the client left while it waited: nothing to answer
                raise asyncio.CancelledError("client went away while queued")
            ticket = waiting.result()
    except Overloaded as exc:
        raise dialect.overloaded(exc) from None
    call.load_ticket = ticket


def give_back(call: Call) -> None:
    """What a finished answer held, whatever its outcome: the unused part of its rate-limit
    reservation, and its slot among the model's running answers."""
    if call.reservation is not None:
        settle(call)
    if call.load_ticket is not None:
        release_load(call)


def release_load(call: Call) -> None:
    """Give the call's slot to the next waiter (the answer is over, whatever its outcome)."""
    ticket, call.load_ticket = call.load_ticket, None
    if ticket is not None:
        load.release(ticket)


# --- scenario and response rule -----------------------------------------------------------


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
        api_key_of(call)  # the matchers read call.api_key
    rule = scenario.rules.first_match(request, call)
    if rule is None:
        return None
    call.rule = rule.name
    if not is_sequence(rule):
        return rule.steps[0]
    facts = RequestFacts(call.headers, call.api_key or "")
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


# --- rate limits --------------------------------------------------------------------------


@dataclass(slots=True)
class Reservation:
    """What a request took from its rate limit's buckets, to settle when its answer is done."""

    key: tuple[str, str, str]  # the buckets': scenario, API key, model
    limit: RateLimit
    tokens: int  # reserved: prompt + max_tokens (reserved_tokens)
    enforced: bool  # a limit that refuses; else one that is only counted and reported


def reserved_tokens(request: CompletionRequest, plan: Plan, scenario: Scenario) -> int:
    """What a request holds of the tokens-per-minute budget while it runs: prompt + max_tokens.

    Without max_tokens the reservation is the scenario's usual answer length, so a
    budget is not drained by requests that leave the cap to the model.
    """
    cap = request.max_tokens if request.max_tokens is not None else scenario.target_tokens
    return plan.usage.prompt_tokens + cap * request.n


async def reserve(call: Call, request: CompletionRequest, plan: Plan, scenario: Scenario, spec: ModelSpec) -> None:
    """Take the request and its reserved tokens from its rate limit; RateLimited when they do not fit.

    A scenario's own limits are enforced. Without them the model's default limits count:
    reported in the headers, and refusing only where the scenario (or the settings) turn
    enforcement on, so load tests above them are not refused.
    """
    limit, enforced = scenario.rate_limit, True
    if limit is None:
        limit, enforced = spec.rate_limit, scenario.enforce_model_limits
    if limit is None:
        return
    api_key = call.api_key if call.api_key_read else api_key_of(call)
    key = (scenario.name, api_key or "", request.model)
    tokens = reserved_tokens(request, plan, scenario)
    # As of the request's arrival: the provider counts it then too.
    local = buckets.in_process
    if local is not None:  # in this process: enforced or reported alike
        call.ratelimit = local.take(key, limit, tokens, call.arrival, refuse=enforced)
    elif not enforced:  # counted here, and shared through Redis in batches: never refused, never waits
        call.ratelimit = buckets.count(key, limit, tokens, call.arrival)
    else:  # in Redis: one round trip, to refuse exactly
        call.ratelimit = await buckets.acquire(buckets.bucket_key(*key), limit, tokens)
    call.reservation = Reservation(key, limit, tokens, enforced)


def settle(call: Call) -> None:
    """Give back what a finished request reserved beyond what it used (prompt + tokens sent)."""
    reservation = call.reservation
    if reservation is None:
        return
    call.reservation = None
    key, limit, reserved = reservation.key, reservation.limit, reservation.tokens
    actual = call.prompt_tokens + call.completion_tokens
    if reserved == actual or limit.tokens_per_minute is None:
        return
    if not reservation.enforced and call.ratelimit.remaining_tokens == 0:
        # A reported limit's count that found less than its reservation took what was
        # there, down to empty: there is nothing to give back from.
        return
    local = buckets.in_process
    if local is not None:  # at once, enforced or reported alike
        local.settle(key, limit, reserved, actual)
    elif reservation.enforced:
        buckets.settle_soon(buckets.bucket_key(*key), limit, reserved, actual)
    else:
        buckets.settle_count(key, limit, reserved, actual)


# --- injected errors, the reply's wait, the stream ----------------------------------------


async def answer_injected_error(
    call: Call, error: InjectedError, render: Callable[[InjectedError], ProviderError], send_error: SendError
) -> None:
    """An injected error: after its delay (timeouts), a dropped connection or the rendered error."""
    call.injected = True  # counted apart from organic errors in the stats
    if error.delay_s > 0:
        await until_disconnect(call, sleep_until(call.arrival + error.delay_s))
    if error.disconnect:
        await drop_connection(call)
        return
    await send_error(call, render(error))


async def wait_for_reply(call: Call, plan: Plan, fault_error: Callable[[StreamFault], ProviderError]) -> bool:
    """Wait until a non-streaming answer is due (the whole generation, as the real APIs do).

    A scripted fault strikes where the stream would have broken instead: it raises the
    fault's error, or drops the connection and returns False.
    """
    fault = plan.fault
    if fault is None:
        if plan.duration_s > 0:
            await until_disconnect(call, sleep_until(call.arrival + plan.duration_s))
        return True
    offsets = plan.offsets_s[: fault.after_tokens]
    await until_disconnect(call, sleep_until(call.arrival + (offsets[-1] if offsets else plan.ttft_s)))
    call.completion_tokens = len(offsets)
    call.injected = True
    if fault.kind == "error":
        raise fault_error(fault)
    await drop_connection(call)
    return False


async def break_stream(call: Call, data: bytes, fault: StreamFault, error_event: bytes) -> None:
    """A mid-stream fault: the last events, then `error_event` (kind "error") or a dropped connection."""
    call.injected = True
    if fault.kind == "error":
        call.status = fault.status
        await end_stream(call, data + error_event)
        return
    if data:
        await write_stream(call, data)
        await asyncio.sleep(_FLUSH_S)
    await drop_connection(call)


async def stream_plan(
    call: Call, plan: Plan, render: Callable[[int, int, bool], bytes], error_event: Callable[[bool], bytes]
) -> None:
    """Send the plan's steps at their deadlines, on a stream whose headers are out.

    render(first, end, last) gives the events of steps first..end-1, with the closing
    events when `last`. A fault ends the stream after fault.after_tokens steps with
    error_event(opening) (opening: nothing went out before it), or drops the connection.
    """
    offsets = plan.offsets_s
    fault = plan.fault
    if fault is not None:
        offsets = offsets[: fault.after_tokens]
        call.completion_tokens = min(call.completion_tokens, len(offsets))
    if offsets:
        writer = StepWriter(call, render, fault, error_event, len(offsets))
        await until_disconnect(call, pacer().pace(call.arrival, offsets, writer.emit))
        return
    await until_disconnect(call, sleep_until(call.arrival + plan.ttft_s))
    if fault is not None:
        await break_stream(call, b"", fault, error_event(True))
    else:
        await end_stream(call, render(0, 0, True))


class StepWriter:
    """Writes a paced stream's due steps: what the pacer calls (`emit`) when steps are due.

    One small object for the stream's life rather than closures over stream_plan's
    locals, which held a function, a closure tuple and a cell per variable each: a
    thousand open streams held that much more. Nothing here refers back to the pacer or
    to the task awaiting the stream, so a stream leaves no reference cycle behind: its
    call, plan and renderer are freed when it ends, not at the garbage collector's next
    full pass (which, with thousands of streams' leftovers to scan, stalled the event
    loop for tens of milliseconds).
    """

    __slots__ = ("call", "error_event", "fault", "render", "steps")

    def __init__(
        self,
        call: Call,
        render: Callable[[int, int, bool], bytes],
        fault: StreamFault | None,
        error_event: Callable[[bool], bytes],
        steps: int,
    ) -> None:
        self.call = call
        self.render = render
        self.fault = fault
        self.error_event = error_event
        self.steps = steps

    def emit(self, first: int, end: int) -> Coroutine[Any, Any, None]:
        """Write steps first..end-1 (the last of them ends the stream)."""
        return self.write_in_slices(first, end) if end - first > WRITE_STEPS else self.write(first, end)

    def write(self, first: int, end: int) -> Coroutine[Any, Any, None]:
        call, render = self.call, self.render
        if end < self.steps:
            return write_stream(call, render(first, end, False))
        if self.fault is not None:
            return break_stream(call, render(first, end, False), self.fault, self.error_event(False))
        return end_stream(call, render(first, end, True))

    async def write_in_slices(self, first: int, end: int) -> None:
        # Many steps due at once (no gap between tokens, or a client that read nothing for
        # a while): each slice waits for the connection to take it (flow control), so a
        # client that does not read never has its whole stream rendered and held.
        while end - first > WRITE_STEPS:
            await write_stream(self.call, self.render(first, first + WRITE_STEPS, False))
            first += WRITE_STEPS
            await asyncio.sleep(0)  # a write that did not wait still lets other requests go on
        await self.write(first, end)
