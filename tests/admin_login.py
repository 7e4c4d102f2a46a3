"""A staff login on a live server, as a browser does it, and raw GETs that keep their redirects."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from email.message import Message
from http.cookiejar import CookieJar
from urllib.parse import urlencode

from tests.conftest import ROOT

PASSWORD = "pw-of-the-live-admin-1"


def create_admin(database_url: str, username: str = "admin") -> None:
    """The superuser `username` (password PASSWORD) in the live server's database, by `ensure_admin`."""
    env = {**os.environ, "DATABASE_URL": database_url, "LLMSIM_ADMIN_PASSWORD": PASSWORD}
    command = [sys.executable, "manage.py", "ensure_admin", "--username", username]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)


def log_in(base_url: str, username: str = "admin") -> str:
    """Log in through the admin's login form; returns the session cookie's value."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{base_url}/admin/login/", timeout=10).read()
    csrf = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    form = {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": csrf, "next": "/admin/"}
    opener.open(f"{base_url}/admin/login/", data=urlencode(form).encode(), timeout=10).read()
    sessions = [cookie.value for cookie in jar if cookie.name == "sessionid"]
    assert sessions, "the admin did not log in"
    return sessions[0]


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_KeepRedirects)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Message, str]:
    """Raw GET (redirects are answers too); returns (status, headers, body text)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with _opener.open(request, timeout=10) as response:
            return response.status, response.headers, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode(errors="replace")
