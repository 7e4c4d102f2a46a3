"""Generators: the text a simulated model answers with, cut into streamable tokens.

`generate()` is the one entry point: it picks the text (lorem, echo, random words,
fixed), measures it with the model's tokenizer, applies the target length,
`max_tokens` and stop sequences, and returns a ChoicePlan whose pieces are the
decoded tokens (one content delta each when streamed).

lorem and random answers are cut from a corpus tokenized once per process (see
`Corpus`), so an answer costs a slice, not a tokenizer run.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from simulator.engine.tokens import encode, get_encoding
from simulator.engine.types import ChoicePlan, Message

GENERATORS = ("lorem", "echo", "random", "fixed")

LOREM_WORDS = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore "
    "et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip "
    "ex ea commodo consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat nulla "
    "pariatur excepteur sint occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim "
    "id est laborum"
).split()

RANDOM_WORDS = (
    "the model answer system request token stream latency test load agent tool result value number "
    "data server client network time first second response message simple quick steady large small "
    "green blue river mountain city window garden paper signal pattern measure report balance option "
    "question answer reason because before after while during across between within without around "
    "people market energy history science music travel weather morning evening planet ocean forest "
    "build check write read count send receive start finish open close update change return choose "
    "clear bright quiet careful useful common modern early later often always never usually maybe"
).split()


def last_user_text(messages: Sequence[Message]) -> str:
    """The content of the last user message ("" when there is none)."""
    for message in reversed(messages):
        if message.role == "user":
            return message.content
    return ""


def _words_text(rng: random.Random, words: Sequence[str], word_count: int, sentence_words: int) -> str:
    """Sentences of random words: capitalised, ending with a full stop every few words."""
    chosen = rng.choices(words, k=word_count)
    at = 0
    while at < word_count:
        end = min(at + rng.randint(sentence_words, 2 * sentence_words), word_count)
        chosen[at] = chosen[at].capitalize()
        chosen[end - 1] += "."
        at = end
    return " ".join(chosen)


def source_text(kind: str, rng: random.Random, target_tokens: int, messages: Sequence[Message], fixed_text: str) -> str:
    """The text a generator says before any length limit is applied."""
    if kind == "echo":
        return last_user_text(messages)
    if kind == "fixed":
        return fixed_text
    words = LOREM_WORDS if kind == "lorem" else RANDOM_WORDS
    # Both vocabularies average under two tokens a word; the caller trims to the target.
    return _words_text(rng, words, max(target_tokens, 1) + 8, 5 if kind == "lorem" else 7)


# Words in the corpus (about 16k tokens of lorem): variety enough, built in well under a second.
_CORPUS_WORDS = 8_000


@dataclass(frozen=True, slots=True)
class Corpus:
    """Sentences of random words, tokenized once, split into pre-tokenizer chunks.

    A chunk is one word with its leading space, or a full stop. BPE never merges across
    chunk boundaries, so any run of whole chunks re-encodes to exactly its own tokens:
    an answer cut at chunk boundaries has exactly the token count it reports.
    """

    flat: tuple[str, ...]  # every chunk's token pieces, in order
    offsets: tuple[int, ...]  # offsets[c] = index in `flat` where chunk c starts; one extra at the end
    sentence_starts: tuple[int, ...]  # chunks that begin a sentence
    opening: dict[int, tuple[str, ...]]  # a sentence-starting chunk's pieces without its leading space
    filler: str  # a one-token word that pads an answer to the exact length

    @property
    def chunk_count(self) -> int:
        return len(self.offsets) - 1


@cache
def corpus(kind: str, encoding: str) -> Corpus:
    """The corpus of `kind` (lorem or random) in `encoding`; the same in every process."""
    enc = get_encoding(encoding)
    words = LOREM_WORDS if kind == "lorem" else RANDOM_WORDS
    text = _words_text(random.Random(f"llmsim-{kind}"), words, _CORPUS_WORDS, 5 if kind == "lorem" else 7)
    pieces_of = cache(lambda chunk: tuple(enc.decode(list(t)) for t in ((tok,) for tok in enc.encode_ordinary(chunk))))
    flat: list[str] = []
    offsets: list[int] = []
    starts: list[int] = []
    opening: dict[int, tuple[str, ...]] = {}
    sentence_start = True
    for word in text.split(" "):
        chunks = [" " + word[:-1], "."] if word.endswith(".") else [" " + word]
        for chunk in chunks:
            if sentence_start and chunk != ".":
                starts.append(len(offsets))
                opening[len(offsets)] = pieces_of(chunk[1:])
                sentence_start = False
            offsets.append(len(flat))
            flat.extend(pieces_of(chunk))
        sentence_start = word.endswith(".")
    offsets.append(len(flat))
    filler = next(" " + w for w in words if len(pieces_of(" " + w)) == 1)
    return Corpus(tuple(flat), tuple(offsets), tuple(starts), opening, filler)


def from_corpus(kind: str, encoding: str, rng: random.Random, count: int) -> list[str]:
    """Exactly `count` token pieces of `kind` text, starting at a random sentence."""
    text = corpus(kind, encoding)
    start = rng.choice(text.sentence_starts)
    pieces = list(text.opening[start][:count])
    chunk = start + 1
    while len(pieces) < count:
        if chunk >= text.chunk_count:  # wrap: answers longer than the corpus repeat it
            chunk = 0
        base = text.offsets[chunk]
        # The last chunk that still fits whole (offsets are cumulative token counts).
        end = bisect_right(text.offsets, base + count - len(pieces), lo=chunk) - 1
        if end <= chunk:
            break
        pieces.extend(text.flat[base : text.offsets[end]])
        chunk = end
    pieces.extend([text.filler] * (count - len(pieces)))
    return pieces


def warm_up(encodings: Sequence[str]) -> None:
    """Build every corpus now, so that no request pays for it."""
    for encoding in encodings:
        for kind in ("lorem", "random"):
            corpus(kind, encoding)


def token_pieces(tokens: Sequence[int], encoding: str) -> tuple[list[str], list[int]]:
    """Decode tokens one by one; a token that ends inside a UTF-8 character joins the next.

    Returns the text pieces and, for each piece, how many tokens it holds.
    """
    pieces: list[str] = []
    counts: list[int] = []
    pending = b""
    pending_count = 0
    for raw in get_encoding(encoding).decode_tokens_bytes(list(tokens)):
        pending += raw
        pending_count += 1
        try:
            text = pending.decode()
        except UnicodeDecodeError as exc:
            if exc.reason == "unexpected end of data":
                continue  # the character goes on in the next token
            text = pending.decode(errors="replace")
        pieces.append(text)
        counts.append(pending_count)
        pending, pending_count = b"", 0
    if pending_count:
        pieces.append(pending.decode(errors="replace"))
        counts.append(pending_count)
    return pieces, counts


def _cut_at_stop(pieces: list[str], counts: list[int], stop: Sequence[str]) -> tuple[list[str], list[int], str | None]:
    """Cut the pieces before the earliest stop sequence; the stop text itself is not returned.

    Also returns the stop sequence that cut (None when none occurs).
    """
    text = "".join(pieces)
    found = [(at, sequence) for sequence in stop if sequence and (at := text.find(sequence)) >= 0]
    if not found:
        return pieces, counts, None
    cut, matched = min(found, key=lambda hit: hit[0])
    kept: list[str] = []
    kept_counts: list[int] = []
    at = 0
    for piece, count in zip(pieces, counts, strict=True):
        if at >= cut:
            break
        part = piece[: cut - at]
        kept.append(part)
        kept_counts.append(count)
        at += len(piece)
    return kept, kept_counts, matched


def generate(
    kind: str,
    rng: random.Random,
    *,
    target_tokens: int,
    messages: Sequence[Message] = (),
    fixed_text: str = "",
    encoding: str = "o200k_base",
    max_tokens: int | None = None,
    stop: Sequence[str] = (),
) -> ChoicePlan:
    """One choice's answer: text pieces, finish reason ("stop"/"length") and token count.

    lorem and random produce exactly `target_tokens` tokens; echo and fixed say their
    whole text. `max_tokens` (None: no cap) cuts with finish_reason "length"; a stop
    sequence cuts with "stop".
    """
    if kind not in GENERATORS:
        raise ValueError(f"unknown generator {kind!r}; known: {', '.join(GENERATORS)}")
    finish_reason = "stop"
    if kind in ("lorem", "random"):
        count = target_tokens
        if max_tokens is not None and max_tokens < target_tokens:
            count, finish_reason = max(max_tokens, 0), "length"
        pieces = from_corpus(kind, encoding, rng, count)
        counts = None  # a corpus piece is one token
    else:
        text = source_text(kind, rng, target_tokens, messages, fixed_text)
        if max_tokens is None:
            tokens = encode(text, encoding)
        else:
            # One token past the cap tells that the text was cut; the rest is never encoded.
            tokens = encode(text, encoding, limit=max(max_tokens, 0) + 1)
            if len(tokens) > max_tokens:
                tokens = tokens[: max(max_tokens, 0)]
                finish_reason = "length"
        pieces, counts = token_pieces(tokens, encoding)
    matched = None
    if stop:
        pieces, counts, matched = _cut_at_stop(pieces, counts or [1] * len(pieces), stop)
        if matched is not None:
            finish_reason = "stop"
    tokens = len(pieces) if counts is None else sum(counts)
    return ChoicePlan(
        pieces=tuple(pieces), finish_reason=finish_reason, completion_tokens=tokens, stop_sequence=matched
    )
