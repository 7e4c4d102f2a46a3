"""What answers cost on a live server: the x-llmsim-cost-usd header, /llmsim/stats and /metrics agree."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import INSTANT, get_json, post
from tests.stats.test_metrics import metrics, value

pytestmark = pytest.mark.live
LIVE_SERVERS = ("serve",)  # the sums are the pipeline's and the recorder's, whatever the server

# Round prices, so that the header's six places hold the exact cost.
PRICES = {"input_usd_per_mtok": 1000.0, "cached_input_usd_per_mtok": 100.0, "output_usd_per_mtok": 2000.0}


def chat(server, model: str, stream: bool = False):
    body = {"model": model, "messages": [{"role": "user", "content": "what does this cost?"}], "stream": stream}
    return post(server, "/v1/chat/completions", body, {**INSTANT, "x-llmsim-tokens": "5"})


def test_the_header_of_each_answer_adds_up_to_the_stats_and_the_metrics(llmsim_server, live_db, edit):
    from simulator.models import ModelProfile

    edit(ModelProfile.objects.using(live_db).get(model_id="gpt-4o-mini"), **PRICES)
    model = f"gpt-4o-mini-cost-{uuid.uuid4().hex[:8]}"  # its own line in the stats, priced as gpt-4o-mini
    before = get_json(f"{llmsim_server.base_url}/llmsim/stats")["cost"]

    status, headers, answer = chat(llmsim_server, model)
    assert status == 200
    usage = answer["usage"]
    expected = (usage["prompt_tokens"] * 1000.0 + usage["completion_tokens"] * 2000.0) / 1e6
    assert float(headers["x-llmsim-cost-usd"]) == pytest.approx(expected, abs=1e-6)
    status, stream_headers, text = chat(llmsim_server, model, stream=True)
    assert status == 200 and "[DONE]" in text
    paid = float(headers["x-llmsim-cost-usd"]) + float(stream_headers["x-llmsim-cost-usd"])

    after = get_json(f"{llmsim_server.base_url}/llmsim/stats")["cost"]
    assert after["by_model"][model]["usd"] == pytest.approx(paid, abs=2e-6)
    assert after["total_usd"] - before["total_usd"] == pytest.approx(paid, abs=2e-6)
    counted = value(metrics(llmsim_server)["llmsim_cost_usd"], "llmsim_cost_usd_total", model=model)
    assert counted == pytest.approx(paid, abs=2e-6)


def test_a_model_without_prices_has_no_header_and_costs_nothing(llmsim_server, live_db, edit):
    from simulator.models import ModelProfile

    edit(ModelProfile.objects.using(live_db).get(model_id="gpt-4o-mini"), input_usd_per_mtok=None)
    model = f"gpt-4o-mini-free-{uuid.uuid4().hex[:8]}"
    status, headers, _ = chat(llmsim_server, model)
    assert status == 200 and "x-llmsim-cost-usd" not in headers
    assert model not in get_json(f"{llmsim_server.base_url}/llmsim/stats")["cost"]["by_model"]
