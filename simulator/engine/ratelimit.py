"""Rate limits: token buckets for requests and tokens per minute, as OpenAI counts them.

Each bucket key (scenario, API key, model) holds two buckets, one per axis. A bucket
holds up to the per-minute limit and refills continuously at limit/60 per second, so
a budget spent in a burst comes back over the following minute rather than at the top
of the next one. A request takes 1 from the requests bucket and its reservation (input
tokens plus max_tokens) from the tokens bucket, both or neither; `settle` gives back
what the answer did not use. A limit that is only reported (a model's default limits,
unless enforced) never refuses: its request is counted all the same, each bucket
stopping at empty (`take(..., refuse=False)`).

The math lives here, with the in-process store (`LocalBuckets`); simulator/state/buckets.py
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
    # The two limits as floats, inf for no limit: what the bucket arithmetic uses, as
    # mixing floats with large ints (a billion tokens) costs a conversion per operation.
    caps: tuple[float, float] = field(init=False, repr=False, compare=False)
    both: tuple | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, or None for no limit (got {value})")
        rpm, tpm = self.requests_per_minute, self.tokens_per_minute
        object.__setattr__(
            self, "caps", (math.inf if rpm is None else float(rpm), math.inf if tpm is None else float(tpm))
        )
        # With both axes limited (the usual case), what LocalBuckets.acquire needs, at hand
        # in one tuple: the caps as floats, refills per second, seconds per unit, the limits.
        both = None
        if rpm is not None and tpm is not None:
            both = (float(rpm), float(tpm), rpm / 60.0, tpm / 60.0, 60.0 / rpm, 60.0 / tpm, rpm, tpm)
        object.__setattr__(self, "both", both)

    @property
    def unlimited(self) -> bool:
        return self.requests_per_minute is None and self.tokens_per_minute is None


class RateLimitState(NamedTuple):
    """What the x-ratelimit-* headers say after this request (None: no limit on that axis).

    remaining_*: whole requests/tokens left in the bucket after this request.
    reset_*_s: seconds until that bucket is full again (0 when it is full).

    A NamedTuple rather than a frozen dataclass: one is built per request, and a frozen
    dataclass's __init__ costs 1.4 µs more, half the in-process budget.
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
    """Whole milliseconds as duration_text() writes them, as a header value.

    Formatted as bytes, without an f-string and an encoding: a reset header is written
    for every answer.
    """
    if millis <= 0:
        return b"0s"
    if millis < 1000:
        return b"%dms" % millis
    if millis < 60_000:  # the usual reset of a per-minute bucket: skip the general case below
        return _seconds(millis) + b"s"
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    if hours:
        return b"%dh%dm%bs" % (hours, minutes, _seconds(millis))
    if minutes:
        return b"%dm%bs" % (minutes, _seconds(millis))
    return _seconds(millis) + b"s"


def _seconds(millis: int) -> bytes:
    """Milliseconds as seconds without trailing zeros: 1500 → 1.5, 2000 → 2, 0 → 0."""
    return (b"%d.%03d" % divmod(millis, 1000)).rstrip(b"0").rstrip(b".")


def state_of(limit: RateLimit, requests_level: float, tokens_level: float) -> RateLimitState:
    """The headers' figures for buckets holding these levels (ignored on unlimited axes)."""
    rpm = limit.requests_per_minute
    tpm = limit.tokens_per_minute
    requests_cap, tokens_cap = limit.caps
    # tuple.__new__ rather than RateLimitState(...), whose __new__ is a Python function: one
    # state is built per request.
    return _new_tuple(
        RateLimitState,
        (
            rpm,
            None if rpm is None else int(requests_level + EPSILON),
            0.0 if rpm is None else (requests_cap - requests_level) * 60.0 / requests_cap,
            tpm,
            None if tpm is None else int(tokens_level + EPSILON),
            0.0 if tpm is None else (tokens_cap - tokens_level) * 60.0 / tokens_cap,
        ),
    )


