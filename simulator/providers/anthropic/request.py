"""Anthropic's requests: a Messages (or count_tokens) body parsed and validated into the
neutral CompletionRequest, with the 400s Anthropic answers when it does not validate.

Fields and rules as in Anthropic's API docs ("Messages", "Count message tokens",
"Vision", "PDF support", "Extended thinking", "Structured outputs").
"""

from __future__ import annotations

import base64
import math
import re
from typing import Any

import orjson

from simulator.engine.media import base64_image_size
from simulator.engine.schema import SchemaError, check_schema
from simulator.engine.types import CompletionRequest, Message, ToolCall, ToolDefinition
from simulator.providers.anthropic.caching import prompt_caching
from simulator.providers.anthropic.errors import bad_request
from simulator.server.http import Call, query_param, quoted

_JSON_TYPE_NAMES = {
    dict: "dictionary",
    list: "list",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
}


def _expect(value: Any, kind: type | tuple[type, ...], path: str) -> Any:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        kind_name = "integer" if kind is int else "number"
        raise bad_request(path, f"Input should be a valid {kind_name}")
    if not isinstance(value, kind):
        first = kind[0] if isinstance(kind, tuple) else kind
        raise bad_request(path, f"Input should be a valid {_JSON_TYPE_NAMES.get(first, first.__name__)}")
    return value


def _required(body: dict[str, Any], key: str, path: str = "") -> Any:
    if body.get(key) is None:
        raise bad_request(f"{path}.{key}" if path else key, "Field required")
    return body[key]


def _number_in(body: dict[str, Any], key: str, low: float, high: float) -> None:
    value = body.get(key)
    if value is None:
        return
    _expect(value, (int, float), key)
    if not low <= value <= high:
        raise bad_request(key, f"Input should be between {low:g} and {high:g}")


# Anthropic's image formula: the long edge is scaled to at most 1568 px and the area
# to about 1.15 megapixels, then a token per 750 pixels (docs, "vision").
_IMAGE_EDGE = 1568
_IMAGE_PIXELS = 1_150_000
_IMAGE_PIXELS_PER_TOKEN = 750
_IMAGE_DEFAULT_TOKENS = 1600  # the most an image costs; for URLs and unreadable data
_PDF_PAGE = re.compile(rb"/Type\s*/Page\b")
_PDF_PAGE_TOKENS = 1500
_DOCUMENT_DEFAULT_TOKENS = 1500


def image_tokens(source: Any) -> int:
    """What an image block costs, from its pixel size when the data is inline."""
    size = None
    if isinstance(source, dict) and source.get("type") == "base64" and isinstance(source.get("data"), str):
        size = base64_image_size(source["data"])
    if size is None or min(size) <= 0:
        return _IMAGE_DEFAULT_TOKENS
    width, height = size
    scale = min(1.0, _IMAGE_EDGE / max(width, height), math.sqrt(_IMAGE_PIXELS / (width * height)))
    return max(1, math.ceil(int(width * scale) * int(height * scale) / _IMAGE_PIXELS_PER_TOKEN))


def document_text_and_tokens(source: Any) -> tuple[str, int]:
    """A document block: its text when it is plain text, else an estimate of a PDF's tokens."""
    if not isinstance(source, dict):
        return "", _DOCUMENT_DEFAULT_TOKENS
    if source.get("type") == "text" and isinstance(source.get("data"), str):
        return source["data"], 0
    if source.get("type") == "base64" and isinstance(source.get("data"), str):
        try:
            pages = len(_PDF_PAGE.findall(base64.b64decode(source["data"])))
        except ValueError:
            pages = 0
        return "", max(pages, 1) * _PDF_PAGE_TOKENS
    return "", _DOCUMENT_DEFAULT_TOKENS


_USER_BLOCKS = frozenset({"text", "image", "document", "tool_result", "search_result"})
_ASSISTANT_BLOCKS = frozenset(
    {"text", "tool_use", "thinking", "redacted_thinking", "server_tool_use", "web_search_tool_result"}
)


