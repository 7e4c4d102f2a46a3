"""Printing the figures: one scenario at a time as it runs, then one table for all servers.

The table has a row per figure and a column per server, plus the ratio of each
server's figure to the reference's (the raw ASGI app under uvicorn, the ceiling) and
of serve's to each peer's (another mock server: aimock, fakellm). Throughput run in
rounds (bench/rounds.py) shows each server's median round, the range of the rounds'
requests/s, and ratios that are the median of the per-round ratios.
"""

from __future__ import annotations

import operator
import platform
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from loadgen import CLIENT_CPU_LIMIT_PCT
from peers import PEER_KINDS
from rounds import relative, round_ratios
from servers import PROJECT_ROOT

REFERENCE = "reference"
# The LLMSim server the issues hold against the peers.
LLMSIM_AGAINST_PEERS = "serve"
PACKAGES = ("Django", "daphne", "uvicorn", "uvloop", "httptools")
# The server's code: what "the state at this commit" is about.
SERVER_PATHS = ("simulator", "llmsim_project", "requirements.txt")
SATURATED = "!"

Figures = dict[str, Any]


# --- one scenario, as it runs -------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def fmt_pcts(summary: dict[str, float | None], digits: int = 1, unit: str = "") -> str:
    return "  ".join(f"{name} {fmt(value, digits)}{unit}" for name, value in summary.items())


def client_line(f: Figures) -> str:
    line = (
        f"  client CPU       {fmt(f['client_cpu_pct'])}% of one core (busiest 0.25 s: {fmt(f['client_cpu_peak_pct'])}%)"
    )
    if f["client_saturated"]:
        line += (
            f"\n  WARNING          the load generator used >= {CLIENT_CPU_LIMIT_PCT:g}% of its core: "
            "it may be the bottleneck"
        )
    return line


def server_lines(f: Figures) -> list[str]:
    lines = []
    if f.get("server_cpu_pct") is not None:
        lines.append(f"  server CPU       {fmt(f['server_cpu_pct'])}% of one core (all its processes)")
    if f.get("others_cpu_pct") is not None:
        lines.append(f"  other processes  {fmt(f['others_cpu_pct'])}% of one core (background load during the run)")
    return lines


def report_throughput(f: Figures) -> str:
    lines = [
        f"throughput: {f['connections']} keep-alive connections, non-streaming, "
        f"{f['duration_s']:g} s measured after {f['warmup_s']:g} s warm-up",
        f"  requests/s       {f['requests_per_s']:.1f}  ({f['answers']} answers)",
        f"  latency          {fmt_pcts(f['latency_ms'], unit=' ms')}",
        f"  non-200 answers  {f['non_200']}" + (f"  {f['statuses']}" if f["non_200"] else ""),
        f"  errors           {f['errors']}" + (f"  {f['error_kinds']}" if f["errors"] else ""),
        client_line(f),
        *server_lines(f),
    ]
    return "\n".join(lines)


def report_streams(f: Figures) -> str:
    events = f["content_events_per_stream"]
    lines = [
        f"streams: {f['started']} concurrent, ttft {f['ttft_ms']:g} ms, tbt {f['tbt_ms']:g} ms, "
        f"{f['tokens']} tokens (ideal duration {f['ideal_duration_ms']:g} ms)",
        f"  completed        {f['completed']}/{f['started']} with [DONE]",
        f"  TTFT lateness    {fmt_pcts(f['ttft_lateness_ms'], unit=' ms')}",
        f"  token gap        {fmt_pcts(f['token_gap_ms'], unit=' ms')}",
        f"  duration ratio   {fmt_pcts(f['duration_ratio'], digits=3)}",
        f"  content events   min {events['min']}  max {events['max']} per stream",
        client_line(f),
    ]
    if f["statuses"] != {"200": f["started"]}:
        lines.append(f"  statuses         {f['statuses']}")
    if f["errors"]:
        lines.append(f"  errors           {f['errors']}")
    lines.extend(server_lines(f))
    if f.get("server_peak_rss_mib") is not None:
        lines.append(
            f"  server memory    {f['server_rss_before_mib']:.1f} MiB before, peak {f['server_peak_rss_mib']:.1f} MiB "
            f"(VmHWM): {fmt(f['peak_rss_per_stream_kb'])} KB per open stream"
            + ("" if f["peak_rss_reset"] else " (peak not reset: includes startup)")
        )
    return "\n".join(lines)


