"""Prompt caching: which part of a prompt the provider serves from its cache.

A prompt is read as a chain of units: each tool definition, then each message. The prefix
ending at a unit (a boundary) is named by a hash of every unit up to it, scoped by the API
key, the model profile and the request's cache key, so the same prefix sent again is the
same name in every process. Each boundary carries the prompt tokens up to it, counted as
tokens.count_prompt counts them, so the cached figures add up to the prompt's.

The providers' rules (CompletionRequest.caching, set by each adapter):
- automatic (OpenAI, Gemini): every boundary of a prompt is stored; a request reads the
  longest stored boundary, rounded down to the provider's step (OpenAI: 128 tokens);
- breakpoints (Anthropic's cache_control): a prefix is written at each breakpoint and read
  at the longest earlier boundary that is stored (up to LOOKBACK_UNITS before a breakpoint).
A model caches only prefixes of at least its profile's `prompt_cache_min_tokens`.

    query = cache_query(request, scope, min_tokens, encoding)  # None: nothing can be cached
    found = store.look_up(query)                                # which candidates are stored
    cached = cached_prompt(query, found)                        # what the usage reports

LocalPromptCache is the store of one process; simulator.state.prompt_cache keeps it in Redis.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from simulator.engine.tokens import REPLY_PRIMING_TOKENS, TOOLS_END_TOKENS, message_tokens, tool_tokens
from simulator.engine.types import CompletionRequest, Message, PromptCaching, ToolDefinition

# Anthropic looks for a stored prefix at most this many blocks before each breakpoint.
LOOKBACK_UNITS = 20
# An automatic cache looks up at most this many boundaries: the first ones (shared system
# prompts and tools) and the last ones (the conversation so far). Bounds a Redis lookup.
_HEAD_BOUNDARIES = 8
_TAIL_BOUNDARIES = 56
# The most characters a token can stand for at the least: a token is at least one byte, and
# a character is at most four bytes of UTF-8.
_MAX_TOKENS_PER_CHAR = 4
# Room for the framing of a message (start, role, end) or of a tool, over its text.
_UNIT_OVERHEAD_TOKENS = 32


@dataclass(frozen=True, slots=True)
class Boundary:
    """A prefix of the prompt: its name, its prompt tokens, and how long a write keeps it."""

    key: str
    tokens: int
    ttl_s: float


@dataclass(frozen=True, slots=True)
class CacheQuery:
    """What to look up (candidates, shortest first) and what to store after the lookup."""

    prompt_tokens: int
    candidates: tuple[Boundary, ...]
    writes: tuple[Boundary, ...]
    step_tokens: int = 1
    # Breakpoint rules: writes are reported (cache_creation) and a hit is refreshed.
    explicit: bool = False
    # Prompt tokens the request reads whatever the store says (a Responses chain's earlier turns).
    assumed_tokens: int = 0


@dataclass(frozen=True, slots=True)
class CachedPrompt:
    """The prompt's tokens and how many were read from or written to the cache."""

    prompt_tokens: int
    read_tokens: int = 0
    write_tokens: int = 0
    # Of write_tokens, those written for longer than five minutes (Anthropic 1h: billed higher).
    write_1h_tokens: int = 0


def may_reach(request: CompletionRequest, min_tokens: int) -> bool:
    """Whether the prompt could have `min_tokens` tokens: a cheap bound on its characters.

    Most prompts are short: this spares them the hashing (and the Redis lookup).
    """
    budget = min_tokens - REPLY_PRIMING_TOKENS
    for tool in request.tools:  # tools are counted from their JSON schema: bound them loosely
        budget -= _UNIT_OVERHEAD_TOKENS + _max_tokens(tool.name) + _max_tokens(tool.description)
        budget -= len(orjson.dumps(tool.parameters)) * _MAX_TOKENS_PER_CHAR if tool.parameters else 0
        if budget <= 0:
            return True
    for message in request.messages:
        budget -= _UNIT_OVERHEAD_TOKENS + _max_tokens(message.content) + message.media_tokens
        if message.name:
            budget -= _max_tokens(message.name)
        for call in message.tool_calls:
            budget -= _UNIT_OVERHEAD_TOKENS + _max_tokens(call.name) + _max_tokens(call.arguments)
        if budget <= 0:
            return True
    return False


def _max_tokens(text: str) -> int:
    # str.isascii() is a flag CPython keeps: no scan of the text.
    return len(text) if text.isascii() else len(text) * _MAX_TOKENS_PER_CHAR


def cache_query(request: CompletionRequest, scope: str, min_tokens: int | None, encoding: str) -> CacheQuery | None:
    """The boundaries to look up and to store for `request`; None when nothing of it can be cached.

    `scope`: who shares a cache (the API key and model profile: scope_of); `min_tokens`: the model's shortest cacheable
    prefix (None: the model caches nothing).
    """
    caching = request.caching
    if caching is None or min_tokens is None:
        return None
    if caching.breakpoints is not None and not caching.breakpoints:
        return None
    if not may_reach(request, min_tokens):
        return None
    boundaries = _boundaries(request, caching, f"{scope}\0{caching.key}", encoding)
    prompt_tokens = (boundaries[-1].tokens if boundaries else 0) + REPLY_PRIMING_TOKENS
    if caching.breakpoints is None:
        return _automatic(boundaries, caching, min_tokens, prompt_tokens)
    return _explicit(boundaries, caching, min_tokens, prompt_tokens)


def scope_of(api_key: str, model_id: str) -> str:
    """Who shares cached prefixes: one API key (OpenAI: organization; Anthropic: workspace) on one model."""
    return f"{api_key}\0{model_id}"


