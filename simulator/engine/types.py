"""The neutral types shared by provider adapters and the engine.

The types made for every request (Message, CompletionRequest, Overrides, Usage,
ChoicePlan, Plan) are not frozen, though nothing changes one once made: a frozen
dataclass sets each field through object.__setattr__, which makes it about twice as
costly to create, and a request makes several. Change one with dataclasses.replace.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Any

# Model names are client input: memos keyed by them keep only names of a plausible
# length (a megabyte-long name is worked out anew each time, never kept).
MEMO_NAME_CHARS = 256


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call made by an earlier assistant turn (arguments as the JSON text sent)."""

    id: str
    name: str
    arguments: str


@dataclass(slots=True)
class Message:
    """One conversation turn, reduced to the text the tokenizer and generators need."""

    role: str
    content: str
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    # Prompt tokens of images, audio or files in the message, which `content` does not show.
    media_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    name: str
    description: str = ""
    parameters: dict[str, Any] | None = None
    strict: bool = False


@dataclass(frozen=True, slots=True)
class CacheBreakpoint:
    """An Anthropic cache_control mark: the prefix up to and including unit `unit` (tools
    first, then messages) is written to the cache for `ttl_s`."""

    unit: int
    ttl_s: float


@dataclass(frozen=True, slots=True)
class PromptCaching:
    """How the request's API caches its prompt (engine.prompt_cache reads it)."""

    # None: automatic, every prefix (OpenAI, Gemini); else the request's breakpoints (Anthropic).
    breakpoints: tuple[CacheBreakpoint, ...] | None = None
    ttl_s: float = 300.0  # how long a written prefix lives after its last use
    step_tokens: int = 1  # cached tokens are reported in multiples of this (OpenAI: 128)
    key: str = ""  # OpenAI's prompt_cache_key: prefixes are shared only under the same key
    # Leading units the provider holds already (a Responses previous_response_id chain).
    read_units: int = 0


@dataclass(slots=True)
class CompletionRequest:
    """A chat request in no provider's format."""

    model: str
    messages: tuple[Message, ...]
    tools: tuple[ToolDefinition, ...] = ()
    # None (auto when tools are offered), "auto", "none", "required" or {"name": <function>}.
    tool_choice: Any = None
    parallel_tool_calls: bool = True
    # None (text), {"type": "json_object"} or {"type": "json_schema", "name": ..., "schema": {...}}.
    response_format: dict[str, Any] | None = None
    # Cap on generated tokens, reasoning included (max_tokens / max_completion_tokens).
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    n: int = 1
    seed: int | None = None
    stream: bool = False
    include_usage: bool = False
    # Thinking the client asked for: at most this many reasoning tokens (0: none);
    # None: the model's default (reasoning models think, others do not).
    thinking_budget: int | None = None
    # Answer with the thinking as text (Anthropic thinking blocks, Gemini thought parts)
    # rather than as hidden reasoning tokens.
    show_thinking: bool = False
    # OpenAI's reasoning effort ("none", "minimal", "low", "medium", "high", "xhigh"):
    # how much a thinking model thinks relative to its usual (medium); None: medium.
    reasoning_effort: str | None = None
    # Log probabilities of the answer's tokens (OpenAI `logprobs`), with this many of the
    # most likely tokens at each position (`top_logprobs`, 0-20).
    logprobs: bool = False
    top_logprobs: int = 0
    # None: this API caches nothing of the prompt.
    caching: PromptCaching | None = None


@dataclass(slots=True)
class Overrides:
    """Per-request knobs, from the x-llmsim-* headers; None means "not set"."""

    ttft_ms: float | None = None
    tbt_ms: float | None = None
    tokens: int | None = None
    seed: int | None = None
    error_status: int | None = None


