"""The provider router's path matching (simulator.server.router) and API keys (simulator.server.http)."""

from __future__ import annotations

from simulator.server import router as routes
from simulator.server.http import api_key_of, new_call


async def _handler(call):  # pragma: no cover - never called
    pass


def test_the_most_literal_template_wins_whatever_the_registration_order(monkeypatch):
    monkeypatch.setattr(routes, "_patterns", [])
    monkeypatch.setattr(routes, "_templates", {})
    routes.route("GET", "/x/models/{model_id}")(_handler)
    routes.route("POST", "/x/models/{model}:generateContent")(_handler)

    methods, params, template = routes.find("/x/models/gemini-2.5-flash:generateContent")
    assert template == "/x/models/{model}:generateContent"
    assert params == {"model": "gemini-2.5-flash"} and set(methods) == {"POST"}

    _, params, template = routes.find("/x/models/ft:gpt-4o:org::abc")  # colons in an id still match
    assert template == "/x/models/{model_id}" and params == {"model_id": "ft:gpt-4o:org::abc"}


def call_with(headers: dict[str, str] = (), query: bytes = b""):
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "query_string": query,
        "headers": [(k.encode(), v.encode()) for k, v in dict(headers).items()],
    }
    return new_call(scope, None, None)


def test_it_reads_every_providers_api_key():
    assert api_key_of(call_with({"authorization": "Bearer sk-1"})) == "sk-1"
    assert api_key_of(call_with({"x-api-key": "ant-1"})) == "ant-1"
    assert api_key_of(call_with({"x-goog-api-key": "goog-1"})) == "goog-1"
    assert api_key_of(call_with(query=b"alt=sse&key=goog-2")) == "goog-2"
    assert api_key_of(call_with(query=b"alt=sse")) is None
    assert api_key_of(call_with()) is None
