"""Anthropic's errors: validation failures, forced statuses and their SDK exception classes."""

from __future__ import annotations

import anthropic
import pytest

from tests.conftest import INSTANT, post

# Request validation and error bodies are the same JSON on every server: one is enough.
LIVE_SERVERS = ("serve",)

MODEL = "claude-haiku-4-5"
HEADERS = {"x-api-key": "test", "anthropic-version": "2023-06-01", **INSTANT}
USER = [{"role": "user", "content": "Hi"}]


def refused(server, body: dict, headers: dict[str, str] = HEADERS, path: str = "/v1/messages"):
    """(status, error) of a request the server refuses; asserts Anthropic's error shape."""
    status, response_headers, payload = post(server, path, body, headers)
    assert payload["type"] == "error" and set(payload["error"]) == {"type", "message"}
    assert response_headers["request-id"] == payload["request_id"]
    return status, payload["error"]


def test_it_needs_anthropic_version(llmsim_server):
    headers = {key: value for key, value in HEADERS.items() if key != "anthropic-version"}
    status, error = refused(llmsim_server, {"model": MODEL, "max_tokens": 5, "messages": USER}, headers)
    assert status == 400
    assert error == {"type": "invalid_request_error", "message": "anthropic-version: header is required"}


def test_it_needs_an_api_key(llmsim_server):
    headers = {"anthropic-version": "2023-06-01", "Authorization": ""}
    status, error = refused(llmsim_server, {"model": MODEL, "max_tokens": 5, "messages": USER}, headers)
    assert status == 401
    assert error == {"type": "authentication_error", "message": "x-api-key header is required"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": MODEL, "messages": USER}, "max_tokens: Field required"),
        ({"max_tokens": 5, "messages": USER}, "model: Field required"),
        ({"model": MODEL, "max_tokens": 0, "messages": USER}, "max_tokens: Input should be greater than or equal to 1"),
        ({"model": MODEL, "max_tokens": "5", "messages": USER}, "max_tokens: Input should be a valid integer"),
        ({"model": MODEL, "max_tokens": 5, "messages": []}, "messages: at least one message is required"),
        (
            {"model": MODEL, "max_tokens": 5, "messages": [{"role": "robot", "content": "Hi"}]},
            "messages.0.role: Input should be 'user' or 'assistant'",
        ),
        (
            {"model": MODEL, "max_tokens": 100_000, "messages": USER},
            "max_tokens: 100000 > 64000, which is the maximum allowed number of output tokens for claude-haiku-4-5",
        ),
        (
            {
                "model": MODEL,
                "max_tokens": 2000,
                "messages": USER,
                "thinking": {"type": "enabled", "budget_tokens": 100},
            },
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ),
    ],
)
def test_it_refuses_invalid_bodies(llmsim_server, body, message):
    status, error = refused(llmsim_server, body)
    assert status == 400
    assert error == {"type": "invalid_request_error", "message": message}


@pytest.mark.parametrize("effort", [[], {"level": "low"}, "extreme"])
def test_an_effort_that_is_not_one_of_the_levels_is_a_400(llmsim_server, effort):
    """A list or an object was a 500: unhashable, looked up among the levels."""
    body = {"model": MODEL, "max_tokens": 5, "messages": USER, "output_config": {"effort": effort}}
    status, error = refused(llmsim_server, body)
    assert status == 400
    assert error == {
        "type": "invalid_request_error",
        "message": "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'",
    }


@pytest.mark.parametrize("output_config", [True, "low", ["effort"], 3])
def test_an_output_config_that_is_not_an_object_is_a_400(llmsim_server, output_config):
    """Found by tests/live/test_fuzz.py: anything but an object was taken for no output_config."""
    body = {"model": MODEL, "max_tokens": 5, "messages": USER, "output_config": output_config}
    status, error = refused(llmsim_server, body)
    assert status == 400
    assert error == {"type": "invalid_request_error", "message": "output_config: Input should be a valid dictionary"}


@pytest.mark.parametrize("tag", [[], ["text"], {"type": "text"}])
def test_a_content_block_tagged_with_a_list_or_object_is_a_400(llmsim_server, tag):
    """Found by tests/live/test_fuzz.py: an unhashable tag met the set of block types and was a 500."""
    body = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": tag}]}]}
    status, error = refused(llmsim_server, body)
    assert status == 400 and error["type"] == "invalid_request_error"
    assert error["message"].startswith("messages.0.content.0.type: Input tag")


