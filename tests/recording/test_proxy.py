"""The recording proxy (`manage.py llmsim_record`) between the official SDKs and a live
LLMSim on a known schedule: answers pass through unchanged and as they arrive, and every
generation exchange lands in an anonymised cassette with its timing."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from django.core.management import CommandError, call_command
from google import genai

from simulator.management.commands.llmsim_record import upstream_url
from simulator.recording.anonymise import Anonymiser
from simulator.recording.cassettes import Exchange, read_directory
from simulator.recording.proxy import Recording, SseSplitter, provider_of
from tests.conftest import INSTANT, free_port
from tests.recording.recorders import Recorder, start_recorders, stop_recorders

LIVE_SERVERS = ("serve",)

API_KEY = "sk-proxy-test-secret-4f1c9a"
EMAIL = "ada.lovelace@example.com"
SCHEDULE = {"x-llmsim-ttft-ms": "300", "x-llmsim-tbt-ms": "30", "x-llmsim-tokens": "30"}
SEEDED = {**INSTANT, "x-llmsim-seed": "7"}
OPENAI_MODEL = "gpt-4o"
ANTHROPIC_MODEL = "claude-haiku-4-5"
GEMINI_MODEL = "gemini-2.5-flash"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def upstream(llmsim_server, module_scenarios):
    module_scenarios(
        "proxy-faults",
        rules=[
            {
                "match_header": "x-test-case: stream-drop",
                "action": {"generate": True, "fault": {"kind": "disconnect", "after_tokens": 5}},
            },
        ],
    )
    return llmsim_server


@pytest.fixture(scope="module")
def recorders(upstream, tmp_path_factory) -> Iterator[dict[str, Recorder]]:
    unreachable = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = start_recorders(
        tmp_path_factory.mktemp("recorders"),
        {
            "main": ["--upstream", upstream.base_url],
            "capped": ["--upstream", upstream.base_url, "--max-directory-bytes", "1"],
            "unreachable": ["--upstream", unreachable],
        },
    )
    yield started
    stop_recorders(started)


@pytest.fixture(scope="module")
def recorder(recorders) -> Recorder:
    return recorders["main"]


def new_cassette(recorder: Recorder, before: int, timeout: float = 10) -> Exchange:
    """The one cassette written since there were `before` (the proxy writes it after the answer's end)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = recorder.files()
        if len(files) > before:
            assert len(files) == before + 1, [file.name for file in files]
            cassettes = dict(read_directory(recorder.cassettes))
            return cassettes[files[-1]]
        time.sleep(0.05)
    raise AssertionError(f"no cassette written within {timeout} s:\n{recorder.log()}")


def recorded(recorder: Recorder, call: Callable[[], Any]) -> tuple[Any, Exchange]:
    before = len(recorder.files())
    result = call()
    return result, new_cassette(recorder, before)


def openai_client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=API_KEY, max_retries=0)


def sse_data(exchange: Exchange) -> list[dict]:
    """The JSON of each recorded event's data line (a stream's [DONE] left out)."""
    found = []
    for chunk in exchange.response.chunks:
        for line in chunk.text.splitlines():
            if line.startswith("data: ") and line != "data: [DONE]":
                found.append(json.loads(line.removeprefix("data: ")))
    return found


def assert_whole_events_in_order(exchange: Exchange) -> None:
    chunks = exchange.response.chunks
    assert chunks, "a streamed answer is recorded as chunks"
    for chunk in chunks:
        assert chunk.text.endswith("\n\n"), chunk.text
        assert "\n\n" not in chunk.text[:-2], f"one event per chunk: {chunk.text!r}"
    times = [chunk.at_ms for chunk in chunks]
    assert times == sorted(times)
    assert times[-1] > times[0] + 300, "30 tokens at 30 ms apart spread over the stream"
    assert exchange.response.complete


