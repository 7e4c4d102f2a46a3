"""The input items of a Responses request (`input`, and the items of earlier responses).

Messages, function calls and their outputs, and reasoning items become the neutral
Messages the engine reads, and the items `/input_items` lists back (with ids); each is
validated as OpenAI's API reference ("Create a model response", `input`) has it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from simulator.engine.ids import new_id
from simulator.engine.media import base64_image_size
from simulator.engine.types import Message, ToolCall
from simulator.providers.openai.validate import (
    function_name,
    invalid_type,
    invalid_value,
    missing_parameter,
    string_field,
)
from simulator.server.http import ProviderError

_ROLES = ("user", "system", "developer", "assistant")
_INPUT_PARTS = ("input_text", "input_image", "input_file", "input_audio")
_ASSISTANT_PARTS = ("output_text", "refusal", "input_text")
# The item types `input` may hold (an earlier response's output items are read as input).
ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning")

# OpenAI's image formula (gpt-4o family): 85 tokens, plus 170 per 512-pixel tile of the
# image scaled to fit 2048x2048 and then to 768 pixels on its short side.
_IMAGE_BASE_TOKENS = 85
_IMAGE_TILE_TOKENS = 170
# An image whose size cannot be read (a URL): as a 1024x1024 one.
_UNKNOWN_IMAGE_SIZE = (1024, 1024)


def image_tokens(part: dict[str, Any]) -> int:
    """Prompt tokens of an input_image part."""
    if part.get("detail") == "low":
        return _IMAGE_BASE_TOKENS
    url = part.get("image_url")
    size = None
    if isinstance(url, str) and url.startswith("data:") and "," in url:
        size = base64_image_size(url.split(",", 1)[1])
    width, height = size or _UNKNOWN_IMAGE_SIZE
    if width <= 0 or height <= 0:
        return _IMAGE_BASE_TOKENS
    scale = min(1.0, 2048 / max(width, height))
    width, height = width * scale, height * scale
    scale = min(1.0, 768 / min(width, height))
    tiles = math.ceil(width * scale / 512) * math.ceil(height * scale / 512)
    return _IMAGE_BASE_TOKENS + _IMAGE_TILE_TOKENS * tiles


def _content_of(
    content: Any, param: str, allowed: tuple[str, ...], text_type: str
) -> tuple[str, int, list[dict[str, Any]]]:
    """A message's text, media tokens and content parts (a string becomes one text part)."""
    if isinstance(content, str):
        part: dict[str, Any] = {"type": text_type, "text": content}
        if text_type == "output_text":
            part["annotations"] = []
        return content, 0, [part]
    if not isinstance(content, list):
        raise invalid_type(param, "a string or an array", content)
    texts: list[str] = []
    media = 0
    for i, part in enumerate(content):
        where = f"{param}[{i}]"
        if not isinstance(part, dict):
            raise invalid_type(where, "an object", part)
        kind = part.get("type")
        if kind not in allowed:
            raise invalid_value(f"{where}.type", kind, allowed)
        if kind in ("input_text", "output_text", "refusal"):
            key = "refusal" if kind == "refusal" else "text"
            text = part.get(key)
            if text is None:
                raise missing_parameter(f"{where}.{key}")
            if not isinstance(text, str):
                raise invalid_type(f"{where}.{key}", "a string", text)
            texts.append(text)
        elif kind == "input_image":
            if part.get("image_url") is None and part.get("file_id") is None:
                raise missing_parameter(f"{where}.image_url")
            media += image_tokens(part)
    return "\n".join(texts), media, content


@dataclass
class Conversation:
    """Input items as the engine sees them (Messages) and as input_items lists them (with ids)."""

    messages: list[Message] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)

    def add_call(self, call: ToolCall) -> None:
        # Consecutive function_call items are one assistant turn (parallel calls).
        last = self.messages[-1] if self.messages else None
        if last is not None and last.role == "assistant" and last.tool_calls and not last.content:
            self.messages[-1] = Message("assistant", "", tool_calls=(*last.tool_calls, call))
        else:
            self.messages.append(Message("assistant", "", tool_calls=(call,)))