def _text_of_blocks(blocks: Any, path: str) -> tuple[str, int]:
    """The text and media tokens of a tool_result's content (a string or text/image blocks)."""
    if isinstance(blocks, str):
        return blocks, 0
    _expect(blocks, list, path)
    texts: list[str] = []
    media = 0
    for i, block in enumerate(blocks):
        where = f"{path}.{i}"
        _expect(block, dict, where)
        kind = block.get("type")
        if kind == "text":
            texts.append(_expect(_required(block, "text", where), str, f"{where}.text"))
        elif kind == "image":
            media += image_tokens(block.get("source"))
        elif kind in ("document", "search_result"):
            text, tokens = document_text_and_tokens(block.get("source"))
            texts.append(text)
            media += tokens
        else:
            raise bad_request(
                f"{where}.type", f"Input tag {quoted(kind)} found using 'type' does not match any of the expected tags"
            )
    return "\n".join(text for text in texts if text), media


def parse_message(raw: Any, index: int) -> list[Message]:
    """One Anthropic message as neutral messages: a user turn's tool results become tool messages."""
    path = f"messages.{index}"
    _expect(raw, dict, path)
    role = _required(raw, "role", path)
    if role not in ("user", "assistant", "system"):
        raise bad_request(f"{path}.role", "Input should be 'user' or 'assistant'")
    content = _required(raw, "content", path)
    if isinstance(content, str):
        return [Message(role=role, content=content)]
    _expect(content, list, f"{path}.content")
    allowed = _ASSISTANT_BLOCKS if role == "assistant" else _USER_BLOCKS
    texts: list[str] = []
    media = 0
    calls: list[ToolCall] = []
    results: list[Message] = []
    for i, block in enumerate(content):
        where = f"{path}.content.{i}"
        _expect(block, dict, where)
        kind = block.get("type")
        if not isinstance(kind, str) or kind not in allowed:  # a list or object as tag: not hashable
            tags = ", ".join(f"'{tag}'" for tag in sorted(allowed))
            raise bad_request(
                f"{where}.type",
                f"Input tag {quoted(kind)} found using 'type' does not match any of the expected tags: {tags}",
            )
        if kind == "text":
            texts.append(_expect(_required(block, "text", where), str, f"{where}.text"))
        elif kind == "image":
            _required(block, "source", where)
            media += image_tokens(block["source"])
        elif kind in ("document", "search_result"):
            text, tokens = document_text_and_tokens(block.get("source"))
            texts.append(text)
            media += tokens
        elif kind == "tool_use":
            call_id = _expect(_required(block, "id", where), str, f"{where}.id")
            name = _expect(_required(block, "name", where), str, f"{where}.name")
            arguments = _expect(block.get("input", {}), dict, f"{where}.input")
            calls.append(ToolCall(id=call_id, name=name, arguments=orjson.dumps(arguments).decode()))
        elif kind == "tool_result":
            call_id = _expect(_required(block, "tool_use_id", where), str, f"{where}.tool_use_id")
            text, tokens = _text_of_blocks(block.get("content", ""), f"{where}.content")
            results.append(Message(role="tool", content=text, tool_call_id=call_id, media_tokens=tokens))
        # thinking and server-tool blocks of earlier turns: accepted, not counted.
    text = "\n".join(t for t in texts if t)
    if role == "assistant":
        return [Message(role="assistant", content=text, tool_calls=tuple(calls))]
    if results and not text and not media:
        return results
    return [*results, Message(role=role, content=text, media_tokens=media)]


def check_tool_results(parsed: list[list[Message]]) -> None:
    """Every tool_use is answered by a tool_result in the next message, and only those: as Anthropic checks."""
    for index, messages in enumerate(parsed):
        calls = [call.id for message in messages for call in message.tool_calls]
        following = parsed[index + 1] if index + 1 < len(parsed) else None
        if calls and following is not None:
            answered = {message.tool_call_id for message in following if message.role == "tool"}
            missing = [call_id for call_id in calls if call_id not in answered]
            if missing:
                raise bad_request(
                    f"messages.{index}",
                    f"`tool_use` ids were found without `tool_result` blocks immediately after: {', '.join(missing)}. "
                    "Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                )
        previous = {call.id for message in parsed[index - 1] for call in message.tool_calls} if index else set()
        for message in messages:
            if message.role == "tool" and message.tool_call_id not in previous:
                raise bad_request(
                    f"messages.{index}.content",
                    f"unexpected `tool_use_id` found in `tool_result` blocks: {message.tool_call_id}. Each "
                    "`tool_result` block must have a corresponding `tool_use` block in the previous message.",
                )


def _system_of(raw: Any) -> list[Message]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [Message(role="system", content=raw)] if raw else []
    _expect(raw, list, "system")
    texts = []
    for i, block in enumerate(raw):
        _expect(block, dict, f"system.{i}")
        if block.get("type") != "text":
            raise bad_request(f"system.{i}.type", "Input should be 'text'")
        texts.append(_expect(_required(block, "text", f"system.{i}"), str, f"system.{i}.text"))
    return [Message(role="system", content="\n".join(texts))] if texts else []


_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,128}")


