"""Per-request overrides from x-llmsim-* headers (the same for every provider)."""

from __future__ import annotations

from simulator.engine.errors import FORCEABLE_STATUSES
from simulator.engine.types import Overrides
from simulator.server.http import ProviderError, quoted

NO_OVERRIDES = Overrides()
_MAX_MS = 600_000.0
# As long as the longest real outputs (128k tokens); more would only be a way to exhaust memory.
_MAX_TOKENS = 131_072


def _number(headers: dict[str, str], name: str, low: float, high: float, integer: bool) -> float | int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = None
    if value is None or not (low <= value <= high) or value != value:  # NaN fails the last test
        kind = "an integer" if integer else "a number"
        raise ProviderError(
            400, f"Invalid {name} header: expected {kind} from {low:g} to {high:g}, got {quoted(raw)}.", param=name
        )
    return value


def parse_overrides(headers: dict[str, str]) -> Overrides:
    """Read x-llmsim-ttft-ms, -tbt-ms, -tokens, -seed and -error; 400 when one is malformed."""
    if not any(name.startswith("x-llmsim-") for name in headers):
        return NO_OVERRIDES
    error = _number(headers, "x-llmsim-error", 100, 599, integer=True)
    if error is not None and error not in FORCEABLE_STATUSES:
        statuses = ", ".join(str(s) for s in sorted(FORCEABLE_STATUSES))
        raise ProviderError(400, f"Invalid x-llmsim-error header: {error} cannot be forced; use one of {statuses}.")
    return Overrides(
        ttft_ms=_number(headers, "x-llmsim-ttft-ms", 0, _MAX_MS, integer=False),
        tbt_ms=_number(headers, "x-llmsim-tbt-ms", 0, _MAX_MS, integer=False),
        tokens=_number(headers, "x-llmsim-tokens", 0, _MAX_TOKENS, integer=True),
        seed=_number(headers, "x-llmsim-seed", -(2**63), 2**63 - 1, integer=True),
        error_status=error,
    )
