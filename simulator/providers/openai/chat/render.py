"""A Plan as Chat Completions answers it: one chat.completion body, or chat.completion.chunk events.

The shapes are those of OpenAI's API reference ("The chat completion object", "The chat
completion chunk object"); a stream ends with the usage chunk (when asked for) and
`data: [DONE]`.
"""

from __future__ import annotations

from typing import Any

from orjson import Fragment

from simulator.engine.types import ChoicePlan, Plan, TokenLogprob, ToolCallPlan
from simulator.providers.openai.logprobs import chat_logprobs, flat
from simulator.server.http import dump_json

# The system_fingerprint of every answer (the legacy Completions' too).
SYSTEM_FINGERPRINT = "fp_llmsim"


def _usage_json(plan: Plan) -> dict[str, Any]:
    usage = plan.usage
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def tool_call_id(call: ToolCallPlan) -> str:
    """A planned tool call's id, as every OpenAI API shows it (call_…)."""
    return "call_" + call.id_suffix


def finish_reason(choice: ChoicePlan, legacy_functions: bool) -> str:
    """The choice's finish_reason (function_call for a legacy `functions` request's call)."""
    if legacy_functions and choice.finish_reason == "tool_calls":
        return "function_call"
    return choice.finish_reason


def message_json(choice: ChoicePlan, legacy_functions: bool) -> dict[str, Any]:
    """The assistant message of one choice."""
    if not choice.tool_calls:
        return {"role": "assistant", "content": choice.text, "refusal": None, "annotations": []}
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None, "annotations": []}
    if legacy_functions:
        call = choice.tool_calls[0]
        message["function_call"] = {"name": call.name, "arguments": call.arguments}
    else:
        message["tool_calls"] = [
            {"id": tool_call_id(call), "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in choice.tool_calls
        ]
    return message


def completion_json(completion_id: str, created: int, plan: Plan, legacy_functions: bool = False) -> dict[str, Any]:
    """The chat.completion object of a whole answer."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": plan.model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "service_tier": "default",
        "choices": [
            {
                "index": index,
                "message": message_json(choice, legacy_functions)
                if choice.tool_calls
                else {"role": "assistant", "content": choice.text, "refusal": None, "annotations": []},
                "logprobs": None if choice.logprobs is None else Fragment(chat_logprobs(flat(choice.logprobs))),
                "finish_reason": finish_reason(choice, legacy_functions),
            }
            for index, choice in enumerate(plan.choices)
        ],
        "usage": _usage_json(plan),
    }


def completion_body(completion_id: str, created: int, plan: Plan, legacy_functions: bool, variant: Any = None) -> bytes:
    """completion_json, as the response body (with a variant's extras: Azure's content filters)."""
    answer = completion_json(completion_id, created, plan, legacy_functions)
    if variant is not None:
        variant.annotate(answer)
    return dump_json(answer)


# JSON of the token pieces streamed most: corpus answers reuse a few thousand strings.
_piece_json: dict[str, bytes] = {}
_PIECE_JSON_LIMIT = 65_536


def piece_json(piece: str) -> bytes:
    """`piece` as a JSON string, from a bounded cache."""
    encoded = _piece_json.get(piece)
    if encoded is None:
        encoded = dump_json(piece)
        if len(_piece_json) < _PIECE_JSON_LIMIT:
            _piece_json[piece] = encoded
    return encoded


class ChunkWriter:
    """Renders chat.completion.chunk events; the constant part of every chunk is built once.

    `choice_extra`: more fields for every choice of every chunk, as JSON members with a
    leading comma (a variant's: Azure's content_filter_results).
    """

    def __init__(
        self,
        completion_id: str,
        created: int,
        plan: Plan,
        include_usage: bool,
        legacy_functions: bool = False,
        choice_extra: bytes = b"",
    ) -> None:
        head = dump_json(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": plan.model,
                "service_tier": "default",
                "system_fingerprint": SYSTEM_FINGERPRINT,
            }
        )
        self._head = b"data: " + head[:-1] + b',"choices":[{"index":'
        self._tail = b',"usage":null}\n\n' if include_usage else b"}\n\n"
        self._plan = plan
        self._include_usage = include_usage
        self._choice_end = choice_extra + b"}]"
        # A content chunk is these two around the piece's JSON: the one write per token.
        self._content_open = [self._head + str(i).encode() + b',"delta":{"content":' for i in range(len(plan.choices))]
        self._content_close = b'},"logprobs":null,"finish_reason":null' + self._choice_end + self._tail
        # Each choice's last step (its finish chunk goes out with it), and the steps in which
        # something other than one content chunk per choice goes out.
        self._last_steps = [max(len(choice.pieces) - 1, 0) for choice in plan.choices]
        self._special_steps = {0, *self._last_steps}
        # Choices that call tools: every step's chunk, rendered up front (index → chunks).
        self._tool_steps = {
            index: self._tool_call_chunks(index, choice, legacy_functions)
            for index, choice in enumerate(plan.choices)
            if choice.tool_calls
        }
        # One choice of plain content chunks: most steps are one such chunk.
        self._plain = len(plan.choices) == 1 and not self._tool_steps and plan.choices[0].logprobs is None

    def _chunk(self, index: int, delta: bytes, finish_reason: bytes = b"null") -> bytes:
        return b"".join(
            (
                self._head,
                str(index).encode(),
                b',"delta":',
                delta,
                b',"logprobs":null,"finish_reason":',
                finish_reason,
                self._choice_end,
                self._tail,
            )
        )

    def role(self, index: int) -> bytes:
        return self._chunk(index, b'{"role":"assistant","content":"","refusal":null}')

    def content(self, index: int, piece: str, logprobs: tuple[TokenLogprob, ...] | None = None) -> bytes:
        """A content chunk; with `logprobs`, those of its tokens."""
        if logprobs is None:
            return self._content_open[index] + piece_json(piece) + self._content_close
        return b"".join(
            (
                self._content_open[index],
                piece_json(piece),
                b'},"logprobs":',
                chat_logprobs(logprobs),
                b',"finish_reason":null',
                self._choice_end,
                self._tail,
            )
        )

    def finish(self, index: int, reason: str) -> bytes:
        return self._chunk(index, b"{}", b'"' + reason.encode() + b'"')

    def closing(self) -> bytes:
        """The usage chunk (when asked for) and the [DONE] terminator."""
        if not self._include_usage:
            return b"data: [DONE]\n\n"
        usage = dump_json(_usage_json(self._plan))
        return self._head[: -len(b'{"index":')] + b'],"usage":' + usage + b"}\n\ndata: [DONE]\n\n"

    def _tool_call_chunks(self, index: int, choice: ChoicePlan, legacy_functions: bool) -> list[bytes]:
        """A call's first delta carries its id, type and name (once: the SDKs concatenate), then arguments."""
        chunks: list[bytes] = []
        for number, call in enumerate(choice.tool_calls):
            if legacy_functions:
                opening: dict[str, Any] = {"function_call": {"name": call.name, "arguments": ""}}
            else:
                function = {"name": call.name, "arguments": ""}
                opening = {
                    "tool_calls": [
                        {"index": number, "id": tool_call_id(call), "type": "function", "function": function}
                    ]
                }
            if number == 0:
                opening = {"role": "assistant", "content": None, **opening, "refusal": None}
            chunks.append(self._chunk(index, dump_json(opening)))
            for piece in call.argument_pieces:
                if legacy_functions:
                    fragment: dict[str, Any] = {"function_call": {"arguments": piece}}
                else:
                    fragment = {"tool_calls": [{"index": number, "function": {"arguments": piece}}]}
                chunks.append(self._chunk(index, dump_json(fragment)))
        chunks[-1] += self.finish(index, finish_reason(choice, legacy_functions))
        return chunks

    def steps(self, first: int, end: int) -> bytes:
        """Every event due for steps first..end-1, as one write."""
        choices = self._plan.choices
        if end == first + 1 and self._plain and first not in self._special_steps:
            # The usual case, once per token: one content chunk.
            return self.content(0, choices[0].pieces[first])
        out: list[bytes] = []
        for step in range(first, end):
            for index, choice in enumerate(choices):
                tool_chunks = self._tool_steps.get(index)
                if tool_chunks is not None:
                    if step < len(tool_chunks):
                        out.append(tool_chunks[step])
                    continue
                pieces = choice.pieces
                if step == 0:
                    out.append(self.role(index))
                if step < len(pieces):
                    logprobs = None if choice.logprobs is None else choice.logprobs[step]
                    out.append(self.content(index, pieces[step], logprobs))
                if step == self._last_steps[index]:
                    out.append(self.finish(index, choice.finish_reason))
        return b"".join(out)
