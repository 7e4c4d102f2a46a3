"""OpenAI wire format: Chat Completions and Models.

Thin translation only: parse and validate the JSON into a CompletionRequest, hand it
to the engine, render the Plan as one JSON body or as chat.completion.chunk SSE
events. See ../shared/wire-format.md §1, §3 and §4 for the shapes.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import replace
from typing import Any

from orjson import Fragment

from simulator.engine import planner
from simulator.engine.ratelimit import RateLimited, RateLimitState, duration_header, duration_text, whole_millis
from simulator.engine.schema import SchemaError, check_schema
from simulator.engine.snapshot import ModelSpec
from simulator.engine.types import (
    ChoicePlan,
    CompletionRequest,
    InjectedError,
    Message,
    Plan,
    StreamFault,
    TokenLogprob,
    ToolCall,
    ToolCallPlan,
    ToolDefinition,
)
from simulator.providers.openai.logprobs import chat_logprobs, flat
from simulator.server.endpoint import endpoint
from simulator.server.http import (
    JSON_CONTENT_TYPE,
    SSE_HEADERS,
    Call,
    Headers,
    ProviderError,
    compute,
    dump_json,
    new_id,
    quoted,
    send_bytes,
    shorten,
    start_stream,
)
from simulator.server.pipeline import Dialect, plan_answer, stream_plan, wait_for_reply
from simulator.state import snapshots

ROLES = ("system", "assistant", "user", "function", "tool", "developer")
SYSTEM_FINGERPRINT = "fp_llmsim"

# --- errors ----------------------------------------------------------------------

# Neutral error kind → OpenAI error `type`.
_ERROR_TYPES = {
    "invalid_request": "invalid_request_error",
    "authentication": "invalid_request_error",
    "not_found": "invalid_request_error",
    "method_not_allowed": "invalid_request_error",
    "too_large": "invalid_request_error",
    "rate_limit": "requests",
    "server_error": "server_error",
    "service_unavailable": "server_error",
    "overloaded": "server_error",
    "timeout": "timeout",
}

# What OpenAI says for each status the simulator can inject or be forced to answer.
_INJECTED = {
    400: ("invalid_request", None, "Simulated bad request (x-llmsim-error)."),
    401: ("authentication", "invalid_api_key", "Incorrect API key provided (simulated by LLMSim)."),
    403: ("invalid_request", "unsupported_country_region_territory", "Country, region, or territory not supported."),
    404: ("not_found", "model_not_found", "The model does not exist or you do not have access to it."),
    408: ("timeout", "timeout", "Request timed out."),
    409: ("invalid_request", None, "The request conflicted with another request; please try again."),
    413: ("too_large", "request_too_large", "Request body too large."),
    422: ("invalid_request", None, "The request could not be processed."),
    429: ("rate_limit", "rate_limit_exceeded", None),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("service_unavailable", None, "The engine is currently overloaded, please try again later."),
    504: ("timeout", "timeout", "Gateway timeout: the request took too long to complete."),
    529: ("overloaded", None, "The engine is currently overloaded, please try again later."),
}


def common_headers(call: Call) -> Headers:
    headers = [
        (b"x-request-id", call.request_id.encode()),
        (b"openai-version", b"2020-10-01"),
        (b"openai-processing-ms", str(call.elapsed_ms()).encode()),
    ]
    if call.ratelimit is not None:
        headers += ratelimit_headers(call.ratelimit)
    return headers


def ratelimit_headers(state: RateLimitState) -> Headers:
    """OpenAI's x-ratelimit-* set, for the axes that have a limit."""
    headers: Headers = []
    if state.limit_requests is not None:
        headers += (
            (b"x-ratelimit-limit-requests", b"%d" % state.limit_requests),
            (b"x-ratelimit-remaining-requests", b"%d" % state.remaining_requests),
            (b"x-ratelimit-reset-requests", duration_header(whole_millis(state.reset_requests_s))),
        )
    if state.limit_tokens is not None:
        headers += (
            (b"x-ratelimit-limit-tokens", b"%d" % state.limit_tokens),
            (b"x-ratelimit-remaining-tokens", b"%d" % state.remaining_tokens),
            (b"x-ratelimit-reset-tokens", duration_header(whole_millis(state.reset_tokens_s))),
        )
    return headers


