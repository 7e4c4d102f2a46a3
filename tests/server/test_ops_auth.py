"""LLMSIM_OPS_AUTH=private: /llmsim/stats, /metrics and the dashboard (page and socket) for staff
sessions and bearer tokens only; /health stays public."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
from urllib.parse import urlparse

import pytest
from django.contrib.auth.models import User
from django.test import Client

from stats import access
from tests.admin_login import create_admin, get, log_in
from tests.conftest import ROOT, LiveServer, start_server, stop_server

OPS_TOKEN = "ops-token-for-prometheus-0123456789"
ADMIN_TOKEN = "admin-token-0123456789abcdef"
NUMBERS = ("/llmsim/stats", "/metrics")


@pytest.fixture(scope="module", params=["runserver", "serve"])
def private(request, tmp_path_factory) -> tuple[LiveServer, str]:
    """A live server with private numbers, and a staff user's session cookie on it."""
    env = {"LLMSIM_OPS_AUTH": "private", "LLMSIM_OPS_TOKEN": OPS_TOKEN, "LLMSIM_ADMIN_TOKEN": ADMIN_TOKEN}
    server = start_server(tmp_path_factory.mktemp(f"private-{request.param}"), request.param, env)
    try:
        create_admin(f"sqlite:///{server.db_path}")
        yield server, f"sessionid={log_in(server.base_url)}"
    finally:
        stop_server(server)


def websocket_handshake(server: LiveServer, headers: dict[str, str] | None = None) -> int:
    """The status the server answers a WebSocket upgrade to the dashboard's socket with (101: accepted)."""
    address = urlparse(server.base_url)
    lines = [
        "GET /llmsim/ws/stats HTTP/1.1",
        f"Host: {address.netloc}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
        "Sec-WebSocket-Version: 13",
        f"Origin: {server.base_url}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while b"\r\n" not in answer:
            chunk = connection.recv(1024)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


@pytest.mark.live
def test_the_numbers_need_a_token_or_a_staff_session_and_health_stays_public(private):
    server, session = private
    for path in NUMBERS:
        status, headers, body = get(f"{server.base_url}{path}")
        assert status == 401, path
        assert headers["www-authenticate"].startswith("Bearer")
        error = json.loads(body)["error"]
        assert "LLMSIM_OPS_AUTH=private" in error["message"]
        assert error["type"] == "invalid_request_error"
        assert get(f"{server.base_url}{path}", {"Authorization": "Bearer wrong"})[0] == 401
        for credentials in (
            {"Authorization": f"Bearer {OPS_TOKEN}"},
            {"Authorization": f"Bearer {ADMIN_TOKEN}"},
            {"Cookie": session},
        ):
            assert get(f"{server.base_url}{path}", credentials)[0] == 200, (path, credentials)
    metrics = get(f"{server.base_url}/metrics", {"Authorization": f"Bearer {OPS_TOKEN}"})[2]
    assert "llmsim_requests_received_total" in metrics
    assert get(f"{server.base_url}/health")[0] == 200  # load balancers need no credentials


@pytest.mark.live
def test_the_dashboard_sends_visitors_to_the_admin_login(private):
    server, session = private
    status, headers, _ = get(f"{server.base_url}/llmsim/dashboard/")
    assert status == 302
    assert headers["location"] == "/admin/login/?next=/llmsim/dashboard/"
    assert get(f"{server.base_url}/llmsim/dashboard/", {"Cookie": session})[0] == 200
    assert get(f"{server.base_url}/llmsim/dashboard/", {"Authorization": f"Bearer {OPS_TOKEN}"})[0] == 200


@pytest.mark.live
def test_the_dashboard_socket_refuses_a_caller_without_credentials(private):
    server, session = private
    assert websocket_handshake(server) == 403
    assert websocket_handshake(server, {"Cookie": "sessionid=not-a-session"}) == 403
    assert websocket_handshake(server, {"Cookie": session}) == 101
    assert websocket_handshake(server, {"Authorization": f"Bearer {OPS_TOKEN}"}) == 101


@pytest.mark.live
def test_llmsim_top_reads_private_numbers_with_its_token(private):
    server, _ = private
    command = [sys.executable, "manage.py", "llmsim_top", "--url", server.base_url, "--once"]
    env = {key: value for key, value in os.environ.items() if key != "LLMSIM_OPS_TOKEN"}
    refused = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "401" in refused.stderr and "--token" in refused.stderr
    shown = subprocess.run(
        [*command, "--token", OPS_TOKEN], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    assert "Requests" in shown.stdout


def test_a_token_is_checked_without_the_database(settings):
    # No django_db mark: any query would fail this test.
    settings.LLMSIM_OPS_AUTH = "private"
    settings.LLMSIM_OPS_TOKEN = OPS_TOKEN
    settings.LLMSIM_ADMIN_TOKEN = ""
    assert asyncio.run(access.allowed({"authorization": f"Bearer {OPS_TOKEN}"}))
    assert not asyncio.run(access.allowed({"authorization": "Bearer "}))
    assert not asyncio.run(access.allowed({}))


@pytest.mark.django_db(transaction=True)  # staff_session resets the connection as a request would
def test_only_an_active_staff_users_session_counts(settings):
    settings.LLMSIM_OPS_AUTH = "private"
    User.objects.create_user("visitor", password="pw-visitor-1")
    User.objects.create_user("operator", password="pw-operator-1", is_staff=True)
    sessions = {}
    for name in ("visitor", "operator"):
        client = Client()
        assert client.login(username=name, password=f"pw-{name}-1")
        sessions[name] = client.session.session_key
    assert not access.staff_session(sessions["visitor"])
    assert access.staff_session(sessions["operator"])
    assert Client().get("/llmsim/dashboard/").status_code == 302
