"""POST /v1/responses through the official openai SDK on a live server: the response
object, the typed event stream, function calls, structured output, reasoning and usage."""

from __future__ import annotations

import base64
import json
import struct
import time

import jsonschema
import pydantic
import pytest
import tiktoken

from simulator.providers.openai.responses.items import image_tokens
from tests.conftest import INSTANT, post

MODEL = "gpt-4o"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
    "strict": True,
}


def create(client, prompt: str | list = "Hello", tokens: int = 12, **kwargs):
    kwargs.setdefault("model", MODEL)
    headers = {**INSTANT, "x-llmsim-tokens": str(tokens), **kwargs.pop("extra_headers", {})}
    return client.responses.create(input=prompt, extra_headers=headers, **kwargs)


def sse_events(raw: str) -> list[tuple[str, dict]]:
    """(event name, data) of each event of an SSE body; every event has both lines."""
    events = []
    for block in raw.strip().split("\n\n"):
        lines = block.split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        events.append((lines[0][7:], json.loads(lines[1][6:])))
    return events


def raw_stream(server, body: dict, tokens: int = 3) -> list[tuple[str, dict]]:
    headers = {**INSTANT, "x-llmsim-tokens": str(tokens)}
    status, response_headers, text = post(server, "/v1/responses", {"model": MODEL, "stream": True, **body}, headers)
    assert status == 200, text
    assert response_headers["content-type"].startswith("text/event-stream")
    return sse_events(text)


def test_it_answers_with_a_response_object(llmsim_server):
    status, headers, body = post(
        llmsim_server, "/v1/responses", {"model": MODEL, "input": "Hello"}, {**INSTANT, "x-llmsim-tokens": "5"}
    )
    assert status == 200 and headers["x-request-id"].startswith("req_")
    assert body["id"].startswith("resp_") and body["object"] == "response"
    assert body["status"] == "completed" and body["error"] is None and body["incomplete_details"] is None
    assert body["model"] == MODEL and body["store"] is True and body["tools"] == [] and body["tool_choice"] == "auto"
    assert body["completed_at"] >= body["created_at"] > 0
    [message] = body["output"]
    assert message["id"].startswith("msg_") and message["type"] == "message" and message["role"] == "assistant"
    assert message["status"] == "completed"
    [part] = message["content"]
    assert part["type"] == "output_text" and part["annotations"] == [] and part["text"]
    usage = body["usage"]
    assert usage["output_tokens"] == 5 and usage["output_tokens_details"] == {"reasoning_tokens": 0}
    assert usage["input_tokens_details"] == {"cached_tokens": 0, "cache_write_tokens": 0}
    assert usage["total_tokens"] == usage["input_tokens"] + 5


def test_the_sdk_joins_the_output_text(client):
    response = create(client, tokens=20)
    assert response.status == "completed"
    assert response.output_text == response.output[0].content[0].text
    assert len(tiktoken.get_encoding("o200k_base").encode(response.output_text)) == 20


