"""Assistants request bodies, validated as OpenAI validates them (OpenAI's API reference, "Assistants").

Assistants, threads, messages, runs and tool outputs, plus the cursor lists' query
parameters; the stored shapes of tools, response formats and message content, and
their translation to the engine's terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator.engine.types import ToolDefinition
from simulator.providers.openai.chat.request import parse_response_format
from simulator.providers.openai.chat.tools import parse_tool_choice
from simulator.providers.openai.errors import model_not_found
from simulator.providers.openai.validate import (
    MAX_TOOLS,
    body_object,
    boolean_field,
    function_definition,
    integer_field,
    invalid_type,
    missing_parameter,
    number_field,
    too_long,
)
from simulator.server.http import Call, ProviderError, query_param, quoted
from simulator.state import snapshots

_BUILT_IN_TOOLS = ("code_interpreter", "file_search")

_CONTENT_PARTS = ("text", "image_url", "image_file")
# OpenAI's limits on what one request may put in a thread.
MAX_NEW_MESSAGES = 32
MAX_MESSAGE_CHARS = 256_000


def text_content(text: str) -> list[dict[str, Any]]:
    """`text` as a message's content blocks (one text block)."""
    return [{"type": "text", "text": {"value": text, "annotations": []}}]


def _string(body: dict[str, Any], key: str, limit: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_type(key, "a string", value)
    if len(value) > limit:
        raise too_long(key, limit, len(value), "string")
    return value


def _metadata(body: dict[str, Any], key: str = "metadata") -> dict[str, str]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_type(key, "an object", value)
    if len(value) > 16:
        raise ProviderError(
            400,
            f"Invalid '{key}': too many properties. Expected at most 16 properties.",
            param=key,
            code="invalid_value",
        )
    for name, item in value.items():
        if len(name) > 64:
            raise too_long(f"{key}.{name}", 64, len(name), "string")
        if not isinstance(item, str):
            raise invalid_type(f"{key}.{name}", "a string", item)
        if len(item) > 512:
            raise too_long(f"{key}.{name}", 512, len(item), "string")
    return value


def _tools(body: dict[str, Any], key: str = "tools") -> list[dict[str, Any]] | None:
    """Tools as stored and shown: function definitions checked as for chat, built-in tools kept."""
    raw = body.get(key)
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise invalid_type(key, "an array", raw)
    if len(raw) > MAX_TOOLS:
        raise too_long(key, MAX_TOOLS, len(raw))
    tools = []
    for i, tool in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(tool, dict):
            raise invalid_type(where, "an object", tool)
        kind = tool.get("type")
        if kind in _BUILT_IN_TOOLS:
            tools.append({"type": kind})
            continue
        if kind != "function":
            raise ProviderError(
                400,
                f"Invalid value: {quoted(kind)}. "
                "Supported values are: 'code_interpreter', 'file_search', and 'function'.",
                param=f"{where}.type",
                code="invalid_value",
            )
        if tool.get("function") is None:
            raise missing_parameter(f"{where}.function")
        definition = function_definition(tool["function"], f"{where}.function")
        function = {
            "name": definition.name,
            "description": definition.description,
            "parameters": definition.parameters or {"type": "object", "properties": {}},
            "strict": definition.strict,
        }
        tools.append({"type": "function", "function": function})
    return tools


def function_tools(tools: list[dict[str, Any]]) -> tuple[ToolDefinition, ...]:
    """The functions the model may call (built-in tools are accepted, never called)."""
    return tuple(
        function_definition(tool["function"], f"tools[{i}].function")
        for i, tool in enumerate(tools)
        if tool.get("type") == "function"
    )


def _response_format(body: dict[str, Any]) -> Any:
    raw = body.get("response_format")
    if raw is None or raw == "auto":
        return None
    neutral_format(raw)  # refuses what chat refuses
    return raw


def neutral_format(raw: Any) -> dict[str, Any] | None:
    """A stored response_format in the engine's terms."""
    if raw is None or raw == "auto":
        return None
    if isinstance(raw, dict) and raw.get("type") == "json_object":
        return {"type": "json_object"}  # no "json"-in-the-messages rule for threads
    return parse_response_format(raw, ())


def neutral_tool_choice(raw: Any, tools: tuple[ToolDefinition, ...]) -> Any:
    """A stored tool_choice in the engine's terms (a built-in tool's: none of the functions)."""
    if raw is None or (isinstance(raw, dict) and raw.get("type") in _BUILT_IN_TOOLS):
        return None
    if not tools and raw in ("auto", "none"):
        return None
    return parse_tool_choice(raw, tools)


def content_blocks(raw: Any, param: str) -> list[dict[str, Any]]:
    """A message's content as the thread shows it: a string, or text and image parts."""
    if isinstance(raw, str):
        if not raw:
            raise ProviderError(
                400,
                f"Invalid '{param}': string too short. Expected a string with minimum length 1, but got an empty "
                "string instead.",
                param=param,
                code="string_below_min_length",
            )
        if len(raw) > MAX_MESSAGE_CHARS:
            raise too_long(param, MAX_MESSAGE_CHARS, len(raw), "string")
        return text_content(raw)
    if not isinstance(raw, list):
        raise invalid_type(param, "a string or an array", raw)
    if not raw:
        raise ProviderError(400, f"Invalid '{param}': empty array.", param=param, code="empty_array")
    blocks = []
    for i, part in enumerate(raw):
        where = f"{param}[{i}]"
        if not isinstance(part, dict):
            raise invalid_type(where, "an object", part)
        kind = part.get("type")
        if kind not in _CONTENT_PARTS:
            raise ProviderError(
                400,
                f"Invalid value: {quoted(kind)}. Supported values are: 'text', 'image_url', and 'image_file'.",
                param=f"{where}.type",
                code="invalid_value",
            )
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise invalid_type(f"{where}.text", "a string", text)
            if len(text) > MAX_MESSAGE_CHARS:
                raise too_long(f"{where}.text", MAX_MESSAGE_CHARS, len(text), "string")
            blocks.extend(text_content(text))
        else:
            if not isinstance(part.get(kind), dict):
                raise missing_parameter(f"{where}.{kind}")
            blocks.append({"type": kind, kind: part[kind]})
    return blocks


def text_of(blocks: list[dict[str, Any]]) -> str:
    """The text of content blocks (images have none)."""
    return "\n".join(block["text"]["value"] for block in blocks if block.get("type") == "text")


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message a request adds to a thread."""

    role: str
    content: list[dict[str, Any]]
    attachments: list[Any]
    metadata: dict[str, str]


def parse_message(raw: Any, param: str) -> NewMessage:
    """A message to add (a create-message body, or one of `messages`); `param`: where it is in the body."""
    if not isinstance(raw, dict):
        raise invalid_type(param, "an object", raw)
    where = f"{param}." if param else ""
    role = raw.get("role")
    if role is None:
        raise missing_parameter(f"{where}role")
    if role not in ("user", "assistant"):
        raise ProviderError(
            400,
            f"Invalid value: {quoted(role)}. Supported values are: 'user' and 'assistant'.",
            param=f"{where}role",
            code="invalid_value",
        )
    if raw.get("content") is None:
        raise missing_parameter(f"{where}content")
    attachments = raw.get("attachments") or []
    if not isinstance(attachments, list):
        raise invalid_type(f"{where}attachments", "an array", attachments)
    return NewMessage(
        role, content_blocks(raw["content"], f"{where}content"), attachments, _metadata(raw, f"{where}metadata")
    )


def parse_messages(raw: Any, param: str) -> list[NewMessage]:
    """The messages of a new thread or run (at most MAX_NEW_MESSAGES)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_type(param, "an array", raw)
    if len(raw) > MAX_NEW_MESSAGES:
        raise too_long(param, MAX_NEW_MESSAGES, len(raw))
    return [parse_message(item, f"{param}[{i}]") for i, item in enumerate(raw)]


def _model(body: dict[str, Any], required: bool) -> str | None:
    model = body.get("model")
    if model is None:
        if required:
            raise missing_parameter("model")
        return None
    if not isinstance(model, str) or not model:
        raise invalid_type("model", "a string", model)
    if snapshots.current().model_for(model) is None:
        raise model_not_found(model, param="model")
    return model


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What a run-creating request asks for; None: the assistant's."""

    assistant_id: str
    model: str | None
    instructions: str | None
    additional_instructions: str | None
    additional_messages: list[NewMessage]
    tools: list[dict[str, Any]] | None
    tool_choice: Any
    parallel_tool_calls: bool
    response_format: Any
    metadata: dict[str, str]
    temperature: float | None
    top_p: float | None
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: Any
    stream: bool


def parse_run_options(body: dict[str, Any]) -> RunOptions:
    """What a create-run (or create-thread-and-run) body asks of the run."""
    assistant_id = body.get("assistant_id")
    if assistant_id is None:
        raise missing_parameter("assistant_id")
    if not isinstance(assistant_id, str):
        raise invalid_type("assistant_id", "a string", assistant_id)
    # tool_choice is checked when the run is planned, against the tools it runs with.
    tools = _tools(body)
    truncation = body.get("truncation_strategy")
    if truncation is not None and not isinstance(truncation, dict):
        raise invalid_type("truncation_strategy", "an object", truncation)
    return RunOptions(
        assistant_id=assistant_id,
        model=_model(body, required=False),
        instructions=_string(body, "instructions", 256_000),
        additional_instructions=_string(body, "additional_instructions", 256_000),
        additional_messages=parse_messages(body.get("additional_messages"), "additional_messages"),
        tools=tools,
        tool_choice=body.get("tool_choice"),
        parallel_tool_calls=boolean_field(body, "parallel_tool_calls") is not False,
        response_format=_response_format(body),
        metadata=_metadata(body),
        temperature=number_field(body, "temperature", 0, 2),
        top_p=number_field(body, "top_p", 0, 1),
        max_prompt_tokens=integer_field(body, "max_prompt_tokens", 256),
        max_completion_tokens=integer_field(body, "max_completion_tokens", 1),
        truncation_strategy=truncation,
        stream=bool(boolean_field(body, "stream")),
    )


def assistant_fields(body: Any) -> dict[str, Any]:
    """The columns of a new assistant, from a POST /v1/assistants body."""
    body = body_object(body)
    tool_resources = body.get("tool_resources") or {}
    if not isinstance(tool_resources, dict):
        raise invalid_type("tool_resources", "an object", tool_resources)
    return {
        "model": _model(body, required=True),
        "name": _string(body, "name", 256),
        "description": _string(body, "description", 512),
        "instructions": _string(body, "instructions", 256_000),
        "tools": _tools(body) or [],
        "tool_resources": tool_resources,
        "metadata": _metadata(body),
        "temperature": number_field(body, "temperature", 0, 2),
        "top_p": number_field(body, "top_p", 0, 1),
        "response_format": _response_format(body),
    }


def thread_fields(body: dict[str, Any], where: str = "") -> dict[str, Any]:
    """The columns of a new thread (its metadata and tool_resources); `where`: the body's prefix."""
    tool_resources = body.get("tool_resources") or {}
    if not isinstance(tool_resources, dict):
        raise invalid_type(f"{where}tool_resources", "an object", tool_resources)
    return {"metadata": _metadata(body, f"{where}metadata"), "tool_resources": tool_resources}


def parse_tool_outputs(body: dict[str, Any]) -> list[dict[str, str]]:
    """`tool_outputs` of a submit_tool_outputs body: each a tool_call_id and its output."""
    raw = body.get("tool_outputs")
    if raw is None:
        raise missing_parameter("tool_outputs")
    if not isinstance(raw, list):
        raise invalid_type("tool_outputs", "an array", raw)
    outputs = []
    for i, item in enumerate(raw):
        where = f"tool_outputs[{i}]"
        if not isinstance(item, dict):
            raise invalid_type(where, "an object", item)
        call_id, output = item.get("tool_call_id"), item.get("output", "")
        if not isinstance(call_id, str):
            raise missing_parameter(f"{where}.tool_call_id")
        if not isinstance(output, str):
            raise invalid_type(f"{where}.output", "a string", output)
        outputs.append({"tool_call_id": call_id, "output": output})
    return outputs


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Which page of a cursor list the query asks for."""

    limit: int
    descending: bool
    after: str | None
    before: str | None


def page_request(call: Call) -> PageRequest:
    """limit (1 to 100, default 20), order (desc by default, as OpenAI), after and before cursors."""
    raw_limit = query_param(call, "limit")
    limit = 20
    if raw_limit is not None:
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
            raise ProviderError(
                400,
                f"Invalid 'limit': expected an integer from 1 to 100, but got {quoted(raw_limit)} instead.",
                param="limit",
                code="invalid_value",
            )
        limit = int(raw_limit)
    order = query_param(call, "order") or "desc"
    if order not in ("asc", "desc"):
        raise ProviderError(
            400,
            f"Invalid value: {quoted(order)}. Supported values are: 'asc' and 'desc'.",
            param="order",
            code="invalid_value",
        )
    return PageRequest(limit, order == "desc", query_param(call, "after"), query_param(call, "before"))
