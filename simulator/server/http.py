"""A small ASGI toolkit for the provider routes.

The provider APIs are answered here, below Django's request machinery: no
middleware, no thread executor per request, no ORM. This module knows HTTP and
ASGI; it knows nothing of any provider's JSON.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs

import orjson

from simulator.engine.ids import new_id
from simulator.engine.load import Ticket
from simulator.engine.ratelimit import RateLimitState
from simulator.server import transport
from stats.recorder import recorder

if TYPE_CHECKING:  # pipeline imports this module
    from simulator.server.pipeline import Reservation

logger = logging.getLogger(__name__)

T = TypeVar("T")
Headers = list[tuple[bytes, bytes]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

JSON_CONTENT_TYPE = (b"content-type", b"application/json")
SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


QUOTE_LIMIT = 100
# Past this, an error message or param is cut, whatever it quotes (see ProviderError).
MESSAGE_LIMIT = 2000


def shorten(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` cut to at most `limit` characters (the last one an ellipsis when cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """repr(value) for an error message, at most `limit` characters: a caller's value is
    quoted back to them, and a 10 MB one must not come back whole in the error body."""
    if isinstance(value, str | bytes) and len(value) > limit:
        value = value[:limit]  # repr only what can be shown
    return shorten(repr(value), limit)


class ProviderError(Exception):
    """A failure to answer in the caller's provider format (each adapter renders it).

    `kind` is neutral: invalid_request, authentication, not_found, method_not_allowed,
    too_large, rate_limit, server_error, service_unavailable, timeout, overloaded.
    """

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request",
        param: str | None = None,
        code: str | None = None,
        headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        # Messages quote the caller's values (through quoted() where a whole value goes in);
        # a value that slipped in whole, such as a megabyte-long key in a field path, is cut
        # here: an error must not send back what a load test sent.
        message = shorten(message, MESSAGE_LIMIT)
        param = None if param is None else shorten(param, MESSAGE_LIMIT)
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param
        self.code = code
        self.headers = list(headers)
        # The provider's own error type when the neutral kind does not say it (e.g. OpenAI's "tokens").
        self.error_type: str | None = None


class RequestHeaders(Mapping[str, str]):
    """A request's headers by (lowercase) name, each value decoded when it is read.

    ASGI hands them over as pairs of bytes. An SDK sends a dozen and more (the openai
    SDK 17: its x-stainless-* among them) and a request reads a handful, so they are
    kept as bytes (a dict built in C from the pairs) and decoded on lookup; decoding
    them all up front was the larger part of making a Call. A repeated name keeps its
    last value, as a dict does. latin-1 never fails on a value; a name it cannot encode
    is no header's name.
    """

    __slots__ = ("_raw",)

    def __init__(self, pairs: Iterable[tuple[bytes, bytes]]) -> None:
        self._raw = dict(pairs)

    def get(self, name: str, default: Any = None) -> Any:
        try:
            value = self._raw.get(name.encode("latin-1"))
        except UnicodeEncodeError:
            return default
        return default if value is None else value.decode("latin-1")

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[str]:
        return (name.decode("latin-1") for name in self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __repr__(self) -> str:
        return f"RequestHeaders({dict(self)!r})"


@dataclass(slots=True)
class Call:
    """One HTTP exchange on a provider route."""

    scope: dict[str, Any]
    receive: Receive
    send: Send
    arrival: float  # time.monotonic() when the request reached the server, or else the app
    request_id: str
    headers: RequestHeaders
    path_params: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    response_started: bool = False
    status: int = 0
    # What the stats recorder reports, filled in by the handler as it learns it.
    model: str = ""
    stream: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # What the answer costs at the model's prices (engine.cost), from the plan's tokens;
    # None where the prices are unknown or the request is no generation.
    cost_usd: float | None = None
    # Scenario bookkeeping: which scenario and rule answered, and the rate-limit
    # reservation to settle when the answer is done (see simulator.server.pipeline).
    scenario: str = ""
    rule: str = ""
    ratelimit: RateLimitState | None = None  # the x-ratelimit-* figures of this answer
    reservation: Reservation | None = None
    load_ticket: Ticket | None = None  # the model's slot this answer holds (engine.load), if it has a capacity
    # The caller's API key, once api_key_of() has read it (auth, rules and rate limits all ask).
    api_key: str | None = None
    api_key_read: bool = False
    # Stats bookkeeping (stats.recorder): the route's path template, whether the answer
    # is an injected error, and the stream's timing (time.monotonic(); 0: not yet).
    route: str = ""
    injected: bool = False
    stream_opened: float = 0.0
    last_write: float = 0.0
    stream_ended: bool = False
    model_stats: Any = None  # the recorder's per-model numbers, looked up once per stream
    flow: Any = None  # the stream's flow control where the server's send has none (transport.py)
    # A provider that serves another's API under its own dress (Azure OpenAI over the OpenAI
    # routes: its headers, error bodies and body extras); None for the provider's own callers.
    variant: Any = None

    @property
    def method(self) -> str:
        return self.scope["method"]

    @property
    def path(self) -> str:
        return self.scope["path"]

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.arrival) * 1000)


def api_key_of(call: Call) -> str | None:
    """The caller's key (any value is accepted): `Authorization: Bearer <key>`, `x-api-key`
    (Anthropic), `x-goog-api-key` or `?key=` (Gemini), `api-key` (Azure OpenAI). Read once per call."""
    if call.api_key_read:
        return call.api_key
    authorization = call.headers.get("authorization", "")
    if authorization[:7].lower() == "bearer " and authorization[7:].strip():
        key = authorization[7:].strip()
    else:
        headers = call.headers
        key = (
            headers.get("x-api-key")
            or headers.get("x-goog-api-key")
            or headers.get("api-key")
            or query_param(call, "key")
            or None
        )
    call.api_key, call.api_key_read = key, True
    return key


def query_param(call: Call, name: str) -> str | None:
    """The first value of a query-string parameter (None when absent)."""
    query = call.scope.get("query_string", b"")
    if not query:
        return None
    values = parse_qs(query.decode("latin-1"), keep_blank_values=True).get(name)
    return values[0] if values else None


def new_call(scope: dict[str, Any], receive: Receive, send: Send) -> Call:
    # The model's time to first token counts from the request's arrival, as the real APIs'
    # does: where the server knows when that was (Daphne), a request that waited behind a
    # burst of others has not had its first token put off by the wait.
    return Call(
        scope=scope,
        receive=receive,
        send=send,
        arrival=transport.arrival(send) or time.monotonic(),
        request_id=new_id("req_"),
        headers=RequestHeaders(scope["headers"]),  # ASGI servers lowercase the names
    )


# A body past this size has its parsing and planning (Python work and token counting
# that grow with it: about a second for 10 MB) done in a worker thread, so that the
# event loop goes on pacing every other stream meanwhile; smaller ones stay inline,
# where a thread's hand-off would cost more than the work.
LARGE_BODY_BYTES = 256 * 1024


async def compute(call: Call, work: Callable[..., T], *args: Any, heavy: bool = False) -> T:
    """`work(*args)` for this call: inline for a usual body, in a thread for a large one
    (or when the caller knows the work is `heavy` whatever the body)."""
    if len(call.body) < LARGE_BODY_BYTES and not heavy:
        return work(*args)
    return await asyncio.to_thread(work, *args)


# Past the body limit the rest of an upload is read and dropped, up to this much, so
# that the client gets to read the 413 (a server that answers mid-upload and closes
# resets the connection under a client still writing). Beyond it, the server closes.
_DRAIN_LIMIT = 64 * 1024 * 1024


async def read_body(call: Call, limit: int) -> bytes:
    """The whole request body; 413 (too_large) past `limit` bytes."""
    declared = call.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        if int(declared) <= _DRAIN_LIMIT:
            await _drain(call)
        raise ProviderError(413, f"Request body too large: {declared} bytes; the limit is {limit} bytes.", "too_large")
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await call.receive()
        if message["type"] == "http.disconnect":
            raise asyncio.CancelledError("client went away while sending the body")
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            if more:
                await _drain(call, _DRAIN_LIMIT - size)
            raise ProviderError(413, f"Request body too large; the limit is {limit} bytes.", "too_large")
        chunks.append(chunk)
    call.body = b"".join(chunks)
    return call.body


async def _drain(call: Call, budget: int = _DRAIN_LIMIT) -> None:
    """Read and drop the rest of the request body (at most `budget` bytes)."""
    while budget > 0:
        message = await call.receive()
        if message["type"] == "http.disconnect":
            raise asyncio.CancelledError("client went away while sending the body")
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


# Compact UTF-8 JSON (orjson: several times faster than json on the request path). orjson's
# own function rather than one that calls it: the request path calls it several times.
dump_json: Callable[[Any], bytes] = orjson.dumps


async def send_bytes(call: Call, status: int, body: bytes, headers: Headers) -> None:
    """A complete response in two ASGI messages."""
    call.response_started = True
    call.status = status
    if call.cost_usd is not None:
        headers = [*headers, *cost_header(call, status)]
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await call.send({"type": "http.response.start", "status": status, "headers": headers})
    await call.send({"type": "http.response.body", "body": body})


async def start_stream(call: Call, headers: Headers, status: int = 200) -> None:
    call.response_started = True
    call.status = status
    recorder.stream_started(call)
    call.flow = transport.flow_for(call.send)
    if call.cost_usd is not None:
        headers = [*headers, *cost_header(call, status)]
    await call.send({"type": "http.response.start", "status": status, "headers": headers})


def cost_header(call: Call, status: int) -> Headers:
    """x-llmsim-cost-usd on a generation's answer (pipeline.plan_answer sets the cost): added
    here because every provider's answers, JSON or stream, start here."""
    if call.cost_usd is None or status >= 400:
        return []
    return [(b"x-llmsim-cost-usd", f"{call.cost_usd:.6f}".encode())]