def post(base_url: str, path: str, body: dict, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{base_url}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_provider_of_sorts_paths_by_api():
    assert provider_of("/v1/chat/completions") == "openai"
    assert provider_of("/v1/models/gpt-4o") == "openai"
    assert provider_of("/v1/messages") == "anthropic"
    assert provider_of("/v1/messages/count_tokens") == "anthropic"
    assert provider_of("/v1beta/models/gemini-2.5-flash:streamGenerateContent") == "gemini"
    assert provider_of("/v1/models/gemini-2.5-flash:generateContent") == "gemini"
    assert provider_of("/health") is None
    assert provider_of("/v1beta2") is None


def test_openai_chat_answers_as_directly_and_is_recorded_anonymised(recorder, upstream):
    messages = [{"role": "user", "content": f"Write to {EMAIL} please"}]
    with openai_client(upstream.base_url) as direct:
        expected = direct.chat.completions.create(model=OPENAI_MODEL, messages=messages, extra_headers=SEEDED)
    with openai_client(recorder.base_url) as client:
        answer, exchange = recorded(
            recorder,
            lambda: client.chat.completions.create(model=OPENAI_MODEL, messages=messages, extra_headers=SEEDED),
        )
    assert answer.choices[0].message.content == expected.choices[0].message.content
    assert exchange.provider == "openai"
    assert exchange.upstream == upstream.base_url
    assert exchange.request.path == "/v1/chat/completions"
    assert exchange.request.body["messages"][0]["content"] == "Write to <email-1> please"
    assert "authorization" not in exchange.request.headers
    assert exchange.request.headers["content-type"] == "application/json"
    assert exchange.response.status == 200
    assert exchange.response.body["choices"][0]["message"]["content"] == answer.choices[0].message.content
    assert not exchange.response.streamed
    assert "content-length" not in exchange.response.headers


def test_openai_stream_reaches_the_client_as_it_arrives_and_is_recorded_event_by_event(recorder, upstream):
    headers = {**SCHEDULE, "x-llmsim-seed": "11"}
    messages = [{"role": "user", "content": "Tell me a story"}]
    with openai_client(upstream.base_url) as direct:
        stream = direct.chat.completions.create(
            model=OPENAI_MODEL, messages=messages, stream=True, extra_headers=headers
        )
        expected = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    def stream_through_the_recorder():
        arrivals, text = [], []
        started = time.monotonic()
        with openai_client(recorder.base_url) as client:
            for chunk in client.chat.completions.create(
                model=OPENAI_MODEL, messages=messages, stream=True, extra_headers=headers
            ):
                arrivals.append(time.monotonic() - started)
                text.extend(choice.delta.content or "" for choice in chunk.choices)
        return arrivals, "".join(text)

    (arrivals, text), exchange = recorded(recorder, stream_through_the_recorder)
    assert text == expected
    assert arrivals[0] < arrivals[-1] / 2, f"the first chunk came at {arrivals[0]:.2f} s of {arrivals[-1]:.2f} s"
    assert_whole_events_in_order(exchange)
    assert len(exchange.response.chunks) == len(arrivals) + 1  # and data: [DONE]
    assert exchange.response.chunks[-1].text == "data: [DONE]\n\n"
    first_content = next(
        chunk for chunk in exchange.response.chunks if '"content":"' in chunk.text and '"content":""' not in chunk.text
    )
    assert 200 <= first_content.at_ms <= 900, first_content
    assert (
        "".join(piece["choices"][0]["delta"].get("content") or "" for piece in sse_data(exchange) if piece["choices"])
        == text
    )
    assert exchange.response.headers["content-type"].startswith("text/event-stream")


def test_openai_tool_calls_are_recorded(recorder, upstream):
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    kwargs = {"model": OPENAI_MODEL, "messages": messages, "tools": [WEATHER_TOOL], "tool_choice": "required"}
    with openai_client(upstream.base_url) as direct:
        expected = direct.chat.completions.create(**kwargs, extra_headers=SEEDED)
    with openai_client(recorder.base_url) as client:
        answer, exchange = recorded(recorder, lambda: client.chat.completions.create(**kwargs, extra_headers=SEEDED))
    call = answer.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert call.function.arguments == expected.choices[0].message.tool_calls[0].function.arguments
    assert exchange.request.body["tools"][0]["function"]["name"] == "get_weather"
    recorded_call = exchange.response.body["choices"][0]["message"]["tool_calls"][0]
    assert recorded_call["function"]["arguments"] == call.function.arguments


def test_openai_responses_stream_is_recorded_one_chunk_per_event(recorder):
    with openai_client(recorder.base_url) as client:
        events, exchange = recorded(
            recorder,
            lambda: list(client.responses.create(model=OPENAI_MODEL, input="Hi", stream=True, extra_headers=SCHEDULE)),
        )
    assert events[-1].type == "response.completed"
    assert_whole_events_in_order(exchange)
    assert len(exchange.response.chunks) == len(events)
    assert [piece["type"] for piece in sse_data(exchange)] == [event.type for event in events]
    assert exchange.request.path == "/v1/responses"


def test_anthropic_stream_is_recorded_one_chunk_per_event(recorder, upstream):
    def stream(base_url: str) -> str:
        with (
            anthropic.Anthropic(base_url=base_url, api_key=API_KEY, max_retries=0) as client,
            client.messages.stream(
                model=ANTHROPIC_MODEL,
                max_tokens=100,
                messages=[{"role": "user", "content": f"Mail {EMAIL}"}],
                extra_headers={**SCHEDULE, "x-llmsim-seed": "5"},
            ) as events,
        ):
            return "".join(events.text_stream)

    expected = stream(upstream.base_url)
    text, exchange = recorded(recorder, lambda: stream(recorder.base_url))
    assert text == expected
    assert exchange.provider == "anthropic"
    assert exchange.request.headers["anthropic-version"]
    assert "x-api-key" not in exchange.request.headers
    assert_whole_events_in_order(exchange)
    kinds = [piece["type"] for piece in sse_data(exchange)]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert all(chunk.text.startswith("event: ") for chunk in exchange.response.chunks)
    first_delta = next(chunk for chunk in exchange.response.chunks if "content_block_delta" in chunk.text)
    assert 200 <= first_delta.at_ms <= 900, first_delta


def gemini_client(base_url: str, headers: dict[str, str]) -> genai.Client:
    return genai.Client(api_key=API_KEY, http_options={"base_url": base_url, "headers": headers})


def test_gemini_generate_and_stream_are_recorded(recorder, upstream):
    seeded = {**SCHEDULE, "x-llmsim-seed": "3"}
    with gemini_client(upstream.base_url, SEEDED) as direct:
        expected = direct.models.generate_content(model=GEMINI_MODEL, contents="Hello").text
    with gemini_client(recorder.base_url, SEEDED) as client:
        answer, plain = recorded(recorder, lambda: client.models.generate_content(model=GEMINI_MODEL, contents="Hello"))
    assert answer.text == expected
    assert plain.provider == "gemini"
    assert plain.request.path.endswith(f"/models/{GEMINI_MODEL}:generateContent")
    assert plain.response.body["candidates"][0]["content"]["parts"][0]["text"] == answer.text

    with gemini_client(recorder.base_url, seeded) as client:
        pieces, streamed = recorded(
            recorder,
            lambda: [piece.text for piece in client.models.generate_content_stream(model=GEMINI_MODEL, contents="Hi")],
        )
    assert streamed.request.path.endswith(f"/models/{GEMINI_MODEL}:streamGenerateContent")
    assert streamed.request.query == {"alt": "sse"}
    assert_whole_events_in_order(streamed)
    assert len(streamed.response.chunks) == len(pieces)
    assert 200 <= streamed.response.chunks[0].at_ms <= 900


def test_a_gemini_stream_without_sse_is_recorded_as_the_pieces_of_its_json_array(recorder):
    path = f"/v1beta/models/{GEMINI_MODEL}:streamGenerateContent"
    body = {"contents": [{"parts": [{"text": "Hi"}]}]}

    def stream() -> bytes:
        with (
            httpx2.Client() as client,
            client.stream(
                "POST", f"{recorder.base_url}{path}", json=body, headers={"x-goog-api-key": API_KEY, **SCHEDULE}
            ) as response,
        ):
            assert response.status_code == 200
            return b"".join(response.iter_bytes())

    received, exchange = recorded(recorder, stream)
    chunks = exchange.response.chunks
    assert len(chunks) > 1
    assert "".join(chunk.text for chunk in chunks) == received.decode()
    assert all(part["candidates"][0]["content"]["role"] == "model" for part in json.loads(received))
    assert exchange.response.headers["content-type"].startswith("application/json")
    assert exchange.request.query == {}
    assert "x-goog-api-key" not in exchange.request.headers


def test_the_key_query_parameter_is_forwarded_and_never_written(recorder):
    path = f"/v1beta/models/{GEMINI_MODEL}:countTokens?key={API_KEY}"
    body = {"contents": [{"parts": [{"text": "How many?"}]}]}
    (status, answer), exchange = recorded(recorder, lambda: post(recorder.base_url, path, body))
    assert status == 200, answer
    assert answer["totalTokens"] > 0
    assert exchange.request.query == {}
    assert exchange.response.body == answer
    assert API_KEY not in recorder.log()


def test_an_upstream_error_passes_through_and_is_recorded(recorder):
    with openai_client(recorder.base_url) as client:
        before = len(recorder.files())
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(
                model=OPENAI_MODEL,
                messages=[{"role": "user", "content": "Hi"}],
                stream=True,
                extra_headers={"x-llmsim-error": "429"},
            )
    exchange = new_cassette(recorder, before)
    assert caught.value.status_code == 429
    assert exchange.response.status == 429
    assert not exchange.response.streamed
    assert exchange.response.body["error"] == caught.value.body


def test_a_stream_the_upstream_drops_is_dropped_for_the_client_and_recorded_incomplete(recorder):
    received = []
    with openai_client(recorder.base_url) as client:
        before = len(recorder.files())
        with pytest.raises((openai.APIError, httpx2.TransportError)):
            for chunk in client.chat.completions.create(
                model=OPENAI_MODEL,
                messages=[{"role": "user", "content": "Hi"}],
                stream=True,
                extra_headers={**INSTANT, "x-llmsim-scenario": "proxy-faults", "x-test-case": "stream-drop"},
            ):
                received.append(chunk)
    exchange = new_cassette(recorder, before)
    assert received, "what arrived before the drop reached the client"
    assert exchange.response.complete is False
    assert exchange.response.chunks
    assert "dropped the connection mid-answer" in recorder.log()
    assert "Traceback" not in recorder.log()
    assert "[DONE]" not in "".join(chunk.text for chunk in exchange.response.chunks)


def test_a_client_that_leaves_mid_stream_ends_the_exchange_unrecorded(recorder):
    body = {"model": OPENAI_MODEL, "messages": [{"role": "user", "content": "Hi"}], "stream": True}
    headers = {"Authorization": f"Bearer {API_KEY}", **SCHEDULE, "x-llmsim-tokens": "60"}  # about 2 s
    before = len(recorder.files())
    with (
        httpx2.Client() as client,
        client.stream("POST", f"{recorder.base_url}/v1/chat/completions", json=body, headers=headers) as response,
    ):
        first = next(response.iter_bytes())
    assert first.startswith(b"data: ")
    time.sleep(3)  # past the whole stream's end, had the recorder kept reading it
    assert len(recorder.files()) == before
    assert "the client left amid the answer" in recorder.log()


def test_an_unreachable_upstream_answers_502_and_records_nothing(recorders):
    recorder = recorders["unreachable"]
    status, answer = post(recorder.base_url, "/v1/chat/completions", {"model": OPENAI_MODEL, "messages": []})
    assert status == 502
    assert answer["error"]["type"] == "upstream_unreachable"
    assert answer["error"]["message"].startswith("LLMSim recorder: the upstream http://127.0.0.1:")
    assert recorder.files() == []


def test_a_full_directory_still_answers_and_writes_nothing(recorders):
    recorder = recorders["capped"]
    body = {"model": OPENAI_MODEL, "messages": [{"role": "user", "content": "Hi"}]}
    status, answer = post(recorder.base_url, "/v1/chat/completions", body, INSTANT)
    assert status == 200
    assert answer["choices"][0]["message"]["content"]
    deadline = time.monotonic() + 5
    while "--max-directory-bytes" not in recorder.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "--max-directory-bytes" in recorder.log()
    assert recorder.files() == []


def test_other_paths_are_not_served(recorder):
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{recorder.base_url}/health", timeout=5)
    assert caught.value.code == 404
    assert json.loads(caught.value.read())["error"]["type"] == "not_found"


def test_routes_other_than_generation_are_forwarded_not_recorded(recorder):
    before = len(recorder.files())
    with openai_client(recorder.base_url) as client:
        models = client.models.list()
    assert any(model.id == OPENAI_MODEL for model in models)
    time.sleep(0.3)
    assert len(recorder.files()) == before


def test_no_cassette_holds_a_key_or_an_email_address(recorder):
    prompt = f"Reply to {EMAIL}"
    with openai_client(recorder.base_url) as client:
        recorded(
            recorder,
            lambda: client.chat.completions.create(
                model=OPENAI_MODEL, messages=[{"role": "user", "content": prompt}], extra_headers=INSTANT
            ),
        )
    messages = [{"role": "user", "content": prompt}]
    with anthropic.Anthropic(base_url=recorder.base_url, api_key=API_KEY, max_retries=0) as client:
        recorded(
            recorder,
            lambda: client.messages.create(
                model=ANTHROPIC_MODEL, max_tokens=20, messages=messages, extra_headers=INSTANT
            ),
        )
    with gemini_client(recorder.base_url, INSTANT) as client:
        recorded(recorder, lambda: client.models.generate_content(model=GEMINI_MODEL, contents=prompt))
    # Every cassette the module wrote so far, these three included.
    texts = [path.read_text() for path in recorder.files()]
    assert len(texts) >= 3
    for text in texts:
        assert API_KEY not in text
        assert EMAIL not in text
        assert "@example.com" not in text


def test_sse_events_are_cut_at_blank_lines_across_and_within_reads():
    splitter = SseSplitter()
    assert splitter.feed(b"event: a\ndata: 1") == []
    assert splitter.feed(b"\n\nevent: b\r\ndata: 2\r\n\r\ndata: ") == [
        "event: a\ndata: 1\n\n",
        "event: b\r\ndata: 2\r\n\r\n",
    ]
    assert splitter.feed(b"3\n") == []
    assert splitter.feed(b"\n") == ["data: 3\n\n"]
    assert splitter.feed(b"data: unfinished") == []
    assert splitter.rest() == "data: unfinished"


def test_a_stream_past_the_cassette_limit_is_not_kept():
    recording = Recording(Anonymiser(), limit_bytes=40, streamed=True, sse=True)
    recording.add(1.0, b"data: " + b"x" * 10 + b"\n\n")
    assert not recording.too_large
    recording.add(2.0, b"data: " + b"y" * 50)  # an event that has not ended yet, already too large
    assert recording.too_large
    assert recording.response_fields() == {"chunks": ()}


def test_a_split_utf8_character_of_a_json_stream_is_kept_whole():
    recording = Recording(Anonymiser(), limit_bytes=1000, streamed=True, sse=False)
    encoded = '[{"text": "é"}]'.encode()
    cut = encoded.index("é".encode()) + 1
    recording.add(1.0, encoded[:cut])
    recording.add(2.0, encoded[cut:])
    recording.finish(3.0)
    assert "".join(chunk.text for chunk in recording.chunks.chunks) == '[{"text": "é"}]'
    assert [chunk.at_ms for chunk in recording.chunks.chunks] == [1.0, 2.0]


@pytest.mark.parametrize(
    ("argument", "problem"),
    [
        ("ftp://example.com", "the scheme must be http or https"),
        ("https://", "it has no host"),
        ("https://api.openai.com/v1", "give only scheme://host[:port]"),
        ("https://user:pw@api.openai.com", "credentials do not belong in it"),
    ],
)
def test_a_bad_upstream_url_is_refused_with_the_reason(argument, problem, tmp_path):
    with pytest.raises(CommandError, match=re.escape(problem)):
        call_command("llmsim_record", "--cassettes", str(tmp_path), "--upstream-anthropic", argument)


def test_the_upstream_urls_keep_scheme_host_and_port():
    assert upstream_url("http://127.0.0.1:8000/", "--upstream") == "http://127.0.0.1:8000"
    assert upstream_url("https://api.openai.com", "--upstream") == "https://api.openai.com"


def test_a_bad_redact_pattern_is_refused(tmp_path):
    with pytest.raises(CommandError, match="--redact"):
        call_command("llmsim_record", "--cassettes", str(tmp_path), "--redact", "(unclosed")
