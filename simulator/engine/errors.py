"""Error injection: which requests fail, and how."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from simulator.engine.types import InjectedError, StreamFault


@dataclass(frozen=True, slots=True)
class ErrorProfile:
    """Probabilities (0..1) of each injected failure, drawn once per request."""

    rate_limit_rate: float = 0.0
    server_error_rate: float = 0.0
    service_unavailable_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_after_ms: float = 30000.0
    # A timed-out request is answered 504 by default; with this set the connection is
    # closed without an answer instead (what a dying upstream or load balancer does).
    timeout_disconnect: bool = False
    # The retry-after advertised on injected 429/503 answers.
    retry_after_ms: float = 1000.0
    # Mid-stream faults of streamed answers: rates, and after how many tokens they strike.
    disconnect_rate: float = 0.0
    stream_error_rate: float = 0.0
    stall_rate: float = 0.0
    fault_after_tokens: int = 10
    stall_ms: float = 5000.0
    # Whether any error, and any mid-stream fault, can be drawn: worked out once per profile.
    active: bool = field(init=False, repr=False, compare=False)
    faults_active: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        errors = self.rate_limit_rate + self.server_error_rate + self.service_unavailable_rate + self.timeout_rate
        object.__setattr__(self, "active", errors > 0)
        object.__setattr__(self, "faults_active", (self.disconnect_rate + self.stream_error_rate + self.stall_rate) > 0)


NO_ERRORS = ErrorProfile()

# Statuses x-llmsim-error may force.
FORCEABLE_STATUSES = frozenset({400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504, 529})


def pick_error(profile: ErrorProfile, rng: random.Random) -> InjectedError | None:
    """Draw this request's injected error from the profile, or None for a normal answer."""
    if not profile.active:
        return None
    draw = rng.random()
    threshold = profile.rate_limit_rate
    if draw < threshold:
        return InjectedError(429, "rate_limit", retry_after_s=profile.retry_after_ms / 1000.0)
    threshold += profile.server_error_rate
    if draw < threshold:
        return InjectedError(500, "server_error")
    threshold += profile.service_unavailable_rate
    if draw < threshold:
        return InjectedError(503, "service_unavailable", retry_after_s=profile.retry_after_ms / 1000.0)
    threshold += profile.timeout_rate
    if draw < threshold:
        return InjectedError(
            504, "timeout", delay_s=profile.timeout_after_ms / 1000.0, disconnect=profile.timeout_disconnect
        )
    return None


def forced_error(status: int, profile: ErrorProfile = NO_ERRORS) -> InjectedError:
    """The error a request forced with x-llmsim-error: answered at once, with that status."""
    if status not in FORCEABLE_STATUSES:
        raise ValueError(f"cannot force status {status}; choose one of {sorted(FORCEABLE_STATUSES)}")
    retry_after = profile.retry_after_ms / 1000.0 if status in (429, 503, 529) else None
    return InjectedError(status, "forced", retry_after_s=retry_after)


def pick_fault(profile: ErrorProfile, rng: random.Random) -> StreamFault | None:
    """Draw a streamed answer's mid-stream fault from the profile, or None."""
    if not profile.faults_active:
        return None
    draw = rng.random()
    if draw < profile.disconnect_rate:
        return StreamFault("disconnect", profile.fault_after_tokens)
    draw -= profile.disconnect_rate
    if draw < profile.stream_error_rate:
        return StreamFault("error", profile.fault_after_tokens, status=500)
    draw -= profile.stream_error_rate
    if draw < profile.stall_rate:
        return StreamFault("stall", profile.fault_after_tokens, stall_ms=profile.stall_ms)
    return None
