"""The model presets' prefill and tails, as migrated (migration 0017_latency_tails)."""

from __future__ import annotations

import pytest

from simulator.models import ModelProfile
from simulator.portability import export_data, import_data
from simulator.state.snapshots import latency_of

pytestmark = pytest.mark.django_db


def test_every_preset_but_instant_has_a_prefill_time():
    presets = ModelProfile.objects.exclude(model_id="instant")
    assert presets.count() >= 19
    assert list(presets.filter(prefill_ms_per_1k_tokens__lte=0).values_list("model_id", flat=True)) == []


def test_instant_keeps_zeros():
    instant = ModelProfile.objects.get(model_id="instant")
    assert (instant.prefill_ms_per_1k_tokens, instant.latency_distribution, instant.stall_probability) == (
        0,
        "normal",
        0,
    )


def test_presets_with_a_measured_tail_are_lognormal_above_their_median():
    tailed = ModelProfile.objects.filter(latency_distribution="lognormal")
    assert {"gpt-5", "gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash"} <= set(
        tailed.values_list("model_id", flat=True)
    )
    assert all(profile.ttft_p99_ms > profile.ttft_mean_ms for profile in tailed)


def test_latency_of_maps_the_tail_fields():
    profile = ModelProfile(
        model_id="tailed",
        latency_distribution="lognormal",
        ttft_p99_ms=2000,
        tbt_p99_ms=90,
        stall_probability=0.01,
        stall_ms=800,
    )
    latency = latency_of(profile)
    assert (latency.distribution, latency.ttft_p99_ms, latency.tbt_p99_ms) == ("lognormal", 2000, 90)
    assert (latency.stall_probability, latency.stall_ms) == (0.01, 800)


def test_the_tail_fields_travel_as_yaml_keys():
    fields = {
        "latency_distribution": "lognormal",
        "ttft_p99_ms": 2000.0,
        "tbt_p99_ms": 90.0,
        "stall_probability": 0.01,
        "stall_ms": 800.0,
    }
    import_data({"model_profiles": [{"model_id": "tailed", **fields}]}, "test.yaml")
    exported = next(row for row in export_data()["model_profiles"] if row["model_id"] == "tailed")
    assert {key: exported[key] for key in fields} == fields
