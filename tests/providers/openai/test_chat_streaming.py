"""Streaming chat completions (SSE) through the openai SDK and raw HTTP."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import time
from urllib.parse import urlparse

import tiktoken

from tests.conftest import INSTANT


def stream(client, **kwargs):
    kwargs.setdefault("model", "instant")
    kwargs.setdefault("messages", [{"role": "user", "content": "Stream to me"}])
    return client.chat.completions.create(stream=True, **kwargs)


def test_it_streams_role_then_one_delta_per_token_then_finish(client):
    chunks = list(stream(client, extra_headers={"x-llmsim-tokens": "12"}))
    assert {c.id for c in chunks} == {chunks[0].id}
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].delta.role for c in chunks[1:]] == [None] * (len(chunks) - 1)
    contents = [c.choices[0].delta.content for c in chunks[1:-1]]
    assert len(contents) == 12
    assert all(contents)
    assert [c.choices[0].finish_reason for c in chunks] == [None] * (len(chunks) - 1) + ["stop"]
    assert all(c.usage is None for c in chunks)
    text = "".join(contents)
    assert len(tiktoken.get_encoding("o200k_base").encode(text)) == 12


def test_include_usage_adds_a_final_chunk_with_empty_choices(client):
    chunks = list(
        stream(client, stream_options={"include_usage": True}, max_tokens=6, extra_headers={"x-llmsim-tokens": "50"})
    )
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.completion_tokens == 6
    assert last.usage.total_tokens == last.usage.prompt_tokens + 6
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "length"


def test_the_sdk_stream_helper_assembles_the_same_text(client):
    headers = {"x-llmsim-seed": "99", "x-llmsim-tokens": "30", **INSTANT}
    messages = [{"role": "user", "content": "same"}]
    expected = client.chat.completions.create(model="instant", messages=messages, extra_headers=headers)
    with client.chat.completions.stream(model="instant", messages=messages, extra_headers=headers) as events:
        final = events.get_final_completion()
    assert final.choices[0].message.content == expected.choices[0].message.content
    assert final.choices[0].finish_reason == "stop"


def test_n_choices_stream_interleaved_with_their_own_indices(client):
    chunks = list(stream(client, n=3, extra_headers={"x-llmsim-tokens": "5"}))
    texts = {0: "", 1: "", 2: ""}
    finishes = {}
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    assert chunks[0].choices[0].index == 0
    assert finishes == {0: "stop", 1: "stop", 2: "stop"}
    assert all(texts.values())


def test_the_async_client_streams(async_client):
    async def main():
        async with async_client:
            events = await async_client.chat.completions.create(
                model="instant",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                stream_options={"include_usage": True},
                extra_headers={"x-llmsim-tokens": "8"},
            )
            return [chunk async for chunk in events]

    chunks = asyncio.run(main())
    assert chunks[-1].usage.completion_tokens == 8


def test_the_wire_format_ends_with_done(llmsim_server):
    url = urlparse(llmsim_server.base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    body = {"model": "instant", "messages": [{"role": "user", "content": "x"}], "stream": True}
    connection.request(
        "POST",
        "/v1/chat/completions",
        json.dumps(body),
        {"Authorization": "Bearer t", "Content-Type": "application/json", "x-llmsim-tokens": "3"},
    )
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("content-type").startswith("text/event-stream")
    assert response.getheader("x-request-id").startswith("req_")
    raw = response.read().decode()
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    assert len(events) == 1 + 3 + 1 + 1  # role, tokens, finish, [DONE]


def test_the_headers_come_at_once_and_the_first_token_after_its_delay(llmsim_server):
    # As from the real API: the SDK's create(stream=True) returns on the headers, before the
    # first token (Daphne held them back until its first write).
    url = urlparse(llmsim_server.base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    body = {"model": "instant", "messages": [{"role": "user", "content": "x"}], "stream": True}
    headers = {"Authorization": "Bearer t", "Content-Type": "application/json"}
    headers |= {"x-llmsim-ttft-ms": "1500", "x-llmsim-tokens": "2"}
    started = time.monotonic()
    connection.request("POST", "/v1/chat/completions", json.dumps(body), headers)
    response = connection.getresponse()
    head_after = time.monotonic() - started
    first_line = response.readline()
    first_after = time.monotonic() - started
    assert response.status == 200
    assert first_line.startswith(b"data: ")
    assert head_after < 1.0
    assert first_after >= 1.4
    assert response.read().decode().rstrip().endswith("data: [DONE]")


def test_the_first_token_is_due_from_the_requests_arrival_on_every_server(llmsim_server):
    # granian and uvicorn start the application when a request's head is in; Daphne did
    # only once its body was, so a request that waited in the server (behind a burst of
    # others, or for the rest of its body) had its first token put off by the wait.
    url = urlparse(llmsim_server.base_url)
    body = json.dumps({"model": "instant", "messages": [{"role": "user", "content": "x"}], "stream": True}).encode()
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer t\r\n"
        b"Content-Type: application/json\r\nx-llmsim-ttft-ms: 1500\r\nx-llmsim-tokens: 2\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    with socket.create_connection((url.hostname, url.port), timeout=10) as client:
        started = time.monotonic()
        client.sendall(head + body[:10])
        time.sleep(0.8)
        client.sendall(body[10:])
        received = b""
        while b"data: " not in received:
            chunk = client.recv(65536)
            assert chunk, received
            received += chunk
        first_after = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 200")
    assert 1.4 <= first_after < 2.1  # 1.5 s from the head, not from the body's end (2.3 s)


def test_time_to_first_token_and_gaps_follow_the_headers(client):
    started = time.monotonic()
    arrivals = []
    for chunk in stream(
        client, extra_headers={"x-llmsim-ttft-ms": "300", "x-llmsim-tbt-ms": "30", "x-llmsim-tokens": "11"}
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 11
    assert 0.28 <= arrivals[0] <= 0.8
    # 10 gaps of 30 ms from the first token: deadlines are absolute, so no drift.
    assert 0.27 <= arrivals[-1] - arrivals[0] <= 0.8


def test_a_client_that_leaves_mid_stream_does_not_hurt_the_server(client, llmsim_server):
    before = llmsim_server.health()
    events = stream(client, extra_headers={"x-llmsim-ttft-ms": "0", "x-llmsim-tbt-ms": "50", "x-llmsim-tokens": "200"})
    for i, _ in enumerate(events):
        if i == 3:
            break
    events.close()
    # The server keeps serving, and the abandoned stream is no longer counted as active.
    deadline = time.monotonic() + 5
    from tests.conftest import get_json

    while time.monotonic() < deadline:
        stats = get_json(f"{llmsim_server.base_url}/llmsim/stats")
        if stats["requests"]["active"] == 0:
            break
        time.sleep(0.05)
    assert stats["requests"]["active"] == 0
    assert llmsim_server.health()["status"] == before["status"] == "ok"
    assert list(stream(client, extra_headers={"x-llmsim-tokens": "2"}))
