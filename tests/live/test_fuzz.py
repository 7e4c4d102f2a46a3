"""Generated bad bodies on every provider route: each gets a 4xx in its caller's format, never
a 500, and the server goes on serving.

Each body is a valid request of the route spoiled for sure one way (a poison: not JSON,
invalid UTF-8, nested too deep, not an object, a required field missing or of a wrong
type), plus up to three random changes elsewhere (noise: odd, huge, deep or wrongly typed
values, fields removed or added) that reach the validators whenever they look at the
noise before the poison. Hypothesis draws them from a fixed seed (derandomize), so every
run sends the same bodies.
"""

from __future__ import annotations

import copy
import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import INSTANT

# The bodies are the application's to judge, the same under every server: granian's
# serve, the throughput path, is the one that takes the load.
LIVE_SERVERS = ("serve",)

EXAMPLES_PER_ROUTE = 200

OPENAI = {"Authorization": "Bearer test", "OpenAI-Beta": "assistants=v2", **INSTANT}
ANTHROPIC = {"x-api-key": "test", "anthropic-version": "2023-06-01", **INSTANT}
GEMINI = {"x-goog-api-key": "test", **INSTANT}
HEADERS = {"openai": OPENAI, "anthropic": ANTHROPIC, "gemini": GEMINI}

TEXT_PARTS = [{"role": "user", "parts": [{"text": "Hi"}]}]
FUNCTION = {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}}


@dataclass(frozen=True)
class Route:
    name: str
    provider: str
    path: str
    body: dict[str, Any]  # a valid request
    types: dict[str, type | tuple[type, ...]] = field(default_factory=dict)  # top-level fields' JSON types
    required: tuple[str, ...] = ()


ROUTES = [
    Route(
        "chat",
        "openai",
        "/v1/chat/completions",
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            "max_tokens": 5,
            "temperature": 0.5,
            "tools": [{"type": "function", "function": FUNCTION}],
            "tool_choice": "auto",
            "stop": ["x"],
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}}},
        },
        {"model": str, "messages": list, "max_tokens": int},
        ("model", "messages"),
    ),
    Route(
        "chat_reasoning",
        "openai",
        "/v1/chat/completions",
        {
            "model": "o4-mini",
            "messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            "max_completion_tokens": 50,
            "reasoning_effort": "low",
        },
        {"model": str, "messages": list, "max_completion_tokens": int, "reasoning_effort": str},
        ("model", "messages"),
    ),
    Route(
        "completions",
        "openai",
        "/v1/completions",
        {"model": "gpt-3.5-turbo-instruct", "prompt": "Hi", "max_tokens": 5, "logprobs": 2, "stop": "x"},
        {"model": str},
        ("model",),
    ),
    Route(
        "responses",
        "openai",
        "/v1/responses",
        {
            "model": "gpt-4o-mini",
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}],
            "instructions": "Be brief.",
            "max_output_tokens": 16,
            "tools": [{"type": "function", **FUNCTION}],
            "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}}},
        },
        {"model": str, "max_output_tokens": int},
        ("model",),
    ),
    Route(
        "embeddings",
        "openai",
        "/v1/embeddings",
        {"model": "text-embedding-3-small", "input": ["Hi", "there"], "dimensions": 8},
        {"model": str, "dimensions": int},
        ("model", "input"),
    ),
    Route(
        "messages",
        "anthropic",
        "/v1/messages",
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 2000,
            "system": [{"type": "text", "text": "Be brief."}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
            "tools": [{"name": "f", "input_schema": FUNCTION["parameters"]}],
            "tool_choice": {"type": "auto"},
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "output_config": {"effort": "low"},
        },
        {"model": str, "max_tokens": int, "messages": list, "tools": list, "output_config": dict},
        ("model", "max_tokens", "messages"),
    ),
    Route(
        "count_tokens",
        "anthropic",
        "/v1/messages/count_tokens",
        {"model": "claude-sonnet-4-5", "system": "Be brief.", "messages": [{"role": "user", "content": "Hi"}]},
        {"model": str, "messages": list},
        ("model", "messages"),
    ),
    Route(
        "generate_content",
        "gemini",
        "/v1beta/models/gemini-2.5-flash:generateContent",
        {
            "contents": TEXT_PARTS,
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "generationConfig": {"maxOutputTokens": 5, "temperature": 0.5, "stopSequences": ["x"]},
            "tools": [{"functionDeclarations": [FUNCTION]}],
            "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        },
        {"contents": list, "generationConfig": dict, "tools": list},
        ("contents",),
    ),
    Route(
        "stream_generate_content",
        "gemini",
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        {"contents": TEXT_PARTS, "generationConfig": {"maxOutputTokens": 5}},
        {"contents": list},
        ("contents",),
    ),
    Route(
        "count_tokens_gemini",
        "gemini",
        "/v1/models/gemini-2.5-flash:countTokens",
        {"contents": TEXT_PARTS},
        {"contents": list},
    ),
    Route(
        "embed_content",
        "gemini",
        "/v1beta/models/text-embedding-004:embedContent",
        {"content": {"parts": [{"text": "Hi"}]}, "outputDimensionality": 8, "taskType": "RETRIEVAL_QUERY"},
        {"content": dict, "outputDimensionality": int},
        ("content",),
    ),
    Route(
        "batch_embed_contents",
        "gemini",
        "/v1/models/text-embedding-004:batchEmbedContents",
        {"requests": [{"model": "models/text-embedding-004", "content": {"parts": [{"text": "Hi"}]}}]},
        {"requests": list},
        ("requests",),
    ),
    Route(
        "assistants",
        "openai",
        "/v1/assistants",
        {"model": "gpt-4o-mini", "instructions": "Be brief.", "tools": [{"type": "function", "function": FUNCTION}]},
        {"model": str, "tools": list},
        ("model",),
    ),
    Route(
        "threads",
        "openai",
        "/v1/threads",
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}], "metadata": {"k": "v"}},
        {"messages": list, "metadata": dict},
    ),
    Route(
        "thread_messages",
        "openai",
        "/v1/threads/{thread_id}/messages",
        {"role": "user", "content": "Hi", "metadata": {"k": "v"}},
        {"role": str, "content": (str, list), "metadata": dict},
        ("role", "content"),
    ),
    Route(
        "runs",
        "openai",
        "/v1/threads/runs",
        {"assistant_id": "{assistant_id}", "thread": {"messages": [{"role": "user", "content": "Hi"}]}},
        {"assistant_id": str, "thread": dict},
        ("assistant_id",),
    ),
    Route(
        "batches",
        "openai",
        "/v1/batches",
        {"input_file_id": "file-none", "endpoint": "/v1/chat/completions", "completion_window": "24h"},
        {"input_file_id": str, "endpoint": str, "completion_window": str, "metadata": dict},
        ("input_file_id", "endpoint", "completion_window"),
    ),
    Route(
        "message_batches",
        "anthropic",
        "/v1/messages/batches",
        {
            "requests": [
                {
                    "custom_id": "a",
                    "params": {
                        "model": "claude-haiku-4-5",
                        "max_tokens": 5,
                        "messages": [{"role": "user", "content": "Hi"}],
                    },
                }
            ]
        },
        {"requests": list},
        ("requests",),
    ),
]

