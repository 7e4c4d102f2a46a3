"""Rate limits: token buckets for requests and tokens per minute, as OpenAI counts them.

Each bucket key (scenario, API key, model) holds two buckets, one per axis. A bucket
holds up to the per-minute limit and refills continuously at limit/60 per second, so
a budget spent in a burst comes back over the following minute rather than at the top
of the next one. A request takes 1 from the requests bucket and its reservation (input
tokens plus max_tokens) from the tokens bucket, both or neither; `settle` gives back
what the answer did not use. A limit that is only reported (a model's default limits,
unless enforced) never refuses: its request is counted all the same, each bucket
stopping at empty (`take(..., refuse=False)`).

The math lives here, with the in-process store (`LocalBuckets.take`); simulator/state/buckets.py
chooses between that store and Redis, whose Lua script does the same refill, check and
take, and hands its levels to `state_of` so that both report alike.
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import NamedTuple

# Every bucket is full again at most this long after its last use (it never drops
# below empty and refills a whole limit per minute), so an idle bucket can be
# forgotten: a missing bucket is a full one.
IDLE_S = 60.0

# Float dust (0.1 + 0.2) must not turn 5 remaining tokens into 4.
EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Per-minute limits of one bucket key; None = unlimited on that axis."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    # The limits as the buckets' capacities: floats like the levels they bound, and
    # infinity on an axis without a limit, whose bucket is then always full.
    requests_cap: float = field(init=False, repr=False, compare=False)
    tokens_cap: float = field(init=False, repr=False, compare=False)
    # What each bucket refills per second: its whole capacity per minute.
    requests_per_s: float = field(init=False, repr=False, compare=False)
    tokens_per_s: float = field(init=False, repr=False, compare=False)
    # No limit on either axis: nothing to take, count or report.
    unlimited: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, or None for no limit (got {value})")
        object.__setattr__(self, "requests_cap", _capacity(self.requests_per_minute))
        object.__setattr__(self, "tokens_cap", _capacity(self.tokens_per_minute))
        object.__setattr__(self, "requests_per_s", self.requests_cap / 60.0)
        object.__setattr__(self, "tokens_per_s", self.tokens_cap / 60.0)
        object.__setattr__(self, "unlimited", self.requests_per_minute is None and self.tokens_per_minute is None)


def _capacity(per_minute: int | None) -> float:
    return math.inf if per_minute is None else float(per_minute)


class RateLimitState(NamedTuple):
    """What the x-ratelimit-* headers say after this request (None: no limit on that axis).

    remaining_*: whole requests/tokens left in the bucket after this request.
    reset_*_s: seconds until that bucket is full again (0 when it is full).
    """

    limit_requests: int | None
    remaining_requests: int | None
    reset_requests_s: float
    limit_tokens: int | None
    remaining_tokens: int | None
    reset_tokens_s: float


UNLIMITED_STATE = RateLimitState(None, None, 0.0, None, None, 0.0)


class RateLimited(Exception):
    """The request does not fit in its buckets; nothing was taken.

    `which` is the axis that blocks longest ("requests" or "tokens"); `limit`, `used`
    and `requested` are that axis's figures for the error message ("Limit 500, Used
    500, Requested 1"). `retry_after_s` is how long until the request would fit, or
    None when it never can (more tokens requested than the per-minute limit).
    """

    def __init__(
        self, state: RateLimitState, retry_after_s: float | None, which: str, limit: int, used: int, requested: int
    ) -> None:
        super().__init__(f"rate limit reached on {which} per min: limit {limit}, used {used}, requested {requested}")
        self.state = state
        self.retry_after_s = retry_after_s
        self.which = which
        self.limit = limit
        self.used = used
        self.requested = requested


def whole_millis(seconds: float) -> int:
    """Seconds as whole milliseconds, rounded up, so a client that waits that long finds the budget back."""
    # The microsecond is rounded half up first (0.3 s is 300.00000000000006 ms and must
    # not say 301ms): ceil(floor(us + 0.5) / 1000) is floor(ms + 0.9995).
    return math.floor(seconds * 1000.0 + 0.9995) if seconds > 0 else 0


def duration_text(seconds: float) -> str:
    """Go-style duration, as OpenAI writes x-ratelimit-reset-*: 0s, 250ms, 1.5s, 6m0s (see whole_millis)."""
    return duration_header(whole_millis(seconds)).decode()


def duration_header(millis: int) -> bytes:
    """Whole milliseconds as duration_text() writes them, as a header value (bytes, as the headers are)."""
    if millis <= 0:
        return b"0s"
    if millis < 1000:
        return b"%dms" % millis
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    if hours:
        return b"%dh%dm%bs" % (hours, minutes, _seconds(millis))
    if minutes:
        return b"%dm%bs" % (minutes, _seconds(millis))
    return _seconds(millis) + b"s"


def _seconds(millis: int) -> bytes:
    """Milliseconds as seconds without trailing zeros: 1500 → 1.5, 2000 → 2, 0 → 0."""
    # A float's repr is its shortest exact decimal, which for whole milliseconds is the
    # thousandths written out with trailing zeros dropped (a whole second keeps ".0").
    return str(millis / 1000).removesuffix(".0").encode()


def state_of(limit: RateLimit, requests_level: float, tokens_level: float) -> RateLimitState:
    """The headers' figures for buckets holding these levels (ignored on unlimited axes)."""
    rpm = limit.requests_per_minute
    tpm = limit.tokens_per_minute
    # Positional, in the fields' order: one state is built per request, and a NamedTuple
    # built by keyword goes through a slower call.
    return RateLimitState(
        rpm,
        None if rpm is None else int(requests_level + EPSILON),
        0.0 if rpm is None else (limit.requests_cap - requests_level) / limit.requests_per_s,
        tpm,
        None if tpm is None else int(tokens_level + EPSILON),
        0.0 if tpm is None else (limit.tokens_cap - tokens_level) / limit.tokens_per_s,
    )


