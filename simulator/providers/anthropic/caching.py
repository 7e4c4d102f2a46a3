"""Anthropic's prompt caching: the cache_control breakpoints of a Messages body.

A breakpoint may sit on a tool, a system block or a message's content block (or at the top
level: automatic caching, on the last block); the prompt's prefix up to it is written to
the cache for its ttl ("5m" by default, or "1h"), at most MAX_BREAKPOINTS of them. Docs:
https://platform.claude.com/docs/en/build-with-claude/prompt-caching

The engine's units are whole messages: a breakpoint on a block inside a message marks
the end of that message (a close approximation when, as usual, it is the last block).
"""

from __future__ import annotations

from typing import Any

from simulator.engine.types import CacheBreakpoint, PromptCaching
from simulator.providers.anthropic.errors import bad_request

MAX_BREAKPOINTS = 4
TTL_S = {"5m": 300.0, "1h": 3600.0}


def prompt_caching(body: dict[str, Any], units_per_message: list[int], has_system: bool) -> PromptCaching | None:
    """The request's breakpoints (None: it has none, nothing is cached).

    `units_per_message`: how many neutral messages each of body["messages"] became.
    """
    tools = body.get("tools") if isinstance(body.get("tools"), list) else []
    system = body.get("system") if isinstance(body.get("system"), list) else []
    marks: list[tuple[int, Any, str]] = []  # (unit, cache_control, path)
    custom = 0
    for i, tool in enumerate(tools):
        if isinstance(tool, dict) and (tool.get("type") in (None, "custom") or "input_schema" in tool):
            custom += 1
        if isinstance(tool, dict) and "cache_control" in tool:
            marks.append((custom - 1, tool["cache_control"], f"tools.{i}"))
    system_unit = custom if has_system else custom - 1
    for i, block in enumerate(system):
        if isinstance(block, dict) and "cache_control" in block:
            marks.append((system_unit, block["cache_control"], f"system.{i}"))
    end = system_unit
    for index, (message, units) in enumerate(zip(body["messages"], units_per_message, strict=True)):
        end += units
        content = message.get("content")
        for i, block in enumerate(content if isinstance(content, list) else ()):
            if isinstance(block, dict) and "cache_control" in block:
                marks.append((end, block["cache_control"], f"messages.{index}.content.{i}"))
    if "cache_control" in body:  # automatic caching: on the last block, as it grows
        marks.append((end, body["cache_control"], ""))
    marks = [mark for mark in marks if mark[1] is not None]
    if not marks:
        return None
    if len(marks) > MAX_BREAKPOINTS:
        limit, found = MAX_BREAKPOINTS, len(marks)
        raise bad_request("", f"A maximum of {limit} blocks with cache_control may be provided. Found {found}.")
    breakpoints = tuple(CacheBreakpoint(unit, _ttl_s(control, path)) for unit, control, path in marks)
    return PromptCaching(breakpoints=breakpoints)


def _ttl_s(control: Any, path: str) -> float:
    where = f"{path}.cache_control" if path else "cache_control"
    if not isinstance(control, dict):
        raise bad_request(where, "Input should be a valid dictionary")
    if control.get("type") != "ephemeral":
        raise bad_request(f"{where}.type", "Input should be 'ephemeral'")
    ttl = control.get("ttl", "5m")
    if not isinstance(ttl, str) or ttl not in TTL_S:
        raise bad_request(f"{where}.ttl", "Input should be '5m' or '1h'")
    return TTL_S[ttl]
