"""Errors answered before any route's handler runs reach the caller in its provider's
format: 404 and 405 (simulator.providers.callers), what Daphne's HTTP layer refuses
(simulator.server.daphne), and static paths that climb out of the static root."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlparse

import anthropic
import pytest

from simulator.providers.callers import provider_of
from tests.conftest import INSTANT

LIVE_SERVERS = ("serve",)  # error bodies are the provider's, whatever the server

GEMINI_KEY = {"x-goog-api-key": "test"}
ANTHROPIC_HEADERS = {"x-api-key": "test", "anthropic-version": "2023-06-01"}
OPENAI_KEY = {"Authorization": "Bearer test"}
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3}


def exchange(server, method: str, target: str, headers: dict[str, str] = (), body: bytes = b"", timeout: float = 10):
    """One raw HTTP/1.1 request on its own connection: (status, lowercase headers, body).

    Raw, so that what the server does with a request no client library would send (a
    16 KiB header, an odd content type) is seen as it is, a closed connection included.
    """
    address = urlparse(server.base_url)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {address.netloc}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in dict(headers).items()]
    lines.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    received = b""
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as sock:
        sock.sendall(request)
        while chunk := sock.recv(65536):
            received += chunk
    assert received, f"the server closed the connection without an answer to {method} {target[:80]}"
    head, _, payload = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    response_headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        response_headers[name.strip().lower()] = value.strip()
    if response_headers.get("transfer-encoding") == "chunked":
        payload = _unchunk(payload)
    return int(status_line.split()[1]), response_headers, payload


def _unchunk(data: bytes) -> bytes:
    body = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        body, data = body + data[:size], data[size + 2 :]
    return body


def assert_gemini_error(status: int, payload: bytes, expected_status: str) -> dict:
    error = json.loads(payload)["error"]
    assert set(error) >= {"code", "message", "status"}
    assert (error["code"], error["status"]) == (status, expected_status)
    return error


def assert_anthropic_error(headers: dict[str, str], payload: bytes, expected_type: str) -> dict:
    body = json.loads(payload)
    assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
    assert body["error"]["type"] == expected_type
    assert headers["request-id"] == body["request_id"]
    return body["error"]


def assert_openai_error(payload: bytes) -> dict:
    error = json.loads(payload)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    return error


@pytest.mark.parametrize(
    ("path", "headers", "provider"),
    [
        ("/v1beta/models/gemini-2.5-flash:generateContent", {}, "gemini"),
        ("/v1beta/anything", {"anthropic-version": "2023-06-01"}, "gemini"),  # the path decides first
        ("/v1/models/gemini-2.5-flash:streamGenerateContent", {}, "gemini"),
        ("/v1/messages", {}, "anthropic"),
        ("/v1/messages/count_tokens", {"x-goog-api-key": "k"}, "anthropic"),
        ("/v1/models", {"anthropic-version": "2023-06-01"}, "anthropic"),
        ("/v1/nowhere", {"x-api-key": "k"}, "anthropic"),
        ("/v1/models", {"x-goog-api-key": "k"}, "gemini"),
        ("/v1/models/ft:gpt-4o:org::abc", {}, "openai"),  # colons, but no Gemini method
        ("/v1/chat/completions", {"authorization": "Bearer k"}, "openai"),
        ("/v1/nowhere", {}, "openai"),
    ],
)
def test_it_tells_the_callers_provider_by_path_then_headers(path, headers, provider):
    assert provider_of(path, headers) == provider


def test_a_key_in_the_query_string_is_a_gemini_caller():
    assert provider_of("/v1/models", {}, key_in_query=True) == "gemini"


# --- 404 and 405 on live servers ------------------------------------------------

GEMINI_MISSES = [
    ("GET", "/v1beta/nowhere"),
    ("POST", "/v1beta/models/gemini-2.5-flash:generateContents"),
    ("GET", "/v1beta/models/gemini-2.5-flash:generateContent"),
    ("GET", "/v1/models/gemini-2.5-flash:streamGenerateContent"),
    ("PUT", "/v1/models/gemini-2.5-flash:countTokens"),
    ("DELETE", "/v1beta/models"),
]


@pytest.mark.live_servers("runserver", "serve")
@pytest.mark.parametrize(("method", "path"), GEMINI_MISSES)
def test_a_gemini_path_no_route_answers_is_googles_404(llmsim_server, method, path):
    status, _, payload = exchange(llmsim_server, method, path, GEMINI_KEY)
    assert status == 404
    assert assert_gemini_error(status, payload, "NOT_FOUND")["message"] == "Method not found."


@pytest.mark.live_servers("runserver", "serve")
def test_a_wrong_method_is_a_405_in_the_callers_format(llmsim_server):
    status, headers, payload = exchange(llmsim_server, "GET", "/v1/messages", ANTHROPIC_HEADERS)
    assert status == 405 and headers["allow"] == "POST"
    error = assert_anthropic_error(headers, payload, "invalid_request_error")
    assert error["message"] == "Method GET is not allowed on /v1/messages; use POST."

    # OpenAI's callers (and OpenAI's paths) keep OpenAI's 405 and 404.
    status, headers, payload = exchange(llmsim_server, "GET", "/v1/chat/completions", OPENAI_KEY)
    assert status == 405 and headers["allow"] == "POST"
    assert assert_openai_error(payload)["message"] == "Method GET is not allowed on /v1/chat/completions; use POST."
    status, _, payload = exchange(llmsim_server, "GET", "/v1/nowhere", OPENAI_KEY)
    assert status == 404 and assert_openai_error(payload)["message"] == "Invalid URL (GET /v1/nowhere)"


@pytest.mark.live_servers("runserver", "serve")
@pytest.mark.parametrize(
    ("path", "headers"), [("/v1/messages/nowhere", {}), ("/v1/nowhere", {"anthropic-version": "2023-06-01"})]
)
def test_a_path_no_route_has_is_an_anthropic_404_for_an_anthropic_caller(llmsim_server, path, headers):
    status, response_headers, payload = exchange(llmsim_server, "GET", path, headers)
    assert status == 404
    assert assert_anthropic_error(response_headers, payload, "not_found_error")["message"] == "Not Found"


@pytest.mark.live_servers("serve")
def test_the_anthropic_sdk_raises_not_found_for_a_path_no_route_has(llmsim_server):
    sdk = anthropic.Anthropic(base_url=llmsim_server.base_url, api_key="test", max_retries=0)
    with sdk, pytest.raises(anthropic.NotFoundError) as excinfo:
        sdk.get("/v1/nowhere", cast_to=object)
    assert excinfo.value.type == "not_found_error"


# --- what Daphne's HTTP layer refuses -----------------------------------------------
# Twisted's own. granian and uvicorn hand the same requests to the route (granian refuses
# 600 fields with a bare 431; uvicorn's httptools takes any head).


@pytest.mark.live_servers("runserver")
def test_a_multipart_content_type_reaches_the_route(llmsim_server):
    """Twisted parsed such bodies itself and answered what was not multipart with a bare 400."""
    headers = {**OPENAI_KEY, **INSTANT, "Content-Type": "multipart/form-data; boundary=xyz"}
    status, _, payload = exchange(llmsim_server, "POST", "/v1/chat/completions", headers, json.dumps(CHAT).encode())
    assert status == 200 and json.loads(payload)["object"] == "chat.completion"

    form = b'--xyz\r\nContent-Disposition: form-data; name="model"\r\n\r\ngpt-4o-mini\r\n--xyz--\r\n'
    status, _, payload = exchange(llmsim_server, "POST", "/v1/chat/completions", headers, form)
    assert status == 400
    assert assert_openai_error(payload)["message"].startswith("We could not parse the JSON body of your request.")


@pytest.mark.live_servers("runserver")
def test_daphne_refuses_an_invalid_header_value_in_the_callers_format(llmsim_server):
    headers = {**ANTHROPIC_HEADERS, "X-Odd": "a\x0bb"}  # a vertical tab, which Daphne refuses
    status, response_headers, payload = exchange(llmsim_server, "POST", "/v1/messages", headers, b"{}")
    assert status == 400
    error = assert_anthropic_error(response_headers, payload, "invalid_request_error")
    assert error["message"] == "Invalid header value"


# One header line longer than Daphne (Twisted) takes, and a head with too many fields.
LONG_LINE = {"X-Padding": "a" * 20_000}
MANY_FIELDS = {f"X-Field-{i}": "a" for i in range(600)}


@pytest.mark.live_servers("runserver")
@pytest.mark.parametrize("oversized", [LONG_LINE, MANY_FIELDS], ids=["long-line", "many-fields"])
def test_daphne_answers_an_oversized_head_with_431_in_the_callers_format(llmsim_server, oversized):
    gemini = "/v1beta/models/gemini-2.5-flash:generateContent"
    status, _, payload = exchange(llmsim_server, "POST", gemini, {**GEMINI_KEY, **oversized}, b"{}")
    assert status == 431
    assert "Request header fields too large" in assert_gemini_error(status, payload, "INVALID_ARGUMENT")["message"]

    status, headers, payload = exchange(llmsim_server, "POST", "/v1/messages", {**ANTHROPIC_HEADERS, **oversized})
    assert status == 431
    assert_anthropic_error(headers, payload, "invalid_request_error")

    status, _, payload = exchange(llmsim_server, "POST", "/v1/chat/completions", {**OPENAI_KEY, **oversized})
    assert status == 431
    assert_openai_error(payload)


@pytest.mark.live_servers("runserver")
def test_daphne_answers_an_over_long_request_line_with_414_in_the_callers_format(llmsim_server):
    status, _, payload = exchange(llmsim_server, "GET", "/v1/models/" + "a" * 20_000, OPENAI_KEY)
    assert status == 414
    assert assert_openai_error(payload)["message"].startswith("URI too long")


# --- static files -------------------------------------------------------------------


STATIC_ESCAPES = [
    "/static/..%2f..%2fetc%2fpasswd",
    "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd%00.css",
    "/static/%00",
    "/static/..%5c..%5cetc%5cpasswd",
]


def test_a_static_path_out_of_the_static_root_is_a_404(llmsim_server):
    for path in STATIC_ESCAPES:
        status, _, payload = exchange(llmsim_server, "GET", path)
        assert status == 404, path
        assert b"root:" not in payload
