"""Calibration: stream timing read from each provider's events, the fit, and llmsim_calibrate."""

from __future__ import annotations

import io
import json
import random
from dataclasses import replace
from itertools import pairwise

import pytest
from django.core.management import CommandError, call_command

from simulator.models import ModelProfile
from simulator.recording.calibrate import StreamSample, fit, fit_directory, format_fits, samples_of
from simulator.recording.cassettes import CassetteDirectory, Chunk, Exchange, RecordedRequest, RecordedResponse
from simulator.state.snapshots import read_version

# The schedule the synthetic recordings follow, which the fit must recover within 10 %.
TTFT_MS, TTFT_SD_MS = 300.0, 30.0
TBT_MS, TBT_SD_MS = 30.0, 5.0
PREFILL_MS_PER_1K = 100.0

SHAPES = ("openai", "responses", "anthropic", "gemini", "gemini-array")


def sse(data: dict | str, event: str | None = None) -> str:
    payload = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


def openai_events(texts: list[str], prompt_tokens: int | None) -> tuple[list[str], list[str]]:
    """(events before the first token, events carrying tokens and after): a role-only chunk first."""

    def chunk(delta: dict, finish: str | None = None) -> str:
        return sse(
            {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        )

    tail = [chunk({}, "stop")]
    if prompt_tokens is not None:
        tail.append(sse({"object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": prompt_tokens}}))
    tail.append(sse("[DONE]"))
    return [chunk({"role": "assistant", "content": ""})], [chunk({"content": text}) for text in texts] + tail


def responses_events(texts: list[str], prompt_tokens: int | None) -> tuple[list[str], list[str]]:
    head = [
        sse({"type": "response.created", "response": {}}, "response.created"),
        sse({"type": "response.output_item.added"}, "response.output_item.added"),
        sse({"type": "response.content_part.added"}, "response.content_part.added"),
    ]
    deltas = [sse({"type": "response.output_text.delta", "delta": t}, "response.output_text.delta") for t in texts]
    usage = {"input_tokens": prompt_tokens} if prompt_tokens is not None else None
    done = sse({"type": "response.completed", "response": {"usage": usage}}, "response.completed")
    return head, [*deltas, done]


def anthropic_events(texts: list[str], prompt_tokens: int | None) -> tuple[list[str], list[str]]:
    usage = {"input_tokens": prompt_tokens, "output_tokens": 1} if prompt_tokens is not None else {}
    head = [
        sse({"type": "message_start", "message": {"usage": usage}}, "message_start"),
        sse(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        ),
        sse({"type": "ping"}, "ping"),
    ]
    deltas = [
        sse(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}},
            "content_block_delta",
        )
        for t in texts
    ]
    tail = [
        sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"}}, "message_delta"),
        sse({"type": "message_stop"}, "message_stop"),
    ]
    return head, deltas + tail


def gemini_element(text: str, prompt_tokens: int | None) -> dict:
    element: dict = {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}}]}
    if prompt_tokens is not None:
        element["usageMetadata"] = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": 1}
    return element


def gemini_events(texts: list[str], prompt_tokens: int | None) -> tuple[list[str], list[str]]:
    return [], [sse(gemini_element(text, prompt_tokens)) for text in texts]


def exchange(shape: str, model: str, token_times: list[float], prompt_tokens: int | None) -> Exchange:
    """A recorded stream of `shape` whose content chunks arrive at `token_times` (ms)."""
    texts = [f" word{i}" for i in range(len(token_times))]
    provider = {"responses": "openai", "gemini-array": "gemini"}.get(shape, shape)
    if shape == "gemini-array":
        chunks = gemini_array_chunks(texts, token_times, prompt_tokens)
    else:
        build = {"openai": openai_events, "responses": responses_events, "anthropic": anthropic_events}
        head, rest = build.get(shape, gemini_events)(texts, prompt_tokens)
        # Metadata before the first token arrives early; whatever follows the last token, with it.
        times = [token_times[0] * (i + 1) / (len(head) + 2) for i in range(len(head))]
        times += token_times + [token_times[-1]] * (len(rest) - len(token_times))
        chunks = [Chunk(at, text) for at, text in zip(times, head + rest, strict=True)]
    if provider == "gemini":
        path, body = f"/v1beta/models/{model}:streamGenerateContent", {"contents": []}
    else:
        path = {"openai": "/v1/chat/completions", "responses": "/v1/responses", "anthropic": "/v1/messages"}[shape]
        body = {"model": model, "stream": True}
    content_type = "application/json" if shape == "gemini-array" else "text/event-stream"
    return Exchange(
        provider=provider,
        upstream="http://127.0.0.1:9",
        recorded_at="2026-12-07T02:10:00.123Z",
        request=RecordedRequest(method="POST", path=path, body=body),
        response=RecordedResponse(
            status=200, headers={"content-type": content_type}, duration_ms=token_times[-1] + 1, chunks=tuple(chunks)
        ),
    )


