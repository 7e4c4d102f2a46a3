"""OpenAI Files + Batches through the openai SDK: upload, create, poll, output and error files,
cancel, paging, 404s, and a scenario whose rule fails one request."""

from __future__ import annotations

import io
import json
import socket
import time

import openai
import pytest

from tests.conftest import INSTANT, get_json, post

LIVE_SERVERS = ("serve",)  # the routes' logic, whatever the server

MODEL = "gpt-4o-mini"


@pytest.fixture(scope="module")
def scenarios(module_scenarios):
    module_scenarios(
        "batch-rules",
        rules=[{"match_last_user": "refuse me", "action": {"error": {"status": 503, "message": "Busy, sorry."}}}],
        batch_duration_s=0,
        requests_per_minute=1,  # a batch runs from its own queue: not refused by it
    )


def sdk(server, **headers) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{server.base_url}/v1", api_key="test", max_retries=0, default_headers={**INSTANT, **headers}
    )


def chat_line(custom_id: str, text: str, **body) -> dict:
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}], "max_tokens": 5, **body}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def upload(client, lines: list, name: str = "input.jsonl") -> str:
    content = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines).encode()
    return client.files.create(file=(name, io.BytesIO(content)), purpose="batch").id


def wait_until_ended(client, batch_id: str, timeout: float = 5):
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "expired", "cancelled") or time.monotonic() > deadline:
            return batch
        time.sleep(0.05)


def lines_of(client, file_id: str) -> dict[str, dict]:
    return {line["custom_id"]: line for line in map(json.loads, client.files.content(file_id).text.splitlines())}


def test_a_batch_runs_from_upload_to_output_and_error_files(llmsim_server):
    client = sdk(llmsim_server, **{"x-llmsim-batch-duration-s": "0.3"})
    bad = chat_line("bad", "no model")
    del bad["body"]["model"]
    file_id = upload(client, [chat_line("a", "Hello"), chat_line("b", "Hi there", seed=3), bad])
    batch = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.status == "validating" and batch.request_counts.total == 3 and batch.output_file_id is None
    batch = wait_until_ended(client, batch.id)
    assert batch.status == "completed"
    assert (batch.request_counts.completed, batch.request_counts.failed) == (2, 1)
    assert batch.in_progress_at <= batch.finalizing_at <= batch.completed_at
    output = lines_of(client, batch.output_file_id)
    assert set(output) == {"a", "b"}
    answer = output["a"]["response"]
    assert answer["status_code"] == 200 and answer["body"]["object"] == "chat.completion"
    assert output["a"]["id"].startswith("batch_req_") and output["a"]["error"] is None
    errors = lines_of(client, batch.error_file_id)
    assert errors["bad"]["response"]["status_code"] == 400
    assert errors["bad"]["response"]["body"]["error"]["message"] == "you must provide a model parameter"
    assert client.files.retrieve(batch.output_file_id).purpose == "batch_output"


def test_an_embeddings_batch_answers_vectors(llmsim_server):
    client = sdk(llmsim_server, **{"x-llmsim-batch-duration-s": "0"})
    line = {"custom_id": "e", "method": "POST", "url": "/v1/embeddings"}
    file_id = upload(client, [{**line, "body": {"model": "text-embedding-3-small", "input": "hi", "dimensions": 8}}])
    batch = client.batches.create(input_file_id=file_id, endpoint="/v1/embeddings", completion_window="24h")
    batch = wait_until_ended(client, batch.id)
    body = lines_of(client, batch.output_file_id)["e"]["response"]["body"]
    assert body["object"] == "list" and len(body["data"][0]["embedding"]) == 8


