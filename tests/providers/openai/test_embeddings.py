"""Embeddings: deterministic vectors (simulator.engine.embeddings) and POST /v1/embeddings."""

from __future__ import annotations

import base64
import math
import struct
import time

import openai
import pytest

from simulator.engine.embeddings import embedding
from simulator.engine.tokens import count_text, get_encoding
from tests.conftest import INSTANT, post

LIVE_SERVERS = ("serve",)  # the vectors' JSON is the same whatever the server


def test_a_text_always_gets_the_same_unit_vector():
    vector = embedding("hello", 64)
    assert vector == embedding("hello", 64)
    assert len(vector) == 64
    assert math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0)


def test_different_texts_get_unrelated_vectors():
    one, two = embedding("hello", 256), embedding("goodbye", 256)
    assert abs(sum(a * b for a, b in zip(one, two, strict=True))) < 0.3


# --- POST /v1/embeddings through the openai SDK and raw HTTP --------------------------

SMALL = "text-embedding-3-small"


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(v * v for v in vector))


def floats_of(encoded: str) -> list[float]:
    raw = base64.b64decode(encoded)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def test_the_sdk_gets_a_unit_vector_per_input_in_order(client):
    result = client.embeddings.create(model=SMALL, input=["first", "second", "first"], extra_headers=INSTANT)
    first, second, again = (item.embedding for item in result.data)
    assert [item.index for item in result.data] == [0, 1, 2]
    assert len(first) == 1536 and norm(first) == pytest.approx(1.0, abs=1e-5)
    assert first == again != second
    assert result.model == SMALL and result.object == "list"


def test_float_and_base64_carry_the_same_vector(client, llmsim_server):
    # Without encoding_format the SDK asks for base64 and decodes it itself.
    implicit = client.embeddings.create(model=SMALL, input="hello", extra_headers=INSTANT).data[0].embedding
    floats = client.embeddings.create(model=SMALL, input="hello", encoding_format="float", extra_headers=INSTANT)
    encoded = client.embeddings.create(model=SMALL, input="hello", encoding_format="base64", extra_headers=INSTANT)
    assert isinstance(encoded.data[0].embedding, str)  # asked for explicitly: the SDK leaves it as sent
    assert floats_of(encoded.data[0].embedding) == pytest.approx(floats.data[0].embedding, abs=1e-6)
    assert implicit == pytest.approx(floats.data[0].embedding, abs=1e-6)
    body = {"model": SMALL, "input": "hello", "encoding_format": "base64"}
    status, _, payload = post(llmsim_server, "/v1/embeddings", body, INSTANT)
    assert status == 200 and floats_of(payload["data"][0]["embedding"]) == pytest.approx(implicit, abs=1e-6)


def test_raw_requests_get_floats_by_default(llmsim_server):
    status, headers, payload = post(llmsim_server, "/v1/embeddings", {"model": SMALL, "input": "hi"}, INSTANT)
    assert status == 200 and headers["x-request-id"].startswith("req_")
    (item,) = payload["data"]
    assert item["object"] == "embedding" and isinstance(item["embedding"][0], float)


def test_dimensions_shorten_the_vector_and_keep_it_a_unit(client):
    full = client.embeddings.create(model=SMALL, input="cut", extra_headers=INSTANT).data[0].embedding
    short = client.embeddings.create(model=SMALL, input="cut", dimensions=256, extra_headers=INSTANT).data[0]
    assert len(short.embedding) == 256 and norm(short.embedding) == pytest.approx(1.0, abs=1e-5)
    # As with OpenAI's shortened embeddings: the start of the full vector, renormalized.
    scale = norm(full[:256])
    assert short.embedding == pytest.approx([v / scale for v in full[:256]], abs=1e-5)


@pytest.mark.parametrize(("model", "length"), [("text-embedding-3-large", 3072), ("text-embedding-ada-002", 1536)])
def test_each_model_has_its_own_length(client, model, length):
    result = client.embeddings.create(model=model, input="x", extra_headers=INSTANT)
    assert len(result.data[0].embedding) == length


