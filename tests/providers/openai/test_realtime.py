"""The Realtime API over a WebSocket, through the openai SDK's client.realtime.connect."""

from __future__ import annotations

import base64
import json
import time

import openai
import pytest
import websockets.sync.client
from websockets.exceptions import ConnectionClosedError

from tests.conftest import INSTANT, get_json

LIVE_SERVERS = ("serve",)  # one test below runs on runserver (Daphne) too

MODEL = "gpt-realtime"
LOOKUP = {
    "type": "function",
    "name": "lookup",
    "description": "Find an order.",
    "parameters": {"type": "object", "properties": {"order": {"type": "integer"}}, "required": ["order"]},
}


@pytest.fixture(scope="module")
def scenarios(module_scenarios):
    module_scenarios(
        "realtime-rules",
        rules=[
            {"match_last_user": "magic words", "action": {"text": "A rule answered."}},
            {"match_header": "x-test-case: fail", "action": {"error": {"status": 500, "message": "Scripted."}}},
            {
                "match_header": "x-test-case: break",
                "action": {"generate": True, "fault": {"kind": "error", "after_tokens": 3, "message": "Boom."}},
            },
        ],
    )
    module_scenarios("realtime-limits", requests_per_minute=1)


def sdk(server, api_key: str = "test") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=api_key, max_retries=0)


def connect(server, headers: dict[str, str] | None = None, api_key: str = "test", model: str = MODEL):
    return sdk(server, api_key).realtime.connect(model=model, extra_headers={**INSTANT, **(headers or {})})


def until(connection, kind: str) -> list:
    """The events up to and including the first of type `kind`."""
    seen = []
    while True:
        event = connection.recv()
        seen.append(event)
        if event.type == kind:
            return seen


def say(connection, text: str, **response) -> list:
    connection.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    )
    if response:
        connection.response.create(response=response)
    else:
        connection.response.create()
    return until(connection, "response.done")


