"""Answering a generation request, whatever the provider: the neutral steps up to the
plan, injected errors, the wait for a non-streaming reply, and mid-stream faults.

Each adapter brings its Dialect (how it words each failure) and its renderings of the
plan; the steps, the timing and the connection handling are the same for all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from simulator.engine import planner
from simulator.engine.ratelimit import RateLimited
from simulator.engine.schedule import pacer, sleep_until
from simulator.engine.snapshot import ModelSpec
from simulator.engine.types import CompletionRequest, InjectedError, Plan, StreamFault
from simulator.server.http import (
    Call,
    ProviderError,
    api_key_of,
    compute,
    drop_connection,
    end_stream,
    until_disconnect,
    write_stream,
)
from simulator.server.overrides import parse_overrides
from simulator.server.steps import SharedStep, reserved_tokens, scenario_for, scripted_action
from simulator.state import buckets as ratelimits
from simulator.state import snapshots

# How long a stream that is about to be dropped waits for its last bytes to leave:
# an abort discards unsent data (Daphne's Twisted transport would lose the tokens).
_FLUSH_S = 0.02

SendError = Callable[[Call, ProviderError], Awaitable[None]]
# The most steps (tokens) a stream renders into one write: about 30 KB of events.
WRITE_STEPS = 128


def _no_limits(request: CompletionRequest, spec: ModelSpec) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one provider words the failures of the neutral steps."""

    send_error: SendError
    injected_error: Callable[[InjectedError], ProviderError]
    rate_limited: Callable[[RateLimited], ProviderError]
    model_not_found: Callable[[str], ProviderError]
    context_exceeded: Callable[[planner.ContextLengthExceeded], ProviderError]
    # Refuses what the model refuses (e.g. max_tokens above its limit) by raising.
    check_limits: Callable[[CompletionRequest, ModelSpec], None] = _no_limits


async def plan_answer(call: Call, request: CompletionRequest, dialect: Dialect, rules: bool = True) -> Plan | None:
    """The neutral steps (see simulation.py): scenario, model profile, response rule, plan,
    injected error, rate limit (the scenario's, or the model's defaults); the call's stats
    fields are filled in.

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
    action = scripted_action(call, scenario, request) if rules else None
    if isinstance(action, SharedStep):
        action = await action.take()
    try:
        # Logprobs are drawn for every token with up to 20 alternatives each: for a long
        # answer that would hold the event loop too long, so such a request is planned in a thread.
        plan = await compute(
            call, planner.plan, request, spec, scenario, overrides, action, call.rule, heavy=request.logprobs
        )
    except planner.ContextLengthExceeded as exc:
        raise dialect.context_exceeded(exc) from exc
    call.model = request.model
    call.stream = request.stream
    if plan.error is not None:
        await answer_injected_error(call, plan.error, dialect.injected_error, dialect.send_error)
        return None
    # A scenario's own limits are enforced. Without them the model's default limits
    # count: reported in the headers, and refusing only where the scenario (or the
    # settings) turn enforcement on, so load tests above them are not refused.
    limit = scenario.rate_limit
    enforced = True
    if limit is None:
        limit = spec.rate_limit
        enforced = scenario.enforce_model_limits
    if limit is not None:
        api_key = call.api_key if call.api_key_read else api_key_of(call)
        key = (scenario.name, api_key or "", request.model)
        tokens = reserved_tokens(request, plan, scenario)
        # As of the request's arrival (a clock read less): the provider counts it then too.
        buckets = ratelimits.in_process
        if not enforced:  # never refused, never waits
            if buckets is not None:
                call.ratelimit = buckets.take(key, limit, tokens, call.arrival, refuse=False)
            else:  # counted here too, and shared through Redis in batches
                call.ratelimit = ratelimits.count(key, limit, tokens, call.arrival)
        else:
            try:
                if buckets is None:  # in Redis: one round trip, to refuse exactly
                    call.ratelimit = await ratelimits.acquire(ratelimits.bucket_key(*key), limit, tokens)
                else:
                    call.ratelimit = buckets.take(key, limit, tokens, call.arrival)
            except RateLimited as exc:
                raise dialect.rate_limited(exc) from None
        call.reservation = (key, limit, tokens, enforced)
    call.prompt_tokens = plan.usage.prompt_tokens
    call.completion_tokens = plan.usage.completion_tokens
    return plan


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
    steps = len(offsets)

    def emit(first: int, end: int) -> Coroutine[Any, Any, None]:
        if end - first > WRITE_STEPS:
            return emit_in_slices(first, end)
        if end < steps:
            return write_stream(call, render(first, end, False))
        if fault is not None:
            return break_stream(call, render(first, end, False), fault, error_event(False))
        return end_stream(call, render(first, end, True))

    async def emit_in_slices(first: int, end: int) -> None:
        # Many steps due at once (no gap between tokens, or a client that read nothing for
        # a while): each slice waits for the connection to take it (flow control), so a
        # client that does not read never has its whole stream rendered and held.
        while end - first > WRITE_STEPS:
            await write_stream(call, render(first, first + WRITE_STEPS, False))
            first += WRITE_STEPS
            await asyncio.sleep(0)  # a write that did not wait still lets other requests go on
        await emit(first, end)

    if steps:
        await until_disconnect(call, pacer().pace(call.arrival, offsets, emit))
        return
    await until_disconnect(call, sleep_until(call.arrival + plan.ttft_s))
    if fault is not None:
        await break_stream(call, b"", fault, error_event(True))
    else:
        await end_stream(call, render(0, 0, True))
