"""Rate-limit buckets: the math and the in-process store (simulator.engine.ratelimit), on a fake clock,
and the in-process path of simulator.state.buckets."""

from __future__ import annotations

import asyncio
import time

import pytest

from simulator.engine.ratelimit import (
    UNLIMITED_STATE,
    LocalBuckets,
    RateLimit,
    RateLimited,
    duration_header,
    duration_text,
    fresh_state,
    state_of,
    whole_millis,
)
from simulator.providers.openai.errors import ratelimit_headers
from simulator.state import buckets

KEY = "default:abc:gpt-4o"


def refused(buckets: LocalBuckets, limit: RateLimit, tokens: int, now: float) -> RateLimited:
    with pytest.raises(RateLimited) as excinfo:
        buckets.take(KEY, limit, tokens, now)
    return excinfo.value


def test_a_new_bucket_is_full_and_the_state_says_what_is_left():
    state = LocalBuckets().take(KEY, RateLimit(10, 1000), 100, now=0.0)
    assert state.limit_requests == 10
    assert state.remaining_requests == 9
    assert state.reset_requests_s == pytest.approx(6.0)  # one request at 10 per minute
    assert state.limit_tokens == 1000
    assert state.remaining_tokens == 900
    assert state.reset_tokens_s == pytest.approx(6.0)  # 100 tokens at 1000 per minute


def test_it_refuses_the_request_past_the_limit_with_openai_figures():
    buckets, limit = LocalBuckets(), RateLimit(requests_per_minute=3)
    for _ in range(3):
        buckets.take(KEY, limit, 1, now=0.0)
    error = refused(buckets, limit, 1, now=0.0)
    assert (error.which, error.limit, error.used, error.requested) == ("requests", 3, 3, 1)
    assert error.retry_after_s == pytest.approx(20.0)  # one request comes back every 20 s
    assert error.state.remaining_requests == 0
    assert error.state.reset_requests_s == pytest.approx(60.0)


def test_a_refused_request_takes_nothing_from_either_bucket():
    buckets, limit = LocalBuckets(), RateLimit(2, 100)
    buckets.take(KEY, limit, 80, now=0.0)
    error = refused(buckets, limit, 50, now=0.0)
    assert (error.which, error.limit, error.used, error.requested) == ("tokens", 100, 80, 50)
    # The refused request did not spend the last request nor any token.
    state = buckets.take(KEY, limit, 20, now=0.0)
    assert (state.remaining_requests, state.remaining_tokens) == (0, 0)


def test_retry_after_is_when_the_request_fits():
    buckets, limit = LocalBuckets(), RateLimit(tokens_per_minute=600)  # 10 tokens a second
    buckets.take(KEY, limit, 600, now=0.0)
    assert refused(buckets, limit, 100, now=0.0).retry_after_s == pytest.approx(10.0)
    assert refused(buckets, limit, 100, now=9.9).retry_after_s == pytest.approx(0.1)
    assert buckets.take(KEY, limit, 100, now=10.0).remaining_tokens == 0


def test_retry_after_waits_for_the_slower_axis():
    buckets, limit = LocalBuckets(), RateLimit(requests_per_minute=1, tokens_per_minute=600)
    buckets.take(KEY, limit, 600, now=0.0)
    error = refused(buckets, limit, 60, now=0.0)
    # Tokens are back in 6 s, the request in 60 s: both must fit.
    assert error.which == "requests"
    assert error.retry_after_s == pytest.approx(60.0)


def test_a_request_larger_than_the_limit_can_never_be_retried():
    buckets = LocalBuckets()
    error = refused(buckets, RateLimit(10, 1000), 1001, now=0.0)
    assert (error.which, error.limit, error.requested, error.retry_after_s) == ("tokens", 1000, 1001, None)
    assert buckets.take(KEY, RateLimit(10, 1000), 1000, now=0.0).remaining_requests == 9


def test_buckets_refill_continuously_up_to_the_limit():
    buckets, limit = LocalBuckets(), RateLimit(60, 6000)
    for _ in range(60):
        buckets.take(KEY, limit, 100, now=0.0)
    half = buckets.take(KEY, limit, 0, now=30.0)
    assert (half.remaining_requests, half.remaining_tokens) == (29, 3000)
    assert half.reset_requests_s == pytest.approx(31.0)
    full = buckets.take(KEY, limit, 0, now=3600.0)
    assert (full.remaining_requests, full.remaining_tokens) == (59, 6000)
    assert full.reset_tokens_s == 0


