"""GET /metrics: the same merged numbers as /llmsim/stats, in Prometheus's text format.

prometheus-client writes the format; the values come from stats.sharing's totals (a
custom collector) rather than from prometheus-client's own metric objects, so that
(1) the request path stays at plain integer updates — a prometheus-client metric takes
a lock per update, and in multiprocess mode writes a memory-mapped file, per token gap
too — and (2) /metrics, /llmsim/stats, the dashboard and llmsim_top agree, summed
over every process and replica the same way (Redis, serve's stats directory, or one
process).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from stats.recorder import BOUNDS
from stats.report import Latency, Totals, error_kind
from stats.sharing import sharing

# The buckets /metrics exposes: 1, 2.5 and 5 of each decade from 1 ms to 500 s (a
# subset of the recorder's finer ones, so the counts are exact).
PROMETHEUS_BOUNDS = tuple(
    round(step * 10.0**exponent, 6) for exponent in range(-3, 3) for step in (1, 2.5, 5) if step * 10.0**exponent <= 500
)
_INDEXES = [BOUNDS.index(bound) for bound in PROMETHEUS_BOUNDS]

CONTENT_TYPE = CONTENT_TYPE_LATEST

HISTOGRAMS = (
    ("ttft", "llmsim_time_to_first_token_seconds", "Time from a stream's arrival to its first token, per model."),
    ("gaps", "llmsim_inter_token_latency_seconds", "Time between two writes of a stream's tokens, per model."),
    ("duration", "llmsim_request_duration_seconds", "Time from arrival to the end of a complete answer, per model."),
)


def _buckets(latency: Latency) -> list[tuple[str, float]]:
    cumulative, out, position = 0, [], 0
    for bound, index in zip(PROMETHEUS_BOUNDS, _INDEXES, strict=True):
        while position <= index:
            cumulative += latency.counts[position]
            position += 1
        out.append((floatToGoString(bound), float(cumulative)))
    out.append(("+Inf", float(latency.count)))
    return out


class TotalsCollector:
    """A prometheus-client collector over the merged stats of every process."""

    def collect(self) -> Iterator[Metric]:
        totals: Totals = sharing.totals()
        requests = CounterMetricFamily(
            "llmsim_requests", "Answered provider requests.", labels=["endpoint", "model", "status"]
        )
        injected: Counter[int] = Counter()
        by_label: Counter[tuple[str, str, str]] = Counter()
        for (endpoint, model, status, _streamed, was_injected), count in totals.calls.items():
            by_label[(endpoint, model, str(status))] += count
            if was_injected:
                injected[status] += count
        for labels, count in sorted(by_label.items()):
            requests.add_metric(list(labels), count)
        yield requests

        received = CounterMetricFamily("llmsim_requests_received", "Provider requests received (answered or not yet).")
        received.add_metric([], totals.received)
        yield received

        active = GaugeMetricFamily("llmsim_requests_active", "Provider requests being answered now.")
        active.add_metric([], totals.active)
        yield active
        streams = GaugeMetricFamily("llmsim_streams_active", "Streams open now (their headers sent).")
        streams.add_metric([], totals.streams)
        yield streams

        running = GaugeMetricFamily(
            "llmsim_model_requests_running", "Answers running now, per model with a max_concurrency.", labels=["model"]
        )
        waiting = GaugeMetricFamily(
            "llmsim_model_requests_waiting", "Requests queued for a slot now, per model.", labels=["model"]
        )
        for model, (running_now, waiting_now) in sorted(totals.load.items()):
            running.add_metric([model], running_now)
            waiting.add_metric([model], waiting_now)
        yield running
        yield waiting

        for attribute, name, documentation in HISTOGRAMS:
            family = HistogramMetricFamily(name, documentation, labels=["model"])
            for model, model_totals in sorted(totals.models.items()):
                latency: Latency = getattr(model_totals, attribute)
                if latency.count:
                    family.add_metric([model], _buckets(latency), latency.sum)
            yield family

        input_tokens = CounterMetricFamily(
            "llmsim_input_tokens", "Prompt tokens of requests, per model.", labels=["model"]
        )
        output_tokens = CounterMetricFamily(
            "llmsim_output_tokens", "Completion tokens of complete answers, per model.", labels=["model"]
        )
        for model, model_totals in sorted(totals.models.items()):
            if model_totals.prompt_tokens or model_totals.completion_tokens:
                input_tokens.add_metric([model], model_totals.prompt_tokens)
                output_tokens.add_metric([model], model_totals.completion_tokens)
        yield input_tokens
        yield output_tokens

        cost = CounterMetricFamily(
            "llmsim_cost_usd",
            "What complete answers cost at the model profiles' prices (USD), per model.",
            labels=["model"],
        )
        for model, model_totals in sorted(totals.models.items()):
            if model_totals.cost_usd:
                cost.add_metric([model], model_totals.cost_usd)
        yield cost

        errors = CounterMetricFamily(
            "llmsim_injected_errors",
            "Errors the simulator injected, by kind (status 0: a dropped connection).",
            labels=["kind", "status"],
        )
        for status, count in sorted(injected.items()):
            errors.add_metric([error_kind(status), str(status)], count)
        yield errors

        disconnects = CounterMetricFamily(
            "llmsim_client_disconnects", "Clients that went away before their answer was complete."
        )
        disconnects.add_metric([], totals.disconnects)
        yield disconnects

        processes = GaugeMetricFamily("llmsim_processes", "Server processes whose numbers are added up here.")
        processes.add_metric([], totals.processes)
        yield processes


registry = CollectorRegistry(auto_describe=False)
registry.register(TotalsCollector())


def render() -> bytes:
    """The /metrics body (text format 0.0.4)."""
    return generate_latest(registry)
