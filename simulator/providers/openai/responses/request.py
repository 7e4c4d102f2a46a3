"""A POST /v1/responses body (or /input_tokens), validated as OpenAI validates it.

Besides the input items (responses/items.py): instructions, tools and tool choice,
`text.format`, reasoning, sampling, metadata and the fields the response echoes; then
the neutral CompletionRequest the engine plans from (OpenAI's API reference, "Create a
model response").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from simulator.engine import planner
from simulator.engine.snapshot import ModelSpec
from simulator.engine.types import CompletionRequest, Message, PromptCaching, ToolDefinition
from simulator.providers.openai.responses.items import Conversation, check_tool_outputs, read_items
from simulator.providers.openai.validate import (
    MAX_TOOLS,
    body_object,
    boolean_field,
    function_definition,
    function_name,
    integer_field,
    invalid_type,
    invalid_value,
    missing_parameter,
    number_field,
    object_schema,
    prompt_caching,
    too_long,
)
from simulator.server.http import ProviderError

EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
SUMMARIES = ("auto", "concise", "detailed")
# The API refuses caps below this many output tokens.
_MIN_OUTPUT_TOKENS = 16
# What `include` names to have the output text's logprobs (as many alternatives as top_logprobs).
LOGPROBS_INCLUDE = "message.output_text.logprobs"


def context_length_exceeded(exc: planner.ContextLengthExceeded) -> ProviderError:
    """The Responses API's words for a prompt longer than the context window."""
    return ProviderError(
        400,
        "Your input exceeds the context window of this model. Please adjust your input and try again.",
        param="input",
        code="context_length_exceeded",
    )


def check_model_limits(request: CompletionRequest, spec: ModelSpec) -> None:
    """What the model refuses: reasoning settings on a model that does not reason, caps above its limit."""
    if request.reasoning_effort is not None and not spec.reasoning:
        raise ProviderError(
            400,
            "Unsupported parameter: 'reasoning.effort' is not supported with this model.",
            param="reasoning.effort",
            code="unsupported_parameter",
        )
    if request.max_tokens is not None and request.max_tokens > spec.max_output_tokens:
        raise ProviderError(
            400,
            f"Invalid 'max_output_tokens': integer above maximum value. Expected a value <= "
            f"{spec.max_output_tokens}, but got {request.max_tokens} instead.",
            param="max_output_tokens",
            code="integer_above_max_value",
        )


def _tools_of(raw: Any) -> tuple[tuple[ToolDefinition, ...], list[Any]]:
    """Function tools for the engine, and every tool as the response echoes it.

    Hosted tools (web_search, file_search, …) are accepted and echoed; the simulated model
    answers in text instead of calling them.
    """
    if raw is None:
        return (), []
    if not isinstance(raw, list):
        raise invalid_type("tools", "an array", raw)
    if len(raw) > MAX_TOOLS:
        raise too_long("tools", MAX_TOOLS, len(raw))
    functions: list[ToolDefinition] = []
    for i, tool in enumerate(raw):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise invalid_type(where, "an object", tool)
        kind = tool.get("type")
        if kind is None:
            raise missing_parameter(f"{where}.type")
        if not isinstance(kind, str):
            raise invalid_type(f"{where}.type", "a string", kind)
        if kind == "function":
            functions.append(function_definition(tool, where))
    echoed = [
        {"description": None, "parameters": None, "strict": None, **tool} if tool["type"] == "function" else tool
        for tool in raw
    ]
    return tuple(functions), echoed


def _tool_choice_of(raw: Any, tools: tuple[ToolDefinition, ...]) -> tuple[Any, tuple[ToolDefinition, ...]]:
    """The neutral tool choice, and the function tools it leaves the model."""
    if raw is None:
        return None, tools
    if isinstance(raw, str):
        if raw not in ("none", "auto", "required"):
            raise invalid_value("tool_choice", raw, ("none", "auto", "required"))
        return raw, tools
    if not isinstance(raw, dict):
        raise invalid_type("tool_choice", "a string or an object", raw)
    kind = raw.get("type")
    if kind == "function":
        name = function_name(raw.get("name"), "tool_choice.name")
        if not any(tool.name == name for tool in tools):
            raise ProviderError(
                400,
                f"Invalid value for 'tool_choice': function '{name}' was not found in 'tools'.",
                param="tool_choice",
                code="invalid_value",
            )
        return {"name": name}, tools
    if kind == "allowed_tools":
        mode = raw.get("mode")
        if mode not in ("auto", "required"):
            raise invalid_value("tool_choice.mode", mode, ("auto", "required"))
        listed = raw.get("tools")
        if not isinstance(listed, list) or not listed:
            raise missing_parameter("tool_choice.tools")
        names = {entry.get("name") for entry in listed if isinstance(entry, dict)}
        return mode, tuple(tool for tool in tools if tool.name in names)
    if not isinstance(kind, str):
        raise missing_parameter("tool_choice.type")
    return "none", tools  # a hosted tool: answered in text, as if it had been used


