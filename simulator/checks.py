"""`manage.py check --deploy`: what matters before LLMSim is reachable by others.

Django's own deployment checks stay on (settings.py silences only the two that are the
domain owner's call); these add what is particular to LLMSim, each naming the
environment variable that fixes it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register

from llmsim_project.secret_key import is_embedded


@register(Tags.security, deploy=True)
def deployment_checks(app_configs, **kwargs) -> list[CheckMessage]:
    found = []
    database = settings.DATABASES["default"]
    if settings.LLMSIM_SECRET_KEY_FILE and not is_embedded(database):
        found.append(
            Warning(
                f"The secret key was generated on this machine ({settings.LLMSIM_SECRET_KEY_FILE}) but the "
                "database is shared: each replica generates its own key, and a session (admin login) made "
                "by one is refused by the others.",
                hint="Set DJANGO_SECRET_KEY to one random value on every replica, e.g. the output of "
                "python -c 'import secrets; print(secrets.token_urlsafe(50))'.",
                id="llmsim.W001",
            )
        )
    if settings.LLMSIM_OPS_AUTH == "public":
        found.append(
            Warning(
                "GET /llmsim/stats, GET /metrics and the dashboard (page and socket) answer anyone who "
                "reaches the server (LLMSIM_OPS_AUTH=public).",
                hint="Set LLMSIM_OPS_AUTH=private: they then need a staff user's admin session or "
                "Authorization: Bearer <LLMSIM_OPS_TOKEN> (set one for Prometheus).",
                id="llmsim.W002",
            )
        )
    if "*" in settings.ALLOWED_HOSTS:
        found.append(
            Warning(
                "DJANGO_ALLOWED_HOSTS contains '*': the admin and the management API answer any Host "
                "name, which lets a web page on another site reach them through DNS rebinding.",
                hint="List the names clients use, e.g. DJANGO_ALLOWED_HOSTS=llmsim.internal,10.0.0.5.",
                id="llmsim.W003",
            )
        )
    if not settings.LLMSIM_HTTPS:
        found.append(
            Warning(
                "Not set up for HTTPS: the session and CSRF cookies may travel over plain HTTP, and "
                "there is no HTTPS redirect or HSTS (Django's security.W004, W008, W012, W016).",
                hint="Behind a proxy that ends TLS and sets X-Forwarded-Proto, set LLMSIM_HTTPS=true; "
                "it sets all four.",
                id="llmsim.W004",
            )
        )
    return found
