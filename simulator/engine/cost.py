"""What an answer costs at a model's published prices (USD per million tokens)."""

from __future__ import annotations

from dataclasses import dataclass

PER_MILLION = 1_000_000
# Anthropic bills a one-hour cache write at twice the base input price (a five-minute one
# at the profile's cache write price, 1.25 times): the profile has one write price, the
# hour's follows the input price.
HOUR_WRITE_INPUT_MULTIPLIER = 2.0


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
    prices: Prices,
    prompt_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
    completion_tokens: int = 0,
    cache_write_1h_tokens: int = 0,
) -> float:
    """The cost of one answer.

    `prompt_tokens` counts the whole prompt, cached reads and cache writes included;
    `cache_write_1h_tokens` are the part of `cache_write_tokens` written for an hour;
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
        + (cache_write_tokens - cache_write_1h_tokens) * write_price
        + cache_write_1h_tokens * prices.input_usd_per_mtok * HOUR_WRITE_INPUT_MULTIPLIER
        + completion_tokens * prices.output_usd_per_mtok
    )
    return micro / PER_MILLION
