"""Anthropic's prompt caching through the anthropic SDK: cache_control breakpoints write
and read, input_tokens leaves both out, the stream's message_start says the same, and bad
cache_control is refused as Anthropic refuses it."""

from __future__ import annotations

import uuid

import anthropic
import pytest

from tests.conftest import INSTANT, post

pytestmark = pytest.mark.live
LIVE_SERVERS = ("serve",)

MODEL = "claude-sonnet-4-5"  # caches prefixes of 1,024 tokens and more
HEADERS = {"x-api-key": "test", "anthropic-version": "2023-06-01", **INSTANT}


def document() -> str:
    return f"Case {uuid.uuid4().hex}. " + "The quick brown fox jumps over the lazy dog. " * 150


def system(text: str, ttl: str | None = None) -> list[dict]:
    control = {"type": "ephemeral"} if ttl is None else {"type": "ephemeral", "ttl": ttl}
    return [{"type": "text", "text": text, "cache_control": control}]


def create(client, system_blocks, question: str = "What is this?", **kwargs):
    return client.messages.create(
        model=MODEL,
        max_tokens=20,
        system=system_blocks,
        messages=[{"role": "user", "content": question}],
        extra_headers={"x-llmsim-tokens": "3"},
        **kwargs,
    )


def test_the_first_request_writes_and_the_second_reads(anthropic_client):
    text = document()
    first = create(anthropic_client, system(text))
    second = create(anthropic_client, system(text), "Something else?")
    written = first.usage.cache_creation_input_tokens
    assert written > 1024 and first.usage.cache_read_input_tokens == 0
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == written
    assert first.usage.cache_creation.ephemeral_1h_input_tokens == 0
    assert second.usage.cache_read_input_tokens == written and second.usage.cache_creation_input_tokens == 0
    # input_tokens is what follows the cached part: the question and the framing.
    assert 0 < first.usage.input_tokens < 30 and 0 < second.usage.input_tokens < 30


def test_an_hour_long_breakpoint_is_reported_as_such(anthropic_client):
    answer = create(anthropic_client, system(document(), ttl="1h"))
    assert answer.usage.cache_creation.ephemeral_1h_input_tokens == answer.usage.cache_creation_input_tokens > 1024


def test_the_streams_message_start_carries_the_cache_figures(anthropic_client):
    text = document()
    create(anthropic_client, system(text))
    with anthropic_client.messages.stream(
        model=MODEL, max_tokens=20, system=system(text), messages=[{"role": "user", "content": "Hi?"}]
    ) as stream:
        start = next(event for event in stream if event.type == "message_start")
        final = stream.get_final_message()
    assert start.message.usage.cache_read_input_tokens > 1024
    assert start.message.usage.input_tokens < 30
    assert final.usage.cache_read_input_tokens == start.message.usage.cache_read_input_tokens


def test_no_breakpoint_or_a_short_prefix_caches_nothing(anthropic_client):
    text = document()
    for blocks in ([{"type": "text", "text": text}], system("Be brief.")):
        for _ in range(2):
            usage = create(anthropic_client, blocks).usage
            assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (0, 0)


def test_a_breakpoint_on_the_last_message_caches_the_conversation(anthropic_client):
    text = document()
    turn = [{"role": "user", "content": [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]}]
    first = anthropic_client.messages.create(model=MODEL, max_tokens=5, messages=turn)
    later = anthropic_client.messages.create(
        model=MODEL,
        max_tokens=5,
        messages=[*turn, {"role": "assistant", "content": "A fox."}, {"role": "user", "content": "More?"}],
    )
    assert later.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens > 1024


@pytest.mark.parametrize(
    ("control", "message"),
    [
        ({"type": "persistent"}, "system.0.cache_control.type: Input should be 'ephemeral'"),
        ({"type": "ephemeral", "ttl": "10m"}, "system.0.cache_control.ttl: Input should be '5m' or '1h'"),
    ],
)
def test_a_bad_cache_control_is_refused(anthropic_client, control, message):
    blocks = [{"type": "text", "text": "Be brief.", "cache_control": control}]
    with pytest.raises(anthropic.BadRequestError) as excinfo:
        create(anthropic_client, blocks)
    assert excinfo.value.body["error"] == {"type": "invalid_request_error", "message": message}


def test_more_than_four_breakpoints_are_refused(llmsim_server):
    marked = {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}
    body = {
        "model": MODEL,
        "max_tokens": 5,
        "system": [marked] * 3,
        "messages": [{"role": "user", "content": [marked] * 2}],
    }
    status, _, answer = post(llmsim_server, "/v1/messages", body, HEADERS)
    assert status == 400
    assert answer["error"] == {
        "type": "invalid_request_error",
        "message": "A maximum of 4 blocks with cache_control may be provided. Found 5.",
    }
