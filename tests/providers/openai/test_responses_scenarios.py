"""Scenarios on the Responses API: response rules, injected errors, rate limits and mid-stream faults."""

from __future__ import annotations

import uuid

import httpx2
import openai
import pytest

from tests.conftest import INSTANT

LIVE_SERVERS = ("serve",)  # scenarios are the pipeline's, whatever the server

MODEL = "gpt-4o"
LOOKUP = {"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}


@pytest.fixture(scope="module")
def scenarios(module_scenarios):
    module_scenarios(
        "responses-rules",
        rules=[
            {"match_last_user": "magic words", "action": {"text": "A rule answered."}},
            {"match_system": "pirate", "action": {"text": "Arr."}},
            {
                "match_header": "x-test-case: tool",
                "action": {"tool_calls": [{"name": "lookup", "arguments": {"order": 42}}]},
            },
            {
                "match_header": "x-test-case: retry",
                "action": {"sequence": [{"error": {"status": 429, "retry_after_ms": 10}}, {"text": "Second time."}]},
            },
            {
                "match_header": "x-test-case: stream-error",
                "action": {"generate": True, "fault": {"kind": "error", "after_tokens": 3, "message": "Boom."}},
            },
            {
                "match_header": "x-test-case: stream-drop",
                "action": {"generate": True, "fault": {"kind": "disconnect", "after_tokens": 3}},
            },
        ],
    )
    module_scenarios("responses-limits", requests_per_minute=2)


def client_for(server, scenario: str, retries: int = 0, api_key: str = "test", **headers) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{server.base_url}/v1",
        api_key=api_key,
        max_retries=retries,
        default_headers={**INSTANT, "x-llmsim-scenario": scenario, **headers},
    )


def test_a_rule_matches_the_input(llmsim_server, scenarios):
    client = client_for(llmsim_server, "responses-rules")
    assert client.responses.create(model=MODEL, input="Say the magic words").output_text == "A rule answered."
    assert client.responses.create(model=MODEL, input="Something else").output_text != "A rule answered."


def test_a_rule_matches_the_instructions_as_the_system_prompt(llmsim_server, scenarios):
    client = client_for(llmsim_server, "responses-rules")
    response = client.responses.create(model=MODEL, input="Hello", instructions="Talk like a pirate.")
    assert response.output_text == "Arr."


def test_a_rule_makes_the_model_call_a_function(llmsim_server, scenarios):
    client = client_for(llmsim_server, "responses-rules", **{"x-test-case": "tool"})
    response = client.responses.create(model=MODEL, input="Where is my order?", tools=[LOOKUP])
    [call] = response.output
    assert (call.type, call.name, call.arguments) == ("function_call", "lookup", '{"order":42}')


def test_the_sdk_retries_a_scripted_429(llmsim_server, scenarios):
    client = client_for(llmsim_server, "responses-rules", retries=1, **{"x-test-case": "retry"})
    raw = client.responses.with_raw_response.create(model=MODEL, input=f"Retry me {uuid.uuid4()}")
    assert raw.retries_taken == 1
    assert raw.parse().output_text == "Second time."


def test_an_injected_error_is_openais_error(client):
    with pytest.raises(openai.InternalServerError) as raised:
        client.responses.create(model=MODEL, input="hi", extra_headers={"x-llmsim-error": "503"})
    assert raised.value.status_code == 503 and raised.value.type == "server_error"


def test_a_mid_stream_error_ends_with_an_error_event_and_response_failed(llmsim_server, scenarios):
    client = client_for(llmsim_server, "responses-rules", **{"x-test-case": "stream-error"})
    with client.responses.stream(model=MODEL, input="Hi") as stream:
        events = list(stream)
        with pytest.raises(RuntimeError, match=r"response\.completed"):
            stream.get_final_response()
    assert [event.type for event in events].count("response.output_text.delta") == 3
    error, failed = events[-2:]
    assert (error.type, error.code, error.message) == ("error", "server_error", "Boom.")
    assert failed.type == "response.failed"
    assert failed.response.status == "failed" and failed.response.error.code == "server_error"
    # The failure is what was stored.
    assert client.responses.retrieve(failed.response.id).status == "failed"


def test_a_scripted_error_fault_without_streaming_is_an_error_status(llmsim_server, scenarios):
    client = client_for(llmsim_server, "responses-rules", **{"x-test-case": "stream-error"})
    with pytest.raises(openai.InternalServerError) as raised:
        client.responses.create(model=MODEL, input="Hi")
    assert raised.value.message.endswith("Boom.")


def test_a_mid_stream_disconnect_breaks_the_stream(llmsim_server, scenarios):
    client = client_for(llmsim_server, "responses-rules", **{"x-test-case": "stream-drop"})
    deltas: list[str] = []
    with (
        pytest.raises((httpx2.HTTPError, openai.APIError)),
        client.responses.stream(model=MODEL, input="Hi") as stream,
    ):
        deltas.extend(event.delta for event in stream if event.type == "response.output_text.delta")
    assert len(deltas) == 3


def test_rate_limits_report_openai_headers_then_429(llmsim_server, scenarios):
    client = client_for(llmsim_server, "responses-limits", api_key=f"key-{uuid.uuid4()}")
    raw = client.responses.with_raw_response.create(model=MODEL, input="a")
    assert raw.headers["x-ratelimit-limit-requests"] == "2"
    assert raw.headers["x-ratelimit-remaining-requests"] == "1"
    client.responses.create(model=MODEL, input="b")
    with pytest.raises(openai.RateLimitError) as raised:
        client.responses.create(model=MODEL, input="c")
    assert raised.value.code == "rate_limit_exceeded" and raised.value.type == "requests"
    assert int(raised.value.response.headers["retry-after"]) >= 1
