"""Daphne as LLMSim runs it (`runserver`, `serve --server daphne`): a deeper listen
backlog, and the request refusals Twisted makes itself answered in the caller's format.

Three small departures from Daphne's defaults, each for a load test's sake:
- Its endpoints carry Twisted's default backlog of 50: a load test that opens a
  thousand streams at once overflows it, and the dropped connections retry a second
  later, wrecking time to first token.
- Twisted's Request parses a POST body with a multipart/form-data (or form-urlencoded)
  content type itself, before the application sees it, and answers a body that is not
  well-formed multipart with a bare, empty 400. ASGI reads the raw body anyway:
  with that parsing off, the provider route answers, in its own format.
- Twisted's HTTPChannel closes the connection without a word on a header line longer
  than 16 KiB, and answers a head of more than 16 KiB or 500 fields with a bare 400.
  Ours answers 431 (414 for the request line) in the caller's format, with the same limits.

And three for a stream's sake: its first token is due from when its request line came
in, not from when Daphne started the application (RawBodyRequest.arrived), its headers
go out when the response starts, not with its first token (RawBodyRequest.handle_reply),
and a write to a connection with nothing queued goes to the socket at once
(ProviderChannel.write).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.server import Server
from django.conf import settings
from twisted.web import http

from simulator.providers.callers import error_response
from simulator.server.http import Call, Headers, ProviderError, new_call
from simulator.server.router import PROVIDER_PREFIXES


def with_backlog(endpoint: str) -> str:
    """Add the configured backlog to a Twisted tcp: endpoint description."""
    if endpoint.startswith("tcp:") and ":backlog=" not in endpoint:
        return f"{endpoint}:backlog={settings.LLMSIM_LISTEN_BACKLOG}"
    return endpoint


def provider_call(method: bytes, target: bytes, headers: Iterable[tuple[bytes, bytes]]) -> Call | None:
    """A Call for a request the server refuses before the application runs, enough to
    pick and fill in the caller's error format; None off the provider routes."""
    raw_path, _, query = target.partition(b"?")
    path = unquote(raw_path.decode("latin-1"))
    if not path.startswith(PROVIDER_PREFIXES):
        return None
    scope = {
        "type": "http",
        "method": method.decode("latin-1"),
        "path": path,
        "query_string": query,
        "headers": [(name.lower(), value) for name, value in headers],
    }
    return new_call(scope, None, None)  # never receives nor sends: only its error is rendered


_KINDS = {413: "too_large", 414: "too_large", 431: "too_large", 500: "server_error", 503: "service_unavailable"}


def refusal(call: Call | None, status: int, message: str) -> tuple[Headers, bytes]:
    """The headers and body of a refusal: the caller's format on provider routes, else text."""
    if call is None:
        return [(b"content-type", b"text/plain; charset=utf-8")], message.encode()
    return error_response(call, ProviderError(status, message, _KINDS.get(status, "invalid_request")))