# --- the comparison table -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One figure of one scenario: how to read it, show it, and whether it has a ratio."""

    label: str
    value: Callable[[Figures], float | None]
    digits: int = 1
    ratio: bool = True  # context rows (CPU shares) get none
    text: Callable[[Figures], str] | None = None  # how to show it, if not as the number


def _pick(*keys: str) -> Callable[[Figures], float | None]:
    def value(figures: Figures) -> float | None:
        found: Any = figures
        for key in keys:
            found = found.get(key) if isinstance(found, dict) else None
        return found

    return value


def _failed(f: Figures) -> float:
    return f["non_200"] + f["errors"]


def _completed_share(f: Figures) -> float:
    return f["completed"] / f["started"] if f["started"] else 0.0


def _completed_text(f: Figures) -> str:
    return f"{f['completed']}/{f['started']}"


def _requests_text(f: Figures) -> str:
    """requests/s, and with rounds the range of the rounds' figures: "4787 (4210-5020, 3 rounds)"."""
    text = f"{f['requests_per_s']:.0f}"
    if "rounds" in f:
        each = [run["requests_per_s"] for run in f["rounds"]]
        text += f" ({min(each):.0f}-{max(each):.0f}, {len(each)} rounds)"
    return text


CONTEXT_ROWS = (
    Row("server CPU, % of one core", _pick("server_cpu_pct"), 0, ratio=False),
    Row("client CPU, % of one core", _pick("client_cpu_pct"), 0, ratio=False),
    Row("other processes' CPU, %", _pick("others_cpu_pct"), 0, ratio=False),
)
THROUGHPUT_ROWS = (
    Row("requests/s", _pick("requests_per_s"), 0, text=_requests_text),
    Row("latency p50, ms", _pick("latency_ms", "p50"), 2),
    Row("latency p99, ms", _pick("latency_ms", "p99"), 2),
    Row("failed requests", _failed, 0, ratio=False),
    *CONTEXT_ROWS,
)
STREAM_ROWS = (
    Row("completed", _completed_share, text=_completed_text),
    Row("TTFT lateness p50, ms", _pick("ttft_lateness_ms", "p50")),
    Row("TTFT lateness p99, ms", _pick("ttft_lateness_ms", "p99")),
    Row("token gap p50, ms", _pick("token_gap_ms", "p50")),
    Row("token gap p99, ms", _pick("token_gap_ms", "p99")),
    Row("duration ratio p50", _pick("duration_ratio", "p50"), 3),
    Row("duration ratio p99", _pick("duration_ratio", "p99"), 3),
    Row("peak RSS per open stream, KB", _pick("peak_rss_per_stream_kb")),
    *CONTEXT_ROWS,
)


def scenario_title(key: str, figures: Figures) -> str:
    if key == "throughput":
        return (
            f"throughput: {figures['connections']} connections, non-streaming, "
            f"{figures['duration_s']:g} s after {figures['warmup_s']:g} s warm-up"
        )
    return (
        f"{figures['started']} streams: TTFT {figures['ttft_ms']:g} ms, TBT {figures['tbt_ms']:g} ms, "
        f"{figures['tokens']} tokens"
    )


def _ratio_text(compared: float | None) -> str:
    return "—" if compared is None else f"{compared:.2f}x"


def _cell(row: Row, figures: Figures | None) -> str:
    if figures is None:
        return "—"
    text = row.text(figures) if row.text else fmt(row.value(figures), row.digits)
    if row.label.startswith("client CPU") and figures.get("client_saturated"):
        text += f" {SATURATED}"
    return text


