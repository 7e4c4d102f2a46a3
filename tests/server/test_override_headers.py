"""x-llmsim-* headers shape one request without touching the server's settings."""

from __future__ import annotations

import tiktoken

USER = [{"role": "user", "content": "hi"}]


def answer(client, headers, **kwargs):
    return client.chat.completions.create(model="gpt-4o", messages=USER, extra_headers=headers, **kwargs)


def test_tokens_sets_the_answer_length(client):
    completion = answer(client, {"x-llmsim-tokens": "37", "x-llmsim-ttft-ms": "0", "x-llmsim-tbt-ms": "0"})
    assert completion.usage.completion_tokens == 37
    assert len(tiktoken.get_encoding("o200k_base").encode(completion.choices[0].message.content)) == 37


def test_a_seed_repeats_the_answer_and_different_seeds_differ(client):
    instant = {"x-llmsim-ttft-ms": "0", "x-llmsim-tbt-ms": "0"}
    first = answer(client, {**instant, "x-llmsim-seed": "7"}).choices[0].message.content
    again = answer(client, {**instant, "x-llmsim-seed": "7"}).choices[0].message.content
    other = answer(client, {**instant, "x-llmsim-seed": "8"}).choices[0].message.content
    assert first == again
    assert first != other


def test_the_request_seed_field_repeats_the_answer_too(client):
    instant = {"x-llmsim-ttft-ms": "0", "x-llmsim-tbt-ms": "0"}
    first = answer(client, instant, seed=42).choices[0].message.content
    assert answer(client, instant, seed=42).choices[0].message.content == first
    assert answer(client, instant).choices[0].message.content != first
