"""Checks of throughput in interleaved rounds (bench/rounds.py and its use in run.py and report.py).

No server runs: the order of the runs is recorded through stand-ins for starting one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import run
from report import rounds_notes, table_rows, text_targets
from rounds import interleaved, median_round, relative, round_ratios
from test_bench import streams, targets_by_label, throughput


def in_rounds(*rates: float) -> dict[str, Any]:
    """A server's throughput figures as run_all combines them, one run per rate."""
    return median_round([throughput(rate) for rate in rates])


def requests_per_s(figures: dict[str, Any]) -> float:
    return figures["requests_per_s"]


def test_every_round_runs_every_server_in_the_same_order() -> None:
    assert interleaved(("serve", "reference", "aimock"), 2) == [
        (1, "serve"),
        (1, "reference"),
        (1, "aimock"),
        (2, "serve"),
        (2, "reference"),
        (2, "aimock"),
    ]
    assert interleaved(("serve",), 1) == [(1, "serve")]


def test_a_server_s_figures_are_those_of_its_median_round() -> None:
    combined = in_rounds(4210, 5020, 4787)
    assert combined["requests_per_s"] == 4787
    assert combined["median_round"] == 3
    assert [run["requests_per_s"] for run in combined["rounds"]] == [4210, 5020, 4787]  # in the order run


def test_with_an_even_count_the_slower_middle_round_is_picked() -> None:
    combined = in_rounds(300, 100, 400, 200)
    assert (combined["requests_per_s"], combined["median_round"]) == (200, 4)


def test_a_single_run_is_kept_as_it_was() -> None:
    assert in_rounds(5000) == throughput(5000)


def test_ratios_are_the_median_of_the_per_round_ratios() -> None:
    # The machine sped up in round 3 for the reference only: the ratio of the median
    # rounds (200 ÷ 450 = 0.44) would carry that drift, the per-round median does not.
    serve, reference = in_rounds(100, 300, 200), in_rounds(150, 450, 600)
    assert round_ratios(requests_per_s, serve, reference) == pytest.approx([2 / 3, 2 / 3, 1 / 3])
    assert relative(requests_per_s, serve, reference) == pytest.approx(2 / 3)
    assert relative(requests_per_s, in_rounds(100, 300), in_rounds(200, 200)) == pytest.approx(1.0)  # mean of 2


def test_without_the_same_rounds_on_both_sides_the_ratio_is_of_the_figures_shown() -> None:
    serve = in_rounds(100, 300, 200)
    assert round_ratios(requests_per_s, serve, throughput(400)) is None
    assert relative(requests_per_s, serve, throughput(400)) == 0.5
    assert relative(requests_per_s, serve, in_rounds(400, 400)) == 0.5
    assert relative(requests_per_s, serve, in_rounds(0, 400, 400)) is None  # one round's ratio is no figure


def test_table_shows_the_rounds_range_and_the_median_ratio() -> None:
    results = {"serve": {"throughput": in_rounds(100, 300, 200)}, "reference": {"throughput": in_rounds(150, 450, 600)}}
    header, rows = table_rows(results)
    assert header == ["figure", "serve", "reference", "serve ÷ reference"]
    assert ["requests/s", "200 (100-300, 3 rounds)", "450 (150-600, 3 rounds)", "0.67x"] in rows
    (note,) = rounds_notes(results)
    assert note.startswith("Throughput ran in 3 interleaved rounds") and "median of the per-round ratios" in note
    assert rounds_notes({"serve": {"throughput": throughput(100)}}) == []


def test_throughput_targets_show_each_round_s_ratio() -> None:
    results = {
        "serve": {"throughput": in_rounds(9100, 6000, 9600)},
        "aimock": {"throughput": in_rounds(7500, 6000, 7000)},
    }
    rows = targets_by_label(results)
    assert rows["throughput: requests/s ≥ 1.2x aimock's"] == [
        "24",
        "serve ÷ aimock per round 1.21x, 1.00x, 1.37x: median 1.21x",
        "met",
    ]
    assert "serve ÷ aimock per round" in text_targets(results)


class FakeServer:
    port = 9


def record_runs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Stand in for starting and loading servers; each throughput run answers 100 req/s more than the last."""
    order: list[tuple[str, str]] = []
    current: list[str] = []

    @contextmanager
    def running(kind: str, *args: Any) -> Iterator[FakeServer]:
        current[:] = [kind]
        yield FakeServer()

    def bench_scenario(server: FakeServer, scenario: run.Scenario, args: Any) -> dict[str, Any]:
        order.append((current[0], scenario.key))
        if scenario.streams:
            return streams(scenario.streams)
        return throughput(100.0 * len(order))

    monkeypatch.setattr(run, "running", running)
    monkeypatch.setattr(run, "bench_scenario", bench_scenario)
    monkeypatch.setattr(run, "migrate", lambda workdir, loaded: None)
    monkeypatch.setattr(run, "describe_processes", lambda server: "1 process")
    return order


def run_all(argv: list[str], servers: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    args = run.parse_args(argv)
    scenarios = run.plan_scenarios(args, (1000,))
    results, _ = run.run_all(servers, scenarios, args, run.Pinning(None, None), {})
    return results


def test_throughput_rounds_run_interleaved_before_the_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    order = record_runs(monkeypatch)
    results = run_all(["--servers", "serve,reference", "--rounds", "3"], ("serve", "reference"))
    assert order == [
        *[("serve", "throughput"), ("reference", "throughput")] * 3,
        ("serve", "streams_1000"),
        ("reference", "streams_1000"),
    ]
    assert [run["requests_per_s"] for run in results["serve"]["throughput"]["rounds"]] == [100, 300, 500]
    assert results["reference"]["throughput"]["requests_per_s"] == 400
    assert list(results["serve"]) == ["throughput", "streams_1000"]


def test_one_round_gives_a_single_run_s_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    order = record_runs(monkeypatch)
    results = run_all(["--servers", "serve,reference", "--rounds", "1", "--only", "throughput"], ("serve", "reference"))
    assert order == [("serve", "throughput"), ("reference", "throughput")]
    assert results["serve"]["throughput"] == throughput(100)


def test_several_servers_default_to_three_rounds_one_server_to_one() -> None:
    assert run.throughput_rounds(run.parse_args(["--all"]), run.SERVER_KINDS) == 3
    assert run.throughput_rounds(run.parse_args(["--server", "serve"]), ("serve",)) == 1
    assert run.throughput_rounds(run.parse_args(["--all", "--rounds", "1"]), run.SERVER_KINDS) == 1
    for wrong in (["--rounds", "0"], ["--workers-scaling", "--rounds", "2"], ["--scenario-cost", "2", "--rounds", "2"]):
        with pytest.raises(SystemExit):
            run.parse_args(wrong)
