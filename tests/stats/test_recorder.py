"""The in-process recorder, merging and percentiles: plain Python, no server."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from stats.recorder import BOUNDS, MAX_MODELS, OTHER, Histogram, Recorder
from stats.report import STALE_AFTER_SECONDS, Latency, merge, to_json
from stats.sharing import DirectoryStore, Sharing


@dataclass
class FakeCall:
    """The fields of simulator.server.http.Call that the recorder reads and writes."""

    model: str = "gpt-4o"
    stream: bool = False
    status: int = 200
    route: str = "/v1/chat/completions"
    path: str = "/v1/chat/completions"
    method: str = "POST"
    injected: bool = False
    prompt_tokens: int = 10
    completion_tokens: int = 20
    cost_usd: float | None = None
    arrival: float = 0.0
    stream_opened: float = 0.0
    last_write: float = 0.0
    stream_ended: bool = False
    model_stats: object = None
    request_id: str = "req_test"

    def __post_init__(self) -> None:
        self.arrival = time.monotonic()


def answer(recorder: Recorder, **fields) -> FakeCall:
    call = FakeCall(**fields)
    recorder.started(call)
    if call.stream and call.status == 200:
        recorder.stream_started(call)
        for _ in range(3):
            recorder.wrote(call)
        call.stream_ended = True
    recorder.finished(call)
    return call


def latency_of(values: list[float]) -> Latency:
    histogram = Histogram()
    for value in values:
        histogram.observe(value)
    latency = Latency()
    latency.add(histogram.export())
    return latency


def test_it_counts_requests_tokens_and_streams():
    recorder = Recorder()
    answer(recorder)
    answer(recorder, stream=True)
    answer(recorder, status=400, completion_tokens=0)
    stats = to_json(merge([recorder.export()]), "process")
    assert stats["requests"]["total"] == 3
    assert stats["requests"]["active"] == 0
    assert stats["requests"]["streams_open"] == 0
    assert stats["requests"]["streaming_total"] == 1
    assert stats["requests"]["non_streaming_total"] == 2
    assert stats["requests"]["by_status"] == {"200": 2, "400": 1}
    assert stats["requests"]["by_model"] == {"gpt-4o": 3}
    assert stats["tokens"] == {
        "prompt": 30,
        "completion": 40,
        "total": 70,
        "by_model": {"gpt-4o": {"prompt": 30, "completion": 40}},
    }
    assert stats["latency_ms"]["ttft"]["count"] == 1
    assert stats["latency_ms"]["inter_token"]["count"] == 2
    assert stats["latency_ms"]["duration"]["count"] == 2  # complete answers only


def test_it_tells_injected_errors_from_organic_ones():
    recorder = Recorder()
    answer(recorder, status=429, injected=True)
    answer(recorder, status=429)
    answer(recorder, status=500, injected=True)
    answer(recorder, status=0, injected=True)  # an injected dropped connection
    errors = to_json(merge([recorder.export()]), "process")["errors"]
    assert errors["total"] == 4
    assert errors["injected"] == 3
    assert errors["organic"] == 1
    assert errors["by_status"]["429"] == {"injected": 1, "organic": 1, "total": 2, "kind": "rate_limit"}
    assert errors["by_status"]["0"]["kind"] == "disconnect"


def test_a_client_that_leaves_mid_stream_is_a_disconnect_not_a_duration():
    recorder = Recorder()
    call = FakeCall(stream=True)
    recorder.started(call)
    recorder.stream_started(call)
    recorder.wrote(call)
    assert recorder.streams == 1
    recorder.finished(call)  # no end_stream: the client went away
    stats = to_json(merge([recorder.export()]), "process")
    assert stats["requests"]["client_disconnects"] == 1
    assert stats["requests"]["streams_open"] == 0
    assert stats["latency_ms"]["duration"]["count"] == 0
    assert stats["tokens"]["completion"] == 0


def test_it_caps_distinct_models():
    recorder = Recorder()
    for index in range(MAX_MODELS + 20):
        answer(recorder, model=f"model-{index}")
    by_model = to_json(merge([recorder.export()]), "process")["requests"]["by_model"]
    assert len(by_model) == MAX_MODELS + 1
    assert by_model[OTHER] == 20


def test_it_counts_an_implausibly_long_model_name_as_other():
    recorder = Recorder()
    answer(recorder, model="gpt-4o-" + "x" * 1_000_000)
    answer(recorder, model="gpt-4o")
    assert to_json(merge([recorder.export()]), "process")["requests"]["by_model"] == {OTHER: 1, "gpt-4o": 1}


def test_percentiles_come_from_buckets_within_a_few_per_cent():
    values = [i / 1000 for i in range(1, 1001)]  # 1..1000 ms, uniform
    latency = latency_of(values)
    assert latency.count == 1000
    assert latency.quantile(0.5) == pytest.approx(0.5, rel=0.05)
    assert latency.quantile(0.95) == pytest.approx(0.95, rel=0.05)
    assert latency.quantile(0.99) == pytest.approx(0.99, rel=0.05)
    assert latency.min == 0.001
    assert latency.max == 1.0


def test_percentiles_stay_within_what_was_observed():
    latency = latency_of([0.2] * 10)
    assert latency.quantile(0.5) == latency.quantile(0.99) == 0.2
    assert latency_of([0.0, 0.0]).quantile(0.99) == 0.0
    assert latency_of([5000.0]).quantile(0.5) == 5000.0  # past the last bucket
    assert Latency().quantile(0.5) is None


def test_histograms_are_bounded():
    histogram = Histogram()
    for value in (0, 1e-9, 0.0001, 3.7, 999, 1e6):
        histogram.observe(value)
    assert len(histogram.counts) == len(BOUNDS) + 1
    assert sum(histogram.counts) == 6


def test_merge_adds_processes_up_and_drops_gauges_of_silent_ones():
    first, second = Recorder(), Recorder()
    answer(first, stream=True)
    answer(second, stream=True)
    open_call = FakeCall()
    second.started(open_call)  # still being answered
    now = time.time()
    live = merge([first.export(), second.export()], now=now)
    assert live.processes == 2
    assert live.received == 3
    assert live.active == 1
    assert live.latency("ttft").count == 2
    later = merge([first.export(), second.export()], now=now + STALE_AFTER_SECONDS + 1)
    assert later.received == 3  # counters of a process that went away still count
    assert later.active == 0


def test_rates_and_series_count_whole_seconds():
    recorder = Recorder()
    recorder.state.since -= 120
    for _ in range(30):
        answer(recorder)
    export = recorder.export()
    stats = to_json(merge([export], now=time.time() + 1), "process")
    assert stats["rates"]["requests_per_second"] == pytest.approx(30 / 60, abs=0.01)
    assert stats["rates"]["tokens_per_second"] == pytest.approx(30 * 20 / 60, abs=0.1)
    assert len(stats["series"]["requests"]) == 300
    assert sum(stats["series"]["requests"]) == 30


def test_reset_clears_counters_but_not_open_requests():
    recorder = Recorder()
    answer(recorder)
    open_call = FakeCall()
    recorder.started(open_call)
    recorder.reset()
    stats = to_json(merge([recorder.export()]), "process")
    assert stats["requests"]["total"] == 0
    assert stats["requests"]["active"] == 1
    recorder.finished(open_call)
    assert recorder.active == 0


def test_a_directory_store_shares_numbers_and_resets_every_process(tmp_path):
    first, second = Sharing(Recorder()), Sharing(Recorder())
    for sharing in (first, second):
        sharing.configure("", "", str(tmp_path), 1.0)
        sharing.process = f"p{id(sharing)}"
    answer(first.recorder)
    answer(second.recorder)
    answer(second.recorder)
    first.tick()
    second.tick()
    first.tick()
    assert first.totals().received == 3
    assert second.totals().received == 3
    assert first.totals().processes == 2

    first.reset()
    assert first.totals().received == 0  # the other's old numbers are ignored at once
    second.tick()  # the other process sees the new generation and clears its counters
    assert second.recorder.state.received == 0
    answer(second.recorder)
    second.tick()
    first.tick()
    assert first.totals().received == 1
    assert DirectoryStore(str(tmp_path)).epoch() == 1


def test_cost_of_complete_answers_adds_up_across_processes():
    first, second = Recorder(), Recorder()
    answer(first, model="gpt-5", cost_usd=0.25)
    answer(first, model="gpt-5", cost_usd=0.5, status=500)  # no complete answer: not billed
    answer(second, model="gpt-5", cost_usd=0.125)
    answer(second, model="claude-haiku-4-5", cost_usd=1.0)
    answer(second, model="gpt-4o")  # no prices: counted as nothing
    cost = to_json(merge([first.export(), second.export()]), "shared")["cost"]
    assert cost == {"total_usd": 1.375, "by_model": {"claude-haiku-4-5": {"usd": 1.0}, "gpt-5": {"usd": 0.375}}}


def test_an_export_without_cost_merges_as_costing_nothing():
    recorder = Recorder()
    answer(recorder, model="gpt-5", cost_usd=0.5)
    older = recorder.export()
    del older["models"]["gpt-5"]["cost_usd"]  # a process of a version before prices
    assert to_json(merge([recorder.export(), older]), "shared")["cost"]["total_usd"] == 0.5


def test_running_and_waiting_answers_add_up_over_live_processes_only():
    first, second = Recorder(), Recorder()
    first.load_gauges = lambda: {"gpt-5": (2, 1)}
    second.load_gauges = lambda: {"gpt-5": (3, 0), "claude-haiku-4-5": (1, 4)}
    now = time.time()
    live = to_json(merge([first.export(), second.export()], now=now), "shared")["load"]
    assert live == {
        "by_model": {"claude-haiku-4-5": {"running": 1, "waiting": 4}, "gpt-5": {"running": 5, "waiting": 1}}
    }
    later = merge([first.export(), second.export()], now=now + STALE_AFTER_SECONDS + 1)
    assert later.load == {}  # a process that went away runs nothing
    older = first.export()
    del older["load"]  # a process of a version before load
    assert merge([older], now=now).load == {}
