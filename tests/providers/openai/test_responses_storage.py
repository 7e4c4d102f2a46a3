"""Stored responses: GET / DELETE /v1/responses/{id}, its input items, and the store's
retention limit."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import urllib.error
import urllib.request

import openai
import pytest

from simulator.state.response_store import Record, ResponseStore
from tests.conftest import INSTANT, start_server, stop_server

LIVE_SERVERS = ("serve",)  # storage is the store's, whatever the server

MODEL = "gpt-4o"
GIB = 1024**3


def create(client, prompt="Hello", **kwargs):
    return client.responses.create(model=MODEL, input=prompt, extra_headers=INSTANT, **kwargs)


def test_a_stored_response_is_retrieved_as_it_was_answered(client):
    created = create(client, metadata={"case": "retrieve"})
    retrieved = client.responses.retrieve(created.id)
    assert retrieved.to_dict() == created.to_dict()


def test_a_streamed_response_is_stored_once_complete(client):
    with client.responses.stream(model=MODEL, input="Stream and store", extra_headers=INSTANT) as stream:
        final = stream.get_final_response()
    retrieved = client.responses.retrieve(final.id)
    assert retrieved.status == "completed" and retrieved.output_text == final.output_text


def test_store_false_keeps_nothing(client):
    created = create(client, store=False)
    with pytest.raises(openai.NotFoundError) as raised:
        client.responses.retrieve(created.id)
    assert raised.value.body["message"] == f"No response found with id '{created.id}'."
    with pytest.raises(openai.BadRequestError) as raised:
        create(client, "Go on", previous_response_id=created.id)
    assert raised.value.body["code"] == "previous_response_not_found"
    assert raised.value.body["param"] == "previous_response_id"


def test_a_deleted_response_is_gone(client):
    created = create(client)
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(created.id)


def test_delete_answers_with_the_deleted_id(llmsim_server, client):
    created = create(client)
    raw = client.responses.with_raw_response.delete(created.id)
    assert json.loads(raw.content) == {"id": created.id, "object": "response", "deleted": True}


def test_the_input_items_are_listed_newest_first_and_paged(client):
    items = [{"role": "user", "content": f"Message {n}"} for n in range(5)]
    created = create(client, items)
    listed = client.responses.input_items.list(created.id, limit=2)
    assert [item.content[0].text for item in listed.data] == ["Message 4", "Message 3"]
    assert listed.has_more is True
    every = [item.content[0].text for item in client.responses.input_items.list(created.id, limit=2)]
    assert every == [f"Message {n}" for n in reversed(range(5))]
    ascending = client.responses.input_items.list(created.id, order="asc")
    assert [item.content[0].text for item in ascending.data] == [f"Message {n}" for n in range(5)]
    assert all(item.id.startswith("msg_") and item.type == "message" for item in ascending.data)


def test_input_items_are_this_requests_own_with_their_ids(client):
    tools = [{"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}]
    first = create(client, "Look it up", tools=tools)
    [call] = first.output
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "42"}
    second = create(client, [output], tools=tools, previous_response_id=first.id)
    [item] = client.responses.input_items.list(second.id).data
    assert item.type == "function_call_output" and item.call_id == call.call_id and item.output == "42"
    assert item.id.startswith("fco_")
    # Items sent back keep the ids they came with.
    third = create(client, [call.to_dict(), {**output, "id": "fco_mine"}], tools=tools)
    assert [item.id for item in client.responses.input_items.list(third.id, order="asc")] == [call.id, "fco_mine"]


def test_retrieving_an_unknown_response_is_404(llmsim_server):
    for method, path in [
        ("GET", "/v1/responses/resp_missing"),
        ("DELETE", "/v1/responses/resp_missing"),
        ("GET", "/v1/responses/resp_missing/input_items"),
        ("POST", "/v1/responses/resp_missing/cancel"),
    ]:
        status, _, body = request(llmsim_server, method, path)
        assert status == 404, (method, path, body)
        assert body == {
            "error": {
                "message": "No response found with id 'resp_missing'.",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }


def test_a_response_that_is_not_in_the_background_cannot_be_cancelled_or_streamed_again(llmsim_server, client):
    created = create(client)
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(created.id)
    status, _, body = request(llmsim_server, "GET", f"/v1/responses/{created.id}?stream=true")
    assert status == 400 and body["error"]["param"] == "stream"


@pytest.mark.parametrize(("query", "param"), [("limit=0", "limit"), ("limit=101", "limit"), ("order=up", "order")])
def test_bad_input_item_queries_are_400(llmsim_server, client, query, param):
    created = create(client)
    status, _, body = request(llmsim_server, "GET", f"/v1/responses/{created.id}/input_items?{query}")
    assert status == 400 and body["error"]["param"] == param


def request(server, method: str, path: str):
    req = urllib.request.Request(f"{server.base_url}{path}", method=method, headers={"Authorization": "Bearer t"})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


@pytest.fixture(scope="module", params=["runserver", "serve"])
def small_store(request, tmp_path_factory):
    """A live server that keeps 100,000 bytes of responses (LLMSIM_RESPONSES_RETAIN_BYTES)."""
    env = {"LLMSIM_RESPONSES_RETAIN_BYTES": "100000"}
    live = start_server(tmp_path_factory.mktemp(f"bytes-{request.param}"), request.param, env)
    yield live
    stop_server(live)


def test_it_keeps_the_newest_responses_within_the_byte_limit(small_store):
    with openai.OpenAI(base_url=f"{small_store.base_url}/v1", api_key="test", max_retries=0) as client:
        created = [create(client, f"Document {n}: " + "lorem ipsum " * 2_500) for n in range(10)]  # 30 KB each
        kept = []
        for response in created:
            try:
                kept.append(client.responses.retrieve(response.id).id)
            except openai.NotFoundError:
                continue
    # About 32 KB a response as stored: the newest three fit.
    assert kept == [response.id for response in created[-3:]]
    with sqlite3.connect(small_store.db_path) as connection:
        rows, size = connection.execute("SELECT COUNT(*), SUM(size) FROM simulator_storedresponse").fetchone()
    assert rows == 3 and 90_000 < size <= 100_000


# --- the store itself ----------------------------------------------------------------


def record(n: int) -> Record:
    return Record(f"resp_{n}", MODEL, f"resp_{n - 1}" if n else "", "[]", json.dumps({"id": f"resp_{n}"}))


@pytest.mark.django_db
def test_the_store_keeps_only_the_newest_responses():
    from simulator.models import StoredResponse

    store = ResponseStore(retain=3, retain_bytes=GIB, prune_every=2)
    for n in range(10):
        store.write([record(n)])
    # Pruned every second save: never more than retain + prune_every rows.
    kept = list(StoredResponse.objects.order_by("id").values_list("response_id", flat=True))
    assert kept == ["resp_7", "resp_8", "resp_9"]
    assert store.prune() == 0


@pytest.mark.django_db
def test_the_store_keeps_the_newest_responses_within_its_byte_limit():
    from django.db.models import Sum

    from simulator.models import StoredResponse

    store = ResponseStore(retain=100, retain_bytes=10_000)
    records = [Record(f"resp_{n}", MODEL, "", json.dumps(["x" * 2_000]), "{}") for n in range(10)]
    for saved in records:
        store.write([saved])  # over a tenth of the limit: pruned after each
    # 2,006 bytes a response: the newest four fit in 10,000.
    kept = list(StoredResponse.objects.order_by("id").values_list("response_id", flat=True))
    assert kept == ["resp_6", "resp_7", "resp_8", "resp_9"]
    assert StoredResponse.objects.aggregate(total=Sum("size"))["total"] == 4 * records[0].size == 8_024


@pytest.mark.django_db
def test_the_default_retention_prunes_in_batches():
    store = ResponseStore(retain=10_000, retain_bytes=GIB)
    assert store.prune_every == 1000
    assert ResponseStore(retain=5, retain_bytes=GIB).prune_every == 1


@pytest.mark.django_db(transaction=True)
def test_saves_from_the_event_loop_are_written_by_one_thread_and_chained():
    store = ResponseStore(retain=100, retain_bytes=GIB)

    async def scenario():
        await asyncio.gather(*(store.save(record(n)) for n in range(20)))
        chain = await store.chain("resp_19")
        assert [r.response_id for r in chain] == [f"resp_{n}" for n in range(20)]
        assert (await store.get("resp_3")).previous_response_id == "resp_2"
        assert await store.delete("resp_10") is True
        assert await store.delete("resp_10") is False
        # A deleted link ends the chain there.
        assert [r.response_id for r in await store.chain("resp_19")] == [f"resp_{n}" for n in range(11, 20)]
        assert await store.get("resp_missing") is None

    asyncio.run(scenario())
