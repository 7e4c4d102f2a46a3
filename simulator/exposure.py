"""What a server bound beyond this machine's loopback interface must tell its user.

`serve --host` and `runserver <addr:port>` call `note_bind_address` before serving:
- a specific address or name (`--host 10.0.0.5`) joins the Host names Django's side of
  the site answers (admin, dashboard, management API), unless DJANGO_ALLOWED_HOSTS says
  otherwise: whoever binds an address means to open it;
- all interfaces (`0.0.0.0`, `::`, as in a container) cannot tell which names clients
  will use: the log says that only the loopback names are answered and what to set;
- public load-test numbers (LLMSIM_OPS_AUTH=public) are worth a warning once anyone
  else can reach them.

Django refuses other Host names with 400; `bad_request` says why in the body instead
of a bare "Bad Request".
"""

from __future__ import annotations

import ipaddress
import logging
import os

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.request import validate_host
from django.views import defaults

logger = logging.getLogger(__name__)

WILDCARDS = ("", "0.0.0.0", "::")


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def note_bind_address(host: str) -> None:
    """Adjust ALLOWED_HOSTS to the address served and log what the user should know."""
    host = host.strip("[]")
    if host in WILDCARDS:
        if "DJANGO_ALLOWED_HOSTS" not in os.environ:
            logger.warning(
                "listening on all interfaces: the admin, dashboard and management API answer only "
                "requests addressed to %s (the provider routes answer any). To open them by another "
                "name or address, set DJANGO_ALLOWED_HOSTS (comma-separated, e.g. llmsim.internal,10.0.0.5).",
                ", ".join(settings.ALLOWED_HOSTS),
            )
    else:
        _allow(host)
    if not is_loopback(host) and settings.LLMSIM_OPS_AUTH == "public":
        logger.warning(
            "listening on %s: whoever reaches this port can read /llmsim/stats, /metrics and the "
            "dashboard (LLMSIM_OPS_AUTH=public). Set LLMSIM_OPS_AUTH=private to require a staff login "
            "or a bearer token.",
            host or "all interfaces",
        )


def _allow(host: str) -> None:
    """Answer `host` on Django's side too, unless the user chose the names (DJANGO_ALLOWED_HOSTS)."""
    name = f"[{host}]" if ":" in host else host  # Django's form of an IPv6 Host
    if "DJANGO_ALLOWED_HOSTS" in os.environ or validate_host(name, settings.ALLOWED_HOSTS):
        return
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, name]
    # Worker processes that start afresh read their settings from the environment.
    os.environ["DJANGO_ALLOWED_HOSTS"] = ",".join(settings.ALLOWED_HOSTS)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 400 page, with the reason and the fix when the Host header was refused."""
    if isinstance(exception, DisallowedHost):
        return HttpResponseBadRequest(
            f"400 Bad Request: this server does not answer the host name in the address "
            f"({request.META.get('HTTP_HOST', '')!r}). Its operator can add it to DJANGO_ALLOWED_HOSTS.\n",
            content_type="text/plain; charset=utf-8",
        )
    return defaults.bad_request(request, exception)