def rate_limited_error(exc: RateLimited, model: str) -> ProviderError:
    """A scenario's spent budget as OpenAI says it: 429 with the figures, retry-after and the headers."""
    per_min = "requests per min (RPM)" if exc.which == "requests" else "tokens per min (TPM)"
    if exc.retry_after_s is None:
        message = (
            f"Request too large for {shorten(model)} in organization org-llmsim on {per_min}: Limit {exc.limit}, "
            f"Requested {exc.requested}. The input or output tokens must be reduced in order to run successfully."
        )
    else:
        message = (
            f"Rate limit reached for {shorten(model)} in organization org-llmsim on {per_min}: Limit {exc.limit}, "
            f"Used {exc.used}, Requested {exc.requested}. Please try again in {duration_text(exc.retry_after_s)}."
        )
    headers = _retry_headers(exc.retry_after_s) + ratelimit_headers(exc.state)
    error = ProviderError(429, message, "rate_limit", code="rate_limit_exceeded", headers=headers)
    error.error_type = exc.which  # OpenAI's type: "requests" or "tokens"
    return error


def error_body(error: ProviderError) -> bytes:
    return dump_json(
        {
            "error": {
                "message": error.message,
                "type": error.error_type or _ERROR_TYPES.get(error.kind, "invalid_request_error"),
                "param": error.param,
                "code": error.code,
            }
        }
    )


def error_response(call: Call, error: ProviderError) -> tuple[Headers, bytes]:
    """The headers and body of an OpenAI error answer (its status is error.status)."""
    return [JSON_CONTENT_TYPE, *common_headers(call), *error.headers], error_body(error)


async def send_error(call: Call, error: ProviderError) -> None:
    """The one way an OpenAI route answers with an error."""
    headers, body = error_response(call, error)
    await send_bytes(call, error.status, body, headers)


def stream_error_event(error: ProviderError) -> bytes:
    """An error inside an SSE stream (the SDK raises APIError on it)."""
    return b"data: " + error_body(error) + b"\n\n"


openai_endpoint = endpoint(send_error, stream_error_event)


def _retry_headers(retry_after_s: float | None) -> Headers:
    if retry_after_s is None:
        return []
    return [
        (b"retry-after", str(max(1, math.ceil(retry_after_s))).encode()),
        (b"retry-after-ms", str(math.ceil(retry_after_s * 1000)).encode()),
    ]


def injected_error(error: InjectedError, model: str) -> ProviderError:
    kind, code, message = _INJECTED.get(error.status, ("server_error", None, "Simulated error."))
    headers = _retry_headers(error.retry_after_s)
    if error.kind == "rule":  # a response rule's scripted error: its own words where it gave them
        scripted = ProviderError(
            error.status, error.message or message or "Simulated error.", kind, code=code, headers=headers
        )
        scripted.error_type = error.error_type
        return scripted
    if error.status == 429:
        wait = error.retry_after_s or 1.0
        message = (
            f"Rate limit reached for {shorten(model)} on requests per min (RPM): Limit 500, Used 500, Requested 1. "
            f"Please try again in {duration_text(wait)}. (simulated by LLMSim)"
        )
        headers += [
            (b"x-ratelimit-limit-requests", b"500"),
            (b"x-ratelimit-remaining-requests", b"0"),
            (b"x-ratelimit-reset-requests", duration_text(wait).encode()),
            (b"x-ratelimit-limit-tokens", b"200000"),
            (b"x-ratelimit-remaining-tokens", b"200000"),
            (b"x-ratelimit-reset-tokens", b"0s"),
        ]
    return ProviderError(error.status, message, kind, code=code, headers=headers)


# --- request parsing ---------------------------------------------------------------

_JSON_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "null",
}


def _type_name(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), "an unknown type")


