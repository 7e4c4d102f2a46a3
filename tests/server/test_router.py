"""The provider router's path matching (simulator.server.router) and API keys (simulator.server.http)."""

from __future__ import annotations

import pytest

from simulator.routes import ROUTES
from simulator.server.http import api_key_of, new_call
from simulator.server.router import Route, RouteTable


async def _handler(call):  # pragma: no cover - never called
    pass


def test_the_most_literal_template_wins_whatever_the_listing_order():
    for order in (1, -1):
        table = RouteTable(
            [
                Route("GET", "/x/models/{model_id}", _handler),
                Route("POST", "/x/models/{model}:generateContent", _handler),
            ][::order]
        )
        methods, params, template = table.find("/x/models/gemini-2.5-flash:generateContent")
        assert template == "/x/models/{model}:generateContent"
        assert params == {"model": "gemini-2.5-flash"} and set(methods) == {"POST"}

        _, params, template = table.find("/x/models/ft:gpt-4o:org::abc")  # colons in an id still match
        assert template == "/x/models/{model_id}" and params == {"model_id": "ft:gpt-4o:org::abc"}


def test_one_path_takes_several_methods_and_a_second_route_for_the_same_method_is_refused():
    table = RouteTable([Route("GET", "/x/{id}", _handler), Route("DELETE", "/x/{id}", _handler)])
    methods, params, _ = table.find("/x/7")
    assert set(methods) == {"GET", "DELETE"} and params == {"id": "7"}
    assert table.find("/y") == (None, {}, "/y")
    with pytest.raises(ValueError, match="two routes for GET /x"):
        RouteTable([Route("GET", "/x", _handler), Route("GET", "/x", _handler)])


def test_the_route_table_has_every_provider_route_once():
    table = RouteTable(ROUTES)  # would raise on a duplicate
    assert table.find("/v1/chat/completions")[0]["POST"] is not None
    assert set(table.find("/v1/models/gpt-4o")[0]) == {"GET"}
    assert (
        table.find("/v1/models/gemini-2.5-flash:streamGenerateContent")[2] == "/v1/models/{model}:streamGenerateContent"
    )


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
