"""Stored responses across processes: what one server process answered, another continues.

Two `serve` processes share one database (PostgreSQL when LLMSIM_TEST_DATABASE_URL is
set, else one SQLite file), as replicas behind a load balancer do: a response is
committed before its last event goes out, so the client's next request may land on
either process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import openai
import pytest

from tests.conftest import INSTANT, LiveServer, start_server, stop_server
from tests.services import fresh_postgres_database

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def database_url(tmp_path_factory) -> Iterator[str]:
    base = os.environ.get("LLMSIM_TEST_DATABASE_URL", "")
    if not base:
        yield f"sqlite:///{tmp_path_factory.mktemp('shared') / 'db.sqlite3'}"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def two_servers(database_url, tmp_path_factory) -> Iterator[list[LiveServer]]:
    servers = []
    try:
        for kind in ("serve", "serve-uvicorn"):
            env = {"DATABASE_URL": database_url}
            servers.append(start_server(tmp_path_factory.mktemp(kind), kind, env, migrate=not servers))
        yield servers
    finally:
        for server in servers:
            stop_server(server)


def client_of(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="test", max_retries=0, default_headers=INSTANT)


def test_a_response_from_one_process_is_continued_and_retrieved_by_the_other(two_servers):
    first_process, second_process = (client_of(server) for server in two_servers)
    for _ in range(5):
        with first_process.responses.stream(model="gpt-4o", input="Weather in Paris?", tools=[WEATHER]) as stream:
            first = stream.get_final_response()
        [call] = first.output
        output = {"type": "function_call_output", "call_id": call.call_id, "output": "21 C"}
        second = second_process.responses.create(
            model="gpt-4o", input=[output], tools=[WEATHER], previous_response_id=first.id
        )
        assert second.output_text.startswith("Based on get_weather: 21 C.")
        assert second_process.responses.retrieve(first.id).output[0].call_id == call.call_id
        assert [item.call_id for item in first_process.responses.input_items.list(second.id)] == [call.call_id]
