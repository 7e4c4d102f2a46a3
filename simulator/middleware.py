"""Django's side (admin, dashboard, management API): a busy or unreachable database is a 503.

The provider routes answer it in their own formats (simulator/server/endpoint.py); here a
view that meets a locked SQLite or a PostgreSQL gone away answers 503 with Retry-After
and the management API's error body, not Django's 500 page.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from simulator.server.endpoint import DATABASE_RETRY_AFTER_S

logger = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    sync_capable = True
    async_capable = False

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning("database unavailable answering %s %s: %s", request.method, request.path, exception)
        response = JsonResponse(
            {"detail": "The database is busy or unavailable. Please retry your request shortly."}, status=503
        )
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response
