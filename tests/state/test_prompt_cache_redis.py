"""The prompt cache in Redis (simulator.state.prompt_cache with REDIS_URL): shared by every
store, kept for the provider's lifetime, and answered as a miss when Redis is away.

Against the real Redis of tests/services.py, under a key prefix of this run.
"""

from __future__ import annotations

import asyncio

import pytest
import redis

from simulator.engine.snapshot import ModelSpec
from simulator.engine.types import CacheBreakpoint, CompletionRequest, Message, PromptCaching
from simulator.state import buckets, prompt_cache
from tests.services import redis_url, unique_prefix

SPEC = ModelSpec(id="gpt-4o", prompt_cache_min_tokens=1024)
LONG = "The quick brown fox jumps over the lazy dog. " * 150
OPENAI = PromptCaching(step_tokens=128, ttl_s=600)


def request(question: str = "What is this?", caching: PromptCaching = OPENAI) -> CompletionRequest:
    return CompletionRequest(
        model="gpt-4o", messages=(Message("system", LONG), Message("user", question)), caching=caching
    )


def look_up(req: CompletionRequest, api_key: str = "sk-one"):
    """One lookup on a fresh event loop: a store (and connection) of its own, like another process."""

    async def main():
        try:
            return await prompt_cache.look_up(req, api_key, SPEC)
        finally:
            await buckets.close()

    return asyncio.run(main())


@pytest.fixture
def shared(settings):
    settings.REDIS_URL = redis_url()
    settings.LLMSIM_REDIS_PREFIX = unique_prefix()
    yield settings.LLMSIM_REDIS_PREFIX

    async def forget():
        try:
            await prompt_cache.reset()
        finally:
            await buckets.close()

    asyncio.run(forget())


def test_two_stores_see_each_others_prefixes(shared):
    first = look_up(request())
    second = look_up(request("Another question?"))
    assert first.read_tokens == 0
    assert second.read_tokens >= 1024 and second.read_tokens % 128 == 0
    assert len(prompt_cache.in_process) == 0  # all of it in Redis
    assert look_up(request(), api_key="sk-two").read_tokens == 0


def test_a_prefix_lives_in_redis_for_its_lifetime(shared):
    look_up(request(caching=PromptCaching(step_tokens=128, ttl_s=86_400)))
    with redis.Redis.from_url(redis_url()) as client:
        keys = client.keys(f"{shared}:promptcache:*")
        assert len(keys) == 2  # both boundaries reach the minimum
        assert all(86_000_000 < client.pttl(key) <= 86_400_000 for key in keys)


def test_an_anthropic_hit_is_kept_for_another_lifetime(shared):
    marks = PromptCaching(breakpoints=(CacheBreakpoint(0, 300.0),))
    look_up(request(caching=marks))
    with redis.Redis.from_url(redis_url()) as client:
        [key] = client.keys(f"{shared}:promptcache:*")
        client.pexpire(key, 1000)
        later = PromptCaching(breakpoints=(CacheBreakpoint(1, 3600.0),))
        hit = look_up(request(caching=later))
        assert hit.read_tokens > 1024 and hit.write_1h_tokens == hit.write_tokens > 0
        assert 299_000 < client.pttl(key) <= 300_000  # its own lifetime again, not the new write's


def test_redis_away_means_a_miss_not_an_error(settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.LLMSIM_REDIS_PREFIX = unique_prefix()
    assert look_up(request()).read_tokens == 0
    assert look_up(request()).read_tokens == 0
    assert len(prompt_cache.in_process) == 0
