"""Anthropic wire format: Messages, count_tokens and Models.

Thin translation only: parse and validate the JSON into a CompletionRequest, hand it
to the engine, render the Plan as one message or as Anthropic's SSE events
(message_start … message_stop). See ../shared/wire-format.md §5 for the shapes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import re
import time
from bisect import bisect_right
from typing import Any

import orjson

from simulator.engine import planner
from simulator.engine.media import base64_image_size
from simulator.engine.ratelimit import RateLimited, RateLimitState
from simulator.engine.schema import SchemaError, check_schema, load_arguments
from simulator.engine.snapshot import ModelSpec
from simulator.engine.tokens import count_prompt
from simulator.engine.types import (
    ChoicePlan,
    CompletionRequest,
    InjectedError,
    Message,
    Plan,
    StreamFault,
    ToolCall,
    ToolCallPlan,
    ToolDefinition,
)
from simulator.server.endpoint import endpoint
from simulator.server.http import (
    JSON_CONTENT_TYPE,
    SSE_HEADERS,
    Call,
    Headers,
    ProviderError,
    api_key_of,
    compute,
    dump_json,
    new_id,
    query_param,
    quoted,
    send_bytes,
    shorten,
    start_stream,
)
from simulator.server.pipeline import Dialect, plan_answer, stream_plan, wait_for_reply
from simulator.state import snapshots

VERSION_HEADER = "anthropic-version"

# --- errors ----------------------------------------------------------------------

# Anthropic's error `type` for each status it answers with.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    409: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

# What Anthropic says for each status the simulator can inject or be forced to answer.
_INJECTED = {
    400: "Simulated bad request (x-llmsim-error).",
    401: "invalid x-api-key",
    403: "Your API key does not have permission to use the specified resource.",
    404: "The requested resource could not be found.",
    408: "Request timed out.",
    409: "The request conflicted with another request; please try again.",
    413: "Request exceeds the maximum allowed number of bytes.",
    422: "The request could not be processed.",
    429: "Number of requests has exceeded your per-minute rate limit (simulated by LLMSim).",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Request timed out",
    529: "Overloaded",
}


def _family(name: bytes) -> tuple[bytes, bytes, bytes]:
    """The limit, remaining and reset header names of one anthropic-ratelimit-* family."""
    prefix = b"anthropic-ratelimit-" + name
    return prefix + b"-limit", prefix + b"-remaining", prefix + b"-reset"


# The families Anthropic reports each neutral axis in. One token bucket covers input
# and output, so the three token families repeat its figures.
_REQUEST_FAMILIES = (_family(b"requests"),)
_TOKEN_FAMILIES = (_family(b"tokens"), _family(b"input-tokens"), _family(b"output-tokens"))


@functools.lru_cache(maxsize=256)
def _rfc3339(second: int) -> bytes:
    """A whole second of Unix time as Anthropic writes its resets: 2026-11-25T10:00:30Z.

    Kept: every answer within a second shows the same few texts.
    """
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)).encode()


def rfc3339_after(seconds: float) -> bytes:
    """The moment `seconds` from now (rounded up to the second), as Anthropic writes its resets."""
    return _rfc3339(math.ceil(time.time() + max(seconds, 0.0)))


def ratelimit_headers(state: RateLimitState) -> Headers:
    """The anthropic-ratelimit-* set, for the axes that have a limit."""
    headers: Headers = []
    if state.limit_requests is not None:
        headers += _axis_rows(_REQUEST_FAMILIES, state.limit_requests, state.remaining_requests, state.reset_requests_s)
    if state.limit_tokens is not None:
        headers += _axis_rows(_TOKEN_FAMILIES, state.limit_tokens, state.remaining_tokens, state.reset_tokens_s)
    return headers


def _axis_rows(families: tuple[tuple[bytes, bytes, bytes], ...], limit: int, remaining: int, reset_s: float) -> Headers:
    """One axis's figures under each of its families' names (each figure formatted once)."""
    limit_text, remaining_text, reset = b"%d" % limit, b"%d" % remaining, rfc3339_after(reset_s)
    rows: Headers = []
    for limit_name, remaining_name, reset_name in families:
        rows += ((limit_name, limit_text), (remaining_name, remaining_text), (reset_name, reset))
    return rows


def _retry_after(seconds: float | None) -> Headers:
    """retry-after in whole seconds, as Anthropic sends it, and retry-after-ms, which the SDK reads first."""
    if seconds is None:
        return []
    return [
        (b"retry-after", str(max(1, math.ceil(seconds))).encode()),
        (b"retry-after-ms", str(math.ceil(seconds * 1000)).encode()),
    ]


def common_headers(call: Call) -> Headers:
    headers = [(b"request-id", call.request_id.encode()), (b"anthropic-organization-id", b"llmsim")]
    if call.ratelimit is not None:
        headers += ratelimit_headers(call.ratelimit)
    return headers


def error_json(error: ProviderError, request_id: str | None = None) -> dict[str, Any]:
    kind = error.error_type or _ERROR_TYPES.get(error.status, "api_error" if error.status >= 500 else "")
    body: dict[str, Any] = {
        "type": "error",
        "error": {"type": kind or "invalid_request_error", "message": error.message},
    }
    if request_id:
        body["request_id"] = request_id
    return body


def error_response(call: Call, error: ProviderError) -> tuple[Headers, bytes]:
    """The headers and body of an Anthropic error answer (its status is error.status)."""
    if error.status == 401 and api_key_of(call) is None:
        error = ProviderError(401, "x-api-key header is required", "authentication")
    headers = [JSON_CONTENT_TYPE, *common_headers(call), *error.headers]
    return headers, dump_json(error_json(error, call.request_id))


async def send_error(call: Call, error: ProviderError) -> None:
    """The one way an Anthropic route answers with an error."""
    headers, body = error_response(call, error)
    await send_bytes(call, error.status, body, headers)


def error_event(error: ProviderError) -> bytes:
    """An error inside the stream (the SDK raises APIStatusError with its type)."""
    return b"event: error\ndata: " + dump_json(error_json(error)) + b"\n\n"


anthropic_endpoint = endpoint(send_error, error_event)


def injected_error(error: InjectedError) -> ProviderError:
    """An injected or scripted error, as Anthropic words it."""
    message = error.message or _INJECTED.get(error.status, "Simulated error.")
    headers = _retry_after(error.retry_after_s)
    if error.status == 429 and error.kind != "rule":
        wait = error.retry_after_s or 1.0
        reset = rfc3339_after(wait)
        headers += [
            (b"anthropic-ratelimit-requests-limit", b"50"),
            (b"anthropic-ratelimit-requests-remaining", b"0"),
            (b"anthropic-ratelimit-requests-reset", reset),
        ]
    injected = ProviderError(error.status, message, "injected", headers=headers)
    injected.error_type = error.error_type
    return injected


def fault_error(fault: StreamFault) -> ProviderError:
    """A mid-stream error. Without words of its own it is what Anthropic's streams break
    with, overloaded_error, unless a rule names another status than the default 500."""
    if fault.status == 500 and fault.message is None:
        return ProviderError(529, "Overloaded", "overloaded")
    return injected_error(InjectedError(fault.status, "rule", message=fault.message))


def rate_limited_error(exc: RateLimited) -> ProviderError:
    """A scenario's spent budget as Anthropic says it: 429 rate_limit_error, retry-after and the headers."""
    what = "requests" if exc.which == "requests" else "input and output tokens"
    if exc.retry_after_s is None:
        message = (
            f"This request would exceed your organization's rate limit of {exc.limit} {what} per minute "
            f"(requested {exc.requested}). Please reduce the prompt length or the maximum tokens requested."
        )
    else:
        message = (
            f"This request would exceed your organization's rate limit of {exc.limit} {what} per minute "
            f"(used {exc.used}, requested {exc.requested}). Please try again in "
            f"{max(1, math.ceil(exc.retry_after_s))}s."
        )
    headers = _retry_after(exc.retry_after_s) + ratelimit_headers(exc.state)
    return ProviderError(429, message, "rate_limit", headers=headers)


