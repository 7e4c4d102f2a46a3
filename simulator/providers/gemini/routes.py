"""Google Gemini wire format (the Generative Language API), under /v1beta and /v1.

generateContent, streamGenerateContent (SSE with ?alt=sse, else one JSON array written
piece by piece), countTokens, embedContent, batchEmbedContents and the models.
Thin translation only: parse and validate the JSON into a CompletionRequest, hand it
to the engine, render the Plan in Gemini's lowerCamel shapes. See
../shared/wire-format.md §6 for the shapes and what google-genai is strict about.
"""

from __future__ import annotations

import math
import re
from functools import cache
from typing import Any

import orjson

from simulator.engine import planner
from simulator.engine.embeddings import embedding
from simulator.engine.media import base64_image_size
from simulator.engine.ratelimit import RateLimited, duration_text
from simulator.engine.schedule import sleep_until
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
    until_disconnect,
)
from simulator.server.pipeline import Dialect, plan_answer, stream_plan, wait_for_reply
from simulator.state import snapshots

API_VERSIONS = ("/v1beta", "/v1")

# --- errors ----------------------------------------------------------------------

# Google's canonical status for each HTTP status.
_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    414: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    431: "INVALID_ARGUMENT",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
    529: "UNAVAILABLE",
}

# What Gemini says for each status the simulator can inject or be forced to answer.
_INJECTED = {
    400: "Simulated bad request (x-llmsim-error).",
    401: "API key not valid. Please pass a valid API key.",
    403: "The caller does not have permission.",
    404: "Requested entity was not found.",
    408: "The request timed out.",
    409: "The request conflicted with another request; please try again.",
    413: "Request payload size exceeds the limit.",
    422: "The request could not be processed.",
    429: "Resource has been exhausted (e.g. check quota). (simulated by LLMSim)",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    502: "Bad gateway.",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
    529: "The model is overloaded. Please try again later.",
}

_NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)


def gemini_error(
    status: int, message: str, retry_after_s: float | None = None, status_name: str | None = None
) -> ProviderError:
    """An error with Gemini's words; a wait goes in retry-after (and so in the body's RetryInfo)."""
    headers = [] if retry_after_s is None else [(b"retry-after", str(max(1, math.ceil(retry_after_s))).encode())]
    error = ProviderError(status, message, "injected", headers=headers)
    error.error_type = status_name
    return error


def error_json(error: ProviderError) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": error.status,
        "message": error.message,
        "status": error.error_type or _STATUSES.get(error.status, "INTERNAL" if error.status >= 500 else "UNKNOWN"),
    }
    retry_after = next((value for name, value in error.headers if name == b"retry-after"), None)
    if error.status == 429 and retry_after is not None:
        body["details"] = [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_after.decode() + "s"},
        ]
    return {"error": body}


def error_response(call: Call, error: ProviderError) -> tuple[Headers, bytes]:
    """The headers and body of a Gemini error answer (its status is error.status)."""
    if error.status == 401 and api_key_of(call) is None:
        error = ProviderError(401, _NO_KEY, "authentication")
    return [JSON_CONTENT_TYPE, *error.headers], dump_json(error_json(error))


async def send_error(call: Call, error: ProviderError) -> None:
    """The one way a Gemini route answers with an error."""
    headers, body = error_response(call, error)
    await send_bytes(call, error.status, body, headers)


def error_event(error: ProviderError) -> bytes:
    """An error inside an SSE stream (the SDK raises ClientError or ServerError from its code)."""
    return b"data: " + dump_json(error_json(error)) + b"\n\n"


gemini_endpoint = endpoint(send_error, error_event)


def injected_error(error: InjectedError) -> ProviderError:
    message = error.message or _INJECTED.get(error.status, "Simulated error.")
    return gemini_error(error.status, message, error.retry_after_s, error.error_type)


def fault_error(fault: StreamFault) -> ProviderError:
    return injected_error(InjectedError(fault.status, "rule", message=fault.message))


