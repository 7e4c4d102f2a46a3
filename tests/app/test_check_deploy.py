"""`manage.py check --deploy` with the defaults and with a hardened environment, and what
LLMSIM_HTTPS=true changes on a live server."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.admin_login import get
from tests.conftest import ROOT, start_server, stop_server

STRONG_KEY = "a-deployment-key-" + "0123456789abcdefghijklmnopqrstuvwxyz" * 2
DJANGO_HTTPS_WARNINGS = {"security.W004", "security.W008", "security.W012", "security.W016"}


def check_deploy(tmp_path, **env: str) -> tuple[int, set[str], str]:
    """Run the check as an operator would (DEBUG off); returns (exit status, the check ids, the output)."""
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "LLMSIM_"))},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DEBUG": "false",
        **env,
    }
    command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    return done.returncode, set(re.findall(r"\((\w+\.\w\d+)\)", output)), output


def test_with_the_defaults_it_reports_what_matters_for_llmsim(tmp_path):
    status, found, output = check_deploy(tmp_path)
    assert status == 1
    # Public numbers, and no HTTPS: each names the one variable that fixes it...
    assert {"llmsim.W002", "llmsim.W004"} <= found
    assert "LLMSIM_OPS_AUTH=private" in output and "LLMSIM_HTTPS=true" in output
    # ...next to Django's own HTTPS warnings, which apply.
    assert found >= DJANGO_HTTPS_WARNINGS
    # The generated key is strong and stays on this machine; the default hosts are not '*'.
    assert not {"security.W009", "llmsim.W001", "llmsim.W003", "security.W020"} & found


def test_a_shared_database_with_a_generated_key_and_any_host_are_reported(tmp_path):
    status, found, output = check_deploy(
        tmp_path,
        DATABASE_URL="postgres://llmsim@127.0.0.1:1/llmsim",  # the check does not connect
        LLMSIM_SECRET_KEY_FILE=str(tmp_path / "generated.key"),
        DJANGO_ALLOWED_HOSTS="*",
    )
    assert status == 1
    assert {"llmsim.W001", "llmsim.W003"} <= found
    assert "Set DJANGO_SECRET_KEY to one random value on every replica" in output


def test_a_hardened_environment_passes(tmp_path):
    status, found, output = check_deploy(
        tmp_path, DJANGO_SECRET_KEY=STRONG_KEY, LLMSIM_HTTPS="true", LLMSIM_OPS_AUTH="private"
    )
    assert (status, found) == (0, set()), output
    assert "no issues (2 silenced)" in output  # HSTS for subdomains and preload: the domain owner's call


@pytest.mark.live
@pytest.mark.parametrize("kind", ["runserver", "serve"])
def test_behind_https_only_djangos_side_is_redirected_and_cookies_are_secure(tmp_path, kind):
    server = start_server(tmp_path, kind, {"LLMSIM_HTTPS": "true", "LLMSIM_HSTS_SECONDS": "600"})
    try:
        status, headers, _ = get(f"{server.base_url}/admin/login/")
        assert status == 301 and headers["location"].startswith("https://")
        status, headers, _ = get(f"{server.base_url}/admin/login/", {"X-Forwarded-Proto": "https"})
        assert status == 200
        assert headers["strict-transport-security"] == "max-age=600"
        assert "; Secure" in headers["set-cookie"]
        # The provider routes are answered before Django: an SDK on http:// is not redirected.
        assert get(f"{server.base_url}/health")[0] == 200
        assert get(f"{server.base_url}/v1/models", {"Authorization": "Bearer test"})[0] == 200
    finally:
        stop_server(server)
