"""The secret key: DJANGO_SECRET_KEY, or one generated per install and kept beside the database;
what each server process says about it at start, and the warning when replicas disagree."""

from __future__ import annotations

import multiprocessing
import stat
import time
from pathlib import Path

import pytest

from llmsim_project import secret_key
from tests.admin_login import create_admin, get, log_in
from tests.conftest import LiveServer, start_server, stop_server
from tests.services import fresh_postgres_database, redis_url, unique_prefix

GENERATED = "secret key: generated, kept in"
DISAGREE = "signs with a different key"
KEY_A = "a-key-of-replica-a-" + "0123456789abcdef" * 3
KEY_B = "a-key-of-replica-b-" + "fedcba9876543210" * 3
# start_server passes on this process's environment: make sure no key comes from there.
NO_KEY = {"DJANGO_SECRET_KEY": ""}


def directory(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _race(path: str, queue) -> None:
    queue.put(secret_key.read_or_create(Path(path)))


def test_it_keeps_one_key_when_processes_start_together(tmp_path):
    path = tmp_path / "data" / secret_key.KEY_FILE_NAME
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    racers = [context.Process(target=_race, args=(str(path), queue)) for _ in range(8)]
    for racer in racers:
        racer.start()
    keys = {queue.get(timeout=30) for _ in racers}
    for racer in racers:
        racer.join(timeout=30)
    assert keys == {path.read_text().strip()}
    assert len(keys.pop()) >= 50
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == [secret_key.KEY_FILE_NAME]  # no candidate left over


def test_it_puts_the_key_file_beside_the_sqlite_database(tmp_path):
    project = tmp_path / "project"
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "data" / "db.sqlite3")}
    assert secret_key.key_file_for(sqlite, project) == tmp_path / "data" / secret_key.KEY_FILE_NAME
    postgres = {"ENGINE": "django.db.backends.postgresql", "NAME": "llmsim"}
    assert secret_key.key_file_for(postgres, project) == project / secret_key.KEY_FILE_NAME
    memory = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    assert secret_key.key_file_for(memory, project) == project / secret_key.KEY_FILE_NAME


def test_it_refuses_an_empty_key_file_and_says_what_to_do(tmp_path):
    path = tmp_path / secret_key.KEY_FILE_NAME
    path.write_text("\n")
    with pytest.raises(secret_key.SecretKeyError, match="delete it"):
        secret_key.choose("", path)
    assert secret_key.choose("from-the-environment", path) == secret_key.SecretKey("from-the-environment", None)


def test_a_fingerprint_tells_keys_apart_without_showing_them():
    assert secret_key.fingerprint(KEY_A) == secret_key.fingerprint(KEY_A)
    assert secret_key.fingerprint(KEY_A) != secret_key.fingerprint(KEY_B)
    assert KEY_A[:8] not in secret_key.fingerprint(KEY_A)


# The key is chosen by the settings, which every server command loads alike: one command
# is enough here (the replica tests below start both kinds).
@pytest.mark.live
def test_it_generates_a_key_beside_the_database_and_logins_survive_a_restart(tmp_path):
    server = start_server(tmp_path, "serve", NO_KEY)
    database = {"DATABASE_URL": f"sqlite:///{server.db_path}", **NO_KEY}
    try:
        key_file = tmp_path / secret_key.KEY_FILE_NAME  # beside db.sqlite3
        assert key_file.exists()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert f"{GENERATED} {key_file}" in server.log()
        key = key_file.read_text()
        create_admin(database["DATABASE_URL"])
        session = log_in(server.base_url)
        assert get(f"{server.base_url}/admin/", {"Cookie": f"sessionid={session}"})[0] == 200
    finally:
        stop_server(server)
    server = start_server(directory(tmp_path / "restart"), "serve", database, migrate=False)
    try:
        assert key_file.read_text() == key
        assert get(f"{server.base_url}/admin/", {"Cookie": f"sessionid={session}"})[0] == 200
        assert get(f"{server.base_url}/admin/")[0] == 302  # without the cookie: the login page
    finally:
        stop_server(server)