def test_instructions_and_input_items_are_counted_as_input(client):
    plain = create(client, "What is the capital of France?")
    instructed = create(client, "What is the capital of France?", instructions="Answer in one word, politely.")
    assert instructed.usage.input_tokens > plain.usage.input_tokens
    assert instructed.instructions == "Answer in one word, politely."
    items = client.responses.create(
        model=MODEL,
        input=[
            {"role": "developer", "content": "Be terse."},
            {"role": "user", "content": [{"type": "input_text", "text": "What is the capital of France?"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Paris."}]},
            {"role": "user", "content": "And of Italy?"},
        ],
        extra_headers=INSTANT,
    )
    assert items.usage.input_tokens > plain.usage.input_tokens


def test_an_image_costs_input_tokens(client):
    image = {"type": "input_image", "image_url": "https://example.com/cat.png", "detail": "low"}
    text_only = create(client, [{"role": "user", "content": "What is this?"}])
    with_image = create(client, [{"role": "user", "content": [{"type": "input_text", "text": "What is this?"}, image]}])
    assert with_image.usage.input_tokens - text_only.usage.input_tokens == 85


def test_it_streams_typed_events_with_consecutive_sequence_numbers(llmsim_server):
    events = raw_stream(llmsim_server, {"input": "Stream, please"}, tokens=3)
    assert all(name == data["type"] for name, data in events)
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert [name for name, _ in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 3,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    created, completed = events[0][1]["response"], events[-1][1]["response"]
    assert created["status"] == "in_progress" and created["output"] == [] and created["usage"] is None
    assert completed["id"] == created["id"] and completed["status"] == "completed"
    deltas = "".join(data["delta"] for name, data in events if name == "response.output_text.delta")
    assert completed["output"][0]["content"][0]["text"] == deltas == events[-4][1]["text"]
    assert completed["usage"]["output_tokens"] == 3


def test_the_stream_helper_builds_what_the_plain_call_answers(client):
    seeded = {"x-llmsim-seed": "7", **INSTANT, "x-llmsim-tokens": "25"}
    expected = client.responses.create(model=MODEL, input="Same again", extra_headers=seeded)
    with client.responses.stream(model=MODEL, input="Same again", extra_headers=seeded) as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert final.output_text == "".join(deltas) == expected.output_text
    assert final.usage.output_tokens == expected.usage.output_tokens == 25


def test_the_stream_keeps_to_the_latency_schedule(client):
    started = time.monotonic()
    arrivals = []
    headers = {"x-llmsim-ttft-ms": "300", "x-llmsim-tbt-ms": "50", "x-llmsim-tokens": "5"}
    with client.responses.stream(model=MODEL, input="Slowly", extra_headers=headers) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                arrivals.append(time.monotonic() - started)
    assert 0.28 <= arrivals[0] <= 0.9
    assert 0.18 <= arrivals[-1] - arrivals[0] <= 0.6  # four gaps of 50 ms, loosely


def test_the_model_calls_a_function_with_arguments_that_fit_its_schema(client):
    response = create(client, "What's the weather in Paris?", tools=[WEATHER])
    [call] = response.output
    assert call.type == "function_call" and call.name == "get_weather" and call.status == "completed"
    assert call.id.startswith("fc_") and call.call_id.startswith("call_")
    arguments = json.loads(call.arguments)
    jsonschema.validate(arguments, WEATHER["parameters"])
    assert arguments["city"] == "Paris"
    assert response.output_text == ""


def test_a_function_call_round_trip_continues_with_previous_response_id(client):
    first = create(client, "What's the weather in Paris?", tools=[WEATHER])
    [call] = first.output
    second = create(
        client,
        tools=[WEATHER],
        previous_response_id=first.id,
        prompt=[{"type": "function_call_output", "call_id": call.call_id, "output": '{"temp_c": 21}'}],
    )
    assert second.previous_response_id == first.id
    assert [item.type for item in second.output] == ["message"]
    assert second.output_text.startswith('Based on get_weather: {"temp_c": 21}.')
    # The earlier request and its answer are this one's context, and billed as input.
    assert second.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens


def test_the_stream_helper_streams_a_function_call(client):
    with client.responses.stream(
        model=MODEL, input="Weather in Paris?", tools=[WEATHER], extra_headers=INSTANT
    ) as stream:
        deltas = [event.delta for event in stream if event.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    [call] = final.output
    assert call.type == "function_call" and "".join(deltas) == call.arguments
    assert json.loads(call.arguments)["city"] == "Paris"
    assert call.parsed_arguments is None or call.parsed_arguments == json.loads(call.arguments)


def test_a_named_tool_choice_calls_that_function(client):
    other = {**WEATHER, "name": "get_time", "description": "The local time"}
    response = create(
        client, "Tell me anything", tools=[other, WEATHER], tool_choice={"type": "function", "name": "get_weather"}
    )
    assert [item.name for item in response.output] == ["get_weather"]


def test_tool_choice_none_answers_in_text(client):
    response = create(client, "What's the weather in Paris?", tools=[WEATHER], tool_choice="none")
    assert [item.type for item in response.output] == ["message"]


class Weather(pydantic.BaseModel):
    city: str
    temperature_c: int
    conditions: list[str]


def test_parse_returns_a_pydantic_object(client):
    parsed = client.responses.parse(
        model=MODEL, input="The weather in Paris", text_format=Weather, extra_headers=INSTANT
    )
    assert isinstance(parsed.output_parsed, Weather)
    assert parsed.output_parsed == Weather.model_validate_json(parsed.output_text)
    assert parsed.text.format.type == "json_schema" and parsed.text.format.name == "Weather"


def test_the_stream_helper_parses_structured_output(client):
    with client.responses.stream(
        model=MODEL, input="The weather in Paris", text_format=Weather, extra_headers=INSTANT
    ) as stream:
        final = stream.get_final_response()
    assert isinstance(final.output_parsed, Weather)


def test_json_object_format_answers_with_a_json_object(client):
    response = create(client, "Reply in JSON, please", text={"format": {"type": "json_object"}})
    assert isinstance(json.loads(response.output_text), dict)


def test_max_output_tokens_cuts_the_answer_and_makes_it_incomplete(client):
    response = create(client, tokens=60, max_output_tokens=16)
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output[0].status == "incomplete"
    assert response.usage.output_tokens == 16 and response.max_output_tokens == 16


def test_a_cut_stream_ends_with_response_incomplete(llmsim_server):
    events = raw_stream(llmsim_server, {"input": "Long", "max_output_tokens": 16}, tokens=60)
    assert events[-1][0] == "response.incomplete"
    response = events[-1][1]["response"]
    assert response["status"] == "incomplete" and response["incomplete_details"] == {"reason": "max_output_tokens"}


def test_a_reasoning_model_reports_reasoning_tokens_and_a_reasoning_item(client):
    response = create(client, "Think hard", model="o3", tokens=10)
    reasoning, message = response.output
    assert reasoning.type == "reasoning" and reasoning.id.startswith("rs_") and reasoning.summary == []
    assert message.type == "message"
    details = response.usage.output_tokens_details
    assert details.reasoning_tokens > 0
    assert response.usage.output_tokens == 10 + details.reasoning_tokens
    assert response.reasoning.effort == "medium"


def test_reasoning_effort_scales_the_reasoning_tokens(client):
    def reasoning_tokens(effort: str) -> int:
        response = create(client, "Think", model="o3", tokens=40, reasoning={"effort": effort})
        assert response.reasoning.effort == effort
        return response.usage.output_tokens_details.reasoning_tokens

    low, medium, high = reasoning_tokens("low"), reasoning_tokens("medium"), reasoning_tokens("high")
    assert low < medium < high
    none = create(client, "Think", model="gpt-5", tokens=5, reasoning={"effort": "none"})
    assert [item.type for item in none.output] == ["message"]
    assert none.usage.output_tokens_details.reasoning_tokens == 0


def test_a_reasoning_summary_comes_as_a_summary_part_in_the_stream(client):
    with client.responses.stream(
        model="o3", input="Why is the sky blue?", reasoning={"summary": "auto"}, extra_headers=INSTANT
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds.index("response.reasoning_summary_text.delta") < kinds.index("response.output_text.delta")
    [summary] = final.output[0].summary
    assert "Why is the sky blue?" in summary.text


def test_a_long_earlier_conversation_comes_from_the_prompt_cache(client):
    first = create(client, "word " * 1200, tokens=10)
    second = create(client, "And now?", previous_response_id=first.id)
    cached = second.usage.input_tokens_details.cached_tokens
    assert cached >= 1024 and cached % 128 == 0
    assert cached <= first.usage.input_tokens + first.usage.output_tokens < second.usage.input_tokens


def test_input_tokens_counts_without_answering(client):
    counted = client.responses.input_tokens.count(model=MODEL, input="Hello", instructions="Be terse.")
    answered = create(client, "Hello", instructions="Be terse.")
    assert counted.object == "response.input_tokens"
    assert counted.input_tokens == answered.usage.input_tokens


def test_metadata_and_settings_are_echoed(client):
    response = create(client, metadata={"run": "42"}, temperature=0.2, parallel_tool_calls=False, store=False)
    assert response.metadata == {"run": "42"} and response.temperature == 0.2
    assert response.parallel_tool_calls is False and response.store is False


def png_data_url(width: int, height: int) -> str:
    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", width, height)
    return "data:image/png;base64," + base64.b64encode(header + b"\x08\x06\x00\x00\x00").decode()


@pytest.mark.parametrize(
    ("width", "height", "detail", "tokens"),
    # OpenAI's worked examples: 1024x1024 is 765 tokens, 2048x4096 is 1105, low detail 85.
    [(1024, 1024, "high", 765), (2048, 4096, "auto", 1105), (4096, 8192, "low", 85), (100, 100, "high", 255)],
)
def test_images_cost_what_openais_formula_says(width, height, detail, tokens):
    part = {"type": "input_image", "image_url": png_data_url(width, height), "detail": detail}
    assert image_tokens(part) == tokens
