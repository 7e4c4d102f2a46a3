"""Client events: read, validated as the Realtime API does, into the session's terms.

A failure raises ProviderError; the consumer sends it back as an `error` event that
names the client's event, and the session goes on.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from simulator.engine.ids import new_id
from simulator.engine.types import ToolDefinition
from simulator.providers.openai.realtime.session import Conversation, SessionConfig
from simulator.providers.openai.validate import (
    function_definition,
    function_name,
    invalid_type,
    invalid_value,
    missing_parameter,
    string_field,
)
from simulator.server.http import ProviderError, quoted

CLIENT_EVENTS = (
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "conversation.item.delete",
    "response.create",
    "response.cancel",
    "output_audio_buffer.clear",
)
# The fields of a session (GA: RealtimeSessionCreateRequest).
_SESSION_FIELDS = (
    "type",
    "model",
    "instructions",
    "output_modalities",
    "tools",
    "tool_choice",
    "max_output_tokens",
    "audio",
    "tracing",
    "truncation",
    "prompt",
    "include",
)
_RESPONSE_FIELDS = (
    "conversation",
    "input",
    "instructions",
    "output_modalities",
    "tools",
    "tool_choice",
    "max_output_tokens",
    "metadata",
    "audio",
    "prompt",
)
_MODALITIES = (("text",), ("audio",))
_AUDIO_TYPES = ("audio/pcm", "audio/pcmu", "audio/pcma")
_MAX_OUTPUT_TOKENS = 4096
# OpenAI: "up to a maximum of 15 MiB" of audio per input_audio_buffer.append.
MAX_APPEND_BYTES = 15 * 1024 * 1024
# The largest client event read: such an append, in base64, and its envelope. The servers
# take messages a little larger (simulator/server/daphne.py), so that up to there the
# client is told in an error event; past that the server closes with 1009 (too big).
MAX_EVENT_BYTES = MAX_APPEND_BYTES * 4 // 3 + 64 * 1024
_ITEM_ID_CHARS = 32


def read_event(text: str | bytes) -> dict[str, Any]:
    """A client event's JSON object (check_event then validates it)."""
    try:
        event = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ProviderError(400, f"Invalid JSON: {exc}.", code="invalid_json") from exc
    if not isinstance(event, dict):
        raise invalid_type("event", "an object", event)
    return event


def check_event(event: dict[str, Any]) -> None:
    """A known `type`, and an event_id that is a string if there is one."""
    kind = event.get("type")
    if kind is None:
        raise missing_parameter("type")
    if kind not in CLIENT_EVENTS:
        raise invalid_value("type", kind, CLIENT_EVENTS)
    event_id = event.get("event_id")
    if event_id is not None and not isinstance(event_id, str):
        raise invalid_type("event_id", "a string", event_id)


