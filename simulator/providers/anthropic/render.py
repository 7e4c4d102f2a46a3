"""Anthropic's answers: the plan rendered as one Message or as the Messages stream's SSE
events (message_start … message_stop), and model profiles as Models API objects.

Shapes as in Anthropic's API docs ("Messages", "Streaming Messages", "Models").
"""

from __future__ import annotations

import base64
import hashlib
import time
from bisect import bisect_right
from typing import Any

from simulator.engine.schema import load_arguments
from simulator.engine.snapshot import ModelSpec
from simulator.engine.types import ChoicePlan, Plan, ToolCallPlan
from simulator.providers.anthropic.errors import common_headers, error_event, fault_error
from simulator.server.http import JSON_CONTENT_TYPE, SSE_HEADERS, Call, dump_json, send_bytes, start_stream
from simulator.server.pipeline import stream_plan, wait_for_reply


def tool_use_id(call: ToolCallPlan) -> str:
    """A tool_use block's id: toolu_01 and the planned call's suffix."""
    return "toolu_01" + call.id_suffix


def signature(thinking: str) -> str:
    """A thinking block's signature: opaque to clients, the same for the same thinking."""
    return base64.b64encode(hashlib.blake2b(thinking.encode(), digest_size=64).digest()).decode()


def stop_reason(choice: ChoicePlan) -> str:
    """Why the answer ended: max_tokens, tool_use, stop_sequence or end_turn."""
    if choice.finish_reason == "length":
        return "max_tokens"
    if choice.tool_calls:
        return "tool_use"
    return "end_turn" if choice.stop_sequence is None else "stop_sequence"


def content_blocks(choice: ChoicePlan) -> list[dict[str, Any]]:
    """Thinking first, then the text (an empty one when there is nothing else), then tool_use blocks."""
    blocks: list[dict[str, Any]] = []
    if choice.thinking_pieces:
        blocks.append({"type": "thinking", "thinking": choice.thinking, "signature": signature(choice.thinking)})
    if choice.pieces or not (blocks or choice.tool_calls):
        blocks.append({"type": "text", "text": choice.text})
    blocks += [
        {"type": "tool_use", "id": tool_use_id(call), "name": call.name, "input": load_arguments(call.arguments)}
        for call in choice.tool_calls
    ]
    return blocks


def usage_json(plan: Plan, output_tokens: int | None = None) -> dict[str, Any]:
    """The usage object: input_tokens leaves out what was read from and written to the cache."""
    usage = plan.usage
    written, hour = usage.cache_write_tokens, usage.cache_write_1h_tokens
    return {
        "input_tokens": usage.prompt_tokens - usage.cached_tokens - written,
        "output_tokens": usage.completion_tokens if output_tokens is None else output_tokens,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": usage.cached_tokens,
        "cache_creation": {"ephemeral_5m_input_tokens": written - hour, "ephemeral_1h_input_tokens": hour},
        "service_tier": "standard",
    }


def message_json(message_id: str, plan: Plan) -> dict[str, Any]:
    """The answer as a Message object (the stream's message_start opens with it, emptied)."""
    choice = plan.choices[0]
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": plan.model,
        "content": content_blocks(choice),
        "stop_reason": stop_reason(choice),
        "stop_sequence": choice.stop_sequence,
        "usage": usage_json(plan),
    }


def _event(name: bytes, data: dict[str, Any]) -> bytes:
    return b"event: " + name + b"\ndata: " + dump_json(data) + b"\n\n"


