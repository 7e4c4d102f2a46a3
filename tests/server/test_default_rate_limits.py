"""The model profiles' default rate limits through the official SDKs: reported on every answer,
refused with 429 only where enforcement is on."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import anthropic
import openai
import pytest

from tests.conftest import INSTANT
from tests.providers.openai.test_chat_scenarios import make_scenario  # noqa: F401  (fixture)

LIVE_SERVERS = ("serve",)  # buckets and headers are the pipeline's, whatever the server

OPENAI_HEADERS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
)
# A Go duration as OpenAI writes its resets: 0s, 20ms, 1.5s, 6m0s, 1h2m3.004s.
GO_DURATION = re.compile(r"^(\d+h)?(\d+m)?(\d+(\.\d{1,3})?s|\d+ms)$")
RFC_3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
USER = [{"role": "user", "content": "hello"}]
TINY_MODEL = "tiny-limits"


def fresh_key() -> str:
    """A key of its own: buckets are per API key, and the live server outlives each test."""
    return f"sk-{uuid.uuid4().hex[:12]}"


def openai_client(server, **headers) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{server.base_url}/v1",
        api_key=fresh_key(),
        max_retries=0,
        default_headers={**INSTANT, **headers},
    )


def anthropic_client(server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key=fresh_key(), max_retries=0, default_headers=INSTANT)


def chat(client: openai.OpenAI, stream: bool, model: str = "gpt-4o"):
    raw = client.chat.completions.with_raw_response.create(model=model, messages=USER, max_tokens=20, stream=stream)
    if stream:
        for _ in raw.parse():  # read to the end: the answer is settled then
            pass
    return raw.headers


def responses(client: openai.OpenAI, stream: bool, model: str = "gpt-4o"):
    raw = client.responses.with_raw_response.create(model=model, input="hello", max_output_tokens=20, stream=stream)
    if stream:
        for _ in raw.parse():
            pass
    return raw.headers


def completions(client: openai.OpenAI, stream: bool, model: str = "gpt-3.5-turbo-instruct"):
    raw = client.completions.with_raw_response.create(model=model, prompt="hello", max_tokens=20, stream=stream)
    if stream:
        for _ in raw.parse():
            pass
    return raw.headers


def embeddings(client: openai.OpenAI, stream: bool):
    return client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="hello").headers


# endpoint, stream, the preset's limits (OpenAI Tier 1): requests, tokens per minute
OPENAI_ANSWERS = [
    (chat, False, 500, 30_000),
    (chat, True, 500, 30_000),
    (responses, False, 500, 30_000),
    (responses, True, 500, 30_000),
    (completions, False, 3_500, 200_000),  # gpt-3.5-turbo-instruct answers with gpt-3.5-turbo's profile
    (completions, True, 3_500, 200_000),
    (embeddings, False, 3_000, 1_000_000),
]


@pytest.mark.parametrize(
    ("answer", "stream", "requests", "tokens"),
    OPENAI_ANSWERS,
    ids=[f"{answer.__name__}-{'stream' if stream else 'json'}" for answer, stream, *_ in OPENAI_ANSWERS],
)
def test_every_openai_answer_carries_the_six_headers_of_its_model(llmsim_server, answer, stream, requests, tokens):
    headers = answer(openai_client(llmsim_server), stream)
    assert all(name in headers for name in OPENAI_HEADERS), dict(headers)
    assert headers["x-ratelimit-limit-requests"] == str(requests)
    assert headers["x-ratelimit-limit-tokens"] == str(tokens)
    # The first request of a key: one request and its reservation taken from full buckets.
    assert headers["x-ratelimit-remaining-requests"] == str(requests - 1)
    assert tokens - 100 < int(headers["x-ratelimit-remaining-tokens"]) < tokens
    assert GO_DURATION.match(headers["x-ratelimit-reset-requests"]), headers["x-ratelimit-reset-requests"]
    assert GO_DURATION.match(headers["x-ratelimit-reset-tokens"]), headers["x-ratelimit-reset-tokens"]


@pytest.mark.parametrize("answer", [chat, responses, completions])
@pytest.mark.parametrize("stream", [False, True])
def test_the_remaining_counts_go_down_with_use(llmsim_server, tiny_model, answer, stream):
    client = openai_client(llmsim_server)
    seen = [answer(client, stream, model=TINY_MODEL) for _ in range(3)]
    assert [headers["x-ratelimit-remaining-requests"] for headers in seen] == ["2", "1", "0"]
    tokens = [int(headers["x-ratelimit-remaining-tokens"]) for headers in seen]
    assert 600 > tokens[0] > tokens[1] > tokens[2]  # each answer's tokens stay spent (10 a second come back)


@pytest.mark.parametrize("stream", [False, True])
def test_every_anthropic_answer_carries_the_anthropic_ratelimit_headers(llmsim_server, stream):
    client = anthropic_client(llmsim_server)

    def ask():
        raw = client.messages.with_raw_response.create(
            model="claude-sonnet-4-5", max_tokens=20, messages=USER, stream=stream
        )
        if stream:
            for _ in raw.parse():
                pass
        return raw.headers

    first, second = ask(), ask()
    now = datetime.now(UTC)
    for headers in (first, second):
        assert headers["anthropic-ratelimit-requests-limit"] == "50"  # Claude Sonnet 4.x, Tier 1
        for family in ("tokens", "input-tokens", "output-tokens"):
            assert headers[f"anthropic-ratelimit-{family}-limit"] == "38000"  # 30,000 input + 8,000 output
            assert 38_000 - 100 < int(headers[f"anthropic-ratelimit-{family}-remaining"]) < 38_000
        for family in ("requests", "tokens", "input-tokens", "output-tokens"):
            reset = headers[f"anthropic-ratelimit-{family}-reset"]
            assert RFC_3339.match(reset), reset
            moment = datetime.strptime(reset, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            assert now - timedelta(seconds=5) <= moment <= now + timedelta(seconds=65)
    # One request back every 1.2 s: the second finds one fewer.
    assert first["anthropic-ratelimit-requests-remaining"] == "49"
    assert second["anthropic-ratelimit-requests-remaining"] == "48"


def test_the_remaining_requests_come_back_over_the_minute(llmsim_server):
    client = anthropic_client(llmsim_server)  # Claude: 50 a minute, one back every 1.2 s

    def remaining() -> int:
        raw = client.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=5, messages=USER)
        return int(raw.headers["anthropic-ratelimit-requests-remaining"])

    assert [remaining(), remaining(), remaining()] == [49, 48, 47]
    time.sleep(2.5)  # two requests' worth
    assert remaining() in (48, 49)  # 47 + 2 back - 1 (the clock is loose on a shared machine)


@pytest.fixture(scope="module")
def tiny_model(llmsim_server, django_db_blocker):
    """A model profile with default limits of 3 requests and 600 tokens a minute, on the live server."""
    from simulator.models import ModelProfile
    from simulator.state.snapshots import read_version

    alias = llmsim_server.db_alias
    with django_db_blocker.unblock():
        profile = ModelProfile.objects.using(alias).create(
            model_id=TINY_MODEL, provider="openai", requests_per_minute=3, tokens_per_minute=600
        )
        llmsim_server.wait_for_version(read_version(alias))
    yield TINY_MODEL
    with django_db_blocker.unblock():
        profile.delete(using=alias)
        llmsim_server.wait_for_version(read_version(alias))


def burst(client: openai.OpenAI, count: int) -> list[tuple[int, str]]:
    """(status, remaining requests) of `count` requests in a row."""
    answers = []
    for _ in range(count):
        try:
            raw = client.chat.completions.with_raw_response.create(model=TINY_MODEL, messages=USER)
            answers.append((raw.status_code, raw.headers["x-ratelimit-remaining-requests"]))
        except openai.RateLimitError as error:
            answers.append((error.status_code, error.response.headers["x-ratelimit-remaining-requests"]))
    return answers


def test_a_burst_above_the_default_limit_is_answered_and_reported_as_spent(llmsim_server, tiny_model):
    answers = burst(openai_client(llmsim_server), 6)
    assert answers == [(200, "2"), (200, "1"), (200, "0"), (200, "0"), (200, "0"), (200, "0")]


def test_a_scenario_that_enforces_the_model_limits_answers_429(llmsim_server, tiny_model, make_scenario):  # noqa: F811
    make_scenario("enforces-model-limits", enforce_model_rate_limits=True)
    client = openai_client(llmsim_server, **{"x-llmsim-scenario": "enforces-model-limits"})
    assert burst(client, 4) == [(200, "2"), (200, "1"), (200, "0"), (429, "0")]
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model=TINY_MODEL, messages=USER)
    error = raised.value
    assert (error.type, error.code) == ("requests", "rate_limit_exceeded")
    assert "Limit 3" in error.message
    assert 1 <= int(error.response.headers["retry-after"]) <= 20


def test_the_settings_turn_enforcement_on_for_requests_without_a_scenario(
    llmsim_server,
    tiny_model,
    edit,
    make_scenario,  # noqa: F811
):
    from simulator.models import SimulatorSettings

    edit(SimulatorSettings.load(llmsim_server.db_alias), enforce_model_rate_limits=True)
    assert burst(openai_client(llmsim_server), 4)[-1] == (429, "0")
    # A scenario can say No for itself.
    make_scenario("reports-model-limits", enforce_model_rate_limits=False)
    client = openai_client(llmsim_server, **{"x-llmsim-scenario": "reports-model-limits"})
    assert [status for status, _ in burst(client, 4)] == [200, 200, 200, 200]


def test_an_error_after_the_limit_check_carries_the_headers_too(llmsim_server, make_scenario):  # noqa: F811
    make_scenario(
        "breaks-after-the-check",
        rules=[{"action": {"generate": True, "fault": {"kind": "error", "after_tokens": 2, "status": 503}}}],
    )
    client = openai_client(llmsim_server, **{"x-llmsim-scenario": "breaks-after-the-check"})
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=USER)
    headers = raised.value.response.headers
    assert raised.value.status_code == 503
    assert all(name in headers for name in OPENAI_HEADERS), dict(headers)
    assert headers["x-ratelimit-remaining-requests"] == "499"
