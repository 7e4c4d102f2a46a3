"""The latency model (simulator.engine.latency)."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from simulator.engine.latency import LatencyProfile, sample_ms, sample_ttft_s, token_offsets_s

DRAWS = 5000


def draws(mean_ms: float, stddev_ms: float, seed: int = 1, count: int = DRAWS) -> list[float]:
    rng = random.Random(seed)
    return [sample_ms(rng, mean_ms, stddev_ms) for _ in range(count)]


@pytest.mark.parametrize(("mean_ms", "stddev_ms"), [(10, 50), (0, 30), (-20, 5), (100, 1000)])
def test_it_never_samples_a_negative_time(mean_ms, stddev_ms):
    values = draws(mean_ms, stddev_ms)
    assert min(values) >= 0
    assert max(values) > 0  # the spread is real, not everything clamped to 0


def test_it_never_schedules_a_token_before_the_previous_one():
    profile = LatencyProfile(ttft_mean_ms=5, ttft_stddev_ms=50, tbt_mean_ms=2, tbt_stddev_ms=20)
    rng = random.Random(3)
    for _ in range(50):
        ttft_s = sample_ttft_s(profile, rng)
        offsets = token_offsets_s(profile, rng, ttft_s, 100)
        assert ttft_s >= 0
        assert all(later >= earlier for earlier, later in itertools.pairwise(offsets))


def test_it_samples_around_the_mean_with_the_given_spread():
    values = draws(200, 20)
    assert statistics.fmean(values) == pytest.approx(200, abs=3)
    assert statistics.stdev(values) == pytest.approx(20, abs=2)


def test_it_samples_exactly_the_mean_without_spread():
    assert set(draws(42, 0, count=10)) == {42}
    assert set(draws(-5, 0, count=10)) == {0}


def test_it_repeats_samples_for_the_same_seed():
    assert draws(100, 40, seed=7, count=50) == draws(100, 40, seed=7, count=50)
    assert draws(100, 40, seed=7, count=50) != draws(100, 40, seed=8, count=50)


def test_it_repeats_offsets_for_the_same_seed():
    profile = LatencyProfile(ttft_mean_ms=300, ttft_stddev_ms=80, tbt_mean_ms=20, tbt_stddev_ms=8)

    def schedule(seed: int) -> tuple[float, ...]:
        rng = random.Random(seed)
        return token_offsets_s(profile, rng, sample_ttft_s(profile, rng), 30)

    assert schedule(11) == schedule(11)
    assert schedule(11) != schedule(12)


def test_it_pins_ttft_with_with_fixed():
    profile = LatencyProfile(ttft_mean_ms=600, ttft_stddev_ms=150, tbt_mean_ms=40, tbt_stddev_ms=12)
    pinned = profile.with_fixed(ttft_ms=250)
    rng = random.Random(0)
    assert {sample_ttft_s(pinned, rng) for _ in range(100)} == {0.25}
    # TBT keeps its spread.
    offsets = token_offsets_s(pinned, rng, 0.0, 50)
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(offsets)}
    assert len(gaps) > 1


def test_it_pins_tbt_with_with_fixed():
    profile = LatencyProfile(ttft_mean_ms=600, ttft_stddev_ms=150, tbt_mean_ms=40, tbt_stddev_ms=12)
    pinned = profile.with_fixed(tbt_ms=5)
    rng = random.Random(0)
    offsets = token_offsets_s(pinned, rng, 1.0, 50)
    assert all(b - a == pytest.approx(0.005) for a, b in itertools.pairwise(offsets))
    # TTFT keeps its spread.
    assert len({sample_ttft_s(pinned, rng) for _ in range(20)}) > 1


def test_pinning_the_gap_of_a_lognormal_profile_drops_its_tail_and_stalls():
    profile = LatencyProfile(
        tbt_mean_ms=20, distribution="lognormal", tbt_p99_ms=90, stall_probability=0.5, stall_ms=1000
    )
    offsets = token_offsets_s(profile.with_fixed(tbt_ms=5), random.Random(0), 0.0, 50)
    assert all(b - a == pytest.approx(0.005) for a, b in itertools.pairwise(offsets))
    # The profile itself keeps them.
    offsets = token_offsets_s(profile, random.Random(0), 0.0, 50)
    assert len({round(b - a, 9) for a, b in itertools.pairwise(offsets)}) > 1


def test_it_pins_ttft_regardless_of_prompt_length():
    # x-llmsim-ttft-ms asks for an exact time to first token: prompt processing is not added.
    profile = LatencyProfile(ttft_mean_ms=100, prefill_ms_per_1k_tokens=50).with_fixed(ttft_ms=0)
    assert sample_ttft_s(profile, random.Random(0), prompt_tokens=10_000) == 0


def test_it_keeps_the_profile_when_nothing_is_pinned():
    profile = LatencyProfile(ttft_mean_ms=600, ttft_stddev_ms=150, tbt_mean_ms=40, tbt_stddev_ms=12)
    assert profile.with_fixed() == profile


def test_it_makes_offsets_cumulative_from_arrival():
    profile = LatencyProfile(tbt_mean_ms=25)
    offsets = token_offsets_s(profile, random.Random(0), 0.4, 11)
    assert len(offsets) == 11
    assert offsets[0] == 0.4
    assert all(b > a for a, b in itertools.pairwise(offsets))
    assert offsets[-1] == pytest.approx(0.4 + 10 * 0.025)


def test_it_spreads_tokens_around_the_mean_gap():
    profile = LatencyProfile(tbt_mean_ms=20, tbt_stddev_ms=5)
    offsets = token_offsets_s(profile, random.Random(5), 0.5, 2001)
    assert offsets[0] == 0.5
    assert offsets[-1] - offsets[0] == pytest.approx(2000 * 0.020, rel=0.05)


def test_it_gives_no_offsets_for_no_steps():
    assert list(token_offsets_s(LatencyProfile(tbt_mean_ms=20), random.Random(0), 0.3, 0)) == []


def test_it_gives_only_the_first_token_offset_for_one_step():
    assert list(token_offsets_s(LatencyProfile(tbt_mean_ms=20), random.Random(0), 0.3, 1)) == [0.3]


def test_it_adds_prefill_time_per_thousand_prompt_tokens():
    profile = LatencyProfile(ttft_mean_ms=200, prefill_ms_per_1k_tokens=50)
    rng = random.Random(0)
    assert sample_ttft_s(profile, rng, prompt_tokens=0) == pytest.approx(0.2)
    assert sample_ttft_s(profile, rng, prompt_tokens=2000) == pytest.approx(0.3)
    assert sample_ttft_s(profile, rng, prompt_tokens=500) == pytest.approx(0.225)


# Heavy tails and stalls (issue 22).

TAIL_DRAWS = 20_000


def percentile(values: list[float], share: float) -> float:
    return sorted(values)[int(share * len(values))]


def test_it_samples_a_lognormal_ttft_with_the_given_p50_and_p99():
    profile = LatencyProfile(ttft_mean_ms=400, ttft_stddev_ms=100, distribution="lognormal", ttft_p99_ms=1700)
    rng = random.Random(5)
    values = [sample_ttft_s(profile, rng) * 1000 for _ in range(TAIL_DRAWS)]
    assert percentile(values, 0.5) == pytest.approx(400, rel=0.05)
    assert percentile(values, 0.99) == pytest.approx(1700, rel=0.10)


def test_it_samples_lognormal_gaps_with_the_given_p50_and_p99():
    profile = LatencyProfile(tbt_mean_ms=20, tbt_stddev_ms=5, distribution="lognormal", tbt_p99_ms=90)
    offsets = token_offsets_s(profile, random.Random(6), 0.0, TAIL_DRAWS + 1)
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(offsets)]
    assert percentile(gaps, 0.5) == pytest.approx(20, rel=0.05)
    assert percentile(gaps, 0.99) == pytest.approx(90, rel=0.10)


@pytest.mark.parametrize("p99", [None, 400, 100])
def test_it_falls_back_to_normal_without_a_tail_above_the_median(p99):
    lognormal = LatencyProfile(ttft_mean_ms=400, ttft_stddev_ms=50, distribution="lognormal", ttft_p99_ms=p99)
    normal = LatencyProfile(ttft_mean_ms=400, ttft_stddev_ms=50)
    first, second = random.Random(9), random.Random(9)
    assert [sample_ttft_s(lognormal, first) for _ in range(100)] == [sample_ttft_s(normal, second) for _ in range(100)]


def test_it_keeps_normal_profiles_sequences_unchanged():
    # A profile that leaves the new fields at their defaults draws exactly what plain sample_ms draws.
    profile = LatencyProfile(ttft_mean_ms=300, ttft_stddev_ms=80, tbt_mean_ms=20, tbt_stddev_ms=8)
    rng, expected_rng = random.Random(13), random.Random(13)
    ttft_s = sample_ttft_s(profile, rng)
    offsets = token_offsets_s(profile, rng, ttft_s, 50)
    expected_ttft = sample_ms(expected_rng, 300, 80) / 1000
    expected = [expected_ttft]
    for _ in range(49):
        expected.append(expected[-1] + sample_ms(expected_rng, 20, 8) / 1000)
    assert ttft_s == expected_ttft
    assert list(offsets) == expected


def test_it_stalls_the_given_share_of_gaps_by_the_stall_length():
    profile = LatencyProfile(tbt_mean_ms=10, stall_probability=0.05, stall_ms=500)
    offsets = token_offsets_s(profile, random.Random(2), 0.0, TAIL_DRAWS + 1)
    gaps = [round((b - a) * 1000, 6) for a, b in itertools.pairwise(offsets)]
    assert set(gaps) == {10, 510}
    assert gaps.count(510) / len(gaps) == pytest.approx(0.05, abs=0.005)


def test_it_repeats_tails_and_stalls_for_the_same_seed():
    profile = LatencyProfile(
        ttft_mean_ms=300, tbt_mean_ms=20, distribution="lognormal", ttft_p99_ms=1200, tbt_p99_ms=80,
        stall_probability=0.1, stall_ms=300,
    )  # fmt: skip

    def schedule(seed: int) -> tuple[float, ...]:
        rng = random.Random(seed)
        return token_offsets_s(profile, rng, sample_ttft_s(profile, rng), 30)

    assert schedule(4) == schedule(4)
    assert schedule(4) != schedule(5)


def test_with_fixed_removes_the_tail_and_the_stalls():
    profile = LatencyProfile(
        ttft_mean_ms=300, tbt_mean_ms=20, distribution="lognormal", ttft_p99_ms=1200, tbt_p99_ms=80,
        stall_probability=0.5, stall_ms=300,
    )  # fmt: skip
    pinned = profile.with_fixed(ttft_ms=100, tbt_ms=5)
    rng = random.Random(0)
    assert {sample_ttft_s(pinned, rng) for _ in range(50)} == {0.1}
    offsets = token_offsets_s(pinned, rng, 0.1, 20)
    assert offsets == pytest.approx([0.1 + i * 0.005 for i in range(20)])


def test_prefill_makes_a_long_prompt_start_later_by_its_rate():
    profile = LatencyProfile(ttft_mean_ms=400, ttft_stddev_ms=100, prefill_ms_per_1k_tokens=8)
    short = sample_ttft_s(profile, random.Random(1), prompt_tokens=50)
    long = sample_ttft_s(profile, random.Random(1), prompt_tokens=50_000)
    # Same seed, same base draw: the difference is the prefill of the 49,950 extra tokens.
    assert long - short == pytest.approx(8 * 49.95 / 1000)
    assert long - short > 8 * 49 / 1000


def test_it_holds_offsets_as_doubles_not_float_objects():
    # A stream keeps its offsets until it ends: 8 bytes a token, not a tuple's 32.
    profile = LatencyProfile(tbt_mean_ms=20, tbt_stddev_ms=5)
    for offsets in (
        token_offsets_s(profile, random.Random(0), 0.2, 100),
        token_offsets_s(profile.with_fixed(tbt_ms=20), random.Random(0), 0.2, 100),
    ):
        assert offsets.typecode == "d"
        assert len(offsets) == 100
