"""Token counting (simulator.engine.tokens), checked against tiktoken itself."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time

import pytest
import tiktoken
import tiktoken.load

from simulator.engine import tokens
from simulator.engine.tokens import (
    CL100K,
    O200K,
    VocabularyError,
    count_messages,
    count_prompt,
    count_text,
    count_tools,
    encoding_name_for_model,
    get_encoding,
)
from simulator.engine.types import Message, ToolDefinition

ENCODINGS = (O200K, CL100K)
TEXTS = (
    "Hello, world!",
    "héllo 世界 🌍 — naïve café, Ελληνικά, русский, عربى",
    "def square(x):\n    return x ** 2\n\n\n",
    "<|endoftext|>",
    "<|im_start|>user\nhi<|im_end|><|endofprompt|>",
    "   leading and trailing spaces   ",
)


@pytest.fixture(scope="module", autouse=True)
def loaded_vocabularies():
    """Our loader runs first; after it, tiktoken's own get_encoding works offline."""
    tokens.warm_up()


def tiktoken_count(text: str, encoding: str) -> int:
    # disallowed_special=() makes tiktoken treat "<|endoftext|>" as ordinary text.
    return len(tiktoken.get_encoding(encoding).encode(text, disallowed_special=()))


def cache_path(cache_dir, name: str) -> str:
    url, _ = tokens._VOCABULARIES[name]
    return os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest())


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("text", TEXTS)
def test_it_counts_text_like_tiktoken(text, encoding):
    assert count_text(text, encoding) == tiktoken_count(text, encoding)


def test_it_counts_empty_text_as_zero():
    assert count_text("", O200K) == 0
    assert count_text("", CL100K) == 0


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_it_counts_special_token_text_as_ordinary_text(encoding):
    special = tiktoken.get_encoding(encoding).encode("<|endoftext|>", allowed_special="all")
    assert len(special) == 1  # as a special token it would be one token...
    assert count_text("<|endoftext|>", encoding) > 1  # ...but user text is never special


def test_it_counts_with_the_requested_encoding():
    text = TEXTS[1]
    assert tiktoken_count(text, O200K) != tiktoken_count(text, CL100K)  # the text tells them apart
    assert count_text(text, O200K) == tiktoken_count(text, O200K)
    assert count_text(text, CL100K) == tiktoken_count(text, CL100K)


def test_it_returns_tiktokens_own_encoding():
    for name in ENCODINGS:
        assert get_encoding(name).name == name
        assert get_encoding(name).encode("some text") == tiktoken.get_encoding(name).encode("some text")


def test_it_rejects_an_unknown_encoding():
    with pytest.raises(ValueError, match="p50k_base"):
        get_encoding("p50k_base")


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4o-2024-08-06",
        "gpt-4.1",
        "gpt-4.1-nano",
        "gpt-5",
        "gpt-5-mini",
        "gpt-5-2025-08-07",
        "o1",
        "o1-mini",
        "o3",
        "o3-mini",
        "o4-mini",
        "GPT-4o",
        "claude-3-5-sonnet-20241022",
        "claude-opus-4-1",
        "gemini-2.5-flash",
        "gemini-1.5-pro",
        "some-unknown-model",
        "",
    ],
)
def test_it_counts_modern_and_unknown_models_with_o200k(model):
    assert encoding_name_for_model(model) == O200K


@pytest.mark.parametrize("model", ["gpt-4", "gpt-4-0613", "gpt-4-turbo", "gpt-4-32k", "gpt-3.5-turbo", "gpt-35-turbo"])
def test_it_counts_older_openai_models_with_cl100k(model):
    assert encoding_name_for_model(model) == CL100K


@pytest.mark.parametrize(
    "model",
    ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-5", "o1", "o3", "o4-mini", "gpt-4", "gpt-4-turbo", "gpt-3.5-turbo"],
)
def test_it_maps_openai_models_as_tiktoken_does(model):
    assert encoding_name_for_model(model) == tiktoken.encoding_name_for_model(model)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_it_counts_messages_with_the_chat_format_overhead(encoding):
    messages = (
        Message("system", "You are terse."),
        Message("user", "héllo 世界 🌍, how many tokens is this?", name="alice"),
        Message("assistant", "Quite a few."),
        Message("user", "<|endoftext|> is just text here"),
    )
    enc = tiktoken.get_encoding(encoding)

    def n(text: str) -> int:
        return len(enc.encode(text, disallowed_special=()))

    expected = 3  # priming of the reply
    for message in messages:
        expected += 3 + n(message.role) + n(message.content)
        if message.name:
            expected += 1 + n(message.name)

    assert count_messages(messages, encoding) == expected


def test_it_counts_an_empty_conversation_as_the_reply_priming():
    assert count_messages((), O200K) == 3


def test_it_counts_a_name_as_one_token_plus_the_name():
    plain = count_messages((Message("user", "hi"),))
    named = count_messages((Message("user", "hi", name="alice"),))
    assert named - plain == 1 + tiktoken_count("alice", O200K)


def test_it_counts_tool_definitions_only_when_there_are_some():
    assert count_tools(()) == 0
    assert count_tools((ToolDefinition("get_weather", "Get the weather."),)) > 0


