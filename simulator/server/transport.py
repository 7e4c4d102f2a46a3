"""What ASGI does not say, reached through the server's own connection: abort it (an
injected dropped connection), wait while its client is not reading (flow control), and
when its request arrived.

uvicorn's and granian's `send` already wait while a connection's buffers are full, so a
client that stops reading holds up its own stream, not the server's memory. Daphne's
does not: Twisted queues every write in the transport, and a 20,000-token stream to a
client that never reads would sit whole in the worker. Twisted tells a registered
producer when the transport's buffer fills and drains (IPushProducer: pauseProducing,
resumeProducing); `TwistedFlow` is that producer for one response, and the stream's
next write waits while it is paused.
"""

from __future__ import annotations

import asyncio
import contextlib
from functools import partial
from typing import Any


def _daphne_request(send: Any) -> Any:
    """Daphne's WebRequest (a twisted.web Request) behind `send`, or None under other servers.

    Daphne passes `send` as partial(server.handle_reply, protocol), the protocol being
    the request, whose channel holds the Twisted transport.
    """
    if isinstance(send, partial) and send.args and hasattr(send.args[0], "channel"):
        return send.args[0]
    return None


def abort(send: Any) -> bool:
    """Abort the connection behind `send` through the server's transport; False when it
    cannot be reached (granian). uvicorn's `send` is a bound method of an object that
    holds the asyncio transport."""
    request = _daphne_request(send)
    transport = getattr(getattr(request, "channel", None), "transport", None)
    if transport is not None and hasattr(transport, "abortConnection"):
        transport.abortConnection()
        return True
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None and hasattr(transport, "abort"):
        transport.abort()
        return True
    return False


def arrival(send: Any) -> float | None:
    """When the request behind `send` began to arrive (time.monotonic()), where the server
    says: Daphne's request, stamped by simulator.server.daphne when its first line came.
    None elsewhere (granian and uvicorn tell an application nothing of it)."""
    return getattr(_daphne_request(send), "arrived", None)


class TwistedFlow:
    """A Twisted push producer for one response: writes wait while it is paused."""

    __slots__ = ("_request", "_resumed")

    def __init__(self, request: Any) -> None:
        self._request = request
        self._resumed = asyncio.Event()
        self._resumed.set()
        request.registerProducer(self, True)

    @property
    def paused(self) -> bool:
        return not self._resumed.is_set()

    async def writable(self) -> None:
        """Until the transport has drained (or the connection is gone)."""
        await self._resumed.wait()

    def release(self) -> None:
        """Unregister (the response is done): the connection's next request may register its own."""
        self._resumed.set()
        with contextlib.suppress(Exception):  # a connection already lost has dropped its producer
            self._request.unregisterProducer()

    # IPushProducer, called by Twisted on the event loop's thread (Daphne runs the asyncio reactor).

    def pauseProducing(self) -> None:
        self._resumed.clear()

    def resumeProducing(self) -> None:
        self._resumed.set()

    def stopProducing(self) -> None:
        self._resumed.set()  # the connection is gone: the disconnect watcher ends the stream


def flow_for(send: Any) -> TwistedFlow | None:
    """Flow control to add for a stream behind `send`: under Daphne a TwistedFlow, else None
    (the server's own `send` waits)."""
    request = _daphne_request(send)
    if request is None or getattr(request, "producer", None) is not None:
        return None
    return TwistedFlow(request)