def _boundaries(request: CompletionRequest, caching: PromptCaching, scope: str, encoding: str) -> list[Boundary]:
    """One boundary per unit (each tool, then each message), with the prompt tokens up to it."""
    chain = hashlib.blake2b(scope.encode(), digest_size=16)
    boundaries: list[Boundary] = []
    tokens = 0
    units: list[ToolDefinition | Message] = [*request.tools, *request.messages]
    for index, unit in enumerate(units):
        if isinstance(unit, ToolDefinition):
            tokens += tool_tokens(unit, encoding)
            if index == len(request.tools) - 1:
                tokens += TOOLS_END_TOKENS
        else:
            tokens += message_tokens(unit, encoding)
        chain.update(_unit_bytes(unit))
        boundaries.append(Boundary(chain.copy().hexdigest(), tokens, caching.ttl_s))
    return boundaries


def _unit_bytes(unit: ToolDefinition | Message) -> bytes:
    if isinstance(unit, ToolDefinition):
        fields: list[object] = ["tool", unit.name, unit.description, unit.parameters, unit.strict]
    else:
        calls = [[call.id, call.name, call.arguments] for call in unit.tool_calls]
        fields = ["message", unit.role, unit.content, unit.name, calls, unit.tool_call_id, unit.media_tokens]
    # The length first: no unit's bytes can run into the next one's.
    data = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    return len(data).to_bytes(8, "big") + data


def _automatic(
    boundaries: list[Boundary], caching: PromptCaching, min_tokens: int, prompt_tokens: int
) -> CacheQuery | None:
    cacheable = [boundary for boundary in boundaries if boundary.tokens >= min_tokens]
    if not cacheable:
        return None
    if len(cacheable) > _HEAD_BOUNDARIES + _TAIL_BOUNDARIES:
        cacheable = cacheable[:_HEAD_BOUNDARIES] + cacheable[-_TAIL_BOUNDARIES:]
    assumed = 0
    if caching.read_units:
        assumed = boundaries[min(caching.read_units, len(boundaries)) - 1].tokens
        assumed = assumed if assumed >= min_tokens else 0
    candidates = tuple(cacheable)
    return CacheQuery(prompt_tokens, candidates, candidates, caching.step_tokens, assumed_tokens=assumed)


def _explicit(
    boundaries: list[Boundary], caching: PromptCaching, min_tokens: int, prompt_tokens: int
) -> CacheQuery | None:
    breakpoints = sorted(caching.breakpoints or (), key=lambda point: point.unit)
    writes: list[Boundary] = []
    looked_at: dict[int, Boundary] = {}
    for point in breakpoints:
        if not 0 <= point.unit < len(boundaries):
            continue
        written = boundaries[point.unit]
        if written.tokens >= min_tokens:
            writes.append(Boundary(written.key, written.tokens, point.ttl_s))
        for unit in range(max(0, point.unit - LOOKBACK_UNITS + 1), point.unit + 1):
            if boundaries[unit].tokens >= min_tokens:
                looked_at[unit] = boundaries[unit]
    if not writes and not looked_at:
        return None
    candidates = tuple(looked_at[unit] for unit in sorted(looked_at))
    return CacheQuery(prompt_tokens, candidates, tuple(writes), explicit=True)


def cached_prompt(query: CacheQuery, found: Sequence[bool]) -> CachedPrompt:
    """What the request reads (the longest candidate found) and writes, by the provider's rules."""
    read = query.assumed_tokens
    for boundary, stored in zip(query.candidates, found, strict=True):
        if stored and boundary.tokens > read:
            read = boundary.tokens
    if not query.explicit:
        return CachedPrompt(query.prompt_tokens, read // query.step_tokens * query.step_tokens)
    written = hour = 0
    start = read
    for boundary in query.writes:  # in prompt order: each writes the part after the one before
        if boundary.tokens > start:
            written += boundary.tokens - start
            if boundary.ttl_s > FIVE_MINUTES_S:
                hour += boundary.tokens - start
            start = boundary.tokens
    return CachedPrompt(query.prompt_tokens, read, written, hour)


FIVE_MINUTES_S = 300.0


class LocalPromptCache:
    """The stored prefixes of one process: bounded, each forgotten at its lifetime's end."""

    def __init__(self, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._expiry: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key: (expires at, ttl)

    def look_up(self, query: CacheQuery) -> list[bool]:
        """Which candidates are stored; then store the query's writes and refresh a hit."""
        now = self.clock()
        found = [self._alive(boundary.key, now) for boundary in query.candidates]
        for boundary in query.writes:
            self._put(boundary.key, now, boundary.ttl_s)
        if query.explicit:
            hits = [boundary for boundary, stored in zip(query.candidates, found, strict=True) if stored]
            if hits:  # a hit keeps its prefix for another lifetime (Anthropic's refresh)
                longest = hits[-1]
                _, ttl = self._expiry[longest.key]
                self._put(longest.key, now, ttl)
        return found

    def __len__(self) -> int:
        return len(self._expiry)

    def clear(self) -> None:
        self._expiry.clear()

    def _alive(self, key: str, now: float) -> bool:
        entry = self._expiry.get(key)
        if entry is None:
            return False
        if entry[0] <= now:
            del self._expiry[key]
            return False
        return True

    def _put(self, key: str, now: float, ttl_s: float) -> None:
        self._expiry[key] = (now + ttl_s, ttl_s)
        self._expiry.move_to_end(key)
        while len(self._expiry) > self.max_entries:  # the least recently written goes first
            self._expiry.popitem(last=False)