@pytest.mark.live
def test_DJANGO_SECRET_KEY_wins_and_no_key_file_is_written(tmp_path):
    server = start_server(tmp_path, "runserver", {"DJANGO_SECRET_KEY": KEY_A})
    try:
        assert "secret key: DJANGO_SECRET_KEY" in server.log()
        assert GENERATED not in server.log()
        assert not (tmp_path / secret_key.KEY_FILE_NAME).exists()
    finally:
        stop_server(server)


def wait_for_log(server: LiveServer, text: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in server.log():
            return server.log()
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in the log within {timeout}s:\n{server.log()}")


def start_replicas(tmp_path: Path, envs: list[dict[str, str]]) -> list[LiveServer]:
    """Servers started one after the other (serve, then runserver, alternately); the first migrates."""
    servers = []
    try:
        for number, env in enumerate(envs):
            kind = ("serve", "runserver")[number % 2]
            servers.append(start_server(directory(tmp_path / f"replica-{number}"), kind, env, migrate=number == 0))
    except BaseException:
        for server in servers:
            stop_server(server)
        raise
    return servers


@pytest.mark.live
def test_replicas_sharing_a_database_with_different_keys_are_warned(tmp_path):
    servers = [start_server(directory(tmp_path / "first"), "serve", {"DJANGO_SECRET_KEY": KEY_A})]
    shared = {"DATABASE_URL": f"sqlite:///{servers[0].db_path}"}
    try:
        servers.append(
            start_server(
                directory(tmp_path / "same"), "runserver", {**shared, "DJANGO_SECRET_KEY": KEY_A}, migrate=False
            )
        )
        assert all(DISAGREE not in server.log() for server in servers)  # the second one checked at start: they agree
        servers.append(
            start_server(
                directory(tmp_path / "different"), "serve", {**shared, "DJANGO_SECRET_KEY": KEY_B}, migrate=False
            )
        )
        log = wait_for_log(servers[-1], DISAGREE)
        assert secret_key.fingerprint(KEY_A) in log and secret_key.fingerprint(KEY_B) in log
        assert "Set DJANGO_SECRET_KEY to the same value on every replica" in log
        assert KEY_A not in log and KEY_B not in log
    finally:
        for server in servers:
            stop_server(server)


@pytest.mark.live
def test_replicas_sharing_redis_with_different_keys_are_warned(tmp_path):
    shared = {"REDIS_URL": redis_url(), "LLMSIM_REDIS_PREFIX": unique_prefix()}
    servers = start_replicas(tmp_path, [{**shared, "DJANGO_SECRET_KEY": KEY_A}, {**shared, "DJANGO_SECRET_KEY": KEY_B}])
    try:
        log = wait_for_log(servers[1], DISAGREE)
        assert "sharing this Redis" in log
        assert DISAGREE not in servers[0].log()
    finally:
        for server in servers:
            stop_server(server)


@pytest.fixture
def postgres_database():
    """A fresh PostgreSQL database, dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


@pytest.mark.live
def test_replicas_on_postgresql_without_DJANGO_SECRET_KEY_are_warned_loudly(tmp_path, postgres_database):
    # Two machines: each generates a key of its own (LLMSIM_SECRET_KEY_FILE stands for its disk).
    envs = [
        {"DATABASE_URL": postgres_database, **NO_KEY, "LLMSIM_SECRET_KEY_FILE": str(tmp_path / f"machine-{n}.key")}
        for n in range(2)
    ]
    servers = start_replicas(tmp_path, envs)
    try:
        for server in servers:
            assert "but the database is shared (postgresql)" in server.log()
        assert "sharing this database" in wait_for_log(servers[1], DISAGREE)
    finally:
        for server in servers:
            stop_server(server)
