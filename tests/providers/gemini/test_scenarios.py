"""Scenarios on the Gemini API: response rules, retries, rate limits and mid-stream faults."""

from __future__ import annotations

import uuid

import httpx2
import pytest
from google import genai
from google.genai import errors, types

from tests.conftest import INSTANT

LIVE_SERVERS = ("serve",)  # scenarios are the pipeline's, whatever the server

MODEL = "gemini-2.5-flash"


@pytest.fixture(scope="module")
def scenarios(module_scenarios):
    module_scenarios(
        "gemini-rules",
        rules=[
            {"match_last_user": "magic words", "action": {"text": "A rule answered."}},
            {
                "match_header": "x-test-case: tool",
                "action": {"tool_calls": [{"name": "lookup", "arguments": {"order": 42}}]},
            },
            {
                "match_header": "x-test-case: retry",
                "action": {
                    "sequence": [
                        {"error": {"status": 429}},
                        {"error": {"status": 503}},
                        {"text": "Third time lucky."},
                    ]
                },
            },
            {
                "match_header": "x-test-case: stream-error",
                "action": {"generate": True, "fault": {"kind": "error", "status": 503, "after_tokens": 3}},
            },
            {
                "match_header": "x-test-case: stream-drop",
                "action": {"generate": True, "fault": {"kind": "disconnect", "after_tokens": 3}},
            },
        ],
    )
    module_scenarios("gemini-limits", requests_per_minute=2)


def client_for(server, scenario: str, retry: types.HttpRetryOptions | None = None, key: str = "test", **headers):
    options = types.HttpOptions(
        base_url=server.base_url,
        headers={**INSTANT, "x-llmsim-scenario": scenario, **headers},
        retry_options=retry,
    )
    return genai.Client(api_key=key, http_options=options)


def test_a_rule_matches_a_gemini_request(llmsim_server, scenarios):
    client = client_for(llmsim_server, "gemini-rules")
    assert client.models.generate_content(model=MODEL, contents="Say the magic words").text == "A rule answered."
    assert client.models.generate_content(model=MODEL, contents="Something else").text != "A rule answered."


def test_a_rule_makes_the_model_call_a_function(llmsim_server, scenarios):
    client = client_for(llmsim_server, "gemini-rules", **{"x-test-case": "tool"})
    lookup = types.FunctionDeclaration(
        name="lookup", parameters=types.Schema(type="OBJECT", properties={"order": types.Schema(type="INTEGER")})
    )
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[lookup])])
    response = client.models.generate_content(model=MODEL, contents="Where is my order?", config=config)
    assert [(call.name, call.args) for call in response.function_calls] == [("lookup", {"order": 42})]


def test_the_sdk_retries_429_and_503_when_told_to(llmsim_server, scenarios):
    retry = types.HttpRetryOptions(attempts=3, initial_delay=0.01, max_delay=0.05)
    client = client_for(llmsim_server, "gemini-rules", retry, **{"x-test-case": "retry"})
    response = client.models.generate_content(model=MODEL, contents=f"Retry me {uuid.uuid4()}")
    assert response.text == "Third time lucky."


def test_without_retries_the_rules_errors_reach_the_caller(llmsim_server, scenarios):
    client = client_for(llmsim_server, "gemini-rules", **{"x-test-case": "retry"})
    text = f"No retries {uuid.uuid4()}"
    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model=MODEL, contents=text)
    assert raised.value.code == 429 and raised.value.status == "RESOURCE_EXHAUSTED"
    with pytest.raises(errors.ServerError) as raised:
        client.models.generate_content(model=MODEL, contents=text)
    assert raised.value.code == 503


def stream_text(client, seen: list[str]) -> None:
    for chunk in client.models.generate_content_stream(
        model=MODEL,
        contents="Hi",
        config=types.GenerateContentConfig(http_options=types.HttpOptions(headers={**INSTANT, "x-llmsim-tbt-ms": "2"})),
    ):
        seen.append(chunk.text)


def test_a_mid_stream_error_is_an_error_chunk(llmsim_server, scenarios):
    client = client_for(llmsim_server, "gemini-rules", **{"x-test-case": "stream-error"})
    seen: list[str] = []
    with pytest.raises(errors.ServerError) as raised:
        stream_text(client, seen)
    assert raised.value.code == 503 and raised.value.status == "UNAVAILABLE"
    assert "".join(seen)


def test_a_mid_stream_disconnect_breaks_the_stream(llmsim_server, scenarios):
    client = client_for(llmsim_server, "gemini-rules", **{"x-test-case": "stream-drop"})
    seen: list[str] = []
    with pytest.raises((httpx2.HTTPError, errors.APIError)):
        stream_text(client, seen)


def test_rate_limits_answer_resource_exhausted_with_retry_info(llmsim_server, scenarios):
    client = client_for(llmsim_server, "gemini-limits", key=f"key-{uuid.uuid4()}")
    for _ in range(2):
        client.models.generate_content(model=MODEL, contents="Hi")
    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model=MODEL, contents="Hi")
    assert raised.value.code == 429 and raised.value.status == "RESOURCE_EXHAUSTED"
    retry_info = next(d for d in raised.value.details["error"]["details"] if d["@type"].endswith("RetryInfo"))
    assert retry_info["retryDelay"].endswith("s")
