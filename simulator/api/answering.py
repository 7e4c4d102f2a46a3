"""When and how an answer goes out, whatever the provider: injected errors, the wait
for a non-streaming reply, and mid-stream faults.

Each adapter brings its own renderings (an error body, an in-stream error event); the
timing and the connection handling are the same for all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ..engine.schedule import sleep_until
from ..engine.types import InjectedError, Plan, StreamFault
from .http import Call, ProviderError, drop_connection, end_stream, until_disconnect, write_stream

# How long a stream that is about to be dropped waits for its last bytes to leave:
# an abort discards unsent data (Daphne's Twisted transport would lose the tokens).
_FLUSH_S = 0.02

SendError = Callable[[Call, ProviderError], Awaitable[None]]


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
    if fault.kind == "error":
        raise fault_error(fault)
    await drop_connection(call)
    return False


async def break_stream(call: Call, data: bytes, fault: StreamFault, error_event: bytes) -> None:
    """A mid-stream fault: the last events, then `error_event` (kind "error") or a dropped connection."""
    if fault.kind == "error":
        call.status = fault.status
        await end_stream(call, data + error_event)
        return
    if data:
        await write_stream(call, data)
        await asyncio.sleep(_FLUSH_S)
    await drop_connection(call)