def test_unknown_embedding_models_get_1536_dimensions(llmsim_server):
    _, _, payload = post(llmsim_server, "/v1/embeddings", {"model": "my-embedder", "input": "x"}, INSTANT)
    assert len(payload["data"][0]["embedding"]) == 1536


def test_token_arrays_embed_like_the_text_they_spell(client):
    tokens = get_encoding("cl100k_base").encode("hello world")
    by_text = client.embeddings.create(model=SMALL, input="hello world", extra_headers=INSTANT).data[0].embedding
    one = client.embeddings.create(model=SMALL, input=tokens, extra_headers=INSTANT)
    many = client.embeddings.create(model=SMALL, input=[tokens, tokens[:1]], extra_headers=INSTANT)
    assert one.data[0].embedding == by_text == many.data[0].embedding
    assert len(many.data) == 2
    assert one.usage.prompt_tokens == len(tokens) and many.usage.prompt_tokens == len(tokens) + 1


def test_usage_counts_every_input_with_the_models_vocabulary(client):
    texts = ["The quick brown fox", "jumps over the lazy dog", "héllo wörld 👋"]
    result = client.embeddings.create(model=SMALL, input=texts, extra_headers=INSTANT)
    expected = sum(count_text(text, "cl100k_base") for text in texts)
    assert result.usage.prompt_tokens == result.usage.total_tokens == expected


def test_the_answer_waits_for_the_time_to_first_token(client):
    started = time.monotonic()
    client.embeddings.create(model=SMALL, input="slow", extra_headers={"x-llmsim-ttft-ms": "300"})
    assert 0.28 <= time.monotonic() - started < 2.0


def test_injected_errors_reach_embeddings(client):
    with pytest.raises(openai.RateLimitError) as raised:
        client.embeddings.create(model=SMALL, input="x", extra_headers={**INSTANT, "x-llmsim-error": "429"})
    assert raised.value.response.headers["retry-after"]


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"model": SMALL}, "input", "missing_required_parameter"),
        ({"input": "x"}, None, None),
        ({"model": SMALL, "input": ""}, "input", None),
        ({"model": SMALL, "input": []}, "input", None),
        ({"model": SMALL, "input": [[]]}, "input", None),
        ({"model": SMALL, "input": ["ok", ""]}, "input", None),
        ({"model": SMALL, "input": 42}, "input", "invalid_type"),
        ({"model": SMALL, "input": ["ok", 42]}, "input[1]", "invalid_type"),
        ({"model": SMALL, "input": [[1, 2], [3, "x"]]}, "input[1][1]", "invalid_type"),
        ({"model": SMALL, "input": [[1, 2.5]]}, "input[0][1]", "invalid_type"),
        ({"model": SMALL, "input": [1, -5]}, "input[1]", "invalid_value"),
        ({"model": SMALL, "input": ["x"] * 2049}, "input", "array_above_max_length"),
        ({"model": SMALL, "input": "word " * 9000}, "input", "context_length_exceeded"),
        ({"model": SMALL, "input": "x", "dimensions": 2000}, "dimensions", "integer_above_max_value"),
        ({"model": SMALL, "input": "x", "dimensions": 0}, "dimensions", "integer_below_min_value"),
        ({"model": SMALL, "input": "x", "dimensions": "8"}, "dimensions", "invalid_type"),
        ({"model": "text-embedding-ada-002", "input": "x", "dimensions": 8}, "dimensions", None),
        ({"model": SMALL, "input": "x", "encoding_format": "hex"}, "encoding_format", "invalid_value"),
    ],
)
def test_bad_requests_get_openais_400(llmsim_server, body, param, code):
    status, _, payload = post(llmsim_server, "/v1/embeddings", body, INSTANT)
    assert status == 400
    error = payload["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["code"] == code
    assert error["message"]


def test_the_sdk_raises_bad_request_for_an_empty_input(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.embeddings.create(model=SMALL, input="", extra_headers=INSTANT)
    assert raised.value.param == "input"
