"""Bad tool definitions, tool choices, tool-call histories and response formats: OpenAI's 400s."""

from __future__ import annotations

import pytest

from tests.conftest import post
from tests.providers.openai.test_chat_validation import assert_openai_error

# Request validation and error bodies are the same JSON on every server: one is enough.
LIVE_SERVERS = ("serve",)

USER = [{"role": "user", "content": "hi"}]
OK_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}


def function_tool(**function):
    return {"type": "function", "function": {"name": "f", **function}}


BAD_REQUESTS = [
    pytest.param(
        {"tools": [function_tool(name="get weather!")]},
        "tools[0].function.name",
        "invalid_value",
        "string does not match pattern",
        id="name-pattern",
    ),
    pytest.param(
        {"tools": [function_tool(name="x" * 65)]},
        "tools[0].function.name",
        "string_above_max_length",
        "maximum length 64",
        id="name-too-long",
    ),
    pytest.param(
        {"tools": [{"type": "function", "function": {"description": "no name"}}]},
        "tools[0].function.name",
        "missing_required_parameter",
        "Missing required parameter",
        id="name-missing",
    ),
    pytest.param(
        {"tools": [function_tool(parameters={"type": "string"})]},
        "tools[0].function.parameters",
        "invalid_function_parameters",
        "schema must be a JSON Schema of 'type: \"object\"'",
        id="schema-not-object",
    ),
    pytest.param(
        {"tools": [function_tool(parameters=["city"])]},
        "tools[0].function.parameters",
        "invalid_type",
        "expected an object",
        id="schema-not-a-dict",
    ),
    pytest.param(
        {"tools": [function_tool(parameters={"type": "object", "properties": {"a": {"$ref": "#/$defs/Nope"}}})]},
        "tools[0].function.parameters",
        "invalid_function_parameters",
        "Invalid schema for function 'f'",
        id="schema-bad-ref",
    ),
    pytest.param(
        {"tools": [{"type": "browser", "function": {"name": "f"}}]},
        "tools[0].type",
        "invalid_value",
        "Supported values are: 'function'",
        id="tool-type",
    ),
    pytest.param({"tools": "get_weather"}, "tools", "invalid_type", "expected an array", id="tools-not-array"),
    pytest.param(
        {"tools": [OK_TOOL], "tool_choice": {"type": "function", "function": {"name": "send_email"}}},
        "tool_choice",
        "invalid_value",
        "function 'send_email' was not found in 'tools'",
        id="named-choice-not-offered",
    ),
    pytest.param(
        {"tool_choice": "required"},
        "tool_choice",
        "invalid_value",
        "only allowed when 'tools' are specified",
        id="choice-without-tools",
    ),
    pytest.param(
        {"tools": [OK_TOOL], "tool_choice": "always"},
        "tool_choice",
        "invalid_value",
        "Supported values are: 'none', 'auto', and 'required'",
        id="choice-unknown-mode",
    ),
    pytest.param(
        {"parallel_tool_calls": True},
        "parallel_tool_calls",
        "invalid_value",
        "only allowed when 'tools' are specified",
        id="parallel-without-tools",
    ),
    pytest.param(
        {"tools": [OK_TOOL], "parallel_tool_calls": "yes"},
        "parallel_tool_calls",
        "invalid_type",
        "expected a boolean",
        id="parallel-not-boolean",
    ),
    pytest.param(
        {"functions": [{"name": "f"}], "function_call": {"name": "g"}},
        "function_call",
        "invalid_value",
        "function 'g' was not found in 'functions'",
        id="legacy-named-not-offered",
    ),
    pytest.param(
        {"functions": [{"name": "bad name"}]},
        "functions[0].name",
        "invalid_value",
        "string does not match pattern",
        id="legacy-name-pattern",
    ),
    pytest.param(
        {"response_format": {"type": "json_schema"}},
        "response_format.json_schema",
        "missing_required_parameter",
        "Missing required parameter",
        id="json-schema-missing",
    ),
    pytest.param(
        {"response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}}},
        "response_format.json_schema.name",
        "missing_required_parameter",
        "Missing required parameter",
        id="json-schema-name-missing",
    ),
    pytest.param(
        {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "array"}}}},
        "response_format.json_schema.schema",
        "invalid_json_schema",
        "Invalid schema for response_format 'x'",
        id="json-schema-not-object",
    ),
]