def _tools_of(raw: Any) -> tuple[ToolDefinition, ...]:
    """Custom tools (with input_schema); server tools (web search, bash, …) are accepted and never called."""
    if raw is None:
        return ()
    _expect(raw, list, "tools")
    tools: list[ToolDefinition] = []
    for i, tool in enumerate(raw):
        path = f"tools.{i}"
        _expect(tool, dict, path)
        if tool.get("type") not in (None, "custom") and "input_schema" not in tool:
            continue
        name = _expect(_required(tool, "name", path), str, f"{path}.name")
        if not _TOOL_NAME.fullmatch(name):
            raise bad_request(f"{path}.custom.name", "String should match pattern '^[a-zA-Z0-9_-]{1,128}$'")
        description = tool.get("description") or ""
        _expect(description, str, f"{path}.description")
        schema = _expect(_required(tool, "input_schema", path), dict, f"{path}.input_schema")
        if schema.get("type") != "object":
            raise bad_request(f"{path}.custom.input_schema.type", "Input should be 'object'")
        try:
            check_schema(schema, f"{path}.custom.input_schema")
        except SchemaError as exc:
            raise bad_request("", f"{exc}") from exc
        if any(existing.name == name for existing in tools):
            raise bad_request("tools", f"Tool names must be unique; {quoted(name)} is given twice.")
        tools.append(ToolDefinition(name=name, description=description, parameters=schema))
    return tuple(tools)


def _tool_choice_of(raw: Any, tools: tuple[ToolDefinition, ...]) -> tuple[Any, bool]:
    """The neutral tool choice and whether parallel calls are allowed."""
    if raw is None:
        return None, True
    _expect(raw, dict, "tool_choice")
    kind = raw.get("type")
    parallel = not raw.get("disable_parallel_tool_use", False)
    if kind == "auto":
        return "auto", parallel
    if kind == "none":
        return "none", parallel
    if kind not in ("any", "tool"):
        raise bad_request("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'")
    if not tools:
        raise bad_request("tool_choice", f"tool_choice of type {quoted(kind)} requires tools to be provided")
    if kind == "any":
        return "required", parallel
    name = _expect(_required(raw, "name", "tool_choice"), str, "tool_choice.name")
    if not any(tool.name == name for tool in tools):
        raise bad_request("tool_choice.name", f"Tool '{name}' not found in the provided tools")
    return {"name": name}, parallel


_MIN_THINKING_BUDGET = 1024


def _thinking_of(raw: Any, max_tokens: int | None, tool_choice: Any) -> int | None:
    """The thinking budget: None (the model's default), 0 (disabled) or the tokens it may think."""
    if raw is None:
        return None
    _expect(raw, dict, "thinking")
    kind = raw.get("type")
    if kind == "disabled":
        return 0
    if kind == "adaptive":
        budget = (max_tokens or _MIN_THINKING_BUDGET + 1) - 1
    elif kind == "enabled":
        budget = _expect(_required(raw, "budget_tokens", "thinking.enabled"), int, "thinking.enabled.budget_tokens")
        if budget < _MIN_THINKING_BUDGET:
            raise bad_request(
                "thinking.enabled.budget_tokens", f"Input should be greater than or equal to {_MIN_THINKING_BUDGET}"
            )
        if max_tokens is not None and budget >= max_tokens:
            raise bad_request(
                "",
                "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
                "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size",
            )
    else:
        raise bad_request("thinking.type", "Input should be 'enabled', 'disabled' or 'adaptive'")
    if tool_choice == "required" or isinstance(tool_choice, dict):
        raise bad_request("", "Thinking may not be enabled when tool_choice forces tool use.")
    return budget