# --- the bodies ---------------------------------------------------------------------

# Values no field expects: huge, odd numbers, characters that trip careless code.
ODD_VALUES = [
    0,
    -1,
    2**31,
    2**64,
    10**30,
    -(10**30),
    1e308,
    5e-324,
    -0.0,
    0.5,
    "",
    "a" * 100_000,
    "é" * 5_000,
    "\u0000",
    "\U0001f600",
    "(?P<",
    "#/$defs/x",
    "user",
    "model",
    "text",
    "object",
    "function",
    "auto",
    "ANY",
]
KEYS = ["type", "role", "content", "text", "parts", "properties", "items", "required", "$ref", "name", "id"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(ODD_VALUES),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=6), st.sampled_from(KEYS)), inner, max_size=4),
    ),
    max_leaves=10,
)
DEEP = "\x00deep\x00"  # replaced, in the JSON text, by arrays nested past the limit


def _paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from _paths(child, (*prefix, key))


@st.composite
def noisy(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """`base` with up to three random changes somewhere inside."""
    body = copy.deepcopy(base)
    for _ in range(draw(st.integers(0, 3))):
        paths = [path for path in _paths(body) if path]
        if not paths:
            break
        *parents, key = draw(st.sampled_from(paths))
        parent = body
        for step in parents:
            parent = parent[step]
        change = draw(st.sampled_from(["replace", "replace", "remove", "add", "nest"]))
        if change == "replace":
            parent[key] = draw(json_values)
        elif change == "remove":
            del parent[key]
        elif change == "nest":  # deep, within the limit
            for _ in range(draw(st.integers(1, 40))):
                parent[key] = [parent[key]]
        elif isinstance(parent[key], dict):
            parent[key][draw(st.sampled_from(KEYS))] = draw(json_values)
    return body


def wrong_type(kind: type | tuple[type, ...]) -> st.SearchStrategy[Any]:
    """Values of another JSON type than `kind`. Not empty ones ([], {}, "", 0, false):
    some validators take an empty value for an absent one, as lenient as the SDKs need."""
    return json_values.filter(lambda value: bool(value) and not isinstance(value, kind))


@st.composite
def bad_bodies(draw: st.DrawFn, route: Route) -> bytes:
    """A body of `route` spoiled for sure (see the module's docstring)."""
    poisons = ["not_json", "invalid_utf8", "too_deep", "not_an_object", "wrong_type", "wrong_type"]
    if route.required:
        poisons.append("missing")
    poison = draw(st.sampled_from(poisons))
    if poison == "not_json":
        return draw(st.binary(max_size=64).filter(lambda raw: not _is_json(raw)))
    if poison == "not_an_object":
        return json.dumps(draw(json_values.filter(lambda value: not isinstance(value, dict)))).encode()
    body = draw(noisy(route.body))
    if poison == "missing":
        body.pop(draw(st.sampled_from(route.required)), None)
    elif poison == "wrong_type":
        name = draw(st.sampled_from(sorted(route.types)))
        body[name] = draw(wrong_type(route.types[name]))
    elif poison == "too_deep":
        *parents, key = draw(st.sampled_from([path for path in _paths(body) if path] or [("extra",)]))
        parent = body
        for step in parents:
            parent = parent[step]
        parent[key] = DEEP
    raw = json.dumps(body, ensure_ascii=False).encode()
    if poison == "too_deep":
        levels = draw(st.integers(65, 900))
        raw = raw.replace(json.dumps(DEEP).encode(), b"[" * levels + b"1" + b"]" * levels)
    elif poison == "invalid_utf8":  # a first key of bytes UTF-8 never has (or, in {}, a stray comma)
        raw = b'{"\xff\xfe": 0, ' + raw[1:]
    return raw


def deep_extra_field(body: dict[str, Any]) -> bytes:
    """`body` with a field no route reads, nested 500 levels: every route first tries this."""
    raw = json.dumps({**body, "extra": DEEP}).encode()
    return raw.replace(json.dumps(DEEP).encode(), b"[" * 500 + b"1" + b"]" * 500)


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


# --- the checks -----------------------------------------------------------------------


def assert_provider_error(provider: str, status: int, headers: http.client.HTTPMessage, payload: bytes) -> None:
    """A 4xx whose body has the shape the provider's SDK parses, short whatever was sent."""
    assert 400 <= status < 500, (status, payload[:500])
    assert len(payload) < 8192, payload[:500]
    body = json.loads(payload)
    if provider == "openai":
        assert set(body["error"]) == {"message", "type", "param", "code"}
        assert isinstance(body["error"]["message"], str) and isinstance(body["error"]["type"], str)
    elif provider == "anthropic":
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
        assert isinstance(body["error"]["message"], str) and body["error"]["type"].endswith("_error")
        assert headers["request-id"] == body["request_id"]
    else:
        assert set(body["error"]) >= {"code", "message", "status"}
        assert body["error"]["code"] == status and body["error"]["status"].isupper()


class Connection:
    """One kept-alive HTTP connection to the server, reopened when the server closes it."""

    def __init__(self, base_url: str) -> None:
        self.address = urlparse(base_url)
        self.connection: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, http.client.HTTPMessage, bytes]:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.address.hostname, self.address.port, timeout=30)
        self.connection.request("POST", path, body, {"Content-Type": "application/json", **headers})
        response = self.connection.getresponse()
        payload = response.read()
        if response.will_close:
            self.close()
        return response.status, response.headers, payload

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


