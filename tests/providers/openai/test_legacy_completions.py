"""POST /v1/completions (legacy): text_completion objects through the openai SDK and raw HTTP."""

from __future__ import annotations

import time

import openai
import pytest

from simulator.engine.tokens import count_text, get_encoding
from tests.conftest import INSTANT, post

LIVE_SERVERS = ("serve",)  # the legacy JSON and its events; streaming over each server: test_chat_streaming.py

MODEL = "gpt-3.5-turbo-instruct"  # counted with cl100k_base, as gpt-3.5-turbo


def test_a_prompt_gets_sixteen_tokens_by_default(client):
    completion = client.completions.create(model=MODEL, prompt="Once upon a time", extra_headers=INSTANT)
    assert completion.object == "text_completion" and completion.id.startswith("cmpl-")
    (choice,) = completion.choices
    assert choice.index == 0 and choice.logprobs is None and choice.text
    assert choice.finish_reason == "length"  # the usual answer is longer than OpenAI's default max_tokens, 16
    assert completion.usage.completion_tokens == 16
    assert completion.usage.prompt_tokens == count_text("Once upon a time", "cl100k_base")
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 16


def test_a_short_answer_stops_on_its_own(client):
    headers = {**INSTANT, "x-llmsim-tokens": "3"}
    completion = client.completions.create(model=MODEL, prompt="Hi", max_tokens=50, extra_headers=headers)
    assert completion.choices[0].finish_reason == "stop" and completion.usage.completion_tokens == 3


def test_max_tokens_cuts_the_answer(client):
    completion = client.completions.create(model=MODEL, prompt="Hi", max_tokens=5, extra_headers=INSTANT)
    assert completion.choices[0].finish_reason == "length" and completion.usage.completion_tokens == 5


def test_each_prompt_gets_n_choices(client):
    completion = client.completions.create(
        model=MODEL, prompt=["one", "two", "three"], n=2, max_tokens=4, extra_headers=INSTANT
    )
    assert [choice.index for choice in completion.choices] == list(range(6))
    assert completion.usage.prompt_tokens == sum(count_text(p, "cl100k_base") for p in ("one", "two", "three"))
    assert completion.usage.completion_tokens == 6 * 4


def test_echo_puts_the_prompt_before_the_answer(client):
    completion = client.completions.create(
        model=MODEL, prompt=["Alpha:", "Beta:"], echo=True, max_tokens=3, extra_headers=INSTANT
    )
    first, second = completion.choices
    assert first.text.startswith("Alpha:") and len(first.text) > len("Alpha:")
    assert second.text.startswith("Beta:")


def test_token_prompts_are_counted_as_sent(client):
    tokens = get_encoding("cl100k_base").encode("Count these tokens")
    completion = client.completions.create(model=MODEL, prompt=tokens, echo=True, max_tokens=2, extra_headers=INSTANT)
    assert completion.usage.prompt_tokens == len(tokens)
    assert completion.choices[0].text.startswith("Count these tokens")


def test_suffix_and_sampling_options_are_accepted(client):
    completion = client.completions.create(
        model=MODEL,
        prompt="def f():",
        suffix="return x",
        temperature=0.2,
        top_p=0.9,
        best_of=2,
        user="u-1",
        max_tokens=3,
        extra_headers=INSTANT,
    )
    assert completion.choices[0].logprobs is None


def test_scenarios_and_stop_sequences_shape_the_text(client, module_scenarios, llmsim_server):
    module_scenarios("legacy-fixed", generator="fixed", fixed_text="Hello there. Goodbye now.")
    headers = {**INSTANT, "x-llmsim-scenario": "legacy-fixed"}
    completion = client.completions.create(model=MODEL, prompt="Greet", max_tokens=50, extra_headers=headers)
    assert completion.choices[0].text == "Hello there. Goodbye now."
    stopped = client.completions.create(model=MODEL, prompt="Greet", stop=["Goodbye"], extra_headers=headers)
    assert stopped.choices[0].text == "Hello there. " and stopped.choices[0].finish_reason == "stop"


def test_response_rules_answer_legacy_prompts(client, module_scenarios):
    module_scenarios("legacy-rules", rules=[{"match_last_user": "weather", "action": {"text": "Sunny."}}])
    headers = {**INSTANT, "x-llmsim-scenario": "legacy-rules"}
    completion = client.completions.create(model=MODEL, prompt="The weather is", extra_headers=headers)
    assert completion.choices[0].text == "Sunny."