def require_version(call: Call) -> None:
    if VERSION_HEADER not in call.headers:
        raise ProviderError(400, f"{VERSION_HEADER}: header is required")


# --- request parsing ---------------------------------------------------------------

_JSON_TYPE_NAMES = {
    dict: "dictionary",
    list: "list",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
}


def _bad(path: str, message: str) -> ProviderError:
    return ProviderError(400, f"{path}: {message}" if path else message, param=path or None)


def _expect(value: Any, kind: type | tuple[type, ...], path: str) -> Any:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        kind_name = "integer" if kind is int else "number"
        raise _bad(path, f"Input should be a valid {kind_name}")
    if not isinstance(value, kind):
        first = kind[0] if isinstance(kind, tuple) else kind
        raise _bad(path, f"Input should be a valid {_JSON_TYPE_NAMES.get(first, first.__name__)}")
    return value


def _required(body: dict[str, Any], key: str, path: str = "") -> Any:
    if body.get(key) is None:
        raise _bad(f"{path}.{key}" if path else key, "Field required")
    return body[key]


def _number_in(body: dict[str, Any], key: str, low: float, high: float) -> None:
    value = body.get(key)
    if value is None:
        return
    _expect(value, (int, float), key)
    if not low <= value <= high:
        raise _bad(key, f"Input should be between {low:g} and {high:g}")


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
            raise _bad(
                f"{where}.type", f"Input tag {quoted(kind)} found using 'type' does not match any of the expected tags"
            )
    return "\n".join(text for text in texts if text), media