@dataclass(slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int = 0
    cached_tokens: int = 0  # read from the prompt cache (part of prompt_tokens)
    cache_write_tokens: int = 0  # written to the prompt cache (part of prompt_tokens; Anthropic)
    cache_write_1h_tokens: int = 0  # of those, written for an hour (Anthropic's ttl "1h")

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class ToolCallPlan:
    """A tool call the simulated model makes, its arguments cut into the tokens they stream in."""

    id_suffix: str  # adapters prefix it: call_…, toolu_…
    name: str
    arguments: str  # JSON text (cut short when max_tokens ran out)
    argument_pieces: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One token of the answer (its bytes: a whole character or more, or part of one), its log
    probability, and the most likely tokens at its position with theirs.

    `top` holds as many as the request asked for (top_logprobs), most likely first: the
    token itself, then the alternatives the model weighed. (Two tuples rather than one of
    pairs: an answer with top_logprobs 20 would make 20 more objects a token.)
    """

    raw: bytes
    logprob: float
    top: tuple[bytes, ...] = ()
    top_logprobs: tuple[float, ...] = ()


@dataclass(slots=True)
class ChoicePlan:
    """What one choice says: its text (or tool calls) as the tokens it is streamed in, and why it ends.

    Streaming steps: one per thinking piece (only when the request asked to see the
    thinking), then one per text piece, then per tool call one step for its name and
    one per argument piece.
    """

    pieces: tuple[str, ...]
    finish_reason: str  # "stop" | "length" | "tool_calls"
    completion_tokens: int = 0
    tool_calls: tuple[ToolCallPlan, ...] = ()
    # The stop sequence that cut the text (finish_reason "stop"), if one did.
    stop_sequence: str | None = None
    # Visible thinking before the answer (CompletionRequest.show_thinking); its tokens
    # are the plan's reasoning tokens, not part of completion_tokens.
    thinking_pieces: tuple[str, ...] = ()
    # When the request asked for logprobs: per text piece, the logprobs of its tokens
    # (one token, or the few that spell one character); None when it did not ask.
    logprobs: tuple[tuple[TokenLogprob, ...], ...] | None = None

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def thinking(self) -> str:
        return "".join(self.thinking_pieces)

    @property
    def step_count(self) -> int:
        steps = len(self.thinking_pieces) + len(self.pieces)
        for call in self.tool_calls:
            steps += 1 + len(call.argument_pieces)
        return steps


@dataclass(frozen=True, slots=True)
class InjectedError:
    """An error the simulator answers with instead of a completion."""

    status: int
    kind: str  # rate_limit | server_error | service_unavailable | timeout | forced
    # For timeouts: how long the request is held before the answer (or the drop).
    delay_s: float = 0.0
    # For timeouts: close the connection instead of answering 504.
    disconnect: bool = False
    retry_after_s: float | None = None
    # Set by response rules: what the error says (None: the provider's usual words and type).
    message: str | None = None
    error_type: str | None = None


@dataclass(frozen=True, slots=True)
class StreamFault:
    """Something that goes wrong after `after_tokens` tokens of an answer."""

    kind: str  # disconnect | error | stall
    after_tokens: int = 0
    stall_ms: float = 0.0
    status: int = 500  # for kind "error": what the in-stream error event says
    message: str | None = None


@dataclass(slots=True)
class Plan:
    """Everything an adapter needs to answer: content, usage and the timing schedule.

    `offsets_s[i]` is when streaming step i is due, in seconds after the request
    arrived; step i carries piece i of every choice that has one. With no steps the
    answer is due at `ttft_s`. An array of doubles (latency.token_offsets_s): a
    stream holds its plan until it ends.
    """

    model: str
    choices: tuple[ChoicePlan, ...]
    usage: Usage
    ttft_s: float
    offsets_s: array[float] = field(default_factory=lambda: array("d"))
    error: InjectedError | None = None
    # A disconnect or error after fault.after_tokens steps (a stall is already in offsets_s).
    fault: StreamFault | None = None
    rule: str = ""  # the response rule that shaped this answer, if any

    @property
    def duration_s(self) -> float:
        """When the whole answer is due (what a non-streaming reply waits for)."""
        return self.offsets_s[-1] if self.offsets_s else self.ttft_s