def test_it_counts_more_tokens_for_more_properties():
    def tool(*names: str) -> ToolDefinition:
        properties = {name: {"type": "string", "description": f"The {name}."} for name in names}
        return ToolDefinition("get_weather", "Get the weather.", {"type": "object", "properties": properties})

    none, one, two = count_tools((tool(),)), count_tools((tool("city"),)), count_tools((tool("city", "unit"),))
    assert none < one < two


def test_it_counts_more_tokens_for_more_tools():
    first = ToolDefinition("get_weather", "Get the weather.")
    second = ToolDefinition("get_time", "Get the time.")
    assert count_tools((first, second)) > count_tools((first,))


def test_it_counts_enum_values():
    def tool(enum: list[str]) -> ToolDefinition:
        unit = {"type": "string", "enum": enum}
        return ToolDefinition("convert", "", {"type": "object", "properties": {"unit": unit}})

    assert count_tools((tool(["celsius", "fahrenheit", "kelvin"]),)) > count_tools((tool(["celsius"]),))


def test_it_counts_the_prompt_as_messages_plus_tools():
    messages = (Message("user", "What is the weather in Paris?"),)
    tools_ = (ToolDefinition("get_weather", "Get the weather.", {"properties": {"city": {"type": "string"}}}),)
    assert count_prompt(messages, tools_, CL100K) == count_messages(messages, CL100K) + count_tools(tools_, CL100K)
    assert count_prompt(messages, tools_) > count_prompt(messages)


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """An empty tiktoken cache directory, and a tiktoken that cannot download anything."""

    def no_network(blobpath):
        raise AssertionError(f"tiktoken tried to download {blobpath}")

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    return tmp_path


def test_it_installs_the_vocabulary_where_tiktoken_reads_it(offline_cache):
    url, expected_sha256 = tokens._VOCABULARIES[CL100K]
    assert not os.path.exists(cache_path(offline_cache, CL100K))

    tokens._install_vocabulary(CL100K)

    with open(cache_path(offline_cache, CL100K), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == expected_sha256
    # tiktoken finds it in its cache and accepts its hash, without the network.
    ranks = tiktoken.load.load_tiktoken_bpe(url, expected_sha256)
    assert len(ranks) > 100_000


def test_it_replaces_a_corrupted_cached_vocabulary(offline_cache):
    _, expected_sha256 = tokens._VOCABULARIES[CL100K]
    path = cache_path(offline_cache, CL100K)
    with open(path, "wb") as f:
        f.write(b"not a vocabulary")

    tokens._install_vocabulary(CL100K)

    with open(path, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == expected_sha256
    assert os.listdir(offline_cache) == [os.path.basename(path)]  # no temporary file left behind


def test_it_keeps_a_valid_cached_vocabulary(offline_cache):
    tokens._install_vocabulary(CL100K)
    path = cache_path(offline_cache, CL100K)
    os.utime(path, (1_000_000, 1_000_000))

    tokens._install_vocabulary(CL100K)

    assert os.stat(path).st_mtime == 1_000_000


def test_it_installs_from_several_threads_at_once(offline_cache):
    # Sync views run in a thread pool: the first requests may all load the vocabulary.
    _, expected_sha256 = tokens._VOCABULARIES[CL100K]
    threads = 6
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def install() -> None:
        barrier.wait()
        try:
            tokens._install_vocabulary(CL100K)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=install) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    with open(cache_path(offline_cache, CL100K), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == expected_sha256
    assert len(os.listdir(offline_cache)) == 1


def test_it_refuses_a_vocabulary_whose_hash_does_not_match(offline_cache, monkeypatch):
    url, _ = tokens._VOCABULARIES[CL100K]
    monkeypatch.setitem(tokens._VOCABULARIES, CL100K, (url, "0" * 64))

    with pytest.raises(VocabularyError, match="sha256"):
        tokens._install_vocabulary(CL100K)

    assert os.listdir(offline_cache) == []


def test_it_refuses_an_empty_cache_dir(monkeypatch):
    # tiktoken disables its cache (and downloads) when TIKTOKEN_CACHE_DIR is "".
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    with pytest.raises(VocabularyError):
        tokens._install_vocabulary(CL100K)


# --- long texts ----------------------------------------------------------------------

PIECES = ("word", "Wörter", "日本語", "  ", "\n", "\n\n", "123456", "!?", "don't", "\t", "😀", "a\u0301", " ")


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_it_counts_a_long_text_exactly_as_tiktoken_does_in_one_piece(seed, encoding):
    rng = random.Random(seed)
    text = " ".join(rng.choice(PIECES) for _ in range(rng.randint(20_000, 60_000)))  # chunked: over 32k characters
    whole = get_encoding(encoding).encode_ordinary(text)
    assert count_text(text, encoding) == len(whole)
    assert tokens.encode(text, encoding, limit=5_000) == whole[:5_000]


@pytest.mark.parametrize("text", [" " * 2_000_000, "\u3000" * 1_500_000, "A" * 3_000_000])
def test_it_counts_megabytes_of_one_character_without_a_panic(text):
    # tiktoken alone overflows its stack on a run of about a million spaces (a Rust panic).
    assert 0 < count_text(text) < len(text)


def test_it_encodes_no_more_of_a_long_text_than_the_limit_needs():
    text = "lorem ipsum dolor " * 500_000  # 9 MB
    started = time.perf_counter()
    assert len(tokens.encode(text, O200K, limit=100)) == 100
    assert time.perf_counter() - started < 0.5  # the whole text takes seconds
