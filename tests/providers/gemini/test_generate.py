"""generateContent, streamGenerateContent and countTokens through the official google-genai SDK."""

from __future__ import annotations

import json

import pydantic
import pytest
from google import genai
from google.genai import types

from tests.conftest import INSTANT, post

MODEL = "gemini-2.5-flash"
THINKER = "gemini-2.5-pro"  # a reasoning profile
HEADERS = {"x-goog-api-key": "test", **INSTANT}
USER = [{"role": "user", "parts": [{"text": "Hello"}]}]


def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"21°C and sunny in {city}"


def get_time(city: str) -> str:
    """The local time in a city."""
    return "12:00"


NO_AUTOMATIC_CALLS = types.AutomaticFunctionCallingConfig(disable=True)


def test_it_answers_with_a_candidate(genai_client):
    response = genai_client.models.generate_content(model=MODEL, contents="Hello")
    assert response.text
    candidate = response.candidates[0]
    assert candidate.finish_reason == types.FinishReason.STOP and candidate.content.role == "model"
    usage = response.usage_metadata
    assert usage.prompt_token_count > 0 and usage.candidates_token_count == 100
    assert usage.total_token_count == usage.prompt_token_count + 100
    assert usage.thoughts_token_count is None
    assert response.model_version == MODEL and response.response_id


@pytest.mark.parametrize("version", ["v1", "v1beta"])
def test_it_serves_both_api_versions(llmsim_server, version):
    options = {"base_url": llmsim_server.base_url, "headers": INSTANT, "api_version": version}
    with genai.Client(api_key="test", http_options=options) as client:
        assert client.models.generate_content(model=MODEL, contents="Hello").text


def test_the_key_may_come_in_the_query_string(llmsim_server):
    status, _, payload = post(
        llmsim_server, f"/v1beta/models/{MODEL}:generateContent?key=abc", {"contents": USER}, INSTANT
    )
    assert status == 200 and payload["candidates"][0]["content"]["parts"][0]["text"]


def test_generation_config_shapes_the_answer(genai_client):
    config = types.GenerateContentConfig(max_output_tokens=7, candidate_count=2, system_instruction="Be terse.")
    response = genai_client.models.generate_content(model=MODEL, contents="Hello", config=config)
    assert len(response.candidates) == 2
    assert all(c.finish_reason == types.FinishReason.MAX_TOKENS for c in response.candidates)
    assert response.usage_metadata.candidates_token_count == 14


def test_a_stop_sequence_cuts_the_answer(genai_client):
    seeded = types.HttpOptions(headers={**INSTANT, "x-llmsim-seed": "5"})
    text = genai_client.models.generate_content(
        model=MODEL, contents="Hello", config=types.GenerateContentConfig(http_options=seeded)
    ).text
    word = text.split()[4].strip(".,")
    config = types.GenerateContentConfig(stop_sequences=[word], http_options=seeded)
    response = genai_client.models.generate_content(model=MODEL, contents="Hello", config=config)
    assert response.text == text[: text.index(word)]
    assert response.candidates[0].finish_reason == types.FinishReason.STOP


def test_the_stream_rebuilds_the_answer(genai_client):
    seeded = types.GenerateContentConfig(http_options=types.HttpOptions(headers={**INSTANT, "x-llmsim-seed": "8"}))
    whole = genai_client.models.generate_content(model=MODEL, contents="Hello", config=seeded)
    chunks = list(genai_client.models.generate_content_stream(model=MODEL, contents="Hello", config=seeded))
    assert "".join(chunk.text for chunk in chunks) == whole.text
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.total_token_count == whole.usage_metadata.total_token_count


def test_the_sse_stream_has_only_data_lines_and_finishes_on_the_last_chunk(llmsim_server):
    headers = {**HEADERS, "x-llmsim-tokens": "4", "x-llmsim-tbt-ms": "5"}
    status, response_headers, raw = post(
        llmsim_server, f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", {"contents": USER}, headers
    )
    assert status == 200 and response_headers["content-type"].startswith("text/event-stream")
    blocks = raw.strip().split("\n\n")
    assert all(block.startswith("data: ") and "\n" not in block for block in blocks)
    chunks = [json.loads(block[6:]) for block in blocks]
    assert "finishReason" in chunks[-1]["candidates"][0]
    assert all("finishReason" not in chunk["candidates"][0] for chunk in chunks[:-1])
    counts = [chunk["usageMetadata"]["candidatesTokenCount"] for chunk in chunks]
    assert counts == sorted(counts) and counts[-1] == 4


def test_without_alt_sse_the_stream_is_one_json_array(llmsim_server):
    status, response_headers, payload = post(
        llmsim_server, f"/v1beta/models/{MODEL}:streamGenerateContent", {"contents": USER}, HEADERS
    )
    assert status == 200 and response_headers["content-type"] == "application/json"
    assert isinstance(payload, list) and payload[-1]["candidates"][0]["finishReason"] == "STOP"