def rate_limited_error(exc: RateLimited) -> ProviderError:
    per_minute = "requests" if exc.which == "requests" else "input and output tokens"
    message = (
        f"You exceeded your current quota of {exc.limit} {per_minute} per minute (used {exc.used}, requested "
        f"{exc.requested})."
    )
    if exc.retry_after_s is not None:
        message += f" Please retry in {duration_text(exc.retry_after_s)}."
    return gemini_error(429, message, exc.retry_after_s)


def _bad(message: str, field: str | None = None) -> ProviderError:
    return ProviderError(400, message, param=field)


# --- request parsing ---------------------------------------------------------------


@cache
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _get(obj: dict[str, Any], name: str) -> Any:
    """A field by its lowerCamel name or its snake_case one: Google's JSON parser takes both."""
    value = obj.get(name)
    return obj.get(_snake(name)) if value is None else value


_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}


def _expect(value: Any, kind: type | tuple[type, ...], path: str) -> Any:
    first = kind[0] if isinstance(kind, tuple) else kind
    if not isinstance(value, kind) or (isinstance(value, bool) and first is not bool):
        expected = _TYPE_NAMES.get(first, first.__name__)
        raise _bad(f"Invalid value at '{path}' ({expected}), {shorten(orjson.dumps(value).decode())}", path)
    return value


# Gemini's image formula: 258 tokens for an image of at most 384 px a side, else 258
# per 768x768 tile; other inline media (audio, video, PDF pages) are estimated.
_IMAGE_TOKENS = 258
_OTHER_MEDIA_TOKENS = 258


def media_tokens(part: dict[str, Any]) -> int:
    inline = _get(part, "inlineData")
    if isinstance(inline, dict):
        mime = str(_get(inline, "mimeType") or "")
        if mime.startswith("image/") and isinstance(inline.get("data"), str):
            size = base64_image_size(inline["data"])
            if size is not None and max(size) > 384:
                return _IMAGE_TOKENS * math.ceil(size[0] / 768) * math.ceil(size[1] / 768)
            return _IMAGE_TOKENS
    return _OTHER_MEDIA_TOKENS


_PART_KINDS = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
)


def parse_content(raw: Any, path: str, index: int) -> tuple[str, list[Message], list[dict[str, Any]]]:
    """One content: its role, the neutral messages it makes, and its function calls and responses."""
    _expect(raw, dict, path)
    role = raw.get("role") or "user"
    if role not in ("user", "model", "function"):
        raise _bad(f"Please use a valid role: user, model. ({path}.role: {quoted(role)})", f"{path}.role")
    parts = _expect(raw.get("parts"), list, f"{path}.parts") if raw.get("parts") is not None else []
    if not parts:
        raise _bad(f"* GenerateContentRequest.{path}.parts: contents.parts must not be empty.", f"{path}.parts")
    texts: list[str] = []
    media = 0
    calls: list[ToolCall] = []
    responses: list[dict[str, Any]] = []
    for i, part in enumerate(parts):
        where = f"{path}.parts[{i}]"
        _expect(part, dict, where)
        if not any(_get(part, kind) is not None for kind in _PART_KINDS):
            raise _bad(
                f"* GenerateContentRequest.{where}.data: required oneof field 'data' must have one initialized field",
                where,
            )
        if part.get("thought"):
            continue  # earlier thoughts are not part of the prompt
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif part.get("text") is not None:
            _expect(part["text"], str, f"{where}.text")
        if _get(part, "inlineData") is not None or _get(part, "fileData") is not None:
            media += media_tokens(part)
        call = _get(part, "functionCall")
        if call is not None:
            _expect(call, dict, f"{where}.functionCall")
            name = _expect(call.get("name"), str, f"{where}.functionCall.name")
            args = _expect(call.get("args") or {}, dict, f"{where}.functionCall.args")
            calls.append(ToolCall(call.get("id") or f"{name}#{index}.{i}", name, orjson.dumps(args).decode()))
        response = _get(part, "functionResponse")
        if response is not None:
            _expect(response, dict, f"{where}.functionResponse")
            _expect(response.get("name"), str, f"{where}.functionResponse.name")
            responses.append(response)
    text = "\n".join(texts)
    if role == "model":
        return role, [Message("assistant", text, tool_calls=tuple(calls))], responses
    results = [
        Message("tool", orjson.dumps(response.get("response", {})).decode(), name=response["name"])
        for response in responses
    ]
    if text or media or not results:
        results.append(Message("user", text, media_tokens=media))
    return role, results, responses


