"""A rule's answer: the Action each step plays, parsed from plain data.

`parse_action()` turns a rule's action (from the admin, YAML or the management API)
into its steps and refuses unknown fields with a message naming the path:

    text: "Hello"                                   # fixed text, streamed on the latency schedule
    content: "Hello"                                # the seed's name for text
    tool_calls: [{name: get_weather, arguments: {city: Paris}}]
    json: {"answer": 42}                            # content is this JSON
    error: {status: 429, message: "...", type: rate_limit_error, retry_after_ms: 1000}
    latency: {ttft_ms: 50, tbt_ms: 5}               # alone, or next to one of the others
    fault: {kind: disconnect | error | stall, after_tokens: 5, stall_ms: 2000, status: 500, message: "..."}
    generate: true                                  # answer as the model normally would
    sequence: [{error: {status: 429}, times: 2}, {generate: true}]
    scope: conversation | api_key | global          # whose position in the sequence (default conversation)
    when_exhausted: repeat_last | loop | error      # after the last step (default repeat_last)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simulator.engine.types import StreamFault


class RuleError(ValueError):
    """A rule that cannot be used; the message names the field."""


ACTION_KINDS = ("text", "tool_calls", "json", "error", "generate")
FAULT_KINDS = ("disconnect", "error", "stall")
SCOPES = ("conversation", "api_key", "global")
WHEN_EXHAUSTED = ("repeat_last", "loop", "error")
# Error statuses a rule may answer with (the providers' own).
ERROR_STATUSES = frozenset({400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504, 529})


@dataclass(frozen=True, slots=True)
class ScriptedToolCall:
    """A tool call a rule answers with."""

    name: str
    arguments: dict[str, Any] | None = None  # None: generated from the offered tool's schema


@dataclass(frozen=True, slots=True)
class ScriptedError:
    """An error a rule answers with."""

    status: int
    message: str | None = None  # None: the provider's usual message for the status
    error_type: str | None = None  # the provider's error type, e.g. rate_limit_error; None: usual for the status
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """One scripted answer. `kind` says what replaces the generated answer; latency and fault add to it."""

    kind: str = "generate"  # text | tool_calls | json | error | generate
    text: str = ""
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    json: Any = None
    error: ScriptedError | None = None
    ttft_ms: float | None = None
    tbt_ms: float | None = None
    fault: StreamFault | None = None
    times: int = 1  # in a sequence: how many requests in a row get this step


_ACTION_KEYS = {"text", "content", "tool_calls", "json", "error", "latency", "fault", "generate", "times"}
_RULE_ACTION_KEYS = _ACTION_KEYS | {"sequence", "scope", "when_exhausted"}


def _expect(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise RuleError(f"{where}: must be {what}")
    if not isinstance(value, kind):
        raise RuleError(f"{where}: must be {what}")
    return value


def _unknown(data: Mapping[str, Any], known: set[str], where: str) -> None:
    extra = sorted(set(data) - known)
    if extra:
        raise RuleError(f"{where}: unknown field {extra[0]!r}; known: {', '.join(sorted(known))}")


def _number(data: Mapping[str, Any], key: str, where: str, low: float = 0) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    _expect(value, (int, float), f"{where}.{key}", "a number")
    if value < low:
        raise RuleError(f"{where}.{key}: must be at least {low:g}")
    return float(value)


def _parse_error(data: Any, where: str) -> ScriptedError:
    if isinstance(data, int) and not isinstance(data, bool):
        data = {"status": data}
    _expect(data, dict, where, "a status or a mapping with status, message, type, retry_after_ms")
    _unknown(data, {"status", "message", "type", "retry_after_ms"}, where)
    status = data.get("status")
    if isinstance(status, bool) or not isinstance(status, int) or status not in ERROR_STATUSES:
        raise RuleError(f"{where}.status: must be one of {', '.join(map(str, sorted(ERROR_STATUSES)))}")
    message = data.get("message")
    if message is not None:
        _expect(message, str, f"{where}.message", "a string")
    kind = data.get("type")
    if kind is not None:
        _expect(kind, str, f"{where}.type", "a string")
    retry = _number(data, "retry_after_ms", where)
    return ScriptedError(status, message, kind, None if retry is None else retry / 1000.0)


def _parse_fault(data: Any, where: str) -> StreamFault:
    _expect(data, dict, where, "a mapping with kind, after_tokens, stall_ms, status, message")
    _unknown(data, {"kind", "after_tokens", "stall_ms", "status", "message"}, where)
    kind = data.get("kind")
    if kind not in FAULT_KINDS:
        raise RuleError(f"{where}.kind: must be one of {', '.join(FAULT_KINDS)}")
    after = data.get("after_tokens", 0)
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise RuleError(f"{where}.after_tokens: must be a whole number >= 0")
    stall = _number(data, "stall_ms", where) or 0.0
    if kind == "stall" and stall <= 0:
        raise RuleError(f"{where}.stall_ms: a stall needs a duration > 0")
    status = data.get("status", 500)
    if isinstance(status, bool) or not isinstance(status, int) or status not in ERROR_STATUSES:
        raise RuleError(f"{where}.status: must be one of {', '.join(map(str, sorted(ERROR_STATUSES)))}")
    message = data.get("message")
    if message is not None:
        _expect(message, str, f"{where}.message", "a string")
    return StreamFault(kind, after, stall, status, message)


def _parse_tool_calls(data: Any, where: str) -> tuple[ScriptedToolCall, ...]:
    if isinstance(data, dict):
        data = [data]
    _expect(data, list, where, "a list of {name, arguments}")
    if not data:
        raise RuleError(f"{where}: needs at least one call")
    calls = []
    for i, item in enumerate(data):
        at = f"{where}[{i}]"
        _expect(item, dict, at, "a mapping with name and arguments")
        _unknown(item, {"name", "arguments"}, at)
        name = item.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", name):
            raise RuleError(f"{at}.name: must be a function name (letters, digits, _ and -, at most 64)")
        arguments = item.get("arguments")
        if arguments is not None:
            _expect(arguments, dict, f"{at}.arguments", "a mapping")
        calls.append(ScriptedToolCall(name, arguments))
    return tuple(calls)


def parse_step(data: Any, where: str = "action") -> Action:
    """One action from plain data; RuleError naming the field when it is wrong."""
    if isinstance(data, str):
        data = {"text": data}
    _expect(data, dict, where, "a mapping (text, tool_calls, json, error, latency, fault, generate)")
    _unknown(data, _ACTION_KEYS, where)
    # `content` is the seed's name for text (its mocks answer `response: {content: ...}`).
    kinds = [key for key in ("text", "content", "tool_calls", "json", "error", "generate") if key in data]
    if len(kinds) > 1:
        raise RuleError(f"{where}: use one of text, tool_calls, json, error, generate, not {' and '.join(kinds)}")
    if not kinds and "latency" not in data and "fault" not in data:
        raise RuleError(f"{where}: needs one of text, tool_calls, json, error, generate, latency, fault")
    kind = kinds[0] if kinds else "generate"
    fields: dict[str, Any] = {"kind": "text" if kind == "content" else kind}
    if kind in ("text", "content"):
        fields["text"] = _expect(data[kind], str, f"{where}.{kind}", "a string")
    elif kind == "tool_calls":
        fields["tool_calls"] = _parse_tool_calls(data["tool_calls"], f"{where}.tool_calls")
    elif kind == "json":
        fields["json"] = data["json"]
    elif kind == "error":
        fields["error"] = _parse_error(data["error"], f"{where}.error")
    elif data.get("generate") not in (None, True):
        raise RuleError(f"{where}.generate: must be true")
    latency = data.get("latency")
    if latency is not None:
        _expect(latency, dict, f"{where}.latency", "a mapping with ttft_ms and/or tbt_ms")
        _unknown(latency, {"ttft_ms", "tbt_ms"}, f"{where}.latency")
        fields["ttft_ms"] = _number(latency, "ttft_ms", f"{where}.latency")
        fields["tbt_ms"] = _number(latency, "tbt_ms", f"{where}.latency")
    if data.get("fault") is not None:
        fields["fault"] = _parse_fault(data["fault"], f"{where}.fault")
    times = data.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise RuleError(f"{where}.times: must be a whole number >= 1")
    fields["times"] = times
    return Action(**fields)


def parse_action(data: Any, where: str = "action") -> tuple[tuple[Action, ...], str, str]:
    """A rule's action (one step or a sequence) → (steps, scope, when_exhausted)."""
    if isinstance(data, dict):
        _unknown(data, _RULE_ACTION_KEYS, where)
        scope = data.get("scope", "conversation")
        if scope not in SCOPES:
            raise RuleError(f"{where}.scope: must be one of {', '.join(SCOPES)}")
        exhausted = data.get("when_exhausted", "repeat_last")
        if exhausted not in WHEN_EXHAUSTED:
            raise RuleError(f"{where}.when_exhausted: must be one of {', '.join(WHEN_EXHAUSTED)}")
        if "sequence" in data:
            rest = set(data) - {"sequence", "scope", "when_exhausted"}
            if rest:
                raise RuleError(f"{where}: put {sorted(rest)[0]!r} inside a step of the sequence")
            steps = data["sequence"]
            _expect(steps, list, f"{where}.sequence", "a list of steps")
            if not steps:
                raise RuleError(f"{where}.sequence: needs at least one step")
            return tuple(parse_step(s, f"{where}.sequence[{i}]") for i, s in enumerate(steps)), scope, exhausted
        step = {k: v for k, v in data.items() if k not in ("scope", "when_exhausted")}
        return (parse_step(step, where),), scope, exhausted
    return (parse_step(data, where),), "conversation", "repeat_last"
