"""Injected and forced errors: OpenAI bodies and headers, and the SDK's retries."""

from __future__ import annotations

import time

import httpx2
import openai
import pytest

from simulator.models import ErrorProfile, SimulatorSettings
from tests.conftest import post

USER = [{"role": "user", "content": "hi"}]


def counting_client(server, max_retries):
    """An openai client that counts the HTTP requests it really sends."""
    sent = []
    http = httpx2.Client(event_hooks={"request": [lambda request: sent.append(request)]})
    sdk = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="t", max_retries=max_retries, http_client=http)
    return sdk, sent


@pytest.mark.parametrize(
    ("status", "exception", "error_type"),
    [
        (429, openai.RateLimitError, "requests"),
        (500, openai.InternalServerError, "server_error"),
        (503, openai.InternalServerError, "server_error"),
        (504, openai.APIStatusError, "timeout"),
        (401, openai.AuthenticationError, "invalid_request_error"),
        (400, openai.BadRequestError, "invalid_request_error"),
    ],
)
def test_a_forced_status_raises_the_sdk_exception(client, status, exception, error_type):
    with pytest.raises(exception) as excinfo:
        client.chat.completions.create(model="gpt-4o", messages=USER, extra_headers={"x-llmsim-error": str(status)})
    assert excinfo.value.status_code == status
    assert excinfo.value.body["type"] == error_type
    assert excinfo.value.request_id.startswith("req_")


def test_a_429_carries_retry_after_and_rate_limit_headers(llmsim_server):
    status, headers, body = post(
        llmsim_server, "/v1/chat/completions", {"model": "gpt-4o", "messages": USER}, {"x-llmsim-error": "429"}
    )
    assert status == 429
    assert body["error"]["code"] == "rate_limit_exceeded"
    assert float(headers["retry-after"]) >= 1
    assert int(headers["retry-after-ms"]) == 1000
    assert headers["x-ratelimit-remaining-requests"] == "0"
    for name in ("limit-requests", "limit-tokens", "remaining-tokens", "reset-requests", "reset-tokens"):
        assert headers[f"x-ratelimit-{name}"]


def test_the_sdk_retries_a_429_after_retry_after(llmsim_server):
    sdk, sent = counting_client(llmsim_server, max_retries=2)
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError):
        sdk.chat.completions.create(model="instant", messages=USER, extra_headers={"x-llmsim-error": "429"})
    elapsed = time.monotonic() - started
    assert len(sent) == 3  # the first attempt and two retries
    assert [r.headers["x-stainless-retry-count"] for r in sent] == ["0", "1", "2"]
    assert elapsed >= 2.0  # it honoured retry-after-ms: 1000 twice


def test_the_sdk_does_not_retry_a_400(llmsim_server):
    sdk, sent = counting_client(llmsim_server, max_retries=2)
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model="instant", messages=USER, extra_headers={"x-llmsim-error": "400"})
    assert len(sent) == 1


@pytest.fixture
def error_profile(llmsim_server, live_db, edit):
    """Attach a fresh error profile to the live server's settings; returns a setter."""
    profile = ErrorProfile.objects.using(live_db).create(name=f"test-{time.monotonic_ns()}")
    settings = SimulatorSettings.objects.using(live_db).get(pk=1)
    edit(settings, error_profile=profile)

    def configure(**rates):
        return edit(profile, **rates)

    yield configure
    edit(settings, error_profile=None)


def test_an_error_profile_injects_rate_limits_that_retries_get_through(llmsim_server, error_profile):
    error_profile(rate_limit_rate=0.5, retry_after_ms=5)
    sdk, sent = counting_client(llmsim_server, max_retries=20)
    for _ in range(10):
        completion = sdk.chat.completions.create(model="instant", messages=USER, max_tokens=2)
        assert completion.choices[0].finish_reason == "length"
    # With a 50% injection rate, ten successes take more than ten attempts.
    assert len(sent) > 10


def test_a_server_error_rate_of_one_fails_every_request(client, error_profile):
    error_profile(server_error_rate=1.0)
    for _ in range(3):
        with pytest.raises(openai.InternalServerError) as excinfo:
            client.chat.completions.create(model="instant", messages=USER)
        assert excinfo.value.status_code == 500


def test_a_timeout_holds_the_request_then_answers_504(client, error_profile):
    error_profile(timeout_rate=1.0, timeout_after_ms=600)
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as excinfo:
        client.chat.completions.create(model="instant", messages=USER)
    assert excinfo.value.status_code == 504
    assert time.monotonic() - started >= 0.55


def test_a_timeout_can_drop_the_connection(client, error_profile):
    error_profile(timeout_rate=1.0, timeout_after_ms=300, timeout_action=ErrorProfile.TimeoutAction.DISCONNECT)
    started = time.monotonic()
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="instant", messages=USER)
    assert time.monotonic() - started >= 0.25


def test_a_seed_repeats_injected_errors_exactly(llmsim_server, error_profile):
    error_profile(rate_limit_rate=0.5)

    def outcomes(seed):
        return [
            post(
                llmsim_server,
                "/v1/chat/completions",
                {"model": "instant", "messages": USER, "max_tokens": 1, "seed": seed + i},
            )[0]
            for i in range(12)
        ]

    first = outcomes(1000)
    assert set(first) == {200, 429}
    assert outcomes(1000) == first