@pytest.mark.parametrize(("extra", "param", "code", "says"), BAD_REQUESTS)
def test_bad_tool_requests_are_400_with_param(llmsim_server, extra, param, code, says):
    body = {"model": "instant", "messages": USER, **extra}
    status, headers, answer = post(llmsim_server, "/v1/chat/completions", body)
    error = assert_openai_error(status, headers, answer, 400, param=param, code=code, says=says)
    assert error["type"] == "invalid_request_error"


def test_json_object_needs_the_word_json_in_the_messages(llmsim_server):
    body = {"model": "instant", "messages": USER, "response_format": {"type": "json_object"}}
    status, headers, answer = post(llmsim_server, "/v1/chat/completions", body)
    assert_openai_error(status, headers, answer, 400, param="messages", says="must contain the word 'json'")


def test_functions_and_tools_together_are_400(llmsim_server):
    body = {"model": "instant", "messages": USER, "tools": [OK_TOOL], "functions": [{"name": "f"}]}
    status, headers, answer = post(llmsim_server, "/v1/chat/completions", body)
    assert_openai_error(status, headers, answer, 400, param="functions", says="cannot both be set")


CALL = {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}


def test_a_tool_message_without_a_preceding_call_is_400(llmsim_server):
    messages = [*USER, {"role": "tool", "tool_call_id": "call_abc", "content": "21C"}]
    status, headers, answer = post(llmsim_server, "/v1/chat/completions", {"model": "instant", "messages": messages})
    assert_openai_error(
        status, headers, answer, 400, param="messages.[1].role", says="must be a response to a preceeding message"
    )


def test_a_tool_call_id_that_matches_no_call_is_400(llmsim_server):
    messages = [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_other", "content": "21C"},
    ]
    status, headers, answer = post(llmsim_server, "/v1/chat/completions", {"model": "instant", "messages": messages})
    assert_openai_error(
        status, headers, answer, 400, param="messages.[2].tool_call_id", says="'call_other' not found in 'tool_calls'"
    )


def test_a_tool_call_left_without_a_result_is_400(llmsim_server):
    messages = [*USER, {"role": "assistant", "content": None, "tool_calls": [CALL]}, {"role": "user", "content": "?"}]
    status, headers, answer = post(llmsim_server, "/v1/chat/completions", {"model": "instant", "messages": messages})
    assert_openai_error(
        status, headers, answer, 400, param="messages.[1].role", says="did not have response messages: call_abc"
    )


def test_the_server_keeps_serving_after_bad_tool_requests(llmsim_server):
    post(llmsim_server, "/v1/chat/completions", {"model": "instant", "messages": USER, "tools": [{"type": 1}]})
    status, _, answer = post(
        llmsim_server, "/v1/chat/completions", {"model": "instant", "messages": USER, "tools": [OK_TOOL]}
    )
    assert status == 200
    assert answer["choices"][0]["message"]["tool_calls"]


def test_a_strict_function_must_close_its_objects(llmsim_server):
    parameters = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    body = {"model": "instant", "messages": USER, "tools": [function_tool(parameters=parameters, strict=True)]}
    status, headers, answer = post(llmsim_server, "/v1/chat/completions", body)
    assert_openai_error(
        status,
        headers,
        answer,
        400,
        param="tools[0].function.parameters",
        code="invalid_function_parameters",
        says="'additionalProperties' is required to be supplied and to be false",
    )


def test_a_strict_schema_must_require_every_property(llmsim_server):
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}}
    body = {"model": "instant", "messages": USER, "response_format": response_format}
    status, headers, answer = post(llmsim_server, "/v1/chat/completions", body)
    assert_openai_error(
        status,
        headers,
        answer,
        400,
        param="response_format.json_schema.schema",
        code="invalid_json_schema",
        says="Missing 'b'",
    )