class EventWriter:
    """Renders a Plan as Anthropic's stream: which events each step of the schedule releases.

    Blocks follow the plan's steps: thinking pieces, text pieces, then per tool call a
    content_block_start and one input_json_delta per argument piece. The first step
    opens with message_start and a ping; the last closes with message_delta and
    message_stop.
    """

    def __init__(self, message_id: str, plan: Plan) -> None:
        choice = plan.choices[0]
        self._choice = choice
        self._blocks: list[tuple[str, Any]] = []  # (kind, pieces or the call)
        starts: list[int] = []
        step = 0
        if choice.thinking_pieces:
            self._blocks.append(("thinking", choice.thinking_pieces))
            starts.append(step)
            step += len(choice.thinking_pieces)
        if choice.pieces or not (self._blocks or choice.tool_calls):
            self._blocks.append(("text", choice.pieces))
            starts.append(step)
            step += len(choice.pieces)
        for call in choice.tool_calls:
            self._blocks.append(("tool_use", call))
            starts.append(step)
            step += 1 + len(call.argument_pieces)
        self._starts = starts
        self.steps = step
        opening = {**message_json(message_id, plan), "content": [], "stop_reason": None, "stop_sequence": None}
        opening["usage"] = {**opening["usage"], "output_tokens": 1}
        self._opening = _event(b"message_start", {"type": "message_start", "message": opening}) + _event(
            b"ping", {"type": "ping"}
        )
        self._closing = _event(
            b"message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason(choice), "stop_sequence": choice.stop_sequence},
                "usage": usage_json(plan),
            },
        ) + _event(b"message_stop", {"type": "message_stop"})
        # A text delta is these two around the piece's JSON: the one write per token.
        self._text_open = [
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
            + str(index).encode()
            + b',"delta":{"type":"text_delta","text":'
            for index in range(len(self._blocks))
        ]

    def _start(self, index: int) -> bytes:
        kind, payload = self._blocks[index]
        if kind == "thinking":
            block: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
        elif kind == "text":
            block = {"type": "text", "text": ""}
        else:
            block = {"type": "tool_use", "id": tool_use_id(payload), "name": payload.name, "input": {}}
        return _event(b"content_block_start", {"type": "content_block_start", "index": index, "content_block": block})

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        return _event(b"content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})

    def _stop(self, index: int) -> bytes:
        return _event(b"content_block_stop", {"type": "content_block_stop", "index": index})

    def _step(self, step: int) -> bytes:
        index = bisect_right(self._starts, step) - 1
        kind, payload = self._blocks[index]
        at = step - self._starts[index]
        out = [self._start(index)] if at == 0 else []
        if kind == "tool_use":
            pieces = payload.argument_pieces
            if at > 0:
                out.append(self._delta(index, {"type": "input_json_delta", "partial_json": pieces[at - 1]}))
            last = at == len(pieces)
        else:
            if kind == "text":
                out.append(self._text_open[index] + dump_json(payload[at]) + b"}}\n\n")
            else:
                out.append(self._delta(index, {"type": "thinking_delta", "thinking": payload[at]}))
            last = at == len(payload) - 1
            if last and kind == "thinking":
                out.append(
                    self._delta(index, {"type": "signature_delta", "signature": signature(self._choice.thinking)})
                )
        if last:
            out.append(self._stop(index))
        return b"".join(out)

    def render(self, first: int, end: int, last: bool) -> bytes:
        """Every event due for steps first..end-1, as one write; with the closing events when `last`."""
        if self.steps == 0:  # an empty answer: an empty text block
            return self._opening + self._start(0) + self._stop(0) + self._closing
        out = [self._opening] if first == 0 else []
        out += [self._step(step) for step in range(first, end)]
        if last:
            out.append(self._closing)
        return b"".join(out)

    def opening(self) -> bytes:
        return self._opening


async def stream_message(call: Call, plan: Plan, message_id: str) -> None:
    """Send the plan as Anthropic's SSE events, each at its deadline."""
    writer = EventWriter(message_id, plan)
    await start_stream(call, [*SSE_HEADERS, *common_headers(call)])

    def broken(opening: bool) -> bytes:
        assert plan.fault is not None
        return (writer.opening() if opening else b"") + error_event(fault_error(plan.fault))

    await stream_plan(call, plan, writer.render, broken)


async def reply_message(call: Call, plan: Plan, message_id: str) -> None:
    """Send the plan as one Message once its whole schedule has passed."""
    if await wait_for_reply(call, plan, fault_error):
        body = dump_json(message_json(message_id, plan))
        await send_bytes(call, 200, body, [JSON_CONTENT_TYPE, *common_headers(call)])


def display_name(model_id: str) -> str:
    """claude-sonnet-4-5 → Claude Sonnet 4.5."""
    words: list[str] = []
    for word in model_id.split("-"):
        if word.isdigit() and words and words[-1][-1:].isdigit():
            words[-1] += "." + word
        else:
            words.append(word.capitalize() if not word[:1].isdigit() else word)
    return " ".join(words)


def model_json(spec: ModelSpec, model_id: str | None = None) -> dict[str, Any]:
    """A model profile as a Models API object."""
    return {
        "type": "model",
        "id": model_id or spec.id,
        "display_name": display_name(spec.id),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(spec.created)),
        "max_input_tokens": spec.context_window,
        "max_tokens": spec.max_output_tokens,
    }
