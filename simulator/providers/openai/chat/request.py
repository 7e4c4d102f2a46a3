"""A Chat Completions body, validated as OpenAI validates it, into a CompletionRequest.

Messages of every role, response format, sampling and streaming options (tools and
the tool-call turns: chat/tools.py); the 400s use OpenAI's words, params and codes
(OpenAI's API reference, "Create chat completion").
"""

from __future__ import annotations

from typing import Any

from simulator.engine import planner
from simulator.engine.snapshot import ModelSpec
from simulator.engine.types import CompletionRequest, Message
from simulator.providers.openai.chat.tools import (
    NO_TOOLS,
    TOOL_KEYS,
    check_tool_messages,
    legacy_function_messages,
    parse_legacy_call,
    parse_tool_calls,
    tool_fields,
)
from simulator.providers.openai.validate import (
    SAMPLING_RANGES,
    boolean_field,
    function_name,
    integer_field,
    invalid_type,
    missing_parameter,
    number_field,
    object_schema,
    prompt_caching,
    requested_model,
    stop_sequences,
    stream_fields,
)
from simulator.server.http import ProviderError, quoted

ROLES = ("system", "assistant", "user", "function", "tool", "developer")


def _text_of(content: Any, param: str, allowed_parts: tuple[str, ...]) -> str:
    """The text of a message's content: a string or an array of typed parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid_type(param, "a string or an array", content)
    texts: list[str] = []
    for i, part in enumerate(content):
        where = f"{param}[{i}]"
        if not isinstance(part, dict):
            raise invalid_type(where, "an object", part)
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
                raise invalid_type(f"{where}.{kind}", "a string", text)
            texts.append(text)
    return "\n".join(texts)


_PARTS_BY_ROLE = {
    "system": ("text",),
    "developer": ("text",),
    "user": ("text", "image_url", "input_audio", "file"),
    "assistant": ("text", "refusal"),
    "tool": ("text",),
    "function": ("text",),
}


def parse_message(raw: Any, index: int) -> Message:
    """messages[index] as a neutral Message (legacy function_call turns as tool calls)."""
    if not isinstance(raw, dict):
        raise invalid_type(f"messages[{index}]", "an object", raw)
    role = raw.get("role")
    if role not in ROLES:
        if role is None:
            raise missing_parameter(f"messages[{index}].role")
        supported = ", ".join(f"'{r}'" for r in ROLES[:-1]) + f", and '{ROLES[-1]}'"
        raise ProviderError(
            400,
            f"Invalid value: {quoted(role)}. Supported values are: {supported}.",
            param=f"messages[{index}].role",
            code="invalid_value",
        )
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise invalid_type(f"messages[{index}].name", "a string", name)
    tool_calls = ()
    if role == "assistant":
        tool_calls = parse_tool_calls(raw.get("tool_calls"), f"messages[{index}].tool_calls")
        if not tool_calls and raw.get("function_call") is not None:
            tool_calls = (parse_legacy_call(raw["function_call"], f"messages[{index}].function_call", index),)
    content = raw.get("content")
    if isinstance(content, str):  # the usual message: its text as sent
        text = content
    elif content is None:
        if role == "assistant" and (tool_calls or raw.get("function_call") or "content" in raw):
            text = ""
        else:
            raise missing_parameter(f"messages[{index}].content")
    else:
        text = _text_of(content, f"messages[{index}].content", _PARTS_BY_ROLE[role])
    tool_call_id = None
    if role == "tool":
        tool_call_id = raw.get("tool_call_id")
        if not isinstance(tool_call_id, str):
            raise missing_parameter(f"messages[{index}].tool_call_id")
    if role == "function" and not isinstance(name, str):
        raise missing_parameter(f"messages[{index}].name")
    return Message(role=role, content=text, name=name, tool_calls=tool_calls, tool_call_id=tool_call_id)


def parse_response_format(raw: Any, messages: tuple[Message, ...]) -> dict[str, Any] | None:
    """The neutral response format: None for text, json_object, or json_schema with its schema."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise invalid_type("response_format", "an object", raw)
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
        raise missing_parameter("response_format.json_schema")
    if not isinstance(spec, dict):
        raise invalid_type("response_format.json_schema", "an object", spec)
    name = function_name(spec.get("name"), "response_format.json_schema.name")
    strict = spec.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise invalid_type("response_format.json_schema.strict", "a boolean", strict)
    schema = object_schema(
        spec.get("schema"),
        "response_format.json_schema.schema",
        f"response_format '{name}'",
        "invalid_json_schema",
        bool(strict),
    )
    return {"type": "json_schema", "name": name, "schema": schema or {}, "strict": bool(strict)}


def parse_chat_request(body: Any) -> CompletionRequest:
    """Validate a chat completion body the way OpenAI does; ProviderError(400) when it is not."""
    model = requested_model(body)
    messages = body.get("messages")
    if messages is None:
        raise missing_parameter("messages")
    if not isinstance(messages, list):
        raise invalid_type("messages", "an array", messages)
    if not messages:
        raise ProviderError(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    parsed = tuple(parse_message(m, i) for i, m in enumerate(messages))

    stream, include_usage = stream_fields(body)

    for key in SAMPLING_RANGES.keys() & body.keys():  # usually none: check only what was sent
        number_field(body, key, *SAMPLING_RANGES[key])
    logprobs = bool(boolean_field(body, "logprobs"))
    effort = body.get("reasoning_effort")
    # A list or an object is no key of the scale: it is refused, not looked up (unhashable).
    if effort is not None and (not isinstance(effort, str) or effort not in planner.EFFORT_SCALE):
        supported = ", ".join(f"'{e}'" for e in planner.EFFORT_SCALE)
        raise ProviderError(
            400,
            f"Invalid value: {quoted(effort)}. Supported values are: {supported}.",
            param="reasoning_effort",
            code="invalid_value",
        )
    top_logprobs = integer_field(body, "top_logprobs", 0, 20)
    if top_logprobs is not None and not logprobs:
        raise ProviderError(
            400, "The 'top_logprobs' parameter is only allowed when 'logprobs' is enabled.", param="top_logprobs"
        )
    max_tokens = integer_field(body, "max_tokens", 1)
    max_completion_tokens = integer_field(body, "max_completion_tokens", 1)
    tools = tool_fields(body) if not TOOL_KEYS.isdisjoint(body) else NO_TOOLS
    if any(message.role in ("tool", "function") or message.tool_calls for message in parsed):
        parsed = legacy_function_messages(parsed)
        check_tool_messages(parsed)
    return CompletionRequest(
        model=model,
        messages=parsed,
        tools=tools.tools,
        tool_choice=tools.tool_choice,
        parallel_tool_calls=tools.parallel,
        response_format=parse_response_format(body["response_format"], parsed) if "response_format" in body else None,
        max_tokens=max_completion_tokens if max_completion_tokens is not None else max_tokens,
        stop=stop_sequences(body.get("stop")),
        n=integer_field(body, "n", 1, 128) or 1,
        reasoning_effort=effort,
        seed=integer_field(body, "seed"),
        stream=stream,
        include_usage=include_usage,
        logprobs=logprobs,
        top_logprobs=top_logprobs or 0,
        caching=prompt_caching(body),
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