def read_items(raw: Any, conversation: Conversation, param: str = "input") -> None:
    """Add `input` (a string or a list of items) to the conversation, validated as OpenAI does."""
    if isinstance(raw, str):
        conversation.messages.append(Message("user", raw))
        conversation.items.append(
            {
                "id": new_id("msg_", 192),
                "type": "message",
                "role": "user",
                "status": "completed",
                "content": [{"type": "input_text", "text": raw}],
            }
        )
        return
    if not isinstance(raw, list):
        raise invalid_type(param, "a string or an array", raw)
    for i, item in enumerate(raw):
        where = f"{param}[{i}]"
        if not isinstance(item, dict):
            raise invalid_type(where, "an object", item)
        kind = item.get("type", "message")
        if kind == "message":
            _read_message(item, where, conversation)
        elif kind == "function_call":
            _read_function_call(item, where, conversation)
        elif kind == "function_call_output":
            _read_function_call_output(item, where, conversation)
        elif kind == "reasoning":
            # Earlier reasoning, handed back: not part of the prompt (it was never text).
            conversation.items.append({**item, "id": string_field(item, "id", where) or new_id("rs_", 192)})
        else:
            raise invalid_value(f"{where}.type", kind, ITEM_TYPES)


def _read_message(item: dict[str, Any], where: str, conversation: Conversation) -> None:
    role = item.get("role")
    if role is None:
        raise missing_parameter(f"{where}.role")
    if role not in _ROLES:
        raise invalid_value(f"{where}.role", role, _ROLES)
    if item.get("content") is None:
        raise missing_parameter(f"{where}.content")
    assistant = role == "assistant"
    text, media, parts = _content_of(
        item["content"],
        f"{where}.content",
        _ASSISTANT_PARTS if assistant else _INPUT_PARTS,
        "output_text" if assistant else "input_text",
    )
    conversation.messages.append(Message(role, text, media_tokens=media))
    conversation.items.append(
        {
            "id": string_field(item, "id", where) or new_id("msg_", 192),
            "type": "message",
            "role": role,
            "status": item.get("status") or "completed",
            "content": parts,
        }
    )


def _read_function_call(item: dict[str, Any], where: str, conversation: Conversation) -> None:
    call_id = string_field(item, "call_id", where, required=True)
    name = function_name(item.get("name"), f"{where}.name")
    arguments = string_field(item, "arguments", where, required=True)
    conversation.add_call(ToolCall(id=call_id, name=name, arguments=arguments))
    conversation.items.append(
        {
            "id": string_field(item, "id", where) or new_id("fc_", 192),
            "type": "function_call",
            "status": item.get("status") or "completed",
            "arguments": arguments,
            "call_id": call_id,
            "name": name,
        }
    )


def _read_function_call_output(item: dict[str, Any], where: str, conversation: Conversation) -> None:
    call_id = string_field(item, "call_id", where, required=True)
    output = item.get("output")
    if output is None:
        raise missing_parameter(f"{where}.output")
    text, media, _ = _content_of(output, f"{where}.output", _INPUT_PARTS, "input_text")
    conversation.messages.append(Message("tool", text, tool_call_id=call_id, media_tokens=media))
    conversation.items.append(
        {
            "id": string_field(item, "id", where) or new_id("fco_", 192),
            "type": "function_call_output",
            "status": item.get("status") or "completed",
            "call_id": call_id,
            "output": output,
        }
    )


def check_tool_outputs(messages: list[Message]) -> None:
    """Every function_call_output answers an earlier call, and every call has its output."""
    open_calls: dict[str, str] = {}
    for message in messages:
        for call in message.tool_calls:
            open_calls[call.id] = call.name
        if message.role == "tool":
            if message.tool_call_id not in open_calls:
                raise ProviderError(
                    400,
                    f"No tool call found for function call output with call_id {message.tool_call_id}.",
                    param="input",
                )
            del open_calls[message.tool_call_id]
    if open_calls:
        raise ProviderError(400, f"No tool output found for function call {next(iter(open_calls))}.", param="input")