def run_tool_loop(client, stream: bool) -> list[types.GenerateContentResponse]:
    """A two-round agent loop: the model calls a function, gets its result, answers in text."""
    config = types.GenerateContentConfig(tools=[get_weather], automatic_function_calling=NO_AUTOMATIC_CALLS)
    contents = [types.Content(role="user", parts=[types.Part(text="What's the weather in Paris?")])]
    replies = []
    for _ in range(2):
        if stream:
            chunks = list(client.models.generate_content_stream(model=MODEL, contents=contents, config=config))
            parts = [part for chunk in chunks for part in chunk.candidates[0].content.parts]
            reply = types.GenerateContentResponse(
                candidates=[types.Candidate(content=types.Content(role="model", parts=parts))]
            )
        else:
            reply = client.models.generate_content(model=MODEL, contents=contents, config=config)
        replies.append(reply)
        if not reply.function_calls:
            break
        contents.append(reply.candidates[0].content)
        contents.append(
            types.Content(
                role="user",
                parts=[
                    types.Part.from_function_response(name=call.name, response={"result": get_weather(**call.args)})
                    for call in reply.function_calls
                ],
            )
        )
    return replies


@pytest.mark.parametrize("stream", [False, True], ids=["generate", "stream"])
def test_a_tool_loop_calls_then_answers(genai_client, stream):
    first, second = run_tool_loop(genai_client, stream)
    (call,) = first.function_calls
    assert call.name == "get_weather" and call.args == {"city": "Paris"}
    assert not second.function_calls
    assert second.text.startswith('Based on get_weather: {"result":"21°C and sunny in Paris"}.')


def test_automatic_function_calling_runs_the_function(genai_client):
    config = types.GenerateContentConfig(tools=[get_weather])
    response = genai_client.models.generate_content(model=MODEL, contents="Weather in Paris?", config=config)
    assert "21°C and sunny in Paris" in response.text
    assert len(response.automatic_function_calling_history) == 3  # question, call, result


@pytest.mark.parametrize(
    ("mode", "allowed", "called"),
    [
        ("ANY", ["get_time"], {"get_time"}),
        ("ANY", None, {"get_weather"}),
        ("NONE", None, set()),
    ],
)
def test_the_function_calling_mode_decides(genai_client, mode, allowed, called):
    config = types.GenerateContentConfig(
        tools=[get_weather, get_time],
        automatic_function_calling=NO_AUTOMATIC_CALLS,
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(mode=mode, allowed_function_names=allowed)
        ),
    )
    response = genai_client.models.generate_content(model=MODEL, contents="Weather in Paris?", config=config)
    assert {call.name for call in response.function_calls or ()} == called


def test_openapi_parameters_with_uppercase_types_get_valid_arguments(genai_client):
    declaration = types.FunctionDeclaration(
        name="book",
        description="Book a table",
        parameters=types.Schema(
            type="OBJECT",
            properties={
                "guests": types.Schema(type="INTEGER", minimum=1, maximum=8),
                "note": types.Schema(type="STRING", nullable=True),
                "seating": types.Schema(type="STRING", enum=["inside", "terrace"]),
            },
            required=["guests", "seating"],
        ),
    )
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[declaration])], automatic_function_calling=NO_AUTOMATIC_CALLS
    )
    (call,) = genai_client.models.generate_content(model=MODEL, contents="Book", config=config).function_calls
    assert 1 <= call.args["guests"] <= 8 and isinstance(call.args["guests"], int)
    assert call.args["seating"] in ("inside", "terrace")


class Recipe(pydantic.BaseModel):
    name: str
    minutes: int | None
    tags: list[str]


@pytest.mark.parametrize("schema_field", ["response_schema", "response_json_schema"])
def test_structured_output_parses_into_the_schema(genai_client, schema_field):
    schema = Recipe if schema_field == "response_schema" else Recipe.model_json_schema()
    config = types.GenerateContentConfig(response_mime_type="application/json", **{schema_field: schema})
    response = genai_client.models.generate_content(model=MODEL, contents="A recipe", config=config)
    Recipe.model_validate_json(response.text)
    if schema_field == "response_schema":
        assert isinstance(response.parsed, Recipe)


def test_a_thinking_model_reports_its_thoughts_tokens(genai_client):
    usage = genai_client.models.generate_content(model=THINKER, contents="Think").usage_metadata
    assert usage.thoughts_token_count > 0
    assert (
        usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count + usage.thoughts_token_count
    )


def test_thinking_budget_zero_turns_thinking_off(genai_client):
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=0))
    response = genai_client.models.generate_content(model=THINKER, contents="Quick", config=config)
    assert response.usage_metadata.thoughts_token_count is None


def test_included_thoughts_come_as_thought_parts(genai_client):
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=50)
    )
    response = genai_client.models.generate_content(model=MODEL, contents="Think aloud", config=config)
    thought, answer = response.candidates[0].content.parts
    assert thought.thought and thought.text and not answer.thought
    assert response.text == answer.text
    assert response.usage_metadata.thoughts_token_count == 50


def test_the_thinking_level_scales_the_thoughts(genai_client):
    def thoughts(level: str) -> int:
        config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_level=level))
        response = genai_client.models.generate_content(model=MODEL, contents="Think", config=config)
        return response.usage_metadata.thoughts_token_count

    assert thoughts("LOW") < thoughts("HIGH")


def test_count_tokens_matches_the_prompt_count(genai_client):
    counted = genai_client.models.count_tokens(model=MODEL, contents="What's the weather in Paris?")
    usage = genai_client.models.generate_content(model=MODEL, contents="What's the weather in Paris?").usage_metadata
    assert counted.total_tokens == usage.prompt_token_count