def parse_message(raw: Any, index: int) -> list[Message]:
    """One Anthropic message as neutral messages: a user turn's tool results become tool messages."""
    path = f"messages.{index}"
    _expect(raw, dict, path)
    role = _required(raw, "role", path)
    if role not in ("user", "assistant", "system"):
        raise _bad(f"{path}.role", "Input should be 'user' or 'assistant'")
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
            raise _bad(
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
                raise _bad(
                    f"messages.{index}",
                    f"`tool_use` ids were found without `tool_result` blocks immediately after: {', '.join(missing)}. "
                    "Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                )
        previous = {call.id for message in parsed[index - 1] for call in message.tool_calls} if index else set()
        for message in messages:
            if message.role == "tool" and message.tool_call_id not in previous:
                raise _bad(
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
            raise _bad(f"system.{i}.type", "Input should be 'text'")
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
            raise _bad(f"{path}.custom.name", "String should match pattern '^[a-zA-Z0-9_-]{1,128}$'")
        description = tool.get("description") or ""
        _expect(description, str, f"{path}.description")
        schema = _expect(_required(tool, "input_schema", path), dict, f"{path}.input_schema")
        if schema.get("type") != "object":
            raise _bad(f"{path}.custom.input_schema.type", "Input should be 'object'")
        try:
            check_schema(schema, f"{path}.custom.input_schema")
        except SchemaError as exc:
            raise _bad("", f"{exc}") from exc
        if any(existing.name == name for existing in tools):
            raise _bad("tools", f"Tool names must be unique; {quoted(name)} is given twice.")
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
        raise _bad("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'")
    if not tools:
        raise _bad("tool_choice", f"tool_choice of type {quoted(kind)} requires tools to be provided")
    if kind == "any":
        return "required", parallel
    name = _expect(_required(raw, "name", "tool_choice"), str, "tool_choice.name")
    if not any(tool.name == name for tool in tools):
        raise _bad("tool_choice.name", f"Tool '{name}' not found in the provided tools")
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
            raise _bad(
                "thinking.enabled.budget_tokens", f"Input should be greater than or equal to {_MIN_THINKING_BUDGET}"
            )
        if max_tokens is not None and budget >= max_tokens:
            raise _bad(
                "",
                "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
                "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size",
            )
    else:
        raise _bad("thinking.type", "Input should be 'enabled', 'disabled' or 'adaptive'")
    if tool_choice == "required" or isinstance(tool_choice, dict):
        raise _bad("", "Thinking may not be enabled when tool_choice forces tool use.")
    return budget


def _response_format_of(body: dict[str, Any]) -> dict[str, Any] | None:
    """output_config.format (or the beta's top-level output_format): JSON that fits a schema."""
    output_config = body.get("output_config")
    spec = output_config.get("format") if isinstance(output_config, dict) else body.get("output_format")
    if spec is None:
        return None
    path = "output_config.format" if isinstance(output_config, dict) else "output_format"
    _expect(spec, dict, path)
    if spec.get("type") != "json_schema":
        raise _bad(f"{path}.type", "Input should be 'json_schema'")
    schema = _expect(_required(spec, "schema", path), dict, f"{path}.schema")
    try:
        check_schema(schema, f"{path}.schema")
    except SchemaError as exc:
        raise _bad("", str(exc)) from exc
    return {"type": "json_schema", "name": "output", "schema": schema, "strict": True}


# output_config.effort → the engine's reasoning effort ("max" is the most it has).
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "xhigh"}


def _effort_of(body: dict[str, Any]) -> str | None:
    output_config = body.get("output_config")
    effort = output_config.get("effort") if isinstance(output_config, dict) else None
    if effort is None:
        return None
    if effort not in _EFFORTS:
        raise _bad("output_config.effort", "Input should be 'low', 'medium', 'high', 'xhigh' or 'max'")
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
            raise _bad("max_tokens", "Input should be greater than or equal to 1")
    raw_messages = _expect(_required(body, "messages"), list, "messages")
    if not raw_messages:
        raise _bad("messages", "at least one message is required")
    parsed = [parse_message(raw, i) for i, raw in enumerate(raw_messages)]
    if any(message.tool_calls or message.role == "tool" for messages in parsed for message in messages):
        check_tool_results(parsed)
    messages = tuple(_system_of(body.get("system")) + [m for ms in parsed for m in ms])

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
    )


def model_not_found(model: str) -> ProviderError:
    return ProviderError(404, f"model: {shorten(model)}", "not_found")


def check_model_limits(request: CompletionRequest, spec: ModelSpec) -> None:
    if request.max_tokens is not None and request.max_tokens > spec.max_output_tokens:
        raise _bad(
            "",
            f"max_tokens: {request.max_tokens} > {spec.max_output_tokens}, which is the maximum allowed number of "
            f"output tokens for {request.model}",
        )


def context_exceeded(exc: planner.ContextLengthExceeded) -> ProviderError:
    return _bad("", f"prompt is too long: {exc.prompt_tokens} tokens > {exc.limit} maximum")


# --- rendering -------------------------------------------------------------------


def tool_use_id(call: ToolCallPlan) -> str:
    return "toolu_01" + call.id_suffix


def signature(thinking: str) -> str:
    """A thinking block's signature: opaque to clients, the same for the same thinking."""
    return base64.b64encode(hashlib.blake2b(thinking.encode(), digest_size=64).digest()).decode()


def stop_reason(choice: ChoicePlan) -> str:
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
    return {
        "input_tokens": plan.usage.prompt_tokens,
        "output_tokens": plan.usage.completion_tokens if output_tokens is None else output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "service_tier": "standard",
    }


def message_json(message_id: str, plan: Plan) -> dict[str, Any]:
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
    writer = EventWriter(message_id, plan)
    await start_stream(call, [*SSE_HEADERS, *common_headers(call)])

    def broken(opening: bool) -> bytes:
        assert plan.fault is not None
        return (writer.opening() if opening else b"") + error_event(fault_error(plan.fault))

    await stream_plan(call, plan, writer.render, broken)


async def reply_message(call: Call, plan: Plan, message_id: str) -> None:
    if await wait_for_reply(call, plan, fault_error):
        body = dump_json(message_json(message_id, plan))
        await send_bytes(call, 200, body, [JSON_CONTENT_TYPE, *common_headers(call)])


# --- routes ----------------------------------------------------------------------


DIALECT = Dialect(
    send_error=send_error,
    injected_error=injected_error,
    rate_limited=rate_limited_error,
    model_not_found=model_not_found,
    context_exceeded=context_exceeded,
    check_limits=check_model_limits,
)


@anthropic_endpoint
async def create_message(call: Call, body: Any) -> None:
    require_version(call)
    plan = await plan_answer(call, await compute(call, parse_messages_request, body), DIALECT)
    if plan is None:
        return
    message_id = new_id("msg_01", 96)
    if call.stream:
        await stream_message(call, plan, message_id)
    else:
        await reply_message(call, plan, message_id)


@anthropic_endpoint
async def count_tokens(call: Call, body: Any) -> None:
    require_version(call)
    request = await compute(call, parse_messages_request, body, True)
    spec = snapshots.current().model_for(request.model)
    if spec is None:
        raise model_not_found(request.model)
    call.model = request.model
    tokens = await compute(call, count_prompt, request.messages, request.tools, spec.encoding)
    await send_bytes(call, 200, dump_json({"input_tokens": tokens}), [JSON_CONTENT_TYPE, *common_headers(call)])


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
    return {
        "type": "model",
        "id": model_id or spec.id,
        "display_name": display_name(spec.id),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(spec.created)),
        "max_input_tokens": spec.context_window,
        "max_tokens": spec.max_output_tokens,
    }


