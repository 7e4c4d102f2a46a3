"""POST /v1/messages and count_tokens through the official anthropic SDK on a live server."""

from __future__ import annotations

import base64
import json
import struct
import zlib

import pydantic
import pytest

from tests.conftest import INSTANT, post

MODEL = "claude-haiku-4-5"
HEADERS = {"x-api-key": "test", "anthropic-version": "2023-06-01", **INSTANT}
WEATHER = {
    "name": "get_weather",
    "description": "The current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city"],
    },
}
TIME = {
    "name": "get_time",
    "description": "The local time in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def ask(client, text: str = "Hello", **kwargs):
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("max_tokens", 200)
    return client.messages.create(messages=[{"role": "user", "content": text}], **kwargs)


def sse_events(raw: str) -> list[tuple[str, dict]]:
    """(event name, data) pairs of an SSE body; every event must have both lines."""
    events = []
    for block in raw.strip().split("\n\n"):
        lines = block.split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        events.append((lines[0][7:], json.loads(lines[1][6:])))
    return events


def test_it_answers_with_a_message(anthropic_client):
    message = ask(anthropic_client)
    assert message.id.startswith("msg_")
    assert message.type == "message" and message.role == "assistant" and message.model == MODEL
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.input_tokens > 0 and message.usage.output_tokens == 100
    assert message.usage.cache_creation_input_tokens == 0 and message.usage.cache_read_input_tokens == 0


def test_it_sends_a_request_id(anthropic_client):
    raw = anthropic_client.messages.with_raw_response.create(
        model=MODEL, max_tokens=20, messages=[{"role": "user", "content": "Hi"}]
    )
    assert raw.headers["request-id"].startswith("req_")
    assert raw.parse().content[0].text


def test_max_tokens_cuts_the_answer(anthropic_client):
    message = ask(anthropic_client, max_tokens=7)
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 7


def test_a_stop_sequence_ends_the_answer_and_is_named(anthropic_client):
    text = ask(anthropic_client, extra_headers={"x-llmsim-seed": "3"}).content[0].text
    word = text.split()[5].strip(".,")
    message = ask(anthropic_client, stop_sequences=["never there", word], extra_headers={"x-llmsim-seed": "3"})
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == word
    assert message.content[0].text == text[: text.index(word)]


def test_system_blocks_and_images_count_as_input(anthropic_client):
    plain = ask(anthropic_client, "Describe it.").usage.input_tokens
    with_system = ask(anthropic_client, "Describe it.", system=[{"type": "text", "text": "You are terse."}])
    assert with_system.usage.input_tokens > plain

    png = tiny_png(300, 150)
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}}
    message = anthropic_client.messages.create(
        model=MODEL,
        max_tokens=20,
        messages=[{"role": "user", "content": [image, {"type": "text", "text": "Describe it."}]}],
    )
    assert message.usage.input_tokens == plain + 60  # 300 x 150 px / 750 px a token


def tiny_png(width: int, height: int) -> str:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + ihdr).decode()


def test_the_stream_helper_rebuilds_the_message(anthropic_client):
    with anthropic_client.messages.stream(
        model=MODEL, max_tokens=200, messages=[{"role": "user", "content": "Hello"}]
    ) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert text == message.content[0].text != ""
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 100 and message.usage.input_tokens > 0


