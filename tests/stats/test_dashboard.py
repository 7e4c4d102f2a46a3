"""The dashboard page, its admin link and its static files (Django's side; no browser)."""

from __future__ import annotations

import urllib.request

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_page_renders_its_panels_with_the_initial_numbers():
    response = Client().get("/llmsim/dashboard/")
    assert response.status_code == 200
    page = response.content.decode()
    for panel in ("Requests", "Tokens", "Latency", "Errors", "Models"):
        assert f"<h2>{panel}" in page
    assert 'id="initial-stats"' in page
    assert "/static/llmsim/dashboard.js" in page
    assert "/static/llmsim/dashboard.css" in page
    assert "http://" not in page and "https://" not in page  # no CDN: every asset is ours
    assert 'id="reset"' not in page  # anonymous visitors get a login link instead
    assert "log in to reset" in page


def test_the_admin_links_to_the_dashboard():
    User.objects.create_superuser("boss", password="pw-boss-1")
    client = Client()
    client.login(username="boss", password="pw-boss-1")
    page = client.get("/admin/").content.decode()
    assert 'href="/llmsim/dashboard/"' in page
    assert "Live dashboard" in page


@pytest.mark.live
@pytest.mark.parametrize("llmsim_server", ["runserver"], indirect=True)
def test_daphne_serves_the_dashboard_and_its_assets_with_debug_off(llmsim_server):
    with urllib.request.urlopen(f"{llmsim_server.base_url}/llmsim/dashboard/", timeout=5) as response:
        assert response.status == 200
        assert "LLMSim" in response.read().decode()
    for asset, kind in (("dashboard.js", "javascript"), ("dashboard.css", "text/css")):
        with urllib.request.urlopen(f"{llmsim_server.base_url}/static/llmsim/{asset}", timeout=5) as response:
            assert response.status == 200
            assert kind in response.headers["content-type"]
