"""A busy or unreachable database: the routes that need it answer OpenAI's 503 with
retry-after, never a 500, and the server goes on serving (and, once the database is
back, storing)."""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlparse, urlunparse

import openai
import pytest

from tests.conftest import INSTANT, free_port, start_server, stop_server
from tests.services import fresh_postgres_database

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # client.beta is deprecated

MODEL = "gpt-4o-mini"
ADMIN_TOKEN = "s3cret"
UNAVAILABLE = {
    "error": {
        "message": "The server could not reach its database in time (it is busy or unavailable). Please retry your "
        "request shortly.",
        "type": "server_error",
        "param": None,
        "code": None,
    }
}


@pytest.fixture(scope="module", params=["runserver", "serve"])
def server(request, tmp_path_factory):
    """A live server that waits for a locked database 0.2 s (LLMSIM_DB_BUSY_TIMEOUT_S), not 5."""
    env = {"LLMSIM_DB_BUSY_TIMEOUT_S": "0.2", "LLMSIM_ADMIN_TOKEN": ADMIN_TOKEN}
    live = start_server(tmp_path_factory.mktemp(f"busy-{request.param}"), request.param, env)
    yield live
    stop_server(live)


@pytest.fixture
def client(server):
    with openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="test", max_retries=0, default_headers=INSTANT) as sdk:
        yield sdk


@contextlib.contextmanager
def write_lock(db_path) -> Iterator[None]:
    """Hold SQLite's write lock on the server's database, as another process writing would."""
    connection = sqlite3.connect(db_path, timeout=5, isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def call(server, method: str, path: str, body: dict | None = None, key: str = "test"):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{server.base_url}{path}",
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json", **INSTANT},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


def test_it_answers_writes_to_a_locked_database_with_a_503_and_retry_after_then_recovers(server, client):
    assistant = client.beta.assistants.create(model=MODEL)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hello"}])
    stored = client.responses.create(model=MODEL, input="Keep this")
    writes = [
        ("POST", "/v1/assistants", {"model": MODEL}),
        ("POST", "/v1/threads", {"messages": [{"role": "user", "content": "Hi"}]}),
        ("POST", f"/v1/threads/{thread.id}/messages", {"role": "user", "content": "More"}),
        ("POST", f"/v1/threads/{thread.id}/runs", {"assistant_id": assistant.id}),
        ("POST", "/v1/threads/runs", {"assistant_id": assistant.id}),
        ("DELETE", f"/v1/assistants/{assistant.id}", None),
        ("DELETE", f"/v1/responses/{stored.id}", None),
    ]
    with write_lock(server.db_path):
        for method, path, body in writes:
            status, headers, answer = call(server, method, path, body)
            assert (status, answer) == (503, UNAVAILABLE), (method, path)
            assert headers["retry-after"] == "1" and headers["retry-after-ms"] == "1000"
            assert headers["x-request-id"].startswith("req_")
        # The server goes on: reads pass a writer (SQLite's WAL), and so does everything else.
        assert client.beta.threads.retrieve(thread.id).id == thread.id
        assert client.responses.retrieve(stored.id).id == stored.id
        assert client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}]).choices
        # The management API (a Django view) says it in its own format.
        status, headers, answer = call(server, "POST", "/llmsim/api/scenarios", {"name": "busy"}, ADMIN_TOKEN)
        assert (status, headers["retry-after"]) == (503, "1")
        assert answer == {"detail": "The database is busy or unavailable. Please retry your request shortly."}
    # Released: the same writes go through.
    for method, path, body in writes[:3]:
        status, _, answer = call(server, method, path, body)
        assert status == 200, (method, path, answer)
    assert call(server, "POST", "/llmsim/api/scenarios", {"name": "busy"}, ADMIN_TOKEN)[0] == 201
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    client.responses.delete(stored.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(stored.id)


# --- an unreachable PostgreSQL --------------------------------------------------------


class Gate:
    """A TCP relay to PostgreSQL that the test shuts and opens: the server's database goes
    away (its connections broken, new ones refused) and comes back, as in a restart."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.open()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def shut(self) -> None:
        assert self._listener is not None
        # shutdown() first: close() alone leaves a thread blocked in accept() accepting one more.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # shut
                return
            upstream = socket.create_connection(self.target)
            self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.fixture(scope="module")
def postgres_behind_a_gate(tmp_path_factory):
    """`serve` on a fresh PostgreSQL database that it reaches through a Gate."""
    with fresh_postgres_database() as database:
        base = urlparse(database)
        gate = Gate((base.hostname or "127.0.0.1", base.port or 5432))
        credentials = base.netloc.rpartition("@")[0]
        url = urlunparse(base._replace(netloc=f"{credentials}@127.0.0.1:{gate.port}"))
        live = start_server(tmp_path_factory.mktemp("gated"), "serve", {"DATABASE_URL": url})
        try:
            yield live, gate
        finally:
            stop_server(live)
            gate.shut()


def test_it_answers_a_postgresql_that_went_away_with_a_503_and_retry_after_then_recovers(postgres_behind_a_gate):
    server, gate = postgres_behind_a_gate
    with openai.OpenAI(
        base_url=f"{server.base_url}/v1", api_key="test", max_retries=0, default_headers=INSTANT
    ) as client:
        assistant = client.beta.assistants.create(model=MODEL)
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hello"}])
        stored = client.responses.create(model=MODEL, input="Keep this")
        requests = [
            ("GET", f"/v1/threads/{thread.id}", None),
            ("GET", f"/v1/threads/{thread.id}/messages", None),
            ("POST", "/v1/threads", {}),
            ("POST", f"/v1/threads/{thread.id}/runs", {"assistant_id": assistant.id}),
            ("GET", f"/v1/responses/{stored.id}", None),
            ("GET", f"/v1/responses/{stored.id}/input_items", None),
            ("POST", "/v1/responses", {"model": MODEL, "input": "Go on", "previous_response_id": stored.id}),
            ("DELETE", f"/v1/responses/{stored.id}", None),
        ]
        gate.shut()
        try:
            for method, path, body in requests:
                status, headers, answer = call(server, method, path, body)
                assert (status, answer) == (503, UNAVAILABLE), (method, path)
                assert headers["retry-after"] == "1"
            # What needs no database is answered as ever.
            assert client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}]).choices
        finally:
            gate.open()
        for method, path, body in requests:
            status, _, answer = call(server, method, path, body)
            assert status == 200, (method, path, answer)