def parse_contents(raw: Any, path: str = "contents") -> list[Message]:
    """contents → neutral messages; function responses must answer the function call turn just before."""
    if not raw:
        raise _bad(f"* GenerateContentRequest.{path}: contents is not specified", path)
    _expect(raw, list, path)
    messages: list[Message] = []
    open_calls: list[ToolCall] = []
    for index, content in enumerate(raw):
        role, parsed, responses = parse_content(content, f"{path}[{index}]", index)
        if responses:
            if not open_calls:
                raise _bad(
                    "Please ensure that function response turn comes immediately after a function call turn.",
                    f"{path}[{index}]",
                )
            if len(responses) != len(open_calls):
                raise _bad(
                    "Please ensure that the number of function response parts is equal to the number of function "
                    "call parts of the function call turn.",
                    f"{path}[{index}]",
                )
            parsed = _link_responses(parsed, open_calls)
        open_calls = list(parsed[0].tool_calls) if role == "model" else []
        messages += parsed
    return messages


def _link_responses(messages: list[Message], calls: list[ToolCall]) -> list[Message]:
    """Give each function response the id of the call it answers (by name, in order)."""
    waiting = list(calls)
    linked = []
    for message in messages:
        if message.role == "tool":
            match = next((call for call in waiting if call.name == message.name), waiting[0] if waiting else None)
            if match is not None:
                waiting.remove(match)
                message = Message("tool", message.content, name=message.name, tool_call_id=match.id)
        linked.append(message)
    return linked


def _system_of(raw: Any) -> list[Message]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [Message("system", raw)]
    _expect(raw, dict, "system_instruction")
    parts = raw.get("parts") or []
    _expect(parts, list, "system_instruction.parts")
    text = "\n".join(part["text"] for part in parts if isinstance(part, dict) and isinstance(part.get("text"), str))
    return [Message("system", text)] if text else []


# Keywords of Gemini's Schema (an OpenAPI 3.0 subset) that JSON Schema spells alike.
_SCHEMA_COUNTS = frozenset({"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"})
_DROPPED_SCHEMA_KEYS = frozenset({"nullable", "propertyOrdering", "example"})
_OPENAPI_ONLY_FORMATS = frozenset({"float", "double", "int32", "int64", "enum"})


def json_schema_of(schema: Any) -> Any:
    """Gemini's Schema (uppercase types, `nullable`, snake_case or camelCase keys) as JSON Schema."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for raw_key, value in schema.items():
        key = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), raw_key)
        if key in _DROPPED_SCHEMA_KEYS or (key == "format" and value in _OPENAPI_ONLY_FORMATS):
            continue
        if key == "type":
            if str(value).upper() != "TYPE_UNSPECIFIED":
                out["type"] = str(value).lower()
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: json_schema_of(sub) for name, sub in value.items()}
        elif key == "items":
            out[key] = json_schema_of(value)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [json_schema_of(sub) for sub in value]
        elif key in _SCHEMA_COUNTS and isinstance(value, str) and value.isdigit():
            out[key] = int(value)  # proto JSON writes int64 as strings
        elif key in ("minimum", "maximum") and isinstance(value, str):
            out[key] = float(value)
        else:
            out[key] = value
    if _get(schema, "nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if isinstance(out.get("enum"), list):
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _checked_schema(schema: Any, path: str) -> dict[str, Any]:
    _expect(schema, dict, path)
    try:
        check_schema(schema, path)
    except SchemaError as exc:
        raise _bad(f"Invalid JSON payload received. {exc}", path) from exc
    return schema


_FUNCTION_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_.:-]{0,127}")


def _tools_of(raw: Any) -> tuple[ToolDefinition, ...]:
    """tools[].functionDeclarations; Google's own tools (search, code execution, …) are accepted and never called."""
    if raw is None:
        return ()
    _expect(raw, list, "tools")
    tools: list[ToolDefinition] = []
    for i, tool in enumerate(raw):
        _expect(tool, dict, f"tools[{i}]")
        declarations = _get(tool, "functionDeclarations") or []
        _expect(declarations, list, f"tools[{i}].function_declarations")
        for j, declaration in enumerate(declarations):
            path = f"tools[{i}].function_declarations[{j}]"
            _expect(declaration, dict, path)
            name = declaration.get("name")
            if not isinstance(name, str) or not _FUNCTION_NAME.fullmatch(name):
                raise _bad(
                    f"* GenerateContentRequest.{path}.name: Invalid function name. Must start with a letter or an "
                    "underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:) or "
                    "dashes (-), with a maximum length of 128.",
                    f"{path}.name",
                )
            if any(existing.name == name for existing in tools):
                raise _bad(f"* GenerateContentRequest.{path}.name: Duplicate function declaration: {name}", path)
            description = declaration.get("description") or ""
            _expect(description, str, f"{path}.description")
            json_schema = _get(declaration, "parametersJsonSchema")
            parameters = _get(declaration, "parameters")
            if json_schema is not None:
                schema = _checked_schema(json_schema, f"{path}.parameters_json_schema")
            elif parameters is not None:
                schema = _checked_schema(json_schema_of(_expect(parameters, dict, f"{path}.parameters")), path)
            else:
                schema = None
            tools.append(ToolDefinition(name=name, description=description, parameters=schema))
    return tuple(tools)