def test_settle_gives_back_what_the_answer_did_not_use():
    buckets, limit = LocalBuckets(), RateLimit(tokens_per_minute=1000)
    buckets.take(KEY, limit, 600, now=0.0)  # input + max_tokens reserved
    buckets.settle(KEY, limit, reserved=600, actual=150, now=0.0)
    assert buckets.take(KEY, limit, 0, now=0.0).remaining_tokens == 850


def test_settle_never_fills_a_bucket_past_its_limit():
    buckets, limit = LocalBuckets(), RateLimit(tokens_per_minute=1000)
    buckets.take(KEY, limit, 600, now=0.0)
    buckets.settle(KEY, limit, reserved=600, actual=0, now=30.0)  # 500 refilled meanwhile
    assert buckets.take(KEY, limit, 0, now=30.0).remaining_tokens == 1000


def test_settle_takes_tokens_used_beyond_the_reservation_down_to_empty():
    buckets, limit = LocalBuckets(), RateLimit(tokens_per_minute=1000)
    buckets.take(KEY, limit, 100, now=0.0)
    buckets.settle(KEY, limit, reserved=100, actual=400, now=0.0)
    assert buckets.take(KEY, limit, 0, now=0.0).remaining_tokens == 600
    buckets.settle(KEY, limit, reserved=0, actual=5000, now=0.0)
    assert buckets.take(KEY, limit, 0, now=0.0).remaining_tokens == 0


def test_settle_on_a_forgotten_bucket_changes_nothing():
    buckets, limit = LocalBuckets(), RateLimit(tokens_per_minute=1000)
    buckets.settle(KEY, limit, reserved=500, actual=100, now=0.0)
    assert len(buckets) == 0


def test_unlimited_axes_are_not_counted():
    buckets = LocalBuckets()
    assert buckets.take(KEY, RateLimit(), 10**9, now=0.0) is UNLIMITED_STATE
    assert len(buckets) == 0
    state = buckets.take(KEY, RateLimit(requests_per_minute=2), 10**9, now=0.0)
    assert state == (2, 1, pytest.approx(30.0), None, None, 0.0)
    state = buckets.take(KEY, RateLimit(tokens_per_minute=100), 40, now=0.0)
    assert (state.limit_requests, state.remaining_requests, state.reset_requests_s) == (None, None, 0.0)


def test_a_limit_set_later_on_an_axis_starts_full():
    buckets = LocalBuckets()
    buckets.take(KEY, RateLimit(10, None), 10**9, now=0.0)
    state = buckets.take(KEY, RateLimit(10, 100), 40, now=0.0)
    assert (state.remaining_requests, state.remaining_tokens) == (8, 60)


def test_a_clock_reading_older_than_the_last_take_refills_nothing():
    buckets, limit = LocalBuckets(), RateLimit(60, 600)
    buckets.take(KEY, limit, 100, now=10.0)
    early = buckets.take(KEY, limit, 100, now=5.0)  # a request that arrived before the last one was taken
    assert (early.remaining_requests, early.remaining_tokens) == (58, 400)
    later = buckets.take(KEY, limit, 0, now=11.0)  # a second's refill since the latest take
    assert (later.remaining_requests, later.remaining_tokens) == (58, 410)


def test_a_reported_take_that_fits_counts_as_an_enforced_one():
    limit = RateLimit(10, 1000)
    enforced, reported = LocalBuckets(), LocalBuckets()
    for now, tokens in [(0.0, 300), (1.0, 300), (1.5, 250), (30.0, 0)]:
        assert reported.take(KEY, limit, tokens, now, refuse=False) == enforced.take(KEY, limit, tokens, now)


def test_a_limit_must_be_positive():
    with pytest.raises(ValueError, match="requests_per_minute"):
        RateLimit(requests_per_minute=0)
    with pytest.raises(ValueError, match="tokens_per_minute"):
        RateLimit(tokens_per_minute=-5)


def test_a_lowered_limit_applies_at_once():
    buckets = LocalBuckets()
    buckets.take(KEY, RateLimit(100, 10_000), 10, now=0.0)
    state = buckets.take(KEY, RateLimit(5, 500), 10, now=0.0)
    assert (state.remaining_requests, state.remaining_tokens) == (4, 490)


def test_keys_have_separate_buckets():
    buckets, limit = LocalBuckets(), RateLimit(requests_per_minute=1)
    buckets.take("a", limit, 0, now=0.0)
    buckets.take("b", limit, 0, now=0.0)
    with pytest.raises(RateLimited):
        buckets.take("a", limit, 0, now=0.0)


