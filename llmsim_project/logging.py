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


def new_request_id() -> str:
    from simulator.server.http import new_id

    return new_id("req_")


class RequestIdMiddleware:
    """Django's side (admin, dashboard): give each request an id, log it, send it back."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        ident = request.headers.get("x-request-id") or new_request_id()
        request.request_id = ident
        token = request_id.set(ident)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response.headers.setdefault("X-Request-ID", ident)
        return response


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """settings.LOGGING: text or JSON lines on stderr, every one with its request id."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "llmsim_project.logging.RequestIdFilter"}},
        "formatters": {
            "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
            "json": {"()": "llmsim_project.logging.JsonFormatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "filters": ["request_id"], "formatter": log_format},
        },
        "root": {"handlers": ["console"], "level": level},
    }
