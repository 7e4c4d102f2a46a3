"""The live dashboard page and the stats reset API (Django's side of the site).

The numbers themselves come from GET /llmsim/stats and the /llmsim/ws/stats socket,
both answered without Django's request machinery.
"""

from __future__ import annotations

import hmac
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie
from django.views.decorators.http import require_POST

from stats import access, sharing


@access.page
@ensure_csrf_cookie  # the reset button sends it back
def dashboard(request: HttpRequest) -> HttpResponse:
    context = {
        "initial": sharing.snapshot(),
        "can_reset": request.user.is_active and request.user.is_staff,
    }
    return render(request, "stats/dashboard.html", context)


def _error(status: int, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def staff_or_token(view):
    """Let in a request with `Authorization: Bearer <LLMSIM_ADMIN_TOKEN>`, or a staff user's
    session (CSRF-checked); anyone else gets 401 (no credentials) or 403."""

    @csrf_exempt  # token callers have no CSRF cookie; session callers are checked below
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        token = access.bearer_token(request.headers.get("authorization", ""))
        if token is not None:
            expected = settings.LLMSIM_ADMIN_TOKEN
            if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
                return _error(401, "Invalid token.", **{"WWW-Authenticate": 'Bearer realm="llmsim"'})
            return view(request, *args, **kwargs)
        if not request.user.is_authenticated:
            return _error(
                401,
                "Authentication required: log in to the admin as a staff user, or send "
                "Authorization: Bearer <LLMSIM_ADMIN_TOKEN>.",
                **{"WWW-Authenticate": 'Bearer realm="llmsim"'},
            )
        if not (request.user.is_active and request.user.is_staff):
            return _error(403, "Only staff users may do this.")
        refused = CsrfViewMiddleware(lambda _: None).process_view(request, None, (), {})
        if refused is not None:
            return _error(403, "CSRF check failed: send the csrftoken cookie's value in X-CSRFToken.")
        return view(request, *args, **kwargs)

    return wrapper


@require_POST
@staff_or_token
def reset(request: HttpRequest) -> HttpResponse:
    """POST /llmsim/reset: clear the counters of every process (open requests stay counted)."""
    sharing.reset()
    return JsonResponse({"reset": True, "stats": sharing.snapshot()})
