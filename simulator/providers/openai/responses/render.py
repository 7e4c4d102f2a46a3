"""A Plan as the Responses API answers it: the response object, or its typed event stream.

The stream runs response.created, response.in_progress, then per output item its
added/delta/done events, and response.completed (or .incomplete, or error and
response.failed), in the order OpenAI's API reference ("Streaming events") gives.
"""

from __future__ import annotations

import base64
import hashlib
import math
import time
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

import orjson

from simulator.engine.generators import last_user_text
from simulator.engine.ids import new_id
from simulator.engine.types import ChoicePlan, Message, Plan, StreamFault, ToolCallPlan
from simulator.providers.openai.chat.render import piece_json, tool_call_id
from simulator.providers.openai.errors import fault_error
from simulator.providers.openai.logprobs import entries_json, flat
from simulator.providers.openai.responses.request import ResponsesRequest
from simulator.server.http import dump_json

_NO_LOGPROBS = orjson.Fragment(b"[]")


def _event(kind: str, sequence_number: int, data: dict[str, Any]) -> bytes:
    return (
        b"event: "
        + kind.encode()
        + b"\ndata: "
        + dump_json({"type": kind, "sequence_number": sequence_number, **data})
        + b"\n\n"
    )


def summary_text(messages: tuple[Message, ...]) -> str:
    """A reasoning summary: the kind of heading and sentence the real ones open with."""
    question = " ".join(last_user_text(messages).split())
    if len(question) > 80:
        question = question[:79].rstrip() + "…"
    topic = f'the request "{question}"' if question else "the conversation so far"
    return f"**Working out the answer**\n\nI am considering {topic} and how best to answer it clearly."


def _encrypted_content(item_id: str) -> str:
    """Opaque, as the real encrypted reasoning is; the same for the same item."""
    return "gAAAAA" + base64.urlsafe_b64encode(hashlib.blake2b(item_id.encode(), digest_size=48).digest()).decode()


@dataclass
class _Item:
    kind: str  # reasoning | message | function_call
    id: str
    start: int = 0  # first streaming step
    call: ToolCallPlan | None = None