def ratio_pairs(servers: Sequence[str]) -> list[tuple[str, str]]:
    """(server, base) for each ratio column: every server ÷ the reference, then serve ÷ each peer."""
    pairs = [(server, REFERENCE) for server in servers if server != REFERENCE] if REFERENCE in servers else []
    if LLMSIM_AGAINST_PEERS in servers:
        pairs.extend((LLMSIM_AGAINST_PEERS, peer) for peer in servers if peer in PEER_KINDS)
    return pairs


def _figure_row(row: Row, by_server: dict[str, Figures | None], pairs: list[tuple[str, str]]) -> list[str]:
    ratios = []
    for server, base in pairs:
        figures, base_figures = by_server[server], by_server[base]
        usable = row.ratio and figures is not None and base_figures is not None
        ratios.append(_ratio_text(relative(row.value, figures, base_figures)) if usable else "—")
    return [row.label, *(_cell(row, figures) for figures in by_server.values()), *ratios]


def table_rows(results: dict[str, dict[str, Figures]]) -> tuple[list[str], list[list[str]]]:
    """The header and rows: figure, one column per server, then the ratio columns of ratio_pairs.

    A scenario's title is a row of its own, its first cell in bold (markdown).
    """
    servers = list(results)
    pairs = ratio_pairs(servers)
    header = ["figure", *servers, *(f"{server} ÷ {base}" for server, base in pairs)]
    scenario_keys = list(dict.fromkeys(key for figures in results.values() for key in figures))
    rows: list[list[str]] = []
    for key in scenario_keys:
        by_server = {server: results[server].get(key) for server in servers}
        sample = next(figures for figures in by_server.values() if figures is not None)
        rows.append([f"**{scenario_title(key, sample)}**", *([""] * (len(header) - 1))])
        for row in THROUGHPUT_ROWS if key == "throughput" else STREAM_ROWS:
            rows.append(_figure_row(row, by_server, pairs))
    return header, rows


def text_table(results: dict[str, dict[str, Figures]]) -> str:
    return text_grid(*table_rows(results))


def text_grid(header: list[str], rows: list[list[str]]) -> str:
    """A table of table_rows' shape as aligned text: title rows as plain lines."""
    rows = [[cell.strip("*") for cell in row] for row in rows]
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))])

    out = [line(header), "  ".join("-" * width for width in widths)]
    for row in rows:
        out.append(row[0] if not any(row[1:]) else line(row))
    return "\n".join(out)


def markdown_table(results: dict[str, dict[str, Figures]]) -> str:
    return markdown_grid(*table_rows(results))


