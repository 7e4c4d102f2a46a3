"""The load generator's parsers: an incremental HTTP/1.1 response parser and an SSE event counter.

Both are fed bytes read by read, as they arrive: reads follow neither HTTP framing
nor event boundaries, so each keeps what it cannot use yet for the next read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

MAX_LINE_BYTES = 65536  # a response head or chunk-size line longer than this is not HTTP we expect


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 as we understand it."""


# --- HTTP/1.1 responses ---------------------------------------------------------


@dataclass(slots=True)
class ResponseHead:
    status: int
    headers: dict[str, str]
    keep_alive: bool

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def bodiless(self) -> bool:
        return self.status in (204, 304)

    @property
    def reusable(self) -> bool:
        """Whether the connection can carry another request after this answer."""
        framed = self.chunked or "content-length" in self.headers or self.bodiless
        return self.keep_alive and framed


def parse_head(raw: bytes) -> ResponseHead:
    """The status line and headers, without the blank line that ends them."""
    status_line, *header_lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise ProtocolError(f"bad status line {status_line!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    connection = headers.get("connection", "").lower()
    keep_alive = "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection
    return ResponseHead(int(rest[:3]), headers, keep_alive)


_HEAD, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _LENGTH, _UNTIL_CLOSE, _DONE = range(8)


class ResponseParser:
    """An incremental HTTP/1.1 response parser: feed it bytes as they are read.

    Body bytes go to `on_body` at once (chunked framing removed), so a streamed
    token is timed when its chunk arrives, not when the response ends. Reads do not
    follow HTTP framing: one read may end mid-line or hold several chunks.
    """

    __slots__ = ("_buffer", "_on_body", "_remaining", "_state", "head")

    def __init__(self, on_body: Callable[[bytes], None]) -> None:
        self._on_body = on_body
        self._buffer = b""
        self._state = _HEAD
        self._remaining = 0
        self.head: ResponseHead | None = None

    def next_response(self) -> None:
        """Expect another response on the same connection (unread bytes are kept)."""
        self._state = _HEAD
        self.head = None

    def eof(self) -> bool:
        """The connection closed: True when that completes the response (a close-delimited body)."""
        if self._state == _UNTIL_CLOSE:
            self._state = _DONE
        return self._state == _DONE

    def feed(self, data: bytes) -> bool:
        """Take the bytes read; True once the response is complete.

        The body bytes of one read go to `on_body` in one call: a read often holds
        many chunks, and the caller's per-call work (splitting events) is the cost.
        """
        buffer = self._buffer + data if self._buffer else data
        pos, size, state = 0, len(buffer), self._state
        body: list[bytes] = []
        # Bounded: each pass consumes bytes, moves to a later state, or breaks.
        while state != _DONE:
            if state in (_CHUNK_DATA, _LENGTH):
                take = min(self._remaining, size - pos)
                if take:
                    body.append(buffer[pos : pos + take])
                    pos += take
                    self._remaining -= take
                if self._remaining:
                    break
                state = _CHUNK_END if state == _CHUNK_DATA else _DONE
                if state == _CHUNK_END and buffer.startswith(b"\r\n", pos):
                    pos, state = pos + 2, _CHUNK_SIZE  # the usual case, without a line search
                continue
            if state == _UNTIL_CLOSE:
                if pos < size:
                    body.append(buffer[pos:])
                    pos = size
                break
            terminator = b"\r\n\r\n" if state == _HEAD else b"\r\n"
            end = buffer.find(terminator, pos)
            if end < 0:
                if size - pos > MAX_LINE_BYTES:
                    raise ProtocolError("response head or chunk line too long")
                break
            line = buffer[pos:end]
            pos = end + len(terminator)
            state = self._after_line(state, line)
        self._state = state
        self._buffer = buffer[pos:]
        if body:
            self._on_body(body[0] if len(body) == 1 else b"".join(body))
        return state == _DONE

    def _after_line(self, state: int, line: bytes) -> int:
        if state == _HEAD:
            return self._begin_body(parse_head(line))
        if state == _CHUNK_SIZE:
            try:
                self._remaining = int(line.split(b";", 1)[0], 16)
            except ValueError as exc:
                raise ProtocolError(f"bad chunk size {line[:40]!r}") from exc
            return _CHUNK_DATA if self._remaining else _TRAILERS
        if state == _CHUNK_END:
            if line:
                raise ProtocolError("chunk longer than its size")
            return _CHUNK_SIZE
        # Trailers, if any, end with a blank line as the head does.
        return _TRAILERS if line else _DONE

    def _begin_body(self, head: ResponseHead) -> int:
        if 100 <= head.status < 200:
            return _HEAD  # an interim answer; the real one follows
        self.head = head
        if head.chunked:
            return _CHUNK_SIZE
        if "content-length" in head.headers:
            try:
                self._remaining = int(head.headers["content-length"])
            except ValueError as exc:
                raise ProtocolError("bad Content-Length") from exc
            return _LENGTH
        return _DONE if head.bodiless else _UNTIL_CLOSE


# --- server-sent events ---------------------------------------------------------

_DONE_EVENT = re.compile(rb"^data: ?\[DONE\]$", re.MULTILINE)
# A delta whose own `content` is a non-empty string (`choices[0].delta.content` of a
# chat.completion.chunk). The class stops at braces, so a key nested deeper in the
# delta does not count and a match cannot run on into the next event.
_CONTENT_DELTA = re.compile(rb'"delta":\s*\{[^{}]*?"content":\s*"(?!")')


@dataclass(slots=True)
class SSECount:
    """What the events completed by one read hold."""

    content_events: int
    done: bool


class SSEScanner:
    """Count the content events and spot `data: [DONE]` in a body, read by read.

    Every event completed by a read arrived at the same instant, so counting them
    is all the timing needs: one regular-expression pass over the read's complete
    events costs a tenth of splitting them and json.loads on each, which at 2,000
    streams decides whether the client keeps up. Reads (and HTTP chunks) do not
    follow event boundaries, so the bytes after the last blank line wait for the
    next read. CRLF line ends are folded to LF first; a lone CR as line end, which
    the SSE format also allows, is not understood.
    """

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> SSECount:
        data = self._buffer + data if self._buffer else data
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        cut = data.rfind(b"\n\n") + 2
        if cut < 2:
            self._buffer = data
            return SSECount(0, False)
        complete, self._buffer = data[:cut], data[cut:]
        done = b"[DONE]" in complete and _DONE_EVENT.search(complete) is not None
        return SSECount(len(_CONTENT_DELTA.findall(complete)), done)
