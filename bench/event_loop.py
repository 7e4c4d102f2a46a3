"""The load generator's event loop: non-blocking client sockets on one epoll loop (Linux).

Raw non-blocking sockets on one epoll loop, with an incremental HTTP/1.1 parser,
rather than an HTTP library or asyncio streams. The client gets one core beside the
server's and must not be what limits the figures: at 2,000 streams it reads about
100,000 token events a second, and asyncio's per-read callback machinery plus a
coroutine resumption per chunk cost several times what reading and parsing do. It
must also see each body chunk the moment it arrives, to time streamed tokens.
"""

from __future__ import annotations

import errno
import heapq
import os
import select
import socket
import time
from collections.abc import Callable
from contextlib import suppress
from itertools import count

from parsers import ProtocolError, ResponseParser

# The one address the bench connects to (and starts its servers on).
HOST = "127.0.0.1"
RECV_BYTES = 262144  # one read takes at most this much
# The loop wakes at least this often for timeouts, timers and CPU samples.
TICK_S = 0.25

_EPOLLIN, _EPOLLOUT = select.EPOLLIN, select.EPOLLOUT
_EPOLL_READABLE = select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR


class EventLoop:
    """A minimal epoll loop: a handler per socket, one-shot timers, a periodic tick."""

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._handlers: dict[int, Callable[[int], None]] = {}
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = count()  # keeps timers due at the same instant in call order
        # Every read lands here first and only its bytes are copied out: sock.recv(n)
        # allocates n bytes per call, and above glibc's mmap threshold that is an
        # mmap/munmap pair per read: that had made kernel time half the client's CPU.
        self.read_buffer = memoryview(bytearray(RECV_BYTES))

    def register(self, fd: int, mask: int, handler: Callable[[int], None]) -> None:
        self._epoll.register(fd, mask)
        self._handlers[fd] = handler

    def modify(self, fd: int, mask: int) -> None:
        self._epoll.modify(fd, mask)

    def unregister(self, fd: int) -> None:
        self._handlers.pop(fd, None)
        with suppress(OSError, ValueError):
            self._epoll.unregister(fd)

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (when, next(self._order), callback))

    def run(self, done: Callable[[], bool], deadline: float, tick: Callable[[float], None] | None = None) -> None:
        """Dispatch events until `done()` or the `deadline` (perf_counter seconds)."""
        poll, handlers, timers = self._epoll.poll, self._handlers, self._timers
        next_tick = 0.0 if tick is not None else float("inf")
        while not done():  # bounded by the deadline
            now = time.perf_counter()
            if now >= deadline:
                return
            while timers and timers[0][0] <= now:
                heapq.heappop(timers)[2]()
            if tick is not None and now >= next_tick:
                tick(now)
                next_tick = now + TICK_S
            wake = min(deadline, next_tick, timers[0][0] if timers else deadline)
            for fd, mask in poll(max(wake - now, 0.0)):
                handler = handlers.get(fd)
                if handler is not None:
                    handler(mask)

    def close(self) -> None:
        self._epoll.close()


class Connection:
    """A non-blocking client socket on the loop, parsing the responses it reads.

    Subclasses say what happens on connect, on body bytes, on a complete response
    and when the connection is lost (`on_lost` is called after it is closed).
    """

    __slots__ = ("_loop", "_pending", "_port", "arrived", "connected", "parser", "sock")

    def __init__(self, loop: EventLoop, port: int) -> None:
        self._loop = loop
        self._port = port
        self._pending = b""
        self.sock: socket.socket | None = None
        self.connected = False
        self.arrived = 0.0  # perf_counter of the latest read, for on_body
        self.parser = ResponseParser(self.on_body)

    def open(self) -> None:
        """Start connecting; on_connected or on_lost follows. Raises OSError if it cannot even start."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            code = sock.connect_ex((HOST, self._port))
            if code not in (0, errno.EINPROGRESS):
                raise OSError(code, os.strerror(code))
            self._loop.register(sock.fileno(), _EPOLLOUT, self._on_event)
        except OSError:
            sock.close()
            raise
        self.sock, self.connected, self._pending = sock, False, b""
        self.parser = ResponseParser(self.on_body)

    def close(self) -> None:
        if self.sock is not None:
            self._loop.unregister(self.sock.fileno())
            self.sock.close()
            self.sock = None
        self.connected = False

    def send(self, data: bytes) -> None:
        assert self.sock is not None
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            sent = 0
        if sent < len(data):
            # The socket buffer is full (rare for a request): finish when writable.
            self._pending = data[sent:]
            self._loop.modify(self.sock.fileno(), _EPOLLIN | _EPOLLOUT)

    def fail(self, error: str) -> None:
        self.close()
        self.on_lost(error)

    def _on_event(self, mask: int) -> None:
        sock = self.sock
        if sock is None:
            return
        try:
            if not self.connected:
                self._finish_connect(sock)
                return
            if mask & _EPOLLOUT and self._pending:
                self._flush(sock)
            if mask & _EPOLL_READABLE:
                self._receive(sock)
        except (OSError, ProtocolError) as exc:
            if self.sock is sock:
                self.fail(type(exc).__name__)

    def _finish_connect(self, sock: socket.socket) -> None:
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise OSError(code, os.strerror(code))
        self.connected = True
        self._loop.modify(sock.fileno(), _EPOLLIN)
        self.on_connected()

    def _flush(self, sock: socket.socket) -> None:
        sent = sock.send(self._pending)
        self._pending = self._pending[sent:]
        if not self._pending:
            self._loop.modify(sock.fileno(), _EPOLLIN)

    def _receive(self, sock: socket.socket) -> None:
        buffer = self._loop.read_buffer
        try:
            size = sock.recv_into(buffer)
        except BlockingIOError:
            return
        self.arrived = now = time.perf_counter()
        data = bytes(buffer[:size])
        if data:
            if self.parser.feed(data):
                self.on_response(now)
            return
        # The server closed the connection. A subclass's on_response may already
        # have closed this socket (and opened another): only handle this one.
        if self.parser.eof():
            self.on_response(now)
        if self.sock is sock:
            self.fail(ProtocolError.__name__)

    # Hooks.
    def on_connected(self) -> None:
        pass

    def on_body(self, piece: bytes) -> None:
        pass

    def on_response(self, now: float) -> None:
        pass

    def on_lost(self, error: str) -> None:
        pass
