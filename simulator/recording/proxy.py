"""The recording proxy: an ASGI application that forwards provider requests upstream,
streams each answer back as it arrives, and writes the generation exchanges as cassettes.

The client's credentials are forwarded to the upstream and never written: everything
that reaches a cassette has gone through an Anonymiser first (one per exchange, so one
value maps to one placeholder across its request and answer). Memory stays bounded: a
stream's pieces are kept up to the cassette limit (ChunkBuffer), a JSON answer's bytes
too; past it the answer is still forwarded in full, only not recorded.

`manage.py llmsim_record` serves this with uvicorn; it imports nothing from Django.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx2

from simulator.recording.anonymise import Anonymiser
from simulator.recording.cassettes import (
    CassetteDirectory,
    CassetteLimit,
    ChunkBuffer,
    Exchange,
    RecordedRequest,
    RecordedResponse,
    now_iso,
)
from simulator.server import transport

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0

# Headers about one connection, not the message (RFC 9110 7.6.1): never passed on.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

# The generation routes, whose exchanges are recorded; everything else is only forwarded.
RECORDED_ROUTES = (
    re.compile(r"/v1/(chat/completions|responses|embeddings|completions)"),
    re.compile(r"/v1/messages(/count_tokens)?"),
    re.compile(r"/v1(beta)?/models/[^/:]+:(generateContent|streamGenerateContent|countTokens)"),
)

_GEMINI_V1_METHOD = re.compile(r"/v1/models/[^/]+:[A-Za-z]+")
# The end of an SSE event: a blank line.
_EVENT_END = re.compile(rb"\r?\n\r?\n")


def provider_of(path: str) -> str | None:
    """The provider whose API `path` belongs to, or None when it belongs to none."""
    if path == "/v1/messages" or path.startswith("/v1/messages/"):
        return "anthropic"
    if path == "/v1beta" or path.startswith("/v1beta/") or _GEMINI_V1_METHOD.fullmatch(path):
        return "gemini"
    if path == "/v1" or path.startswith("/v1/"):
        return "openai"
    return None


def is_recorded(method: str, path: str) -> bool:
    return method == "POST" and any(route.fullmatch(path) for route in RECORDED_ROUTES)


class SseSplitter:
    """Cuts received bytes into whole SSE events (text up to and including the blank line)."""

    def __init__(self) -> None:
        self.pending = b""

    def feed(self, data: bytes) -> list[str]:
        self.pending += data
        events = []
        while found := _EVENT_END.search(self.pending):
            events.append(self.pending[: found.end()].decode("utf-8", errors="replace"))
            self.pending = self.pending[found.end() :]
        return events

    def rest(self) -> str:
        """What came after the last whole event (a stream that ended without a blank line)."""
        text, self.pending = self.pending.decode("utf-8", errors="replace"), b""
        return text


class Recording:
    """What one exchange keeps of its answer as it passes, within the cassette limit."""

    def __init__(self, anonymiser: Anonymiser, limit_bytes: int, streamed: bool, sse: bool) -> None:
        self.anonymiser = anonymiser
        self.limit_bytes = limit_bytes
        self.streamed = streamed  # kept as chunks; otherwise one body
        self.sse = sse  # chunks are whole SSE events; otherwise the pieces as they were read
        self.too_large = False  # forwarded in full, not recorded
        self.chunks = ChunkBuffer(limit_bytes)
        self.body = bytearray()
        self.splitter = SseSplitter()
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def add(self, at_ms: float, data: bytes) -> None:
        if self.too_large:
            return
        if not self.streamed:
            self.body += data
            self.too_large = len(self.body) > self.limit_bytes
        elif self.sse:
            for event in self.splitter.feed(data):
                self.chunks.add(at_ms, self.anonymiser.text(event))
            # An "event" that never ends would otherwise grow without bound.
            self.too_large = self.chunks.truncated or len(self.splitter.pending) > self.limit_bytes
        else:
            self.chunks.add(at_ms, self.anonymiser.text(self.decoder.decode(data)))
            self.too_large = self.chunks.truncated
        if self.too_large:
            self.body.clear()
            self.chunks.chunks.clear()
            self.splitter.pending = b""

    def finish(self, at_ms: float) -> None:
        """Keep what is left after the last read: an unended SSE event, a split character."""
        if self.too_large or not self.streamed:
            return
        rest = self.splitter.rest() if self.sse else self.decoder.decode(b"", final=True)
        if rest:
            self.chunks.add(at_ms, self.anonymiser.text(rest))
            self.too_large = self.chunks.truncated

    def response_fields(self) -> dict[str, Any]:
        """The answer's fields of a RecordedResponse: chunks, body or body_text."""
        if self.streamed:
            return {"chunks": tuple(self.chunks.chunks)}
        return body_fields(bytes(self.body), self.anonymiser)