class ResponseWriter:
    """A Plan as a response object, and as the event stream that builds it step by step.

    Output items follow the plan: a reasoning item (models that reasoned), the message
    (one output_text part) unless the model only calls tools, then one function_call
    per call. Events carry consecutive sequence numbers in the order they are rendered.
    """

    def __init__(self, response_id: str, parsed: ResponsesRequest, plan: Plan, summary: str) -> None:
        self.response_id = response_id
        self.created_at = int(time.time())
        self._plan = plan
        self._choice: ChoicePlan = plan.choices[0]
        self._sequence = 0
        choice = self._choice
        self.items: list[_Item] = []
        if plan.usage.reasoning_tokens:
            self.items.append(_Item("reasoning", new_id("rs_", 192)))
        step = 0
        if choice.pieces or not (choice.tool_calls or choice.finish_reason == "length"):
            self.items.append(_Item("message", new_id("msg_", 192), step))
            step += len(choice.pieces)
        for call in choice.tool_calls:
            self.items.append(_Item("function_call", new_id("fc_", 192), step, call))
            step += 1 + len(call.argument_pieces)
        self._streamed = [item for item in self.items if item.kind != "reasoning"]
        self._starts = [item.start for item in self._streamed]
        self._summary = summary if parsed.reasoning_summary else ""
        self._encrypted = "reasoning.encrypted_content" in parsed.include
        incomplete = choice.finish_reason == "length"
        self.status = "incomplete" if incomplete else "completed"
        effort = parsed.reasoning_effort or ("medium" if plan.usage.reasoning_tokens else None)
        self._base = {
            "id": response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": "in_progress",
            "completed_at": None,
            "error": None,
            "incomplete_details": None,
            **parsed.echo,
            "model": plan.model,
            "output": [],
            "reasoning": {"effort": effort, "summary": parsed.reasoning_summary},
            "store": parsed.store,
            "usage": None,
        }
        usage = plan.usage
        self._usage = {
            "input_tokens": usage.prompt_tokens,
            "input_tokens_details": {"cached_tokens": usage.cached_tokens, "cache_write_tokens": 0},
            "output_tokens": usage.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        }
        # The output text's logprobs, as JSON: the part's (with bytes) and the text events' (without).
        self._part_logprobs = self._text_logprobs = _NO_LOGPROBS
        if choice.logprobs is not None:
            logprobs = flat(choice.logprobs)
            self._part_logprobs = orjson.Fragment(entries_json(logprobs))
            self._text_logprobs = orjson.Fragment(entries_json(logprobs, with_bytes=False))
        # The one event per token of a text answer: these two around the piece's JSON.
        message = next((item for item in self.items if item.kind == "message"), None)
        if message is not None:
            output_index = self.items.index(message)
            self._delta_open = b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
            self._delta_middle = (
                f',"item_id":"{message.id}","output_index":{output_index},"content_index":0,"delta":'
            ).encode()

    # --- whole objects ---
    def item_json(self, item: _Item, done: bool = True) -> dict[str, Any]:
        choice = self._choice
        if item.kind == "reasoning":
            summary = [{"type": "summary_text", "text": self._summary}] if self._summary and done else []
            data: dict[str, Any] = {"id": item.id, "type": "reasoning", "summary": summary}
            if self._encrypted:
                data["encrypted_content"] = _encrypted_content(item.id) if done else None
            return data
        cut = choice.finish_reason == "length"
        if item.kind == "message":
            status = ("incomplete" if cut else "completed") if done else "in_progress"
            content = [_text_part(choice.text, self._part_logprobs)] if done else []
            return {"id": item.id, "type": "message", "status": status, "role": "assistant", "content": content}
        call = item.call
        assert call is not None
        last = call is choice.tool_calls[-1]
        return {
            "id": item.id,
            "type": "function_call",
            "status": ("incomplete" if cut and last else "completed") if done else "in_progress",
            "arguments": call.arguments if done else "",
            "call_id": tool_call_id(call),
            "name": call.name,
        }

    def response_json(self) -> dict[str, Any]:
        """The finished response (completed, or incomplete when max_output_tokens cut it)."""
        response = {
            **self._base,
            "status": self.status,
            "completed_at": self.created_at + math.ceil(self._plan.duration_s),
            "output": [self.item_json(item) for item in self.items],
            "usage": self._usage,
        }
        if self.status == "incomplete":
            response["incomplete_details"] = {"reason": "max_output_tokens"}
        return response

    def failed_json(self, fault: StreamFault) -> dict[str, Any]:
        """The response a mid-answer fault left: failed, with the error (a disconnect says so too)."""
        if fault.kind == "error":
            error = fault_error(fault, self._plan.model)
            message = error.message
            code = "rate_limit_exceeded" if fault.status == 429 else "server_error"
        else:
            message = "The connection was closed before the response was complete (simulated by LLMSim)."
            code = "server_error"
        return {**self._base, "status": "failed", "error": {"code": code, "message": message}}

    def final_json(self) -> dict[str, Any]:
        """What is stored: the response as the client got it (or failed to)."""
        fault = self._plan.fault
        return self.failed_json(fault) if fault is not None else self.response_json()

    # --- the stream ---

    def _next(self, kind: str, data: dict[str, Any]) -> bytes:
        event = _event(kind, self._sequence, data)
        self._sequence += 1
        return event

    def _opening(self) -> list[bytes]:
        out = [
            self._next("response.created", {"response": self._base}),
            self._next("response.in_progress", {"response": self._base}),
        ]
        for output_index, item in enumerate(self.items):
            if item.kind == "reasoning":
                out += self._reasoning_events(item, output_index)
        return out

    def _reasoning_events(self, item: _Item, output_index: int) -> list[bytes]:
        """The reasoning item, whole at once: the model reasoned before its first token."""
        out = [
            self._next(
                "response.output_item.added", {"output_index": output_index, "item": self.item_json(item, False)}
            )
        ]
        if self._summary:
            where = {"item_id": item.id, "output_index": output_index, "summary_index": 0}
            part = {"type": "summary_text", "text": self._summary}
            out += [
                self._next("response.reasoning_summary_part.added", {**where, "part": {**part, "text": ""}}),
                self._next("response.reasoning_summary_text.delta", {**where, "delta": self._summary}),
                self._next("response.reasoning_summary_text.done", {**where, "text": self._summary}),
                self._next("response.reasoning_summary_part.done", {**where, "part": part}),
            ]
        out.append(
            self._next("response.output_item.done", {"output_index": output_index, "item": self.item_json(item)})
        )
        return out

    def _message_start(self, item: _Item, output_index: int) -> list[bytes]:
        where = {"item_id": item.id, "output_index": output_index, "content_index": 0}
        return [
            self._next(
                "response.output_item.added", {"output_index": output_index, "item": self.item_json(item, False)}
            ),
            self._next("response.content_part.added", {**where, "part": _text_part("")}),
        ]

    def _message_end(self, item: _Item, output_index: int) -> list[bytes]:
        text = self._choice.text
        where = {"item_id": item.id, "output_index": output_index, "content_index": 0}
        return [
            self._next("response.output_text.done", {**where, "text": text, "logprobs": self._text_logprobs}),
            self._next("response.content_part.done", {**where, "part": _text_part(text, self._part_logprobs)}),
            self._next("response.output_item.done", {"output_index": output_index, "item": self.item_json(item)}),
        ]

    def _text_delta(self, at: int) -> bytes:
        """The delta of the text's piece `at` (with its tokens' logprobs when asked for)."""
        logprobs = self._choice.logprobs
        event = b"".join(
            (
                self._delta_open,
                b'"sequence_number":',
                str(self._sequence).encode(),
                self._delta_middle,
                piece_json(self._choice.pieces[at]),
                b',"logprobs":',
                b"[]" if logprobs is None else entries_json(logprobs[at], with_bytes=False),
                b"}\n\n",
            )
        )
        self._sequence += 1
        return event

    def _step(self, step: int) -> list[bytes]:
        position = bisect_right(self._starts, step) - 1
        item = self._streamed[position]
        output_index = self.items.index(item)
        at = step - item.start
        if item.kind == "message":
            pieces = self._choice.pieces
            out = self._message_start(item, output_index) if at == 0 else []
            out.append(self._text_delta(at))
            if at == len(pieces) - 1:
                out += self._message_end(item, output_index)
            return out
        call = item.call
        assert call is not None
        out = []
        if at == 0:
            out.append(
                self._next(
                    "response.output_item.added", {"output_index": output_index, "item": self.item_json(item, False)}
                )
            )
        else:
            out.append(
                self._next(
                    "response.function_call_arguments.delta",
                    {"item_id": item.id, "output_index": output_index, "delta": call.argument_pieces[at - 1]},
                )
            )
        if at == len(call.argument_pieces):
            out += [
                self._next(
                    "response.function_call_arguments.done",
                    {"item_id": item.id, "output_index": output_index, "arguments": call.arguments},
                ),
                self._next("response.output_item.done", {"output_index": output_index, "item": self.item_json(item)}),
            ]
        return out

    def render(self, first: int, end: int, last: bool) -> bytes:
        """The events of steps first..end-1 (with the opening ones before step 0, the closing ones when `last`)."""
        out = self._opening() if first == 0 else []
        if end - first == 1 and first > 0 and not last:
            position = bisect_right(self._starts, first) - 1
            item = self._streamed[position]
            at = first - item.start
            if item.kind == "message" and 0 < at < len(self._choice.pieces) - 1:
                return self._text_delta(at)  # the usual case, once per token
        for step in range(first, end):
            out += self._step(step)
        if last:
            if end == 0:  # an answer without steps: its empty message, if it has one
                for output_index, item in enumerate(self.items):
                    if item.kind == "message":
                        out += self._message_start(item, output_index) + self._message_end(item, output_index)
            kind = "response.incomplete" if self.status == "incomplete" else "response.completed"
            out.append(self._next(kind, {"response": self.response_json()}))
        return b"".join(out)

    def failure(self, opening: bool) -> bytes:
        """How a stream ends on an error fault: an `error` event, then response.failed."""
        fault = self._plan.fault
        assert fault is not None
        failed = self.failed_json(fault)
        out = self._opening() if opening else []
        out.append(
            self._next("error", {"code": failed["error"]["code"], "message": failed["error"]["message"], "param": None})
        )
        out.append(self._next("response.failed", {"response": failed}))
        return b"".join(out)


def answer_of(parsed: ResponsesRequest, plan: Plan, summary: str) -> tuple[ResponseWriter, bytes]:
    """The writer of a new response, and the response as it is stored (and sent, when not streaming)."""
    writer = ResponseWriter(new_id("resp_", 192), parsed, plan, summary)
    return writer, dump_json(writer.final_json())


def _text_part(text: str, logprobs: orjson.Fragment = _NO_LOGPROBS) -> dict[str, Any]:
    """An output_text part; `logprobs`: its tokens' as JSON."""
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs}
