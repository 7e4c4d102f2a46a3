"""Replay scenarios, live: cassettes imported with `llmsim_import --cassettes`, answered to
the official SDKs with the recorded text, events and timing."""

from __future__ import annotations

import time
from pathlib import Path

import openai
import orjson
import pytest
from django.core.management import call_command

from simulator.recording.cassettes import (
    CassetteDirectory,
    Chunk,
    Exchange,
    RecordedRequest,
    RecordedResponse,
)

LIVE_SERVERS = ("serve",)
pytestmark = pytest.mark.live

WORDS = ["Replayed", " from", " a", " cassette", ",", " word", " by", " word", "."]
TTFT_MS, TBT_MS = 300.0, 30.0


def chat_request(question: str, stream: bool, history: tuple[dict, ...] = ()) -> RecordedRequest:
    body = {"model": "gpt-4o-mini", "messages": [*history, {"role": "user", "content": question}]}
    if stream:
        body["stream"] = True
    return RecordedRequest("POST", "/v1/chat/completions", {}, {"content-type": "application/json"}, body)


def chunk_event(delta: dict, finish: str | None = None) -> str:
    chunk = {
        "id": "chatcmpl-recorded",
        "object": "chat.completion.chunk",
        "created": 1796600000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return f"data: {orjson.dumps(chunk).decode()}\n\n"


def streamed_answer(words: list[str], ttft_ms: float = TTFT_MS, complete: bool = True) -> RecordedResponse:
    chunks = [Chunk(ttft_ms - 5, chunk_event({"role": "assistant", "content": ""}))]
    chunks += [Chunk(ttft_ms + i * TBT_MS, chunk_event({"content": word})) for i, word in enumerate(words)]
    end = ttft_ms + len(words) * TBT_MS
    if complete:
        chunks += [Chunk(end, chunk_event({}, "stop")), Chunk(end, "data: [DONE]\n\n")]
    headers = {"content-type": "text/event-stream; charset=utf-8", "x-request-id": "req_recorded"}
    return RecordedResponse(200, headers, end, complete, chunks=tuple(chunks))


def whole_answer(text: str, status: int = 200) -> RecordedResponse:
    if status != 200:
        error = {"message": text, "type": "requests", "param": None, "code": "rate_limit_exceeded"}
        return RecordedResponse(status, {"content-type": "application/json"}, 120.0, body={"error": error})
    body = {
        "id": "chatcmpl-recorded",
        "object": "chat.completion",
        "created": 1796600000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
    }
    return RecordedResponse(status, {"content-type": "application/json"}, 250.0, body=body)


def exchange(request: RecordedRequest, response: RecordedResponse) -> Exchange:
    return Exchange("openai", "https://api.openai.com", "2026-12-07T02:00:00.000Z", request, response)


@pytest.fixture(scope="module")
def cassettes(tmp_path_factory) -> Path:
    directory = CassetteDirectory(tmp_path_factory.mktemp("cassettes"))
    first_turn = ({"role": "user", "content": "Hello, I am <email-1>"}, {"role": "assistant", "content": "Hi!"})
    for recorded in (
        exchange(chat_request("Tell me a story", stream=True), streamed_answer(WORDS)),
        exchange(chat_request("Tell me a story", stream=False), whole_answer("A whole story.")),
        exchange(chat_request("Spend my budget", stream=False), whole_answer("Rate limit reached", 429)),
        exchange(chat_request("Hello, I am <email-1>", stream=False), whole_answer("Hi!")),
        exchange(chat_request("Who am I?", stream=False, history=first_turn), whole_answer("You are <email-1>.")),
        exchange(chat_request("Drop me", stream=True), streamed_answer(WORDS[:3], complete=False)),
    ):
        directory.write(recorded)
    return directory.path


@pytest.fixture(scope="module")
def replay_scenario(cassettes, llmsim_server, django_db_blocker) -> str:
    from simulator.state.snapshots import read_version

    with django_db_blocker.unblock():
        from tests.conftest import register_live_database

        register_live_database(llmsim_server)
        call_command("llmsim_import", cassettes=str(cassettes), scenario="recorded", database=llmsim_server.db_alias)
        call_command(
            "llmsim_import",
            cassettes=str(cassettes),
            scenario="recorded-strict",
            unmatched="error",
            database=llmsim_server.db_alias,
        )
        llmsim_server.wait_for_version(read_version(llmsim_server.db_alias))
    return "recorded"


def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="test", max_retries=0)


