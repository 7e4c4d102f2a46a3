"""Gemini's errors: validation failures, forced statuses and the SDK's exception classes."""

from __future__ import annotations

import pytest
from google.genai import errors, types

from tests.conftest import INSTANT, post

# Request validation and error bodies are the same JSON on every server: one is enough.
LIVE_SERVERS = ("serve",)

MODEL = "gemini-2.5-flash"
HEADERS = {"x-goog-api-key": "test", **INSTANT}
USER = [{"role": "user", "parts": [{"text": "Hi"}]}]
GENERATE = f"/v1beta/models/{MODEL}:generateContent"


def refused(server, body: dict, headers: dict[str, str] = HEADERS, path: str = GENERATE):
    """(status, error) of a request the server refuses; asserts Google's error shape."""
    status, _, payload = post(server, path, body, headers)
    error = payload["error"]
    assert error["code"] == status and isinstance(error["message"], str) and error["status"]
    return status, error


def test_it_needs_an_api_key(llmsim_server):
    status, error = refused(llmsim_server, {"contents": USER}, {**INSTANT, "Authorization": ""})
    assert status == 401 and error["status"] == "UNAUTHENTICATED"
    assert error["message"].startswith("Method doesn't allow unregistered callers")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "* GenerateContentRequest.contents: contents is not specified"),
        ({"contents": []}, "* GenerateContentRequest.contents: contents is not specified"),
        ({"contents": [{"role": "robot", "parts": [{"text": "Hi"}]}]}, "Please use a valid role: user, model."),
        (
            {"contents": USER, "generationConfig": {"candidateCount": 9}},
            "* GenerateContentRequest.generation_config.candidate_count: must be in the range [1, 8].",
        ),
        (
            {"contents": USER, "generationConfig": {"maxOutputTokens": 70000}},
            "Unable to submit request because it has a maxOutputTokens value of 70000",
        ),
        (
            {"contents": USER, "generationConfig": {"responseMimeType": "text/html"}},
            "* GenerateContentRequest.generation_config.response_mime_type: allowed mimetypes are",
        ),
        (
            {
                "contents": [
                    *USER,
                    {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]},
                ]
            },
            "Please ensure that function response turn comes immediately after a function call turn.",
        ),
        (
            {"contents": USER, "tools": [{"functionDeclarations": [{"name": "1bad"}]}]},
            "* GenerateContentRequest.tools[0].function_declarations[0].name: Invalid function name.",
        ),
    ],
)
def test_it_refuses_invalid_bodies(llmsim_server, body, message):
    status, error = refused(llmsim_server, body)
    assert status == 400 and error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith(message)


def test_the_sdk_raises_client_error_on_a_bad_request(genai_client):
    config = types.GenerateContentConfig(candidate_count=9)
    with pytest.raises(errors.ClientError) as raised:
        genai_client.models.generate_content(model=MODEL, contents="Hi", config=config)
    assert raised.value.code == 400 and raised.value.status == "INVALID_ARGUMENT"


STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
    529: "UNAVAILABLE",
}


@pytest.mark.parametrize("status", sorted(STATUSES))
def test_every_forced_status_raises_the_sdks_client_or_server_error(genai_client, status):
    config = types.GenerateContentConfig(http_options=types.HttpOptions(headers={"x-llmsim-error": str(status)}))
    exception = errors.ClientError if status < 500 else errors.ServerError
    with pytest.raises(exception) as raised:
        genai_client.models.generate_content(model=MODEL, contents="Hi", config=config)
    assert raised.value.code == status and raised.value.status == STATUSES[status]


def test_a_forced_429_says_when_to_retry(llmsim_server):
    status, headers, payload = post(llmsim_server, GENERATE, {"contents": USER}, {**HEADERS, "x-llmsim-error": "429"})
    assert status == 429 and int(headers["retry-after"]) >= 1
    retry_info = next(d for d in payload["error"]["details"] if d["@type"].endswith("RetryInfo"))
    assert retry_info["retryDelay"] == headers["retry-after"] + "s"
