"""Tool calling, structured outputs and agent loops through the openai SDK on a live server."""

from __future__ import annotations

import json
from enum import StrEnum

import jsonschema
import openai
import pydantic
import pytest

from tests.conftest import INSTANT, post

LIVE_SERVERS = ("serve",)  # the calls' JSON; streaming over each server: test_chat_streaming.py

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search_web",
        "description": "Search the web for documents",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "max_results": {"type": "integer", "minimum": 1, "maximum": 20},
                "since": {"type": "string", "format": "date"},
            },
            "required": ["query"],
        },
    },
}
SEND_EMAIL = {
    "type": "function",
    "function": {
        "name": "send_email",
        "description": "Send an email message",
        "parameters": {
            "type": "object",
            "properties": {
                "to": {"type": "array", "items": {"type": "string", "format": "email"}, "minItems": 1, "maxItems": 3},
                "subject": {"type": "string", "maxLength": 80},
                "body": {"type": "string"},
            },
            "required": ["to", "subject", "body"],
        },
    },
}
TOOLS = [WEATHER, SEARCH, SEND_EMAIL]
SCHEMAS = {tool["function"]["name"]: tool["function"]["parameters"] for tool in TOOLS}
ASK_WEATHER = [{"role": "user", "content": "What is the weather in Paris today?"}]


def chat(client, **kwargs):
    kwargs.setdefault("model", "instant")
    kwargs.setdefault("messages", ASK_WEATHER)
    kwargs.setdefault("tools", TOOLS)
    headers = kwargs.pop("extra_headers", {})
    return client.chat.completions.create(extra_headers={**INSTANT, **headers}, **kwargs)


def assert_valid_arguments(call):
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, SCHEMAS[call.function.name], format_checker=jsonschema.FormatChecker())
    return arguments


def test_auto_calls_the_tool_that_matches_the_question(client):
    completion = chat(client)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.id.startswith("call_") and len(call.id) == 29
    assert call.type == "function"
    assert call.function.name == "get_weather"
    arguments = assert_valid_arguments(call)
    assert arguments["unit"] in ("celsius", "fahrenheit")
    assert completion.usage.completion_tokens > len(call.function.arguments) // 8


def test_usage_counts_the_tool_call_tokens(client):
    small = chat(client, tools=[WEATHER])
    large = chat(client, tools=[SEND_EMAIL], messages=[{"role": "user", "content": "email the team"}])
    for completion in (small, large):
        [call] = completion.choices[0].message.tool_calls
        # name + arguments + a few tokens of framing; arguments alone are several tokens
        assert completion.usage.completion_tokens >= 3 + len(call.function.arguments) // 6
    assert large.usage.completion_tokens != small.usage.completion_tokens


def test_every_call_validates_against_its_schema_across_seeds(client):
    for seed in range(25):
        completion = chat(
            client,
            tool_choice="required",
            extra_headers={"x-llmsim-seed": str(seed)},
            messages=[{"role": "user", "content": "search for python news and email it"}],
        )
        for call in completion.choices[0].message.tool_calls:
            assert_valid_arguments(call)


def test_none_answers_in_text(client):
    completion = chat(client, tool_choice="none")
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.tool_calls is None
    assert choice.message.content


def test_required_calls_a_tool_even_after_tool_results(client):
    first = chat(client, tool_choice="required")
    call = first.choices[0].message.tool_calls[0]
    messages = [
        *ASK_WEATHER,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 21}'},
    ]
    again = chat(client, tool_choice="required", messages=messages)
    assert again.choices[0].finish_reason == "tool_calls"
    assert again.choices[0].message.tool_calls


def test_a_named_function_is_the_one_called(client):
    completion = chat(client, tool_choice={"type": "function", "function": {"name": "send_email"}})
    choice = completion.choices[0]
    [call] = choice.message.tool_calls
    assert call.function.name == "send_email"
    assert_valid_arguments(call)
    assert choice.finish_reason == "stop"  # as the live API answers a named tool_choice


def test_allowed_tools_restricts_the_choice(client):
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "search_web"}}]},
    }
    completion = chat(client, tool_choice=choice)
    assert [c.function.name for c in completion.choices[0].message.tool_calls] == ["search_web"]


def test_parallel_calls_follow_the_setting_and_the_flag(client, edit, live_db):
    from simulator.models import SimulatorSettings

    edit(SimulatorSettings.load(live_db), parallel_tool_calls=3)
    completion = chat(client)
    calls = completion.choices[0].message.tool_calls
    assert len(calls) == 3
    assert len({c.function.name for c in calls}) == 3
    assert len({c.id for c in calls}) == 3
    for call in calls:
        assert_valid_arguments(call)
    single = chat(client, parallel_tool_calls=False)
    assert len(single.choices[0].message.tool_calls) == 1


def test_call_rate_zero_makes_auto_answer_in_text(client, edit, live_db):
    from simulator.models import SimulatorSettings

    edit(SimulatorSettings.load(live_db), tool_call_rate=0.0)
    completion = chat(client)
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.tool_calls is None
    assert chat(client, tool_choice="required").choices[0].message.tool_calls


