"""Legacy Completions with `logprobs: N`: tokens, token_logprobs, top_logprobs and text_offset."""

from __future__ import annotations

import pytest

from tests.conftest import INSTANT

pytestmark = pytest.mark.live
LIVE_SERVERS = ("serve",)

MODEL = "gpt-3.5-turbo-instruct"


def complete(client, stream: bool = False, headers: dict | None = None, **fields):
    fields.setdefault("max_tokens", 12)
    return client.completions.create(
        model=MODEL, stream=stream, extra_headers={**INSTANT, "x-llmsim-seed": "3", **(headers or {})}, **fields
    )


def check_offsets(logprobs, text: str) -> None:
    """Each text_offset is where its token starts in the choice's text (ASCII text here)."""
    ends = [*logprobs.text_offset[1:], len(text)]
    assert [text[start:end] for start, end in zip(logprobs.text_offset, ends, strict=True)] == logprobs.tokens


def test_it_gives_each_token_its_logprob_and_the_most_likely_tokens(client):
    completion = complete(client, prompt="Once upon a time", logprobs=3)
    (choice,) = completion.choices
    logprobs = choice.logprobs
    assert len(logprobs.tokens) == completion.usage.completion_tokens == 12
    assert "".join(logprobs.tokens) == choice.text
    check_offsets(logprobs, choice.text)
    for token, logprob, top in zip(logprobs.tokens, logprobs.token_logprobs, logprobs.top_logprobs, strict=True):
        assert logprob <= 0
        assert len(top) == 3 and top[token] == logprob  # the token itself is the most likely
        assert max(top.values()) == logprob


def test_logprobs_zero_still_gives_each_tokens_own_logprob(client):
    logprobs = complete(client, prompt="Once upon a time", logprobs=0).choices[0].logprobs
    rows = zip(logprobs.tokens, logprobs.token_logprobs, logprobs.top_logprobs, strict=True)
    assert all(top == {token: value} for token, value, top in rows)


def test_an_echoed_prompt_is_scored_too_but_its_first_token(client):
    completion = complete(client, prompt="Once upon a time", echo=True, logprobs=1)
    (choice,) = completion.choices
    logprobs = choice.logprobs
    assert "".join(logprobs.tokens) == choice.text and choice.text.startswith("Once upon a time")
    assert logprobs.tokens[:4] == ["Once", " upon", " a", " time"]
    assert logprobs.token_logprobs[0] is None and logprobs.top_logprobs[0] is None
    assert all(value <= 0 for value in logprobs.token_logprobs[1:])
    assert len(logprobs.tokens) == 4 + completion.usage.completion_tokens
    check_offsets(logprobs, choice.text)


def test_the_stream_carries_the_same_logprobs_chunk_by_chunk(client):
    for fields in ({"logprobs": 2}, {"logprobs": 2, "echo": True}):
        whole = complete(client, prompt="Once upon a time", n=2, **fields)
        chunks = list(complete(client, stream=True, prompt="Once upon a time", n=2, **fields))
        for index, choice in enumerate(whole.choices):
            tokens, values, tops, offsets = [], [], [], []
            for chunk in chunks:
                for part in chunk.choices:
                    if part.index == index and part.logprobs is not None:
                        assert "".join(part.logprobs.tokens) == part.text
                        tokens += part.logprobs.tokens
                        values += part.logprobs.token_logprobs
                        tops += part.logprobs.top_logprobs
                        offsets += part.logprobs.text_offset
            expected = choice.logprobs
            assert (tokens, values, tops, offsets) == (
                expected.tokens,
                expected.token_logprobs,
                expected.top_logprobs,
                expected.text_offset,
            )


def test_a_token_inside_a_character_is_written_as_its_bytes(client):
    logprobs = complete(client, prompt="Earth 🌍", echo=True, max_tokens=1, logprobs=1).choices[0].logprobs
    assert logprobs.tokens[:4] == ["Earth", "bytes: \\xf0\\x9f", "bytes:\\x8c", "bytes:\\x8d"]
    assert logprobs.text_offset[:4] == [0, 5, 6, 6]  # the character starts after the space; its tokens share it
