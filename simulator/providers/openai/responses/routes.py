"""OpenAI wire format: the Responses API.

`POST /v1/responses` is answered by the same engine as Chat Completions: the input
items (with the context of `previous_response_id`) become a neutral CompletionRequest,
and the Plan is rendered as a response object or as the typed event stream
(response.created … response.completed). Answers made with `store: true` (the API's
default) are kept in the database, off the event loop (simulator/state/response_store.py),
for `GET`/`DELETE /v1/responses/{id}`, `/input_items` and later `previous_response_id`.
See ../shared/wire-format.md §2 for the shapes and the order of the events.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import math
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson
from django.conf import settings

from simulator.engine import planner
from simulator.engine.generators import last_user_text
from simulator.engine.media import base64_image_size
from simulator.engine.snapshot import ModelSpec
from simulator.engine.tokens import O200K, count_messages, count_prompt
from simulator.engine.types import (
    ChoicePlan,
    CompletionRequest,
    Message,
    Plan,
    StreamFault,
    ToolCall,
    ToolCallPlan,
    ToolDefinition,
)
from simulator.providers.openai.chat.render import piece_json, tool_call_id
from simulator.providers.openai.errors import common_headers, dialect, fault_error, model_not_found, openai_endpoint
from simulator.providers.openai.logprobs import entries_json, flat
from simulator.providers.openai.validate import (
    MAX_TOOLS,
    body_object,
    boolean_field,
    function_definition,
    function_name,
    integer_field,
    invalid_type,
    missing_parameter,
    number_field,
    object_schema,
    too_long,
)
from simulator.server.http import (
    JSON_CONTENT_TYPE,
    SSE_HEADERS,
    Call,
    ProviderError,
    compute,
    dump_json,
    new_id,
    query_param,
    quoted,
    send_bytes,
    start_stream,
)
from simulator.server.pipeline import plan_answer, stream_plan, wait_for_reply
from simulator.state import snapshots
from simulator.state.response_store import Record, store

EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
SUMMARIES = ("auto", "concise", "detailed")
_ROLES = ("user", "system", "developer", "assistant")
_INPUT_PARTS = ("input_text", "input_image", "input_file", "input_audio")
_ASSISTANT_PARTS = ("output_text", "refusal", "input_text")
_ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning")
# The API refuses caps below this many output tokens.
_MIN_OUTPUT_TOKENS = 16
# What `include` names to have the output text's logprobs (as many alternatives as top_logprobs).
LOGPROBS_INCLUDE = "message.output_text.logprobs"
_NO_LOGPROBS = orjson.Fragment(b"[]")


# --- errors ----------------------------------------------------------------------


def _invalid_value(param: str, value: Any, allowed: tuple[str, ...]) -> ProviderError:
    listed = ", ".join(f"'{a}'" for a in allowed[:-1]) + f", and '{allowed[-1]}'" if len(allowed) > 1 else allowed[0]
    return ProviderError(
        400, f"Invalid value: {quoted(value)}. Supported values are: {listed}.", param=param, code="invalid_value"
    )


def response_not_found(response_id: str) -> ProviderError:
    return ProviderError(404, f"No response found with id '{response_id}'.", "not_found")


def _context_exceeded(exc: planner.ContextLengthExceeded) -> ProviderError:
    return ProviderError(
        400,
        "Your input exceeds the context window of this model. Please adjust your input and try again.",
        param="input",
        code="context_length_exceeded",
    )


def _check_limits(request: CompletionRequest, spec: ModelSpec) -> None:
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


# --- input items -----------------------------------------------------------------

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
            raise _invalid_value(f"{where}.type", kind, allowed)
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
            conversation.items.append({**item, "id": _string(item, "id", where) or new_id("rs_", 192)})
        else:
            raise _invalid_value(f"{where}.type", kind, _ITEM_TYPES)


def _string(item: dict[str, Any], key: str, where: str, required: bool = False) -> str | None:
    value = item.get(key)
    if value is None:
        if required:
            raise missing_parameter(f"{where}.{key}")
        return None
    if not isinstance(value, str):
        raise invalid_type(f"{where}.{key}", "a string", value)
    return value


def _read_message(item: dict[str, Any], where: str, conversation: Conversation) -> None:
    role = item.get("role")
    if role is None:
        raise missing_parameter(f"{where}.role")
    if role not in _ROLES:
        raise _invalid_value(f"{where}.role", role, _ROLES)
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
            "id": _string(item, "id", where) or new_id("msg_", 192),
            "type": "message",
            "role": role,
            "status": item.get("status") or "completed",
            "content": parts,
        }
    )


def _read_function_call(item: dict[str, Any], where: str, conversation: Conversation) -> None:
    call_id = _string(item, "call_id", where, required=True)
    name = function_name(item.get("name"), f"{where}.name")
    arguments = _string(item, "arguments", where, required=True)
    conversation.add_call(ToolCall(id=call_id, name=name, arguments=arguments))
    conversation.items.append(
        {
            "id": _string(item, "id", where) or new_id("fc_", 192),
            "type": "function_call",
            "status": item.get("status") or "completed",
            "arguments": arguments,
            "call_id": call_id,
            "name": name,
        }
    )


def _read_function_call_output(item: dict[str, Any], where: str, conversation: Conversation) -> None:
    call_id = _string(item, "call_id", where, required=True)
    output = item.get("output")
    if output is None:
        raise missing_parameter(f"{where}.output")
    text, media, _ = _content_of(output, f"{where}.output", _INPUT_PARTS, "input_text")
    conversation.messages.append(Message("tool", text, tool_call_id=call_id, media_tokens=media))
    conversation.items.append(
        {
            "id": _string(item, "id", where) or new_id("fco_", 192),
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


# --- the rest of the request -----------------------------------------------------


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
            raise _invalid_value("tool_choice", raw, ("none", "auto", "required"))
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
            raise _invalid_value("tool_choice.mode", mode, ("auto", "required"))
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
        raise _invalid_value("text.verbosity", verbosity, ("low", "medium", "high"))
    spec = raw.get("format")
    if spec is None:
        return {"format": {"type": "text"}, "verbosity": verbosity}, None
    if not isinstance(spec, dict):
        raise invalid_type("text.format", "an object", spec)
    kind = spec.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        raise _invalid_value("text.format.type", kind, ("text", "json_object", "json_schema"))
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
        raise _invalid_value("reasoning.effort", effort, EFFORTS)
    key = "summary" if raw.get("summary") is not None else "generate_summary"
    summary = raw.get(key)
    if summary is not None and summary not in SUMMARIES:
        raise _invalid_value(f"reasoning.{key}", summary, SUMMARIES)
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
        raise _invalid_value("truncation", truncation, ("auto", "disabled"))
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
    )


async def earlier_context(previous_response_id: str) -> list[Message]:
    """The conversation up to and including the earlier response: every input and output
    along its previous_response_id chain (its instructions do not carry over)."""
    chain = await store().chain(previous_response_id) if settings.LLMSIM_RESPONSES_RETAIN > 0 else []
    if not chain:
        raise ProviderError(
            400,
            f"Previous response with id '{previous_response_id}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    context = Conversation()
    for record in chain:
        read_items(orjson.loads(record.input_items), context)
        output = orjson.loads(record.response).get("output") or []
        read_items([item for item in output if item.get("type") in _ITEM_TYPES], context)
    return context.messages


def completion_request(parsed: ResponsesRequest, earlier: list[Message]) -> CompletionRequest:
    opening = [Message("developer", parsed.instructions)] if parsed.instructions else []
    messages = [*opening, *earlier, *parsed.input.messages]
    if any(message.role == "tool" or message.tool_calls for message in messages):
        check_tool_outputs(messages)
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
    )


# Prompt caching: a prefix of at least this many tokens is cached, in steps of the second.
_CACHE_MIN_TOKENS = 1024
_CACHE_STEP_TOKENS = 128


def cached_tokens(opening_and_earlier: list[Message], encoding: str) -> int:
    """Prompt tokens served from the cache: the conversation before this turn, as OpenAI caches
    a repeated prefix (1,024 tokens at least, in steps of 128)."""
    if not opening_and_earlier:
        return 0
    prefix = count_messages(opening_and_earlier, encoding)
    return prefix // _CACHE_STEP_TOKENS * _CACHE_STEP_TOKENS if prefix >= _CACHE_MIN_TOKENS else 0


# --- rendering -------------------------------------------------------------------


def _event(kind: str, sequence_number: int, data: dict[str, Any]) -> bytes:
    return (
        b"event: "
        + kind.encode()
        + b"\ndata: "
        + dump_json({"type": kind, "sequence_number": sequence_number, **data})
        + b"\n\n"
    )


def _summary_text(messages: tuple[Message, ...]) -> str:
    """A reasoning summary: the kind of heading and sentence the real ones open with."""
    question = " ".join(last_user_text(messages).split())
    if len(question) > 80:
        question = question[:79].rstrip() + "…"
    topic = f'the request "{question}"' if question else "the conversation so far"
    return f"**Working out the answer**\n\nI am considering {topic} and how best to answer it clearly."


def _encrypted_content(item_id: str) -> str:
    """Opaque, as the real encrypted reasoning is; the same for the same item."""
    return "gAAAAA" + base64.urlsafe_b64encode(hashlib.blake2b(item_id.encode(), digest_size=48).digest()).decode()


@dataclass
class _Item:
    kind: str  # reasoning | message | function_call
    id: str
    start: int = 0  # first streaming step
    call: ToolCallPlan | None = None


class ResponseWriter:
    """A Plan as a response object, and as the event stream that builds it step by step.

    Output items follow the plan: a reasoning item (models that reasoned), the message
    (one output_text part) unless the model only calls tools, then one function_call
    per call. Events carry consecutive sequence numbers in the order they are rendered.
    """

    def __init__(self, response_id: str, parsed: ResponsesRequest, plan: Plan, cached: int, summary: str) -> None:
        self.response_id = response_id
        self.created_at = int(time.time())
        self._plan = plan
        self._choice: ChoicePlan = plan.choices[0]
        self._sequence = 0
        choice = self._choice
        self.items: list[_Item] = []
        if plan.usage.reasoning_tokens:
            self.items.append(_Item("reasoning", new_id("rs_", 192)))
        step = 0
        if choice.pieces or not (choice.tool_calls or choice.finish_reason == "length"):
            self.items.append(_Item("message", new_id("msg_", 192), step))
            step += len(choice.pieces)
        for call in choice.tool_calls:
            self.items.append(_Item("function_call", new_id("fc_", 192), step, call))
            step += 1 + len(call.argument_pieces)
        self._streamed = [item for item in self.items if item.kind != "reasoning"]
        self._starts = [item.start for item in self._streamed]
        self._summary = summary if parsed.reasoning_summary else ""
        self._encrypted = "reasoning.encrypted_content" in parsed.include
        incomplete = choice.finish_reason == "length"
        self.status = "incomplete" if incomplete else "completed"
        effort = parsed.reasoning_effort or ("medium" if plan.usage.reasoning_tokens else None)
        self._base = {
            "id": response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": "in_progress",
            "completed_at": None,
            "error": None,
            "incomplete_details": None,
            **parsed.echo,
            "model": plan.model,
            "output": [],
            "reasoning": {"effort": effort, "summary": parsed.reasoning_summary},
            "store": parsed.store,
            "usage": None,
        }
        usage = plan.usage
        self._usage = {
            "input_tokens": usage.prompt_tokens,
            "input_tokens_details": {"cached_tokens": min(cached, usage.prompt_tokens), "cache_write_tokens": 0},
            "output_tokens": usage.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        }
        # The output text's logprobs, as JSON: the part's (with bytes) and the text events' (without).
        self._part_logprobs = self._text_logprobs = _NO_LOGPROBS
        if choice.logprobs is not None:
            logprobs = flat(choice.logprobs)
            self._part_logprobs = orjson.Fragment(entries_json(logprobs))
            self._text_logprobs = orjson.Fragment(entries_json(logprobs, with_bytes=False))
        # The one event per token of a text answer: these two around the piece's JSON.
        message = next((item for item in self.items if item.kind == "message"), None)
        if message is not None:
            output_index = self.items.index(message)
            self._delta_open = b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
            self._delta_middle = (
                f',"item_id":"{message.id}","output_index":{output_index},"content_index":0,"delta":'
            ).encode()

    # --- whole objects ---
    def item_json(self, item: _Item, done: bool = True) -> dict[str, Any]:
        choice = self._choice
        if item.kind == "reasoning":
            summary = [{"type": "summary_text", "text": self._summary}] if self._summary and done else []
            data: dict[str, Any] = {"id": item.id, "type": "reasoning", "summary": summary}
            if self._encrypted:
                data["encrypted_content"] = _encrypted_content(item.id) if done else None
            return data
        cut = choice.finish_reason == "length"
        if item.kind == "message":
            status = ("incomplete" if cut else "completed") if done else "in_progress"
            content = [_text_part(choice.text, self._part_logprobs)] if done else []
            return {"id": item.id, "type": "message", "status": status, "role": "assistant", "content": content}
        call = item.call
        assert call is not None
        last = call is choice.tool_calls[-1]
        return {
            "id": item.id,
            "type": "function_call",
            "status": ("incomplete" if cut and last else "completed") if done else "in_progress",
            "arguments": call.arguments if done else "",
            "call_id": tool_call_id(call),
            "name": call.name,
        }

    def response_json(self) -> dict[str, Any]:
        """The finished response (completed, or incomplete when max_output_tokens cut it)."""
        response = {
            **self._base,
            "status": self.status,
            "completed_at": self.created_at + math.ceil(self._plan.duration_s),
            "output": [self.item_json(item) for item in self.items],
            "usage": self._usage,
        }
        if self.status == "incomplete":
            response["incomplete_details"] = {"reason": "max_output_tokens"}
        return response

    def failed_json(self, fault: StreamFault) -> dict[str, Any]:
        """The response a mid-answer fault left: failed, with the error (a disconnect says so too)."""
        if fault.kind == "error":
            error = fault_error(fault, self._plan.model)
            message = error.message
            code = "rate_limit_exceeded" if fault.status == 429 else "server_error"
        else:
            message = "The connection was closed before the response was complete (simulated by LLMSim)."
            code = "server_error"
        return {**self._base, "status": "failed", "error": {"code": code, "message": message}}

    def final_json(self) -> dict[str, Any]:
        """What is stored: the response as the client got it (or failed to)."""
        fault = self._plan.fault
        return self.failed_json(fault) if fault is not None else self.response_json()

    # --- the stream ---

    def _next(self, kind: str, data: dict[str, Any]) -> bytes:
        event = _event(kind, self._sequence, data)
        self._sequence += 1
        return event

    def _opening(self) -> list[bytes]:
        out = [
            self._next("response.created", {"response": self._base}),
            self._next("response.in_progress", {"response": self._base}),
        ]
        for output_index, item in enumerate(self.items):
            if item.kind == "reasoning":
                out += self._reasoning_events(item, output_index)
        return out

    def _reasoning_events(self, item: _Item, output_index: int) -> list[bytes]:
        """The reasoning item, whole at once: the model reasoned before its first token."""
        out = [
            self._next(
                "response.output_item.added", {"output_index": output_index, "item": self.item_json(item, False)}
            )
        ]
        if self._summary:
            where = {"item_id": item.id, "output_index": output_index, "summary_index": 0}
            part = {"type": "summary_text", "text": self._summary}
            out += [
                self._next("response.reasoning_summary_part.added", {**where, "part": {**part, "text": ""}}),
                self._next("response.reasoning_summary_text.delta", {**where, "delta": self._summary}),
                self._next("response.reasoning_summary_text.done", {**where, "text": self._summary}),
                self._next("response.reasoning_summary_part.done", {**where, "part": part}),
            ]
        out.append(
            self._next("response.output_item.done", {"output_index": output_index, "item": self.item_json(item)})
        )
        return out

    def _message_start(self, item: _Item, output_index: int) -> list[bytes]:
        where = {"item_id": item.id, "output_index": output_index, "content_index": 0}
        return [
            self._next(
                "response.output_item.added", {"output_index": output_index, "item": self.item_json(item, False)}
            ),
            self._next("response.content_part.added", {**where, "part": _text_part("")}),
        ]

    def _message_end(self, item: _Item, output_index: int) -> list[bytes]:
        text = self._choice.text
        where = {"item_id": item.id, "output_index": output_index, "content_index": 0}
        return [
            self._next("response.output_text.done", {**where, "text": text, "logprobs": self._text_logprobs}),
            self._next("response.content_part.done", {**where, "part": _text_part(text, self._part_logprobs)}),
            self._next("response.output_item.done", {"output_index": output_index, "item": self.item_json(item)}),
        ]

    def _text_delta(self, at: int) -> bytes:
        """The delta of the text's piece `at` (with its tokens' logprobs when asked for)."""
        logprobs = self._choice.logprobs
        event = b"".join(
            (
                self._delta_open,
                b'"sequence_number":',
                str(self._sequence).encode(),
                self._delta_middle,
                piece_json(self._choice.pieces[at]),
                b',"logprobs":',
                b"[]" if logprobs is None else entries_json(logprobs[at], with_bytes=False),
                b"}\n\n",
            )
        )
        self._sequence += 1
        return event

    def _step(self, step: int) -> list[bytes]:
        position = bisect_right(self._starts, step) - 1
        item = self._streamed[position]
        output_index = self.items.index(item)
        at = step - item.start
        if item.kind == "message":
            pieces = self._choice.pieces
            out = self._message_start(item, output_index) if at == 0 else []
            out.append(self._text_delta(at))
            if at == len(pieces) - 1:
                out += self._message_end(item, output_index)
            return out
        call = item.call
        assert call is not None
        out = []
        if at == 0:
            out.append(
                self._next(
                    "response.output_item.added", {"output_index": output_index, "item": self.item_json(item, False)}
                )
            )
        else:
            out.append(
                self._next(
                    "response.function_call_arguments.delta",
                    {"item_id": item.id, "output_index": output_index, "delta": call.argument_pieces[at - 1]},
                )
            )
        if at == len(call.argument_pieces):
            out += [
                self._next(
                    "response.function_call_arguments.done",
                    {"item_id": item.id, "output_index": output_index, "arguments": call.arguments},
                ),
                self._next("response.output_item.done", {"output_index": output_index, "item": self.item_json(item)}),
            ]
        return out

    def render(self, first: int, end: int, last: bool) -> bytes:
        """The events of steps first..end-1 (with the opening ones before step 0, the closing ones when `last`)."""
        out = self._opening() if first == 0 else []
        if end - first == 1 and first > 0 and not last:
            position = bisect_right(self._starts, first) - 1
            item = self._streamed[position]
            at = first - item.start
            if item.kind == "message" and 0 < at < len(self._choice.pieces) - 1:
                return self._text_delta(at)  # the usual case, once per token
        for step in range(first, end):
            out += self._step(step)
        if last:
            if end == 0:  # an answer without steps: its empty message, if it has one
                for output_index, item in enumerate(self.items):
                    if item.kind == "message":
                        out += self._message_start(item, output_index) + self._message_end(item, output_index)
            kind = "response.incomplete" if self.status == "incomplete" else "response.completed"
            out.append(self._next(kind, {"response": self.response_json()}))
        return b"".join(out)

    def failure(self, opening: bool) -> bytes:
        """How a stream ends on an error fault: an `error` event, then response.failed."""
        fault = self._plan.fault
        assert fault is not None
        failed = self.failed_json(fault)
        out = self._opening() if opening else []
        out.append(
            self._next("error", {"code": failed["error"]["code"], "message": failed["error"]["message"], "param": None})
        )
        out.append(self._next("response.failed", {"response": failed}))
        return b"".join(out)


def answer_of(parsed: ResponsesRequest, plan: Plan, cached: int, summary: str) -> tuple[ResponseWriter, bytes]:
    """The writer of a new response, and the response as it is stored (and sent, when not streaming)."""
    writer = ResponseWriter(new_id("resp_", 192), parsed, plan, cached, summary)
    return writer, dump_json(writer.final_json())


def _text_part(text: str, logprobs: orjson.Fragment = _NO_LOGPROBS) -> dict[str, Any]:
    """An output_text part; `logprobs`: its tokens' as JSON."""
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs}


