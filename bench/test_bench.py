"""Checks of the benchmark's own parts (no server needed): python -m pytest bench

The figures are only as good as the client's parsing and the reference app's
answers, so both are checked against hand-made wire bytes.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest
import run
from parsers import ProtocolError, ResponseParser, SSEScanner
from reference_app import app
from report import markdown_targets, scaling_rows, table_rows, target_rows, text_scaling, text_targets, write_markdown
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


def streams(count: int, ratio_p99: float = 1.05, lateness_p99: float = 100.0, **more: Any) -> dict[str, Any]:
    """A streams scenario's figures as a run reports them; `more` overrides any of them."""
    return {
        "started": count,
        "completed": count,
        "ttft_ms": 200.0,
        "tbt_ms": 20.0,
        "tokens": 100,
        "ttft_lateness_ms": {"p50": lateness_p99 / 2, "p99": lateness_p99},
        "duration_ratio": {"p50": 1.0, "p99": ratio_p99},
        "peak_rss_per_stream_kb": 20.0,
        "server_cpu_pct": 90.0,
        "client_cpu_pct": 40.0,
        **more,
    }


def test_table_has_ratios_to_the_reference() -> None:
    results = {"serve": {"throughput": throughput(5000)}, "reference": {"throughput": throughput(10000)}}
    header, rows = table_rows(results)
    assert header == ["figure", "serve", "reference", "serve ÷ reference"]
    assert ["requests/s", "5000", "10000", "0.50x"] in rows


