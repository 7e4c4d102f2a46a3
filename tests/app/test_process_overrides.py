"""Startup flags, LLMSIM_* variables and configuration files belong to the server process that
got them: layered over the stored settings in its own snapshot, shown in the admin while it
runs, and gone with it."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.admin_login import create_admin, get, log_in
from tests.conftest import LiveServer, post, start_server, stop_server

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "echo me"}]}
SETTINGS_PAGE = "/admin/simulator/simulatorsettings/1/change/"


def answer_text(server: LiveServer) -> str:
    status, _, body = post(server, "/v1/chat/completions", CHAT, {"Authorization": "Bearer t", "x-llmsim-ttft-ms": "0"})
    assert status == 200, body
    return body["choices"][0]["message"]["content"]


def stored_rows(db_path: Path, *tables: str) -> dict[str, list]:
    """Rows as stored (by default the settings and the profiles), read straight from the SQLite file."""
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        return {
            table: db.execute(f"SELECT * FROM simulator_{table} ORDER BY id").fetchall()
            for table in tables or ("simulatorsettings", "modelprofile", "errorprofile")
        }


def settings_page(server: LiveServer, session: str) -> str:
    status, _, page = get(f"{server.base_url}{SETTINGS_PAGE}", {"Cookie": f"sessionid={session}"})
    assert status == 200, page[:500]
    return page


@pytest.mark.live
def test_a_flag_changes_only_the_server_that_got_it_and_only_while_it_runs(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    plain = start_server(tmp_path / "a", "serve")
    database_url = f"sqlite:///{plain.db_path}"
    flagged = None
    try:
        before = stored_rows(plain.db_path)
        flagged = start_server(
            tmp_path / "b",
            extra_env={"DATABASE_URL": database_url},
            command=lambda port: [
                *("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--no-migrate"),
                *("--generator", "echo"),
            ],
        )
        assert [answer_text(flagged) for _ in range(6)] == ["echo me"] * 6  # whichever worker answers
        assert answer_text(plain) != "echo me"
        assert flagged.health()["overrides"] == {"response.generator": "echo"}
        assert plain.health()["overrides"] == {}
        assert stored_rows(plain.db_path) == before

        # The admin, served by the other server, shows what the flagged one overrides.
        create_admin(database_url)
        session = log_in(plain.base_url)
        deadline = time.monotonic() + 30
        while "(2 processes)" not in (page := settings_page(plain, session)):
            assert time.monotonic() < deadline, f"the admin did not list both workers:\n{page}"
            time.sleep(0.5)
        assert "Overridden by running servers" in page
        assert f"127.0.0.1:{flagged.base_url.rsplit(':', 1)[1]} (serve, pid {flagged.process.pid})" in page
        assert "<td>response.generator</td><td>echo</td><td>flag --generator</td>" in page
        stop_server(flagged)

        assert answer_text(plain) != "echo me"
        assert stored_rows(plain.db_path) == before  # nothing it set remains...
        assert stored_rows(plain.db_path, "processoverrides") == {"processoverrides": []}  # ...not even its listing
        assert "None: every running server answers with the stored settings." in settings_page(plain, session)
    finally:
        if flagged is not None:
            stop_server(flagged)
        stop_server(plain)


@pytest.mark.django_db
def test_the_settings_page_lists_the_running_servers_overrides_and_not_expired_ones(admin_client):
    from simulator.models import ProcessOverrides, SimulatorSettings

    listing = [{"setting": "response.target_tokens", "value": "20", "source": "flag --target-tokens"}]
    later, earlier = timezone.now() + timedelta(seconds=30), timezone.now() - timedelta(seconds=1)
    for process, server, expires in [
        ("vm pid 11", "vm, 127.0.0.1:8001 (serve, pid 10)", later),
        ("vm pid 12", "vm, 127.0.0.1:8001 (serve, pid 10)", later),
        ("vm pid 21", "vm, 127.0.0.1:8002 (serve, pid 20)", earlier),  # stopped without a word
    ]:
        ProcessOverrides.objects.create(process=process, server=server, overrides=listing, expires=expires)
    page = admin_client.get(reverse("admin:simulator_simulatorsettings_change", args=[SimulatorSettings.load().pk]))
    text = page.content.decode()
    assert "vm, 127.0.0.1:8001 (serve, pid 10)</strong> (2 processes)" in text
    assert "<td>response.target_tokens</td><td>20</td><td>flag --target-tokens</td>" in text
    assert "pid 20" not in text