def test_reset_refills_every_bucket():
    buckets, limit = LocalBuckets(), RateLimit(requests_per_minute=1)
    for key in (("s1", "a", "m"), ("s1", "b", "m"), ("s2", "a", "m")):
        buckets.take(key, limit, 0, now=0.0)
    with pytest.raises(RateLimited):
        buckets.take(("s2", "a", "m"), limit, 0, now=0.0)
    assert buckets.reset() == 3
    assert len(buckets) == 0
    assert buckets.take(("s2", "a", "m"), limit, 0, now=0.0).remaining_requests == 0


def test_idle_buckets_are_forgotten_once_full():
    buckets, limit = LocalBuckets(), RateLimit(requests_per_minute=10)
    for number in range(100):
        buckets.take(f"key-{number}", limit, 0, now=0.0)
    buckets.take("late", limit, 0, now=59.0)
    assert len(buckets) == 101  # not yet full: kept
    buckets.take("later", limit, 0, now=60.5)
    assert len(buckets) == 2  # the 100 idle for a minute are full again: dropped


def test_remaining_is_not_cut_by_float_dust():
    state = state_of(RateLimit(10, 1000), 4.9999999999, 0.1 + 0.2 + 699.7)
    assert (state.remaining_requests, state.remaining_tokens) == (5, 700)


def test_the_state_of_fresh_buckets():
    assert fresh_state(RateLimit(500, 30_000), 1000) == (500, 499, pytest.approx(0.12), 30_000, 29_000, 2.0)
    assert fresh_state(RateLimit(tokens_per_minute=100), 500).remaining_tokens == 0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-1, "0s"),
        (0.0004, "1ms"),  # rounded up: waiting that long is enough
        (0.25, "250ms"),
        (0.1 + 0.2, "300ms"),
        (1, "1s"),
        (1.5, "1.5s"),
        (6.0001, "6.001s"),
        (59.9996, "1m0s"),
        (90.5, "1m30.5s"),
        (360, "6m0s"),
        (3600, "1h0m0s"),
    ],
)
def test_durations_are_written_as_go_does(seconds, text):
    assert duration_text(seconds) == text
    assert duration_header(whole_millis(seconds)) == text.encode()  # the header values, kept apart


def test_openai_headers_say_the_figures_as_openai_writes_them():
    state = state_of(RateLimit(500, 90_000), 499.2, 89_000.5)._replace(reset_requests_s=1.5, reset_tokens_s=0.3)
    assert ratelimit_headers(state) == [
        (b"x-ratelimit-limit-requests", b"500"),
        (b"x-ratelimit-remaining-requests", b"499"),
        (b"x-ratelimit-reset-requests", b"1.5s"),
        (b"x-ratelimit-limit-tokens", b"90000"),
        (b"x-ratelimit-remaining-tokens", b"89000"),
        (b"x-ratelimit-reset-tokens", b"300ms"),
    ]


@pytest.mark.parametrize("resets", [(0.0, 0.0), (0.0004, 59.9996), (1.5, 0.3)])
def test_openai_headers_for_both_limits_are_those_of_each_limit_alone(resets):
    requests_reset, tokens_reset = resets
    both = ratelimit_headers(
        state_of(RateLimit(500, 90_000), 499.2, 89_000.5)._replace(
            reset_requests_s=requests_reset, reset_tokens_s=tokens_reset
        )
    )
    requests = ratelimit_headers(state_of(RateLimit(500, None), 499.2, 0)._replace(reset_requests_s=requests_reset))
    tokens = ratelimit_headers(state_of(RateLimit(None, 90_000), 0, 89_000.5)._replace(reset_tokens_s=tokens_reset))
    assert both == requests + tokens
    assert dict(both)[b"x-ratelimit-remaining-tokens"] == b"89000"
    assert dict(both)[b"x-ratelimit-reset-tokens"] == duration_text(tokens_reset).encode()


def test_settle_after_a_refill_gives_back_no_more_than_the_limit():
    buckets, limit = LocalBuckets(), RateLimit(tokens_per_minute=600)
    buckets.take(KEY, limit, 500, now=0.0)  # 100 left
    buckets.settle(KEY, limit, reserved=500, actual=100, now=30.0)  # +400 back, and 300 refilled by now
    assert buckets.take(KEY, limit, 0, now=30.0).remaining_tokens == 600


