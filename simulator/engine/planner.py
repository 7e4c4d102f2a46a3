"""The engine's decision: from a neutral request to a Plan an adapter can render."""

from __future__ import annotations

import random
from dataclasses import replace

from simulator.engine.errors import forced_error, pick_error, pick_fault
from simulator.engine.generators import generate, last_user_text, source_text, token_pieces
from simulator.engine.latency import LatencyProfile, delayed_from, sample_ttft_s, slowed, token_offsets_s
from simulator.engine.logprobs import answer_logprobs
from simulator.engine.prompt_cache import CachedPrompt
from simulator.engine.rules import Action
from simulator.engine.schema import WorkLimit, dump_arguments, generate_arguments, generate_value
from simulator.engine.snapshot import ModelSpec, Scenario
from simulator.engine.tokens import count_prompt, count_text, encode
from simulator.engine.toolcalls import PlannedToolCall, new_id_suffix, plan_tool_calls, tool_results_summary
from simulator.engine.types import ChoicePlan, CompletionRequest, InjectedError, Overrides, Plan, ToolCallPlan, Usage

# Reasoning models with no time between tokens (instant latency) still think a little.
_MIN_REASONING_TOKENS = 16

# Reasoning effort → how much the model thinks, relative to its usual (medium) thinking.
# A model thinks during its time to first token, so the effort scales both.
EFFORT_SCALE = {"none": 0.0, "minimal": 0.25, "low": 0.5, "medium": 1.0, "high": 2.0, "xhigh": 3.0}
# Thinking little or not at all still leaves the prompt to read: the time to first token
# shrinks to no less than this share of the usual.
_MIN_EFFORT_TTFT_SCALE = 0.25


class ContextLengthExceeded(ValueError):
    def __init__(self, limit: int, prompt_tokens: int) -> None:
        super().__init__(f"context window {limit}, prompt {prompt_tokens}")
        self.limit = limit
        self.prompt_tokens = prompt_tokens


# Unseeded requests share one generator: creating a Random() reads the OS entropy
# pool and costs more than planning a whole answer. (One event-loop thread uses it.)
_unseeded = random.Random()


def request_seed(request: CompletionRequest, overrides: Overrides, scenario: Scenario) -> int | None:
    """The request's seed: x-llmsim-seed, then `seed`, then the global seed (None: unseeded)."""
    if overrides.seed is not None:
        return overrides.seed
    return request.seed if request.seed is not None else scenario.seed


def make_rng(request: CompletionRequest, overrides: Overrides, scenario: Scenario) -> random.Random:
    """The request's random source: seeded (see request_seed) or shared."""
    seed = request_seed(request, overrides, scenario)
    return _unseeded if seed is None else random.Random(seed)


def with_logprobs(choices: tuple[ChoicePlan, ...], encoding: str, top: int, seed: int | None) -> tuple[ChoicePlan, ...]:
    """The choices with the logprobs of their text's tokens.

    From a random source of their own, so that asking for logprobs changes nothing
    else of a seeded answer (its text, timing and faults stay as without).
    """
    rng = _unseeded if seed is None else random.Random(f"logprobs/{seed}")
    return tuple(replace(choice, logprobs=answer_logprobs(choice.pieces, encoding, rng, top)) for choice in choices)


def latency_for(spec: ModelSpec, scenario: Scenario, overrides: Overrides) -> LatencyProfile:
    latency = scenario.latency_override or spec.latency
    if overrides.ttft_ms is not None or overrides.tbt_ms is not None:
        latency = latency.with_fixed(overrides.ttft_ms, overrides.tbt_ms)
    return latency


def reasoning_tokens(latency: LatencyProfile, ttft_s: float, visible_target: int) -> int:
    """Hidden reasoning a reasoning model does before its first visible token.

    The model thinks for the time to first token at its usual token rate, so the count
    is TTFT / TBT; with no time between tokens it is the visible length.
    """
    if latency.tbt_mean_ms > 0:
        return max(_MIN_REASONING_TOKENS, round(ttft_s * 1000.0 / latency.tbt_mean_ms))
    return max(_MIN_REASONING_TOKENS, visible_target)


def thinking_tokens(
    request: CompletionRequest, spec: ModelSpec, latency: LatencyProfile, ttft_s: float, visible_target: int
) -> int:
    """How many tokens the model thinks: reasoning models by default, any model the request asks to think.

    The request's thinking budget (Anthropic budget_tokens, Gemini thinkingBudget) caps
    it; a budget of 0 turns thinking off. Its reasoning effort (OpenAI) scales it through
    `ttft_s`, which the caller has scaled already (effort_ttft_scale); "none" turns it off.
    """
    if not thinks(request, spec):
        return 0
    scale = EFFORT_SCALE.get(request.reasoning_effort or "medium", 1.0)
    if scale == 0:
        return 0
    tokens = reasoning_tokens(latency, ttft_s, visible_target)
    if latency.tbt_mean_ms <= 0:  # no thinking time to scale (ttft_s is): scale the count itself
        tokens = max(1, round(tokens * scale))
    budget = request.thinking_budget
    return tokens if budget is None else min(tokens, budget)