def targets_by_label(results: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    return {label: [issue, measured, verdict] for issue, label, measured, verdict in target_rows(results)}


def test_throughput_targets_compare_serve_with_aimock_and_the_reference_of_the_same_run() -> None:
    slow_tail = {**throughput(7140), "latency_ms": {"p50": 1.0, "p99": 2.5}}
    results = {
        "serve": {"throughput": throughput(9100)},
        "reference": {"throughput": throughput(20000)},
        "aimock": {"throughput": slow_tail},
    }
    rows = targets_by_label(results)
    assert rows["throughput: requests/s ≥ 1.2x aimock's"] == ["24", "serve 9,100 ÷ aimock 7,140 = 1.27x", "met"]
    assert rows["throughput: requests/s ≥ 0.6x the reference's"] == [
        "24",
        "serve 9,100 ÷ reference 20,000 = 0.46x",
        "NOT met",
    ]
    assert rows["throughput: latency p99 below aimock's"] == ["24", "serve 2.00 ÷ aimock 2.50 = 0.80x", "met"]
    results["aimock"]["throughput"] = throughput(7140)  # the same p99 is not below it
    assert targets_by_label(results)["throughput: latency p99 below aimock's"][2] == "NOT met"


def test_a_target_whose_server_or_scenario_did_not_run_is_left_out() -> None:
    assert target_rows({"serve": {"throughput": throughput(9100)}}) == []  # all relative: nothing to compare with
    rows = targets_by_label({"serve": {"streams_1000": streams(1000)}, "aimock": {"streams_1000": streams(1000)}})
    assert set(rows) == {
        "1,000 streams all complete",
        "1,000 streams duration ratio p99 ≤ 1.10",
        "1,000 streams TTFT lateness p99 ≤ 200 ms",
        "peak RSS per open stream ≤ 30 KB",
    }
    assert {issue for issue, _, _ in rows.values()} == {"3", "24"}


def test_stream_targets_of_issue_24() -> None:
    results = {
        "serve": {
            "streams_2000": streams(2000, ratio_p99=1.08, lateness_p99=151.0, peak_rss_per_stream_kb=25.0),
            "streams_4000": streams(4000, ratio_p99=1.19, completed=3999, peak_rss_per_stream_kb=31.0),
        },
        "runserver": {"streams_1000": streams(1000, ratio_p99=1.12)},
    }
    rows = targets_by_label(results)
    assert rows["2,000 streams duration ratio p99 ≤ 1.10"] == ["24", "1.080", "met"]
    assert rows["2,000 streams TTFT lateness p99 ≤ 150 ms"] == ["24", "151.0", "NOT met"]
    assert rows["2,000 streams all complete"] == ["3", "2000/2000", "met"]
    assert rows["4,000 streams all complete"] == ["24", "3999/4000", "NOT met"]
    assert rows["4,000 streams duration ratio p99 ≤ 1.20"] == ["24", "1.190", "met"]
    # Memory is held at the most streams run, not the first.
    assert rows["peak RSS per open stream ≤ 30 KB"] == ["24", "31.0 at 4000 streams", "NOT met"]
    assert rows["runserver: 1,000 streams ratio p99 ≤ 1.10"] == ["24", "1.120", "NOT met"]
    assert rows["runserver: 1,000 streams all complete"] == ["3", "1000/1000", "met"]


def test_memory_target_needs_a_thousand_streams() -> None:
    assert target_rows({"serve": {"streams_200": streams(200)}}) == []


def test_targets_table_names_the_issues() -> None:
    results = {"serve": {"throughput": throughput(9100)}, "aimock": {"throughput": throughput(7140)}}
    text = text_targets(results)
    assert text.startswith("targets:")
    assert "24  throughput: requests/s ≥ 1.2x aimock's  serve 9,100 ÷ aimock 7,140 = 1.27x  met" in text
    markdown = markdown_targets(results).splitlines()
    assert markdown[0] == "| issue | target | measured | |"
    assert "| 24 | throughput: requests/s ≥ 1.2x aimock's | serve 9,100 ÷ aimock 7,140 = 1.27x | met |" in markdown


def test_scaling_table_compares_two_workers_with_one() -> None:
    one = {"throughput": {**throughput(5000), "server_cpu_pct": 100.0}, "streams_2000": streams(2000, 1.10)}
    two = {"throughput": {**throughput(8000), "server_cpu_pct": 160.0}, "streams_2000": streams(2000, 1.05)}
    header, rows = scaling_rows({1: one, 2: two})
    assert header == ["figure", "1 worker", "2 workers", "2 workers ÷ 1 worker"]
    assert ["requests/s", "5000", "8000", "1.60x"] in rows
    assert ["requests per server CPU-second", "5000", "5000", "1.00x"] in rows
    assert ["duration ratio p99", "1.100", "1.050", "0.95x"] in rows
    assert rows[0][0].startswith("**throughput")
    assert "2 workers ÷ 1 worker" in text_scaling({1: one, 2: two})


def test_scaling_keeps_the_client_on_one_cpu() -> None:
    two_cores = run.scaling_pinnings([0, 1], None)
    assert two_cores == {
        1: run.Pinning(frozenset({0}), frozenset({1})),
        2: run.Pinning(frozenset({0, 1}), frozenset({1})),  # on 2 cores the second worker shares the client's
    }
    four_cores = run.scaling_pinnings([0, 1, 2, 3], None)
    assert four_cores[2] == run.Pinning(frozenset({0, 1}), frozenset({2}))
    assert run.scaling_pinnings([0, 1, 2, 3], frozenset({0}))[2] == run.Pinning(frozenset({1, 2}), frozenset({0}))


def test_workers_scaling_runs_serve_alone() -> None:
    assert run.parse_args(["--workers-scaling", "--client-cpus", "1"]).workers_scaling
    for conflicting in (["--all"], ["--server-cpus", "0"], ["--serve-workers", "2"], ["--url", "http://127.0.0.1:9"]):
        with pytest.raises(SystemExit):
            run.parse_args(["--workers-scaling", *conflicting])


def test_workers_section_goes_between_its_own_markers(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(
        "intro\n<!-- bench:results:start -->\nold results\n<!-- bench:results:end -->\n"
        "<!-- bench:workers:start -->\nold\n<!-- bench:workers:end -->\nend\n"
    )
    write_markdown(doc, "new scaling\n", block="workers")
    assert doc.read_text() == (
        "intro\n<!-- bench:results:start -->\nold results\n<!-- bench:results:end -->\n"
        "<!-- bench:workers:start -->\nnew scaling\n<!-- bench:workers:end -->\nend\n"
    )


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
