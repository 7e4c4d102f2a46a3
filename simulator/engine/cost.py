"""What an answer costs at a model's published prices (USD per million tokens)."""

from __future__ import annotations

from dataclasses import dataclass

PER_MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class Prices:
    """A model's prices in USD per million tokens.

    Cached reads and cache writes without a price of their own cost what the rest of
    the prompt costs (OpenAI and Gemini charge nothing extra for writing a cache).
    """

    input_usd_per_mtok: float
    output_usd_per_mtok: float
    cached_input_usd_per_mtok: float | None = None
    cache_write_usd_per_mtok: float | None = None


def cost_usd(
    prices: Prices, prompt_tokens: int, cached_tokens: int = 0, cache_write_tokens: int = 0, completion_tokens: int = 0
) -> float:
    """The cost of one answer.

    `prompt_tokens` counts the whole prompt, cached reads and cache writes included;
    `completion_tokens` includes reasoning tokens, which are billed as output.
    """
    cached_price = prices.cached_input_usd_per_mtok
    write_price = prices.cache_write_usd_per_mtok
    if cached_price is None:
        cached_price = prices.input_usd_per_mtok
    if write_price is None:
        write_price = prices.input_usd_per_mtok
    uncached = max(0, prompt_tokens - cached_tokens - cache_write_tokens)
    micro = (
        uncached * prices.input_usd_per_mtok
        + cached_tokens * cached_price
        + cache_write_tokens * write_price
        + completion_tokens * prices.output_usd_per_mtok
    )
    return micro / PER_MILLION