def test_max_tokens_cuts_a_call_short_with_length(client):
    completion = chat(client, tools=[SEND_EMAIL], tool_choice="required", max_tokens=6)
    choice = completion.choices[0]
    assert choice.finish_reason == "length"
    assert completion.usage.completion_tokens <= 6
    with pytest.raises(json.JSONDecodeError):
        json.loads(choice.message.tool_calls[0].function.arguments)


# --- streaming ---------------------------------------------------------------------


def test_streamed_tool_calls_reassemble_to_the_non_streamed_ones(client, edit, live_db):
    from simulator.models import SimulatorSettings

    edit(SimulatorSettings.load(live_db), parallel_tool_calls=2)
    headers = {**INSTANT, "x-llmsim-seed": "7"}
    expected = chat(client, extra_headers=headers)
    with client.chat.completions.stream(
        model="instant", messages=ASK_WEATHER, tools=TOOLS, extra_headers=headers
    ) as events:
        final = events.get_final_completion()
    got, want = final.choices[0], expected.choices[0]
    assert got.finish_reason == want.finish_reason == "tool_calls"
    assert [(c.id, c.function.name, c.function.arguments) for c in got.message.tool_calls] == [
        (c.id, c.function.name, c.function.arguments) for c in want.message.tool_calls
    ]
    assert len(got.message.tool_calls) == 2


def test_a_streamed_call_sends_id_and_name_once_then_argument_fragments(llmsim_server):
    body = {
        "model": "instant",
        "messages": ASK_WEATHER,
        "tools": [WEATHER],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    status, _, text = post(llmsim_server, "/v1/chat/completions", body, {**INSTANT, "x-llmsim-seed": "3"})
    assert status == 200
    events = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    first = deltas[0]
    assert first["role"] == "assistant" and first["content"] is None
    assert first["tool_calls"][0]["id"].startswith("call_")
    assert first["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": ""}
    fragments = [d["tool_calls"][0] for d in deltas[1:] if "tool_calls" in d]
    assert len(fragments) > 3
    assert all(set(f) == {"index", "function"} and set(f["function"]) == {"arguments"} for f in fragments)
    arguments = "".join(f["function"]["arguments"] for f in fragments)
    jsonschema.validate(json.loads(arguments), SCHEMAS["get_weather"])
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "tool_calls" and finishes.count("tool_calls") == 1
    assert chunks[-1]["usage"]["completion_tokens"] >= len(fragments)


def test_parallel_streamed_calls_start_each_index_once(llmsim_server, edit, live_db):
    from simulator.models import SimulatorSettings

    edit(SimulatorSettings.load(live_db), parallel_tool_calls=3)
    body = {"model": "instant", "messages": ASK_WEATHER, "tools": TOOLS, "stream": True}
    _, _, text = post(llmsim_server, "/v1/chat/completions", body, INSTANT)
    chunks = [json.loads(line[6:]) for line in text.split("\n") if line.startswith("data: {")]
    fragments = [f for c in chunks for f in c["choices"][0]["delta"].get("tool_calls", [])]
    openings = [f["index"] for f in fragments if "id" in f]
    assert openings == [0, 1, 2]
    by_index = {i: "".join(f["function"]["arguments"] for f in fragments if f["index"] == i) for i in openings}
    for index, arguments in by_index.items():
        name = next(f["function"]["name"] for f in fragments if f["index"] == index and "id" in f)
        jsonschema.validate(json.loads(arguments), SCHEMAS[name])


# --- agent loops -------------------------------------------------------------------


def run_agent(client, question: str, stream: bool, limit: int = 10) -> list[dict]:
    """A minimal agent: call the model, run the tools it asks for, send the results, until it answers."""
    messages: list[dict] = [{"role": "system", "content": "You are a helpful agent."}, question]
    for _ in range(limit):
        if stream:
            with client.chat.completions.stream(
                model="gpt-4o", messages=messages, tools=TOOLS, extra_headers=INSTANT
            ) as events:
                message = events.get_final_completion().choices[0].message
        else:
            message = chat(client, model="gpt-4o", messages=messages).choices[0].message
        messages.append(message.model_dump(exclude_none=True, exclude={"parsed", "annotations"}))
        if not message.tool_calls:
            return messages
        for call in message.tool_calls:
            arguments = assert_valid_arguments(call)
            result = {"tool": call.function.name, "ok": True, "echo": sorted(arguments)}
            messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
    raise AssertionError(f"the agent loop did not end after {limit} model calls")


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_an_agent_loop_ends_after_one_round_of_tool_calls(client, stream):
    transcript = run_agent(client, {"role": "user", "content": "What's the weather in Berlin?"}, stream)
    roles = [m["role"] for m in transcript]
    assert roles == ["system", "user", "assistant", "tool", "assistant"]
    final = transcript[-1]["content"]
    assert "get_weather" in final  # the answer refers to the tool results
    assert '"ok": true' in final or '"ok":true' in final


def test_rounds_setting_makes_the_loop_call_tools_that_many_times(client, edit, live_db):
    from simulator.models import SimulatorSettings

    edit(SimulatorSettings.load(live_db), tool_call_rounds=2)
    transcript = run_agent(client, {"role": "user", "content": "Search for flights and email them"}, stream=False)
    assert [m["role"] for m in transcript] == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert transcript[-1]["content"]


# --- structured outputs ------------------------------------------------------------


class Color(StrEnum):
    red = "red"
    green = "green"


class Address(pydantic.BaseModel):
    street: str
    city: str
    postcode: str


class Person(pydantic.BaseModel):
    name: str
    email: str
    age: int
    favourite: Color
    nickname: str | None
    addresses: list[Address]


def test_parse_returns_a_pydantic_object(client):
    completion = client.chat.completions.parse(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Invent a person"}],
        response_format=Person,
        extra_headers=INSTANT,
    )
    person = completion.choices[0].message.parsed
    assert isinstance(person, Person)
    assert isinstance(person.addresses, list)
    assert "@" in person.email
    assert completion.choices[0].finish_reason == "stop"


def test_parse_works_when_streaming(client):
    with client.chat.completions.stream(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Invent a person"}],
        response_format=Person,
        extra_headers=INSTANT,
    ) as events:
        final = events.get_final_completion()
    assert isinstance(final.choices[0].message.parsed, Person)


def test_json_schema_content_validates(client):
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4},
            "rating": {"type": "number", "minimum": 0, "maximum": 5},
        },
        "required": ["title", "tags", "rating"],
        "additionalProperties": False,
    }
    for seed in range(10):
        completion = client.chat.completions.create(
            model="instant",
            messages=[{"role": "user", "content": "Review a film"}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "review", "schema": schema, "strict": True},
            },
            extra_headers={**INSTANT, "x-llmsim-seed": str(seed)},
        )
        jsonschema.validate(json.loads(completion.choices[0].message.content), schema)


