"""Anthropic Message Batches through the anthropic SDK: create → ended → results (succeeded,
errored by a scenario rule and by a refused request), cancel, delete, list paging, 404s."""

from __future__ import annotations

import time

import anthropic
import pytest

from tests.conftest import INSTANT

LIVE_SERVERS = ("serve",)

MODEL = "claude-haiku-4-5"


@pytest.fixture(scope="module")
def scenarios(module_scenarios):
    module_scenarios(
        "message-batch-rules",
        rules=[{"match_last_user": "refuse me", "action": {"error": {"status": 529}}}],
        batch_duration_s=0.2,
    )


def sdk(server, **headers) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=server.base_url, api_key="test", max_retries=0, default_headers={**INSTANT, **headers}
    )


def request(custom_id: str, text: str, **params) -> dict:
    params = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": text}], **params}
    return {"custom_id": custom_id, "params": params}


def wait_until_ended(client, batch_id: str, timeout: float = 5):
    deadline = time.monotonic() + timeout
    while True:
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended" or time.monotonic() > deadline:
            return batch
        time.sleep(0.05)


def test_a_batch_ends_with_succeeded_and_errored_results(llmsim_server, scenarios):
    client = sdk(llmsim_server, **{"x-llmsim-scenario": "message-batch-rules"})
    requests = [request("a", "Hello"), request("ruled", "please refuse me"), request("bad", "Hi", max_tokens=0)]
    batch = client.messages.batches.create(requests=requests)
    assert batch.processing_status == "in_progress" and batch.request_counts.processing == 3
    assert batch.results_url is None and batch.id.startswith("msgbatch_")
    batch = wait_until_ended(client, batch.id)
    assert batch.processing_status == "ended" and batch.ended_at is not None
    assert (batch.request_counts.succeeded, batch.request_counts.errored) == (1, 2)
    results = {item.custom_id: item.result for item in client.messages.batches.results(batch.id)}
    assert results["a"].type == "succeeded" and results["a"].message.content[0].type == "text"
    assert results["ruled"].type == "errored" and results["ruled"].error.error.type == "overloaded_error"
    assert results["bad"].type == "errored" and results["bad"].error.error.type == "invalid_request_error"


def test_cancel_then_delete(llmsim_server):
    client = sdk(llmsim_server, **{"x-llmsim-batch-duration-s": "0.5"})
    batch = client.messages.batches.create(requests=[request(f"r{i}", "Hi") for i in range(4)])
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.delete(batch.id)  # still processing
    cancelled = client.messages.batches.cancel(batch.id)
    assert cancelled.processing_status == "canceling" and cancelled.cancel_initiated_at is not None
    ended = wait_until_ended(client, batch.id)
    assert ended.request_counts.canceled == 4 and ended.request_counts.succeeded == 0
    results = [item.result.type for item in client.messages.batches.results(batch.id)]
    assert results == ["canceled"] * 4
    assert client.messages.batches.delete(batch.id).type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(batch.id)


def test_an_expired_batch_answers_half_its_requests(llmsim_server):
    client = sdk(llmsim_server, **{"x-llmsim-batch-duration-s": "0", "x-llmsim-batch-outcome": "expired"})
    batch = client.messages.batches.create(requests=[request(f"r{i}", "Hi") for i in range(4)])
    assert batch.processing_status == "ended" and batch.request_counts.expired == 2
    types = [item.result.type for item in client.messages.batches.results(batch.id)]
    assert types == ["succeeded", "succeeded", "expired", "expired"]


def test_list_pages_newest_first(llmsim_server):
    client = sdk(llmsim_server, **{"x-llmsim-batch-duration-s": "0"})
    made = [client.messages.batches.create(requests=[request("a", "Hi")]).id for _ in range(3)]
    page = client.messages.batches.list(limit=2)
    assert [b.id for b in page.data] == made[:0:-1] and page.has_more
    assert client.messages.batches.list(limit=2, after_id=page.last_id).data[0].id == made[0]


def test_bad_batches_are_refused_in_anthropic_format(llmsim_server):
    client = sdk(llmsim_server)
    with pytest.raises(anthropic.BadRequestError) as empty:
        client.messages.batches.create(requests=[])
    assert empty.value.body["error"]["type"] == "invalid_request_error"
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.create(requests=[request("same", "a"), request("same", "b")])
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve("msgbatch_nope")
