"""The chat.completion body (simulator.providers.openai.chat.render): written as bytes, it is
byte for byte the JSON of completion_json, whatever the answer holds."""

from __future__ import annotations

import orjson
import pytest

from simulator.engine.types import ChoicePlan, Plan, TokenLogprob, ToolCallPlan, Usage
from simulator.providers.openai.chat.render import ChunkWriter, completion_body, completion_json

USAGE = Usage(8, 20)


def _plan(*choices: ChoicePlan, usage: Usage = USAGE) -> Plan:
    return Plan(model="gpt-4o-mini", choices=choices, usage=usage, ttft_s=0.0)


TEXT = ChoicePlan(pieces=("Hello", ", world."), finish_reason="stop", completion_tokens=3)
ESCAPED = ChoicePlan(pieces=('Quote " back\\slash\n', "é ✓ \U0001f600 \x00"), finish_reason="length")
CALLS = ChoicePlan(
    pieces=(),
    finish_reason="tool_calls",
    tool_calls=(
        ToolCallPlan("abc", "get_weather", '{"city":"Oslo"}', ('{"city":', '"Oslo"}')),
        ToolCallPlan("def", "get_time", "{}", ("{}",)),
    ),
)
LOGPROBS = ChoicePlan(
    pieces=("Hi", "!"),
    finish_reason="stop",
    logprobs=((TokenLogprob(b"Hi", -0.25, (b"Hi", b"Hey"), (-0.25, -1.5)),), (TokenLogprob(b"!", -0.5),)),
)


@pytest.mark.parametrize(
    "plan",
    [
        _plan(TEXT),
        _plan(ESCAPED),
        _plan(CALLS),
        _plan(LOGPROBS),
        _plan(TEXT, CALLS, ESCAPED),
        _plan(TEXT, usage=Usage(1200, 30, reasoning_tokens=12, cached_tokens=1024)),
        _plan(),
    ],
    ids=["text", "escaped text", "tool calls", "logprobs", "three choices", "cached and reasoning tokens", "none"],
)
@pytest.mark.parametrize("legacy_functions", [False, True], ids=["tools", "functions"])
def test_the_body_is_the_json_of_the_completion_object(plan, legacy_functions):
    expected = orjson.dumps(completion_json("chatcmpl-1", 1_700_000_000, plan, legacy_functions))
    assert completion_body("chatcmpl-1", 1_700_000_000, plan, legacy_functions) == expected


def test_a_variant_annotates_the_completion_object():
    class Variant:
        def annotate(self, answer: dict) -> None:
            answer["extra"] = True

    body = orjson.loads(completion_body("chatcmpl-1", 1, _plan(TEXT), False, Variant()))
    assert body["extra"] is True and body["choices"][0]["message"]["content"] == "Hello, world."


def test_the_usage_chunk_carries_the_completion_objects_usage():
    plan = _plan(TEXT, usage=Usage(1200, 30, reasoning_tokens=12, cached_tokens=1024))
    closing = ChunkWriter("chatcmpl-1", 1, plan, include_usage=True).closing()
    usage_chunk = orjson.loads(closing.split(b"\n\n")[0].removeprefix(b"data: "))
    assert usage_chunk["usage"] == completion_json("chatcmpl-1", 1, plan)["usage"]
    assert usage_chunk["choices"] == []