def test_json_object_content_is_a_json_object(client):
    completion = client.chat.completions.create(
        model="instant",
        messages=[{"role": "user", "content": "Answer in JSON please"}],
        response_format={"type": "json_object"},
        extra_headers=INSTANT,
    )
    assert isinstance(json.loads(completion.choices[0].message.content), dict)


class GetWeather(pydantic.BaseModel):
    city: str
    unit: Color


def test_parse_with_strict_pydantic_tools_parses_the_arguments(client):
    completion = client.chat.completions.parse(
        model="gpt-4o",
        messages=ASK_WEATHER,
        tools=[openai.pydantic_function_tool(GetWeather)],
        extra_headers=INSTANT,
    )
    [call] = completion.choices[0].message.tool_calls
    assert isinstance(call.function.parsed_arguments, GetWeather)


# --- legacy functions --------------------------------------------------------------

LEGACY_FUNCTIONS = [WEATHER["function"], SEARCH["function"]]


def test_legacy_functions_get_a_function_call(llmsim_server):
    body = {"model": "instant", "messages": ASK_WEATHER, "functions": LEGACY_FUNCTIONS}
    status, _, completion = post(llmsim_server, "/v1/chat/completions", body, INSTANT)
    assert status == 200
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "function_call"
    message = choice["message"]
    assert "tool_calls" not in message and message["content"] is None
    assert message["function_call"]["name"] == "get_weather"
    jsonschema.validate(json.loads(message["function_call"]["arguments"]), SCHEMAS["get_weather"])


def test_legacy_function_call_streams_name_then_arguments(llmsim_server):
    body = {"model": "instant", "messages": ASK_WEATHER, "functions": LEGACY_FUNCTIONS, "stream": True}
    _, _, text = post(llmsim_server, "/v1/chat/completions", body, INSTANT)
    chunks = [json.loads(line[6:]) for line in text.split("\n") if line.startswith("data: {")]
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0]["function_call"] == {"name": "get_weather", "arguments": ""}
    arguments = "".join(d["function_call"]["arguments"] for d in deltas[1:] if "function_call" in d)
    jsonschema.validate(json.loads(arguments), SCHEMAS["get_weather"])
    assert chunks[-1]["choices"][0]["finish_reason"] == "function_call"


def test_legacy_function_results_end_the_loop(llmsim_server):
    messages = [
        *ASK_WEATHER,
        {"role": "assistant", "content": None, "function_call": {"name": "get_weather", "arguments": "{}"}},
        {"role": "function", "name": "get_weather", "content": "sunny, 21C"},
    ]
    body = {"model": "instant", "messages": messages, "functions": LEGACY_FUNCTIONS}
    status, _, completion = post(llmsim_server, "/v1/chat/completions", body, INSTANT)
    assert status == 200
    assert completion["choices"][0]["finish_reason"] == "stop"
    assert "sunny, 21C" in completion["choices"][0]["message"]["content"]
