"""The prompt cache's rules: boundaries, minimums, OpenAI's steps, Anthropic's breakpoints, lifetimes."""

from __future__ import annotations

import random

import pytest

from simulator.engine import planner
from simulator.engine.cost import Prices, cost_usd
from simulator.engine.latency import LatencyProfile
from simulator.engine.prompt_cache import (
    LocalPromptCache,
    cache_query,
    cached_prompt,
    may_reach,
    scope_of,
)
from simulator.engine.snapshot import ModelSpec, Scenario
from simulator.engine.tokens import O200K, count_prompt
from simulator.engine.types import CacheBreakpoint, CompletionRequest, Message, PromptCaching, ToolDefinition

OPENAI = PromptCaching(step_tokens=128, ttl_s=600)
GEMINI = PromptCaching(ttl_s=300)
LONG = "The quick brown fox jumps over the lazy dog. " * 150  # ~1,500 tokens
SCOPE = scope_of("sk-one", "gpt-4o")


def chat(*texts: str, caching: PromptCaching | None = OPENAI, tools=()) -> CompletionRequest:
    roles = ["system", "user", "assistant", "user", "assistant", "user"]
    messages = tuple(Message(roles[i % len(roles)], text) for i, text in enumerate(texts))
    return CompletionRequest(model="gpt-4o", messages=messages, tools=tuple(tools), caching=caching)


def send(cache: LocalPromptCache, request: CompletionRequest, scope: str = SCOPE, minimum: int = 1024):
    query = cache_query(request, scope, minimum, O200K)
    if query is None:
        return None
    return cached_prompt(query, cache.look_up(query))


def test_the_figures_add_up_to_the_prompt_count():
    tool = ToolDefinition("lookup", "Find a thing.", {"type": "object", "properties": {"q": {"type": "string"}}})
    request = chat(LONG, "Hello?", tools=[tool])
    query = cache_query(request, SCOPE, 1024, O200K)
    assert query.prompt_tokens == count_prompt(request.messages, request.tools, O200K)


def test_openai_reads_the_longest_stored_prefix_in_steps_of_128():
    cache = LocalPromptCache()
    first = send(cache, chat(LONG, "What is this?"))
    assert first.read_tokens == 0 and first.write_tokens == 0
    second = send(cache, chat(LONG, "What is this?"))
    assert second.read_tokens % 128 == 0
    assert second.prompt_tokens - 128 - 3 < second.read_tokens <= second.prompt_tokens - 3


def test_a_longer_conversation_reads_the_earlier_turns():
    cache = LocalPromptCache()
    turn = send(cache, chat(LONG, "What is this?"))
    later = send(cache, chat(LONG, "What is this?", "A fox.", "And then?"))
    assert later.read_tokens == (turn.prompt_tokens - 3) // 128 * 128


def test_a_prompt_below_the_minimum_is_never_cached():
    cache = LocalPromptCache()
    assert send(cache, chat("short", "prompt")) is None
    assert send(cache, chat(LONG, "x"), minimum=100_000) is None
    assert len(cache) == 0


def test_a_model_without_a_minimum_or_an_api_without_caching_caches_nothing():
    assert cache_query(chat(LONG, "x"), SCOPE, None, O200K) is None
    assert cache_query(chat(LONG, "x", caching=None), SCOPE, 1024, O200K) is None


def test_another_api_key_model_or_cache_key_does_not_hit():
    cache = LocalPromptCache()
    send(cache, chat(LONG, "x"))
    assert send(cache, chat(LONG, "x"), scope=scope_of("sk-two", "gpt-4o")).read_tokens == 0
    assert send(cache, chat(LONG, "x"), scope=scope_of("sk-one", "gpt-5")).read_tokens == 0
    keyed = PromptCaching(step_tokens=128, key="tenant-7")
    assert send(cache, chat(LONG, "x", caching=keyed)).read_tokens == 0


def test_a_changed_early_message_misses():
    cache = LocalPromptCache()
    send(cache, chat(LONG, "x"))
    assert send(cache, chat(LONG + "!", "x")).read_tokens == 0


def test_gemini_reads_every_stored_token():
    cache = LocalPromptCache()
    send(cache, chat(LONG, "x", caching=GEMINI))
    again = send(cache, chat(LONG, "x", caching=GEMINI))
    assert again.read_tokens == again.prompt_tokens - 3


def test_a_prefix_expires_after_its_lifetime():
    now = [1000.0]
    cache = LocalPromptCache(clock=lambda: now[0])
    send(cache, chat(LONG, "x"))
    now[0] += 599
    assert send(cache, chat(LONG, "x")).read_tokens > 0  # and written again: another 600 s
    now[0] += 601
    assert send(cache, chat(LONG, "x")).read_tokens == 0


def test_the_local_store_is_bounded():
    cache = LocalPromptCache(max_entries=3)
    for i in range(5):
        send(cache, chat(f"{i} {LONG}", "x"))
    assert len(cache) == 3


