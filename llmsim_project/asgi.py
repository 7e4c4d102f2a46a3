"""ASGI entry point (Daphne via `runserver`, and `manage.py serve`).

HTTP on the provider prefixes is answered by simulator.server without Django's request
machinery, ahead of everything else; the rest goes through Channels' protocol router:
other HTTP (admin, dashboard, static files) to Django, WebSockets by path: the live
dashboard's behind the Origin check (a browser page with the admin's cookie), OpenAI's
Realtime API without it (SDK clients send no Origin; they authenticate with their key,
as on the HTTP routes).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmsim_project.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import re_path  # noqa: E402

from simulator.providers.openai.realtime.routing import websocket_urlpatterns as realtime_urlpatterns  # noqa: E402
from simulator.server.startup import start_serving  # noqa: E402
from stats.routing import websocket_urlpatterns as dashboard_urlpatterns  # noqa: E402


def everything_else(django_http: object) -> ProtocolTypeRouter:
    return ProtocolTypeRouter(
        {
            "http": django_http,
            "websocket": URLRouter(
                [*realtime_urlpatterns, re_path(r"", AllowedHostsOriginValidator(URLRouter(dashboard_urlpatterns)))]
            ),
        }
    )


application = start_serving(django_asgi_app, everything_else)
