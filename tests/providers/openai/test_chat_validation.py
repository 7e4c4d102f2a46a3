"""Bad input on /v1/ gets OpenAI's error body and status — never a 500, never HTML."""

from __future__ import annotations

import urllib.request

import openai
import pytest

from tests.conftest import post

# Request validation and error bodies are the same JSON on every server: one is enough.
LIVE_SERVERS = ("serve",)

USER = [{"role": "user", "content": "hi"}]


def assert_openai_error(status, headers, body, expected_status, param=None, code=None, says=None):
    assert status == expected_status, body
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"].startswith("req_")
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param
    assert error["code"] == code
    if says:
        assert says in error["message"]
    return error


def test_malformed_json_is_400(llmsim_server):
    status, headers, body = post(llmsim_server, "/v1/chat/completions", b'{"model": "gpt-4o", "messages": [')
    error = assert_openai_error(status, headers, body, 400, says="could not parse the JSON body")
    assert error["type"] == "invalid_request_error"


def test_an_empty_body_is_400(llmsim_server):
    status, headers, body = post(llmsim_server, "/v1/chat/completions", b"")
    assert_openai_error(status, headers, body, 400, says="could not parse the JSON body")


def test_a_body_that_is_not_an_object_is_400(llmsim_server):
    status, headers, body = post(llmsim_server, "/v1/chat/completions", [1, 2])
    assert_openai_error(status, headers, body, 400, says="expected a JSON object")


def test_a_missing_model_is_400(llmsim_server):
    status, headers, body = post(llmsim_server, "/v1/chat/completions", {"messages": USER})
    assert_openai_error(status, headers, body, 400, says="you must provide a model parameter")


def test_missing_messages_is_400_with_param(llmsim_server):
    status, headers, body = post(llmsim_server, "/v1/chat/completions", {"model": "gpt-4o"})
    assert_openai_error(status, headers, body, 400, param="messages", code="missing_required_parameter")


@pytest.mark.parametrize(
    ("patch", "param", "code"),
    [
        ({"model": 5}, "model", "invalid_type"),
        ({"messages": "hi"}, "messages", "invalid_type"),
        ({"messages": []}, "messages", "empty_array"),
        ({"messages": ["hi"]}, "messages[0]", "invalid_type"),
        ({"messages": [{"role": "bot", "content": "x"}]}, "messages[0].role", "invalid_value"),
        ({"messages": [{"content": "x"}]}, "messages[0].role", "missing_required_parameter"),
        ({"messages": [{"role": "user"}]}, "messages[0].content", "missing_required_parameter"),
        ({"messages": [{"role": "user", "content": 42}]}, "messages[0].content", "invalid_type"),
        (
            {"messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages[0].content[0].type",
            "invalid_value",
        ),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id", "missing_required_parameter"),
        ({"n": 0}, "n", "integer_below_min_value"),
        ({"n": "2"}, "n", "invalid_type"),
        ({"max_tokens": 0}, "max_tokens", "integer_below_min_value"),
        ({"max_tokens": 1.5}, "max_tokens", "invalid_type"),
        ({"temperature": 3}, "temperature", "decimal_above_max_value"),
        ({"stream": "yes"}, "stream", "invalid_type"),
        ({"stream_options": {"include_usage": True}}, "stream_options", "invalid_value"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "array_above_max_length"),
        ({"stop": 7}, "stop", "invalid_type"),
        ({"response_format": {"type": "yaml"}}, "response_format.type", "invalid_value"),
        ({"max_tokens": 50_000, "model": "gpt-4o"}, "max_tokens", "invalid_value"),
    ],
)
def test_invalid_fields_are_400_with_param_and_code(llmsim_server, patch, param, code):
    body = {"model": "instant", "messages": USER, **patch}
    status, headers, payload = post(llmsim_server, "/v1/chat/completions", body)
    assert_openai_error(status, headers, payload, 400, param=param, code=code)


def test_reasoning_models_refuse_max_tokens(llmsim_server):
    body = {"model": "o3", "messages": USER, "max_tokens": 10}
    status, headers, payload = post(llmsim_server, "/v1/chat/completions", body)
    assert_openai_error(status, headers, payload, 400, param="max_tokens", code="unsupported_parameter")


def test_a_prompt_over_the_context_window_is_400(llmsim_server):
    body = {"model": "gpt-4", "messages": [{"role": "user", "content": "word " * 9000}]}
    status, headers, payload = post(llmsim_server, "/v1/chat/completions", body)
    assert_openai_error(status, headers, payload, 400, param="messages", code="context_length_exceeded")


def test_a_body_over_the_size_limit_is_413(llmsim_server):
    huge = b'{"model":"instant","messages":[{"role":"user","content":"' + b"x" * (11 * 1024 * 1024) + b'"}]}'
    status, headers, payload = post(llmsim_server, "/v1/chat/completions", huge)
    assert_openai_error(status, headers, payload, 413, code=None, says="too large")
    # ...and the server keeps serving.
    assert post(llmsim_server, "/v1/chat/completions", {"model": "instant", "messages": USER})[0] == 200


def test_a_missing_api_key_is_401(llmsim_server):
    request = urllib.request.Request(
        f"{llmsim_server.base_url}/v1/chat/completions",
        data=b'{"model":"instant","messages":[{"role":"user","content":"hi"}]}',
        method="POST",
    )
    try:
        urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        import json

        body = json.loads(error.read())
        assert error.code == 401
        assert "API key" in body["error"]["message"]
    else:
        raise AssertionError("expected 401")


def test_an_unknown_path_is_an_openai_404(llmsim_server):
    status, headers, payload = post(llmsim_server, "/v1/chat/complete", {"model": "x"})
    assert_openai_error(status, headers, payload, 404, says="Invalid URL (POST /v1/chat/complete)")


def test_a_wrong_method_is_405(llmsim_server):
    request = urllib.request.Request(
        f"{llmsim_server.base_url}/v1/chat/completions", headers={"Authorization": "Bearer t"}, method="GET"
    )
    try:
        urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        assert error.code == 405
        assert error.headers["allow"] == "POST"
    else:
        raise AssertionError("expected 405")


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x-llmsim-ttft-ms", "soon"),
        ("x-llmsim-tbt-ms", "-5"),
        ("x-llmsim-tokens", "1.5"),
        ("x-llmsim-tokens", "200000"),
        ("x-llmsim-seed", "abc"),
        ("x-llmsim-error", "200"),
        ("x-llmsim-error", "418"),
    ],
)
def test_malformed_override_headers_are_400(llmsim_server, header, value):
    body = {"model": "instant", "messages": USER}
    status, _, payload = post(llmsim_server, "/v1/chat/completions", body, {header: value})
    assert status == 400
    assert header in payload["error"]["message"]


def test_the_sdk_raises_typed_errors(client):
    with pytest.raises(openai.BadRequestError) as excinfo:
        client.chat.completions.create(model="instant", messages=[])
    assert excinfo.value.code == "empty_array"
    assert excinfo.value.param == "messages"
    assert excinfo.value.request_id.startswith("req_")
