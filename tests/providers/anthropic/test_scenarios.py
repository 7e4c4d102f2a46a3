"""Scenarios on the Anthropic Messages API: response rules, retries, rate limits and mid-stream faults."""

from __future__ import annotations

import uuid

import anthropic
import httpx2
import pytest

from tests.conftest import INSTANT

LIVE_SERVERS = ("serve",)  # scenarios are the pipeline's, whatever the server

MODEL = "claude-haiku-4-5"


@pytest.fixture(scope="module")
def scenarios(module_scenarios):
    module_scenarios(
        "anthropic-rules",
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
                        {"error": {"status": 429, "retry_after_ms": 10}},
                        {"error": {"status": 529, "retry_after_ms": 10}},
                        {"text": "Third time lucky."},
                    ]
                },
            },
            {
                "match_header": "x-test-case: stream-error",
                "action": {"generate": True, "fault": {"kind": "error", "after_tokens": 3}},
            },
            {
                "match_header": "x-test-case: stream-drop",
                "action": {"generate": True, "fault": {"kind": "disconnect", "after_tokens": 3}},
            },
        ],
    )
    module_scenarios("anthropic-limits", requests_per_minute=2)


def client_for(server, scenario: str, retries: int = 0, api_key: str = "test", **headers) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=server.base_url,
        api_key=api_key,
        max_retries=retries,
        default_headers={**INSTANT, "x-llmsim-scenario": scenario, **headers},
    )


def ask(client, text: str = "Hello", **kwargs):
    return client.messages.create(model=MODEL, max_tokens=100, messages=[{"role": "user", "content": text}], **kwargs)


def test_a_rule_matches_an_anthropic_request(llmsim_server, scenarios):
    client = client_for(llmsim_server, "anthropic-rules")
    assert ask(client, "Say the magic words").content[0].text == "A rule answered."
    assert ask(client, "Something else").content[0].text != "A rule answered."


def test_a_rule_makes_the_model_call_a_tool(llmsim_server, scenarios):
    client = client_for(llmsim_server, "anthropic-rules", **{"x-test-case": "tool"})
    tools = [{"name": "lookup", "input_schema": {"type": "object", "properties": {"order": {"type": "integer"}}}}]
    message = ask(client, "Where is my order?", tools=tools)
    assert message.stop_reason == "tool_use"
    assert [(block.name, block.input) for block in message.content] == [("lookup", {"order": 42})]


def test_the_sdk_retries_429_and_529_until_it_gets_an_answer(llmsim_server, scenarios):
    client = client_for(llmsim_server, "anthropic-rules", retries=2, **{"x-test-case": "retry"})
    raw = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=50, messages=[{"role": "user", "content": f"Retry me {uuid.uuid4()}"}]
    )
    assert raw.retries_taken == 2
    assert raw.parse().content[0].text == "Third time lucky."


def test_without_retries_the_rules_errors_reach_the_caller(llmsim_server, scenarios):
    client = client_for(llmsim_server, "anthropic-rules", **{"x-test-case": "retry"})
    text = f"No retries {uuid.uuid4()}"
    with pytest.raises(anthropic.RateLimitError):
        ask(client, text)
    with pytest.raises(anthropic.OverloadedError):
        ask(client, text)


def stream_text(client, seen: list[str]) -> None:
    with client.messages.stream(model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "Hi"}]) as stream:
        seen.extend(stream.text_stream)


def test_a_mid_stream_error_is_anthropics_error_event(llmsim_server, scenarios):
    client = client_for(llmsim_server, "anthropic-rules", **{"x-test-case": "stream-error"})
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as raised:
        stream_text(client, seen)
    assert len(seen) == 3
    assert raised.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}


def test_a_mid_stream_disconnect_breaks_the_stream(llmsim_server, scenarios):
    client = client_for(llmsim_server, "anthropic-rules", **{"x-test-case": "stream-drop"})
    seen: list[str] = []
    with pytest.raises((httpx2.HTTPError, anthropic.APIError)):
        stream_text(client, seen)
    assert len(seen) == 3


def test_rate_limits_report_anthropic_headers_then_429(llmsim_server, scenarios):
    client = client_for(llmsim_server, "anthropic-limits", api_key=f"key-{uuid.uuid4()}")
    raw = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=20, messages=[{"role": "user", "content": "a"}]
    )
    assert raw.headers["anthropic-ratelimit-requests-limit"] == "2"
    assert raw.headers["anthropic-ratelimit-requests-remaining"] == "1"
    assert raw.headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    ask(client, "b")
    with pytest.raises(anthropic.RateLimitError) as raised:
        ask(client, "c")
    assert raised.value.body["error"]["type"] == "rate_limit_error"
    assert 1 <= int(raised.value.response.headers["retry-after"]) <= 31
    assert raised.value.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
