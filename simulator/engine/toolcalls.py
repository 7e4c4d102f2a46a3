"""Tool calls: whether the simulated model calls tools, which ones, and with what arguments.

`plan_tool_calls()` decides from tool_choice, the conversation so far and the scenario's
ToolBehaviour; arguments are made from each tool's parameters schema (arguments.py).
After tool results, `tool_results_summary()` opens the final answer by referring to
them. `unknown_tool_call_ids()` finds tool messages that answer no call, which the
adapters refuse.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass

from simulator.engine.generators import last_user_text
from simulator.engine.schema import WorkLimit, dump_arguments, generate_arguments, name_words
from simulator.engine.types import CompletionRequest, Message, ToolDefinition


@dataclass(frozen=True, slots=True)
class ToolBehaviour:
    """How the simulated model uses the tools it is offered; the defaults are what users expect."""

    # With tool_choice "auto": how likely the model is to call a tool in reply to a user message.
    call_rate: float = 1.0
    # Tool-call turns the model takes after a user message before it answers in text.
    rounds: int = 1
    # Calls per turn when parallel_tool_calls is on (at most one per tool offered).
    parallel_calls: int = 1


@dataclass(frozen=True, slots=True)
class PlannedToolCall:
    """One call the model makes; `arguments` is JSON text as OpenAI sends it."""

    id_suffix: str  # adapters prefix it: call_…, toolu_…
    name: str
    arguments: str


ID_SUFFIX_LENGTH = 24
_ID_ALPHABET = string.ascii_letters + string.digits
_RESULT_CHARS = 80
# Tool ranking reads this much of the user's message from each end (where the ask
# usually is), and of each tool description: its cost must not grow with the prompt.
_RANKING_CHARS = 2_000
# Words that say nothing about which tool a message wants ("get" starts half of all tool names).
_STOP_WORDS = frozenset(
    "a an and are as at be by can could do does for from get give how i in is it me my of on or please set "
    "show some tell than that the this to us want was we what whats when where which who why will with would "
    "you your".split()
)


def plan_tool_calls(
    request: CompletionRequest,
    behaviour: ToolBehaviour,
    rng: random.Random,
    parallel: bool = True,
    work: WorkLimit | None = None,
) -> tuple[PlannedToolCall, ...]:
    """The tool calls the model makes in reply to `request` (empty: it answers in text).

    tool_choice "none" never calls, a named function is always called (once), and
    "required" always calls. "auto" (or None) calls after a user message with
    probability `behaviour.call_rate`, and again after tool results until
    `behaviour.rounds` tool-call turns followed the last user message. With
    `parallel`, a turn calls up to `behaviour.parallel_calls` distinct tools.
    The tools called are those whose name and description best match the user's
    last message. `work` bounds what generating their arguments may cost (the
    request's, shared by its choices). Raises ValueError for a tool_choice that is
    none of these.
    """
    if not request.tools:
        return ()
    choice = "auto" if request.tool_choice is None else request.tool_choice
    context = last_user_text(request.messages)
    if isinstance(choice, dict):
        return (_call(_named_tool(request.tools, choice), rng, context, work),)
    if choice == "none":
        return ()
    if choice == "auto":
        if not _wants_a_tool(request.messages, behaviour, rng):
            return ()
    elif choice != "required":
        raise ValueError(f"unknown tool_choice {choice!r}; expected none, auto, required or {{'name': ...}}")
    count = min(max(behaviour.parallel_calls, 1), len(request.tools)) if parallel else 1
    ranked = _ranked(request.tools, request.messages)[:count]
    return tuple(_call(tool, rng, context, work) for tool in ranked)


def tool_results_summary(messages: Sequence[Message]) -> str:
    """A sentence referring to the tool results the conversation ends with ("" when it ends otherwise).

    Names each tool (found through its tool_call_id) and quotes its result, cut short:
    'Based on get_weather: {"temp": 21}.'
    """
    results: list[Message] = []
    for message in reversed(messages):
        if message.role not in ("tool", "function"):
            break
        results.append(message)
    if not results:
        return ""
    names = {call.id: call.name for message in messages for call in message.tool_calls}
    parts = [
        f"{names.get(result.tool_call_id or '') or result.name or 'the tool'}: {_quoted(result.content)}"
        for result in reversed(results)
    ]
    summary = "Based on " + "; ".join(parts)
    return summary if summary.endswith((".", "!", "?", "…")) else summary + "."


def unknown_tool_call_ids(messages: Sequence[Message]) -> list[str]:
    """The tool_call_ids of tool messages that answer no tool call of an earlier assistant message.

    Tool messages without a tool_call_id are left to the adapter's field validation.
    """
    known: set[str] = set()
    unknown: list[str] = []
    for message in messages:
        if message.role == "assistant":
            known.update(call.id for call in message.tool_calls)
        elif message.role == "tool" and message.tool_call_id is not None and message.tool_call_id not in known:
            unknown.append(message.tool_call_id)
    return list(dict.fromkeys(unknown))


def new_id_suffix(rng: random.Random) -> str:
    """The random part of a tool call's id (adapters prefix it: call_…, toolu_…)."""
    return "".join(rng.choices(_ID_ALPHABET, k=ID_SUFFIX_LENGTH))


def _call(tool: ToolDefinition, rng: random.Random, context: str, work: WorkLimit | None) -> PlannedToolCall:
    id_suffix = new_id_suffix(rng)
    arguments = dump_arguments(generate_arguments(tool.parameters, rng, context=context, work=work))
    return PlannedToolCall(id_suffix=id_suffix, name=tool.name, arguments=arguments)


def _named_tool(tools: Sequence[ToolDefinition], choice: dict) -> ToolDefinition:
    # {"name": ...} from the adapters; OpenAI's own {"function": {"name": ...}} is read too.
    name = choice.get("name") or (choice.get("function") or {}).get("name")
    for tool in tools:
        if tool.name == name:
            return tool
    raise ValueError(f"tool_choice names {name!r}, which is not among the tools offered")


def _since_last_user(messages: Sequence[Message]) -> Sequence[Message]:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            return messages[index + 1 :]
    return messages


def _wants_a_tool(messages: Sequence[Message], behaviour: ToolBehaviour, rng: random.Random) -> bool:
    """With tool_choice "auto": whether this turn is a tool-call turn."""
    if not messages or messages[-1].role == "assistant":
        return False
    rounds_taken = sum(
        1 for message in _since_last_user(messages) if message.role == "assistant" and message.tool_calls
    )
    if rounds_taken >= behaviour.rounds:
        return False  # enough tool calls: the model answers in text
    role = messages[-1].role
    if role in ("tool", "function"):
        return True  # the same request goes on, as agents do
    opening = role in ("system", "developer") and not any(message.role == "assistant" for message in messages)
    return (role == "user" or opening) and rng.random() < behaviour.call_rate


def _stem(word: str) -> str:
    """Plurals and their singulars alike: "forecasts" and "forecast"."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _keywords(text: str) -> set[str]:
    if len(text) > 2 * _RANKING_CHARS:
        text = f"{text[:_RANKING_CHARS]} {text[-_RANKING_CHARS:]}"
    # "What's" is one word (whats), not "what" and "s"; also with a typographic apostrophe.
    words = (_stem(word) for word in name_words(re.sub("['\u2019]", "", text)))
    return {word for word in words if len(word) > 1 and word not in _STOP_WORDS}


def _ranked(tools: Sequence[ToolDefinition], messages: Sequence[Message]) -> list[ToolDefinition]:
    """The tools, best match to the user's last message first (ties: the order offered).

    A word of the message in a tool's name counts twice, in its description once. In a
    later round of the same request, tools not yet called come first.
    """
    wanted = _keywords(last_user_text(messages))
    called = {call.name for message in _since_last_user(messages) for call in message.tool_calls}

    def score(tool: ToolDefinition) -> int:
        in_name = _keywords(tool.name)
        in_description = _keywords(tool.description)
        return sum(2 if word in in_name else 1 if word in in_description else 0 for word in wanted)

    order = sorted(range(len(tools)), key=lambda index: (tools[index].name in called, -score(tools[index]), index))
    return [tools[index] for index in order]


def _quoted(result: str) -> str:
    text = " ".join(result.split())
    if not text:
        return "(no content)"
    return text if len(text) <= _RESULT_CHARS else text[: _RESULT_CHARS - 1].rstrip() + "…"
