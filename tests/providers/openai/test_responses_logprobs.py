"""Responses with `include: ["message.output_text.logprobs"]` and `top_logprobs`."""

from __future__ import annotations

import pytest

from tests.conftest import INSTANT

pytestmark = pytest.mark.live
LIVE_SERVERS = ("serve",)

MODEL = "gpt-4o"
INCLUDE = ["message.output_text.logprobs"]
SEEDED = {**INSTANT, "x-llmsim-seed": "9", "x-llmsim-tokens": "25"}


def test_the_output_text_carries_one_entry_per_token(client):
    response = client.responses.create(
        model=MODEL, input="Tell me something.", include=INCLUDE, top_logprobs=3, store=False, extra_headers=SEEDED
    )
    (part,) = response.output[0].content
    assert len(part.logprobs) == response.usage.output_tokens == 25
    assert "".join(entry.token for entry in part.logprobs) == part.text == response.output_text
    for entry in part.logprobs:
        assert entry.logprob <= 0 and entry.bytes == list(entry.token.encode())
        assert entry.top_logprobs[0].token == entry.token
        values = [other.logprob for other in entry.top_logprobs]
        assert len(values) == 3 and values == sorted(values, reverse=True)
    unasked = client.responses.create(model=MODEL, input="Hi", top_logprobs=3, store=False, extra_headers=SEEDED)
    assert unasked.output[0].content[0].logprobs == []


def test_the_stream_gives_each_delta_its_tokens_logprobs(client):
    whole = client.responses.create(
        model=MODEL, input="Tell me something.", include=INCLUDE, top_logprobs=2, store=False, extra_headers=SEEDED
    )
    expected = [(entry.token, entry.logprob) for entry in whole.output[0].content[0].logprobs]
    deltas = []
    with client.responses.stream(
        model=MODEL, input="Tell me something.", include=INCLUDE, top_logprobs=2, store=False, extra_headers=SEEDED
    ) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                assert "".join(entry.token for entry in event.logprobs) == event.delta
                assert all(len(entry.top_logprobs) == 2 for entry in event.logprobs)
                deltas += [(entry.token, entry.logprob) for entry in event.logprobs]
            elif event.type == "response.output_text.done":
                assert [(entry.token, entry.logprob) for entry in event.logprobs] == expected
        final = stream.get_final_response()
    assert deltas == expected
    assert final.output[0].content[0].logprobs == whole.output[0].content[0].logprobs


def test_a_stored_response_keeps_its_logprobs(client):
    response = client.responses.create(
        model=MODEL, input="Tell me something.", include=INCLUDE, top_logprobs=1, extra_headers=SEEDED
    )
    stored = client.responses.retrieve(response.id)
    assert stored.output[0].content[0].logprobs == response.output[0].content[0].logprobs != []
