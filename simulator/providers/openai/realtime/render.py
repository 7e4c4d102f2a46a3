"""Server events: their envelope, and one response's events rendered from the engine's plan.

A response's streaming steps are the plan's (engine.types.ChoicePlan): one per text
piece, then per tool call one for its name and one per argument piece. Each step's
events go out at its deadline; an item's opening events go out with its first step
and its closing events with its last.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from simulator.engine.ids import new_id
from simulator.engine.types import ChoicePlan, Plan, ToolCallPlan
from simulator.providers.openai.realtime import audio
from simulator.providers.openai.realtime.events import ResponseOptions
from simulator.providers.openai.realtime.session import SessionConfig

Event = dict[str, Any]


def server_event(kind: str, **fields: Any) -> Event:
    """A server event with its own id (event_…)."""
    return {"type": kind, "event_id": new_id("event_", 96), **fields}


def error_event(error: dict[str, Any], client_event_id: str | None) -> Event:
    """An `error` event: the error's type, code, message and param, and the client event it answers."""
    return server_event("error", error={**error, "event_id": client_event_id})


def rate_limits_event(state: Any) -> Event | None:
    """rate_limits.updated from the figures of the limit a response counted against (None: no limit)."""
    limits = []
    if state.limit_requests is not None:
        limits.append(
            {
                "name": "requests",
                "limit": state.limit_requests,
                "remaining": state.remaining_requests,
                "reset_seconds": round(state.reset_requests_s, 3),
            }
        )
    if state.limit_tokens is not None:
        limits.append(
            {
                "name": "tokens",
                "limit": state.limit_tokens,
                "remaining": state.remaining_tokens,
                "reset_seconds": round(state.reset_tokens_s, 3),
            }
        )
    return server_event("rate_limits.updated", rate_limits=limits) if limits else None


