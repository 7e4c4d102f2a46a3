"""Chat Completions with `logprobs` / `top_logprobs`, through the openai SDK and raw HTTP."""

from __future__ import annotations

import json
import urllib.request

import openai
import pytest

from tests.conftest import INSTANT, post

pytestmark = pytest.mark.live
LIVE_SERVERS = ("serve",)

MODEL = "gpt-4o"
HI = [{"role": "user", "content": "Tell me something."}]


def ask(client, stream: bool = False, headers: dict | None = None, **fields):
    fields.setdefault("max_tokens", 30)
    return client.chat.completions.create(
        model=MODEL, messages=HI, logprobs=True, stream=stream, extra_headers={**INSTANT, **(headers or {})}, **fields
    )


def streamed_entries(chunks) -> list:
    entries = []
    for chunk in chunks:
        for choice in chunk.choices:
            if choice.logprobs is not None:
                entries += choice.logprobs.content
    return entries


def test_it_gives_one_entry_per_generated_token(client):
    completion = ask(client, top_logprobs=3, seed=1)
    (choice,) = completion.choices
    content = choice.logprobs.content
    assert len(content) == completion.usage.completion_tokens == 30
    assert "".join(entry.token for entry in content) == choice.message.content
    assert choice.logprobs.refusal is None
    for entry in content:
        assert entry.logprob <= 0
        assert entry.bytes == list(entry.token.encode())
        assert len(entry.top_logprobs) == 3
        assert entry.top_logprobs[0].token == entry.token
        values = [other.logprob for other in entry.top_logprobs]
        assert values == sorted(values, reverse=True) and values[0] <= entry.logprob
        assert len({other.token for other in entry.top_logprobs}) == 3
        assert all(other.bytes == list(other.token.encode()) for other in entry.top_logprobs)
    unasked = client.chat.completions.create(model=MODEL, messages=HI, extra_headers=INSTANT)
    assert unasked.choices[0].logprobs is None


def test_it_streams_the_logprobs_it_answers_with_for_the_same_seed(client):
    whole = ask(client, top_logprobs=2, seed=11).choices[0].logprobs.content
    # With no time between tokens, every chunk goes out in one write; with some, one a token.
    batched = streamed_entries(ask(client, stream=True, top_logprobs=2, seed=11))
    paced = streamed_entries(ask(client, stream=True, top_logprobs=2, seed=11, headers={"x-llmsim-tbt-ms": "2"}))
    assert batched == paced == whole


def test_the_seed_header_repeats_the_logprobs_and_another_seed_changes_them(client):
    first = ask(client, top_logprobs=1, headers={"x-llmsim-seed": "5"}).choices[0].logprobs.content
    again = ask(client, top_logprobs=1, headers={"x-llmsim-seed": "5"}).choices[0].logprobs.content
    other = ask(client, top_logprobs=1, headers={"x-llmsim-seed": "6"}).choices[0].logprobs.content
    assert first == again != other


def test_each_chunk_carries_the_logprobs_of_its_own_tokens(llmsim_server):
    body = {
        "model": MODEL,
        "messages": HI,
        "logprobs": True,
        "top_logprobs": 2,
        "stream": True,
        "n": 2,
        "max_tokens": 20,
    }
    request = urllib.request.Request(
        f"{llmsim_server.base_url}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer test", "Content-Type": "application/json", **INSTANT},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        events = [line[6:] for line in response.read().decode().splitlines() if line.startswith("data: ")]
    chunks = [json.loads(event) for event in events[:-1]]
    content_chunks = 0
    for chunk in chunks:
        (choice,) = chunk["choices"]
        delta = choice["delta"]
        if delta.get("content"):
            content_chunks += 1
            assert choice["logprobs"]["refusal"] is None
            assert "".join(entry["token"] for entry in choice["logprobs"]["content"]) == delta["content"]
        else:  # the role and finish chunks
            assert choice["logprobs"] is None
    assert content_chunks == 2 * 20


def test_top_logprobs_needs_logprobs(llmsim_server):
    status, _, body = post(llmsim_server, "/v1/chat/completions", {"model": MODEL, "messages": HI, "top_logprobs": 2})
    assert status == 400
    assert body == {
        "error": {
            "message": "The 'top_logprobs' parameter is only allowed when 'logprobs' is enabled.",
            "type": "invalid_request_error",
            "param": "top_logprobs",
            "code": None,
        }
    }


def test_a_reasoning_model_refuses_logprobs_while_it_reasons(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="o4-mini", messages=HI, logprobs=True, extra_headers=INSTANT)
    assert caught.value.body == {
        "message": "Unsupported parameter: 'logprobs' is not supported with this model.",
        "type": "invalid_request_error",
        "param": "logprobs",
        "code": "unsupported_parameter",
    }
    # gpt-5.1 and later give them with reasoning off.
    completion = client.chat.completions.create(
        model="gpt-5",
        messages=HI,
        logprobs=True,
        reasoning_effort="none",
        max_completion_tokens=5,
        extra_headers=INSTANT,
    )
    assert len(completion.choices[0].logprobs.content) == 5
