"""OpenAI's automatic prompt caching through the openai SDK: Chat Completions (body and
streamed usage) and Responses report cached_tokens; a hit starts sooner and costs less."""

from __future__ import annotations

import time
import uuid

import openai
import pytest

from tests.conftest import INSTANT, post

pytestmark = pytest.mark.live
LIVE_SERVERS = ("serve",)  # the cache sits in the pipeline, the same whatever the server

MODEL = "gpt-4o"


def long_prompt() -> str:
    """About 1,500 tokens, unique to the test: no other test's prefix can match it."""
    return f"Case {uuid.uuid4().hex}. " + "The quick brown fox jumps over the lazy dog. " * 150


def ask(client, system: str, question: str = "What is this?", **kwargs):
    messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    headers = {**INSTANT, "x-llmsim-tokens": "3", **kwargs.pop("extra_headers", {})}
    return client.chat.completions.create(
        model=kwargs.pop("model", MODEL), messages=messages, extra_headers=headers, **kwargs
    )


def test_the_second_request_reads_the_prefix_the_first_wrote(client):
    system = long_prompt()
    first = ask(client, system)
    second = ask(client, system, "And something else?")
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached >= 1024 and cached % 128 == 0
    assert cached <= first.usage.prompt_tokens - 3 and cached <= second.usage.prompt_tokens - 3


def test_the_streamed_usage_reports_cached_tokens(client):
    system = long_prompt()
    ask(client, system)
    chunks = list(ask(client, system, stream=True, stream_options={"include_usage": True}))
    usage = chunks[-1].usage
    assert usage.prompt_tokens_details.cached_tokens >= 1024


def test_a_short_prompt_is_never_cached(client):
    for _ in range(2):
        answer = ask(client, f"Be brief {uuid.uuid4().hex}.")
        assert answer.usage.prompt_tokens_details.cached_tokens == 0


def test_another_api_key_or_cache_key_does_not_hit(client, llmsim_server):
    system = long_prompt()
    ask(client, system)
    with openai.OpenAI(base_url=f"{llmsim_server.base_url}/v1", api_key="someone-else", max_retries=0) as other:
        assert ask(other, system).usage.prompt_tokens_details.cached_tokens == 0
    assert ask(client, system, prompt_cache_key="tenant-2").usage.prompt_tokens_details.cached_tokens == 0
    assert ask(client, system).usage.prompt_tokens_details.cached_tokens >= 1024


def test_a_model_that_caches_nothing_reports_nothing(client):
    system = long_prompt()
    for _ in range(2):
        answer = ask(client, system, model="gpt-4-turbo")
        assert answer.usage.prompt_tokens_details.cached_tokens == 0


def test_prompt_cache_retention_takes_24h_and_refuses_other_values(client, llmsim_server):
    system = long_prompt()
    ask(client, system, extra_body={"prompt_cache_retention": "24h"})
    assert ask(client, system).usage.prompt_tokens_details.cached_tokens >= 1024
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "prompt_cache_retention": "1w"}
    status, _, answer = post(llmsim_server, "/v1/chat/completions", body)
    assert status == 400
    assert answer["error"]["param"] == "prompt_cache_retention"
    assert answer["error"]["message"] == "Invalid value: '1w'. Supported values are: 'in_memory', and '24h'."


def test_responses_report_cached_input_tokens(client):
    instructions = long_prompt()
    create = {"model": MODEL, "instructions": instructions, "extra_headers": {**INSTANT, "x-llmsim-tokens": "3"}}
    first = client.responses.create(input="What is this?", **create)
    second = client.responses.create(input="And now?", **create)
    assert first.usage.input_tokens_details.cached_tokens == 0
    cached = second.usage.input_tokens_details.cached_tokens
    assert cached >= 1024 and cached % 128 == 0


def test_a_hit_starts_sooner_and_costs_the_cached_price(client, live_db, edit):
    from simulator.models import ModelProfile

    profile = ModelProfile.objects.using(live_db).get(model_id="gpt-4o-mini")
    # Only prefill: 400 ms per 1k prompt tokens (about 600 ms cold), no other wait.
    timing = {"ttft_mean_ms": 0, "ttft_stddev_ms": 0, "latency_distribution": "normal", "tbt_mean_ms": 0}
    prices = {"input_usd_per_mtok": 1000.0, "cached_input_usd_per_mtok": 100.0, "output_usd_per_mtok": 2000.0}
    edit(profile, prefill_ms_per_1k_tokens=400, tbt_stddev_ms=0, **timing, **prices)
    system = long_prompt()

    def timed(question: str):
        started = time.perf_counter()
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini",
            messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
            extra_headers={"x-llmsim-tokens": "3"},
        )
        return time.perf_counter() - started, raw.parse().usage, float(raw.headers["x-llmsim-cost-usd"])

    cold_s, cold, cold_cost = timed("What is this?")
    warm_s, warm, warm_cost = timed("What else?")
    assert warm.prompt_tokens_details.cached_tokens >= 1024
    assert cold_s > 0.5 and warm_s < cold_s - 0.3
    uncached = warm.prompt_tokens - warm.prompt_tokens_details.cached_tokens
    expected = (uncached * 1000 + warm.prompt_tokens_details.cached_tokens * 100 + warm.completion_tokens * 2000) / 1e6
    assert warm_cost == pytest.approx(expected, abs=1e-6)
    assert cold_cost == pytest.approx((cold.prompt_tokens * 1000 + cold.completion_tokens * 2000) / 1e6, abs=1e-6)
