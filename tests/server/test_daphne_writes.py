"""ProviderChannel's writes under Daphne: at once when nothing is queued, in order always.

The transport here is Twisted's own FileDescriptor (the base of its TCP connections)
with a socket stand-in that takes what `accepts` says and a reactor that records
which transports asked to be told when their socket is writable.
"""

from __future__ import annotations

import pytest
from twisted.internet import abstract, main

from simulator.server.daphne import ProviderChannel


class RecordingReactor:
    def __init__(self) -> None:
        self.writers: set[object] = set()  # a reactor's: adding one twice keeps it once

    def addWriter(self, writer: object) -> None:
        self.writers.add(writer)

    def removeWriter(self, writer: object) -> None:
        self.writers.discard(writer)

    def addReader(self, reader: object) -> None:
        pass

    def removeReader(self, reader: object) -> None:
        pass


class Transport(abstract.FileDescriptor):
    def __init__(self, reactor: RecordingReactor) -> None:
        super().__init__(reactor)
        self.connected = True
        self.accepts: int | Exception = 1 << 20  # bytes the socket takes per send, or the error
        self.sent = b""

    def writeSomeData(self, data: bytes) -> int | Exception:
        if isinstance(self.accepts, Exception):
            return self.accepts
        taken = bytes(data[: self.accepts])
        self.sent += taken
        return len(taken)


@pytest.fixture
def channel() -> ProviderChannel:
    channel = ProviderChannel()
    channel.transport = Transport(RecordingReactor())
    return channel


def test_a_write_with_nothing_queued_is_sent_without_waiting_for_the_event_loop(channel):
    channel.writeSequence([b"5\r\n", b"hello", b"\r\n"])
    assert channel.transport.sent == b"5\r\nhello\r\n"
    assert channel.transport.reactor.writers == set()  # nothing left for the event loop to send


def test_what_the_socket_does_not_take_is_queued_and_later_writes_queue_behind_it(channel):
    transport = channel.transport
    transport.accepts = 3
    channel.write(b"first")
    channel.write(b"second")  # must not overtake the queued "st"
    assert transport.sent == b"fir"
    assert transport.reactor.writers == {transport}
    transport.accepts = 1 << 20
    transport.doWrite()  # the event loop finds the socket writable
    assert transport.sent == b"firstsecond"
    assert transport.reactor.writers == set()


def test_a_lost_connection_leaves_the_write_to_twisted_which_finds_it(channel):
    transport = channel.transport
    transport.accepts = main.CONNECTION_LOST
    channel.write(b"token")
    assert transport.sent == b""
    assert transport.reactor.writers == {transport}  # queued: the event loop's write meets the loss
    assert transport.doWrite() is main.CONNECTION_LOST


def test_a_write_after_loseconnection_goes_out_before_the_close_as_twisted_sends_it(channel):
    transport = channel.transport
    transport.loseConnection()  # nothing queued: the close waits for the event loop's next write
    channel.write(b"last")
    assert transport.sent == b""
    transport.doWrite()
    assert transport.sent == b"last"
