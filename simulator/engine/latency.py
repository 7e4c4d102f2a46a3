"""The latency model: when the first token and each following token are due."""

from __future__ import annotations

import random
from dataclasses import dataclass

# A truncated normal is sampled by rejection; after this many draws below zero the
# distribution is so far below zero that 0 is the honest answer.
_MAX_DRAWS = 16


@dataclass(frozen=True, slots=True)
class LatencyProfile:
    """Timing of one model: time to first token and time between tokens, in ms."""

    ttft_mean_ms: float = 0.0
    ttft_stddev_ms: float = 0.0
    tbt_mean_ms: float = 0.0
    tbt_stddev_ms: float = 0.0
    # Extra time to first token per 1,000 prompt tokens (prompt processing).
    prefill_ms_per_1k_tokens: float = 0.0

    def with_fixed(self, ttft_ms: float | None = None, tbt_ms: float | None = None) -> LatencyProfile:
        """This profile with TTFT and/or TBT pinned to exact values (no spread)."""
        return LatencyProfile(
            ttft_mean_ms=self.ttft_mean_ms if ttft_ms is None else ttft_ms,
            ttft_stddev_ms=self.ttft_stddev_ms if ttft_ms is None else 0.0,
            tbt_mean_ms=self.tbt_mean_ms if tbt_ms is None else tbt_ms,
            tbt_stddev_ms=self.tbt_stddev_ms if tbt_ms is None else 0.0,
            prefill_ms_per_1k_tokens=self.prefill_ms_per_1k_tokens if ttft_ms is None else 0.0,
        )


INSTANT = LatencyProfile()


def sample_ms(rng: random.Random, mean_ms: float, stddev_ms: float) -> float:
    """One draw from a normal distribution truncated at 0."""
    if stddev_ms <= 0:
        return max(mean_ms, 0.0)
    for _ in range(_MAX_DRAWS):
        value = rng.gauss(mean_ms, stddev_ms)
        if value >= 0:
            return value
    return 0.0


def sample_ttft_s(profile: LatencyProfile, rng: random.Random, prompt_tokens: int = 0) -> float:
    """Time to first token in seconds, prompt processing included."""
    ttft_ms = sample_ms(rng, profile.ttft_mean_ms, profile.ttft_stddev_ms)
    ttft_ms += profile.prefill_ms_per_1k_tokens * prompt_tokens / 1000.0
    return ttft_ms / 1000.0


def token_offsets_s(profile: LatencyProfile, rng: random.Random, ttft_s: float, steps: int) -> tuple[float, ...]:
    """When each of `steps` tokens is due, in seconds after arrival.

    Offsets are absolute (cumulative from arrival), so a stream paced against them
    does not drift however late individual writes are.
    """
    if steps <= 0:
        return ()
    mean, stddev = profile.tbt_mean_ms, profile.tbt_stddev_ms
    if stddev <= 0:
        gap = max(mean, 0.0) / 1000.0
        if gap == 0:
            return (ttft_s,) * steps
        return tuple(ttft_s + i * gap for i in range(steps))
    offsets = [ttft_s]
    at = ttft_s
    for _ in range(steps - 1):
        at += sample_ms(rng, mean, stddev) / 1000.0
        offsets.append(at)
    return tuple(offsets)
