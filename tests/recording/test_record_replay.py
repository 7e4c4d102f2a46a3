"""The whole loop, as a user runs it: record real traffic through `llmsim_record` (the
upstream: a live LLMSim on a 300 ms / 30 ms schedule), import the cassettes as a replay
scenario, and replay them to the same SDK calls — same text, same events, same timing;
then calibrate a profile to them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anthropic
import openai
import pytest
from django.core.management import call_command

from simulator.recording.calibrate import fit_directory, samples_of
from simulator.recording.cassettes import read_directory
from tests.conftest import register_live_database
from tests.recording.recorders import Recorder, start_recorders, stop_recorders

LIVE_SERVERS = ("serve",)
pytestmark = pytest.mark.live

SCHEDULE = {"x-llmsim-ttft-ms": "300", "x-llmsim-tbt-ms": "30", "x-llmsim-tokens": "12"}
QUESTIONS = ("Tell me about lighthouses", "And about harbours?", "Write to ada@example.com")


@pytest.fixture(scope="module")
def recorder(llmsim_server, tmp_path_factory) -> Iterator[Recorder]:
    recorders = start_recorders(tmp_path_factory.mktemp("loop"), {"main": ["--upstream", llmsim_server.base_url]})
    yield recorders["main"]
    stop_recorders(recorders)


def chat(base_url: str, question: str, headers: dict[str, str]):
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-loop-secret", max_retries=0)
    started = time.monotonic()
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": question}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=headers,
    )
    texts, arrivals = [], []
    for chunk in stream:
        texts.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
        arrivals.append(time.monotonic() - started)
    return texts, arrivals


@pytest.fixture(scope="module")
def recorded(recorder, llmsim_server, django_db_blocker) -> dict[str, tuple[list[str], list[float]]]:
    """Each question asked through the recorder (what the client saw), then imported as `loop`."""
    from simulator.state.snapshots import read_version

    seen = {question: chat(recorder.base_url, question, SCHEDULE) for question in QUESTIONS}
    message = anthropic.Anthropic(base_url=recorder.base_url, api_key="sk-ant-loop-secret", max_retries=0)
    with message.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=64,
        messages=[{"role": "user", "content": "Anthropic, please"}],
        extra_headers=SCHEDULE,
    ) as stream:
        seen["anthropic"] = ("".join(stream.text_stream), [])
    # The recorder writes a cassette once the answer has gone out: the client can be done first.
    deadline = time.monotonic() + 10
    while len(recorder.files()) < len(QUESTIONS) + 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(recorder.files()) == len(QUESTIONS) + 1, recorder.log()
    with django_db_blocker.unblock():
        register_live_database(llmsim_server)
        call_command(
            "llmsim_import", cassettes=str(recorder.cassettes), scenario="loop", database=llmsim_server.db_alias
        )
        llmsim_server.wait_for_version(read_version(llmsim_server.db_alias))
    return seen


def recorded_streams(recorder: Recorder) -> dict[str, tuple[float, float]]:
    """Per question: the cassette's first content and last event (ms after the request was sent upstream)."""
    found = {}
    for _, exchange in read_directory(recorder.cassettes):
        sample = samples_of(exchange)
        if sample is not None and exchange.provider == "openai":
            question = exchange.request.body["messages"][-1]["content"]
            found[question] = (sample.ttft_ms, exchange.response.chunks[-1].at_ms)
    return found


def test_replay_gives_the_recorded_text_events_and_timing(llmsim_server, recorded, recorder, capsys) -> None:
    cassettes = recorded_streams(recorder)
    for question in QUESTIONS:
        recorded_texts, recorded_arrivals = recorded[question]
        texts, arrivals = chat(llmsim_server.base_url, question, {"x-llmsim-scenario": "loop"})
        assert texts == recorded_texts, question  # the same events, the same text in each
        first = next(i for i, text in enumerate(texts) if text)
        # The replay keeps the cassette's offsets (what the upstream did, without the
        # recorder's own first-connection cost that the recording client also saw).
        cassette_ttft, cassette_end = (ms / 1000 for ms in cassettes[question.replace("ada@example.com", "<email-1>")])
        replayed_ttft, replayed_end = arrivals[first], arrivals[-1]
        assert abs(replayed_ttft - cassette_ttft) <= max(0.1, 0.25 * cassette_ttft), (cassette_ttft, replayed_ttft)
        assert abs(replayed_end - cassette_end) <= max(0.15, 0.25 * cassette_end), (cassette_end, replayed_end)
        with capsys.disabled():  # the side-by-side figures of the closing note
            print(
                f"\n{question!r}: {len(texts)} events; first content: client while recording "
                f"{recorded_arrivals[first] * 1000:.0f} ms, cassette {cassette_ttft * 1000:.0f} ms, replay "
                f"{replayed_ttft * 1000:.0f} ms; last event: client while recording "
                f"{recorded_arrivals[-1] * 1000:.0f} ms, cassette {cassette_end * 1000:.0f} ms, replay "
                f"{replayed_end * 1000:.0f} ms"
            )


def test_the_address_in_the_prompt_is_masked_on_disk_and_given_back_on_replay(llmsim_server, recorded, recorder):
    on_disk = "".join(path.read_text() for path in recorder.files())
    assert "ada@example.com" not in on_disk and "<email-1>" in on_disk
    assert "sk-loop-secret" not in on_disk and "sk-ant-loop-secret" not in on_disk
    texts, _ = chat(llmsim_server.base_url, QUESTIONS[2], {"x-llmsim-scenario": "loop"})
    assert texts == recorded[QUESTIONS[2]][0]


def test_anthropic_replays_too(llmsim_server, recorded) -> None:
    client = anthropic.Anthropic(base_url=llmsim_server.base_url, api_key="test", max_retries=0)
    with client.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=64,
        messages=[{"role": "user", "content": "Anthropic, please"}],
        extra_headers={"x-llmsim-scenario": "loop"},
    ) as stream:
        assert "".join(stream.text_stream) == recorded["anthropic"][0]


def test_calibration_recovers_the_schedule_the_upstream_kept(recorded, recorder) -> None:
    (fitted,) = fit_directory(recorder.cassettes, model="gpt-4o")
    assert fitted.streams == len(QUESTIONS)
    assert 270 <= fitted.ttft_mean_ms <= 400, fitted
    assert 27 <= fitted.tbt_mean_ms <= 40, fitted