def fresh_state(limit: RateLimit, tokens: int) -> RateLimitState:
    """The state after a request taken from full buckets (the figures when the store is unreachable)."""
    return state_of(
        limit,
        (limit.requests_per_minute or 0) - 1,
        max(0, (limit.tokens_per_minute or 0) - tokens),
    )


def rejection(limit: RateLimit, requests_level: float, tokens_level: float, tokens: int) -> RateLimited:
    """The error for a request of `tokens` that does not fit in buckets at these levels."""
    rpm = limit.requests_per_minute
    tpm = limit.tokens_per_minute
    state = state_of(limit, requests_level, tokens_level)
    blocked: list[RateLimited] = []
    if rpm is not None and requests_level < 1 - EPSILON:
        wait = (1 - requests_level) * 60.0 / rpm
        blocked.append(RateLimited(state, wait, "requests", rpm, rpm - int(requests_level + EPSILON), 1))
    if tpm is not None and tokens_level < tokens - EPSILON:
        wait = None if tokens > tpm else (tokens - tokens_level) * 60.0 / tpm
        blocked.append(RateLimited(state, wait, "tokens", tpm, tpm - int(tokens_level + EPSILON), tokens))
    if not blocked:
        raise ValueError("rejection() of a request that fits")
    # Both axes must fit: the retry comes when the slower one does (never, if it never can).
    return max(blocked, key=lambda error: math.inf if error.retry_after_s is None else error.retry_after_s)


def _refill(level: float, cap: float, per_s: float, elapsed_s: float) -> float:
    """A bucket's level after `elapsed_s` of refill at `per_s`, never above `cap`.

    Capped on every refill, so that a lowered limit applies at once; an axis without a
    limit stays full, so that a limit set later starts full.
    """
    if cap == math.inf:
        return cap
    return min(level + elapsed_s * per_s, cap)


def _within(level: float, cap: float) -> float:
    """A level kept within 0..cap; an unlimited axis (cap inf) is always full."""
    return cap if cap == math.inf else min(max(level, 0.0), cap)


class _Bucket:
    """The levels of one key's two buckets (requests, tokens) as of `at`."""

    __slots__ = ("at", "requests", "tokens")

    def __init__(self, requests: float, tokens: float, at: float) -> None:
        self.requests = requests
        self.tokens = tokens
        self.at = at