_new_tuple = tuple.__new__
_ONE = 1 - EPSILON


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
    # (seconds to wait, axis, limit, level, requested); None seconds = never.
    blocked: list[tuple[float | None, str, int, float, int]] = []
    if rpm is not None and requests_level < 1 - EPSILON:
        blocked.append(((1 - requests_level) * 60.0 / rpm, "requests", rpm, requests_level, 1))
    if tpm is not None and tokens_level < tokens - EPSILON:
        wait = None if tokens > tpm else (tokens - tokens_level) * 60.0 / tpm
        blocked.append((wait, "tokens", tpm, tokens_level, tokens))
    if not blocked:
        raise ValueError("rejection() of a request that fits")
    # Both axes must fit: the retry comes when the slower one does.
    wait, which, axis_limit, level, requested = max(blocked, key=lambda b: math.inf if b[0] is None else b[0])
    used = axis_limit - int(level + EPSILON)
    return RateLimited(state_of(limit, requests_level, tokens_level), wait, which, axis_limit, used, requested)


def _at_least(requests: float, level: float, tokens: int) -> tuple[float, float]:
    """Levels raised to what one request of `tokens` takes: taking it then leaves a bucket empty,
    not below (a reported limit's take that does not fit)."""
    return (requests if requests >= 1.0 else 1.0), (level if level >= tokens else float(tokens))


def _within(level: float, cap: float) -> float:
    """A level kept within 0..cap; an unlimited axis (cap inf) is always full."""
    return cap if cap == math.inf else min(max(level, 0.0), cap)