def gemini_array_chunks(texts: list[str], token_times: list[float], prompt_tokens: int | None) -> list[Chunk]:
    """Gemini without alt=sse: one JSON array, cut in the middle of each element after the first,
    so element i ends in piece i while the next one straddles two pieces."""
    elements = [json.dumps(gemini_element(text, prompt_tokens)) for text in texts]
    array = "[" + ",\r\n".join(elements) + "]"
    starts, position = [], 1
    for element in elements:
        starts.append(array.index(element, position))
        position = starts[-1] + len(element)
    cuts = [begin + len(element) // 2 for begin, element in zip(starts[1:], elements[1:], strict=True)]
    bounds = [0, *cuts, len(array)]
    pieces = [array[low:high] for low, high in pairwise(bounds)]
    return [Chunk(at, piece) for at, piece in zip(token_times, pieces, strict=True)]


def schedule(rng: random.Random, prompt_tokens: int, tokens: int = 12) -> list[float]:
    """Token arrival times: TTFT around 300 ms plus prefill, then gaps around 30 ms."""
    times = [max(rng.gauss(TTFT_MS, TTFT_SD_MS), 1.0) + PREFILL_MS_PER_1K * prompt_tokens / 1000]
    for _ in range(tokens - 1):
        times.append(times[-1] + max(rng.gauss(TBT_MS, TBT_SD_MS), 0.5))
    return times


def recorded(shape: str, model: str, streams: int, seed: int = 21) -> list[Exchange]:
    rng = random.Random(seed)
    exchanges = []
    for _ in range(streams):
        prompt_tokens = rng.randint(100, 4000)
        exchanges.append(exchange(shape, model, schedule(rng, prompt_tokens), prompt_tokens))
    return exchanges


def assert_close(value: float, expected: float, share: float = 0.10) -> None:
    assert abs(value - expected) <= share * expected, f"{value} not within {share:.0%} of {expected}"


# --- reading one stream ---


@pytest.mark.parametrize("shape", SHAPES)
def test_it_times_the_first_content_chunk_and_the_gaps(shape):
    sample = samples_of(exchange(shape, "m-1", [250.0, 280.0, 320.0, 330.0], 1234))
    assert sample is not None
    assert sample.model == "m-1"
    assert sample.ttft_ms == 250.0  # not the role, message_start or response.created before it
    assert sample.gaps_ms == (30.0, 40.0, 10.0)
    assert sample.content_chunks == 4
    assert sample.prompt_tokens == 1234


@pytest.mark.parametrize("shape", SHAPES)
def test_it_leaves_prompt_tokens_out_when_the_stream_does_not_report_them(shape):
    sample = samples_of(exchange(shape, "m-1", [250.0, 280.0], None))
    assert sample is not None and sample.prompt_tokens is None


def test_it_takes_the_gemini_array_elements_arrival_from_the_piece_they_end_in():
    recorded_stream = exchange("gemini-array", "gemini-x", [100.0, 150.0, 175.0], 50)
    # Each piece holds the end of one element and the start of the next.
    assert all(chunk.text.count("candidates") >= 1 for chunk in recorded_stream.response.chunks[1:])
    sample = samples_of(recorded_stream)
    assert sample is not None
    assert (sample.ttft_ms, sample.gaps_ms) == (100.0, (50.0, 25.0))


def test_it_counts_tool_call_deltas_as_content():
    role = sse({"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]})
    tool = sse({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{"}}]}}]})
    anthropic_tool = sse(
        {"type": "content_block_delta", "delta": {"type": "input_json_delta", "partial_json": "{"}},
        "content_block_delta",
    )
    chat = exchange("openai", "m", [100.0], None)
    chat = replace_chunks(
        chat, [Chunk(50.0, role), Chunk(120.0, tool), Chunk(150.0, tool), Chunk(151.0, sse("[DONE]"))]
    )
    claude = replace_chunks(exchange("anthropic", "m", [100.0], None), [Chunk(90.0, anthropic_tool)])
    assert samples_of(chat).ttft_ms == 120.0
    assert samples_of(chat).gaps_ms == (30.0,)
    assert samples_of(claude).ttft_ms == 90.0


def replace_chunks(recorded_exchange: Exchange, chunks: list[Chunk]) -> Exchange:
    return replace(recorded_exchange, response=replace(recorded_exchange.response, chunks=tuple(chunks)))


def test_it_skips_answers_that_are_not_complete_successful_streams():
    stream = exchange("openai", "m", [100.0, 130.0], 10)
    assert samples_of(replace(stream, response=replace(stream.response, complete=False))) is None
    assert samples_of(replace(stream, response=replace(stream.response, status=429))) is None
    assert samples_of(replace(stream, response=replace(stream.response, chunks=None, body={"id": "x"}))) is None
    # A stream that never produced content (only the role chunk) has no TTFT to give.
    assert samples_of(replace_chunks(stream, [stream.response.chunks[0]])) is None


# --- the fit ---


@pytest.mark.parametrize("shape", SHAPES)
def test_the_fit_recovers_the_recorded_profile(shape):
    samples = [samples_of(one) for one in recorded(shape, "calib-model", streams=200)]
    result = fit(samples, "calib-model")
    assert result.streams == 200
    assert result.gap_count == 200 * 11
    assert_close(result.ttft_mean_ms, TTFT_MS)
    assert_close(result.ttft_stddev_ms, TTFT_SD_MS)
    assert_close(result.prefill_ms_per_1k_tokens, PREFILL_MS_PER_1K)
    assert_close(result.tbt_mean_ms, TBT_MS)
    assert_close(result.tbt_stddev_ms, TBT_SD_MS)
    assert_close(result.tbt_p50_ms, TBT_MS)
    assert result.tbt_p50_ms < result.tbt_p99_ms < TBT_MS + 4 * TBT_SD_MS
    # The observed TTFTs include the prefill: their median is well above the intercept.
    assert result.ttft_p50_ms > TTFT_MS + 100


def sample(ttft: float, prompt_tokens: int | None, gaps: tuple[float, ...] = ()) -> StreamSample:
    return StreamSample("m", "openai", ttft, gaps, prompt_tokens, len(gaps) + 1)


def test_prefill_is_not_fitted_when_prompt_sizes_barely_differ():
    result = fit([sample(300, 1000), sample(320, 1100), sample(340, 1150)], "m")
    assert result.prefill_ms_per_1k_tokens == 0.0
    assert result.ttft_mean_ms == pytest.approx(320.0)
    assert result.ttft_stddev_ms == pytest.approx(20.0)


def test_prefill_is_not_fitted_from_fewer_than_three_sized_prompts():
    result = fit([sample(300, 100), sample(700, 4000), sample(500, None)], "m")
    assert result.prefill_ms_per_1k_tokens == 0.0
    assert result.ttft_mean_ms == pytest.approx(500.0)


def test_a_negative_prefill_slope_is_clamped_to_zero():
    result = fit([sample(400, 100), sample(350, 2000), sample(300, 4000)], "m")
    assert result.prefill_ms_per_1k_tokens == 0.0
    assert result.ttft_mean_ms == pytest.approx(350.0)


def test_an_exact_line_gives_its_intercept_and_no_spread():
    result = fit([sample(300 + 0.1 * tokens, tokens) for tokens in (0, 1000, 2000, 3000)], "m")
    assert result.prefill_ms_per_1k_tokens == pytest.approx(100.0)
    assert result.ttft_mean_ms == pytest.approx(300.0)
    assert result.ttft_stddev_ms == pytest.approx(0.0, abs=1e-9)


def test_percentiles_and_a_single_stream():
    result = fit([sample(100, None, (10.0, 20.0, 30.0, 40.0, 50.0))], "m")
    assert (result.ttft_mean_ms, result.ttft_stddev_ms, result.ttft_p50_ms, result.ttft_p99_ms) == (100, 0, 100, 100)
    assert result.tbt_p50_ms == 30.0
    assert result.tbt_p99_ms == pytest.approx(49.6)
    assert result.gap_count == 5


def test_fit_refuses_a_model_without_streams():
    with pytest.raises(ValueError, match="no recorded streams for model 'other'"):
        fit([sample(100, None)], "other")


def write_cassettes(directory, exchanges: list[Exchange]) -> None:
    cassettes = CassetteDirectory(directory)
    for one in exchanges:
        cassettes.write(one)


def test_fit_directory_fits_each_model_by_name(tmp_path):
    write_cassettes(tmp_path, recorded("anthropic", "zeta", 30) + recorded("gemini-array", "alpha", 30, seed=5))
    fits = fit_directory(tmp_path, None)
    assert [(one.model, one.provider, one.streams) for one in fits] == [
        ("alpha", "gemini", 30),
        ("zeta", "anthropic", 30),
    ]
    assert [one.model for one in fit_directory(tmp_path, "zeta")] == ["zeta"]
    assert fit_directory(tmp_path, "nobody") == []
    table = format_fits(fits)
    assert table.splitlines()[0].split()[:3] == ["model", "streams", "TTFT"]
    assert table.splitlines()[1].startswith("alpha ")
    assert len(table.splitlines()) == 3


# --- llmsim_calibrate ---


def calibrate(*args: str) -> str:
    out = io.StringIO()
    call_command("llmsim_calibrate", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def cassettes(tmp_path):
    write_cassettes(tmp_path, recorded("openai", "calib-gpt", 60) + recorded("gemini", "calib-gemini", 60, seed=8))
    return tmp_path


@pytest.mark.django_db
def test_the_dry_run_prints_the_fit_and_changes_nothing(cassettes):
    ModelProfile.objects.create(model_id="calib-gpt", ttft_mean_ms=600)
    version = read_version()
    out = calibrate("--cassettes", str(cassettes), "--dry-run")
    assert "calib-gemini" in out and "calib-gpt" in out and "dry run" in out
    assert ModelProfile.objects.get(model_id="calib-gpt").ttft_mean_ms == 600
    assert not ModelProfile.objects.filter(model_id="calib-gemini").exists()
    assert read_version() == version


@pytest.mark.django_db
def test_it_updates_an_existing_profile_and_the_servers_snapshot_version(cassettes):
    ModelProfile.objects.create(model_id="calib-gpt", provider="other", ttft_mean_ms=600, context_window=4096)
    version = read_version()
    out = calibrate("--cassettes", str(cassettes), "--model", "calib-gpt")
    profile = ModelProfile.objects.get(model_id="calib-gpt")
    assert_close(profile.ttft_mean_ms, TTFT_MS, 0.2)
    assert_close(profile.prefill_ms_per_1k_tokens, PREFILL_MS_PER_1K, 0.2)
    assert_close(profile.tbt_mean_ms, TBT_MS)
    assert (profile.provider, profile.context_window) == ("other", 4096)  # fields the fit has no say in stay
    assert "calib-gpt: updated: ttft_mean_ms 600 → " in out
    assert not ModelProfile.objects.filter(model_id="calib-gemini").exists()  # --model: only that one
    assert read_version() > version
    # A second run finds nothing to change, and does not make the servers reload.
    version = read_version()
    assert "calib-gpt: unchanged" in calibrate("--cassettes", str(cassettes), "--model", "calib-gpt")
    assert read_version() == version


@pytest.mark.django_db
def test_it_creates_a_profile_with_the_recorded_provider(cassettes):
    out = calibrate("--cassettes", str(cassettes))
    profile = ModelProfile.objects.get(model_id="calib-gemini")
    assert profile.provider == ModelProfile.Provider.GOOGLE
    assert_close(profile.tbt_stddev_ms, TBT_SD_MS, 0.2)
    assert profile.max_output_tokens == ModelProfile._meta.get_field("max_output_tokens").default
    assert "calib-gemini: created" in out
    assert ModelProfile.objects.get(model_id="calib-gpt").provider == ModelProfile.Provider.OPENAI


@pytest.mark.django_db
def test_it_refuses_a_directory_without_streams_for_the_model(cassettes, tmp_path_factory):
    with pytest.raises(CommandError, match="no recorded streams for model 'gpt-none'"):
        calibrate("--cassettes", str(cassettes), "--model", "gpt-none")
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(CommandError, match="no recorded streams for any model"):
        calibrate("--cassettes", str(empty))
    with pytest.raises(CommandError, match="no such directory"):
        calibrate("--cassettes", str(empty / "missing"))
    assert not ModelProfile.objects.filter(model_id__startswith="calib-").exists()
