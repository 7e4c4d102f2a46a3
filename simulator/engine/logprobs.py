"""Log probabilities of an answer's tokens, as a confident language model reports them.

No model runs, so the numbers are drawn: most tokens close to 0 (the model was sure of
them), some lower (where a sentence could go several ways). At each position the most
likely tokens are the chosen one first, then real tokens of the model's vocabulary that
it might have said instead (the same word with another casing or without its space,
common words), less likely, their probabilities adding up with the chosen one's to less
than 1.

`answer_logprobs()` draws them for a choice's pieces, `text_logprobs()` for a text (an
echoed prompt). Both consume one random source token by token, in order: with a seeded
source the numbers repeat exactly, whatever way a stream is later cut into writes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from functools import cache, lru_cache

import tiktoken

from simulator.engine.tokens import encode, get_encoding
from simulator.engine.types import TokenLogprob

# How sure the model is: this share of tokens is "sure" (-logprob drawn from an
# exponential of the mean below: -0.02 typical, rarely past -0.1); the rest are
# uncertain, with -logprob anywhere in the range.
_SURE_SHARE = 0.8
_SURE_MEAN = 0.02
_UNSURE_RANGE = (0.2, 2.5)
# A chosen token's logprob is never exactly 0: some probability is always left over
# for the alternatives.
_CLOSEST_TO_ZERO = 1e-7
# Each alternative takes this share (drawn) of the probability the ones before it left.
_ALTERNATIVE_SHARE = (0.3, 0.8)

# Words any English text might go on with: alternatives at every position, beyond the
# variants of the chosen word. Each is one token in both vocabularies.
_COMMON = (
    " the", " a", " and", " of", " to", " in", " is", " that", " it", " for", " with", " as",
    " on", " this", " be", " was", " are", " or", " an", " by", " not", " at", " from", " but",
    " which", " we", " you", " they", " can", " more", " also", " one", " all", " so", " its",
    " has", " have", " will", ",", ".", "\n", "\n\n", ":", ";", " (", "-", " -", "'s",
)  # fmt: skip


def token_text(raw: bytes) -> str:
    """A token as text; the bytes of a partial UTF-8 character as `\\xNN` escapes, as OpenAI sends them."""
    return raw.decode("utf-8", errors="backslashreplace")


def answer_logprobs(
    pieces: Sequence[str], encoding: str, rng: random.Random, top: int
) -> tuple[tuple[TokenLogprob, ...], ...]:
    """For each piece of an answer, the logprobs of its tokens, each with `top` most likely tokens.

    A piece is one token of the vocabulary, or a few that together spell a character
    (a token that ends inside a UTF-8 character is sent with the next one).
    """
    enc = get_encoding(encoding)
    return tuple(tuple(_logprob(raw, encoding, rng, top) for raw in _piece_tokens(piece, enc)) for piece in pieces)


def text_logprobs(text: str, encoding: str, rng: random.Random, top: int) -> tuple[TokenLogprob, ...]:
    """The logprobs of every token of `text`."""
    raws = get_encoding(encoding).decode_tokens_bytes(encode(text, encoding))
    return tuple(_logprob(raw, encoding, rng, top) for raw in raws)


def _piece_tokens(piece: str, enc: tiktoken.Encoding) -> list[bytes]:
    """The tokens of a piece, as bytes: itself when it is one token of the vocabulary."""
    raw = piece.encode()
    try:
        enc.encode_single_token(raw)
        return [raw]
    except KeyError:  # a character spelled by several tokens, or a piece a stop sequence cut short
        return [enc.decode_single_token_bytes(token) for token in enc.encode_ordinary(piece)]


def _logprob(raw: bytes, encoding: str, rng: random.Random, top: int) -> TokenLogprob:
    if rng.random() < _SURE_SHARE:
        logprob = -max(rng.expovariate(1 / _SURE_MEAN), _CLOSEST_TO_ZERO)
    else:
        logprob = -rng.uniform(*_UNSURE_RANGE)
    if top == 0:
        return TokenLogprob(raw, logprob)
    others = _alternatives(raw, encoding, rng, top - 1)
    return TokenLogprob(raw, logprob, (raw, *others), (logprob, *_lower_logprobs(logprob, len(others), rng)))


def _alternatives(raw: bytes, encoding: str, rng: random.Random, count: int) -> tuple[bytes, ...]:
    """`count` distinct tokens other than `raw`: its variants first, then common words."""
    variants, common = _candidates(raw, encoding)
    if len(variants) >= count:
        return variants[:count]
    # A run of the (shuffled) common words from a drawn start: one draw, not one a word.
    start = rng.randrange(len(common))
    words = (common[start:] + common[:start])[: count - len(variants)]
    return variants + words


def _lower_logprobs(logprob: float, count: int, rng: random.Random) -> list[float]:
    """`count` logprobs, in descending order, all below `logprob`; with it, they add up to under 1."""
    left = max(-math.expm1(logprob), _CLOSEST_TO_ZERO)  # the probability the chosen token leaves
    low, high = _ALTERNATIVE_SHARE
    probabilities = []
    for draw in (rng.random() for _ in range(count)):
        share = left * (low + (high - low) * draw)
        probabilities.append(share)
        left -= share
    probabilities.sort(reverse=True)
    chosen = math.exp(logprob)
    if probabilities and probabilities[0] >= chosen:
        # An uncertain token leaves more than it has: scale the others below it (it
        # stays the most likely, as when a model picks its best guess).
        scale = chosen * rng.uniform(0.5, 0.95) / probabilities[0]
        probabilities = [p * scale for p in probabilities]
    return [math.log(p) for p in probabilities]


@lru_cache(maxsize=65_536)  # answers reuse a few thousand tokens; the vocabularies hold 200k
def _candidates(raw: bytes, encoding: str) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """The alternatives to `raw`: its variants, and the common words that are neither it nor one."""
    variants = _variants(raw, encoding)
    return variants, tuple(word for word in _common(encoding) if word != raw and word not in variants)


def _variants(raw: bytes, encoding: str) -> tuple[bytes, ...]:
    """Tokens a model weighs against `raw`: the same word with or without its space, in other
    casings, or cut shorter; only those that are tokens of the vocabulary."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return ()
    word = text.lstrip(" ")
    if not word.strip():
        return ()
    forms = (
        f" {word}",
        word,
        f" {word.capitalize()}",
        word.capitalize(),
        f" {word.lower()}",
        word.lower(),
        text[:-1],
        text[:-2],
    )
    enc = get_encoding(encoding)
    # dict.fromkeys: distinct, in a fixed order (a set's order changes from process to process).
    return tuple(form.encode() for form in dict.fromkeys(forms) if form and form != text and _is_token(enc, form))


@cache
def _common(encoding: str) -> tuple[bytes, ...]:
    """The common words of the vocabulary, in an order of their own (so a run of them is no phrase)."""
    enc = get_encoding(encoding)
    words = [word.encode() for word in _COMMON if _is_token(enc, word)]
    random.Random(f"llmsim-common-{encoding}").shuffle(words)
    return tuple(words)


def _is_token(enc: tiktoken.Encoding, text: str) -> bool:
    try:
        enc.encode_single_token(text.encode())
    except KeyError:
        return False
    return True
