"""Resetting the counters: POST /llmsim/reset, for a staff session or the admin token only."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from django.contrib.auth.models import User
from django.test import Client

from stats.recorder import recorder
from tests.conftest import INSTANT, get_json, post, start_server, stop_server

RESET = "/llmsim/reset"


@pytest.fixture
def token(settings) -> str:
    settings.LLMSIM_ADMIN_TOKEN = "s3cret-token"
    return settings.LLMSIM_ADMIN_TOKEN


def count_one_request() -> None:
    recorder.state.received += 1


@pytest.mark.django_db
def test_an_anonymous_caller_gets_401(token):
    count_one_request()
    response = Client().post(RESET)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "Authentication required" in response.json()["error"]
    assert recorder.state.received > 0


@pytest.mark.django_db
def test_a_wrong_token_gets_401(token):
    response = Client().post(RESET, headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid token."}


@pytest.mark.django_db
def test_no_token_is_accepted_when_none_is_configured(settings):
    settings.LLMSIM_ADMIN_TOKEN = ""
    assert Client().post(RESET, headers={"Authorization": "Bearer "}).status_code == 401


@pytest.mark.django_db
def test_the_token_resets_the_counters(token):
    count_one_request()
    response = Client().post(RESET, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    body = response.json()
    assert body["reset"] is True
    assert body["stats"]["requests"]["total"] == 0
    assert recorder.state.received == 0


@pytest.mark.django_db
def test_a_non_staff_user_gets_403():
    User.objects.create_user("visitor", password="pw-visitor-1")
    client = Client()
    client.login(username="visitor", password="pw-visitor-1")
    assert Client().post(RESET).status_code == 401
    assert client.post(RESET).status_code == 403


@pytest.mark.django_db
def test_a_staff_session_resets_with_its_csrf_token():
    User.objects.create_user("operator", password="pw-operator-1", is_staff=True)
    client = Client(enforce_csrf_checks=True)
    client.login(username="operator", password="pw-operator-1")
    page = client.get("/llmsim/dashboard/")
    assert b'id="reset"' in page.content  # staff see the button
    assert client.post(RESET).status_code == 403  # no CSRF token
    count_one_request()
    response = client.post(RESET, headers={"X-CSRFToken": client.cookies["csrftoken"].value})
    assert response.status_code == 200
    assert recorder.state.received == 0


def test_get_is_not_allowed():
    assert Client().get(RESET).status_code == 405


@pytest.mark.live
def test_the_reset_api_clears_a_live_server(tmp_path):
    server = start_server(tmp_path, "runserver", {"LLMSIM_ADMIN_TOKEN": "live-token"})
    try:
        assert (
            post(
                server,
                "/v1/chat/completions",
                {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]},
                INSTANT,
            )[0]
            == 200
        )
        assert get_json(f"{server.base_url}/llmsim/stats")["requests"]["total"] == 1
        request = urllib.request.Request(f"{server.base_url}{RESET}", method="POST", data=b"")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 401
        request.add_header("Authorization", "Bearer live-token")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read())["reset"] is True
        stats = get_json(f"{server.base_url}/llmsim/stats")
        assert stats["requests"]["total"] == 0
        assert stats["tokens"]["total"] == 0
    finally:
        stop_server(server)
