"""The cassette format, its reader and writer (simulator.recording.cassettes)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from simulator.recording.cassettes import (
    FORMAT_VERSION,
    CassetteDirectory,
    CassetteError,
    CassetteLimit,
    Chunk,
    ChunkBuffer,
    Exchange,
    RecordedRequest,
    RecordedResponse,
    file_name,
    from_yaml,
    model_of,
    now_iso,
    read_directory,
    to_yaml,
)

RECORDED_AT = "2026-12-07T02:10:00.123Z"


def plain_exchange(**changes) -> Exchange:
    exchange = Exchange(
        provider="openai",
        upstream="https://api.openai.com",
        recorded_at=RECORDED_AT,
        request=RecordedRequest(
            method="POST",
            path="/v1/chat/completions",
            query={},
            headers={"content-type": "application/json", "user-agent": "OpenAI/Python 1.54.0"},
            body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello <email-1>"}]},
        ),
        response=RecordedResponse(
            status=200,
            headers={"content-type": "application/json", "x-request-id": "req_123"},
            duration_ms=812.4,
            body={"id": "chatcmpl-1", "choices": [{"message": {"role": "assistant", "content": "Hi!"}}]},
        ),
    )
    return dataclasses.replace(exchange, **changes)


def sse(payload: dict) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def streamed_exchange() -> Exchange:
    chunks = (
        Chunk(312.4, sse({"choices": [{"delta": {"content": "Grüße, 世界 😀"}}]})),
        Chunk(340.1, sse({"choices": [{"delta": {"content": "line one\nline two  \n"}}]})),
        Chunk(371.0, "event: ping\ndata: {}\n\n"),
        Chunk(402.9, "data: [DONE]\n\n"),
    )
    return Exchange(
        provider="anthropic",
        upstream="http://127.0.0.1:8123",
        recorded_at=RECORDED_AT,
        request=RecordedRequest(
            method="POST",
            path="/v1/messages",
            headers={"content-type": "application/json", "anthropic-version": "2023-06-01"},
            body={"model": "claude-3-5-haiku-latest", "stream": True, "max_tokens": 64},
        ),
        response=RecordedResponse(
            status=200, headers={"content-type": "text/event-stream"}, duration_ms=402.9, chunks=chunks
        ),
    )


def round_trip(exchange: Exchange) -> Exchange:
    return from_yaml(to_yaml(exchange), source="test.yaml")


# --- the YAML round trip


def test_a_plain_exchange_round_trips():
    exchange = plain_exchange()
    assert round_trip(exchange) == exchange
    assert not round_trip(exchange).response.streamed


def test_a_streamed_exchange_round_trips():
    exchange = streamed_exchange()
    back = round_trip(exchange)
    assert back == exchange
    assert back.response.streamed
    assert [chunk.text for chunk in back.response.chunks] == [chunk.text for chunk in exchange.response.chunks]


def test_the_document_has_the_documented_fields():
    document = yaml.safe_load(to_yaml(streamed_exchange()))
    assert list(document) == ["llmsim_cassette", "recorded_at", "provider", "upstream", "request", "response"]
    assert document["llmsim_cassette"] == FORMAT_VERSION == 1
    assert list(document["request"]) == ["method", "path", "query", "headers", "body"]
    assert list(document["response"]) == ["status", "headers", "duration_ms", "complete", "chunks"]
    assert document["response"]["chunks"][0] == {
        "at_ms": 312.4,
        "text": sse({"choices": [{"delta": {"content": "Grüße, 世界 😀"}}]}),
    }


def test_sse_events_are_written_as_readable_literal_blocks():
    text = to_yaml(streamed_exchange())
    assert "text: |+\n" in text  # an event keeps its closing blank line
    assert "data: [DONE]" in text
    assert "世界 😀" in text  # unicode as itself, not escaped


def test_timings_are_kept_to_a_tenth_of_a_millisecond():
    exchange = plain_exchange(response=RecordedResponse(status=200, duration_ms=812.4449, body={}))
    assert round_trip(exchange).response.duration_ms == 812.4


def test_body_text_round_trips_in_request_and_response():
    exchange = plain_exchange(
        request=RecordedRequest(method="POST", path="/v1/embeddings", body_text="not json {"),
        response=RecordedResponse(status=502, body_text="<html>Bad gateway</html>\n"),
    )
    back = round_trip(exchange)
    assert back.request.body is None and back.request.body_text == "not json {"
    assert back.response.body is None and back.response.body_text == "<html>Bad gateway</html>\n"
    assert "body:" not in to_yaml(exchange)


def test_an_incomplete_error_answer_round_trips():
    exchange = plain_exchange(
        response=RecordedResponse(
            status=429, headers={"retry-after": "2"}, complete=False, body={"error": {"type": "rate_limit"}}
        )
    )
    assert round_trip(exchange) == exchange


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        "trailing spaces  \nand more",
        "last line ends with a space ",
        "  leading spaces\nsecond",
        "\nstarts with a line break",
        "crlf\r\nevents\r\n\r\n",
        "tab\tinside\n\tand at the start",
        "yes",
        "null",
        "123",
        "2026-12-07",
        "# not a comment\n- not a list\nkey: not a mapping",
        "---\n...\n",
        "quotes ' and \" and \\ backslash\n",
        "a\u2028b\u2029c",
        "control \x00 \x1b[0m\n",
        "\ufeffbyte order mark",
        "x" * 300 + " " + "y" * 300,
        "many   spaces " * 40,
    ],
)
def test_awkward_strings_round_trip_everywhere(text):
    exchange = plain_exchange(
        request=RecordedRequest(
            method="POST", path="/v1/chat/completions", query={"q": text}, body={"content": text, text: [text]}
        ),
        response=RecordedResponse(status=200, chunks=(Chunk(1.0, text),)),
    )
    assert round_trip(exchange) == exchange


def test_next_line_character_round_trips():
    exchange = plain_exchange(response=RecordedResponse(status=200, chunks=(Chunk(1.0, "a\x85b"),)))
    assert round_trip(exchange) == exchange


def test_now_iso_is_utc_with_milliseconds():
    stamp = now_iso()
    assert stamp.endswith("Z") and len(stamp) == len(RECORDED_AT)


# --- errors name the file and the field


def cassette_text(**replace: object) -> str:
    document = yaml.safe_load(to_yaml(streamed_exchange()))
    for path, value in replace.items():
        *parents, last = path.split("__")
        target = document
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return yaml.safe_dump(document)


DELETE = object()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"llmsim_cassette": 2}, r"broken\.yaml: llmsim_cassette 2 \(this LLMSim reads version 1\)"),
        ({"llmsim_cassette": DELETE}, r"broken\.yaml: not a cassette"),
        ({"request": DELETE}, r"broken\.yaml: request must be a mapping"),
        ({"response": "gone"}, r"broken\.yaml: response must be a mapping"),
        ({"provider": "mistral"}, r"broken\.yaml: provider must be one of openai, anthropic, gemini"),
        ({"request__method": DELETE}, r"broken\.yaml: request\.method must be text"),
        ({"request__headers": ["a", "b"]}, r"broken\.yaml: request\.headers must be a mapping"),
        ({"response__status": "200"}, r"broken\.yaml: response\.status must be a number"),
        ({"response__chunks": "all of it"}, r"broken\.yaml: response\.chunks must be a list"),
        ({"response__chunks__1__at_ms": DELETE}, r"broken\.yaml: response\.chunks\[1\]\.at_ms must be a number"),
        ({"response__chunks__2__at_ms": True}, r"broken\.yaml: response\.chunks\[2\]\.at_ms must be a number"),
        ({"response__chunks__0__text": 5}, r"broken\.yaml: response\.chunks\[0\]\.text must be text"),
    ],
)
def test_a_malformed_cassette_is_refused_naming_file_and_field(changes, expected):
    with pytest.raises(CassetteError, match=expected):
        from_yaml(cassette_text(**changes), source="broken.yaml")


def test_text_that_is_not_yaml_is_refused_naming_the_file():
    with pytest.raises(CassetteError, match=r"^broken\.yaml: not YAML"):
        from_yaml("request: [unclosed", source="broken.yaml")


@pytest.mark.parametrize("text", ["", "just a string", "- a list\n"])
def test_a_document_that_is_not_a_cassette_is_refused(text):
    with pytest.raises(CassetteError, match=r"^broken\.yaml: not a cassette"):
        from_yaml(text, source="broken.yaml")


def test_a_bad_duration_is_refused_naming_file_and_field():
    with pytest.raises(CassetteError, match=r"broken\.yaml: response\.duration_ms"):
        from_yaml(cassette_text(response__duration_ms="soon"), source="broken.yaml")


def test_complete_must_be_a_boolean():
    try:
        exchange = from_yaml(cassette_text(response__complete="false"), source="broken.yaml")
    except CassetteError:
        return
    assert exchange.response.complete is False


def test_a_boolean_version_is_refused():
    with pytest.raises(CassetteError, match="llmsim_cassette"):
        from_yaml(cassette_text(llmsim_cassette=True), source="broken.yaml")


# --- file names and models


def test_file_name_has_time_sequence_provider_and_model():
    assert file_name(plain_exchange(), 7) == "20261207T021000-000007-openai-gpt-4o-mini.yaml"


def test_file_name_without_milliseconds():
    assert file_name(plain_exchange(recorded_at="2026-12-07T02:10:00Z"), 1).startswith("20261207T021000-000001-")


def test_file_name_makes_the_model_safe_and_says_none_without_one():
    odd = plain_exchange(request=RecordedRequest(method="POST", path="/v1/x", body={"model": "acct/models/m:1 é"}))
    assert file_name(odd, 1) == "20261207T021000-000001-openai-acct_models_m_1__.yaml"
    bare = plain_exchange(request=RecordedRequest(method="POST", path="/v1/x", body_text="?"))
    assert file_name(bare, 2) == "20261207T021000-000002-openai-none.yaml"


def test_model_of_reads_the_body_first():
    assert model_of(plain_exchange()) == "gpt-4o-mini"


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("/v1beta/models/gemini-2.0-flash:streamGenerateContent", "gemini-2.0-flash"),
        ("/v1beta/models/gemini-1.5-pro-002:generateContent", "gemini-1.5-pro-002"),
        ("/v1/models/text-embedding-004:countTokens", "text-embedding-004"),
        ("/v1beta/models", ""),
    ],
)
def test_model_of_reads_a_gemini_path(path, model):
    exchange = plain_exchange(provider="gemini", request=RecordedRequest(method="POST", path=path, body={}))
    assert model_of(exchange) == model


def test_a_gemini_file_name_carries_the_path_model():
    exchange = plain_exchange(
        provider="gemini",
        request=RecordedRequest(method="POST", path="/v1beta/models/gemini-2.0-flash:streamGenerateContent"),
    )
    assert file_name(exchange, 3) == "20261207T021000-000003-gemini-gemini-2.0-flash.yaml"


# --- the directory: writing, limits, reading back


def test_write_then_read_directory_in_recorded_order(tmp_path: Path):
    directory = CassetteDirectory(tmp_path)
    second_earlier = plain_exchange(recorded_at="2026-12-07T02:09:59.999Z")
    written = [directory.write(plain_exchange()), directory.write(streamed_exchange()), directory.write(second_earlier)]
    assert [path.name for path in written] == [
        "20261207T021000-000001-openai-gpt-4o-mini.yaml",
        "20261207T021000-000002-anthropic-claude-3-5-haiku-latest.yaml",
        "20261207T020959-000003-openai-gpt-4o-mini.yaml",
    ]
    read = list(read_directory(tmp_path))
    assert [path for path, _ in read] == [written[2], written[0], written[1]]
    assert [exchange for _, exchange in read] == [second_earlier, plain_exchange(), streamed_exchange()]
    assert not list(tmp_path.glob("*.partial"))


def test_read_directory_skips_other_files_and_subdirectories(tmp_path: Path):
    CassetteDirectory(tmp_path).write(plain_exchange())
    (tmp_path / "notes.txt").write_text("not a cassette")
    (tmp_path / "old").mkdir()
    CassetteDirectory(tmp_path / "old").write(plain_exchange())
    assert len(list(read_directory(tmp_path))) == 1


def test_read_directory_names_the_broken_file(tmp_path: Path):
    CassetteDirectory(tmp_path).write(plain_exchange())
    broken = tmp_path / "20991231T000000-000009-openai-x.yaml"
    broken.write_text(cassette_text(request=DELETE))
    with pytest.raises(CassetteError, match=rf"^{broken}: request must be a mapping"):
        list(read_directory(tmp_path))


def test_read_directory_names_a_file_that_is_not_utf8(tmp_path: Path):
    (tmp_path / "20261207T021000-000001-openai-x.yaml").write_bytes(b"llmsim_cassette: 1\nprovider: \xff\n")
    with pytest.raises(CassetteError, match=r"000001-openai-x\.yaml"):
        list(read_directory(tmp_path))


def test_read_directory_refuses_a_missing_directory(tmp_path: Path):
    with pytest.raises(CassetteError, match="no such directory"):
        list(read_directory(tmp_path / "absent"))


def test_a_directory_continues_its_sequence_and_size(tmp_path: Path):
    first = CassetteDirectory(tmp_path)
    first.write(plain_exchange())
    first.write(plain_exchange())
    again = CassetteDirectory(tmp_path)
    assert again.sequence == 2
    assert again.used_bytes == sum(path.stat().st_size for path in tmp_path.glob("*.yaml"))
    assert again.write(plain_exchange()).name.startswith("20261207T021000-000003-")


def test_a_new_cassette_never_overwrites_one_on_disk(tmp_path: Path):
    first = CassetteDirectory(tmp_path)
    paths = [first.write(plain_exchange()) for _ in range(3)]
    paths[0].unlink()
    kept = paths[2].read_bytes()
    CassetteDirectory(tmp_path).write(plain_exchange(upstream="http://other"))
    assert paths[2].read_bytes() == kept


def test_a_cassette_over_its_limit_is_refused_naming_the_flag(tmp_path: Path):
    size = len(to_yaml(plain_exchange()).encode())
    directory = CassetteDirectory(tmp_path, max_cassette_bytes=size - 1)
    with pytest.raises(CassetteLimit, match=r"per cassette \(--max-cassette-bytes\)"):
        directory.write(plain_exchange())
    assert not list(tmp_path.iterdir())
    assert directory.used_bytes == 0
    assert CassetteDirectory(tmp_path, max_cassette_bytes=size).write(plain_exchange()).exists()


def test_the_directory_limit_is_refused_naming_the_flag(tmp_path: Path):
    size = len(to_yaml(plain_exchange()).encode())
    directory = CassetteDirectory(tmp_path, max_directory_bytes=2 * size + size // 2)
    directory.write(plain_exchange())
    directory.write(plain_exchange())
    with pytest.raises(CassetteLimit, match=r"\(--max-directory-bytes\)") as refused:
        directory.write(plain_exchange())
    assert str(tmp_path) in str(refused.value)
    assert len(list(tmp_path.glob("*.yaml"))) == 2
    # A new recorder on the same directory counts what is already there.
    with pytest.raises(CassetteLimit, match="--max-directory-bytes"):
        CassetteDirectory(tmp_path, max_directory_bytes=2 * size + size // 2).write(plain_exchange())


# --- the chunk buffer


def test_chunk_buffer_keeps_pieces_up_to_its_limit():
    buffer = ChunkBuffer(limit_bytes=10)
    buffer.add(1.0, "12345")
    buffer.add(2.0, "é1234")  # six bytes in UTF-8: passes the limit
    assert buffer.truncated
    assert buffer.chunks == []


def test_chunk_buffer_accepts_exactly_its_limit():
    buffer = ChunkBuffer(limit_bytes=10)
    buffer.add(1.0, "12345")
    buffer.add(2.0, "67890")
    assert not buffer.truncated
    assert buffer.chunks == [Chunk(1.0, "12345"), Chunk(2.0, "67890")]
    assert buffer.size == 10


def test_chunk_buffer_stays_empty_once_truncated():
    buffer = ChunkBuffer(limit_bytes=4)
    buffer.add(1.0, "12345")
    buffer.add(2.0, "1")
    assert buffer.truncated and buffer.chunks == []