def body_fields(raw: bytes, anonymiser: Anonymiser) -> dict[str, Any]:
    """A body as a cassette keeps it: parsed JSON (`body`), other text (`body_text`), or nothing."""
    if not raw:
        return {}
    try:
        return {"body": anonymiser.json(json.loads(raw))}
    except ValueError:
        return {"body_text": anonymiser.text(raw.decode("utf-8", errors="replace"))}


def wants_stream(path: str, body: Any) -> bool:
    """Whether the client asked for a streamed answer (`"stream": true`, or Gemini's stream method)."""
    return path.endswith(":streamGenerateContent") or (isinstance(body, dict) and body.get("stream") is True)


def decoded_headers(raw: Sequence[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw]


@dataclass(frozen=True, slots=True)
class Trip:
    """One request on its way upstream: what the answer's relay needs to know about it."""

    method: str
    path: str
    scope: dict
    body: bytes
    provider: str
    upstream: str
    recorded_at: str  # when it was sent (UTC, ISO 8601)
    started: float  # time.monotonic() then: chunk times count from it


class RecordingProxy:
    """An ASGI application: forward /v1 and /v1beta to each provider's upstream, record the generation routes."""

    def __init__(
        self,
        upstreams: Mapping[str, str],
        directory: CassetteDirectory,
        redact: Sequence[str] = (),
    ) -> None:
        self.upstreams = {provider: base.rstrip("/") for provider, base in upstreams.items()}
        self.directory = directory
        self.redact = tuple(redact)
        self._client: httpx2.AsyncClient | None = None
        self._write_lock: asyncio.Lock | None = None

    @property
    def client(self) -> httpx2.AsyncClient:
        # Made inside the running loop: its connection pool belongs to that loop.
        if self._client is None:
            timeout = httpx2.Timeout(None, connect=CONNECT_TIMEOUT_S)  # a stream may pause for minutes
            # No cap on connections: a waiting request would stall with no timeout to end it.
            limits = httpx2.Limits(max_connections=None, max_keepalive_connections=100)
            self._client = httpx2.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope["path"]
        provider = provider_of(path)
        if provider is None or provider not in self.upstreams:
            message = f"LLMSim recorder: {path} is not a provider route (/v1/... or /v1beta/...)"
            await send_json(send, 404, {"error": {"message": message, "type": "not_found"}})
            return
        body = await read_body(receive)
        upstream = self.upstreams[provider]
        raw_path = scope.get("raw_path") or path.encode()
        query_string = scope.get("query_string", b"")
        url = upstream + raw_path.decode("latin-1") + ("?" + query_string.decode("latin-1") if query_string else "")
        headers = upstream_headers(scope["headers"])
        request = self.client.build_request(scope["method"], url, headers=headers, content=body)
        trip = Trip(scope["method"], path, scope, body, provider, upstream, now_iso(), time.monotonic())
        try:
            response = await self.client.send(request, stream=True)
        except httpx2.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            message = f"LLMSim recorder: the upstream {upstream} could not be reached ({reason})"
            await send_json(send, 502, {"error": {"message": message, "type": "upstream_unreachable"}})
            return
        client_gone = asyncio.Event()
        watcher = asyncio.create_task(watch_disconnect(receive, client_gone))
        try:
            exchange = await self._relay(trip, response, send, client_gone)
        finally:
            watcher.cancel()
            await response.aclose()  # a client that left ends the upstream's answer too (and its bill)
        if exchange is not None:
            await self._write(exchange)

    async def _relay(
        self, trip: Trip, response: httpx2.Response, send: Any, client_gone: asyncio.Event
    ) -> Exchange | None:
        """Pass the answer to the client as it arrives; return what to record, or None."""
        method, path, body, started = trip.method, trip.path, trip.body, trip.started
        recorded = is_recorded(method, path)
        request_too_large = len(body) > self.directory.max_cassette_bytes
        anonymiser = Anonymiser(self.redact)
        request_body = body_fields(body, anonymiser) if recorded and not request_too_large else {}
        content_type = response.headers.get("content-type", "")
        sse = content_type.startswith("text/event-stream")
        # An error answering a stream request is one JSON body, as it would be without streaming.
        streamed = sse or (wants_stream(path, request_body.get("body")) and response.status_code < 400)
        recording = Recording(anonymiser, self.directory.max_cassette_bytes, streamed, sse)
        recording.too_large = request_too_large
        # The bytes passed on are decoded (should the upstream compress despite identity),
        # so a length given for encoded ones would be wrong.
        keep_length = not streamed and "content-encoding" not in response.headers
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": client_headers(response.headers.raw, keep_length),
            }
        )
        dropped: httpx2.TransportError | None = None
        try:
            async for data in response.aiter_bytes():
                if client_gone.is_set():
                    logger.info("%s %s: the client left amid the answer: not recorded", method, path)
                    return None
                at_ms = (time.monotonic() - started) * 1000
                await send({"type": "http.response.body", "body": data, "more_body": True})
                if recorded:
                    recording.add(at_ms, data)
        except httpx2.TransportError as exc:
            dropped = exc
        duration_ms = (time.monotonic() - started) * 1000
        recording.finish(duration_ms)
        exchange = None
        if recorded and recording.too_large:
            logger.warning(
                "%s %s: the request or its answer passed %s bytes (--max-cassette-bytes): forwarded, not recorded",
                method,
                path,
                f"{self.directory.max_cassette_bytes:,}",
            )
        elif recorded:
            exchange = Exchange(
                provider=trip.provider,
                upstream=trip.upstream,
                recorded_at=trip.recorded_at,
                request=RecordedRequest(
                    method=method,
                    path=path,
                    query=anonymiser.query(parse_qsl(trip.scope.get("query_string", b"").decode("latin-1"))),
                    headers=anonymiser.headers(decoded_headers(trip.scope["headers"])),
                    **request_body,
                ),
                response=RecordedResponse(
                    status=response.status_code,
                    headers=anonymiser.response_headers(decoded_headers(response.headers.raw)),
                    duration_ms=duration_ms,
                    complete=dropped is None,
                    **recording.response_fields(),
                ),
            )
        if dropped is not None:
            message = f"{method} {path}: the upstream {trip.upstream} dropped the connection mid-answer ({dropped})"
            await drop_connection(send, message)
            logger.warning("%s; so did the recorder", message)
        else:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        return exchange

    async def _write(self, exchange: Exchange) -> None:
        # One writer at a time: the directory's sequence number and byte count are not thread-safe.
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        async with self._write_lock:
            try:
                await asyncio.to_thread(self.directory.write, exchange)
            except CassetteLimit as exc:
                logger.warning("%s %s: %s", exchange.request.method, exchange.request.path, exc)