class LocalBuckets:
    """The in-process store: one pair of buckets per key, refilled on use.

    Not locked: every call runs to completion without yielding, so on one event loop
    each is atomic. `now` is any monotonic clock in seconds (time.monotonic in the
    server, a fake one in tests). A key is any hashable: the request path uses
    (scenario, API key, model) as it comes, without buckets.bucket_key's hashing,
    which only Redis (whose keys others can read) needs.
    """

    def __init__(self) -> None:
        self._buckets: dict[Hashable, _Bucket] = {}
        self._next_sweep = -math.inf

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: Hashable, limit: RateLimit, tokens: int, now: float, refuse: bool = True) -> RateLimitState:
        """Take 1 request and `tokens` tokens from the key's buckets, both or neither; the figures after.

        Raises RateLimited, having taken nothing, when they do not fit (the Lua script of
        simulator/state/buckets.py decides alike).

        refuse=False is for a limit that is reported, not enforced: what does not fit is
        counted all the same, each bucket stopping at empty, as one that refuses the
        excess does; the figures then say 0 left. Such a take that leaves no tokens may
        have taken fewer than `tokens`: it has nothing to settle.
        """
        if limit.unlimited:
            return UNLIMITED_STATE
        bucket = self._refilled(key, limit, now)
        requests, level = bucket.requests, bucket.tokens
        if refuse and (requests < 1 - EPSILON or level < tokens - EPSILON):
            raise rejection(limit, requests, level, tokens)
        bucket.requests = requests = max(requests - 1.0, 0.0)
        bucket.tokens = level = max(level - tokens, 0.0)
        return state_of(limit, requests, level)

    def _refilled(self, key: Hashable, limit: RateLimit, now: float) -> _Bucket:
        """The key's buckets, topped up for the time since their last use; a new key's are full."""
        bucket = self._buckets.get(key)
        if bucket is None:
            # Memory only grows here, so this is where idle buckets are dropped.
            if now >= self._next_sweep:
                self._sweep(now)
            bucket = self._buckets[key] = _Bucket(limit.requests_cap, limit.tokens_cap, now)
            return bucket
        # A clock reading older than the bucket's last use (a request that arrived before
        # another was settled) refills nothing.
        elapsed_s = max(now - bucket.at, 0.0)
        bucket.at = max(now, bucket.at)
        bucket.requests = _refill(bucket.requests, limit.requests_cap, limit.requests_per_s, elapsed_s)
        bucket.tokens = _refill(bucket.tokens, limit.tokens_cap, limit.tokens_per_s, elapsed_s)
        return bucket

    def reconcile(self, key: Hashable, limit: RateLimit, requests: float, tokens: float, now: float) -> None:
        """Set the key's levels to these, as of `now`, within 0..limit (what another store says they are).

        An axis without a limit stays full, whatever the other store says.
        """
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(limit.requests_cap, limit.tokens_cap, now)
        bucket.requests = _within(requests, limit.requests_cap)
        bucket.tokens = _within(tokens, limit.tokens_cap)
        bucket.at = now

    def settle(self, key: Hashable, limit: RateLimit, reserved: int, actual: int, now: float | None = None) -> None:
        """Give back `reserved - actual` tokens (or take the excess), keeping the bucket within 0..limit.

        `now` (default: time.monotonic()) is only read to take an excess: giving back needs no clock.
        """
        if limit.tokens_per_minute is None or reserved == actual:
            return
        if reserved > actual:
            bucket = self._buckets.get(key)
            if bucket is not None:  # a missing bucket is full: nothing to give back to
                # No refill first: either way the level ends at min(limit, level + refill +
                # returned) once the next take refills it, at the limit in force then.
                bucket.tokens = min(bucket.tokens + reserved - actual, limit.tokens_cap)
            return
        bucket = self._refilled(key, limit, time.monotonic() if now is None else now)
        bucket.tokens = _within(bucket.tokens + reserved - actual, limit.tokens_cap)

    def reset(self) -> int:
        """Forget every bucket (a missing one is full); returns how many."""
        count = len(self._buckets)
        self._buckets.clear()
        return count

    def _sweep(self, now: float) -> None:
        """Drop the buckets idle long enough to be full: a load test with many API keys must not grow memory."""
        idle = [key for key, bucket in self._buckets.items() if now - bucket.at >= IDLE_S]
        for key in idle:
            del self._buckets[key]
        self._next_sweep = now + IDLE_S