def _tool_choice_of(raw: Any, tools: tuple[ToolDefinition, ...]) -> tuple[Any, tuple[ToolDefinition, ...]]:
    """toolConfig.functionCallingConfig → the neutral tool choice, and the tools it leaves callable."""
    if raw is None:
        return None, tools
    _expect(raw, dict, "tool_config")
    config = _get(raw, "functionCallingConfig")
    if config is None:
        return None, tools
    _expect(config, dict, "tool_config.function_calling_config")
    mode = str(config.get("mode") or "AUTO").upper()
    if mode not in ("AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED"):
        raise _bad(
            f"Invalid value at 'tool_config.function_calling_config.mode', \"{config.get('mode')}\"",
            "tool_config.function_calling_config.mode",
        )
    allowed = _get(config, "allowedFunctionNames")
    if allowed:
        _expect(allowed, list, "tool_config.function_calling_config.allowed_function_names")
        if mode not in ("ANY", "VALIDATED"):
            raise _bad(
                "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
                "allowed_function_names may only be set when mode is ANY or VALIDATED.",
                "tool_config.function_calling_config.allowed_function_names",
            )
        names = {tool.name for tool in tools}
        for name in allowed:
            if name not in names:
                raise _bad(
                    "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
                    f"{quoted(name)} is not the name of a function declaration.",
                    "tool_config.function_calling_config.allowed_function_names",
                )
        tools = tuple(tool for tool in tools if tool.name in allowed)
    if not tools:
        return None, tools
    return {"ANY": "required", "NONE": "none"}.get(mode, "auto"), tools


_MIME_TYPES = ("text/plain", "application/json", "text/x.enum", "application/xml", "application/yaml")
# What thinkingBudget -1 (dynamic) and a thinkingLevel allow: Gemini 2.5 Flash's largest budget.
_DYNAMIC_THINKING_BUDGET = 24_576


_THINKING_LEVELS = ("minimal", "low", "medium", "high")


def _thinking_of(raw: Any) -> tuple[int | None, bool, str | None]:
    """thinkingConfig → (thinking budget, whether to show the thoughts, reasoning effort)."""
    if raw is None:
        return None, False, None
    _expect(raw, dict, "generation_config.thinking_config")
    show = bool(_get(raw, "includeThoughts"))
    budget = _get(raw, "thinkingBudget")
    level = _get(raw, "thinkingLevel")
    effort = None
    if level is not None:
        effort = str(level).lower()
        if effort not in _THINKING_LEVELS:
            raise _bad(
                f"Invalid value at 'generation_config.thinking_config.thinking_level', \"{level}\"",
                "generation_config.thinking_config.thinking_level",
            )
    if budget is not None:
        _expect(budget, int, "generation_config.thinking_config.thinking_budget")
        return (_DYNAMIC_THINKING_BUDGET if budget < 0 else budget), show, effort
    return (None if effort is None else _DYNAMIC_THINKING_BUDGET), show, effort


