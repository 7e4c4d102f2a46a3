"""The Realtime API's plain pieces: synthetic audio, event validation, a response's events."""

from __future__ import annotations

import pytest

from simulator.engine.types import ChoicePlan, Plan, ToolCallPlan, Usage
from simulator.providers.openai.realtime import audio, events
from simulator.providers.openai.realtime.render import ResponseRenderer
from simulator.providers.openai.realtime.session import Conversation, SessionConfig
from simulator.server.http import ProviderError


def test_speech_is_whole_pcm16_samples_of_a_tokens_length_and_continues_the_tone():
    first = audio.speech(1, "audio/pcm")
    assert len(first) == int(audio.SECONDS_PER_TOKEN * 48_000)
    assert audio.speech(2, "audio/pcm") == first + audio.speech(1, "audio/pcm", len(first))
    assert audio.speech(1, "audio/pcmu") == b"\xff" * 2400  # 8 kHz G.711: one byte a sample
    assert audio.input_audio_tokens(48_000, "audio/pcm") == 10


def test_a_session_update_is_checked_before_anything_changes():
    session = SessionConfig(model="gpt-realtime")
    with pytest.raises(ProviderError) as beta:
        events.update_session({"type": "realtime", "modalities": ["text"]}, session)
    assert (beta.value.code, beta.value.param) == ("unknown_parameter", "session.modalities")
    with pytest.raises(ProviderError) as both:
        events.update_session({"type": "realtime", "output_modalities": ["text", "audio"]}, session)
    assert both.value.param == "session.output_modalities"
    with pytest.raises(ProviderError) as missing:
        events.update_session({"instructions": "Hi"}, session)
    assert missing.value.code == "missing_required_parameter"
    assert session.instructions == "" and session.output_modalities == ("audio",)
    updated = events.update_session({"type": "realtime", "audio": {"output": {"voice": "marin"}}}, session)
    assert updated.audio["output"]["voice"] == "marin" and updated.output_format == "audio/pcm"


def test_a_function_call_plan_renders_item_arguments_and_done_in_order():
    call = ToolCallPlan("abc", "lookup", '{"order":42}', ('{"order"', ":42}"))
    plan = Plan("m", (ChoicePlan((), "tool_calls", 3, (call,)),), Usage(7, 3), 0.0, (0.0, 0.01, 0.02))
    conversation = Conversation()
    renderer = ResponseRenderer(
        events.response_options(None, SessionConfig(model="m"), conversation),
        SessionConfig(model="m"),
        lambda item: conversation.insert(item, None),
    )
    renderer.start(plan, 0)
    kinds = [event["type"] for event in renderer.render(0, 3, True)]
    assert kinds == [
        "response.output_item.added",
        "conversation.item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "conversation.item.done",
    ]
    done = renderer.done()["response"]
    assert done["output"][0]["arguments"] == '{"order":42}' and done["output"][0]["call_id"] == "call_abc"
    assert done["usage"]["output_tokens"] == 3 and conversation.messages()[0].tool_calls[0].name == "lookup"
