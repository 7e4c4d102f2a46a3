"""Error injection (simulator.engine.errors)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from simulator.engine.errors import FORCEABLE_STATUSES, ErrorProfile, forced_error, pick_error

DRAWS = 10_000


def kinds(profile: ErrorProfile, draws: int = DRAWS, seed: int = 1) -> Counter:
    rng = random.Random(seed)
    return Counter(getattr(pick_error(profile, rng), "kind", None) for _ in range(draws))


def test_it_never_fails_with_zero_rates():
    profile = ErrorProfile()
    assert not profile.active
    assert kinds(profile, 1000) == Counter({None: 1000})


@pytest.mark.parametrize(
    ("rate_field", "kind", "status"),
    [
        ("rate_limit_rate", "rate_limit", 429),
        ("server_error_rate", "server_error", 500),
        ("service_unavailable_rate", "service_unavailable", 503),
        ("timeout_rate", "timeout", 504),
    ],
)
def test_it_always_fails_with_a_rate_of_one(rate_field, kind, status):
    profile = ErrorProfile(**{rate_field: 1.0})
    rng = random.Random(0)
    errors = [pick_error(profile, rng) for _ in range(1000)]
    assert {(error.kind, error.status) for error in errors} == {(kind, status)}


def test_it_fails_in_the_configured_proportions():
    profile = ErrorProfile(
        rate_limit_rate=0.10, server_error_rate=0.05, service_unavailable_rate=0.02, timeout_rate=0.08
    )
    counts = kinds(profile)
    # Binomial standard deviations are at most 0.3 % here: 1.5 % is a very loose bound.
    assert counts["rate_limit"] / DRAWS == pytest.approx(0.10, abs=0.015)
    assert counts["server_error"] / DRAWS == pytest.approx(0.05, abs=0.015)
    assert counts["service_unavailable"] / DRAWS == pytest.approx(0.02, abs=0.015)
    assert counts["timeout"] / DRAWS == pytest.approx(0.08, abs=0.015)
    assert counts[None] / DRAWS == pytest.approx(0.75, abs=0.015)


def test_it_draws_the_same_errors_for_the_same_seed():
    profile = ErrorProfile(rate_limit_rate=0.3, server_error_rate=0.3)

    def sequence(seed: int) -> list:
        rng = random.Random(seed)
        return [pick_error(profile, rng) for _ in range(100)]

    assert sequence(5) == sequence(5)
    assert sequence(5) != sequence(6)


@pytest.mark.parametrize("disconnect", [False, True])
def test_a_timeout_carries_its_delay_and_disconnect_flag(disconnect):
    profile = ErrorProfile(timeout_rate=1.0, timeout_after_ms=2500, timeout_disconnect=disconnect)
    error = pick_error(profile, random.Random(0))
    assert error.kind == "timeout"
    assert error.delay_s == 2.5
    assert error.disconnect is disconnect


@pytest.mark.parametrize("rate_field", ["rate_limit_rate", "service_unavailable_rate"])
def test_throttling_errors_carry_retry_after(rate_field):
    profile = ErrorProfile(retry_after_ms=1500, **{rate_field: 1.0})
    assert pick_error(profile, random.Random(0)).retry_after_s == 1.5


def test_server_errors_carry_no_retry_after():
    profile = ErrorProfile(server_error_rate=1.0, retry_after_ms=1500)
    error = pick_error(profile, random.Random(0))
    assert error.retry_after_s is None
    assert error.delay_s == 0
    assert not error.disconnect


@pytest.mark.parametrize("status", sorted(FORCEABLE_STATUSES))
def test_it_forces_any_forceable_status(status):
    error = forced_error(status)
    assert error.status == status
    assert error.kind == "forced"
    assert error.delay_s == 0


@pytest.mark.parametrize("status", [0, 200, 201, 302, 418, 599, 600, 999, -1])
def test_it_refuses_to_force_other_statuses(status):
    assert status not in FORCEABLE_STATUSES
    with pytest.raises(ValueError, match=str(status)):
        forced_error(status)


@pytest.mark.parametrize("status", [429, 503])
def test_a_forced_throttling_error_carries_retry_after(status):
    assert forced_error(status, ErrorProfile(retry_after_ms=2000)).retry_after_s == 2.0
    assert forced_error(status).retry_after_s == pytest.approx(ErrorProfile().retry_after_ms / 1000)


@pytest.mark.parametrize("status", [400, 401, 404, 500, 502, 504])
def test_other_forced_errors_carry_no_retry_after(status):
    assert forced_error(status, ErrorProfile(retry_after_ms=2000)).retry_after_s is None