def test_a_text_exchange_streams_its_events_in_order(llmsim_server):
    with connect(llmsim_server) as connection:
        created = connection.recv()
        assert created.type == "session.created" and created.session.model == MODEL
        connection.session.update(
            session={"type": "realtime", "output_modalities": ["text"], "instructions": "Be brief."}
        )
        assert connection.recv().session.output_modalities == ["text"]
        events = say(connection, "Hello there")
    kinds = [event.type for event in events if event.type != "rate_limits.updated"]  # the model's default limits
    assert kinds[:3] == ["conversation.item.added", "conversation.item.done", "response.created"]
    assert kinds[3:6] == ["response.output_item.added", "conversation.item.added", "response.content_part.added"]
    assert kinds[-5:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    done = events[-1].response
    assert text and done.output[0].content[0].text == text
    assert done.status == "completed"
    usage = done.usage
    assert usage.output_tokens == usage.output_token_details.text_tokens == kinds.count("response.output_text.delta")
    assert usage.input_tokens == usage.input_token_details.text_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


def test_an_audio_answer_is_pcm16_of_a_plausible_length_with_its_transcript(llmsim_server):
    with connect(llmsim_server) as connection:
        until(connection, "session.created")
        connection.input_audio_buffer.append(audio=base64.b64encode(b"\x00\x01" * 24000).decode())  # 1 s
        connection.input_audio_buffer.commit()
        committed = until(connection, "conversation.item.done")
        assert committed[0].type == "input_audio_buffer.committed"
        connection.response.create()
        events = until(connection, "response.done")
    sound = b"".join(base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta")
    transcript = "".join(e.delta for e in events if e.type == "response.output_audio_transcript.delta")
    done = events[-1].response
    tokens = done.usage.output_token_details.text_tokens
    assert len(sound) % 2 == 0 and 0.2 * tokens <= len(sound) / 48000 <= 0.5 * tokens  # 24 kHz PCM16
    assert done.output[0].content[0].transcript == transcript != ""
    assert done.usage.input_token_details.audio_tokens == 10  # one second heard
    assert done.usage.output_token_details.audio_tokens > 0


def test_a_function_call_round(llmsim_server):
    with connect(llmsim_server) as connection:
        until(connection, "session.created")
        session = {"type": "realtime", "output_modalities": ["text"], "tools": [LOOKUP], "tool_choice": "required"}
        connection.session.update(session=session)
        events = say(connection, "Where is order 42?")
        added = next(e for e in events if e.type == "response.output_item.added")
        assert added.item.type == "function_call" and added.item.name == "lookup"
        arguments = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
        done = next(e for e in events if e.type == "response.function_call_arguments.done")
        assert done.arguments == arguments and isinstance(json.loads(arguments)["order"], int)
        connection.conversation.item.create(
            item={"type": "function_call_output", "call_id": done.call_id, "output": '{"status": "shipped"}'}
        )
        connection.session.update(session={"type": "realtime", "tool_choice": "none"})
        connection.response.create()
        answer = until(connection, "response.done")[-1].response
    assert answer.output[0].type == "message" and answer.output[0].content[0].text


def test_response_cancel_stops_the_answer_midway(llmsim_server):
    slow = {"x-llmsim-ttft-ms": "0", "x-llmsim-tbt-ms": "20", "x-llmsim-tokens": "200"}
    with connect(llmsim_server, slow) as connection:
        until(connection, "session.created")
        connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        connection.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Talk a lot"}]}
        )
        connection.response.create()
        until(connection, "response.output_text.delta")
        connection.response.cancel()
        events = until(connection, "response.done")
    done = events[-1].response
    assert done.status == "cancelled" and done.status_details.reason == "client_cancelled"
    assert 0 < done.usage.output_tokens < 200
    assert done.output[0].status == "incomplete"


def test_bad_events_answer_error_events_and_the_session_goes_on(llmsim_server):
    with connect(llmsim_server) as connection:
        until(connection, "session.created")
        ws = connection._connection if hasattr(connection, "_connection") else connection.ws
        ws.send('{"type": "no.such.event", "event_id": "evt_1"}')
        ws.send("not json")
        ws.send('{"type": "session.update", "event_id": "evt_2", "session": {"type": "realtime", "modalities": []}}')
        connection.input_audio_buffer.commit()
        connection.response.cancel()
        errors = [connection.recv() for _ in range(5)]
        assert all(e.type == "error" for e in errors)
        assert [e.error.code for e in errors] == [
            "invalid_value",
            "invalid_json",
            "unknown_parameter",
            "input_audio_buffer_commit_empty",
            "response_cancel_not_active",
        ]
        assert errors[0].error.event_id == "evt_1" and errors[0].error.param == "type"
        assert errors[2].error.param == "session.modalities" and errors[2].error.type == "invalid_request_error"
        assert say(connection, "Still there?")[-1].response.status == "completed"


def test_a_missing_key_and_an_unknown_model_are_refused_as_openai_does(llmsim_server, live_db, edit):
    from simulator.models import SimulatorSettings

    url = llmsim_server.base_url.replace("http", "ws", 1) + f"/v1/realtime?model={MODEL}"
    with websockets.sync.client.connect(url) as connection:  # no Authorization header
        error = json.loads(connection.recv(timeout=5))
        assert error["type"] == "error" and error["error"]["code"] == "missing_api_key"
        assert error["error"]["type"] == "invalid_request_error"
        with pytest.raises(ConnectionClosedError) as closed:
            connection.recv(timeout=5)
    assert closed.value.rcvd.code == 3000
    assert closed.value.rcvd.reason == "invalid_request_error.missing_api_key"
    edit(SimulatorSettings.load(live_db), strict_models=True)
    with connect(llmsim_server, model="no-such-model") as connection:
        assert connection.recv().error.code == "model_not_found"
    # A snapshot name of the realtime model is its preset's, even in strict mode, and is priced.
    snapshot = "gpt-realtime-2025-08-28"
    with connect(llmsim_server, model=snapshot) as connection:
        until(connection, "session.created")
        connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        done = say(connection, "Hello")[-1]
    assert done.response.status == "completed"
    usage = done.response.usage
    expected = (usage.input_tokens * 4.0 + usage.output_tokens * 16.0) / 1_000_000  # OpenAI's text prices
    deadline = time.monotonic() + 5
    while (costs := get_json(f"{llmsim_server.base_url}/llmsim/stats")["cost"]["by_model"]).get(snapshot) is None:
        assert time.monotonic() < deadline, costs
        time.sleep(0.05)
    assert costs[snapshot]["usd"] == pytest.approx(expected)


def test_a_scenario_rule_and_rate_limit_apply(llmsim_server, scenarios):
    with connect(llmsim_server, {"x-llmsim-scenario": "realtime-rules"}) as connection:
        until(connection, "session.created")
        connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        assert say(connection, "Say the magic words")[-1].response.output[0].content[0].text == "A rule answered."
    with connect(llmsim_server, {"x-llmsim-scenario": "realtime-rules", "x-test-case": "fail"}) as connection:
        until(connection, "session.created")
        failed = say(connection, "Anything")
        assert [e.type for e in failed][-2:] == ["response.created", "response.done"]
        assert failed[-1].response.status == "failed"
        assert failed[-1].response.status_details.error.message == "Scripted."
    with connect(llmsim_server, {"x-llmsim-scenario": "realtime-rules", "x-test-case": "break"}) as connection:
        until(connection, "session.created")
        connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        broken = say(connection, "Anything")
        assert sum(e.type == "response.output_text.delta" for e in broken) == 3
        assert broken[-1].response.status == "failed"
        assert broken[-1].response.status_details.error.message == "Boom."
    with connect(llmsim_server, {"x-llmsim-scenario": "realtime-limits"}) as connection:
        until(connection, "session.created")
        first = say(connection, "One")
        limits = next(e for e in first if e.type == "rate_limits.updated").rate_limits
        assert {(r.name, r.limit, r.remaining) for r in limits} >= {("requests", 1, 0)}
        connection.response.create()
        error = connection.recv()
    assert error.type == "error" and error.error.code == "rate_limit_exceeded"
    calls = get_json(f"{llmsim_server.base_url}/llmsim/stats")["requests"]["by_endpoint"]
    assert calls["/v1/realtime"] >= 5  # each response is one request in the stats


@pytest.mark.live_servers("runserver", "serve")
def test_the_async_client_talks_through_every_server(llmsim_server):
    import asyncio

    async def talk() -> str:
        client = openai.AsyncOpenAI(base_url=f"{llmsim_server.base_url}/v1", api_key="test", max_retries=0)
        async with client.realtime.connect(model=MODEL, extra_headers=INSTANT) as connection:
            await connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
            await connection.conversation.item.create(
                item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
            )
            await connection.response.create()
            started = time.monotonic()
            async for event in connection:
                if event.type == "response.done":
                    assert time.monotonic() - started < 5
                    return event.response.status

    assert asyncio.run(talk()) == "completed"
