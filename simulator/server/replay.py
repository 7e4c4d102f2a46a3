"""Answering from a recording: a replay scenario's recorded status, headers and body, or
its stream's events at their recorded offsets (scaled by the replay speed).

The endpoint decorator asks `answer_from_recording` first for every request with a body
while some scenario replays (the snapshot says so; otherwise it costs one attribute
read). A request the scenario has no recording for is generated as usual, or refused
with the nearest recording's name (the scenario's `replay_unmatched`).
"""

from __future__ import annotations

from typing import Any

from simulator.engine.schedule import sleep_until
from simulator.recording.replay import BadSpeed, RecordedAnswer, Replay, find, nearest, speed_for
from simulator.server.http import (
    Call,
    ProviderError,
    compute,
    drop_connection,
    end_stream,
    send_bytes,
    start_stream,
    until_disconnect,
    write_stream,
)
from simulator.server.pipeline import scenario_for
from simulator.state import snapshots

# Headers the server sets itself for the answer it writes (the recorded ones described
# the upstream's transfer, not this one).
OWN_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "content-encoding", "date", "server"})


async def answer_from_recording(call: Call, provider: str, body: Any) -> bool:
    """Answer the request from its scenario's recordings; False when it is not for them."""
    snapshot = snapshots.current()
    if not snapshot.has_replays:
        return False
    replay = scenario_for(call, snapshot).replay
    if not isinstance(replay, Replay):
        return False
    try:
        speed = speed_for(call.headers, replay)
    except BadSpeed as exc:
        raise ProviderError(400, str(exc), param="x-llmsim-replay-speed") from None
    answer, masks = await compute(call, find, replay, provider, call.method, call.path, body)
    if answer is None:
        if replay.unmatched == "generate":
            return False
        hint = await compute(call, nearest, replay, provider, body)
        raise ProviderError(
            400,
            f"No recording of scenario {call.scenario!r} matches this request (matching on {replay.match}); {hint}.",
            code="no_matching_recording",
        )
    call.model, call.stream, call.rule = answer.model, answer.stream, f"replay {answer.source}"
    headers = [
        (name.encode("latin-1"), value.encode("latin-1", "replace"))
        for name, value in answer.headers
        if name.lower() not in OWN_HEADERS
    ]
    if answer.chunks is None:
        await sleep_until(call.arrival + _scaled(answer.duration_ms, speed))
        await send_bytes(call, answer.status, masks.restore(answer.body).encode(), headers)
    else:
        await start_stream(call, headers, answer.status)
        await until_disconnect(call, _play(call, answer, speed, masks.restore))
    return True


async def _play(call: Call, answer: RecordedAnswer, speed: float, restore) -> None:
    for at_ms, text in answer.chunks or ():
        await sleep_until(call.arrival + _scaled(at_ms, speed))
        await write_stream(call, restore(text).encode())
    if answer.complete:
        await end_stream(call)
    else:
        await drop_connection(call)


def _scaled(milliseconds: float, speed: float) -> float:
    """Seconds after arrival: the recorded offset divided by the speed (0: at once)."""
    return 0.0 if speed == 0 else milliseconds / 1000 / speed