def _number_in(config: dict[str, Any], name: str, low: float, high: float) -> None:
    value = _get(config, name)
    if value is None:
        return
    path = f"generation_config.{_snake(name)}"
    _expect(value, (int, float), path)
    if not low <= value <= high:
        raise _bad(f"* GenerateContentRequest.{path}: must be in the range [{low:g}, {high:g}].", path)


def _response_format_of(config: dict[str, Any]) -> dict[str, Any] | None:
    mime = _get(config, "responseMimeType")
    json_schema = _get(config, "responseJsonSchema") or config.get("_responseJsonSchema")
    schema = _get(config, "responseSchema")
    if mime is not None and mime not in _MIME_TYPES:
        raise _bad(
            "* GenerateContentRequest.generation_config.response_mime_type: allowed mimetypes are "
            + ", ".join(f"`{m}`" for m in _MIME_TYPES)
            + ".",
            "generation_config.response_mime_type",
        )
    if (schema is not None or json_schema is not None) and mime not in ("application/json", "text/x.enum"):
        raise _bad(
            "* GenerateContentRequest.generation_config.response_mime_type: response_mime_type must be "
            "`application/json` or `text/x.enum` when a response schema is set.",
            "generation_config.response_mime_type",
        )
    if json_schema is not None:
        return {
            "type": "json_schema",
            "name": "response",
            "schema": _checked_schema(json_schema, "response_json_schema"),
        }
    if schema is not None:
        converted = json_schema_of(_expect(schema, dict, "generation_config.response_schema"))
        return {"type": "json_schema", "name": "response", "schema": _checked_schema(converted, "response_schema")}
    if mime == "application/json":
        return {"type": "json_object"}
    return None


def parse_generate_request(model: str, body: Any, stream: bool) -> CompletionRequest:
    """Validate a generateContent body the way Gemini does; ProviderError(400) when it is not."""
    _expect(body, dict, "request")
    messages = _system_of(_get(body, "systemInstruction")) + parse_contents(body.get("contents"))
    config = _get(body, "generationConfig") or {}
    _expect(config, dict, "generation_config")
    count = _get(config, "candidateCount") or 1
    _expect(count, int, "generation_config.candidate_count")
    if not 1 <= count <= 8:
        raise _bad(
            "* GenerateContentRequest.generation_config.candidate_count: must be in the range [1, 8].",
            "generation_config.candidate_count",
        )
    max_tokens = _get(config, "maxOutputTokens")
    if max_tokens is not None:
        _expect(max_tokens, int, "generation_config.max_output_tokens")
        if max_tokens < 1:
            raise _bad(
                "* GenerateContentRequest.generation_config.max_output_tokens: must be positive.",
                "generation_config.max_output_tokens",
            )
    stop = _get(config, "stopSequences") or []
    _expect(stop, list, "generation_config.stop_sequences")
    if len(stop) > 5:
        raise _bad(
            "* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences are allowed.",
            "generation_config.stop_sequences",
        )
    for i, sequence in enumerate(stop):
        _expect(sequence, str, f"generation_config.stop_sequences[{i}]")
    _number_in(config, "temperature", 0, 2)
    _number_in(config, "topP", 0, 1)
    seed = _get(config, "seed")
    if seed is not None:
        _expect(seed, int, "generation_config.seed")
    budget, show, effort = _thinking_of(_get(config, "thinkingConfig"))
    tools = _tools_of(body.get("tools"))
    tool_choice, tools = _tool_choice_of(_get(body, "toolConfig"), tools)
    return CompletionRequest(
        model=model,
        messages=tuple(messages),
        tools=tools,
        tool_choice=tool_choice,
        response_format=_response_format_of(config),
        max_tokens=max_tokens,
        stop=tuple(stop),
        n=count,
        seed=seed,
        stream=stream,
        thinking_budget=budget,
        show_thinking=show,
        reasoning_effort=effort,
    )


