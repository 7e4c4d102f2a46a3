"""Who may read the load-test numbers: GET /llmsim/stats, GET /metrics, the dashboard and its socket.

LLMSIM_OPS_AUTH=public (the default) lets anyone in. "private" lets in a staff user's
admin session, or `Authorization: Bearer <token>` with LLMSIM_OPS_TOKEN (read-only: a
Prometheus scrape) or LLMSIM_ADMIN_TOKEN. A token is compared with the settings, never
looked up in the database; a session cookie is checked with Django's session and auth
machinery in a thread of its own, never on the event loop. /health stays public for
load balancers.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import wraps
from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.views import redirect_to_login
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse
from django.http.cookie import parse_cookie
from django.urls import reverse

REFUSED = (
    "These numbers are private (LLMSIM_OPS_AUTH=private): log in to the admin as a staff user, "
    "or send Authorization: Bearer <LLMSIM_OPS_TOKEN>."
)

_sessions = ThreadPoolExecutor(max_workers=2, thread_name_prefix="llmsim-ops-auth")


def is_public() -> bool:
    return settings.LLMSIM_OPS_AUTH == "public"


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None for any other header."""
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


def token_accepted(token: str) -> bool:
    """Whether `token` is LLMSIM_OPS_TOKEN or LLMSIM_ADMIN_TOKEN (empty ones match nothing)."""
    expected = (settings.LLMSIM_OPS_TOKEN, settings.LLMSIM_ADMIN_TOKEN)
    # Every configured token is compared, so the time taken does not tell which one came close.
    matches = [hmac.compare_digest(token.encode(), value.encode()) for value in expected if value]
    return bool(token) and any(matches)


def staff_session(session_key: str) -> bool:
    """Whether the session belongs to an active staff user (blocking: the ORM)."""
    close_old_connections()  # as Django does per request: no connection outlives its welcome
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = get_user(SimpleNamespace(session=session))  # checks the session against the password hash too
    return user.is_active and user.is_staff


async def allowed(headers: Mapping[str, str]) -> bool:
    """Whether a request with these (lower-case) headers may read the numbers."""
    if is_public():
        return True
    token = bearer_token(headers.get("authorization", ""))
    if token is not None:
        return token_accepted(token)
    session_key = parse_cookie(headers.get("cookie", "")).get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return False
    return await asyncio.get_running_loop().run_in_executor(_sessions, staff_session, session_key)


def page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A Django view of the numbers: under "private", visitors without access go to the admin's login."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user = request.user
        token = bearer_token(request.headers.get("authorization", ""))
        if is_public() or (user.is_active and user.is_staff) or (token is not None and token_accepted(token)):
            return view(request, *args, **kwargs)
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))

    return wrapper