@pytest.fixture(scope="module")
def ids(llmsim_server) -> dict[str, str]:
    """An assistant and a thread for the routes that name them."""
    connection = Connection(llmsim_server.base_url)
    _, _, assistant = connection.post("/v1/assistants", b'{"model": "gpt-4o-mini"}', OPENAI)
    _, _, thread = connection.post("/v1/threads", b"{}", OPENAI)
    connection.close()
    return {"assistant_id": json.loads(assistant)["id"], "thread_id": json.loads(thread)["id"]}


def _base_body(route: Route, ids: dict[str, str]) -> dict[str, Any]:
    return json.loads(json.dumps(route.body).replace("{assistant_id}", ids["assistant_id"]))


@pytest.mark.parametrize("route", ROUTES, ids=[route.name for route in ROUTES])
def test_every_routes_unspoiled_body_is_answered(llmsim_server, ids, route):
    """The bodies the fuzz spoils are valid: a poison is then the only thing wrong."""
    connection = Connection(llmsim_server.base_url)
    try:
        status, _, payload = connection.post(
            route.path.format(**ids), json.dumps(_base_body(route, ids)).encode(), HEADERS[route.provider]
        )
    finally:
        connection.close()
    if route.name == "batches":  # validated, then its input file looked up: the fuzz has none
        assert (status, json.loads(payload)["error"]["param"]) == (404, "id"), payload[:500]
        return
    assert 200 <= status < 300, (status, payload[:500])


@pytest.mark.parametrize("route", ROUTES, ids=[route.name for route in ROUTES])
def test_every_bad_body_gets_a_4xx_in_the_callers_format(llmsim_server, ids, route):
    connection = Connection(llmsim_server.base_url)
    path = route.path.format(**ids)
    base = _base_body(route, ids)
    checked = Route(route.name, route.provider, path, base, route.types, route.required)

    @settings(
        max_examples=EXAMPLES_PER_ROUTE,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(raw=bad_bodies(checked))
    @example(raw=deep_extra_field(base))
    def check(raw: bytes) -> None:
        status, headers, payload = connection.post(path, raw, HEADERS[route.provider])
        assert_provider_error(route.provider, status, headers, payload)

    try:
        check()
    finally:
        connection.close()
    assert llmsim_server.health()["status"] == "ok"
