"""Structured logs: the request id on every line logged while a request is answered.

The provider router (simulator/server/router.py) and `RequestIdMiddleware` (Django's side)
set `request_id` for the request's task; `RequestIdFilter` copies it onto each record;
`JsonFormatter` writes one JSON object per line when LLMSIM_LOG_FORMAT=json.
"""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from simulator.engine.ids import new_id

# A task (request) sees only the id set in its own context; "-" outside any request.
request_id: ContextVar[str] = ContextVar("llmsim_request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Adds `record.request_id` (for the text format's %(request_id)s and for JSON)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            # django.request logs a response after the middleware is done: its record holds the request.
            request = getattr(record, "request", None)
            record.request_id = getattr(request, "request_id", None) or request_id.get()
        return True


class WithoutTraceback(logging.Filter):
    """Drops the traceback of a record whose message says it all (a client's mistake, not a bug)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = record.exc_text = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, process, fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id.get()),
            "process": os.getpid(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


class RequestIdMiddleware:
    """Django's side (admin, dashboard): give each request an id, log it, send it back."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        ident = request.headers.get("x-request-id") or new_id("req_")
        request.request_id = ident
        token = request_id.set(ident)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response.headers.setdefault("X-Request-ID", ident)
        return response
