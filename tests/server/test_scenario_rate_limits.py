"""Scenario rate limits through the openai SDK: headers on every answer, 429s the SDK retries."""

from __future__ import annotations

import time

import openai
import pytest

from tests.conftest import INSTANT, post
from tests.providers.openai.test_chat_scenarios import make_scenario  # noqa: F401  (fixture)

LIVE_SERVERS = ("serve",)  # buckets and headers are the pipeline's, whatever the server

USER = [{"role": "user", "content": "hello"}]


def raw(server, scenario: str, key: str = "sk-a", **body):
    body = {"model": "gpt-4o", "messages": USER, **body}
    headers = {**INSTANT, "x-llmsim-scenario": scenario, "authorization": f"Bearer {key}"}
    return post(server, "/v1/chat/completions", body, headers)


def test_every_answer_carries_the_ratelimit_headers(llmsim_server, make_scenario):  # noqa: F811
    make_scenario("limited-headers", requests_per_minute=100, tokens_per_minute=100_000)
    status, headers, _ = raw(llmsim_server, "limited-headers", max_tokens=50)
    assert status == 200
    assert headers["x-ratelimit-limit-requests"] == "100"
    assert headers["x-ratelimit-remaining-requests"] == "99"
    assert headers["x-ratelimit-limit-tokens"] == "100000"
    assert 100_000 - 200 < int(headers["x-ratelimit-remaining-tokens"]) <= 100_000 - 50
    assert headers["x-ratelimit-reset-requests"].endswith("s")
    status, headers, _ = raw(llmsim_server, "limited-headers", max_tokens=50)
    assert headers["x-ratelimit-remaining-requests"] == "98"


def test_requests_per_minute_answers_429_in_openai_format(llmsim_server, make_scenario):  # noqa: F811
    make_scenario("rpm-2", requests_per_minute=2)
    assert raw(llmsim_server, "rpm-2")[0] == 200
    assert raw(llmsim_server, "rpm-2")[0] == 200
    status, headers, body = raw(llmsim_server, "rpm-2")
    assert status == 429
    error = body["error"]
    assert error["type"] == "requests" and error["code"] == "rate_limit_exceeded"
    assert "Rate limit reached for gpt-4o" in error["message"] and "Limit 2" in error["message"]
    assert 1 <= int(headers["retry-after"]) <= 30
    assert 0 < int(headers["retry-after-ms"]) <= 30_000
    assert headers["x-ratelimit-remaining-requests"] == "0"


def test_buckets_are_per_api_key_and_per_model(llmsim_server, make_scenario):  # noqa: F811
    make_scenario("rpm-1", requests_per_minute=1)
    assert raw(llmsim_server, "rpm-1", key="sk-one")[0] == 200
    assert raw(llmsim_server, "rpm-1", key="sk-one")[0] == 429
    assert raw(llmsim_server, "rpm-1", key="sk-two")[0] == 200
    assert raw(llmsim_server, "rpm-1", key="sk-one", model="gpt-4o-mini")[0] == 200


def test_tokens_per_minute_counts_prompt_and_max_tokens(llmsim_server, make_scenario):  # noqa: F811
    make_scenario("tpm", tokens_per_minute=1000)
    status, headers, body = raw(llmsim_server, "tpm", max_tokens=900)
    assert status == 200
    used = body["usage"]["total_tokens"]
    # The reservation (prompt + 900) is refunded to what the answer used once it is done.
    time.sleep(0.2)
    status, headers, _ = raw(llmsim_server, "tpm", max_tokens=10)
    assert status == 200
    assert int(headers["x-ratelimit-remaining-tokens"]) <= 1000 - used - body["usage"]["prompt_tokens"] - 10 + 20
    status, _, body = raw(llmsim_server, "tpm", max_tokens=5000)
    assert status == 429
    assert body["error"]["type"] == "tokens"


def test_the_sdk_retries_after_the_advertised_wait(llmsim_server, make_scenario):  # noqa: F811
    make_scenario("rpm-120", requests_per_minute=120)  # a request back every 0.5 s
    client = openai.OpenAI(
        base_url=f"{llmsim_server.base_url}/v1",
        api_key="sk-retry",
        max_retries=3,
        default_headers={**INSTANT, "x-llmsim-scenario": "rpm-120"},
    )
    started = time.monotonic()
    for _ in range(122):
        client.chat.completions.create(model="gpt-4o", messages=USER)
    # 120 fit at once; the two beyond waited for the bucket (about 0.5 s each) and then passed.
    assert time.monotonic() - started >= 0.5


@pytest.mark.parametrize("stream", [False, True])
def test_a_request_larger_than_the_budget_says_so(llmsim_server, make_scenario, stream):  # noqa: F811
    make_scenario(f"tiny-tpm-{stream}", tokens_per_minute=20)
    status, _, body = raw(llmsim_server, f"tiny-tpm-{stream}", max_tokens=500, stream=stream)
    assert status == 429
    assert "Request too large" in body["error"]["message"]