def thinks(request: CompletionRequest, spec: ModelSpec) -> bool:
    """Whether the model thinks: reasoning models unless the budget is 0, others when given a budget."""
    budget = request.thinking_budget
    return spec.reasoning if budget is None else budget > 0


def effort_ttft_scale(request: CompletionRequest, spec: ModelSpec) -> float:
    """How the request's reasoning effort stretches or shrinks a thinking model's time to first token."""
    if request.reasoning_effort is None or not thinks(request, spec):
        return 1.0
    return max(EFFORT_SCALE.get(request.reasoning_effort, 1.0), _MIN_EFFORT_TTFT_SCALE)


def thinking_text(rng: random.Random, tokens: int, encoding: str) -> tuple[str, ...]:
    """Visible thinking of exactly `tokens` tokens, as the pieces it streams in."""
    return generate("random", rng, target_tokens=tokens, encoding=encoding).pieces


NO_OVERRIDES = Overrides()


def plan(
    request: CompletionRequest,
    spec: ModelSpec,
    scenario: Scenario,
    overrides: Overrides = NO_OVERRIDES,
    action: Action | None = None,
    rule: str = "",
    cached: CachedPrompt | None = None,
    stretch: float = 1.0,
    waited_s: float = 0.0,
) -> Plan:
    """Decide the whole answer: injected error, or content, usage and timing.

    `action` is what a matching response rule scripts (None: the scenario decides).
    `cached`: the prompt cache's part (engine.prompt_cache), counted already; what it
    read takes no prefill time.
    Under load (engine.load) the gaps and prefill are `stretch` times as long and the
    first token comes `waited_s` later (the time the request queued).
    Raises ContextLengthExceeded when the prompt does not fit the model.
    """
    rng = make_rng(request, overrides, scenario)
    if action is not None and (action.ttft_ms is not None or action.tbt_ms is not None):
        # Headers still win: a test pinning one request's timing outranks the scenario.
        overrides = replace(
            overrides,
            ttft_ms=overrides.ttft_ms if overrides.ttft_ms is not None else action.ttft_ms,
            tbt_ms=overrides.tbt_ms if overrides.tbt_ms is not None else action.tbt_ms,
        )
    usual = latency_for(spec, scenario, overrides)
    latency = slowed(usual, stretch)

    if action is not None and action.error is not None and overrides.error_status is None:
        scripted = action.error
        error = InjectedError(
            scripted.status,
            "rule",
            retry_after_s=scripted.retry_after_s,
            message=scripted.message,
            error_type=scripted.error_type,
        )
        return Plan(model=request.model, choices=(), usage=Usage(0, 0), ttft_s=0.0, error=error, rule=rule)
    if overrides.error_status is not None:
        error = forced_error(overrides.error_status, scenario.errors)
    else:
        error = pick_error(scenario.errors, rng)
    if error is not None:
        return Plan(model=request.model, choices=(), usage=Usage(0, 0), ttft_s=0.0, error=error)

    if cached is None:
        prompt_tokens = count_prompt(request.messages, request.tools, spec.encoding)
        read_tokens = 0
    else:
        prompt_tokens, read_tokens = cached.prompt_tokens, cached.read_tokens
    if prompt_tokens > spec.context_window:
        raise ContextLengthExceeded(spec.context_window, prompt_tokens)

    target = overrides.tokens if overrides.tokens is not None else scenario.target_tokens
    ttft_s = sample_ttft_s(latency, rng, prompt_tokens - read_tokens) * effort_ttft_scale(request, spec)
    # Counted at the usual speed: load slows the thinking down, it does not cut it short.
    thinking = thinking_tokens(request, spec, usual, ttft_s, target)
    ttft_s += waited_s  # after thinking_tokens: time in the queue is no time spent thinking
    # Without max_tokens the model still stops at its own output limit, as real ones do.
    cap = spec.max_output_tokens if request.max_tokens is None else request.max_tokens
    budget = cap - thinking
    if budget < 0:
        thinking, budget = cap, 0

    work = WorkLimit()  # what generating tool arguments and JSON may cost, for all n choices together
    choices = tuple([answer(request, spec, scenario, rng, target, budget, action, work) for _ in range(request.n)])
    if request.show_thinking and thinking:
        choices = tuple(
            replace(choice, thinking_pieces=thinking_text(rng, thinking, spec.encoding)) for choice in choices
        )
    if request.logprobs:
        seed = request_seed(request, overrides, scenario)
        choices = with_logprobs(choices, spec.encoding, request.top_logprobs, seed)
    steps = 0
    completion = thinking * request.n
    for choice in choices:
        steps = max(steps, choice.step_count)
        completion += choice.completion_tokens
    offsets = token_offsets_s(latency, rng, ttft_s, steps)
    usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion, reasoning_tokens=thinking * request.n)
    if cached is not None:
        usage = replace(
            usage,
            cached_tokens=read_tokens,
            cache_write_tokens=cached.write_tokens,
            cache_write_1h_tokens=cached.write_1h_tokens,
        )
    fault = action.fault if action is not None else None
    if fault is None and request.stream:
        fault = pick_fault(scenario.errors, rng)
    if fault is not None and fault.kind == "stall":
        # No bytes for the stall, then the rest of the answer, later by as much.
        offsets = delayed_from(offsets, fault.after_tokens, fault.stall_ms / 1000.0)
        fault = None
    return Plan(
        model=request.model,
        choices=choices,
        usage=usage,
        ttft_s=ttft_s,
        offsets_s=offsets,
        fault=fault,
        rule=rule,
    )