def test_a_rule_error_fails_that_request_only(llmsim_server, scenarios):
    client = sdk(llmsim_server, **{"x-llmsim-scenario": "batch-rules"})
    lines = [chat_line("ok", "Hello"), chat_line("ruled", "please refuse me"), chat_line("ok2", "Hello again")]
    batch = client.batches.create(
        input_file_id=upload(client, lines), endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert batch.status == "completed"  # the scenario's duration: 0 s
    error = lines_of(client, batch.error_file_id)["ruled"]["response"]
    assert error["status_code"] == 503 and error["body"]["error"]["message"] == "Busy, sorry."
    assert set(lines_of(client, batch.output_file_id)) == {"ok", "ok2"}
    # The batch's requests count in the stats, the rule's error as an injected one.
    stats = get_json(f"{llmsim_server.base_url}/llmsim/stats")
    assert stats["requests"]["by_endpoint"]["/v1/batches (requests)"] >= 3
    assert stats["errors"]["by_status"]["503"]["injected"] >= 1


def test_lines_that_are_no_requests_fail_validation(llmsim_server):
    client = sdk(llmsim_server, **{"x-llmsim-batch-duration-s": "0"})
    other = {**chat_line("x", "Hi"), "url": "/v1/embeddings"}
    file_id = upload(client, [chat_line("a", "Hi"), "{not json", other, chat_line("a", "again")])
    batch = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.status == "failed" and batch.output_file_id is None
    codes = [(error.code, error.line) for error in batch.errors.data]
    assert codes == [("invalid_json_line", 2), ("mismatched_endpoint", 3), ("duplicate_custom_id", 4)]


def test_an_expired_batch_writes_its_unanswered_requests_to_the_error_file(llmsim_server):
    client = sdk(llmsim_server, **{"x-llmsim-batch-duration-s": "0", "x-llmsim-batch-outcome": "expired"})
    file_id = upload(client, [chat_line(str(i), "Hi") for i in range(4)])
    batch = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.status == "expired" and batch.request_counts.failed == 2
    errors = lines_of(client, batch.error_file_id)
    assert set(errors) == {"2", "3"} and errors["3"]["error"]["code"] == "batch_expired"


def test_cancel_and_list_with_paging(llmsim_server):
    client = sdk(llmsim_server, **{"x-llmsim-batch-duration-s": "30"})
    file_id = upload(client, [chat_line("a", "Hi")])
    made = [
        client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h").id
        for _ in range(3)
    ]
    cancelled = client.batches.cancel(made[0])
    assert cancelled.status == "cancelling" and cancelled.cancelling_at is not None
    page = client.batches.list(limit=2)
    assert [b.id for b in page.data] == made[:0:-1] and page.has_more
    following = client.batches.list(limit=2, after=page.data[-1].id)
    assert following.data[0].id == made[0]


def test_unknown_ids_and_bad_requests_answer_openai_errors(llmsim_server):
    client = sdk(llmsim_server)
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_nope")
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-nope")
    with pytest.raises(openai.NotFoundError):
        client.batches.create(input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h")
    file_id = upload(client, [chat_line("a", "Hi")])
    with pytest.raises(openai.BadRequestError) as bad_endpoint:
        client.batches.create(input_file_id=file_id, endpoint="/v1/completions", completion_window="24h")
    assert bad_endpoint.value.body["param"] == "endpoint"
    with pytest.raises(openai.BadRequestError) as bad_purpose:
        client.files.create(file=("a.jsonl", io.BytesIO(b"{}")), purpose="fine-tune")
    assert bad_purpose.value.body["param"] == "purpose"
    with pytest.raises(openai.BadRequestError):
        client.files.create(file=("a.txt", io.BytesIO(b"{}")), purpose="batch")


def test_files_are_listed_read_and_deleted(llmsim_server):
    client = sdk(llmsim_server)
    file_id = client.files.create(file=("notes.txt", io.BytesIO(b"hello \x00 bytes")), purpose="user_data").id
    assert client.files.content(file_id).content == b"hello \x00 bytes"
    listed = client.files.list(purpose="user_data", limit=1)
    assert listed.data[0].id == file_id and listed.data[0].bytes == 13
    assert client.files.delete(file_id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.content(file_id)


def test_a_malformed_upload_is_a_400(llmsim_server):
    status, _, body = post(
        llmsim_server, "/v1/files", b"--x\r\nbroken", {"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    status, _, body = post(llmsim_server, "/v1/files", b"{}")
    assert status == 400


def test_a_responses_batch_answers_response_objects(llmsim_server):
    client = sdk(llmsim_server, **{"x-llmsim-batch-duration-s": "0"})
    line = {"custom_id": "r", "method": "POST", "url": "/v1/responses", "body": {"model": MODEL, "input": "Hi"}}
    file_id = upload(client, [line])
    batch = client.batches.create(input_file_id=file_id, endpoint="/v1/responses", completion_window="24h")
    body = lines_of(client, batch.output_file_id)["r"]["response"]["body"]
    assert body["object"] == "response" and body["status"] == "completed"


def test_an_upload_past_the_size_limit_is_refused_before_it_is_read(llmsim_server):
    host, port = llmsim_server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(
            b"POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 1000000000\r\n\r\n--x\r\n"
        )
        answer = b""
        while b"}}" not in answer and (chunk := connection.recv(65536)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and b"invalid_request_error" in answer