def _limit_of(call: Call) -> int:
    raw = query_param(call, "limit")
    if raw is None:
        return 20
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise _bad("limit", "Input should be between 1 and 1000")
    return int(raw)


@anthropic_endpoint
async def list_models(call: Call) -> None:
    """GET /v1/models with an anthropic-version header: the Claude profiles, paged by id."""
    models = [spec for spec in snapshots.current().models if spec.listed and spec.provider == "anthropic"]
    ids = [spec.id for spec in models]
    limit = _limit_of(call)
    after, before = query_param(call, "after_id"), query_param(call, "before_id")
    if before is not None:
        end = ids.index(before) if before in ids else len(ids)
        page = models[max(0, end - limit) : end]
        has_more = end - limit > 0
    else:
        start = ids.index(after) + 1 if after in ids else 0
        page = models[start : start + limit]
        has_more = start + limit < len(models)
    body = {
        "data": [model_json(spec) for spec in page],
        "has_more": has_more,
        "first_id": page[0].id if page else None,
        "last_id": page[-1].id if page else None,
    }
    await send_bytes(call, 200, dump_json(body), [JSON_CONTENT_TYPE, *common_headers(call)])


@anthropic_endpoint
async def retrieve_model(call: Call) -> None:
    """GET /v1/models/{model_id} with an anthropic-version header."""
    model_id = call.path_params["model_id"]
    spec = snapshots.current().resolve(model_id)
    if spec is None:
        raise ProviderError(404, f"model: {shorten(model_id)}", "not_found")
    await send_bytes(call, 200, dump_json(model_json(spec, model_id)), [JSON_CONTENT_TYPE, *common_headers(call)])