# --- routes ----------------------------------------------------------------------


def _retrieved(saving: asyncio.Future[None]) -> None:
    """Mark a failed save's exception as seen (the writer has logged it) when nobody awaits it."""
    if not saving.cancelled():
        saving.exception()


async def _until_stored(saving: asyncio.Future[None] | None) -> None:
    if saving is not None:
        with contextlib.suppress(Exception):  # not stored: logged, and the answer goes out anyway
            await saving


@openai_endpoint
async def create_response(call: Call, body: Any) -> None:
    parsed = await compute(call, parse_responses_request, body)
    earlier = await earlier_context(parsed.previous_response_id) if parsed.previous_response_id else []
    request = completion_request(parsed, earlier)
    plan = await plan_answer(
        call, request, dialect(request.model, context_exceeded=_context_exceeded, check_limits=_check_limits)
    )
    if plan is None:
        return
    cached = 0
    if earlier:  # the earlier turns are in the prompt cache: they were just read
        spec = snapshots.current().model_for(request.model)
        opening = request.messages[: len(request.messages) - len(parsed.input.messages)]
        cached = cached_tokens(list(opening), spec.encoding if spec is not None else O200K)
    summary = _summary_text(request.messages) if parsed.reasoning_summary else ""
    # With logprobs the response can be megabytes of JSON: rendered in a thread.
    writer, final = await compute(call, answer_of, parsed, plan, cached, summary, heavy=request.logprobs)
    saving = None
    if parsed.store and settings.LLMSIM_RESPONSES_RETAIN > 0:
        # Stored while the model "thinks"; committed before the answer is complete, so that
        # the client's next request (previous_response_id) finds it in any process.
        items = dump_json(parsed.input.items).decode()
        saving = store().save(
            Record(writer.response_id, request.model, parsed.previous_response_id or "", items, final.decode())
        )
        saving.add_done_callback(_retrieved)
    if parsed.stream:
        await start_stream(call, [*SSE_HEADERS, *common_headers(call)])
        await _until_stored(saving)
        await stream_plan(call, plan, writer.render, writer.failure)
        return
    if await wait_for_reply(call, plan, partial(fault_error, model=request.model)):
        await _until_stored(saving)
        await send_bytes(call, 200, final, [JSON_CONTENT_TYPE, *common_headers(call)])