def test_the_fast_path_never_skips_a_prompt_that_reaches_the_minimum():
    rng = random.Random(7)
    alphabet = ["a", " ", "é", "語", "🙂", "\n", "{", "1"]
    for _ in range(300):
        texts = [
            "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 400))) for _ in range(rng.randrange(1, 4))
        ]
        request = chat(*texts)
        minimum = rng.randrange(10, 1500)
        if count_prompt(request.messages, (), O200K) >= minimum:
            assert may_reach(request, minimum), texts


# --- Anthropic: breakpoints ---------------------------------------------------------------


def anthropic(*texts: str, marks: tuple[tuple[int, float], ...]) -> CompletionRequest:
    caching = PromptCaching(breakpoints=tuple(CacheBreakpoint(unit, ttl) for unit, ttl in marks))
    return chat(*texts, caching=caching)


def test_anthropic_writes_at_a_breakpoint_then_reads_it():
    cache = LocalPromptCache()
    first = send(cache, anthropic(LONG, "What is this?", marks=((0, 300),)))
    assert first.read_tokens == 0 and first.write_tokens > 1024 and first.write_1h_tokens == 0
    second = send(cache, anthropic(LONG, "Something else?", marks=((0, 300),)))
    assert second.read_tokens == first.write_tokens and second.write_tokens == 0


def test_anthropic_writes_nothing_without_breakpoints():
    request = anthropic(LONG, "x", marks=())
    assert cache_query(request, SCOPE, 1024, O200K) is None


def test_anthropic_reads_an_earlier_prefix_and_writes_the_rest_by_ttl():
    cache = LocalPromptCache()
    send(cache, anthropic(LONG, "x", marks=((0, 3600),)))
    both = send(cache, anthropic(LONG, LONG, marks=((0, 3600), (1, 300))))
    assert both.read_tokens > 1024
    assert both.write_tokens == both.prompt_tokens - 3 - both.read_tokens
    assert both.write_1h_tokens == 0  # the hour's part was read
    fresh = send(cache, anthropic("Other " + LONG, LONG, marks=((0, 3600), (1, 300))))
    assert 0 < fresh.write_1h_tokens < fresh.write_tokens and fresh.read_tokens == 0


def test_anthropic_looks_back_from_a_breakpoint_to_earlier_boundaries():
    cache = LocalPromptCache()
    send(cache, anthropic(LONG, "a", marks=((1, 300),)))
    later = send(cache, anthropic(LONG, "a", "b", "c", marks=((3, 300),)))
    assert later.read_tokens > 1024 and later.write_tokens > 0


def test_anthropic_a_hit_keeps_the_prefix_for_another_lifetime():
    now = [0.0]
    cache = LocalPromptCache(clock=lambda: now[0])
    send(cache, anthropic(LONG, "a", marks=((0, 300),)))
    for _ in range(3):  # each read 250 s after the last: kept alive past 300 s from the write
        now[0] += 250
        assert send(cache, anthropic(LONG, "b", "c", "d", marks=((2, 300),))).read_tokens > 0


def test_a_breakpoint_below_the_minimum_writes_nothing():
    cache = LocalPromptCache()
    short = send(cache, anthropic("short", LONG, marks=((0, 300), (1, 300))))
    assert short.write_tokens == short.prompt_tokens - 3  # one write: at the long breakpoint
    assert cache_query(anthropic("short", "x", marks=((0, 300),)), SCOPE, 1024, O200K) is None


# --- what a hit changes: time to first token and cost -------------------------------------


def test_a_hit_takes_its_prefill_off_the_time_to_first_token():
    spec = ModelSpec(id="m", latency=LatencyProfile(ttft_mean_ms=100, prefill_ms_per_1k_tokens=1000))
    request = chat(LONG, "x")
    cache = LocalPromptCache()
    cold = planner.plan(request, spec, Scenario(), cached=send(cache, request))
    warm = planner.plan(request, spec, Scenario(), cached=send(cache, request))
    assert warm.usage.cached_tokens > 1024 and cold.usage.cached_tokens == 0
    assert warm.usage.prompt_tokens == cold.usage.prompt_tokens
    expected = 0.1 + (warm.usage.prompt_tokens - warm.usage.cached_tokens) / 1000
    assert warm.ttft_s == pytest.approx(expected)
    assert cold.ttft_s == pytest.approx(0.1 + cold.usage.prompt_tokens / 1000)


def test_an_hour_long_write_costs_twice_the_input_price():
    prices = Prices(input_usd_per_mtok=3.0, output_usd_per_mtok=15.0, cache_write_usd_per_mtok=3.75)
    five_minutes = cost_usd(prices, 1_000_000, cache_write_tokens=1_000_000)
    hour = cost_usd(prices, 1_000_000, cache_write_tokens=1_000_000, cache_write_1h_tokens=1_000_000)
    assert (five_minutes, hour) == (pytest.approx(3.75), pytest.approx(6.0))