def unknown_parameter(param: str) -> ProviderError:
    return ProviderError(400, f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter")


def _object(raw: Any, param: str) -> dict[str, Any]:
    if raw is None:
        raise missing_parameter(param)
    if not isinstance(raw, dict):
        raise invalid_type(param, "an object", raw)
    return raw


def _check_fields(raw: dict[str, Any], allowed: tuple[str, ...], param: str) -> None:
    for key in raw:
        if key not in allowed:
            raise unknown_parameter(f"{param}.{key}")


def _modalities(raw: Any, param: str) -> tuple[str, ...]:
    if not isinstance(raw, list):
        raise invalid_type(param, "an array", raw)
    if tuple(raw) not in _MODALITIES:
        raise ProviderError(
            400,
            f"Invalid value for '{param}': {quoted(raw)}. Supported combinations are: ['text'] and ['audio'].",
            param=param,
            code="invalid_value",
        )
    return tuple(raw)


def _max_output_tokens(raw: Any, param: str) -> int | None:
    if raw == "inf":
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise invalid_type(param, "an integer or 'inf'", raw)
    if not 1 <= raw <= _MAX_OUTPUT_TOKENS:
        raise ProviderError(
            400,
            f"Invalid '{param}': expected an integer between 1 and {_MAX_OUTPUT_TOKENS} or 'inf', but got {raw}.",
            param=param,
            code="invalid_value",
        )
    return raw


def _tools(raw: Any, param: str) -> tuple[tuple[ToolDefinition, ...], list[Any]]:
    if not isinstance(raw, list):
        raise invalid_type(param, "an array", raw)
    tools = []
    for i, tool in enumerate(raw):
        where = f"{param}[{i}]"
        if not isinstance(tool, dict):
            raise invalid_type(where, "an object", tool)
        if tool.get("type") not in ("function", "mcp"):
            raise invalid_value(f"{where}.type", tool.get("type"), ("function", "mcp"))
        if tool["type"] == "function":
            tools.append(function_definition(tool, where))
    return tuple(tools), raw


def _tool_choice(raw: Any, tools: tuple[ToolDefinition, ...], param: str) -> Any:
    if isinstance(raw, str):
        if raw not in ("auto", "none", "required"):
            raise invalid_value(param, raw, ("auto", "none", "required"))
        return raw
    if not isinstance(raw, dict):
        raise invalid_type(param, "a string or an object", raw)
    if raw.get("type") != "function":
        raise invalid_value(f"{param}.type", raw.get("type"), ("function", "mcp"))
    name = function_name(raw.get("name"), f"{param}.name")
    if not any(tool.name == name for tool in tools):
        raise ProviderError(
            400, f"Tool choice '{name}' not found in 'tools' parameter.", param=param, code="invalid_value"
        )
    return raw


def neutral_tool_choice(choice: Any) -> Any:
    """The engine's tool choice for the wire's."""
    if isinstance(choice, dict):
        return {"name": choice["name"]}
    return None if choice == "auto" else choice


def _audio(raw: Any, current: dict[str, Any], param: str) -> dict[str, Any]:
    raw = _object(raw, param)
    _check_fields(raw, ("input", "output"), param)
    audio = {side: dict(current[side]) for side in ("input", "output")}
    for side, settings in raw.items():
        where = f"{param}.{side}"
        settings = _object(settings, where)
        fmt = settings.get("format")
        if fmt is not None:
            fmt = _object(fmt, f"{where}.format")
            if fmt.get("type") not in _AUDIO_TYPES:
                raise invalid_value(f"{where}.format.type", fmt.get("type"), _AUDIO_TYPES)
            settings = {**settings, "format": {**fmt, "rate": 24000} if fmt["type"] == "audio/pcm" else dict(fmt)}
        audio[side].update(settings)
    return audio


def update_session(raw: Any, session: SessionConfig) -> SessionConfig:
    """The session after a session.update (the old one is left as it was when the update fails)."""
    raw = _object(raw, "session")
    _check_fields(raw, _SESSION_FIELDS, "session")
    if raw.get("type") is None:
        raise missing_parameter("session.type")
    if raw["type"] != "realtime":
        raise invalid_value("session.type", raw["type"], ("realtime", "transcription"))
    changes: dict[str, Any] = {}
    if "instructions" in raw:
        if not isinstance(raw["instructions"], str):
            raise invalid_type("session.instructions", "a string", raw["instructions"])
        changes["instructions"] = raw["instructions"]
    if "output_modalities" in raw:
        changes["output_modalities"] = _modalities(raw["output_modalities"], "session.output_modalities")
    tools = session.tools
    if "tools" in raw:
        tools, changes["tools_json"] = _tools(raw["tools"], "session.tools")
        changes["tools"] = tools
    if "tool_choice" in raw:
        changes["tool_choice"] = _tool_choice(raw["tool_choice"], tools, "session.tool_choice")
    if "max_output_tokens" in raw:
        changes["max_output_tokens"] = _max_output_tokens(raw["max_output_tokens"], "session.max_output_tokens")
    if "audio" in raw:
        changes["audio"] = _audio(raw["audio"], session.audio, "session.audio")
    extra = {key: raw[key] for key in ("tracing", "truncation", "prompt", "include") if key in raw}
    if extra:
        changes["extra"] = {**session.extra, **extra}
    return replace(session, **changes)


# --- conversation items --------------------------------------------------------------------

_PARTS = {
    "user": ("input_text", "input_audio", "input_image"),
    "system": ("input_text",),
    "assistant": ("output_text", "output_audio"),
}


@dataclass
class NewItem:
    """An item a client adds, as the server stores and echoes it."""

    item: dict[str, Any]
    audio_bytes: int = 0  # of its input_audio parts (their audio is not kept)


def read_item(raw: Any, conversation: Conversation, where: str = "item") -> NewItem:
    """A conversation item (message, function_call, function_call_output)."""
    raw = _object(raw, where)
    item_id = string_field(raw, "id", where)
    if item_id is not None:
        if len(item_id) > _ITEM_ID_CHARS:
            raise ProviderError(
                400,
                f"Invalid '{where}.id': string too long. Expected a string with maximum length {_ITEM_ID_CHARS}.",
                param=f"{where}.id",
                code="string_above_max_length",
            )
        if conversation.find(item_id) is not None:
            raise ProviderError(
                400, f"Item with item_id '{item_id}' already exists.", param=f"{where}.id", code="duplicate_item_id"
            )
    kind = raw.get("type")
    if kind is None:
        raise missing_parameter(f"{where}.type")
    base = {"id": item_id or new_id("item_", 96), "object": "realtime.item", "status": "completed"}
    if kind == "message":
        role = raw.get("role")
        if role not in _PARTS:
            raise invalid_value(f"{where}.role", role, tuple(_PARTS))
        content = raw.get("content")
        if not isinstance(content, list):
            raise invalid_type(f"{where}.content", "an array", content)
        parts, audio_bytes = [], 0
        for i, part in enumerate(content):
            at = f"{where}.content[{i}]"
            part = _object(part, at)
            if part.get("type") not in _PARTS[role]:
                raise invalid_value(f"{at}.type", part.get("type"), _PARTS[role])
            if part["type"] in ("input_text", "output_text"):
                parts.append({"type": part["type"], "text": string_field(part, "text", at, required=True)})
            elif part["type"] == "input_audio":
                audio = string_field(part, "audio", at)
                audio_bytes += len(decode_audio(audio, f"{at}.audio")) if audio else 0
                parts.append({"type": "input_audio", "transcript": string_field(part, "transcript", at)})
            elif part["type"] == "output_audio":
                parts.append({"type": "output_audio", "transcript": string_field(part, "transcript", at)})
            else:
                parts.append(dict(part))
        return NewItem({**base, "type": "message", "role": role, "content": parts}, audio_bytes)
    if kind == "function_call":
        return NewItem(
            {
                **base,
                "type": "function_call",
                "name": function_name(raw.get("name"), f"{where}.name"),
                "call_id": string_field(raw, "call_id", where) or new_id("call_", 64),
                "arguments": string_field(raw, "arguments", where, required=True),
            }
        )
    if kind == "function_call_output":
        return NewItem(
            {
                **base,
                "type": "function_call_output",
                "call_id": string_field(raw, "call_id", where, required=True),
                "output": string_field(raw, "output", where, required=True),
            }
        )
    raise invalid_value(f"{where}.type", kind, ("message", "function_call", "function_call_output"))


def previous_item(raw: Any, conversation: Conversation) -> str | None:
    """conversation.item.create's previous_item_id: None (last), "root" (first) or an existing item."""
    if raw is None or raw == "root":
        return raw
    if not isinstance(raw, str):
        raise invalid_type("previous_item_id", "a string", raw)
    if conversation.find(raw) is None:
        raise item_not_found(raw, "previous_item_id")
    return raw


def item_not_found(item_id: str, param: str) -> ProviderError:
    return ProviderError(
        400, f"Item with item_id {quoted(item_id)} does not exist.", param=param, code="item_not_found"
    )


def decode_audio(raw: Any, param: str) -> bytes:
    """Base64 audio of an append or an input_audio part, within OpenAI's 15 MiB."""
    if not isinstance(raw, str):
        raise invalid_type(param, "a string", raw)
    try:
        audio = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProviderError(400, f"Invalid '{param}': not valid base64.", param=param, code="invalid_value") from exc
    if len(audio) > MAX_APPEND_BYTES:
        raise ProviderError(
            400,
            f"Invalid '{param}': audio too large ({len(audio)} bytes); the maximum is 15 MiB.",
            param=param,
            code="invalid_value",
        )
    return audio


# --- response.create -----------------------------------------------------------------------


@dataclass
class ResponseOptions:
    """One response's settings: the session's, with what response.create overrides."""

    output_modalities: tuple[str, ...]
    instructions: str
    tools: tuple[ToolDefinition, ...]
    tool_choice: Any
    max_output_tokens: int | None
    in_conversation: bool = True  # conversation "none": an out-of-band response
    input_items: list[dict[str, Any]] | None = None  # its own input instead of the conversation
    metadata: dict[str, Any] | None = None
    audio_bytes: dict[str, int] = field(default_factory=dict)


def response_options(raw: Any, session: SessionConfig, conversation: Conversation) -> ResponseOptions:
    options = ResponseOptions(
        session.output_modalities,
        session.instructions,
        session.tools,
        session.tool_choice,
        session.max_output_tokens,
    )
    if raw is None:
        return options
    raw = _object(raw, "response")
    _check_fields(raw, _RESPONSE_FIELDS, "response")
    if "output_modalities" in raw:
        options.output_modalities = _modalities(raw["output_modalities"], "response.output_modalities")
    if "instructions" in raw:
        options.instructions = string_field(raw, "instructions", "response", required=True) or ""
    if "tools" in raw:
        options.tools = _tools(raw["tools"], "response.tools")[0]
    if "tool_choice" in raw:
        options.tool_choice = _tool_choice(raw["tool_choice"], options.tools, "response.tool_choice")
    if "max_output_tokens" in raw:
        options.max_output_tokens = _max_output_tokens(raw["max_output_tokens"], "response.max_output_tokens")
    if raw.get("conversation") is not None:
        if raw["conversation"] not in ("auto", "none"):
            raise invalid_value("response.conversation", raw["conversation"], ("auto", "none"))
        options.in_conversation = raw["conversation"] == "auto"
    if raw.get("metadata") is not None:
        options.metadata = _object(raw["metadata"], "response.metadata")
    if raw.get("input") is not None:
        options.input_items = _input_items(raw["input"], conversation, options)
    return options


def _input_items(raw: Any, conversation: Conversation, options: ResponseOptions) -> list[dict[str, Any]]:
    """response.input: new items, or references ({"type": "item_reference", "id"}) to the conversation's."""
    if not isinstance(raw, list):
        raise invalid_type("response.input", "an array", raw)
    items = []
    for i, entry in enumerate(raw):
        where = f"response.input[{i}]"
        if isinstance(entry, dict) and entry.get("type") == "item_reference":
            index = conversation.find(string_field(entry, "id", where, required=True) or "")
            if index is None:
                raise item_not_found(entry["id"], f"{where}.id")
            items.append(conversation.items[index])
            continue
        new = read_item(entry, Conversation(), where)
        options.audio_bytes[new.item["id"]] = new.audio_bytes
        items.append(new.item)
    return items