def test_bucket_keys_never_hold_the_api_key():
    key = buckets.bucket_key("default", "sk-secret-123", "gpt-4o")
    assert "sk-secret" not in key
    assert key.startswith("default:") and key.endswith(":gpt-4o")
    assert key == buckets.bucket_key("default", "sk-secret-123", "gpt-4o")
    assert key != buckets.bucket_key("default", "sk-secret-124", "gpt-4o")


@pytest.fixture
def in_process(settings):
    settings.REDIS_URL = ""
    asyncio.run(buckets.reset())
    yield
    asyncio.run(buckets.reset())


def test_without_redis_the_buckets_live_in_this_process(in_process):
    limit = RateLimit(requests_per_minute=2, tokens_per_minute=1000)

    async def scenario():
        first = await buckets.acquire(KEY, limit, 600)
        await buckets.settle(KEY, limit, reserved=600, actual=100)
        second = await buckets.acquire(KEY, limit, 100)
        with pytest.raises(RateLimited) as excinfo:
            await buckets.acquire(KEY, limit, 1)
        return first, second, excinfo.value

    first, second, error = asyncio.run(scenario())
    assert (first.remaining_requests, first.remaining_tokens) == (1, 400)
    assert (second.remaining_requests, second.remaining_tokens) == (0, 800)
    assert error.which == "requests"
    assert asyncio.run(buckets.reset()) == 1
    assert asyncio.run(buckets.acquire(KEY, limit, 1)).remaining_requests == 1


def test_the_request_path_takes_in_process_only_without_redis(in_process, settings):
    limit = RateLimit(requests_per_minute=1)
    assert buckets.in_process is not None
    assert buckets.in_process.take(KEY, limit, 0, time.monotonic()).remaining_requests == 0
    with pytest.raises(RateLimited):
        buckets.in_process.take(KEY, limit, 0, time.monotonic())
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    assert buckets.in_process is None  # the request path awaits acquire() instead
    settings.REDIS_URL = ""  # before in_process resets the buckets
    with pytest.raises(RateLimited):  # acquire() takes from the same buckets
        asyncio.run(buckets.acquire(KEY, limit, 0))


def test_an_unlimited_request_touches_no_bucket(in_process):
    assert asyncio.run(buckets.acquire(KEY, RateLimit(), 10**6)) is UNLIMITED_STATE
    assert asyncio.run(buckets.reset()) == 0


def test_a_reported_limit_counts_past_its_limit_without_refusing():
    buckets, limit = LocalBuckets(), RateLimit(3, 1000)
    seen = [buckets.take(KEY, limit, 10, now=0.0, refuse=False) for _ in range(5)]
    assert [state.remaining_requests for state in seen] == [2, 1, 0, 0, 0]
    assert seen[-1].reset_requests_s == pytest.approx(60.0)  # empty: full again a minute later


def test_a_reported_take_stops_each_bucket_at_empty():
    buckets, limit = LocalBuckets(), RateLimit(10, 100)
    assert buckets.take(KEY, limit, 80, now=0.0, refuse=False).remaining_tokens == 20
    state = buckets.take(KEY, limit, 50, now=0.0, refuse=False)
    assert (state.remaining_tokens, state.reset_tokens_s) == (0, pytest.approx(60.0))
    # Refilled from empty, not from below it: half a minute brings half the budget back.
    assert buckets.take(KEY, limit, 0, now=30.0, refuse=False).remaining_tokens == 50


def test_a_reported_take_larger_than_a_new_bucket_empties_it():
    state = LocalBuckets().take(KEY, RateLimit(None, 100), 500, now=0.0, refuse=False)
    assert (state.limit_requests, state.limit_tokens, state.remaining_tokens) == (None, 100, 0)


def test_reconcile_sets_the_levels_another_store_reports_within_the_limit():
    buckets, limit = LocalBuckets(), RateLimit(10, 100)
    buckets.reconcile(KEY, limit, 4.0, 250.0, now=0.0)
    state = buckets.take(KEY, limit, 0, now=0.0)
    assert (state.remaining_requests, state.remaining_tokens) == (3, 100)
    buckets.reconcile(KEY, limit, -2.0, -5.0, now=0.0)
    state = buckets.take(KEY, limit, 0, now=0.0, refuse=False)
    assert (state.remaining_requests, state.remaining_tokens) == (0, 0)
    unlimited_tokens = RateLimit(10, None)
    buckets.reconcile("other", unlimited_tokens, 5.0, -1.0, now=0.0)
    assert buckets.take("other", unlimited_tokens, 10**9, now=0.0).remaining_requests == 4