# The one place a stream's body goes out: the stats' time to first token and gaps
# between tokens are measured here, one write per batch of due tokens. A write returns
# once the connection can take more (flow control): a client that stops reading holds
# up its own stream, and the server holds no more of it than the transport's buffers.
async def write_stream(call: Call, data: bytes) -> None:
    recorder.wrote(call)
    await call.send({"type": "http.response.body", "body": data, "more_body": True})
    if call.flow is not None and call.flow.paused:
        await call.flow.writable()


async def end_stream(call: Call, data: bytes = b"") -> None:
    call.stream_ended = True
    if data:
        recorder.wrote(call)
    await call.send({"type": "http.response.body", "body": data})
    if call.flow is not None:
        call.flow.release()


async def drop_connection(call: Call) -> None:
    """Close the client's connection before or amid the answer (an injected dropped connection).

    ASGI has no message for this. Where the server's transport can be reached it is
    aborted. Otherwise (granian) the response is left unfinished — a promised body, or
    a stream's chunks, with no end — and the application returns: the server then
    closes the connection mid-response, and the client sees a connection that broke,
    not an answer (after a status line, which no SDK acts on without the body). An
    exception would do the same, but servers log it as the application's failure.
    The call must send nothing after this.
    """
    call.injected = True
    if call.flow is not None:
        call.flow.release()
    if not transport.abort(call.send):
        if not call.response_started:
            call.response_started = True
            await call.send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]})
        await call.send({"type": "http.response.body", "body": b"", "more_body": True})
    call.status = 0  # no answer: the stats count a dropped connection


async def watch_disconnect(call: Call, work: asyncio.Future[None]) -> None:
    """Cancel `work` when the client disconnects (the body has been read by now)."""
    while True:
        message = await call.receive()
        if message["type"] == "http.disconnect":
            work.cancel()
            return


async def until_disconnect(call: Call, work: Coroutine[Any, Any, None] | asyncio.Future[None]) -> None:
    """Wait for `work`; if the client goes away first, cancel it (its finally blocks run).

    `work` is a coroutine (run as a task of its own) or a future, such as a paced
    stream's. Either way the handler's chain of coroutines (server, router,
    decorators, handler) is resumed once, when the work is done, not at each of its
    steps.
    """
    loop = asyncio.get_running_loop()
    worker = asyncio.ensure_future(work)
    watcher = loop.create_task(watch_disconnect(call, worker))
    try:
        await worker
    except asyncio.CancelledError:
        if watcher.done() and worker.cancelled():  # the client left: a normal ending
            return
        worker.cancel()  # the handler itself was cancelled (server shutdown)
        raise
    finally:
        watcher.cancel()
