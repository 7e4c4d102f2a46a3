"""Bad input on POST /v1/responses gets OpenAI's error body, status, param and code."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import INSTANT, post

# Validation is the adapter's JSON, the same whatever server runs it.
LIVE_SERVERS = ("serve",)

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def assert_openai_error(status, headers, body, expected_status, param=None, code=None, says=None):
    assert status == expected_status, body
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"].startswith("req_")
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert (error["param"], error["code"]) == (param, code), error
    if says:
        assert says in error["message"], error["message"]
    return error


def respond(server, body, headers=None):
    return post(server, "/v1/responses", body, {**INSTANT, **(headers or {})})


@pytest.mark.parametrize(
    ("body", "param", "code", "says"),
    [
        ({"input": "hi"}, "model", "missing_required_parameter", "Missing required parameter: 'model'."),
        ({"model": "gpt-4o"}, "input", "missing_required_parameter", None),
        ({"model": 5, "input": "hi"}, "model", "invalid_type", None),
        ({"model": "gpt-4o", "input": 5}, "input", "invalid_type", "expected a string or an array"),
        ({"model": "gpt-4o", "input": ["hi"]}, "input[0]", "invalid_type", None),
        ({"model": "gpt-4o", "input": [{"type": "web_page"}]}, "input[0].type", "invalid_value", "'web_page'"),
        ({"model": "gpt-4o", "input": [{"content": "hi"}]}, "input[0].role", "missing_required_parameter", None),
        ({"model": "gpt-4o", "input": [{"role": "robot", "content": "hi"}]}, "input[0].role", "invalid_value", None),
        ({"model": "gpt-4o", "input": [{"role": "user"}]}, "input[0].content", "missing_required_parameter", None),
        (
            {"model": "gpt-4o", "input": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
            "input[0].content[0].type",
            "invalid_value",
            "'input_text'",
        ),
        (
            {"model": "gpt-4o", "input": [{"role": "user", "content": [{"type": "input_text"}]}]},
            "input[0].content[0].text",
            "missing_required_parameter",
            None,
        ),
        (
            {"model": "gpt-4o", "input": [{"role": "user", "content": [{"type": "input_image"}]}]},
            "input[0].content[0].image_url",
            "missing_required_parameter",
            None,
        ),
        (
            {"model": "gpt-4o", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
            "input[0].call_id",
            "missing_required_parameter",
            None,
        ),
        (
            {"model": "gpt-4o", "input": [{"type": "function_call_output", "call_id": "call_1"}]},
            "input[0].output",
            "missing_required_parameter",
            None,
        ),
        ({"model": "gpt-4o", "input": "hi", "instructions": 1}, "instructions", "invalid_type", None),
        ({"model": "gpt-4o", "input": "hi", "tools": {}}, "tools", "invalid_type", None),
        (
            {"model": "gpt-4o", "input": "hi", "tools": [{"name": "f"}]},
            "tools[0].type",
            "missing_required_parameter",
            None,
        ),
        (
            {"model": "gpt-4o", "input": "hi", "tools": [{"type": "function", "name": "bad name"}]},
            "tools[0].name",
            "invalid_value",
            "does not match pattern",
        ),
        (
            {
                "model": "gpt-4o",
                "input": "hi",
                "tools": [{"type": "function", "name": "f", "parameters": {"type": "array"}}],
            },
            "tools[0].parameters",
            "invalid_function_parameters",
            "schema must be a JSON Schema of 'type: \"object\"'",
        ),
        (
            {"model": "gpt-4o", "input": "hi", "tools": [{**WEATHER, "strict": True}]},
            "tools[0].parameters",
            "invalid_function_parameters",
            "'additionalProperties' is required to be supplied and to be false",
        ),
        (
            {"model": "gpt-4o", "input": "hi", "tools": [WEATHER], "tool_choice": "always"},
            "tool_choice",
            "invalid_value",
            None,
        ),
        (
            {"model": "gpt-4o", "input": "hi", "tools": [WEATHER], "tool_choice": {"type": "function", "name": "nope"}},
            "tool_choice",
            "invalid_value",
            "function 'nope' was not found in 'tools'",
        ),
        ({"model": "gpt-4o", "input": "hi", "parallel_tool_calls": "yes"}, "parallel_tool_calls", "invalid_type", None),
        (
            {"model": "gpt-4o", "input": "hi", "text": {"format": {"type": "xml"}}},
            "text.format.type",
            "invalid_value",
            None,
        ),
        (
            {"model": "gpt-4o", "input": "hi", "text": {"format": {"type": "json_schema", "name": "x"}}},
            "text.format.schema",
            "missing_required_parameter",
            None,
        ),
        (
            {
                "model": "gpt-4o",
                "input": "hi",
                "text": {"format": {"type": "json_schema", "schema": {"type": "object"}}},
            },
            "text.format.name",
            "missing_required_parameter",
            None,
        ),
        (
            {
                "model": "gpt-4o",
                "input": "hi",
                "text": {"format": {"type": "json_schema", "name": "x", "strict": True, "schema": {"type": "object"}}},
            },
            "text.format.schema",
            "invalid_json_schema",
            "'additionalProperties' is required",
        ),
        ({"model": "gpt-4o", "input": "hi", "text": {"format": {"type": "json_object"}}}, "input", None, "'json'"),
        ({"model": "gpt-4o", "input": "hi", "text": {"verbosity": "loud"}}, "text.verbosity", "invalid_value", None),
        ({"model": "o3", "input": "hi", "reasoning": {"effort": "extreme"}}, "reasoning.effort", "invalid_value", None),
        ({"model": "o3", "input": "hi", "reasoning": {"summary": "long"}}, "reasoning.summary", "invalid_value", None),
        (
            {"model": "gpt-4o", "input": "hi", "reasoning": {"effort": "high"}},
            "reasoning.effort",
            "unsupported_parameter",
            "not supported with this model",
        ),
        (
            {"model": "gpt-4o", "input": "hi", "max_output_tokens": 15},
            "max_output_tokens",
            "integer_below_min_value",
            ">= 16",
        ),
        (
            {"model": "gpt-4o", "input": "hi", "max_output_tokens": 10_000_000},
            "max_output_tokens",
            "integer_above_max_value",
            None,
        ),
        ({"model": "gpt-4o", "input": "hi", "temperature": 3}, "temperature", "decimal_above_max_value", None),
        ({"model": "gpt-4o", "input": "hi", "top_p": -1}, "top_p", "decimal_below_min_value", None),
        ({"model": "gpt-4o", "input": "hi", "metadata": {"a": 1}}, "metadata.a", "invalid_type", None),
        ({"model": "gpt-4o", "input": "hi", "stream": "yes"}, "stream", "invalid_type", None),
        ({"model": "gpt-4o", "input": "hi", "store": "no"}, "store", "invalid_type", None),
        ({"model": "gpt-4o", "input": "hi", "truncation": "middle"}, "truncation", "invalid_value", None),
        (
            {"model": "gpt-4o", "input": "hi", "previous_response_id": "resp_unknown"},
            "previous_response_id",
            "previous_response_not_found",
            "Previous response with id 'resp_unknown' not found.",
        ),
        (
            {"model": "gpt-4o", "input": [{"type": "function_call_output", "call_id": "call_x", "output": "1"}]},
            "input",
            None,
            "No tool call found for function call output with call_id call_x.",
        ),
        (
            {
                "model": "gpt-4o",
                "input": [
                    {"role": "user", "content": "weather?"},
                    {"type": "function_call", "call_id": "call_y", "name": "get_weather", "arguments": "{}"},
                ],
            },
            "input",
            None,
            "No tool output found for function call call_y.",
        ),
    ],
)
def test_bad_requests_are_400_with_param_and_code(llmsim_server, body, param, code, says):
    status, headers, answer = respond(llmsim_server, body)
    assert_openai_error(status, headers, answer, 400, param, code, says)


def test_malformed_json_is_400(llmsim_server):
    status, headers, body = respond(llmsim_server, b'{"model": "gpt-4o", "input": ')
    assert_openai_error(status, headers, body, 400, says="could not parse the JSON body")


def test_a_prompt_over_the_context_window_is_400(llmsim_server):
    status, headers, body = respond(llmsim_server, {"model": "gpt-4", "input": "word " * 10_000})
    assert_openai_error(
        status, headers, body, 400, "input", "context_length_exceeded", "exceeds the context window of this model"
    )


def test_an_unknown_model_in_strict_mode_is_404(llmsim_server, edit, live_db):
    from simulator.models import SimulatorSettings

    edit(SimulatorSettings.load(live_db), strict_models=True)
    status, _, body = respond(llmsim_server, {"model": "gpt-nonexistent", "input": "hi"})
    assert status == 404 and body["error"]["code"] == "model_not_found"


def test_a_missing_api_key_is_401(llmsim_server):
    status, _, body = post(llmsim_server, "/v1/responses", {"model": "gpt-4o", "input": "hi"}, {"Authorization": ""})
    assert status == 401 and "API key" in body["error"]["message"]


def test_hosted_tools_are_accepted_and_answered_in_text(client):
    response = client.responses.create(
        model="gpt-4o", input="Search the web for llamas", tools=[{"type": "web_search"}], extra_headers=INSTANT
    )
    assert [item.type for item in response.output] == ["message"]
    assert response.tools[0].type == "web_search"


def test_the_sdk_raises_bad_request_with_the_param(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model="gpt-4o", input="hi", max_output_tokens=1, extra_headers=INSTANT)
    assert raised.value.param == "max_output_tokens"
