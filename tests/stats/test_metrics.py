"""GET /metrics on a live server: Prometheus's text format, parsed by prometheus-client."""

from __future__ import annotations

import re
import urllib.request
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import INSTANT, ROOT, post

pytestmark = pytest.mark.live


def metrics(server) -> dict[str, list]:
    with urllib.request.urlopen(f"{server.base_url}/metrics", timeout=5) as response:
        assert response.headers["content-type"].startswith("text/plain; version=")
        text = response.read().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(samples, name: str, **labels) -> float:
    found = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, samples)
    return found[0]


def test_it_exposes_requests_tokens_and_latency_per_model(llmsim_server):
    model = f"gpt-4o-metrics-{uuid.uuid4().hex[:8]}"
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    headers = {"x-llmsim-ttft-ms": "150", "x-llmsim-tbt-ms": "10", "x-llmsim-tokens": "6"}
    for _ in range(2):
        assert post(llmsim_server, "/v1/chat/completions", body, headers)[0] == 200
    assert post(llmsim_server, "/v1/chat/completions", body, {**INSTANT, "x-llmsim-error": "429"})[0] == 429

    families = metrics(llmsim_server)
    requests = families["llmsim_requests"]
    assert value(requests, "llmsim_requests_total", model=model, status="200", endpoint="/v1/chat/completions") == 2
    assert value(requests, "llmsim_requests_total", model=model, status="429") == 1
    assert value(families["llmsim_output_tokens"], "llmsim_output_tokens_total", model=model) == 12
    assert value(families["llmsim_input_tokens"], "llmsim_input_tokens_total", model=model) > 0

    ttft = families["llmsim_time_to_first_token_seconds"]
    count = value(ttft, "llmsim_time_to_first_token_seconds_count", model=model)
    total = value(ttft, "llmsim_time_to_first_token_seconds_sum", model=model)
    assert count == 2
    assert 0.14 <= total / count <= 0.6  # 150 ms, as the server measured it (loosely: a shared machine)
    assert value(ttft, "llmsim_time_to_first_token_seconds_bucket", model=model, le="0.1") == 0
    assert value(ttft, "llmsim_time_to_first_token_seconds_bucket", model=model, le="+Inf") == 2

    gaps = families["llmsim_inter_token_latency_seconds"]
    assert value(gaps, "llmsim_inter_token_latency_seconds_count", model=model) >= 2
    duration = families["llmsim_request_duration_seconds"]
    assert value(duration, "llmsim_request_duration_seconds_count", model=model) == 2

    assert value(families["llmsim_injected_errors"], "llmsim_injected_errors_total", kind="rate_limit") >= 1
    assert "llmsim_requests_active" in families
    assert "llmsim_streams_active" in families
    assert value(families["llmsim_processes"], "llmsim_processes") == 1


def test_the_grafana_dashboard_and_the_docs_name_only_real_metrics():
    from django.core.management import get_commands

    from stats.metrics import render

    exposed = {family.name for family in text_string_to_metric_families(render().decode())}
    samples = {
        name
        for family in exposed
        for name in (family, f"{family}_total", f"{family}_bucket", f"{family}_sum", f"{family}_count")
    }
    for document in ("docs/grafana-dashboard.json", "docs/observability.md"):
        named = set(re.findall(r"\bllmsim_[a-z_]+\b", (ROOT / document).read_text()))
        named -= {"llmsim_project", "llmsim_ws", *get_commands()}  # manage.py llmsim_top, llmsim_export, ...
        assert named, document
        assert named <= samples, (document, named - samples)