def _output_config_of(body: dict[str, Any]) -> dict[str, Any] | None:
    output_config = body.get("output_config")
    return None if output_config is None else _expect(output_config, dict, "output_config")


def _response_format_of(body: dict[str, Any]) -> dict[str, Any] | None:
    """output_config.format (or the beta's top-level output_format): JSON that fits a schema."""
    output_config = _output_config_of(body)
    spec = body.get("output_format") if output_config is None else output_config.get("format")
    if spec is None:
        return None
    path = "output_format" if output_config is None else "output_config.format"
    _expect(spec, dict, path)
    if spec.get("type") != "json_schema":
        raise bad_request(f"{path}.type", "Input should be 'json_schema'")
    schema = _expect(_required(spec, "schema", path), dict, f"{path}.schema")
    try:
        check_schema(schema, f"{path}.schema")
    except SchemaError as exc:
        raise bad_request("", str(exc)) from exc
    return {"type": "json_schema", "name": "output", "schema": schema, "strict": True}


# output_config.effort → the engine's reasoning effort ("max" is the most it has).
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "xhigh"}


def _effort_of(body: dict[str, Any]) -> str | None:
    output_config = _output_config_of(body)
    effort = None if output_config is None else output_config.get("effort")
    if effort is None:
        return None
    if not isinstance(effort, str) or effort not in _EFFORTS:  # a list or object: refused, not looked up
        raise bad_request("output_config.effort", "Input should be 'low', 'medium', 'high', 'xhigh' or 'max'")
    return _EFFORTS[effort]


def parse_messages_request(body: Any, counting: bool = False) -> CompletionRequest:
    """Validate a Messages body the way Anthropic does; ProviderError(400) when it is not.

    `counting`: a count_tokens body, which has no max_tokens.
    """
    _expect(body, dict, "")
    model = _expect(_required(body, "model"), str, "model")
    max_tokens = None
    if not counting:
        max_tokens = _expect(_required(body, "max_tokens"), int, "max_tokens")
        if max_tokens < 1:
            raise bad_request("max_tokens", "Input should be greater than or equal to 1")
    raw_messages = _expect(_required(body, "messages"), list, "messages")
    if not raw_messages:
        raise bad_request("messages", "at least one message is required")
    parsed = [parse_message(raw, i) for i, raw in enumerate(raw_messages)]
    if any(message.tool_calls or message.role == "tool" for messages in parsed for message in messages):
        check_tool_results(parsed)
    system = _system_of(body.get("system"))
    messages = tuple(system + [m for ms in parsed for m in ms])

    stop = body.get("stop_sequences") or []
    _expect(stop, list, "stop_sequences")
    for i, sequence in enumerate(stop):
        _expect(sequence, str, f"stop_sequences.{i}")
    _number_in(body, "temperature", 0, 1)
    _number_in(body, "top_p", 0, 1)
    if body.get("top_k") is not None:
        _expect(body["top_k"], int, "top_k")
    stream = body.get("stream", False)
    _expect(stream, bool, "stream")

    tools = _tools_of(body.get("tools"))
    tool_choice, parallel = _tool_choice_of(body.get("tool_choice"), tools)
    budget = _thinking_of(body.get("thinking"), max_tokens, tool_choice)
    return CompletionRequest(
        model=model,
        messages=messages,
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        response_format=_response_format_of(body),
        max_tokens=max_tokens,
        stop=tuple(stop),
        stream=stream,
        thinking_budget=budget,
        show_thinking=bool(budget),
        reasoning_effort=_effort_of(body),
        caching=prompt_caching(body, [len(ms) for ms in parsed], bool(system)),
    )


def page_limit(call: Call) -> int:
    """The models list's ?limit= (1-1000, 20 when absent)."""
    raw = query_param(call, "limit")
    if raw is None:
        return 20
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise bad_request("limit", "Input should be between 1 and 1000")
    return int(raw)
