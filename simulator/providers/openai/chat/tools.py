"""The tools of a Chat Completions body: definitions, tool choice, and the tool-call turns.

`tools` and the legacy `functions` / `function_call`, validated as OpenAI does, become
the neutral tools and tool choice; a conversation's tool calls and their results are
checked to pair up as the API requires.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from simulator.engine.types import Message, ToolCall, ToolDefinition
from simulator.providers.openai.validate import (
    MAX_TOOLS,
    boolean_field,
    function_definition,
    function_name,
    invalid_type,
    missing_parameter,
    too_long,
)
from simulator.server.http import ProviderError, quoted

# The body fields that concern tools: a body without any skips tool_fields.
TOOL_KEYS = frozenset({"tools", "tool_choice", "parallel_tool_calls", "functions", "function_call"})


@dataclass(frozen=True, slots=True)
class ChatTools:
    """What a body says about tools, in the engine's terms."""

    tools: tuple[ToolDefinition, ...]
    tool_choice: Any  # None, "auto", "none", "required" or {"name": ...}
    parallel: bool  # whether the model may call several at once


NO_TOOLS = ChatTools(tools=(), tool_choice=None, parallel=True)


def tool_fields(body: dict[str, Any]) -> ChatTools:
    """tools / functions, the neutral tool choice and whether parallel calls are allowed."""
    tools = _definitions_of(body.get("tools"), "tools")
    if body.get("functions") is not None:
        if tools:
            raise ProviderError(
                400, "Invalid request: 'functions' and 'tools' cannot both be set; use 'tools'.", param="functions"
            )
        tools = _definitions_of(body.get("functions"), "functions")
        # A legacy function call is always one call.
        return ChatTools(tools, parse_tool_choice(body.get("function_call"), tools, "function_call"), False)
    tool_choice = parse_tool_choice(body.get("tool_choice"), tools)
    parallel = boolean_field(body, "parallel_tool_calls")
    if parallel is not None and not tools:
        raise _only_with_tools("parallel_tool_calls")
    if isinstance(tool_choice, dict) and "allowed" in tool_choice:
        tools = tuple(tool for tool in tools if tool.name in tool_choice["allowed"])
        tool_choice = tool_choice["mode"]
    return ChatTools(tools, tool_choice, parallel is not False)


def parse_tool_calls(raw: Any, param: str) -> tuple[ToolCall, ...]:
    """An assistant turn's `tool_calls`, as neutral tool calls."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise invalid_type(param, "an array", raw)
    calls = []
    for i, call in enumerate(raw):
        where = f"{param}[{i}]"
        if not isinstance(call, dict):
            raise invalid_type(where, "an object", call)
        function = call.get("function")
        if not isinstance(function, dict):
            raise missing_parameter(f"{where}.function")
        if not isinstance(call.get("id"), str):
            raise missing_parameter(f"{where}.id")
        name, arguments = function.get("name"), function.get("arguments", "")
        if not isinstance(name, str):
            raise missing_parameter(f"{where}.function.name")
        if not isinstance(arguments, str):
            raise invalid_type(f"{where}.function.arguments", "a string", arguments)
        calls.append(ToolCall(id=call["id"], name=name, arguments=arguments))
    return tuple(calls)


# Ids given to legacy function_call turns, which have none on the wire.
_LEGACY_CALL_ID = "function_call_"


def parse_legacy_call(raw: Any, param: str, index: int) -> ToolCall:
    """An assistant turn's legacy function_call, as a tool call with an id of our own."""
    if not isinstance(raw, dict):
        raise invalid_type(param, "an object", raw)
    name, arguments = raw.get("name"), raw.get("arguments", "")
    if not isinstance(name, str):
        raise missing_parameter(f"{param}.name")
    if not isinstance(arguments, str):
        raise invalid_type(f"{param}.arguments", "a string", arguments)
    return ToolCall(id=f"{_LEGACY_CALL_ID}{index}", name=name, arguments=arguments)


def _definitions_of(raw: Any, key: str) -> tuple[ToolDefinition, ...]:
    """`tools` (each {"type": "function", "function": {...}}) or the legacy `functions` list."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise invalid_type(key, "an array", raw)
    if len(raw) > MAX_TOOLS:
        raise too_long(key, MAX_TOOLS, len(raw))
    tools = []
    for i, tool in enumerate(raw):
        where = f"{key}[{i}]"
        if key == "functions":
            tools.append(function_definition(tool, where))
            continue
        if not isinstance(tool, dict):
            raise invalid_type(where, "an object", tool)
        kind = tool.get("type")
        if kind is None:
            raise missing_parameter(f"{where}.type")
        if kind != "function":
            raise ProviderError(
                400,
                f"Invalid value: {quoted(kind)}. Supported values are: 'function'.",
                param=f"{where}.type",
                code="invalid_value",
            )
        if tool.get("function") is None:
            raise missing_parameter(f"{where}.function")
        tools.append(function_definition(tool["function"], f"{where}.function"))
    return tuple(tools)


def _only_with_tools(key: str) -> ProviderError:
    return ProviderError(
        400,
        f"Invalid value for '{key}': '{key}' is only allowed when 'tools' are specified.",
        param=key,
        code="invalid_value",
    )


def parse_tool_choice(raw: Any, tools: tuple[ToolDefinition, ...], key: str = "tool_choice") -> Any:
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
        raise invalid_type(key, "a string or an object", raw)
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
            raise missing_parameter(f"{key}.function")
        name = function_name(function.get("name"), f"{key}.function.name")
    else:
        name = function_name(raw.get("name"), f"{key}.name")
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
        raise missing_parameter("tool_choice.allowed_tools")
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
        raise missing_parameter("tool_choice.allowed_tools.tools")
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
            continue  # a legacy function result (see legacy_function_messages)
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


def legacy_function_messages(messages: tuple[Message, ...]) -> tuple[Message, ...]:
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
