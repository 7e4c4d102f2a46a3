"""Checks of the benchmark's own parts (no server needed): python -m pytest bench

The figures are only as good as the client's parsing and the reference app's
answers, so both are checked against hand-made wire bytes.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest
import run
from loadgen import ProtocolError, ResponseParser, SSEScanner
from reference_app import app
from report import table_rows, target_rows
from run import parse_counts, parse_cpus


def sse_event(delta: dict[str, Any], finish: str | None = None) -> bytes:
    chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


# Four content events: the role chunk, an empty content and the finish chunk are not.
SSE_BODY = b"".join(
    [
        sse_event({"role": "assistant", "content": ""}),
        *(sse_event({"content": text}) for text in ("a", "{", '"', "", " b")),
        sse_event({}, "stop"),
        b"data: [DONE]\n\n",
    ]
)


def chunked(body: bytes, rng: random.Random) -> bytes:
    out, at = [], 0
    while at < len(body):
        piece = body[at : at + rng.randint(1, 60)]
        out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
        at += len(piece)
    return b"".join(out) + b"0\r\n\r\n"


def read_in_pieces(wire: bytes, rng: random.Random) -> tuple[ResponseParser, list[bytes], bool]:
    """Feed `wire` in random pieces, as reads would deliver it."""
    body: list[bytes] = []
    parser = ResponseParser(body.append)
    complete, at = False, 0
    while at < len(wire):
        size = rng.randint(1, 40)
        assert not complete, "complete before the last byte"
        complete = parser.feed(wire[at : at + size])
        at += size
    return parser, body, complete


@pytest.mark.parametrize("seed", range(50))
def test_chunked_body_survives_any_split(seed: int) -> None:
    rng = random.Random(seed)
    wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(SSE_BODY, rng)
    parser, body, complete = read_in_pieces(wire, rng)
    assert complete
    assert b"".join(body) == SSE_BODY
    assert parser.head is not None and parser.head.reusable


def test_content_length_and_close_delimited_bodies() -> None:
    body: list[bytes] = []
    parser = ResponseParser(body.append)
    assert parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    assert b"".join(body) == b"hello"
    parser = ResponseParser(body.append)
    assert not parser.feed(b"HTTP/1.0 200 OK\r\n\r\nabc")
    assert parser.eof()
    assert parser.head is not None and not parser.head.reusable


def test_bad_chunk_size_is_a_protocol_error() -> None:
    parser = ResponseParser(lambda _: None)
    with pytest.raises(ProtocolError):
        parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
@pytest.mark.parametrize("seed", range(20))
def test_sse_scanner_counts_content_events_across_reads(line_end: bytes, seed: int) -> None:
    rng = random.Random(seed)
    body = SSE_BODY.replace(b"\n", line_end)
    scanner = SSEScanner()
    content, done, at = 0, False, 0
    while at < len(body):
        size = rng.randint(1, 80)
        seen = scanner.feed(body[at : at + size])
        content += seen.content_events
        done = done or seen.done
        at += size
    assert (content, done) == (4, True)


async def call_app(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> list[dict]:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(name.encode(), value.encode()) for name, value in (headers or {}).items()],
    }
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def test_reference_answers_a_completion_with_content_length() -> None:
    sent = asyncio.run(call_app("POST", "/v1/chat/completions", b'{"model":"instant"}'))
    start, body = sent
    assert start["status"] == 200
    assert dict(start["headers"])[b"content-length"] == str(len(body["body"])).encode()
    completion = json.loads(body["body"])
    assert completion["object"] == "chat.completion"
    assert completion["usage"]["completion_tokens"] == 20


def test_reference_streams_the_requested_tokens() -> None:
    headers = {"x-llmsim-ttft-ms": "5", "x-llmsim-tbt-ms": "1", "x-llmsim-tokens": "7"}
    sent = asyncio.run(call_app("POST", "/v1/chat/completions", b'{"stream": true}', headers))
    assert sent[0]["status"] == 200
    assert dict(sent[0]["headers"])[b"content-type"].startswith(b"text/event-stream")
    assert sent[-1]["more_body"] is False
    seen = SSEScanner().feed(b"".join(message["body"] for message in sent[1:]))
    assert (seen.content_events, seen.done) == (7, True)


def test_reference_health_and_unknown_paths() -> None:
    assert asyncio.run(call_app("GET", "/health"))[0]["status"] == 200
    assert asyncio.run(call_app("GET", "/nowhere"))[0]["status"] == 404


def test_cli_lists() -> None:
    assert parse_cpus("0,2-3") == frozenset({0, 2, 3})
    assert parse_counts("1000,2000,1000") == (1000, 2000)


def throughput(rps: float) -> dict[str, Any]:
    """A throughput scenario's figures as a run reports them, at `rps` requests/s."""
    return {
        "connections": 64,
        "duration_s": 10,
        "warmup_s": 2,
        "requests_per_s": rps,
        "latency_ms": {"p50": 1.0, "p99": 2.0},
        "non_200": 0,
        "errors": 0,
    }


def test_table_has_ratios_to_the_reference() -> None:

    results = {"serve": {"throughput": throughput(5000)}, "reference": {"throughput": throughput(10000)}}
    header, rows = table_rows(results)
    assert header == ["figure", "serve", "reference", "serve ÷ reference"]
    assert ["requests/s", "5000", "10000", "0.50x"] in rows
    assert target_rows({"serve": {"throughput": throughput(5000)}})[0] == [
        "1. throughput ≥ 8,000 req/s",
        "5000",
        "NOT met",
    ]


def test_scenario_cost_alternates_and_summarises_the_pairs() -> None:
    orders = [run.scenario_cost_order(pair) for pair in range(4)]
    assert orders == [(False, True), (True, False), (False, True), (True, False)]  # ABBA: drift cancels
    summary = run.scenario_cost_summary([100.0, 200.0, 100.0], [90.0, 150.0, 95.0])
    assert "plain 133 req/s, loaded 112 req/s" in summary
    assert "mean -16.2 %" in summary and "median pair -10.0 %" in summary
    assert "pairs -25.0 to -5.0 %" in summary


def test_scenario_cost_starts_its_own_servers() -> None:
    with pytest.raises(SystemExit):
        run.parse_args(["--scenario-cost", "2", "--url", "http://127.0.0.1:9"])
    assert run.parse_args(["--scenario-cost", "2"]).scenario_cost == 2
