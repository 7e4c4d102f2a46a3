"""Gemini's implicit caching through the google-genai SDK: a repeated prefix is reported in
usageMetadata.cachedContentTokenCount, part of promptTokenCount."""

from __future__ import annotations

import uuid

import pytest
from google.genai import types

pytestmark = pytest.mark.live
LIVE_SERVERS = ("serve",)


def generate(client, model: str, instruction: str, question: str):
    return client.models.generate_content(
        model=model,
        contents=question,
        config=types.GenerateContentConfig(system_instruction=instruction, max_output_tokens=5),
    )


def long_instruction() -> str:
    return f"Case {uuid.uuid4().hex}. " + "The quick brown fox jumps over the lazy dog. " * 250  # ~2,500 tokens


def test_a_repeated_prefix_is_read_from_the_implicit_cache(genai_client):
    instruction = long_instruction()
    first = generate(genai_client, "gemini-2.5-flash", instruction, "What is this?")
    second = generate(genai_client, "gemini-2.5-flash", instruction, "And now?")
    assert not first.usage_metadata.cached_content_token_count
    cached = second.usage_metadata.cached_content_token_count
    assert 2048 <= cached < second.usage_metadata.prompt_token_count


def test_a_prefix_below_the_models_minimum_is_not_cached(genai_client):
    instruction = f"Case {uuid.uuid4().hex}. " + "The quick brown fox jumps over the lazy dog. " * 120  # ~1,200
    for _ in range(2):
        answer = generate(genai_client, "gemini-2.5-flash", instruction, "What is this?")
        assert not answer.usage_metadata.cached_content_token_count
