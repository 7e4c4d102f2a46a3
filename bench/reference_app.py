"""The benchmark's reference: a raw ASGI app answering the load generator's requests.

It is the ceiling LLMSim is compared with: no framework, no validation beyond what
the answer needs, nothing but the standard library, under the same ASGI server and
on the same CPU in the same run. Whatever LLMSim does above this costs the gap
between the two columns of the table.

    python -m uvicorn bench.reference_app:app --loop uvloop --http httptools \\
        --no-access-log --backlog 4096 --lifespan off

It answers with LLMSim's wire shapes, so both cost the client the same to read:

* `GET /health`: 200 with a small JSON body.
* `POST /v1/chat/completions`: a fixed ~20-token `chat.completion` with
  Content-Length; with `"stream": true` in the body, a role chunk and one
  `chat.completion.chunk` per token, paced by `x-llmsim-ttft-ms`, `x-llmsim-tbt-ms`
  and `x-llmsim-tokens` against absolute deadlines from the request's arrival (a
  late loop catches up in one write instead of drifting), then a finish chunk and
  `data: [DONE]`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CHAT_PATH = "/v1/chat/completions"
MAX_BODY_BYTES = 1 << 20
# Bounds on the pacing headers, so a typo cannot hold a connection for hours.
MAX_TOKENS = 10_000
MAX_DELAY_MS = 60_000.0
DEFAULT_STREAM_TOKENS = 20

CREATED = int(time.time())
WORDS = ("Lorem", " ipsum", " dolor", " sit", " amet", ",", " consectetur", " adipiscing", " elit", ".")


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _completion_body(tokens: int) -> bytes:
    text = "".join(WORDS[i % len(WORDS)] for i in range(tokens))
    return _json(
        {
            "id": "chatcmpl-reference",
            "object": "chat.completion",
            "created": CREATED,
            "model": "instant",
            "system_fingerprint": "fp_reference",
            "service_tier": "default",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 8, "completion_tokens": tokens, "total_tokens": 8 + tokens},
        }
    )


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
    chunk = {
        "id": "chatcmpl-reference",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": "instant",
        "service_tier": "default",
        "system_fingerprint": "fp_reference",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    return b"data: " + _json(chunk) + b"\n\n"


# Everything that does not change per request is rendered once, as LLMSim is meant to.
COMPLETION_BODY = _completion_body(20)
HEALTH_BODY = b'{"status":"ok"}'
NOT_FOUND_BODY = b'{"error":{"message":"not found","type":"invalid_request_error"}}'
TOO_LARGE_BODY = b'{"error":{"message":"request body too large","type":"invalid_request_error"}}'
ROLE_CHUNK = _chunk({"role": "assistant", "content": "", "refusal": None})
CONTENT_CHUNKS = tuple(_chunk({"content": word}) for word in WORDS)
CLOSING = _chunk({}, "stop") + b"data: [DONE]\n\n"
JSON_HEADERS = [(b"content-type", b"application/json")]
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


async def send_body(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    length = (b"content-length", str(len(body)).encode())
    await send({"type": "http.response.start", "status": status, "headers": [*headers, length]})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes | None:
    """The request body, or None when it exceeds MAX_BODY_BYTES (or the client left: the 413 then goes nowhere)."""
    parts: list[bytes] = []
    size = 0
    while True:  # bounded: every round consumes a message, and the size is capped
        message = await receive()
        if message["type"] != "http.request":
            return None
        part = message.get("body", b"")
        size += len(part)
        if size > MAX_BODY_BYTES:
            return None
        parts.append(part)
        if not message.get("more_body", False):
            return b"".join(parts)


def header_number(scope: Scope, name: bytes, default: float, ceiling: float) -> float:
    for key, value in scope["headers"]:
        if key == name:
            try:
                return min(max(float(value), 0.0), ceiling)
            except ValueError:
                return default
    return default


def wants_stream(body: bytes) -> bool:
    try:
        request = json.loads(body)
    except ValueError:
        return False
    return isinstance(request, dict) and request.get("stream") is True


def due_batch(first: int, tokens: int, elapsed_ms: float, ttft_ms: float, tbt_ms: float) -> int:
    """One past the last step due at `elapsed_ms` (at least `first` + 1: the caller slept until it)."""
    end = first + 1
    while end < tokens and ttft_ms + end * tbt_ms <= elapsed_ms:
        end += 1
    return end


def render_steps(first: int, end: int, tokens: int) -> bytes:
    parts = [ROLE_CHUNK] if first == 0 else []
    parts.extend(CONTENT_CHUNKS[step % len(CONTENT_CHUNKS)] for step in range(first, end))
    if end == tokens:
        parts.append(CLOSING)
    return b"".join(parts)


async def stream(scope: Scope, send: Send, arrival: float) -> None:
    loop = asyncio.get_running_loop()
    ttft_ms = header_number(scope, b"x-llmsim-ttft-ms", 0.0, MAX_DELAY_MS)
    tbt_ms = header_number(scope, b"x-llmsim-tbt-ms", 0.0, MAX_DELAY_MS)
    tokens = max(1, int(header_number(scope, b"x-llmsim-tokens", DEFAULT_STREAM_TOKENS, MAX_TOKENS)))
    # Headers at once, as from the real API; the first token follows after TTFT.
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    first = 0
    while first < tokens:  # bounded: every round sends at least one step
        wait_s = arrival + (ttft_ms + first * tbt_ms) / 1000.0 - loop.time()
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        end = due_batch(first, tokens, (loop.time() - arrival) * 1000.0, ttft_ms, tbt_ms)
        message = {"type": "http.response.body", "body": render_steps(first, end, tokens), "more_body": end < tokens}
        try:
            await send(message)
        except OSError:  # the client left; uvicorn says so by raising on send
            return
        first = end


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return  # run with --lifespan off; websockets are not part of the benchmark
    arrival = asyncio.get_running_loop().time()
    method, path = scope["method"], scope["path"]
    if method == "GET" and path == "/health":
        await send_body(send, 200, HEALTH_BODY, JSON_HEADERS)
    elif method == "POST" and path == CHAT_PATH:
        body = await read_body(receive)
        if body is None:
            await send_body(send, 413, TOO_LARGE_BODY, JSON_HEADERS)
        elif wants_stream(body):
            await stream(scope, send, arrival)
        else:
            await send_body(send, 200, COMPLETION_BODY, JSON_HEADERS)
    else:
        await send_body(send, 404, NOT_FOUND_BODY, JSON_HEADERS)
