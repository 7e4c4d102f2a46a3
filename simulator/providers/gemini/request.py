"""Gemini's requests: a generateContent body (and the countTokens, embedContent and
batchEmbedContents ones) parsed and validated into the neutral CompletionRequest, with
the 400s Gemini answers when it does not validate.

Fields and rules as in Google's Gemini API reference ("Generating content", "Counting
tokens", "Embeddings", "Function calling", "Thinking", "Structured output").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from simulator.engine.media import base64_image_size
from simulator.engine.schema import SchemaError, check_schema
from simulator.engine.types import CompletionRequest, Message, PromptCaching, ToolCall, ToolDefinition
from simulator.providers.gemini.errors import bad_request
from simulator.providers.gemini.schema import json_schema_of
from simulator.server.http import Call, quoted, shorten


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
        raise bad_request(f"Invalid value at '{path}' ({expected}), {shorten(orjson.dumps(value).decode())}", path)
    return value


# Gemini's image formula: 258 tokens for an image of at most 384 px a side, else 258
# per 768x768 tile; other inline media (audio, video, PDF pages) are estimated.
_IMAGE_TOKENS = 258
_OTHER_MEDIA_TOKENS = 258


def media_tokens(part: dict[str, Any]) -> int:
    """What an inline or file part (image, audio, video, PDF) costs."""
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
        raise bad_request(f"Please use a valid role: user, model. ({path}.role: {quoted(role)})", f"{path}.role")
    parts = _expect(raw.get("parts"), list, f"{path}.parts") if raw.get("parts") is not None else []
    if not parts:
        raise bad_request(f"* GenerateContentRequest.{path}.parts: contents.parts must not be empty.", f"{path}.parts")
    texts: list[str] = []
    media = 0
    calls: list[ToolCall] = []
    responses: list[dict[str, Any]] = []
    for i, part in enumerate(parts):
        where = f"{path}.parts[{i}]"
        _expect(part, dict, where)
        if not any(_get(part, kind) is not None for kind in _PART_KINDS):
            raise bad_request(
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
        raise bad_request(f"* GenerateContentRequest.{path}: contents is not specified", path)
    _expect(raw, list, path)
    messages: list[Message] = []
    open_calls: list[ToolCall] = []
    for index, content in enumerate(raw):
        role, parsed, responses = parse_content(content, f"{path}[{index}]", index)
        if responses:
            if not open_calls:
                raise bad_request(
                    "Please ensure that function response turn comes immediately after a function call turn.",
                    f"{path}[{index}]",
                )
            if len(responses) != len(open_calls):
                raise bad_request(
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


def _checked_schema(schema: Any, path: str) -> dict[str, Any]:
    _expect(schema, dict, path)
    try:
        check_schema(schema, path)
    except SchemaError as exc:
        raise bad_request(f"Invalid JSON payload received. {exc}", path) from exc
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
                raise bad_request(
                    f"* GenerateContentRequest.{path}.name: Invalid function name. Must start with a letter or an "
                    "underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:) or "
                    "dashes (-), with a maximum length of 128.",
                    f"{path}.name",
                )
            if any(existing.name == name for existing in tools):
                raise bad_request(f"* GenerateContentRequest.{path}.name: Duplicate function declaration: {name}", path)
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
        raise bad_request(
            f"Invalid value at 'tool_config.function_calling_config.mode', \"{config.get('mode')}\"",
            "tool_config.function_calling_config.mode",
        )
    allowed = _get(config, "allowedFunctionNames")
    if allowed:
        _expect(allowed, list, "tool_config.function_calling_config.allowed_function_names")
        if mode not in ("ANY", "VALIDATED"):
            raise bad_request(
                "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
                "allowed_function_names may only be set when mode is ANY or VALIDATED.",
                "tool_config.function_calling_config.allowed_function_names",
            )
        names = {tool.name for tool in tools}
        for name in allowed:
            if name not in names:
                raise bad_request(
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
            raise bad_request(
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
        raise bad_request(f"* GenerateContentRequest.{path}: must be in the range [{low:g}, {high:g}].", path)


def _response_format_of(config: dict[str, Any]) -> dict[str, Any] | None:
    mime = _get(config, "responseMimeType")
    json_schema = _get(config, "responseJsonSchema") or config.get("_responseJsonSchema")
    schema = _get(config, "responseSchema")
    if mime is not None and mime not in _MIME_TYPES:
        raise bad_request(
            "* GenerateContentRequest.generation_config.response_mime_type: allowed mimetypes are "
            + ", ".join(f"`{m}`" for m in _MIME_TYPES)
            + ".",
            "generation_config.response_mime_type",
        )
    if (schema is not None or json_schema is not None) and mime not in ("application/json", "text/x.enum"):
        raise bad_request(
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


# Implicit caching (https://ai.google.dev/gemini-api/docs/caching): on by default on the
# models whose profile has a minimum (2.5 and newer). Google gives the Gemini API no
# lifetime ("send requests with a similar prefix in a short amount of time"; Vertex AI:
# evicted as memory is reclaimed, within 24 hours at most): we keep a prefix five minutes
# after its last use.
IMPLICIT_CACHING = PromptCaching(ttl_s=300.0)


def parse_generate_request(model: str, body: Any, stream: bool) -> CompletionRequest:
    """Validate a generateContent body the way Gemini does; ProviderError(400) when it is not."""
    _expect(body, dict, "request")
    messages = _system_of(_get(body, "systemInstruction")) + parse_contents(body.get("contents"))
    config = _get(body, "generationConfig") or {}
    _expect(config, dict, "generation_config")
    count = _get(config, "candidateCount") or 1
    _expect(count, int, "generation_config.candidate_count")
    if not 1 <= count <= 8:
        raise bad_request(
            "* GenerateContentRequest.generation_config.candidate_count: must be in the range [1, 8].",
            "generation_config.candidate_count",
        )
    max_tokens = _get(config, "maxOutputTokens")
    if max_tokens is not None:
        _expect(max_tokens, int, "generation_config.max_output_tokens")
        if max_tokens < 1:
            raise bad_request(
                "* GenerateContentRequest.generation_config.max_output_tokens: must be positive.",
                "generation_config.max_output_tokens",
            )
    stop = _get(config, "stopSequences") or []
    _expect(stop, list, "generation_config.stop_sequences")
    if len(stop) > 5:
        raise bad_request(
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
        caching=IMPLICIT_CACHING,
    )


def parse_count_tokens_request(model: str, body: Any) -> CompletionRequest:
    """A countTokens body: {"contents": [...]}, or {"generateContentRequest": {...}} whose tools count too."""
    _expect(body, dict, "request")
    inner = _get(body, "generateContentRequest")
    if inner is not None:
        return parse_generate_request(model, inner, False)
    return CompletionRequest(model=model, messages=tuple(parse_contents(body.get("contents"))))


# Output sizes of Google's embedding models (gemini-embedding-*: 3072; older ones: 768).
_EMBEDDING_DIMENSIONS = 3072
_LEGACY_EMBEDDING_DIMENSIONS = 768


@dataclass(frozen=True)
class EmbedInput:
    """One text to embed and the length of its vector."""

    text: str
    dimensions: int


def parse_embed_request(raw: Any, path: str, model: str) -> EmbedInput:
    """One embedContent request (the body, or the one of a batch at `path`)."""
    _expect(raw, dict, path)
    content = raw.get("content")
    if content is None:
        raise bad_request(f"* EmbedContentRequest.{path}.content: content is not specified", f"{path}.content")
    _, messages, _ = parse_content(content, f"{path}.content", 0)
    largest = _EMBEDDING_DIMENSIONS if model.startswith("gemini-embedding") else _LEGACY_EMBEDDING_DIMENSIONS
    dimensions = _get(raw, "outputDimensionality")
    if dimensions is None:
        return EmbedInput(messages[-1].content, largest)
    _expect(dimensions, int, f"{path}.output_dimensionality")
    if not 1 <= dimensions <= largest:
        raise bad_request(
            f"* EmbedContentRequest.{path}.output_dimensionality: must be in the range [1, {largest}].",
            f"{path}.output_dimensionality",
        )
    return EmbedInput(messages[-1].content, dimensions)


def parse_batch_embed_request(body: Any, model: str) -> list[EmbedInput]:
    """A batchEmbedContents body: its requests, each an embedContent request."""
    _expect(body, dict, "request")
    raw = body.get("requests")
    _expect(raw, list, "requests")
    if not raw:
        raise bad_request("* BatchEmbedContentsRequest.requests: requests is not specified", "requests")
    return [parse_embed_request(r, f"requests[{i}]", model) for i, r in enumerate(raw)]


def model_of(call: Call) -> str:
    """The model the path names, without its models/ prefix."""
    params = call.path_params
    model = params["model"] if "model" in params else params["model_id"]  # /v1/models/{model_id}: model_routes
    return model[len("models/") :] if model.startswith("models/") else model