def markdown_grid(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


def saturation_notes(results: dict[str, dict[str, Figures]]) -> list[str]:
    notes = []
    for server, scenarios in results.items():
        for key, figures in scenarios.items():
            if figures.get("client_saturated"):
                notes.append(
                    f"{SATURATED} {server}, {scenario_title(key, figures)}: the load generator used "
                    f"{fmt(figures['client_cpu_pct'], 0)}% of its core (>= {CLIENT_CPU_LIMIT_PCT:g}%); "
                    "it may have limited that column's figures."
                )
    return notes


def rounds_notes(results: dict[str, dict[str, Figures]]) -> list[str]:
    """How figures run in rounds were combined (bench/rounds.py), if any were."""
    counts = {
        len(figures["rounds"])
        for scenarios in results.values()
        for figures in scenarios.values()
        if "rounds" in figures
    }
    if not counts:
        return []
    return [
        f"Throughput ran in {'/'.join(map(str, sorted(counts)))} interleaved rounds: each server's figures are "
        "those of its median round by requests/s (with an even count, the slower middle one), and each ratio "
        "is the median of the per-round ratios."
    ]


# --- the targets of issues 24 and 3 ---------------------------------------------------

# A target's scenario: the most streams its server ran, if at least MEMORY_MIN_STREAMS
# (memory per stream means little below that: allocator pools absorb small runs).
LARGEST_STREAMS = "largest streams"
MEMORY_MIN_STREAMS = 1000
BOUNDS: dict[str, Callable[[float, float], bool]] = {"≥": operator.ge, "≤": operator.le, "<": operator.lt}


@dataclass(frozen=True, slots=True)
class Target:
    """A bar from an issue that one figure of one server must clear.

    With `base` the bar is relative: the figure ÷ the base server's figure in the same
    scenario of the same run, held against `limit` (machine speed cancels out).
    """

    issue: str
    label: str
    server: str
    scenario: str  # a scenario key ("throughput", "streams_2000") or LARGEST_STREAMS
    value: Callable[[Figures], float | None]
    bound: str  # a key of BOUNDS: the figure (or ratio) must be ≥, ≤ or < the limit
    limit: float
    digits: int = 1
    base: str | None = None
    text: Callable[[Figures], str] | None = None  # how to show the figure, if not as the number

    def scenario_key(self, results: dict[str, dict[str, Figures]]) -> str | None:
        if self.scenario != LARGEST_STREAMS:
            return self.scenario
        counts = [int(key.removeprefix("streams_")) for key in results.get(self.server, {}) if key != "throughput"]
        largest = max(counts, default=0)
        return f"streams_{largest}" if largest >= MEMORY_MIN_STREAMS else None

    def check(self, results: dict[str, dict[str, Figures]]) -> tuple[str, str] | None:
        """(measured, "met" or "NOT met"), or None when its server, scenario or base was not run."""
        key = self.scenario_key(results)
        figures = results.get(self.server, {}).get(key) if key else None
        base_figures = results.get(self.base, {}).get(key) if key and self.base else None
        if figures is None or (self.base and base_figures is None):
            return None
        value = self.value(figures)
        if base_figures is not None:
            compared = relative(self.value, figures, base_figures)
            measured = self.compared_text(figures, base_figures, compared)
        else:
            compared = value
            measured = self.text(figures) if self.text else _number(value, self.digits)
        if self.scenario == LARGEST_STREAMS:
            measured += f" at {figures['started']} streams"
        met = compared is not None and BOUNDS[self.bound](compared, self.limit)
        return measured, "met" if met else "NOT met"

    def compared_text(self, figures: Figures, base_figures: Figures, compared: float | None) -> str:
        """Both figures and their ratio, or with rounds each round's ratio and their median."""
        result = "n/a" if compared is None else f"{compared:.2f}x"
        per_round = round_ratios(self.value, figures, base_figures)
        if per_round is not None:
            each = ", ".join("n/a" if one is None else f"{one:.2f}x" for one in per_round)
            return f"{self.server} ÷ {self.base} per round {each}: median {result}"
        value, base_value = self.value(figures), self.value(base_figures)
        return (
            f"{self.server} {_number(value, self.digits)} ÷ {self.base} {_number(base_value, self.digits)} = {result}"
        )


def _number(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


_REQUESTS = _pick("requests_per_s")
_LATENCY_P99 = _pick("latency_ms", "p99")
_RATIO_P99 = _pick("duration_ratio", "p99")
_TTFT_P99 = _pick("ttft_lateness_ms", "p99")
_RSS_PER_STREAM = _pick("peak_rss_per_stream_kb")


def _all_complete(issue: str, server: str, streams: int) -> Target:
    label = f"{'runserver: ' if server == 'runserver' else ''}{streams:,} streams all complete"
    return Target(issue, label, server, f"streams_{streams}", _completed_share, "≥", 1.0, text=_completed_text)


def _throughput_against(
    label: str, value: Callable[[Figures], float | None], bound: str, factor: float, base: str, digits: int
) -> Target:
    """Serve's throughput figure ÷ `base`'s, against `factor`: issue 24's comparisons."""
    return Target("24", f"throughput: {label}", "serve", "throughput", value, bound, factor, digits, base)


# Issue 24's, then those of issue 3 that it does not supersede. Throughput is held
# against the peer and the reference in the same run, since this machine's speed drifts.
TARGETS = (
    _throughput_against("requests/s ≥ 1.2x aimock's", _REQUESTS, "≥", 1.2, "aimock", 0),
    _throughput_against("requests/s ≥ 0.6x the reference's", _REQUESTS, "≥", 0.6, "reference", 0),
    _throughput_against("latency p99 below aimock's", _LATENCY_P99, "<", 1.0, "aimock", 2),
    Target("24", "2,000 streams duration ratio p99 ≤ 1.10", "serve", "streams_2000", _RATIO_P99, "≤", 1.10, 3),
    Target("24", "2,000 streams TTFT lateness p99 ≤ 150 ms", "serve", "streams_2000", _TTFT_P99, "≤", 150),
    _all_complete("24", "serve", 4000),
    Target("24", "4,000 streams duration ratio p99 ≤ 1.20", "serve", "streams_4000", _RATIO_P99, "≤", 1.20, 3),
    Target("24", "peak RSS per open stream ≤ 30 KB", "serve", LARGEST_STREAMS, _RSS_PER_STREAM, "≤", 30),
    Target("24", "runserver: 1,000 streams ratio p99 ≤ 1.10", "runserver", "streams_1000", _RATIO_P99, "≤", 1.10, 3),
    _all_complete("3", "serve", 1000),
    Target("3", "1,000 streams duration ratio p99 ≤ 1.10", "serve", "streams_1000", _RATIO_P99, "≤", 1.10, 3),
    Target("3", "1,000 streams TTFT lateness p99 ≤ 200 ms", "serve", "streams_1000", _TTFT_P99, "≤", 200),
    _all_complete("3", "serve", 2000),
    _all_complete("3", "runserver", 1000),
)


def target_rows(results: dict[str, dict[str, Figures]]) -> list[list[str]]:
    """[issue, target, measured, verdict] for each target whose servers and scenario were run."""
    rows = []
    for target in TARGETS:
        checked = target.check(results)
        if checked is not None:
            rows.append([target.issue, target.label, *checked])
    return rows


def text_targets(results: dict[str, dict[str, Figures]]) -> str:
    rows = target_rows(results)
    if not rows:
        return ""
    label_width = max(len(row[1]) for row in rows)
    measured_width = max(len(row[2]) for row in rows)
    lines = [
        f"  {issue:>5}  {label.ljust(label_width)}  {measured.rjust(measured_width)}  {verdict}"
        for issue, label, measured, verdict in rows
    ]
    return "\n".join(
        [f"targets:\n  {'issue':>5}  {'target'.ljust(label_width)}  {'measured'.rjust(measured_width)}", *lines]
    )


def markdown_targets(results: dict[str, dict[str, Figures]]) -> str:
    rows = target_rows(results)
    if not rows:
        return ""
    lines = ["| issue | target | measured | |", "| ---: | --- | ---: | --- |"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


# --- scaling with workers -------------------------------------------------------------


def _requests_per_cpu_second(f: Figures) -> float | None:
    cpu_pct = f.get("server_cpu_pct")
    return f["requests_per_s"] / (cpu_pct / 100.0) if cpu_pct else None


SCALING_THROUGHPUT_ROWS = (
    Row("requests/s", _REQUESTS, 0),
    Row("server CPU, % of one core", _pick("server_cpu_pct"), 0),
    Row("requests per server CPU-second", _requests_per_cpu_second, 0),
    Row("latency p99, ms", _LATENCY_P99, 2),
    Row("client CPU, % of one core", _pick("client_cpu_pct"), 0, ratio=False),
    Row("other processes' CPU, %", _pick("others_cpu_pct"), 0, ratio=False),
)
SCALING_STREAM_ROWS = (
    Row("completed", _completed_share, text=_completed_text),
    Row("duration ratio p99", _RATIO_P99, 3),
    Row("TTFT lateness p99, ms", _TTFT_P99),
    Row("server CPU, % of one core", _pick("server_cpu_pct"), 0),
    Row("client CPU, % of one core", _pick("client_cpu_pct"), 0, ratio=False),
    Row("other processes' CPU, %", _pick("others_cpu_pct"), 0, ratio=False),
)


def workers_label(workers: int) -> str:
    return f"{workers} worker{'s' if workers != 1 else ''}"


def scaling_rows(by_workers: dict[int, dict[str, Figures]]) -> tuple[list[str], list[list[str]]]:
    """serve with each worker count: a column each, then the last ÷ the first."""
    columns = {workers_label(workers): scenarios for workers, scenarios in by_workers.items()}
    labels = list(columns)
    pairs = [(labels[-1], labels[0])] if len(labels) > 1 else []
    header = ["figure", *labels, *(f"{server} ÷ {base}" for server, base in pairs)]
    rows: list[list[str]] = []
    for key in dict.fromkeys(key for scenarios in columns.values() for key in scenarios):
        by_column = {label: scenarios.get(key) for label, scenarios in columns.items()}
        sample = next(figures for figures in by_column.values() if figures is not None)
        rows.append([f"**{scenario_title(key, sample)}**", *([""] * (len(header) - 1))])
        for row in SCALING_THROUGHPUT_ROWS if key == "throughput" else SCALING_STREAM_ROWS:
            rows.append(_figure_row(row, by_column, pairs))
    return header, rows


def text_scaling(by_workers: dict[int, dict[str, Figures]]) -> str:
    return "serve, scaling with workers:\n" + text_grid(*scaling_rows(by_workers))


def markdown_scaling_section(
    by_workers: dict[int, dict[str, Figures]], machine: dict[str, Any], setup: dict[str, Any]
) -> str:
    lines = [
        *machine_lines(machine, setup),
        *(f"- {label}: {placement}" for label, placement in setup["processes"].items()),
        "",
        markdown_grid(*scaling_rows(by_workers)),
    ]
    return "\n".join(lines) + "\n"


# --- machine and revision -----------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def revision() -> str:
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = _git("status", "--porcelain", "--", *SERVER_PATHS)
    return f"{commit} + uncommitted server changes" if dirty else commit


def machine_details(cpu_count: int) -> dict[str, Any]:
    return {
        "cpu_model": cpu_model(),
        "cpus": cpu_count,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": package_versions(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "revision": revision(),
    }


def machine_lines(machine: dict[str, Any], setup: dict[str, Any]) -> list[str]:
    """When, at which commit, with which command and on what a section's figures were measured."""
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items())
    return [
        f"Measured {machine['date']} at commit `{machine['revision']}` with `{setup['command']}`.",
        "",
        f"- Machine: {machine['cpu_model']}, {machine['cpus']} CPUs, Linux {machine['kernel']}",
        f"- Python {machine['python']}; {packages}",
    ]


def markdown_section(results: dict[str, dict[str, Figures]], machine: dict[str, Any], setup: dict[str, Any]) -> str:
    lines = [
        *machine_lines(machine, setup),
        f"- Pinning: {setup['pinning']}",
        *(f"- {kind}: {placement}" for kind, placement in setup["processes"].items()),
        *peer_lines(setup),
        "",
        markdown_table(results),
    ]
    notes = [*rounds_notes(results), *saturation_notes(results)]
    if notes:
        lines.extend(["", *notes])
    targets = markdown_targets(results)
    if targets:
        lines.extend(["", targets])
    return "\n".join(lines) + "\n"


def peer_lines(setup: dict[str, Any]) -> list[str]:
    """The peers' versions and what was skipped, as list items of the results section."""
    lines = []
    if setup.get("peers"):
        versions = ", ".join(f"{kind} {version}" for kind, version in setup["peers"].items())
        lines.append(f"- Peers (installed into bench/.peers/ by the run): {versions}")
    lines.extend(f"- Skipped: {what} ({reason})" for what, reason in setup.get("skipped", {}).items())
    return lines


def write_markdown(path: Path, section: str, block: str = "results") -> None:
    """Replace the part of `path` between the `bench:<block>` markers, or write it as the whole file."""
    start, end = f"<!-- bench:{block}:start -->", f"<!-- bench:{block}:end -->"
    marked = f"{start}\n{section}{end}"
    text = path.read_text() if path.exists() else ""
    if start in text and end in text:
        before, _, rest = text.partition(start)
        _, _, after = rest.partition(end)
        path.write_text(before + marked + after)
    else:
        path.write_text(marked + "\n")
