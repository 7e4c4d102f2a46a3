"""POST /v1/chat/completions without streaming, through the official openai SDK."""

from __future__ import annotations

import asyncio
import time

import tiktoken

from tests.conftest import INSTANT


def ask(client, **kwargs):
    kwargs.setdefault("model", "instant")
    kwargs.setdefault("messages", [{"role": "user", "content": "Hello!"}])
    return client.chat.completions.with_raw_response.create(**kwargs)


def test_it_answers_a_chat_completion(client):
    raw = ask(client, model="gpt-4o", extra_headers=INSTANT)
    completion = raw.parse()
    assert raw.headers["x-request-id"].startswith("req_")
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o"
    assert completion.system_fingerprint
    assert abs(completion.created - time.time()) < 60
    [choice] = completion.choices
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    # The default lorem answer is 100 tokens of the model's own tokenizer.
    assert len(tiktoken.get_encoding("o200k_base").encode(choice.message.content)) == 100
    assert completion.usage.completion_tokens == 100


def test_usage_counts_the_prompt_with_chat_overhead(client):
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Count these tokens, please.", "name": "alice"},
    ]
    completion = ask(client, messages=messages).parse()
    enc = tiktoken.get_encoding("o200k_base")
    expected = 3  # reply priming
    for message in messages:
        expected += 3 + len(enc.encode(message["role"])) + len(enc.encode(message["content"]))
        if "name" in message:
            expected += 1 + len(enc.encode(message["name"]))
    usage = completion.usage
    assert usage.prompt_tokens == expected
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details.reasoning_tokens == 0


def test_cl100k_models_are_counted_with_cl100k(client):
    text = "Tokenizers differ: ünïcödé and emoji 🎉 split differently."
    completion = ask(client, model="gpt-4", messages=[{"role": "user", "content": text}], extra_headers=INSTANT).parse()
    enc = tiktoken.get_encoding("cl100k_base")
    assert completion.usage.prompt_tokens == 3 + 3 + len(enc.encode("user")) + len(enc.encode(text))
    assert len(enc.encode(completion.choices[0].message.content)) == completion.usage.completion_tokens


def test_n_gives_n_choices_and_sums_usage(client):
    completion = ask(client, n=3, extra_headers={"x-llmsim-tokens": "7"}).parse()
    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert completion.usage.completion_tokens == 21


def test_max_tokens_cuts_the_answer_with_finish_reason_length(client):
    completion = ask(client, max_tokens=5).parse()
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 5
    assert len(tiktoken.get_encoding("o200k_base").encode(completion.choices[0].message.content)) == 5


def test_max_completion_tokens_cuts_too(client):
    completion = ask(client, max_completion_tokens=9).parse()
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 9


def test_a_stop_sequence_cuts_before_it(client):
    seeded = {"x-llmsim-seed": "1234", "x-llmsim-tokens": "60"}
    full = ask(client, extra_headers=seeded).parse().choices[0].message.content
    stop_word = full.split()[5]
    completion = ask(client, stop=[stop_word, "never-appears"], extra_headers=seeded).parse()
    text = completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert stop_word not in text
    assert full.startswith(text)
    assert len(text) < len(full)


def test_reasoning_models_report_hidden_reasoning_tokens(client):
    completion = ask(client, model="o4-mini", extra_headers={"x-llmsim-ttft-ms": "0", "x-llmsim-tbt-ms": "0"}).parse()
    usage = completion.usage
    assert usage.completion_tokens_details.reasoning_tokens > 0
    visible = len(tiktoken.get_encoding("o200k_base").encode(completion.choices[0].message.content))
    assert usage.completion_tokens == visible + usage.completion_tokens_details.reasoning_tokens


def test_a_dated_snapshot_name_is_echoed_and_served(client):
    completion = ask(client, model="gpt-4o-2024-08-06", extra_headers=INSTANT).parse()
    assert completion.model == "gpt-4o-2024-08-06"


def test_an_unknown_model_gets_the_default_profile(client):
    completion = ask(client, model="my-private-finetune", extra_headers=INSTANT).parse()
    assert completion.model == "my-private-finetune"
    assert completion.choices[0].message.content


def test_the_non_streaming_answer_waits_for_the_whole_generation(client):
    started = time.monotonic()
    ask(client, extra_headers={"x-llmsim-ttft-ms": "200", "x-llmsim-tbt-ms": "10", "x-llmsim-tokens": "21"})
    elapsed = time.monotonic() - started
    # 200 ms to the first token + 20 gaps of 10 ms; loose bounds for a noisy machine.
    assert 0.38 <= elapsed < 1.5


def test_the_async_client_works(async_client):
    async def main():
        async with async_client:
            results = await asyncio.gather(
                *[
                    async_client.chat.completions.create(
                        model="instant", messages=[{"role": "user", "content": f"question {i}"}], max_tokens=4
                    )
                    for i in range(10)
                ]
            )
        return results

    results = asyncio.run(main())
    assert len({r.id for r in results}) == 10
    assert all(r.choices[0].finish_reason == "length" for r in results)


def test_assistant_and_tool_turns_are_accepted(client):
    messages = [
        {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "21C"},
    ]
    completion = ask(client, messages=messages).parse()
    assert completion.usage.prompt_tokens > 20


def test_reasoning_effort_scales_the_hidden_reasoning(client):
    def reasoning(effort: str) -> int:
        completion = client.chat.completions.create(
            model="o3",
            messages=[{"role": "user", "content": "think"}],
            reasoning_effort=effort,
            extra_headers={"x-llmsim-ttft-ms": "200", "x-llmsim-tbt-ms": "10", "x-llmsim-tokens": "5"},
        )
        return completion.usage.completion_tokens_details.reasoning_tokens

    assert reasoning("low") < reasoning("medium") < reasoning("high")


def test_reasoning_effort_is_refused_for_other_models_and_bad_values(llmsim_server):
    from tests.conftest import post

    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "low"}
    status, _, answer = post(llmsim_server, "/v1/chat/completions", body)
    assert (status, answer["error"]["param"], answer["error"]["code"]) == (
        400,
        "reasoning_effort",
        "unsupported_parameter",
    )
    status, _, answer = post(llmsim_server, "/v1/chat/completions", {**body, "model": "o3", "reasoning_effort": "max"})
    assert (status, answer["error"]["code"]) == (400, "invalid_value")
    # A list or an object is refused the same way (it was a 500: unhashable, looked up in the scale).
    for effort in ([], {"level": "low"}):
        refused = {**body, "model": "o3", "reasoning_effort": effort}
        status, _, answer = post(llmsim_server, "/v1/chat/completions", refused)
        assert (status, answer["error"]["param"], answer["error"]["code"]) == (400, "reasoning_effort", "invalid_value")