# Tokens a tool call costs beyond its name and arguments (the call's framing in the
# model's output format).
TOOL_CALL_OVERHEAD_TOKENS = 3


def answer(
    request: CompletionRequest,
    spec: ModelSpec,
    scenario: Scenario,
    rng: random.Random,
    target: int,
    budget: int,
    action: Action | None = None,
    work: WorkLimit | None = None,
) -> ChoicePlan:
    """One choice: what a rule scripts, else tool calls when the model calls tools, else JSON or text."""
    if action is not None and action.kind != "generate":
        return scripted_choice(request, spec, rng, budget, action, work)
    if request.tools:
        calls = plan_tool_calls(request, scenario.tools, rng, parallel=request.parallel_tool_calls, work=work)
        if calls:
            # A function named by tool_choice ends with "stop" on the live API; the SDKs accept both.
            named = isinstance(request.tool_choice, dict)
            return tool_call_choice(calls, spec.encoding, budget, "stop" if named else "tool_calls")

    kind, fixed_text = scenario.generator, scenario.fixed_text
    if request.response_format is not None:
        kind, fixed_text = "fixed", structured_text(request, rng, target, work)
    elif request.messages and request.messages[-1].role in ("tool", "function") and kind != "fixed":
        summary = tool_results_summary(request.messages)
        if summary:
            # After tool results the model answers about them, then goes on as usual.
            words = source_text(kind, rng, target, request.messages, fixed_text)
            kind, fixed_text = "fixed", f"{summary} {words}"
    return generate(
        kind,
        rng,
        target_tokens=target,
        messages=request.messages,
        fixed_text=fixed_text,
        encoding=spec.encoding,
        max_tokens=budget,
        stop=request.stop,
    )


def scripted_choice(
    request: CompletionRequest,
    spec: ModelSpec,
    rng: random.Random,
    budget: int,
    action: Action,
    work: WorkLimit | None = None,
) -> ChoicePlan:
    """A rule's fixed text, JSON or tool calls, cut to max_tokens like any answer."""
    if action.kind == "tool_calls":
        schemas = {tool.name: tool.parameters for tool in request.tools}
        context = last_user_text(request.messages)
        calls = tuple(
            PlannedToolCall(
                new_id_suffix(rng),
                call.name,
                dump_arguments(
                    call.arguments
                    if call.arguments is not None
                    else generate_arguments(schemas.get(call.name), rng, context=context, work=work)
                ),
            )
            for call in action.tool_calls
        )
        return tool_call_choice(calls, spec.encoding, budget, "tool_calls")
    text = dump_arguments(action.json) if action.kind == "json" else action.text
    return generate(
        "fixed", rng, target_tokens=0, fixed_text=text, encoding=spec.encoding, max_tokens=budget, stop=request.stop
    )


def structured_text(request: CompletionRequest, rng: random.Random, target: int, work: WorkLimit | None = None) -> str:
    """The JSON a structured-output request answers with (json_schema: valid against the schema)."""
    response_format = request.response_format or {}
    context = last_user_text(request.messages)
    if response_format.get("type") == "json_schema":
        return dump_arguments(generate_value(response_format.get("schema") or {}, rng, context=context, work=work))
    # json_object: any object will do; its one string carries the usual answer length.
    return dump_arguments({"response": source_text("lorem", rng, target, request.messages, "")})


def tool_call_choice(calls: tuple[PlannedToolCall, ...], encoding: str, budget: int, finish_reason: str) -> ChoicePlan:
    """The calls as streamable pieces; where max_tokens runs out the call is cut ("length")."""
    planned: list[ToolCallPlan] = []
    used = 0
    for call in calls:
        cost = count_text(call.name, encoding) + TOOL_CALL_OVERHEAD_TOKENS
        tokens = encode(call.arguments, encoding)
        room = budget - used - cost
        if room >= len(tokens):
            pieces, _ = token_pieces(tokens, encoding)
            planned.append(ToolCallPlan(call.id_suffix, call.name, call.arguments, tuple(pieces)))
            used += cost + len(tokens)
            continue
        if room > 0 or not planned:  # the call starts, its arguments stop short
            pieces, _ = token_pieces(tokens[: max(room, 0)], encoding)
            planned.append(ToolCallPlan(call.id_suffix, call.name, "".join(pieces), tuple(pieces)))
            used = min(budget, used + cost + max(room, 0))
        return ChoicePlan(pieces=(), finish_reason="length", completion_tokens=used, tool_calls=tuple(planned))
    return ChoicePlan(pieces=(), finish_reason=finish_reason, completion_tokens=used, tool_calls=tuple(planned))