class UpstreamDropped(ConnectionError):
    """The upstream closed the connection amid its answer; the client's is closed the same way."""


async def drop_connection(send: Any, message: str) -> None:
    """Close the client's connection without the body's end, as the upstream closed ours.

    ASGI has no message for it. Where the server's transport can be reached (uvicorn) it
    is aborted; otherwise raising after what arrived makes the server close the
    connection mid-response (and log a traceback).
    """
    if not transport.abort(send):
        raise UpstreamDropped(message)
    await asyncio.sleep(0)  # the server sees the connection lost before the application returns


def upstream_headers(raw: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The client's headers, credentials included, as the upstream should get them."""
    named_by_connection = {
        token.strip().lower()
        for name, value in raw
        if name.lower() == b"connection"
        for token in value.decode("latin-1").split(",")
    }
    dropped = {"host", "content-length", "accept-encoding", *HOP_BY_HOP, *named_by_connection}
    headers = [(name, value) for name, value in raw if name.decode("latin-1").lower() not in dropped]
    headers.append((b"accept-encoding", b"identity"))  # the recording is the plain text
    return headers


def client_headers(raw: Sequence[tuple[bytes, bytes]], keep_length: bool) -> list[tuple[bytes, bytes]]:
    """The upstream's answer headers as the client should get them."""
    dropped = {*HOP_BY_HOP, "content-encoding"}
    if not keep_length:
        dropped.add("content-length")
    return [(name.lower(), value) for name, value in raw if name.decode("latin-1").lower() not in dropped]


async def watch_disconnect(receive: Any, client_gone: asyncio.Event) -> None:
    """Set `client_gone` when the client disconnects (the request body has been read by now)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    client_gone.set()


async def read_body(receive: Any) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    return bytes(body)


async def send_json(send: Any, status: int, payload: dict) -> None:
    data = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data, "more_body": False})
