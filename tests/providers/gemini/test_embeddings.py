"""embedContent and batchEmbedContents: deterministic unit vectors per text."""

from __future__ import annotations

import math

import pytest
from google.genai import errors, types

from tests.conftest import INSTANT, post

LIVE_SERVERS = ("serve",)  # the vectors' JSON is the same whatever the server

MODEL = "gemini-embedding-001"
HEADERS = {"x-goog-api-key": "test", **INSTANT}


def norm(values: list[float]) -> float:
    return math.sqrt(sum(v * v for v in values))


def test_the_sdk_gets_one_unit_vector_per_text(genai_client):
    result = genai_client.models.embed_content(model=MODEL, contents=["first", "second", "first"])
    first, second, again = (embedding.values for embedding in result.embeddings)
    assert len(first) == 3072
    assert first == again != second
    assert norm(first) == pytest.approx(1.0) and norm(second) == pytest.approx(1.0)


def test_output_dimensionality_sets_the_length(genai_client):
    config = types.EmbedContentConfig(output_dimensionality=8)
    (embedding,) = genai_client.models.embed_content(model=MODEL, contents="hi", config=config).embeddings
    assert len(embedding.values) == 8 and norm(embedding.values) == pytest.approx(1.0)


def test_embed_content_answers_one_embedding(llmsim_server):
    body = {"content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 4}
    status, _, payload = post(llmsim_server, f"/v1beta/models/{MODEL}:embedContent", body, HEADERS)
    assert status == 200 and len(payload["embedding"]["values"]) == 4


def test_older_embedding_models_have_768_dimensions(llmsim_server):
    body = {"content": {"parts": [{"text": "hello"}]}}
    _, _, payload = post(llmsim_server, "/v1beta/models/text-embedding-004:embedContent", body, HEADERS)
    assert len(payload["embedding"]["values"]) == 768


def test_too_many_dimensions_is_a_400(genai_client):
    with pytest.raises(errors.ClientError) as raised:
        genai_client.models.embed_content(
            model=MODEL, contents="hi", config=types.EmbedContentConfig(output_dimensionality=5000)
        )
    assert raised.value.code == 400 and "output_dimensionality" in raised.value.message


def test_forced_errors_reach_embeddings_too(genai_client):
    config = types.EmbedContentConfig(http_options=types.HttpOptions(headers={**INSTANT, "x-llmsim-error": "503"}))
    with pytest.raises(errors.ServerError):
        genai_client.models.embed_content(model=MODEL, contents="hi", config=config)