def model_not_found(model: str) -> ProviderError:
    return ProviderError(
        404,
        f"models/{shorten(model)} is not found for API version v1beta, or is not supported for generateContent.",
        "not_found",
    )


def check_model_limits(request: CompletionRequest, spec: ModelSpec) -> None:
    if request.max_tokens is not None and request.max_tokens > spec.max_output_tokens:
        raise _bad(
            f"Unable to submit request because it has a maxOutputTokens value of {request.max_tokens} but the "
            f"supported range is from 1 (inclusive) to {spec.max_output_tokens + 1} (exclusive). Update the value "
            "and try again.",
            "generation_config.max_output_tokens",
        )


def context_exceeded(exc: planner.ContextLengthExceeded) -> ProviderError:
    return _bad(
        f"The input token count ({exc.prompt_tokens}) exceeds the maximum number of tokens allowed ({exc.limit}).",
        "contents",
    )


def _model_of(call: Call) -> str:
    params = call.path_params
    model = params["model"] if "model" in params else params["model_id"]  # /v1/models/{model_id}: model_routes
    return model[len("models/") :] if model.startswith("models/") else model


# --- rendering -------------------------------------------------------------------


def finish_reason(choice: ChoicePlan) -> str:
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
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def response_json(plan: Plan, response_id: str) -> dict[str, Any]:
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
        return self.frame(error_json(error), first=first, last=True)


async def stream_content(call: Call, plan: Plan, response_id: str, sse: bool) -> None:
    writer = ChunkWriter(plan, response_id, sse)
    await start_stream(call, list(SSE_HEADERS) if sse else [JSON_CONTENT_TYPE])

    def broken(opening: bool) -> bytes:
        assert plan.fault is not None
        return writer.error(fault_error(plan.fault), first=opening)

    await stream_plan(call, plan, writer.render, broken)


DIALECT = Dialect(
    send_error=send_error,
    injected_error=injected_error,
    rate_limited=rate_limited_error,
    model_not_found=model_not_found,
    context_exceeded=context_exceeded,
    check_limits=check_model_limits,
)


async def _generate(call: Call, body: Any, stream: bool, sse: bool = True) -> None:
    request = await compute(call, parse_generate_request, _model_of(call), body, stream)
    plan = await plan_answer(call, request, DIALECT)
    if plan is None:
        return
    response_id = new_id("", 96)
    if stream:
        await stream_content(call, plan, response_id, sse)
    elif await wait_for_reply(call, plan, fault_error):
        await send_bytes(call, 200, dump_json(response_json(plan, response_id)), [JSON_CONTENT_TYPE])


@gemini_endpoint
async def generate_content(call: Call, body: Any) -> None:
    await _generate(call, body, stream=False)


@gemini_endpoint
async def stream_generate_content(call: Call, body: Any) -> None:
    await _generate(call, body, stream=True, sse=query_param(call, "alt") == "sse")


@gemini_endpoint
async def count_tokens(call: Call, body: Any) -> None:
    """{"contents": [...]} or {"generateContentRequest": {...}} → {"totalTokens": N}."""
    _expect(body, dict, "request")
    model = _model_of(call)
    inner = _get(body, "generateContentRequest")
    if inner is not None:
        request = await compute(call, parse_generate_request, model, inner, False)
        messages, tools = request.messages, request.tools
    else:
        messages, tools = tuple(await compute(call, parse_contents, body.get("contents"))), ()
    spec = snapshots.current().model_for(model)
    if spec is None:
        raise model_not_found(model)
    call.model = model
    total = await compute(call, count_prompt, messages, tools, spec.encoding)
    answer = {"totalTokens": total, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]}
    await send_bytes(call, 200, dump_json(answer), [JSON_CONTENT_TYPE])


# Output sizes of Google's embedding models (gemini-embedding-*: 3072; older ones: 768).
_EMBEDDING_DIMENSIONS = 3072
_LEGACY_EMBEDDING_DIMENSIONS = 768