class ResponseRenderer:
    """The events of one response, step by step, and the items it adds.

    `add_item(item)` puts an output item into the conversation as it is added and
    returns the id of the item it follows (None for an out-of-band response).
    """

    def __init__(
        self, options: ResponseOptions, session: SessionConfig, add_item: Callable[[dict[str, Any]], str | None]
    ) -> None:
        self.id = new_id("resp_", 96)
        self.options = options
        self.add_item = add_item
        self.spoken = options.output_modalities == ("audio",)
        self.audio_format = session.output_format
        self.voice = session.audio["output"].get("voice", "alloy")
        self.plan: Plan | None = None
        self.items: list[dict[str, Any]] = []  # the output items as far as they have gone
        self.audio_bytes = 0
        self.text = ""
        self.steps_sent = 0
        self.steps: list[tuple[int, int]] = []

    def start(self, plan: Plan, audio_prompt_tokens: int) -> None:
        """The planned answer: its steps as (segment, piece), segment 0 the message, 1.. the tool
        calls (piece -1 a call's name)."""
        self.plan = plan
        self.choice: ChoicePlan = plan.choices[0]
        self.audio_prompt_tokens = audio_prompt_tokens
        self.steps = [(0, i) for i in range(len(self.choice.pieces))]
        for number, call in enumerate(self.choice.tool_calls, 1):
            self.steps += [(number, -1), *((number, i) for i in range(len(call.argument_pieces)))]

    # --- the response ---------------------------------------------------------------------

    def response_json(self, status: str, status_details: dict[str, Any] | None = None) -> dict[str, Any]:
        done = status != "in_progress"
        return {
            "object": "realtime.response",
            "id": self.id,
            "status": status,
            "status_details": status_details,
            "output": self.items if done else [],
            "conversation_id": "conv_" + self.id[5:] if self.options.in_conversation else None,
            "output_modalities": list(self.options.output_modalities),
            "max_output_tokens": "inf" if self.options.max_output_tokens is None else self.options.max_output_tokens,
            "audio": {"output": {"format": {"type": self.audio_format}, "voice": self.voice}},
            "usage": self.usage() if done else None,
            "metadata": self.options.metadata,
        }

    def created(self) -> Event:
        return server_event("response.created", response=self.response_json("in_progress"))

    def done(self, status: str = "completed", status_details: dict[str, Any] | None = None) -> Event:
        return server_event("response.done", response=self.response_json(status, status_details))

    def cancelled(self) -> Event:
        """response.done of a response the client cancelled: its items as far as they got."""
        for item in self.items:
            if item["status"] == "in_progress":
                item["status"] = "incomplete"
        return self.done("cancelled", {"type": "cancelled", "reason": "client_cancelled"})

    def usage(self) -> dict[str, Any] | None:
        plan = self.plan
        if plan is None:  # failed before it was planned
            return None
        complete = self.steps_sent == len(self.steps)
        text_out = self.choice.completion_tokens if complete else self.steps_sent
        audio_out = audio.output_audio_tokens(audio.seconds_of(self.audio_bytes, self.audio_format))
        text_in = plan.usage.prompt_tokens - self.audio_prompt_tokens
        cached = min(plan.usage.cached_tokens, text_in)
        input_tokens = plan.usage.prompt_tokens
        return {
            "total_tokens": input_tokens + text_out + audio_out,
            "input_tokens": input_tokens,
            "output_tokens": text_out + audio_out,
            "input_token_details": {
                "text_tokens": text_in,
                "audio_tokens": self.audio_prompt_tokens,
                "image_tokens": 0,
                "cached_tokens": cached,
                "cached_tokens_details": {"text_tokens": cached, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
        }

    # --- steps ----------------------------------------------------------------------------

    def render(self, first: int, end: int, last: bool) -> list[Event]:
        """The events of steps first..end-1, and the closing ones of an answer without text when `last`."""
        events: list[Event] = []
        self.steps_sent = end
        for step in range(first, end):
            segment, piece = self.steps[step]
            if segment == 0:
                events += self._text_step(piece)
            else:
                events += self._call_step(segment, piece)
        if last and not self.choice.pieces and not self.choice.tool_calls:
            events += self._open_message() + self._close_message()  # an empty answer still has its message
        return events

    def _part(self) -> dict[str, Any]:
        if self.spoken:
            return {"type": "audio", "transcript": self.text}
        return {"type": "text", "text": self.text}

    def _where(self, output_index: int) -> dict[str, Any]:
        return {"response_id": self.id, "item_id": self.items[output_index]["id"], "output_index": output_index}

    def _open_message(self) -> list[Event]:
        item = {
            "id": new_id("item_", 96),
            "object": "realtime.item",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        self.items.append(item)
        previous = self.add_item(item)
        return [
            server_event("response.output_item.added", response_id=self.id, output_index=0, item=dict(item)),
            server_event("conversation.item.added", previous_item_id=previous, item=dict(item)),
            server_event("response.content_part.added", **self._where(0), content_index=0, part=self._part()),
        ]

    def _text_step(self, piece: int) -> list[Event]:
        events = self._open_message() if piece == 0 else []
        text = self.choice.pieces[piece]
        self.text += text
        where = {**self._where(0), "content_index": 0}
        if self.spoken:
            sound = audio.speech(1, self.audio_format, self.audio_bytes)
            self.audio_bytes += len(sound)
            events.append(server_event("response.output_audio.delta", **where, delta=base64.b64encode(sound).decode()))
            events.append(server_event("response.output_audio_transcript.delta", **where, delta=text))
        else:
            events.append(server_event("response.output_text.delta", **where, delta=text))
        if piece == len(self.choice.pieces) - 1:
            events += self._close_message()
        return events

    def _close_message(self) -> list[Event]:
        where = {**self._where(0), "content_index": 0}
        if self.spoken:
            events = [
                server_event("response.output_audio.done", **where),
                server_event("response.output_audio_transcript.done", **where, transcript=self.text),
            ]
            content = {"type": "output_audio", "transcript": self.text}
        else:
            events = [server_event("response.output_text.done", **where, text=self.text)]
            content = {"type": "output_text", "text": self.text}
        item = self.items[0]
        item["content"] = [content]
        item["status"] = "completed" if self.choice.finish_reason != "length" else "incomplete"
        return [
            *events,
            server_event("response.content_part.done", **where, part=self._part()),
            server_event("response.output_item.done", response_id=self.id, output_index=0, item=dict(item)),
            server_event("conversation.item.done", item=dict(item)),
        ]

    def _call_step(self, segment: int, piece: int) -> list[Event]:
        call: ToolCallPlan = self.choice.tool_calls[segment - 1]
        if piece == -1:
            item = {
                "id": new_id("item_", 96),
                "object": "realtime.item",
                "type": "function_call",
                "status": "in_progress",
                "name": call.name,
                "call_id": "call_" + call.id_suffix,
                "arguments": "",
            }
            self.items.append(item)
            previous = self.add_item(item)
            output_index = len(self.items) - 1
            events = [
                server_event(
                    "response.output_item.added", response_id=self.id, output_index=output_index, item=dict(item)
                ),
                server_event("conversation.item.added", previous_item_id=previous, item=dict(item)),
            ]
            if not call.argument_pieces:
                events += self._close_call(output_index)
            return events
        output_index = len(self.items) - 1
        item = self.items[output_index]
        delta = call.argument_pieces[piece]
        item["arguments"] += delta
        events = [
            server_event(
                "response.function_call_arguments.delta",
                **self._where(output_index),
                call_id=item["call_id"],
                delta=delta,
            )
        ]
        if piece == len(call.argument_pieces) - 1:
            events += self._close_call(output_index)
        return events

    def _close_call(self, output_index: int) -> list[Event]:
        item = self.items[output_index]
        item["status"] = "completed"
        return [
            server_event(
                "response.function_call_arguments.done",
                **self._where(output_index),
                call_id=item["call_id"],
                name=item["name"],
                arguments=item["arguments"],
            ),
            server_event("response.output_item.done", response_id=self.id, output_index=output_index, item=dict(item)),
            server_event("conversation.item.done", item=dict(item)),
        ]
