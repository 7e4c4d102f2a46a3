"""Gemini's answers: the plan rendered as a GenerateContentResponse, as the chunks of
streamGenerateContent (SSE with ?alt=sse, else one JSON array written piece by piece),
embeddings, and model profiles as Model resources, in Gemini's lowerCamel shapes.

Shapes as in Google's Gemini API reference ("Generating content", "Embeddings",
"Models").
"""

from __future__ import annotations

from typing import Any

from simulator.engine.embeddings import embedding
from simulator.engine.schema import load_arguments
from simulator.engine.snapshot import ModelSpec
from simulator.engine.types import ChoicePlan, Plan
from simulator.providers.gemini.errors import error_json, fault_error
from simulator.providers.gemini.request import EmbedInput
from simulator.server.http import (
    JSON_CONTENT_TYPE,
    SSE_HEADERS,
    Call,
    ProviderError,
    dump_json,
    send_bytes,
    start_stream,
)
from simulator.server.pipeline import stream_plan, wait_for_reply


def finish_reason(choice: ChoicePlan) -> str:
    """MAX_TOKENS when the answer was cut at the limit, else STOP."""
    return "MAX_TOKENS" if choice.finish_reason == "length" else "STOP"


def parts_json(choice: ChoicePlan) -> list[dict[str, Any]]:
    """Thoughts (when asked for), the text (an empty one when there is nothing else), then function calls."""
    parts: list[dict[str, Any]] = []
    if choice.thinking_pieces:
        parts.append({"text": choice.thinking, "thought": True})
    if choice.pieces or not (parts or choice.tool_calls):
        parts.append({"text": choice.text})
    parts += [
        {"functionCall": {"name": call.name, "args": load_arguments(call.arguments)}} for call in choice.tool_calls
    ]
    return parts


def usage_json(plan: Plan, streamed: float = 1.0) -> dict[str, Any]:
    """usageMetadata, after `streamed` (a fraction) of the answer's steps."""
    prompt = plan.usage.prompt_tokens
    thoughts = plan.usage.reasoning_tokens
    candidates = plan.usage.completion_tokens - thoughts
    if streamed < 1.0:
        if plan.choices and plan.choices[0].thinking_pieces:  # shown thinking streams first
            done = round((thoughts + candidates) * streamed)
            thoughts = min(thoughts, done)
            candidates = done - thoughts
        else:  # hidden thinking was over before the first chunk
            candidates = round(candidates * streamed)
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if plan.usage.cached_tokens:  # part of promptTokenCount, as Google counts it
        usage["cachedContentTokenCount"] = plan.usage.cached_tokens
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": plan.usage.cached_tokens}]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def response_json(plan: Plan, response_id: str) -> dict[str, Any]:
    """The whole GenerateContentResponse: a candidate per choice, usage, model and id."""
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": parts_json(choice)},
                "finishReason": finish_reason(choice),
                "index": index,
            }
            for index, choice in enumerate(plan.choices)
        ],
        "usageMetadata": usage_json(plan),
        "modelVersion": plan.model,
        "responseId": response_id,
    }


