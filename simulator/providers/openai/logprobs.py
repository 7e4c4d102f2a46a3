"""OpenAI's logprobs shapes, from the engine's TokenLogprobs (simulator/engine/logprobs.py).

- Chat Completions: `choices[].logprobs = {"content": [entry…], "refusal": null}`, an
  entry being `{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}`; in a
  stream each content chunk carries the entries of its own tokens.
- Responses: an `output_text` part's `logprobs` (the chat entry's shape); the stream's
  `response.output_text.delta`/`.done` events carry `{token, logprob, top_logprobs:
  [{token, logprob}]}` (no bytes, as the SDK's types have them).
- Legacy Completions: `{tokens, token_logprobs, top_logprobs: [{token: logprob}],
  text_offset}`; a token that is part of a UTF-8 character is written `bytes:\\xNN…`.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import accumulate, chain
from typing import Any

from simulator.engine.logprobs import token_text
from simulator.engine.types import TokenLogprob
from simulator.server.http import dump_json


def flat(per_piece: Iterable[tuple[TokenLogprob, ...]]) -> list[TokenLogprob]:
    """The entries of every piece, in order."""
    return list(chain.from_iterable(per_piece))


# --- Chat Completions and Responses ------------------------------------------------
# Written as JSON bytes, not dicts: an answer with top_logprobs 20 has 21 entries a token,
# and that many dicts (and lists) a token keep the garbage collector busy for longer than
# the rendering itself takes. What a token contributes is the same wherever it comes.


@lru_cache(maxsize=65_536)  # answers reuse a few thousand tokens
def _token_fields(raw: bytes, with_bytes: bool) -> bytes:
    """`{"token":…,"bytes":[…],"logprob":` for a token (without its bytes for Responses' text events)."""
    fields = {"token": token_text(raw), "bytes": list(raw)} if with_bytes else {"token": token_text(raw)}
    return dump_json(fields)[:-1] + b',"logprob":'


def _entry_json(entry: TokenLogprob, with_bytes: bool) -> bytes:
    top = b",".join(
        _token_fields(raw, with_bytes) + dump_json(logprob) + b"}"
        for raw, logprob in zip(entry.top, entry.top_logprobs, strict=True)
    )
    return _token_fields(entry.raw, with_bytes) + dump_json(entry.logprob) + b',"top_logprobs":[' + top + b"]}"


def entries_json(entries: Iterable[TokenLogprob], with_bytes: bool = True) -> bytes:
    """The entries as a JSON array: `{token, logprob, bytes, top_logprobs}` each (chat, and
    Responses' output_text part), or without bytes (Responses' text events)."""
    return b"[" + b",".join(_entry_json(entry, with_bytes) for entry in entries) + b"]"


def chat_logprobs(entries: Iterable[TokenLogprob]) -> bytes:
    """A chat choice's (or chunk's) `logprobs` object, as JSON."""
    return b'{"content":' + entries_json(entries) + b',"refusal":null}'


# --- legacy Completions ------------------------------------------------------------


def legacy_token(raw: bytes) -> str:
    """A token as the legacy API writes it: its text, or `bytes:\\xNN…` when it is part of a character."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return "bytes:" + token_text(raw)


class LegacyLogprobs:
    """One choice's `logprobs`: the echoed prompt's tokens (if any), then the answer's.

    The first prompt token has no logprob (nothing comes before it), as from OpenAI.
    `text_offset` counts characters of the choice's whole text, echo included.
    """

    def __init__(self, echoed: Sequence[TokenLogprob], per_piece: Sequence[tuple[TokenLogprob, ...]]) -> None:
        self._entries = [*echoed, *flat(per_piece)]
        self._echoed = len(echoed)
        # Where each piece's tokens start in _entries.
        self._starts = list(accumulate((len(piece) for piece in per_piece), initial=self._echoed))
        self._offsets = _text_offsets(entry.raw for entry in self._entries)

    def whole(self) -> dict[str, Any]:
        return self._slice(0, len(self._entries))

    def step(self, step: int, with_echo: bool) -> dict[str, Any]:
        """The logprobs of the piece `step` (with the echoed prompt before it, in the first chunk)."""
        return self._slice(0 if with_echo else self._starts[step], self._starts[step + 1])

    def echo_only(self) -> dict[str, Any]:
        return self._slice(0, self._echoed)

    def _slice(self, start: int, end: int) -> dict[str, Any]:
        entries = self._entries[start:end]
        unscored = 0 if start > 0 or not self._echoed else 1  # the prompt's first token
        return {
            "tokens": [legacy_token(entry.raw) for entry in entries],
            "token_logprobs": [None] * unscored + [entry.logprob for entry in entries[unscored:]],
            "top_logprobs": [None] * unscored + [_top_dict(entry) for entry in entries[unscored:]],
            "text_offset": self._offsets[start:end],
        }


def _top_dict(entry: TokenLogprob) -> dict[str, float]:
    # The token itself is always there, even with logprobs 0.
    top = zip(entry.top, entry.top_logprobs, strict=True)
    return {legacy_token(raw): logprob for raw, logprob in top} or {legacy_token(entry.raw): entry.logprob}


def _text_offsets(tokens: Iterable[bytes]) -> list[int]:
    """The character offset where each token starts; a token that ends inside a character
    and the ones that finish it start at the same offset."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    offsets = []
    characters = 0
    for raw in tokens:
        offsets.append(characters)
        characters += len(decoder.decode(raw))
    return offsets