def _embedding_request(raw: Any, path: str, model: str) -> tuple[str, int]:
    """One embedContent request: its text and the vector's length."""
    _expect(raw, dict, path)
    content = raw.get("content")
    if content is None:
        raise _bad(f"* EmbedContentRequest.{path}.content: content is not specified", f"{path}.content")
    _, messages, _ = parse_content(content, f"{path}.content", 0)
    largest = _EMBEDDING_DIMENSIONS if model.startswith("gemini-embedding") else _LEGACY_EMBEDDING_DIMENSIONS
    dimensions = _get(raw, "outputDimensionality")
    if dimensions is None:
        return messages[-1].content, largest
    _expect(dimensions, int, f"{path}.output_dimensionality")
    if not 1 <= dimensions <= largest:
        raise _bad(
            f"* EmbedContentRequest.{path}.output_dimensionality: must be in the range [1, {largest}].",
            f"{path}.output_dimensionality",
        )
    return messages[-1].content, dimensions


async def _embed(call: Call, requests: list[tuple[str, int]], batch: bool) -> None:
    """Vectors for the texts, after the model's time to first token, with errors and rate limits."""
    model = _model_of(call)
    texts = tuple(Message("user", text) for text, _ in requests)
    plan = await plan_answer(call, CompletionRequest(model=model, messages=texts, max_tokens=0), DIALECT, rules=False)
    if plan is None:
        return
    if plan.ttft_s > 0:
        await until_disconnect(call, sleep_until(call.arrival + plan.ttft_s))
    vectors = [{"values": embedding(text, dimensions)} for text, dimensions in requests]
    body = {"embeddings": vectors} if batch else {"embedding": vectors[0]}
    await send_bytes(call, 200, dump_json(body), [JSON_CONTENT_TYPE])


@gemini_endpoint
async def embed_content(call: Call, body: Any) -> None:
    await _embed(call, [_embedding_request(body, "request", _model_of(call))], batch=False)


@gemini_endpoint
async def batch_embed_contents(call: Call, body: Any) -> None:
    _expect(body, dict, "request")
    raw = body.get("requests")
    _expect(raw, list, "requests")
    if not raw:
        raise _bad("* BatchEmbedContentsRequest.requests: requests is not specified", "requests")
    model = _model_of(call)
    await _embed(call, [_embedding_request(r, f"requests[{i}]", model) for i, r in enumerate(raw)], batch=True)


def display_name(model_id: str) -> str:
    """gemini-2.5-flash → Gemini 2.5 Flash."""
    return " ".join(word if word[:1].isdigit() else word.capitalize() for word in model_id.split("-"))


def model_json(spec: ModelSpec, model_id: str | None = None) -> dict[str, Any]:
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


@gemini_endpoint
async def list_models(call: Call) -> None:
    """The Google profiles, paged with pageSize and pageToken (the last name of the page before)."""
    models = [spec for spec in snapshots.current().models if spec.listed and spec.provider == "google"]
    raw_size = query_param(call, "pageSize")
    size = int(raw_size) if raw_size and raw_size.isdigit() and int(raw_size) > 0 else 50
    token = query_param(call, "pageToken")
    names = [spec.id for spec in models]
    start = names.index(token) + 1 if token in names else 0
    page = models[start : start + min(size, 1000)]
    body: dict[str, Any] = {"models": [model_json(spec) for spec in page]}
    if start + len(page) < len(models):
        body["nextPageToken"] = page[-1].id
    await send_bytes(call, 200, dump_json(body), [JSON_CONTENT_TYPE])


@gemini_endpoint
async def get_model(call: Call) -> None:
    model = _model_of(call)
    spec = snapshots.current().resolve(model)
    if spec is None:
        raise ProviderError(404, f"models/{shorten(model)} is not found for API version v1beta.", "not_found")
    await send_bytes(call, 200, dump_json(model_json(spec, model)), [JSON_CONTENT_TYPE])


# --- routes ----------------------------------------------------------------------

METHODS = {
    "generateContent": generate_content,
    "streamGenerateContent": stream_generate_content,
    "countTokens": count_tokens,
    "embedContent": embed_content,
    "batchEmbedContents": batch_embed_contents,
}
