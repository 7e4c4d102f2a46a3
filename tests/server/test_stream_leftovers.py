"""A finished stream leaves nothing for the garbage collector.

Whatever a stream holds (its call, plan and renderer) must be freed by reference
counting when it ends. A reference cycle among the stream's closures kept all of it
alive until the collector's next full pass, which, with thousands of streams' leftovers
to scan, stalled the event loop for tens of milliseconds at a time.
"""

from __future__ import annotations

import asyncio
import gc
from array import array

import pytest

from simulator.engine.types import ChoicePlan, Plan, StreamFault, Usage
from simulator.server.http import new_call
from simulator.server.pipeline import WRITE_STEPS, stream_plan


def _plan(steps: int, fault: StreamFault | None = None) -> Plan:
    pieces = tuple(f" w{i}" for i in range(steps))
    return Plan(
        model="m",
        choices=(ChoicePlan(pieces=pieces, finish_reason="stop", completion_tokens=steps),),
        usage=Usage(prompt_tokens=1, completion_tokens=steps),
        ttft_s=0.0,
        offsets_s=array("d", [0.0]) * steps,
        fault=fault,
    )


async def _stream(plan: Plan) -> list[bytes]:
    written: list[bytes] = []

    async def receive() -> dict:
        await asyncio.Event().wait()  # a client that stays
        return {}

    async def send(message: dict) -> None:
        written.append(message.get("body", b""))

    call = new_call({"type": "http", "method": "POST", "path": "/v1/x", "headers": []}, receive, send)
    call.response_started = True

    def render(first: int, end: int, last: bool) -> bytes:
        return b"".join(b"%d," % i for i in range(first, end)) + (b"end" if last else b"")

    await stream_plan(call, plan, render, lambda opening: b"error")
    return written


@pytest.mark.parametrize(
    "plan",
    [_plan(5), _plan(WRITE_STEPS * 2 + 3), _plan(5, StreamFault("error", after_tokens=2))],
    ids=["a few steps", "steps written in slices", "a fault mid-stream"],
)
def test_a_finished_stream_leaves_no_reference_cycle(plan):
    asyncio.run(_stream(plan))  # the first run loads what later runs share
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        written = asyncio.run(_stream(plan))
        assert written and written[-1].endswith(b"end" if plan.fault is None else b"error")
        assert gc.collect() == 0
    finally:
        if was_enabled:
            gc.enable()