@openai_endpoint
async def count_input_tokens(call: Call, body: Any) -> None:
    parsed = await compute(call, parse_responses_request, body, True)
    earlier = await earlier_context(parsed.previous_response_id) if parsed.previous_response_id else []
    request = completion_request(parsed, earlier)
    spec = snapshots.current().model_for(request.model) if request.model else None
    if request.model and spec is None:
        raise model_not_found(request.model)
    call.model = request.model
    tokens = await compute(call, count_prompt, request.messages, request.tools, spec.encoding if spec else O200K)
    body = dump_json({"object": "response.input_tokens", "input_tokens": tokens})
    await send_bytes(call, 200, body, [JSON_CONTENT_TYPE, *common_headers(call)])


async def _stored(response_id: str) -> Record:
    record = await store().get(response_id) if settings.LLMSIM_RESPONSES_RETAIN > 0 else None
    if record is None:
        raise response_not_found(response_id)
    return record


@openai_endpoint
async def retrieve_response(call: Call) -> None:
    if query_param(call, "stream") == "true":
        raise ProviderError(400, "Only responses created with background=true can be streamed again.", param="stream")
    record = await _stored(call.path_params["response_id"])
    call.model = record.model
    await send_bytes(call, 200, record.response.encode(), [JSON_CONTENT_TYPE, *common_headers(call)])