def test_thinking_needs_max_tokens_above_its_budget(llmsim_server):
    body = {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": USER,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    status, error = refused(llmsim_server, body)
    assert status == 400 and "`max_tokens` must be greater than `thinking.budget_tokens`" in error["message"]


def test_a_tool_use_needs_its_tool_result_next(llmsim_server):
    messages = [
        *USER,
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
        {"role": "user", "content": "Go on"},
    ]
    status, error = refused(llmsim_server, {"model": MODEL, "max_tokens": 5, "messages": messages})
    assert status == 400
    assert error["message"].startswith(
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1."
    )


def test_a_tool_result_needs_its_tool_use_before(llmsim_server):
    messages = [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"}]}]
    status, error = refused(llmsim_server, {"model": MODEL, "max_tokens": 5, "messages": messages})
    assert status == 400
    assert error["message"].startswith(
        "messages.0.content: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9."
    )


def test_tool_definitions_are_checked(llmsim_server):
    tools = [{"name": "bad name!", "input_schema": {"type": "object"}}]
    status, error = refused(llmsim_server, {"model": MODEL, "max_tokens": 5, "messages": USER, "tools": tools})
    assert status == 400 and error["message"].startswith("tools.0.custom.name: String should match pattern")
    choice = {"type": "tool", "name": "absent"}
    body = {
        "model": MODEL,
        "max_tokens": 5,
        "messages": USER,
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
    }
    status, error = refused(llmsim_server, {**body, "tool_choice": choice})
    assert status == 400 and error["message"] == "tool_choice.name: Tool 'absent' not found in the provided tools"


def test_count_tokens_needs_no_max_tokens_but_a_version(llmsim_server):
    status, _, payload = post(llmsim_server, "/v1/messages/count_tokens", {"model": MODEL, "messages": USER}, HEADERS)
    assert status == 200 and payload["input_tokens"] > 0
    headers = {"x-api-key": "test"}
    status, error = refused(llmsim_server, {"model": MODEL, "messages": USER}, headers, "/v1/messages/count_tokens")
    assert status == 400 and error["type"] == "invalid_request_error"


ERRORS = {
    400: (anthropic.BadRequestError, "invalid_request_error"),
    401: (anthropic.AuthenticationError, "authentication_error"),
    403: (anthropic.PermissionDeniedError, "permission_error"),
    404: (anthropic.NotFoundError, "not_found_error"),
    408: (anthropic.RequestTimeoutError, "timeout_error"),
    409: (anthropic.ConflictError, "invalid_request_error"),
    413: (anthropic.ContentTooLargeError, "request_too_large"),
    422: (anthropic.UnprocessableEntityError, "invalid_request_error"),
    429: (anthropic.RateLimitError, "rate_limit_error"),
    500: (anthropic.InternalServerError, "api_error"),
    502: (anthropic.InternalServerError, "api_error"),
    503: (anthropic.ServiceUnavailableError, "api_error"),
    504: (anthropic.GatewayTimeoutError, "timeout_error"),
    529: (anthropic.OverloadedError, "overloaded_error"),
}


@pytest.mark.parametrize("status", sorted(ERRORS))
def test_every_forced_status_raises_its_sdk_exception(anthropic_client, status):
    exception, kind = ERRORS[status]
    with pytest.raises(exception) as raised:
        anthropic_client.messages.create(
            model=MODEL, max_tokens=5, messages=USER, extra_headers={"x-llmsim-error": str(status)}
        )
    assert type(raised.value) is exception
    assert raised.value.status_code == status
    assert raised.value.body["error"]["type"] == kind
    assert raised.value.request_id.startswith("req_")


def test_a_forced_429_says_when_to_retry(llmsim_server):
    status, headers, _ = post(
        llmsim_server,
        "/v1/messages",
        {"model": MODEL, "max_tokens": 5, "messages": USER},
        {**HEADERS, "x-llmsim-error": "429"},
    )
    assert status == 429
    assert int(headers["retry-after"]) >= 1
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert headers["anthropic-ratelimit-requests-reset"].endswith("Z")


def test_a_malformed_override_header_is_a_400_in_anthropics_shape(llmsim_server):
    status, error = refused(
        llmsim_server, {"model": MODEL, "max_tokens": 5, "messages": USER}, {**HEADERS, "x-llmsim-ttft-ms": "soon"}
    )
    assert status == 400 and error["type"] == "invalid_request_error" and "x-llmsim-ttft-ms" in error["message"]