class RawBodyRequest(WebRequest):
    """Daphne's request without Twisted's form parsing, and with its own refusals (an
    invalid header, a timeout) in the caller's format on provider routes."""

    def __init__(self, channel: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(channel, *args, parsePOSTFormSubmission=False, **kwargs)
        # Made when the request line comes in (Twisted's HTTPChannel.lineReceived): the
        # request's arrival, from which its time to first token counts (transport.arrival).
        self.arrived = time.monotonic()

    def basic_error(self, status: int, status_text: bytes, body: str) -> None:
        headers = ((name, value) for name, values in self.requestHeaders.getAllRawHeaders() for value in values)
        call = provider_call(self.method or b"GET", self.uri or b"/", headers)
        if call is None:
            super().basic_error(status, status_text, body)
            return
        response_headers, payload = refusal(call, status, body)
        response_headers.append((b"content-length", b"%d" % len(payload)))
        self.handle_reply({"type": "http.response.start", "status": status, "headers": response_headers})
        self.handle_reply({"type": "http.response.body", "body": payload})

    def handle_reply(self, message: dict[str, Any]) -> None:
        super().handle_reply(message)
        # Twisted holds the status line and headers until the first body write, so a
        # stream's went out with its first token: the SDK's create(stream=True), which
        # returns on the headers, waited the whole time to first token. The real APIs,
        # granian and uvicorn send them at once; a response without content-length is a
        # stream, and an empty write sends its head now. (A sized answer's body follows
        # its head at once anyway: one write for both.)
        if (
            message.get("type") == "http.response.start"
            and self.channel is not None
            and not self.finished
            and self.method != b"HEAD"
            and not self.responseHeaders.hasHeader(b"content-length")
        ):
            http.Request.write(self, b"")


def _nothing_queued(transport: Any) -> bool:
    """Whether a plain TCP transport is connected with no write waiting in its buffer.

    Reads Twisted's FileDescriptor buffers (dataBuffer, _tempDataBuffer); a transport
    without them (TLS, a test's fake) counts as busy and gets its writes queued as usual.
    """
    return (
        getattr(transport, "connected", False)
        and not getattr(transport, "disconnecting", True)
        and not getattr(transport, "TLS", False)
        and getattr(transport, "dataBuffer", None) == b""
        and getattr(transport, "_tempDataBuffer", None) == []
    )


class ProviderChannel(http.HTTPChannel):
    """Twisted's HTTP/1.1 channel, refusing an oversized request head with an answer, and
    sending a write at once when nothing is queued before it.

    It counts the lines of each request head as they come, with Twisted's own limits
    (MAX_LENGTH a line, totalHeadersSize and maxHeaders a head), and refuses before
    Twisted would: a request line too long is 414, any other excess 431.
    """

    # Twisted's transport queues every write and sends it when the event loop next finds
    # the socket writable: per write, the socket registered with the selector and removed
    # again (two epoll_ctl calls) and a pass of the loop in between. A streamed token is a
    # small write to a socket with room for it: that round trip was a third of the
    # server's time with a thousand streams open. So a write with nothing queued before it
    # goes to the socket now (as uvicorn's and granian's do); what the socket does not take
    # is queued as before, behind which later writes queue too, and Twisted's flow control
    # (pausing the response's producer while the buffer is full) applies to it unchanged.
    def write(self, data: bytes) -> None:
        transport = self.transport
        if data and _nothing_queued(transport):
            sent = transport.writeSomeData(data)
            if isinstance(sent, int):  # else a lost connection, which the queued write finds
                data = data[sent:]
        if data:
            transport.write(data)

    def writeSequence(self, iovec: Iterable[bytes]) -> None:
        self.write(b"".join(iovec))

    def connectionMade(self) -> None:
        super().connectionMade()
        self._head: list[bytes] = []  # the request line and header lines received so far
        self._head_size = 0

    def lineReceived(self, line: bytes) -> None:
        if not line:  # the end of a head (or a stray blank line before one)
            self._head, self._head_size = [], 0
            return super().lineReceived(line)
        self._head.append(line)
        self._head_size += len(line)
        if self._head_size > self.totalHeadersSize or len(self._head) > self.maxHeaders + 1:
            return self._refuse(431, self._head)
        return super().lineReceived(line)

    def lineLengthExceeded(self, line: bytes) -> None:
        if self._head:
            self._refuse(431, self._head)
        else:
            self._refuse(414, [line[: self.MAX_LENGTH]])

    def _refuse(self, status: int, head: list[bytes]) -> None:
        method, _, rest = head[0].partition(b" ")
        target = rest.rpartition(b" ")[0] if rest.endswith((b"HTTP/1.1", b"HTTP/1.0")) else rest
        fields = (line.partition(b":") for line in head[1:])
        call = provider_call(method, target, ((name.strip(), value.strip()) for name, _, value in fields))
        if status == 414:
            message = f"URI too long: the request line may take at most {self.MAX_LENGTH} bytes."
        else:
            message = (
                f"Request header fields too large: the request line and headers may take at most "
                f"{self.totalHeadersSize} bytes, {self.maxHeaders} fields, and {self.MAX_LENGTH} bytes a line."
            )
        headers, body = refusal(call, status, message)
        lines = [
            b"HTTP/1.1 %d %s" % (status, HTTPStatus(status).phrase.encode()),
            *(name + b": " + value for name, value in headers),
            b"content-length: %d" % len(body),
            b"connection: close",
        ]
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        self.loseConnection()


class ProviderHTTPFactory(HTTPFactory):
    # A plain HTTP/1.1 channel: Twisted's default wraps one in a protocol that can switch
    # to HTTP/2, which only TLS endpoints negotiate, and LLMSim's Daphne listens on TCP.
    protocol = ProviderChannel

    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)  # Daphne's: its WebRequest as request factory
        protocol.requestFactory = RawBodyRequest
        return protocol


class LLMSimServer(Server):
    """Daphne's Server with the configured backlog and ProviderHTTPFactory."""

    def __init__(self, *args: Any, endpoints: list[str], **kwargs: Any) -> None:
        # As runserver reads them (the settings say why); `serve --server daphne` passes none.
        kwargs.setdefault("websocket_max_message_size", settings.DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE)
        kwargs.setdefault("websocket_max_frame_size", settings.DAPHNE_WEBSOCKET_MAX_FRAME_SIZE)
        super().__init__(*args, endpoints=[with_backlog(e) for e in endpoints], **kwargs)

    # Daphne's run() builds its HTTPFactory and listens with it in one go, with no hook
    # in between: the assignment is where ours takes its place.
    @property
    def http_factory(self) -> HTTPFactory:
        return self._http_factory

    @http_factory.setter
    def http_factory(self, factory: HTTPFactory) -> None:
        self._http_factory = factory if isinstance(factory, ProviderHTTPFactory) else ProviderHTTPFactory(self)