class _Bucket:
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
    (scenario, API key, model) as it comes, without ratelimits.bucket_key's hashing,
    which only Redis (whose keys others can read) needs.
    """

    def __init__(self) -> None:
        self._buckets: dict[Hashable, _Bucket] = {}
        self._next_sweep = -math.inf

    def __len__(self) -> int:
        return len(self._buckets)

    def _refilled(self, key: Hashable, limit: RateLimit, now: float) -> _Bucket:
        """The key's buckets, topped up for the time since their last use.

        An axis without a limit holds infinity, so that a limit set later starts full.
        """
        requests_cap, tokens_cap = limit.caps
        bucket = self._buckets.get(key)
        if bucket is None:
            # Memory only grows here, so this is where idle buckets are dropped.
            if now >= self._next_sweep:
                self._sweep(now)
            bucket = self._buckets[key] = _Bucket(requests_cap, tokens_cap, now)
            return bucket
        elapsed = now - bucket.at
        if elapsed > 0:
            bucket.at = now
        else:
            elapsed = 0.0
        # Conditionals rather than min(): this runs on every request. They also apply a
        # lowered limit at once.
        if requests_cap == math.inf:
            bucket.requests = math.inf
        else:
            requests = bucket.requests + elapsed * requests_cap / 60.0
            bucket.requests = requests if requests < requests_cap else requests_cap
        if tokens_cap == math.inf:
            bucket.tokens = math.inf
        else:
            tokens = bucket.tokens + elapsed * tokens_cap / 60.0
            bucket.tokens = tokens if tokens < tokens_cap else tokens_cap
        return bucket

    def acquire(self, key: Hashable, limit: RateLimit, tokens: int, now: float) -> RateLimitState:
        """Take 1 request and `tokens` tokens, both or neither; raises RateLimited on neither."""
        return self.take(key, limit, tokens, now)

    def take(self, key: Hashable, limit: RateLimit, tokens: int, now: float, refuse: bool = True) -> RateLimitState:
        """acquire(), with the figures as a tuple in RateLimitState's order, for the request path.

        A plain tuple when both axes are limited: building a NamedTuple costs about 1,400
        CPU instructions more, and unpacking one 500 more (see docs/benchmarks.md).

        refuse=False is for a limit that is reported, not enforced: what does not fit is
        counted all the same, each bucket stopping at empty, as one that refuses the
        excess does; the figures then say 0 left. Such a take that leaves no tokens may
        have taken fewer than `tokens`: it has nothing to settle.
        """
        both = limit.both
        bucket = self._buckets.get(key)
        if both is None or bucket is None:
            return self._acquire(key, limit, tokens, now, refuse)
        # Both axes limited and the bucket known: every request under a rate limit comes
        # here, so _refilled() and state_of() are written out, with the constants at hand.
        # The arithmetic stays in floats (1.0, 0.0): CPython 3.11 specialises float-float
        # operations only, and x.__trunc__() is int(x) without the cost of calling a type.
        requests_cap, tokens_cap, requests_refill, tokens_refill, requests_reset, tokens_reset, rpm, tpm = both
        requests = bucket.requests
        level = bucket.tokens
        elapsed = now - bucket.at
        if elapsed > 0.0:
            bucket.at = now
            requests += elapsed * requests_refill
            level += elapsed * tokens_refill
        # Outside the refill: a lowered limit applies at once.
        if requests > requests_cap:
            requests = requests_cap
        if level > tokens_cap:
            level = tokens_cap
        if requests < _ONE or level + EPSILON < tokens:
            if refuse:
                bucket.requests = requests
                bucket.tokens = level
                raise rejection(limit, requests, level, tokens)
            requests, level = _at_least(requests, level, tokens)
        bucket.requests = requests = requests - 1.0
        bucket.tokens = level = level - tokens
        return RateLimitState(
            rpm,
            int(requests + EPSILON),
            (requests_cap - requests) * requests_reset,
            tpm,
            int(level + EPSILON),
            (tokens_cap - level) * tokens_reset,
        )

    def _acquire(self, key: Hashable, limit: RateLimit, tokens: int, now: float, refuse: bool = True) -> RateLimitState:
        """take() in general: a new bucket, or an axis without a limit."""
        if limit.requests_per_minute is None and limit.tokens_per_minute is None:
            return UNLIMITED_STATE
        bucket = self._refilled(key, limit, now)
        requests = bucket.requests
        level = bucket.tokens
        # Both axes fit, or nothing is taken (the Lua script agrees); an axis without a limit holds inf.
        if requests < _ONE or level < tokens - EPSILON:
            if refuse:
                raise rejection(limit, requests, level, tokens)
            requests, level = _at_least(requests, level, tokens)
        bucket.requests = requests = requests - 1
        bucket.tokens = level = level - tokens
        return state_of(limit, requests, level)

    def reconcile(self, key: Hashable, limit: RateLimit, requests: float, tokens: float, now: float) -> None:
        """Set the key's levels to these, as of `now`, within 0..limit (what another store says they are).

        An axis without a limit stays full, whatever the other store says.
        """
        requests_cap, tokens_cap = limit.caps
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(requests_cap, tokens_cap, now)
        bucket.requests = _within(requests, requests_cap)
        bucket.tokens = _within(tokens, tokens_cap)
        bucket.at = now

    def settle(self, key: Hashable, limit: RateLimit, reserved: int, actual: int, now: float | None = None) -> None:
        """Give back `reserved - actual` tokens (or take the excess), keeping the bucket within 0..limit.

        `now` (default: time.monotonic()) is only read to take an excess: giving back needs no clock.
        """
        tpm = limit.tokens_per_minute
        if tpm is None or reserved == actual:
            return
        if reserved > actual:
            bucket = self._buckets.get(key)
            if bucket is not None:  # a missing bucket is full: nothing to give back to
                # Giving back needs no refill first: either way the level ends at
                # min(limit, level + refill + returned), once the next use refills it.
                # Against the float cap: the level stays a float (see take()).
                tokens = bucket.tokens + (reserved - actual)
                tokens_cap = limit.caps[1]
                bucket.tokens = tokens if tokens < tokens_cap else tokens_cap
            return
        bucket = self._refilled(key, limit, time.monotonic() if now is None else now)
        bucket.tokens = min(tpm, max(0.0, bucket.tokens + reserved - actual))

    def reset(self) -> int:
        """Forget every bucket (a missing one is full); returns how many."""
        count = len(self._buckets)
        self._buckets.clear()
        return count

    def _sweep(self, now: float) -> None:
        """Drop the buckets idle long enough to be full: a load test with many API keys must not grow memory."""
        idle = [key for key, bucket in list(self._buckets.items()) if now - bucket.at >= IDLE_S]
        for key in idle:
            self._buckets.pop(key, None)
        self._next_sweep = now + IDLE_S
