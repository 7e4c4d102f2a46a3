"""Throughput in interleaved rounds: the order of the runs, and how their figures combine.

This machine's speed drifts by a quarter or more between runs a minute apart, so one
throughput run per server makes a ratio between servers mostly noise. With N rounds,
each round runs every server's throughput once, in the same order; a server's figures
are those of its median round (by requests/s), each round's kept under `rounds`, and a
ratio between two servers is the median of the per-round ratios: servers in one round
ran minutes apart at most, so drift over the whole run cancels out of each ratio.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

# A scenario's figures as loadgen reports them (report.Figures).
Figures = dict[str, Any]


def interleaved(servers: Sequence[str], rounds: int) -> list[tuple[int, str]]:
    """(round, server) in the order to run them: every server once per round, rounds numbered from 1."""
    return [(number, kind) for number in range(1, rounds + 1) for kind in servers]


def median_round(runs: list[Figures]) -> Figures:
    """The figures of the median run by requests/s, with every run's under `rounds`.

    With an even number of runs, the slower of the two middle ones: a figure that was
    measured, not an average of two. A single run is returned as it is.
    """
    if len(runs) == 1:
        return runs[0]
    by_speed = sorted(range(len(runs)), key=lambda index: runs[index]["requests_per_s"])
    middle = by_speed[(len(runs) - 1) // 2]
    return {**runs[middle], "median_round": middle + 1, "rounds": runs}


def round_ratios(
    value: Callable[[Figures], float | None], figures: Figures, base: Figures
) -> list[float | None] | None:
    """value(figures) ÷ value(base) in each round, or None unless both ran the same rounds (2 or more)."""
    runs, base_runs = figures.get("rounds"), base.get("rounds")
    if not runs or not base_runs or len(runs) != len(base_runs):
        return None
    return [ratio(value(run), value(base_run)) for run, base_run in zip(runs, base_runs, strict=True)]


def relative(value: Callable[[Figures], float | None], figures: Figures, base: Figures) -> float | None:
    """figures' value ÷ base's: the median of the per-round ratios when both ran in rounds."""
    per_round = round_ratios(value, figures, base)
    if per_round is None:
        return ratio(value(figures), value(base))
    known = [each for each in per_round if each is not None]
    return statistics.median(known) if len(known) == len(per_round) else None


def ratio(value: float | None, base: float | None) -> float | None:
    return None if value is None or not base or base <= 0 else value / base
