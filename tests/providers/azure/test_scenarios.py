"""Scenarios through openai.AzureOpenAI: a response rule answers, a spent rate limit is Azure's 429."""

from __future__ import annotations

import uuid

import openai
import pytest

from tests.conftest import INSTANT

LIVE_SERVERS = ("serve",)  # scenarios are the pipeline's, whatever the server

MESSAGES = [{"role": "user", "content": "Say the magic words"}]


@pytest.fixture(scope="module")
def scenarios(module_scenarios):
    module_scenarios("azure-rules", rules=[{"match_last_user": "magic words", "action": {"text": "A rule answered."}}])
    module_scenarios("azure-limits", requests_per_minute=2)


def azure_for(server, scenario: str, api_key: str = "test") -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=server.base_url,
        api_key=api_key,
        api_version="2024-10-21",
        max_retries=0,
        default_headers={**INSTANT, "x-llmsim-scenario": scenario},
    )


def test_a_rule_answers_through_a_deployment(llmsim_server, scenarios):
    with azure_for(llmsim_server, "azure-rules") as sdk:
        completion = sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert completion.choices[0].message.content == "A rule answered."
        streamed = sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "A rule answered."


def test_a_spent_rate_limit_is_azures_429_with_its_headers(llmsim_server, scenarios):
    with azure_for(llmsim_server, "azure-limits", api_key=f"key-{uuid.uuid4().hex}") as sdk:
        for remaining in (1, 0):
            raw = sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
            assert raw.headers["x-ratelimit-remaining-requests"] == str(remaining)
        with pytest.raises(openai.RateLimitError) as caught:
            sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    error = caught.value
    assert error.code == "429"
    assert error.body["message"].startswith(
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded "
        "call rate limit"
    )
    headers = error.response.headers
    assert int(headers["retry-after"]) >= 1 and headers["apim-request-id"]
    assert headers["x-ratelimit-remaining-requests"] == "0" and headers["x-ratelimit-limit-requests"] == "2"
    assert "x-ratelimit-reset-requests" not in headers
