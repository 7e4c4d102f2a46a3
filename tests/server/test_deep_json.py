"""Bodies nested deeper than any real request are refused before validation (which walks
them recursively), and an error quotes a caller's value back cut short, never whole."""

from __future__ import annotations

import json

import pytest

from simulator.server.endpoint import MAX_JSON_DEPTH, nested_deeper_than
from simulator.server.http import ProviderError, quoted
from tests.conftest import INSTANT, post

# Parsing and validation are the application's, the same under every server.
LIVE_SERVERS = ("serve",)

GEMINI = {"x-goog-api-key": "test", **INSTANT}
ANTHROPIC = {"x-api-key": "test", "anthropic-version": "2023-06-01", **INSTANT}
OPENAI = {"Authorization": "Bearer test", "OpenAI-Beta": "assistants=v2", **INSTANT}
USER_PARTS = [{"role": "user", "parts": [{"text": "Hi"}]}]
GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"


def nested(levels: int, leaf: object = "x") -> object:
    """`leaf` inside `levels` arrays and objects, alternating."""
    value = leaf
    for level in range(levels):
        value = [value] if level % 2 else {"a": value}
    return value


def test_it_measures_depth_without_recursing():
    assert not nested_deeper_than(nested(64), 64)
    assert nested_deeper_than(nested(65), 64)
    assert not nested_deeper_than("a scalar", 0)
    assert not nested_deeper_than({"wide": list(range(100_000))}, 2)
    assert nested_deeper_than(nested(5000), 64)  # far past the interpreter's recursion limit


DEEP = "__deep__"  # where a body below takes 1,000 levels of nesting


@pytest.mark.parametrize(
    ("path", "headers", "body"),
    [
        (GENERATE, GEMINI, {"contents": DEEP}),
        (GENERATE, GEMINI, {"contents": USER_PARTS, "systemInstruction": DEEP}),
        ("/v1beta/models/gemini-2.5-flash:countTokens", GEMINI, {"contents": DEEP}),
        ("/v1/threads", OPENAI, {"messages": [{"role": "user", "content": DEEP}]}),
        ("/v1/assistants", OPENAI, {"model": "gpt-4o", "tools": [{"type": "function", "function": DEEP}]}),
        ("/v1/messages", ANTHROPIC, {"model": "claude-x", "max_tokens": 5, "messages": DEEP}),
    ],
    ids=["gemini-contents", "gemini-system-instruction", "gemini-count-tokens", "threads", "assistants", "messages"],
)
def test_a_body_nested_past_the_limit_is_a_400_in_the_callers_format(llmsim_server, path, headers, body):
    # Written by hand: the json module would itself meet its recursion limit.
    deep = '{"a":[' * 500 + '"x"' + "]}" * 500
    status, _, payload = post(llmsim_server, path, json.dumps(body).replace(f'"{DEEP}"', deep), headers)
    assert status == 400
    expected = f"The JSON body of your request nests objects and arrays deeper than {MAX_JSON_DEPTH} levels."
    if "x-goog-api-key" in headers:
        assert payload["error"] == {"code": 400, "message": expected, "status": "INVALID_ARGUMENT"}
    elif "anthropic-version" in headers:
        assert payload["error"] == {"type": "invalid_request_error", "message": expected}
    else:
        assert payload["error"] == {"message": expected, "type": "invalid_request_error", "param": None, "code": None}


def test_the_limit_lies_between_what_a_deep_tool_schema_needs_and_one_level_more(llmsim_server):
    def body(properties: int) -> dict:
        schema: dict = {"type": "string"}
        for _ in range(properties):
            schema = {"type": "object", "properties": {"a": schema}, "required": ["a"]}
        return {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}],
            "tool_choice": "required",
        }

    # 29 nested properties: 63 levels of the body; one more property makes 65.
    status, _, payload = post(llmsim_server, "/v1/chat/completions", body(29), OPENAI)
    assert status == 200, payload
    arguments = json.loads(payload["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
    assert "a" in arguments
    status, _, payload = post(llmsim_server, "/v1/chat/completions", body(30), OPENAI)
    assert status == 400 and "deeper than 64 levels" in payload["error"]["message"]


def test_quoting_a_value_keeps_the_message_short():
    assert quoted("user") == "'user'"
    assert len(quoted("x" * 10_000_000)) == 100
    assert len(quoted([{"role": "x" * 1000}] * 1000)) == 100
    assert quoted("x" * 1000).endswith("…")


def test_an_error_message_is_cut_whatever_it_quotes():
    error = ProviderError(400, "Invalid key " + "k" * 100_000, param="metadata." + "k" * 100_000)
    assert len(error.message) <= 2000 and len(error.param) <= 2000


MEGABYTE = "x" * 1_000_000
CHAT_USER = [{"role": "user", "content": "Hi"}]
BLOCK = [{"type": MEGABYTE}]


@pytest.mark.parametrize(
    ("path", "headers", "body"),
    [
        (GENERATE, GEMINI, {"contents": MEGABYTE}),
        (GENERATE, GEMINI, {"contents": [{"role": MEGABYTE, "parts": [{"text": "Hi"}]}]}),
        ("/v1/chat/completions", OPENAI, {"model": "gpt-4o", "messages": [{"role": MEGABYTE, "content": "Hi"}]}),
        ("/v1/chat/completions", OPENAI, {"model": "gpt-4o", "messages": CHAT_USER, "response_format": BLOCK[0]}),
        (
            "/v1/messages",
            ANTHROPIC,
            {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": BLOCK}]},
        ),
        ("/v1/threads", OPENAI, {"messages": [{"role": MEGABYTE, "content": "Hi"}]}),
        ("/v1/embeddings", OPENAI, {"model": "text-embedding-3-small", "input": "Hi", "encoding_format": MEGABYTE}),
    ],
    ids=[
        "gemini-contents",
        "gemini-role",
        "chat-role",
        "chat-response-format",
        "block-type",
        "threads-role",
        "embeddings",
    ],
)
def test_an_error_does_not_send_a_huge_value_back(llmsim_server, path, headers, body):
    status, response_headers, payload = post(llmsim_server, path, body, headers)
    assert status == 400
    assert int(response_headers["content-length"]) < 1000, payload