def test_a_stream_replays_its_events_at_their_recorded_offsets(llmsim_server, replay_scenario) -> None:
    started = time.monotonic()
    stream = client(llmsim_server).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Tell me a story"}],
        stream=True,
        extra_headers={"x-llmsim-scenario": replay_scenario},
    )
    arrivals, texts = [], []
    for chunk in stream:
        arrivals.append(time.monotonic() - started)
        texts.append(chunk.choices[0].delta.content or "")
    assert "".join(texts) == "".join(WORDS)
    assert len(texts) == len(WORDS) + 2  # the role chunk, the words, the finish chunk
    first_word = arrivals[1] * 1000
    assert TTFT_MS * 0.9 <= first_word <= TTFT_MS + 400, first_word
    total = (arrivals[-1] - arrivals[1]) * 1000
    assert total >= (len(WORDS) - 1) * TBT_MS * 0.9, total


def test_a_speed_factor_of_3_plays_about_three_times_faster(llmsim_server, replay_scenario) -> None:
    def duration(speed: str) -> float:
        started = time.monotonic()
        stream = client(llmsim_server).chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Tell me a story"}],
            stream=True,
            extra_headers={"x-llmsim-scenario": replay_scenario, "x-llmsim-replay-speed": speed},
        )
        assert "".join(chunk.choices[0].delta.content or "" for chunk in stream) == "".join(WORDS)
        return time.monotonic() - started

    normal, fast, instant = duration("1"), duration("3"), duration("0")
    assert 2.0 <= normal / fast <= 4.5, (normal, fast)
    assert instant < fast


def test_whole_answers_errors_and_turns_replay_as_recorded(llmsim_server, replay_scenario) -> None:
    api = client(llmsim_server)
    headers = {"x-llmsim-scenario": replay_scenario}
    whole = api.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Tell me a story"}], extra_headers=headers
    )
    assert whole.choices[0].message.content == "A whole story."
    with pytest.raises(openai.RateLimitError) as refused:
        api.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Spend my budget"}], extra_headers=headers
        )
    assert refused.value.body["code"] == "rate_limit_exceeded"
    # Two turns, with the caller's own address: masked to match, put back in the answer.
    history = [{"role": "user", "content": "Hello, I am ada@example.org"}]
    first = api.chat.completions.create(model="gpt-4o-mini", messages=history, extra_headers=headers)
    assert first.choices[0].message.content == "Hi!"
    history += [{"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "Who am I?"}]
    second = api.chat.completions.create(model="gpt-4o-mini", messages=history, extra_headers=headers)
    assert second.choices[0].message.content == "You are ada@example.org."


def test_a_recorded_drop_drops_the_connection(llmsim_server, replay_scenario) -> None:
    stream = client(llmsim_server).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Drop me"}],
        stream=True,
        extra_headers={"x-llmsim-scenario": replay_scenario, "x-llmsim-replay-speed": "0"},
    )
    received = []
    with pytest.raises(Exception) as broken:  # the SDK passes httpx2's protocol error through
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "".join(WORDS[:3])
    assert not isinstance(broken.value, AssertionError)


def test_unmatched_requests_are_generated_or_refused_naming_the_nearest(llmsim_server, replay_scenario) -> None:
    api = client(llmsim_server)
    generated = api.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Something never recorded"}],
        extra_headers={"x-llmsim-scenario": replay_scenario},
    )
    assert generated.choices[0].message.content
    with pytest.raises(openai.BadRequestError) as refused:
        api.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Tell me a stroy"}],
            extra_headers={"x-llmsim-scenario": "recorded-strict"},
        )
    message = refused.value.body["message"]
    assert "No recording" in message and "-openai-gpt-4o-mini.yaml" in message, message
    assert refused.value.body["code"] == "no_matching_recording"


def test_a_bad_speed_header_is_refused(llmsim_server, replay_scenario) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client(llmsim_server).chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Tell me a story"}],
            extra_headers={"x-llmsim-scenario": replay_scenario, "x-llmsim-replay-speed": "fast"},
        )
    assert "x-llmsim-replay-speed" in refused.value.body["message"]
