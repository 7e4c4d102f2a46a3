"""Per-request overrides from x-llmsim-* headers (the same for every provider)."""

from __future__ import annotations

from collections.abc import Mapping

from simulator.engine.errors import FORCEABLE_STATUSES
from simulator.engine.types import Overrides
from simulator.server.http import ProviderError, quoted

NO_OVERRIDES = Overrides()
_MAX_MS = 600_000.0
# As long as the longest real outputs (128k tokens); more would only be a way to exhaust memory.
_MAX_TOKENS = 131_072

# Each header: the Overrides field it sets, its range, and whether it is an integer.
_HEADERS = {
    "x-llmsim-error": ("error_status", 100, 599, True),
    "x-llmsim-ttft-ms": ("ttft_ms", 0, _MAX_MS, False),
    "x-llmsim-tbt-ms": ("tbt_ms", 0, _MAX_MS, False),
    "x-llmsim-tokens": ("tokens", 0, _MAX_TOKENS, True),
    "x-llmsim-seed": ("seed", -(2**63), 2**63 - 1, True),
}


def _number(name: str, raw: str, low: float, high: float, integer: bool) -> float | int:
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


def parse_overrides(headers: Mapping[str, str]) -> Overrides:
    """Read x-llmsim-ttft-ms, -tbt-ms, -tokens, -seed and -error; 400 when one is malformed."""
    values = {}
    for name, (field, low, high, integer) in _HEADERS.items():
        raw = headers.get(name)
        if raw is not None:
            values[field] = _number(name, raw, low, high, integer)
    if not values:
        return NO_OVERRIDES
    error = values.get("error_status")
    if error is not None and error not in FORCEABLE_STATUSES:
        statuses = ", ".join(str(s) for s in sorted(FORCEABLE_STATUSES))
        raise ProviderError(400, f"Invalid x-llmsim-error header: {error} cannot be forced; use one of {statuses}.")
    return Overrides(**values)
