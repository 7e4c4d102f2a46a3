"""The Assistants API's objects are kept within LLMSIM_ASSISTANTS_RETAIN and
LLMSIM_ASSISTANTS_RETAIN_BYTES: the oldest go (a thread with its messages and runs), so
that a load test cannot fill the disk."""

from __future__ import annotations

import sqlite3
import time

import openai
import pytest

from tests.conftest import INSTANT, start_server, stop_server

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # client.beta is deprecated

MODEL = "gpt-4o-mini"
RETAIN = 5
RETAIN_BYTES = 40_000


@pytest.fixture(scope="module", params=["runserver", "serve"])
def server(request, tmp_path_factory):
    env = {"LLMSIM_ASSISTANTS_RETAIN": str(RETAIN), "LLMSIM_ASSISTANTS_RETAIN_BYTES": str(RETAIN_BYTES)}
    live = start_server(tmp_path_factory.mktemp(f"retain-{request.param}"), request.param, env)
    yield live
    stop_server(live)


@pytest.fixture
def beta(server):
    with openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="test", max_retries=0, default_headers=INSTANT) as sdk:
        yield sdk.beta


def table_figures(server) -> dict[str, tuple[int, int]]:
    """Rows and bytes (their sizes) of each Assistants table, read from the server's database."""
    with sqlite3.connect(server.db_path) as connection:
        return {
            table: connection.execute(f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM simulator_{table}").fetchone()
            for table in ("assistant", "thread", "threadmessage", "run")
        }


def eventually(check, timeout: float = 10) -> None:
    """Pruning runs beside the requests, on a thread of its own: wait for it."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not pruned in time"
        time.sleep(0.05)


def gone(retrieve, public_id: str) -> bool:
    try:
        retrieve(public_id)
    except openai.NotFoundError:
        return True
    return False


def test_it_keeps_only_the_newest_assistants_and_threads_with_their_messages_and_runs(server, beta):
    assistants = [beta.assistants.create(model=MODEL, name=f"assistant {n}") for n in range(12)]
    threads = []
    for n in range(12):
        thread = beta.threads.create(messages=[{"role": "user", "content": f"Hello {n}"}])
        run = beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistants[-1].id)
        assert run.status == "completed"
        threads.append(thread)

    eventually(lambda: gone(beta.threads.retrieve, threads[-RETAIN - 1].id))
    for assistant in assistants[:-RETAIN]:
        with pytest.raises(openai.NotFoundError) as raised:
            beta.assistants.retrieve(assistant.id)
        assert raised.value.body["message"] == f"No assistant found with id '{assistant.id}'."
    assert [a.id for a in beta.assistants.list(limit=100)] == [a.id for a in reversed(assistants[-RETAIN:])]
    for thread in threads[:-RETAIN]:
        with pytest.raises(openai.NotFoundError):
            beta.threads.retrieve(thread.id)
        with pytest.raises(openai.NotFoundError):
            beta.threads.messages.list(thread.id)
    for n, thread in enumerate(threads[-RETAIN:], start=len(threads) - RETAIN):
        messages = beta.threads.messages.list(thread.id, order="asc").data
        assert [m.role for m in messages] == ["user", "assistant"]
        assert messages[0].content[0].text.value == f"Hello {n}"
    # A pruned thread's messages and runs went with it: no row is left behind.
    figures = table_figures(server)
    assert figures["assistant"][0] == RETAIN and figures["thread"][0] == RETAIN
    assert figures["threadmessage"][0] == 2 * RETAIN and figures["run"][0] == RETAIN


def test_it_keeps_a_threads_newest_messages_within_the_byte_limit(server, beta):
    thread = beta.threads.create()
    texts = [f"{n:02d} " + "x" * 4_997 for n in range(20)]  # about 5 KB a message as stored
    for text in texts:
        beta.threads.messages.create(thread.id, role="user", content=text)

    def kept() -> list[str]:
        return [m.content[0].text.value for m in beta.threads.messages.list(thread.id, order="asc", limit=100)]

    eventually(lambda: len(kept()) < len(texts))
    assert 5 <= len(kept()) <= RETAIN_BYTES // 5_000
    assert kept() == texts[-len(kept()) :]  # the newest, in order
    assert table_figures(server)["threadmessage"][1] <= RETAIN_BYTES
    assistant = beta.assistants.create(model=MODEL)
    run = beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"  # the thread goes on with what it kept