def test_streaming_sends_text_pieces_then_usage(client):
    headers = {**INSTANT, "x-llmsim-seed": "7"}
    whole = client.completions.create(model=MODEL, prompt="Tell me", max_tokens=10, extra_headers=headers)
    chunks = list(
        client.completions.create(
            model=MODEL,
            prompt="Tell me",
            max_tokens=10,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=headers,
        )
    )
    assert all(chunk.object == "text_completion" for chunk in chunks)
    texts = [chunk.choices[0].text for chunk in chunks if chunk.choices]
    assert "".join(texts) == whole.choices[0].text
    finishes = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices and chunk.choices[0].finish_reason]
    assert finishes == ["length"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 10


def test_a_streamed_echo_starts_with_the_prompt(client):
    stream = client.completions.create(
        model=MODEL, prompt="Echo me", echo=True, max_tokens=3, n=2, stream=True, extra_headers=INSTANT
    )
    by_index: dict[int, str] = {}
    for chunk in stream:
        for choice in chunk.choices:
            by_index[choice.index] = by_index.get(choice.index, "") + choice.text
    assert sorted(by_index) == [0, 1] and all(text.startswith("Echo me") for text in by_index.values())


def test_the_wire_format_is_data_lines_ending_with_done(llmsim_server):
    body = {"model": MODEL, "prompt": "x", "max_tokens": 3, "stream": True}
    status, headers, text = post(llmsim_server, "/v1/completions", body, INSTANT)
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = [event for event in text.split("\n\n") if event]
    assert all(event.startswith("data: ") for event in events)
    assert len(events) == 3 + 1 + 1  # tokens, finish, [DONE]
    assert events[-1] == "data: [DONE]"


def test_max_tokens_zero_with_echo_answers_the_prompt_alone(llmsim_server):
    body = {"model": MODEL, "prompt": "Just this", "max_tokens": 0, "echo": True}
    status, _, payload = post(llmsim_server, "/v1/completions", body, INSTANT)
    assert status == 200 and payload["choices"][0]["text"] == "Just this"
    assert payload["usage"]["completion_tokens"] == 0


def test_the_answer_waits_for_the_whole_generation(client):
    started = time.monotonic()
    headers = {"x-llmsim-ttft-ms": "200", "x-llmsim-tbt-ms": "20"}
    client.completions.create(model=MODEL, prompt="x", max_tokens=6, extra_headers=headers)
    assert 0.28 <= time.monotonic() - started < 2.0  # 200 ms + 5 gaps of 20 ms


def test_injected_errors_reach_legacy_completions(client):
    with pytest.raises(openai.InternalServerError):
        client.completions.create(model=MODEL, prompt="x", extra_headers={**INSTANT, "x-llmsim-error": "503"})


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"model": MODEL}, "prompt", "missing_required_parameter"),
        ({"prompt": "x"}, None, None),
        ({"model": MODEL, "prompt": 5}, "prompt", "invalid_type"),
        ({"model": MODEL, "prompt": []}, "prompt", None),
        ({"model": MODEL, "prompt": [[]]}, "prompt[0]", "invalid_type"),
        ({"model": MODEL, "prompt": [[1, "a"]]}, "prompt[0][1]", "invalid_value"),
        ({"model": MODEL, "prompt": "x", "n": 0}, "n", "integer_below_min_value"),
        ({"model": MODEL, "prompt": "x", "n": 3, "best_of": 2}, "best_of", "invalid_value"),
        ({"model": MODEL, "prompt": "x", "max_tokens": -1}, "max_tokens", "integer_below_min_value"),
        ({"model": MODEL, "prompt": "x", "max_tokens": 5000}, "max_tokens", "context_length_exceeded"),
        ({"model": MODEL, "prompt": "x", "stop": 3}, "stop", "invalid_type"),
        ({"model": MODEL, "prompt": "x", "echo": "yes"}, "echo", "invalid_type"),
        ({"model": MODEL, "prompt": "x", "logprobs": 6}, "logprobs", "integer_above_max_value"),
        ({"model": MODEL, "prompt": "x", "temperature": 3}, "temperature", "decimal_above_max_value"),
        ({"model": MODEL, "prompt": "x", "stream_options": {"include_usage": True}}, "stream_options", "invalid_value"),
        ({"model": MODEL, "prompt": "x", "suffix": 1}, "suffix", "invalid_type"),
    ],
)
def test_bad_requests_get_openais_400(llmsim_server, body, param, code):
    status, _, payload = post(llmsim_server, "/v1/completions", body, INSTANT)
    assert status == 400
    error = payload["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["code"] == code


def test_the_sdk_raises_bad_request(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.completions.create(model=MODEL, prompt="x", n=0, extra_headers=INSTANT)
    assert raised.value.param == "n"