@openai_endpoint
async def delete_response(call: Call) -> None:
    response_id = call.path_params["response_id"]
    if settings.LLMSIM_RESPONSES_RETAIN == 0 or not await store().delete(response_id):
        raise response_not_found(response_id)
    body = dump_json({"id": response_id, "object": "response", "deleted": True})
    await send_bytes(call, 200, body, [JSON_CONTENT_TYPE, *common_headers(call)])


@openai_endpoint
async def cancel_response(call: Call) -> None:
    await _stored(call.path_params["response_id"])
    raise ProviderError(400, "Only responses created with background=true can be cancelled.", param=None)


@openai_endpoint
async def list_input_items(call: Call) -> None:
    record = await _stored(call.path_params["response_id"])
    items = orjson.loads(record.input_items)
    order = query_param(call, "order") or "desc"
    if order not in ("asc", "desc"):
        raise _invalid_value("order", order, ("asc", "desc"))
    if order == "desc":
        items.reverse()
    raw_limit = query_param(call, "limit") or "20"
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
        raise ProviderError(
            400,
            f"Invalid 'limit': expected an integer between 1 and 100, but got {quoted(raw_limit)} instead.",
            param="limit",
            code="invalid_value",
        )
    after = query_param(call, "after")
    if after is not None:
        ids = [item.get("id") for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    page = items[: int(raw_limit)]
    body = {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > len(page),
    }
    await send_bytes(call, 200, dump_json(body), [JSON_CONTENT_TYPE, *common_headers(call)])