def _invalid_type(param: str, expected: str, value: Any) -> ProviderError:
    return ProviderError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {_type_name(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _missing(param: str) -> ProviderError:
    return ProviderError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def _integer(body: dict, key: str, low: int | None = None, high: int | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid_type(key, "an integer", value)
    if low is not None and value < low:
        raise ProviderError(
            400,
            f"Invalid '{key}': integer below minimum value. Expected a value >= {low}, but got {value} instead.",
            param=key,
            code="integer_below_min_value",
        )
    if high is not None and value > high:
        raise ProviderError(
            400,
            f"Invalid '{key}': integer above maximum value. Expected a value <= {high}, but got {value} instead.",
            param=key,
            code="integer_above_max_value",
        )
    return value


def _number(body: dict, key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid_type(key, "a number", value)
    if value < low:
        raise ProviderError(
            400,
            f"Invalid '{key}': decimal below minimum value. Expected a value >= {low:g}, but got {value} instead.",
            param=key,
            code="decimal_below_min_value",
        )
    if value > high:
        raise ProviderError(
            400,
            f"Invalid '{key}': decimal above maximum value. Expected a value <= {high:g}, but got {value} instead.",
            param=key,
            code="decimal_above_max_value",
        )
    return float(value)


def _boolean(body: dict, key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise _invalid_type(key, "a boolean", value)
    return value


def _text_of(content: Any, param: str, allowed_parts: tuple[str, ...]) -> str:
    """The text of a message's content: a string or an array of typed parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _invalid_type(param, "a string or an array", content)
    texts: list[str] = []
    for i, part in enumerate(content):
        where = f"{param}[{i}]"
        if not isinstance(part, dict):
            raise _invalid_type(where, "an object", part)
        kind = part.get("type")
        if kind not in allowed_parts:
            allowed = ", ".join(f"'{p}'" for p in allowed_parts)
            raise ProviderError(
                400,
                f"Invalid value: {quoted(kind)}. Supported values are: {allowed}.",
                param=f"{where}.type",
                code="invalid_value",
            )
        if kind in ("text", "refusal"):
            text = part.get(kind)
            if not isinstance(text, str):
                raise _invalid_type(f"{where}.{kind}", "a string", text)
            texts.append(text)
    return "\n".join(texts)


def _tool_calls_of(raw: Any, param: str) -> tuple[ToolCall, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _invalid_type(param, "an array", raw)
    calls = []
    for i, call in enumerate(raw):
        where = f"{param}[{i}]"
        if not isinstance(call, dict):
            raise _invalid_type(where, "an object", call)
        function = call.get("function")
        if not isinstance(function, dict):
            raise _missing(f"{where}.function")
        if not isinstance(call.get("id"), str):
            raise _missing(f"{where}.id")
        name, arguments = function.get("name"), function.get("arguments", "")
        if not isinstance(name, str):
            raise _missing(f"{where}.function.name")
        if not isinstance(arguments, str):
            raise _invalid_type(f"{where}.function.arguments", "a string", arguments)
        calls.append(ToolCall(id=call["id"], name=name, arguments=arguments))
    return tuple(calls)


# Ids given to legacy function_call turns, which have none on the wire.
_LEGACY_CALL_ID = "function_call_"


def _legacy_call_of(raw: Any, param: str, index: int) -> ToolCall:
    """An assistant turn's legacy function_call, as a tool call with an id of our own."""
    if not isinstance(raw, dict):
        raise _invalid_type(param, "an object", raw)
    name, arguments = raw.get("name"), raw.get("arguments", "")
    if not isinstance(name, str):
        raise _missing(f"{param}.name")
    if not isinstance(arguments, str):
        raise _invalid_type(f"{param}.arguments", "a string", arguments)
    return ToolCall(id=f"{_LEGACY_CALL_ID}{index}", name=name, arguments=arguments)


_PARTS_BY_ROLE = {
    "system": ("text",),
    "developer": ("text",),
    "user": ("text", "image_url", "input_audio", "file"),
    "assistant": ("text", "refusal"),
    "tool": ("text",),
    "function": ("text",),
}


def parse_message(raw: Any, index: int) -> Message:
    param = f"messages[{index}]"
    if not isinstance(raw, dict):
        raise _invalid_type(param, "an object", raw)
    role = raw.get("role")
    if role is None:
        raise _missing(f"{param}.role")
    if role not in ROLES:
        supported = ", ".join(f"'{r}'" for r in ROLES[:-1]) + f", and '{ROLES[-1]}'"
        raise ProviderError(
            400,
            f"Invalid value: {quoted(role)}. Supported values are: {supported}.",
            param=f"{param}.role",
            code="invalid_value",
        )
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise _invalid_type(f"{param}.name", "a string", name)
    tool_calls = _tool_calls_of(raw.get("tool_calls"), f"{param}.tool_calls") if role == "assistant" else ()
    if role == "assistant" and not tool_calls and raw.get("function_call") is not None:
        tool_calls = (_legacy_call_of(raw["function_call"], f"{param}.function_call", index),)
    content = raw.get("content")
    if content is None:
        if role == "assistant" and (tool_calls or raw.get("function_call") or "content" in raw):
            text = ""
        else:
            raise _missing(f"{param}.content")
    else:
        text = _text_of(content, f"{param}.content", _PARTS_BY_ROLE[role])
    tool_call_id = None
    if role == "tool":
        tool_call_id = raw.get("tool_call_id")
        if not isinstance(tool_call_id, str):
            raise _missing(f"{param}.tool_call_id")
    if role == "function" and not isinstance(name, str):
        raise _missing(f"{param}.name")
    return Message(role=role, content=text, name=name, tool_calls=tool_calls, tool_call_id=tool_call_id)


_FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]+")
_MAX_TOOLS = 128


def _too_long(param: str, limit: int, length: int, what: str = "array") -> ProviderError:
    noun = "an array" if what == "array" else "a string"
    return ProviderError(
        400,
        f"Invalid '{param}': {what} too long. Expected {noun} with maximum length {limit}, but got {noun} with "
        f"length {length} instead.",
        param=param,
        code=f"{what}_above_max_length",
    )


def _function_name(value: Any, param: str) -> str:
    if value is None:
        raise _missing(param)
    if not isinstance(value, str):
        raise _invalid_type(param, "a string", value)
    if len(value) > 64:
        raise _too_long(param, 64, len(value), "string")
    if not _FUNCTION_NAME.fullmatch(value):
        raise ProviderError(
            400,
            f"Invalid '{param}': string does not match pattern. Expected a string that matches the pattern "
            "'^[a-zA-Z0-9_-]+$'.",
            param=param,
            code="invalid_value",
        )
    return value


def _schema_of(value: Any, param: str, owner: str, code: str, strict: bool = False) -> dict[str, Any] | None:
    """A function's or response format's JSON schema, checked: an object schema we can answer to."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid_type(param, "an object", value)
    root_type = value.get("type", "object")
    if root_type != "object":
        raise ProviderError(
            400,
            f"Invalid schema for {owner}: schema must be a JSON Schema of 'type: \"object\"', got "
            f"'type: \"{root_type}\"'.",
            param=param,
            code=code,
        )
    try:
        check_schema(value, param)
    except SchemaError as exc:
        raise ProviderError(400, f"Invalid schema for {owner}: {exc}", param=param, code=code) from exc
    if strict:
        fault = strict_schema_fault(value)
        if fault:
            raise ProviderError(400, f"Invalid schema for {owner}: {fault}", param=param, code=code)
    return value


def strict_schema_fault(schema: Any, context: tuple[str, ...] = ()) -> str | None:
    """What OpenAI's strict mode refuses: an object that allows extra keys or leaves a property optional."""
    if isinstance(schema, list):
        for i, item in enumerate(schema):
            fault = strict_schema_fault(item, (*context, str(i)))
            if fault:
                return fault
        return None
    if not isinstance(schema, dict):
        return None
    where = f"In context={quoted(context)}"
    if schema.get("type") == "object" or "properties" in schema:
        if schema.get("additionalProperties") is not False:
            return f"{where}, 'additionalProperties' is required to be supplied and to be false."
        properties = schema.get("properties") or {}
        missing = [key for key in properties if key not in (schema.get("required") or [])]
        if missing:
            return (
                f"{where}, 'required' is required to be supplied and to be an array including every key in "
                f"properties. Missing '{missing[0]}'."
            )
    for key, value in schema.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            for name, sub in value.items():
                fault = strict_schema_fault(sub, (*context, key, name))
                if fault:
                    return fault
        elif key in ("items", "anyOf", "allOf", "oneOf", "prefixItems", "not"):
            fault = strict_schema_fault(value, (*context, key))
            if fault:
                return fault
    return None


def _function_of(function: Any, param: str) -> ToolDefinition:
    """A function definition: tools[i].function, or functions[i] (legacy)."""
    if not isinstance(function, dict):
        raise _invalid_type(param, "an object", function)
    name = _function_name(function.get("name"), f"{param}.name")
    description = function.get("description")
    if description is not None and not isinstance(description, str):
        raise _invalid_type(f"{param}.description", "a string", description)
    if description is not None and len(description) > 1024:
        raise _too_long(f"{param}.description", 1024, len(description), "string")
    strict = function.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise _invalid_type(f"{param}.strict", "a boolean", strict)
    parameters = _schema_of(
        function.get("parameters"),
        f"{param}.parameters",
        f"function '{name}'",
        "invalid_function_parameters",
        bool(strict),
    )
    return ToolDefinition(name=name, description=description or "", parameters=parameters, strict=bool(strict))


def _definitions_of(raw: Any, key: str) -> tuple[ToolDefinition, ...]:
    """`tools` (each {"type": "function", "function": {...}}) or the legacy `functions` list."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _invalid_type(key, "an array", raw)
    if len(raw) > _MAX_TOOLS:
        raise _too_long(key, _MAX_TOOLS, len(raw))
    tools = []
    for i, tool in enumerate(raw):
        where = f"{key}[{i}]"
        if key == "functions":
            tools.append(_function_of(tool, where))
            continue
        if not isinstance(tool, dict):
            raise _invalid_type(where, "an object", tool)
        kind = tool.get("type")
        if kind is None:
            raise _missing(f"{where}.type")
        if kind != "function":
            raise ProviderError(
                400,
                f"Invalid value: {quoted(kind)}. Supported values are: 'function'.",
                param=f"{where}.type",
                code="invalid_value",
            )
        if tool.get("function") is None:
            raise _missing(f"{where}.function")
        tools.append(_function_of(tool["function"], f"{where}.function"))
    return tuple(tools)


def _only_with_tools(key: str) -> ProviderError:
    return ProviderError(
        400,
        f"Invalid value for '{key}': '{key}' is only allowed when 'tools' are specified.",
        param=key,
        code="invalid_value",
    )


def _tool_choice_of(raw: Any, tools: tuple[ToolDefinition, ...], key: str = "tool_choice") -> Any:
    """The neutral tool choice: None, "auto", "none", "required" or {"name": ...}.

    `key` is "function_call" for the legacy form ("auto", "none" or {"name": ...}).
    """
    if raw is None:
        return None
    if not tools:
        raise _only_with_tools(key)
    modes = ("none", "auto", "required") if key == "tool_choice" else ("none", "auto")
    if isinstance(raw, str):
        if raw not in modes:
            supported = ", ".join(f"'{m}'" for m in modes[:-1]) + f", and '{modes[-1]}'"
            raise ProviderError(
                400,
                f"Invalid value: {quoted(raw)}. Supported values are: {supported}.",
                param=key,
                code="invalid_value",
            )
        return raw
    if not isinstance(raw, dict):
        raise _invalid_type(key, "a string or an object", raw)
    if key == "tool_choice":
        kind = raw.get("type")
        if kind == "allowed_tools":
            return _allowed_tools_of(raw, tools)
        if kind != "function":
            raise ProviderError(
                400,
                f"Invalid value: {quoted(kind)}. Supported values are: 'function' and 'allowed_tools'.",
                param=f"{key}.type",
                code="invalid_value",
            )
        function = raw.get("function")
        if not isinstance(function, dict):
            raise _missing(f"{key}.function")
        name = _function_name(function.get("name"), f"{key}.function.name")
    else:
        name = _function_name(raw.get("name"), f"{key}.name")
    if not any(tool.name == name for tool in tools):
        listed = "tools" if key == "tool_choice" else "functions"
        raise ProviderError(
            400,
            f"Invalid value for '{key}': function '{name}' was not found in '{listed}'.",
            param=key,
            code="invalid_value",
        )
    return {"name": name}


def _allowed_tools_of(raw: dict[str, Any], tools: tuple[ToolDefinition, ...]) -> Any:
    """{"type": "allowed_tools", "allowed_tools": {"mode", "tools"}}: the mode, over a subset of tools."""
    allowed = raw.get("allowed_tools")
    if not isinstance(allowed, dict):
        raise _missing("tool_choice.allowed_tools")
    mode = allowed.get("mode")
    if mode not in ("auto", "required"):
        raise ProviderError(
            400,
            f"Invalid value: {quoted(mode)}. Supported values are: 'auto' and 'required'.",
            param="tool_choice.allowed_tools.mode",
            code="invalid_value",
        )
    listed = allowed.get("tools")
    if not isinstance(listed, list) or not listed:
        raise _missing("tool_choice.allowed_tools.tools")
    names = []
    for i, entry in enumerate(listed):
        function = entry.get("function") if isinstance(entry, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not any(tool.name == name for tool in tools):
            raise ProviderError(
                400,
                f"Invalid value for 'tool_choice.allowed_tools.tools[{i}]': not a function of 'tools'.",
                param=f"tool_choice.allowed_tools.tools[{i}]",
                code="invalid_value",
            )
        names.append(name)
    return {"mode": mode, "allowed": tuple(names)}


def check_tool_messages(messages: tuple[Message, ...]) -> None:
    """Tool results answer the tool calls just before them, every call gets one: as OpenAI checks."""
    pending: dict[str, int] = {}  # open tool_call_id → index of the assistant message
    calls_at = -1
    for index, message in enumerate(messages):
        if message.role == "tool" and message.tool_call_id.startswith(_LEGACY_CALL_ID):
            continue  # a legacy function result (see _legacy_function_messages)
        if message.role == "tool":
            if calls_at < 0:
                raise ProviderError(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with "
                    "'tool_calls'.",
                    param=f"messages.[{index}].role",
                )
            if message.tool_call_id not in pending:
                raise ProviderError(
                    400,
                    f"Invalid parameter: 'tool_call_id' of '{message.tool_call_id}' not found in 'tool_calls' of "
                    "previous message.",
                    param=f"messages.[{index}].tool_call_id",
                )
            del pending[message.tool_call_id]
            continue
        if pending:
            _unanswered(pending, calls_at)
        calls_at = -1
        if message.role == "assistant" and message.tool_calls:
            calls_at = index
            pending = {call.id: index for call in message.tool_calls if not call.id.startswith(_LEGACY_CALL_ID)}
    if pending:
        _unanswered(pending, calls_at)


def _unanswered(pending: dict[str, int], index: int) -> None:
    raise ProviderError(
        400,
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(pending)}",
        param=f"messages.[{index}].role",
    )


def _legacy_function_messages(messages: tuple[Message, ...]) -> tuple[Message, ...]:
    """A `function` result right after a legacy function_call becomes that call's tool result.

    The engine then sees legacy and tool-call conversations alike; other `function`
    messages stay as they are (the legacy API never tied them to a call).
    """
    converted: list[Message] = []
    open_id = None
    for message in messages:
        if message.role == "function" and open_id is not None:
            message = replace(message, role="tool", tool_call_id=open_id)
        open_id = None
        if message.role == "assistant" and message.tool_calls and message.tool_calls[0].id.startswith(_LEGACY_CALL_ID):
            open_id = message.tool_calls[0].id
        converted.append(message)
    return tuple(converted)


def _response_format_of(raw: Any, messages: tuple[Message, ...]) -> dict[str, Any] | None:
    """The neutral response format: None for text, json_object, or json_schema with its schema."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _invalid_type("response_format", "an object", raw)
    kind = raw.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        raise ProviderError(
            400,
            f"Invalid value: {quoted(kind)}. Supported values are: 'text', 'json_object', and 'json_schema'.",
            param="response_format.type",
            code="invalid_value",
        )
    if kind == "text":
        return None
    if kind == "json_object":
        if not any("json" in message.content.lower() for message in messages):
            raise ProviderError(
                400,
                "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
                param="messages",
            )
        return {"type": "json_object"}
    spec = raw.get("json_schema")
    if spec is None:
        raise _missing("response_format.json_schema")
    if not isinstance(spec, dict):
        raise _invalid_type("response_format.json_schema", "an object", spec)
    name = _function_name(spec.get("name"), "response_format.json_schema.name")
    strict = spec.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise _invalid_type("response_format.json_schema.strict", "a boolean", strict)
    schema = _schema_of(
        spec.get("schema"),
        "response_format.json_schema.schema",
        f"response_format '{name}'",
        "invalid_json_schema",
        bool(strict),
    )
    return {"type": "json_schema", "name": name, "schema": schema or {}, "strict": bool(strict)}


def _stop_of(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (raw,)
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise _invalid_type("stop", "a string or an array of strings", raw)
    if len(raw) > 4:
        raise ProviderError(
            400,
            f"Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length "
            f"{len(raw)} instead.",
            param="stop",
            code="array_above_max_length",
        )
    return tuple(raw)


# Sampling parameters the simulator accepts, checks and otherwise ignores.
_SAMPLING_RANGES = {"temperature": (0, 2), "top_p": (0, 1), "presence_penalty": (-2, 2), "frequency_penalty": (-2, 2)}


_TOOL_KEYS = frozenset({"tools", "tool_choice", "parallel_tool_calls", "functions", "function_call"})


def _tool_fields(body: dict[str, Any]) -> tuple[tuple[ToolDefinition, ...], Any, bool]:
    """tools / functions, the neutral tool choice and whether parallel calls are allowed."""
    tools = _definitions_of(body.get("tools"), "tools")
    if body.get("functions") is not None:
        if tools:
            raise ProviderError(
                400, "Invalid request: 'functions' and 'tools' cannot both be set; use 'tools'.", param="functions"
            )
        tools = _definitions_of(body.get("functions"), "functions")
        # A legacy function call is always one call.
        return tools, _tool_choice_of(body.get("function_call"), tools, "function_call"), False
    tool_choice = _tool_choice_of(body.get("tool_choice"), tools)
    parallel = _boolean(body, "parallel_tool_calls")
    if parallel is not None and not tools:
        raise _only_with_tools("parallel_tool_calls")
    if isinstance(tool_choice, dict) and "allowed" in tool_choice:
        tools = tuple(tool for tool in tools if tool.name in tool_choice["allowed"])
        tool_choice = tool_choice["mode"]
    return tools, tool_choice, parallel is not False


def requested_model(body: Any) -> str:
    """The body's `model`, once the body is known to be a JSON object (400s as OpenAI words them)."""
    if not isinstance(body, dict):
        raise ProviderError(400, f"Invalid request body: expected a JSON object, but got {_type_name(body)}.")
    model = body.get("model")
    if model is None or model == "":
        raise ProviderError(400, "you must provide a model parameter")
    if not isinstance(model, str):
        raise _invalid_type("model", "a string", model)
    return model


def stream_fields(body: dict[str, Any]) -> tuple[bool, bool]:
    """`stream`, and whether `stream_options.include_usage` asks for the usage chunk."""
    stream = bool(_boolean(body, "stream"))
    stream_options = body.get("stream_options")
    if stream_options is not None:
        if not isinstance(stream_options, dict):
            raise _invalid_type("stream_options", "an object", stream_options)
        if not stream:
            raise ProviderError(
                400,
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
                code="invalid_value",
            )
    return stream, bool(stream_options and stream_options.get("include_usage"))


def parse_chat_request(body: Any) -> CompletionRequest:
    """Validate a chat completion body the way OpenAI does; ProviderError(400) when it is not."""
    model = requested_model(body)
    messages = body.get("messages")
    if messages is None:
        raise _missing("messages")
    if not isinstance(messages, list):
        raise _invalid_type("messages", "an array", messages)
    if not messages:
        raise ProviderError(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    parsed = tuple(parse_message(m, i) for i, m in enumerate(messages))

    stream, include_usage = stream_fields(body)

    for key in _SAMPLING_RANGES.keys() & body.keys():  # usually none: check only what was sent
        _number(body, key, *_SAMPLING_RANGES[key])
    logprobs = bool(_boolean(body, "logprobs"))
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in planner.EFFORT_SCALE:
        supported = ", ".join(f"'{e}'" for e in planner.EFFORT_SCALE)
        raise ProviderError(
            400,
            f"Invalid value: {quoted(effort)}. Supported values are: {supported}.",
            param="reasoning_effort",
            code="invalid_value",
        )
    top_logprobs = _integer(body, "top_logprobs", 0, 20)
    if top_logprobs is not None and not logprobs:
        raise ProviderError(
            400, "The 'top_logprobs' parameter is only allowed when 'logprobs' is enabled.", param="top_logprobs"
        )
    max_tokens = _integer(body, "max_tokens", 1)
    max_completion_tokens = _integer(body, "max_completion_tokens", 1)
    tools, tool_choice, parallel = _tool_fields(body) if not _TOOL_KEYS.isdisjoint(body) else ((), None, True)
    if any(message.role in ("tool", "function") or message.tool_calls for message in parsed):
        parsed = _legacy_function_messages(parsed)
        check_tool_messages(parsed)
    return CompletionRequest(
        model=model,
        messages=parsed,
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        response_format=_response_format_of(body["response_format"], parsed) if "response_format" in body else None,
        max_tokens=max_completion_tokens if max_completion_tokens is not None else max_tokens,
        stop=_stop_of(body.get("stop")),
        n=_integer(body, "n", 1, 128) or 1,
        reasoning_effort=effort,
        seed=_integer(body, "seed"),
        stream=stream,
        include_usage=include_usage,
        logprobs=logprobs,
        top_logprobs=top_logprobs or 0,
    )


def check_model_limits(body: dict, request: CompletionRequest, spec: ModelSpec) -> None:
    """Refuse what the real model refuses: max_tokens or logprobs on reasoning models, caps above its limit."""
    if not spec.reasoning and body.get("reasoning_effort") is not None:
        raise ProviderError(
            400,
            "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
            param="reasoning_effort",
            code="unsupported_parameter",
        )
    if spec.reasoning and body.get("max_tokens") is not None:
        raise ProviderError(
            400,
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            param="max_tokens",
            code="unsupported_parameter",
        )
    if spec.reasoning and request.logprobs and request.reasoning_effort != "none":
        # Reasoning models give no logprobs while they reason (gpt-5.1 and later do with effort "none").
        raise ProviderError(
            400,
            "Unsupported parameter: 'logprobs' is not supported with this model.",
            param="logprobs",
            code="unsupported_parameter",
        )
    if request.max_tokens is not None and request.max_tokens > spec.max_output_tokens:
        param = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
        raise ProviderError(
            400,
            f"{param} is too large: {request.max_tokens}. This model supports at most {spec.max_output_tokens} "
            f"completion tokens, whereas you provided {request.max_tokens}.",
            param=param,
            code="invalid_value",
        )


def model_not_found(model: str, param: str | None = None) -> ProviderError:
    return ProviderError(
        404,
        f"The model `{shorten(model)}` does not exist or you do not have access to it.",
        "not_found",
        param=param,
        code="model_not_found",
    )


# --- rendering -------------------------------------------------------------------


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
    return "call_" + call.id_suffix


def finish_reason(choice: ChoicePlan, legacy_functions: bool) -> str:
    if legacy_functions and choice.finish_reason == "tool_calls":
        return "function_call"
    return choice.finish_reason


def message_json(choice: ChoicePlan, legacy_functions: bool) -> dict[str, Any]:
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


def completion_body(completion_id: str, created: int, plan: Plan, legacy_functions: bool) -> bytes:
    return dump_json(completion_json(completion_id, created, plan, legacy_functions))


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
    """Renders chat.completion.chunk events; the constant part of every chunk is built once."""

    def __init__(
        self, completion_id: str, created: int, plan: Plan, include_usage: bool, legacy_functions: bool = False
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
        # A content chunk is these two around the piece's JSON: the one write per token.
        self._content_open = [self._head + str(i).encode() + b',"delta":{"content":' for i in range(len(plan.choices))]
        self._content_close = b'},"logprobs":null,"finish_reason":null}]' + self._tail
        # Steps in which something other than one content chunk per choice goes out.
        self._special_steps = {0} | {max(len(choice.pieces) - 1, 0) for choice in plan.choices}
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
                b"}]",
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
                b',"finish_reason":null}]',
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
                if step == max(len(pieces) - 1, 0):
                    out.append(self.finish(index, choice.finish_reason))
        return b"".join(out)


def fault_error(fault: StreamFault, model: str) -> ProviderError:
    return injected_error(InjectedError(fault.status, "rule", message=fault.message), model)


def context_length_exceeded(exc: planner.ContextLengthExceeded) -> ProviderError:
    return ProviderError(
        400,
        f"This model's maximum context length is {exc.limit} tokens. However, your messages resulted in "
        f"{exc.prompt_tokens} tokens. Please reduce the length of the messages.",
        param="messages",
        code="context_length_exceeded",
    )


def dialect(model: str, **wording: Any) -> Dialect:
    """How the OpenAI routes word the failures of the neutral answering steps (see answering.py).

    The messages name the requested `model`; `wording` replaces other fields of the
    Dialect (each endpoint says "context length" in its own words, for its own param).
    """
    return replace(
        Dialect(
            send_error=send_error,
            injected_error=lambda error: injected_error(error, model),
            rate_limited=lambda exc: rate_limited_error(exc, model),
            model_not_found=model_not_found,
            context_exceeded=context_length_exceeded,
        ),
        **wording,
    )


# --- routes ----------------------------------------------------------------------


@openai_endpoint
async def chat_completions(call: Call, body: Any) -> None:
    request = await compute(call, parse_chat_request, body)
    model = request.model
    wording = Dialect(
        send_error=send_error,
        injected_error=lambda error: injected_error(error, model),
        rate_limited=lambda exc: rate_limited_error(exc, model),
        model_not_found=model_not_found,
        context_exceeded=context_length_exceeded,
        check_limits=lambda request, spec: check_model_limits(body, request, spec),
    )
    plan = await plan_answer(call, request, wording)
    if plan is None:  # an injected error has answered
        return
    completion_id = new_id("chatcmpl-", 96)
    created = int(time.time())
    # Legacy `functions` requests get their call back as `function_call`, not `tool_calls`.
    legacy_functions = body.get("functions") is not None
    if request.stream:
        writer = ChunkWriter(completion_id, created, plan, request.include_usage, legacy_functions)
        # Headers go out at once, as from the real API; the first token follows after TTFT.
        await start_stream(call, [*SSE_HEADERS, *common_headers(call)])

        def render(first: int, end: int, last: bool) -> bytes:
            if not last:
                return writer.steps(first, end)
            # An answer with no steps still gets its role and finish chunks.
            return writer.steps(first, max(end, first + 1)) + writer.closing()

        await stream_plan(call, plan, render, lambda opening: stream_error_event(fault_error(plan.fault, model)))
    elif await wait_for_reply(call, plan, lambda fault: fault_error(fault, model)):
        # With logprobs the answer can be megabytes of JSON: rendered in a thread.
        body = await compute(
            call, completion_body, completion_id, created, plan, legacy_functions, heavy=request.logprobs
        )
        await send_bytes(call, 200, body, [JSON_CONTENT_TYPE, *common_headers(call)])


def model_json(spec: ModelSpec, model_id: str | None = None) -> dict[str, Any]:
    return {"id": model_id or spec.id, "object": "model", "created": spec.created, "owned_by": spec.owned_by}


@openai_endpoint
async def list_models(call: Call) -> None:
    """GET /v1/models from an OpenAI client (routed by model_routes)."""
    models = [model_json(spec) for spec in snapshots.current().models if spec.listed]
    body = dump_json({"object": "list", "data": models})
    await send_bytes(call, 200, body, [JSON_CONTENT_TYPE, *common_headers(call)])


@openai_endpoint
async def retrieve_model(call: Call) -> None:
    """GET /v1/models/{model_id} from an OpenAI client (routed by model_routes)."""
    model_id = call.path_params["model_id"]
    spec = snapshots.current().resolve(model_id)
    if spec is None:
        raise model_not_found(model_id, param="model")
    body = dump_json(model_json(spec, model_id))
    await send_bytes(call, 200, body, [JSON_CONTENT_TYPE, *common_headers(call)])