def _text_format_of(raw: Any, messages: list[Message]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """`text` as the response echoes it, and the neutral response format (None: text)."""
    if raw is None:
        return {"format": {"type": "text"}, "verbosity": "medium"}, None
    if not isinstance(raw, dict):
        raise invalid_type("text", "an object", raw)
    verbosity = raw.get("verbosity") or "medium"
    if verbosity not in ("low", "medium", "high"):
        raise invalid_value("text.verbosity", verbosity, ("low", "medium", "high"))
    spec = raw.get("format")
    if spec is None:
        return {"format": {"type": "text"}, "verbosity": verbosity}, None
    if not isinstance(spec, dict):
        raise invalid_type("text.format", "an object", spec)
    kind = spec.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        raise invalid_value("text.format.type", kind, ("text", "json_object", "json_schema"))
    echoed = {"format": spec, "verbosity": verbosity}
    if kind == "text":
        return echoed, None
    if kind == "json_object":
        if not any("json" in message.content.lower() for message in messages):
            raise ProviderError(
                400,
                "Response input messages must contain the word 'json' in some form to use 'text.format' of type "
                "'json_object'.",
                param="input",
            )
        return echoed, {"type": "json_object"}
    name = function_name(spec.get("name"), "text.format.name")
    strict = spec.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise invalid_type("text.format.strict", "a boolean", strict)
    if spec.get("schema") is None:
        raise missing_parameter("text.format.schema")
    schema = object_schema(
        spec["schema"], "text.format.schema", f"text.format '{name}'", "invalid_json_schema", bool(strict)
    )
    echoed["format"] = {"type": "json_schema", "description": None, "name": name, "schema": schema, "strict": strict}
    return echoed, {"type": "json_schema", "name": name, "schema": schema or {}, "strict": bool(strict)}


def _reasoning_of(raw: Any) -> tuple[str | None, str | None]:
    """(effort, summary) of `reasoning`; None where not given."""
    if raw is None:
        return None, None
    if not isinstance(raw, dict):
        raise invalid_type("reasoning", "an object", raw)
    effort = raw.get("effort")
    if effort is not None and effort not in EFFORTS:
        raise invalid_value("reasoning.effort", effort, EFFORTS)
    key = "summary" if raw.get("summary") is not None else "generate_summary"
    summary = raw.get(key)
    if summary is not None and summary not in SUMMARIES:
        raise invalid_value(f"reasoning.{key}", summary, SUMMARIES)
    return effort, summary


def _metadata_of(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise invalid_type("metadata", "an object", raw)
    if len(raw) > 16:
        raise ProviderError(
            400, f"Invalid 'metadata': too many properties. Expected at most 16, got {len(raw)}.", param="metadata"
        )
    for key, value in raw.items():
        if len(key) > 64:
            raise too_long(f"metadata.{key}", 64, len(key), "string")
        if not isinstance(value, str):
            raise invalid_type(f"metadata.{key}", "a string", value)
        if len(value) > 512:
            raise too_long(f"metadata.{key}", 512, len(value), "string")
    return raw


@dataclass
class ResponsesRequest:
    """A validated POST /v1/responses body: what the engine needs, and what the response echoes."""

    model: str
    input: Conversation
    instructions: str | None
    tools: tuple[ToolDefinition, ...]
    tool_choice: Any
    parallel_tool_calls: bool
    response_format: dict[str, Any] | None
    max_output_tokens: int | None
    reasoning_effort: str | None
    reasoning_summary: str | None
    stream: bool
    store: bool
    previous_response_id: str | None
    echo: dict[str, Any]  # the request's fields as the response object repeats them
    include: tuple[str, ...] = ()
    top_logprobs: int = 0
    caching: PromptCaching | None = None


def parse_responses_request(body: Any, counting: bool = False) -> ResponsesRequest:
    """Validate a POST /v1/responses body (or /input_tokens with `counting`) the way OpenAI does."""
    body = body_object(body)
    model = body.get("model")
    if (model is None or model == "") and not counting:
        raise missing_parameter("model")
    if model is not None and not isinstance(model, str):
        raise invalid_type("model", "a string", model)
    previous = body.get("previous_response_id")
    if previous is not None and not isinstance(previous, str):
        raise invalid_type("previous_response_id", "a string", previous)
    if body.get("input") is None and previous is None and not counting:
        raise missing_parameter("input")
    conversation = Conversation()
    if body.get("input") is not None:
        read_items(body["input"], conversation)
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise invalid_type("instructions", "a string", instructions)

    functions, echoed_tools = _tools_of(body.get("tools"))
    tool_choice, offered = _tool_choice_of(body.get("tool_choice"), functions)
    parallel = boolean_field(body, "parallel_tool_calls")
    opening = [Message("developer", instructions)] if instructions else []
    text, response_format = _text_format_of(body.get("text"), [*opening, *conversation.messages])
    effort, summary = _reasoning_of(body.get("reasoning"))
    for key, (low, high) in {"temperature": (0, 2), "top_p": (0, 1)}.items():
        number_field(body, key, low, high)
    top_logprobs = integer_field(body, "top_logprobs", 0, 20)
    integer_field(body, "max_tool_calls", 1)
    max_output_tokens = integer_field(body, "max_output_tokens", _MIN_OUTPUT_TOKENS)
    truncation = body.get("truncation") or "disabled"
    if truncation not in ("auto", "disabled"):
        raise invalid_value("truncation", truncation, ("auto", "disabled"))
    include = body.get("include") or []
    if not isinstance(include, list) or not all(isinstance(entry, str) for entry in include):
        raise invalid_type("include", "an array of strings", include)
    store_it = boolean_field(body, "store")
    echo = {
        "background": bool(boolean_field(body, "background")),
        "instructions": instructions,
        "max_output_tokens": max_output_tokens,
        "max_tool_calls": body.get("max_tool_calls"),
        "metadata": _metadata_of(body.get("metadata")),
        "parallel_tool_calls": parallel is not False,
        "previous_response_id": previous,
        "prompt_cache_key": body.get("prompt_cache_key"),
        "prompt_cache_retention": body.get("prompt_cache_retention"),
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": body.get("service_tier") if body.get("service_tier") not in (None, "auto") else "default",
        "temperature": body.get("temperature", 1.0),
        "text": text,
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": echoed_tools,
        "top_logprobs": top_logprobs or 0,
        "top_p": body.get("top_p", 1.0),
        "truncation": truncation,
        "user": body.get("user"),
    }
    return ResponsesRequest(
        model=model or "",
        input=conversation,
        instructions=instructions,
        tools=offered,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel is not False,
        response_format=response_format,
        max_output_tokens=max_output_tokens,
        reasoning_effort=effort,
        reasoning_summary=summary,
        stream=bool(boolean_field(body, "stream")),
        store=store_it is not False,
        previous_response_id=previous,
        echo=echo,
        include=tuple(include),
        top_logprobs=top_logprobs or 0,
        caching=prompt_caching(body),
    )


def completion_request(parsed: ResponsesRequest, earlier: list[Message]) -> CompletionRequest:
    """What the engine plans from: instructions, the `earlier` context, then this request's input."""
    opening = [Message("developer", parsed.instructions)] if parsed.instructions else []
    messages = [*opening, *earlier, *parsed.input.messages]
    if any(message.role == "tool" or message.tool_calls for message in messages):
        check_tool_outputs(messages)
    caching = parsed.caching
    if caching is not None and earlier:
        # A previous_response_id chain's earlier turns are in the provider's cache already.
        caching = replace(caching, read_units=len(parsed.tools) + len(opening) + len(earlier))
    return CompletionRequest(
        model=parsed.model,
        messages=tuple(messages),
        tools=parsed.tools,
        tool_choice=parsed.tool_choice,
        parallel_tool_calls=parsed.parallel_tool_calls,
        response_format=parsed.response_format,
        max_tokens=parsed.max_output_tokens,
        stream=parsed.stream,
        reasoning_effort=parsed.reasoning_effort,
        logprobs=LOGPROBS_INCLUDE in parsed.include,
        top_logprobs=parsed.top_logprobs,
        caching=caching,
    )
