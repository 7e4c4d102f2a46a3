"""The cost of an answer at a model's prices: plain arithmetic."""

from __future__ import annotations

import pytest

from simulator.engine.cost import Prices, cost_usd

CLAUDE = Prices(
    input_usd_per_mtok=3.0, output_usd_per_mtok=15.0, cached_input_usd_per_mtok=0.3, cache_write_usd_per_mtok=3.75
)


def test_prompt_and_completion_are_billed_at_their_prices():
    prices = Prices(input_usd_per_mtok=1.25, output_usd_per_mtok=10.0)
    assert cost_usd(prices, 1_000_000, completion_tokens=1_000_000) == pytest.approx(11.25)
    assert cost_usd(prices, 2_000, completion_tokens=500) == pytest.approx(0.0075)


def test_cached_reads_and_cache_writes_replace_their_share_of_the_prompt():
    # 10k prompt: 6k read from the cache, 3k written to it, 1k plain; 200 out.
    expected = (1_000 * 3.0 + 6_000 * 0.3 + 3_000 * 3.75 + 200 * 15.0) / 1e6
    assert cost_usd(CLAUDE, 10_000, cached_tokens=6_000, cache_write_tokens=3_000, completion_tokens=200) == (
        pytest.approx(expected)
    )


def test_without_cache_prices_cached_tokens_cost_the_input_price():
    prices = Prices(input_usd_per_mtok=30.0, output_usd_per_mtok=60.0)  # gpt-4: no cached price
    assert cost_usd(prices, 1_000, cached_tokens=400, cache_write_tokens=100) == pytest.approx(cost_usd(prices, 1_000))


def test_reasoning_tokens_are_output_because_completion_counts_them():
    prices = Prices(input_usd_per_mtok=2.0, output_usd_per_mtok=8.0)
    visible, reasoning = 100, 900
    assert cost_usd(prices, 0, completion_tokens=visible + reasoning) == pytest.approx(1_000 * 8.0 / 1e6)


def test_nothing_costs_nothing():
    assert cost_usd(CLAUDE, 0) == 0.0
