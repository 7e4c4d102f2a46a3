"""The latency model: when the first token and each following token are due."""

from __future__ import annotations

import math
import random
from array import array
from dataclasses import dataclass, field, replace
from functools import lru_cache

# A truncated normal is sampled by rejection; after this many draws below zero the
# distribution is so far below zero that 0 is the honest answer.
_MAX_DRAWS = 16
# The standard normal's 99th percentile: a log-normal's sigma is ln(p99 / p50) / this.
_Z99 = 2.326

NORMAL, LOGNORMAL = "normal", "lognormal"


@dataclass(frozen=True, slots=True)
class LatencyProfile:
    """Timing of one model: time to first token and time between tokens, in ms."""

    ttft_mean_ms: float = 0.0
    ttft_stddev_ms: float = 0.0
    tbt_mean_ms: float = 0.0
    tbt_stddev_ms: float = 0.0
    # Extra time to first token per 1,000 prompt tokens (prompt processing).
    prefill_ms_per_1k_tokens: float = 0.0
    # "lognormal": the means above are read as medians (p50), and the p99s below set the
    # tail; a p99 missing or not above its p50 leaves that time normal.
    distribution: str = NORMAL
    ttft_p99_ms: float | None = None
    tbt_p99_ms: float | None = None
    # A rare stall: each gap between tokens is lengthened by stall_ms with this probability.
    stall_probability: float = 0.0
    stall_ms: float = 0.0
    # Worked out once per profile, not per draw: the log-normal sigmas of TTFT and of the
    # gaps (0: that time is normal), and whether every gap is the same (no spread, tail
    # or stalls).
    ttft_sigma: float = field(init=False, repr=False, compare=False)
    tbt_sigma: float = field(init=False, repr=False, compare=False)
    steady: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lognormal = self.distribution == LOGNORMAL
        ttft_sigma = lognormal_sigma(self.ttft_mean_ms, self.ttft_p99_ms) if lognormal else 0.0
        tbt_sigma = lognormal_sigma(self.tbt_mean_ms, self.tbt_p99_ms) if lognormal else 0.0
        object.__setattr__(self, "ttft_sigma", ttft_sigma)
        object.__setattr__(self, "tbt_sigma", tbt_sigma)
        stalls = self.stall_probability > 0 and self.stall_ms > 0
        object.__setattr__(self, "steady", self.tbt_stddev_ms <= 0 and tbt_sigma == 0 and not stalls)

    def with_fixed(self, ttft_ms: float | None = None, tbt_ms: float | None = None) -> LatencyProfile:
        """This profile with TTFT and/or TBT pinned to exact values (no spread).

        Made once per profile and pins: a load test pins its timing on every request
        (x-llmsim-ttft-ms, -tbt-ms), with few distinct values.
        """
        return _pinned(self, ttft_ms, tbt_ms)


# Bounded: the pins come from request headers, client input.
@lru_cache(maxsize=256)
def _pinned(profile: LatencyProfile, ttft_ms: float | None, tbt_ms: float | None) -> LatencyProfile:
    pinned = profile
    if ttft_ms is not None:
        pinned = replace(pinned, ttft_mean_ms=ttft_ms, ttft_stddev_ms=0.0, ttft_p99_ms=None)
        pinned = replace(pinned, prefill_ms_per_1k_tokens=0.0)
    if tbt_ms is not None:
        # An exact gap has no tail and no stalls either.
        pinned = replace(pinned, tbt_mean_ms=tbt_ms, tbt_stddev_ms=0.0, tbt_p99_ms=None, stall_probability=0.0)
    return pinned


INSTANT = LatencyProfile()


def slowed(profile: LatencyProfile, factor: float) -> LatencyProfile:
    """The profile of a model under load (engine.load.stretch): every gap between tokens, its
    spread, tail and stalls, and the prefill, `factor` times as long."""
    if factor == 1.0:
        return profile
    p99 = profile.tbt_p99_ms
    return replace(
        profile,
        tbt_mean_ms=profile.tbt_mean_ms * factor,
        tbt_stddev_ms=profile.tbt_stddev_ms * factor,
        tbt_p99_ms=None if p99 is None else p99 * factor,
        stall_ms=profile.stall_ms * factor,
        prefill_ms_per_1k_tokens=profile.prefill_ms_per_1k_tokens * factor,
    )


def sample_ms(rng: random.Random, mean_ms: float, stddev_ms: float) -> float:
    """One draw from a normal distribution truncated at 0."""
    if stddev_ms <= 0:
        return max(mean_ms, 0.0)
    for _ in range(_MAX_DRAWS):
        value = rng.gauss(mean_ms, stddev_ms)
        if value >= 0:
            return value
    return 0.0


def lognormal_sigma(p50_ms: float, p99_ms: float | None) -> float:
    """The log-normal's sigma for a median and a 99th percentile; 0 when there is no tail to model."""
    if p99_ms is None or p50_ms <= 0 or p99_ms <= p50_ms:
        return 0.0
    return math.log(p99_ms / p50_ms) / _Z99


def _sample_time_ms(rng: random.Random, mean_ms: float, stddev_ms: float, sigma: float) -> float:
    """One TTFT or gap: log-normal around the median with `sigma` (the profile's tail), else normal."""
    if sigma > 0:
        return rng.lognormvariate(math.log(mean_ms), sigma)
    return sample_ms(rng, mean_ms, stddev_ms)


def sample_ttft_s(profile: LatencyProfile, rng: random.Random, prompt_tokens: int = 0) -> float:
    """Time to first token in seconds, prompt processing included."""
    ttft_ms = _sample_time_ms(rng, profile.ttft_mean_ms, profile.ttft_stddev_ms, profile.ttft_sigma)
    ttft_ms += profile.prefill_ms_per_1k_tokens * prompt_tokens / 1000.0
    return ttft_ms / 1000.0


def token_offsets_s(profile: LatencyProfile, rng: random.Random, ttft_s: float, steps: int) -> array[float]:
    """When each of `steps` tokens is due, in seconds after arrival.

    Offsets are absolute (cumulative from arrival), so a stream paced against them
    does not drift however late individual writes are. They are held for the stream's
    whole life, so as an array of doubles: 8 bytes a token, where a tuple of floats
    takes 32.
    """
    if steps <= 0:
        return array("d")
    if profile.steady:
        gap = max(profile.tbt_mean_ms, 0.0) / 1000.0
        if gap == 0:
            return array("d", [ttft_s]) * steps
        return array("d", [ttft_s + i * gap for i in range(steps)])
    mean, stddev, sigma = profile.tbt_mean_ms, profile.tbt_stddev_ms, profile.tbt_sigma
    stalls = profile.stall_probability > 0 and profile.stall_ms > 0
    offsets = array("d", [ttft_s])
    at = ttft_s
    for _ in range(steps - 1):
        gap_ms = _sample_time_ms(rng, mean, stddev, sigma)
        # Drawn only when stalls are on, so profiles without them replay today's sequences.
        if stalls and rng.random() < profile.stall_probability:
            gap_ms += profile.stall_ms
        at += gap_ms / 1000.0
        offsets.append(at)
    return offsets


def delayed_from(offsets: array[float], first: int, delay_s: float) -> array[float]:
    """The offsets with step `first` and every later one due `delay_s` later (a stall)."""
    return offsets[:first] + array("d", [t + delay_s for t in offsets[first:]])
