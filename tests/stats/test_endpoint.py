"""GET /llmsim/stats on a live server: what the server counted, as JSON."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import INSTANT, get_json, post

pytestmark = pytest.mark.live


def stats(server) -> dict:
    return get_json(f"{server.base_url}/llmsim/stats")


def chat(server, model: str, headers: dict[str, str] | None = None, stream: bool = False):
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}], "stream": stream}
    return post(server, "/v1/chat/completions", body, {**INSTANT, "x-llmsim-tokens": "5", **(headers or {})})


def test_it_counts_requests_and_tokens_per_model(llmsim_server):
    model = f"gpt-4o-stats-{uuid.uuid4().hex[:8]}"
    before = stats(llmsim_server)
    for _ in range(3):
        assert chat(llmsim_server, model)[0] == 200
    status, _, text = chat(llmsim_server, model, stream=True)
    assert status == 200 and "[DONE]" in text
    after = stats(llmsim_server)
    assert after["requests"]["by_model"][model] == 4
    assert after["requests"]["total"] - before["requests"]["total"] == 4
    assert after["requests"]["streaming_total"] - before["requests"]["streaming_total"] == 1
    assert after["requests"]["non_streaming_total"] - before["requests"]["non_streaming_total"] == 3
    assert after["requests"]["by_endpoint"]["/v1/chat/completions"] >= 4
    tokens = after["tokens"]["by_model"][model]
    assert tokens["completion"] == 4 * 5
    assert tokens["prompt"] > 0
    assert after["tokens"]["total"] == after["tokens"]["prompt"] + after["tokens"]["completion"]
    assert after["processes"] == 1
    assert after["aggregation"] == "process"
    for kind in ("ttft", "inter_token", "duration"):
        assert set(after["latency_ms"][kind]) == {"count", "avg", "min", "max", "p50", "p95", "p99"}
    assert after["latency_ms"]["duration"]["count"] > before["latency_ms"]["duration"]["count"]
    assert after["rates"]["requests_per_second"] >= 0
    assert len(after["series"]["requests"]) == len(after["series"]["tokens"]) == 300


def test_it_counts_injected_and_organic_errors_apart(llmsim_server):
    def errors() -> dict:
        return stats(llmsim_server)["errors"]["by_status"]

    before = errors()
    assert chat(llmsim_server, "gpt-4o", {"x-llmsim-error": "429"})[0] == 429
    assert chat(llmsim_server, "gpt-4o", {"x-llmsim-error": "503"})[0] == 503
    assert post(llmsim_server, "/v1/chat/completions", b"{not json")[0] == 400
    after = errors()

    def delta(status: str, origin: str) -> int:
        return after[status][origin] - before.get(status, {}).get(origin, 0)

    assert delta("429", "injected") == 1
    assert delta("503", "injected") == 1
    assert delta("400", "organic") == 1
    assert after["429"]["kind"] == "rate_limit"


def test_models_route_is_counted_by_its_template(llmsim_server):
    status, _, _ = post(llmsim_server, "/v1/models/gpt-4o", b"")  # POST: 405, not counted by endpoint()
    assert status == 405
    import urllib.request

    request = urllib.request.Request(
        f"{llmsim_server.base_url}/v1/models/gpt-4o-mini", headers={"Authorization": "Bearer test"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
    by_endpoint = stats(llmsim_server)["requests"]["by_endpoint"]
    assert "/v1/models/{model_id}" in by_endpoint
    assert not any(endpoint.startswith("/v1/models/gpt") for endpoint in by_endpoint)