def test_the_stream_sends_anthropics_event_sequence(llmsim_server):
    body = {"model": MODEL, "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    status, headers, raw = post(llmsim_server, "/v1/messages", body, {**HEADERS, "x-llmsim-tokens": "3"})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    names = [name for name, _ in sse_events(raw)]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    events = dict(sse_events(raw))
    assert events["message_start"]["message"]["content"] == []
    assert events["message_delta"]["usage"]["output_tokens"] == 3
    assert all(data["type"] == name for name, data in sse_events(raw))


def test_the_same_seed_streams_what_it_answers(anthropic_client):
    seeded = {"x-llmsim-seed": "11"}
    answer = ask(anthropic_client, extra_headers=seeded)
    with anthropic_client.messages.stream(
        model=MODEL, max_tokens=200, messages=[{"role": "user", "content": "Hello"}], extra_headers=seeded
    ) as stream:
        streamed = stream.get_final_message()
    assert streamed.content[0].text == answer.content[0].text


def run_tool_loop(client, stream: bool) -> list:
    """A two-round agent loop: the model calls a tool, gets its result, answers in text."""
    messages = [{"role": "user", "content": "What's the weather in Paris?"}]
    replies = []
    for _ in range(2):
        if stream:
            with client.messages.stream(model=MODEL, max_tokens=300, messages=messages, tools=[WEATHER]) as s:
                reply = s.get_final_message()
        else:
            reply = client.messages.create(model=MODEL, max_tokens=300, messages=messages, tools=[WEATHER])
        replies.append(reply)
        calls = [block for block in reply.content if block.type == "tool_use"]
        if not calls:
            break
        messages.append({"role": "assistant", "content": [block.model_dump() for block in reply.content]})
        results = [{"type": "tool_result", "tool_use_id": call.id, "content": "21°C, sunny"} for call in calls]
        messages.append({"role": "user", "content": results})
    return replies


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_a_tool_loop_calls_then_answers(anthropic_client, stream):
    first, second = run_tool_loop(anthropic_client, stream)
    assert first.stop_reason == "tool_use"
    (call,) = first.content
    assert call.type == "tool_use" and call.id.startswith("toolu_") and call.name == "get_weather"
    assert call.input["city"] == "Paris"
    assert second.stop_reason == "end_turn"
    assert second.content[0].text.startswith("Based on get_weather: 21°C, sunny.")


def test_tool_use_streams_input_json_fragments(llmsim_server):
    body = {
        "model": MODEL,
        "max_tokens": 100,
        "stream": True,
        "tools": [WEATHER],
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
    }
    events = sse_events(post(llmsim_server, "/v1/messages", body, HEADERS)[2])
    start = next(data for name, data in events if name == "content_block_start")
    assert start["content_block"] == {
        "type": "tool_use",
        "id": start["content_block"]["id"],
        "name": "get_weather",
        "input": {},
    }
    fragments = [data["delta"]["partial_json"] for name, data in events if name == "content_block_delta"]
    assert len(fragments) > 1 and json.loads("".join(fragments))["city"] == "Paris"
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    ("tool_choice", "called"),
    [
        ({"type": "any"}, {"get_weather"}),
        ({"type": "tool", "name": "get_time"}, {"get_time"}),
        ({"type": "none"}, set()),
    ],
)
def test_tool_choice_decides_the_call(anthropic_client, tool_choice, called):
    message = ask(anthropic_client, "Weather in Paris?", tools=[WEATHER, TIME], tool_choice=tool_choice)
    assert {block.name for block in message.content if block.type == "tool_use"} == called


def test_thinking_comes_first_with_a_signature(anthropic_client):
    message = ask(anthropic_client, max_tokens=2000, thinking={"type": "enabled", "budget_tokens": 1024})
    thinking, text = message.content
    assert thinking.type == "thinking" and thinking.thinking and thinking.signature
    assert text.type == "text" and text.text
    assert message.usage.output_tokens > 100  # the thinking is billed as output


def test_thinking_streams_thinking_and_signature_deltas(anthropic_client):
    with anthropic_client.messages.stream(
        model=MODEL,
        max_tokens=2000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "Think first."}],
    ) as stream:
        kinds = {event.delta.type for event in stream if event.type == "content_block_delta"}
        message = stream.get_final_message()
    assert kinds == {"thinking_delta", "signature_delta", "text_delta"}
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].signature


def test_effort_scales_the_thinking(anthropic_client):
    def thinking_tokens(effort: str) -> int:
        message = ask(
            anthropic_client,
            max_tokens=2000,
            thinking={"type": "enabled", "budget_tokens": 1024},
            output_config={"effort": effort},
        )
        return message.usage.output_tokens - 100

    assert thinking_tokens("low") < thinking_tokens("high")


def test_structured_output_parses_into_the_model(anthropic_client):
    class Weather(pydantic.BaseModel):
        city: str
        temperature_c: float

    message = anthropic_client.messages.parse(
        model=MODEL, max_tokens=300, messages=[{"role": "user", "content": "Paris?"}], output_format=Weather
    )
    assert isinstance(message.parsed_output, Weather)


def test_count_tokens_matches_the_messages_input(anthropic_client):
    request = {
        "model": MODEL,
        "system": "Be terse.",
        "messages": [{"role": "user", "content": "What's the weather in Paris?"}],
        "tools": [WEATHER],
    }
    counted = anthropic_client.messages.count_tokens(**request)
    assert counted.input_tokens == anthropic_client.messages.create(max_tokens=10, **request).usage.input_tokens


def test_models_answer_in_anthropics_shape(anthropic_client):
    listed = list(anthropic_client.models.list())
    assert {model.id for model in listed} >= {"claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-1"}
    assert all(model.type == "model" and model.id.startswith("claude") for model in listed)
    page = anthropic_client.models.list(limit=1)
    assert len(page.data) == 1 and page.has_more
    model = anthropic_client.models.retrieve("claude-sonnet-4-5")
    assert model.display_name == "Claude Sonnet 4.5" and model.max_tokens == 64_000


def test_models_stay_openais_without_anthropic_version(client):
    assert client.models.retrieve("claude-sonnet-4-5").object == "model"
    assert any(model.id == "gpt-4o" for model in client.models.list())
