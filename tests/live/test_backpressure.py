"""Clients that ask for a long stream and never read: the server waits for them (flow
control) instead of holding their streams in memory, and other streams keep their schedule."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import openai
import pytest

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the worker's RSS from /proc (Linux)"),
]

STUCK_CLIENTS = 20
STREAM_TOKENS = 20_000  # ~3 MB of events each: all due at once (no gap between tokens)


def worker_pid(server) -> int:
    """The process that answers: granian's worker, else the server process itself."""
    pid = server.process.pid
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        workers = [int(child) for child in children.read().split()]
    return workers[0] if workers else pid


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def open_stuck_streams(server) -> list[socket.socket]:
    """Clients that send their request and then never read a byte."""
    body = json.dumps({"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}).encode()
    host, port = server.base_url.removeprefix("http://").split(":")
    request = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
        "Content-Type: application/json\r\nx-llmsim-ttft-ms: 0\r\nx-llmsim-tbt-ms: 0\r\n"
        f"x-llmsim-tokens: {STREAM_TOKENS}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    stuck = []
    for _ in range(STUCK_CLIENTS):
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect((host, int(port)))
        client.sendall(request)
        stuck.append(client)
    return stuck


def timed_stream(server) -> tuple[float, int]:
    """A stream on a 0.2 s + 40 x 20 ms schedule: how long it took, and its chunks of text."""
    client = openai.OpenAI(
        base_url=f"{server.base_url}/v1",
        api_key="test",
        max_retries=0,
        default_headers={"x-llmsim-ttft-ms": "200", "x-llmsim-tbt-ms": "20", "x-llmsim-tokens": "40"},
    )
    started = time.monotonic()
    stream = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True)
    pieces = sum(1 for chunk in stream if chunk.choices and chunk.choices[0].delta.content)
    return time.monotonic() - started, pieces


def test_clients_that_never_read_are_waited_for_not_buffered(llmsim_server):
    pid = worker_pid(llmsim_server)
    warm_up = open_stuck_streams(llmsim_server)  # the allocator's first arenas are not what is measured
    time.sleep(1.5)
    for client in warm_up:
        client.close()
    time.sleep(1.0)

    before = rss_mb(pid)
    stuck = open_stuck_streams(llmsim_server)
    try:
        time.sleep(1.5)
        took, pieces = timed_stream(llmsim_server)
        during = rss_mb(pid)
    finally:
        for client in stuck:
            client.close()
    time.sleep(1.0)
    after = rss_mb(pid)

    # Buffered whole, twenty 3 MB streams grew the worker by 90-110 MB on every server.
    assert during - before < 30, (before, during)
    assert after - before < 20, (before, after)  # what the allocator keeps varies by a few MB
    assert pieces == 40
    assert took < 0.2 + 40 * 0.02 * 1.5, took  # the other stream kept its schedule (1.0 s)


def test_a_stream_due_at_once_goes_out_whole_in_slices(llmsim_server):
    # 1,000 tokens due at once are written 128 at a time: the client gets every one, in order.
    headers = {"x-llmsim-ttft-ms": "0", "x-llmsim-tbt-ms": "0", "x-llmsim-tokens": "1000", "x-llmsim-seed": "7"}
    client = openai.OpenAI(
        base_url=f"{llmsim_server.base_url}/v1", api_key="test", max_retries=0, default_headers=headers
    )
    ask = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    whole = client.chat.completions.create(**ask).choices[0].message.content
    chunks = [c.choices[0].delta.content for c in client.chat.completions.create(**ask, stream=True) if c.choices]
    assert "".join(piece or "" for piece in chunks) == whole
    assert sum(1 for piece in chunks if piece) == 1000