class ChunkWriter:
    """Renders a Plan as streamGenerateContent chunks: one chunk per write, holding every
    candidate's new parts (text of the due steps joined), usage so far, and on the last
    chunk the finishReason. A function call goes out whole when its last argument
    token is due, as Gemini sends calls."""

    def __init__(self, plan: Plan, response_id: str, sse: bool) -> None:
        self._plan = plan
        self._response_id = response_id
        self._sse = sse
        self.steps = max(choice.step_count for choice in plan.choices)
        # Per candidate, per step: the part it adds (None: nothing new at that step).
        self._parts = [self._step_parts(choice) for choice in plan.choices]

    @staticmethod
    def _step_parts(choice: ChoicePlan) -> list[dict[str, Any] | None]:
        parts: list[dict[str, Any] | None] = [{"text": piece, "thought": True} for piece in choice.thinking_pieces]
        parts += [{"text": piece} for piece in choice.pieces]
        for call in choice.tool_calls:
            parts += [None] * len(call.argument_pieces)
            parts.append({"functionCall": {"name": call.name, "args": load_arguments(call.arguments)}})
        return parts

    def chunk(self, first: int, end: int, final: bool) -> dict[str, Any]:
        """The chunk of steps first..end-1: each candidate's new parts (adjacent texts joined), usage so far."""
        candidates = []
        for index, choice in enumerate(self._plan.choices):
            parts: list[dict[str, Any]] = []
            for part in self._parts[index][first:end]:
                if part is None:
                    continue
                last = parts[-1] if parts else None
                if (
                    last is not None
                    and "text" in part
                    and "text" in last
                    and last.get("thought") == part.get("thought")
                ):
                    parts[-1] = {**last, "text": last["text"] + part["text"]}
                else:
                    parts.append(part)
            finishing = first < max(len(self._parts[index]), 1) <= max(end, 1)
            if not parts and not finishing:
                continue
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts or [{"text": ""}]}, "index": index}
            if finishing:
                candidate["finishReason"] = finish_reason(choice)
            candidates.append(candidate)
        return {
            "candidates": candidates,
            "usageMetadata": usage_json(self._plan, 1.0 if final else end / self.steps),
            "modelVersion": self._plan.model,
            "responseId": self._response_id,
        }

    def frame(self, obj: dict[str, Any], first: bool = False, last: bool = False) -> bytes:
        """One chunk on the wire: an SSE data line, or an element of the JSON array."""
        if self._sse:
            return b"data: " + dump_json(obj) + b"\n\n"
        return (b"[" if first else b",\r\n") + dump_json(obj) + (b"\n]" if last else b"")

    def render(self, first: int, end: int, last: bool) -> bytes:
        """The chunk of steps first..end-1, as one write; the answer's last when `last`."""
        return self.frame(self.chunk(first, end, last), first=first == 0, last=last)

    def error(self, error: ProviderError, first: bool) -> bytes:
        """An error ending the stream, framed as a chunk."""
        return self.frame(error_json(error), first=first, last=True)


async def stream_content(call: Call, plan: Plan, response_id: str, sse: bool) -> None:
    """Send the plan as streamGenerateContent chunks (SSE, or one JSON array), each at its deadline."""
    writer = ChunkWriter(plan, response_id, sse)
    await start_stream(call, list(SSE_HEADERS) if sse else [JSON_CONTENT_TYPE])

    def broken(opening: bool) -> bytes:
        assert plan.fault is not None
        return writer.error(fault_error(plan.fault), first=opening)

    await stream_plan(call, plan, writer.render, broken)


async def reply_content(call: Call, plan: Plan, response_id: str) -> None:
    """Send the plan as one GenerateContentResponse once its whole schedule has passed."""
    if await wait_for_reply(call, plan, fault_error):
        await send_bytes(call, 200, dump_json(response_json(plan, response_id)), [JSON_CONTENT_TYPE])


def embeddings_json(inputs: list[EmbedInput], batch: bool) -> dict[str, Any]:
    """The vectors of the texts: {"embedding": ...} for one, {"embeddings": [...]} for a batch."""
    vectors = [{"values": embedding(item.text, item.dimensions)} for item in inputs]
    return {"embeddings": vectors} if batch else {"embedding": vectors[0]}


def display_name(model_id: str) -> str:
    """gemini-2.5-flash → Gemini 2.5 Flash."""
    return " ".join(word if word[:1].isdigit() else word.capitalize() for word in model_id.split("-"))


def model_json(spec: ModelSpec, model_id: str | None = None) -> dict[str, Any]:
    """A model profile as a Model resource (models/{id})."""
    return {
        "name": f"models/{model_id or spec.id}",
        "version": "001",
        "displayName": display_name(spec.id),
        "description": f"Simulated by LLMSim with the {spec.id} profile.",
        "inputTokenLimit": spec.context_window,
        "outputTokenLimit": spec.max_output_tokens,
        "supportedGenerationMethods": ["generateContent", "countTokens", "embedContent", "batchEmbedContents"],
        "temperature": 1.0,
        "maxTemperature": 2.0,
        "topP": 0.95,
        "topK": 64,
        "thinking": spec.reasoning,
    }
