"""Cross-cutting concerns of provider routes, applied where a route is defined.

A provider module builds its own `endpoint` from its error renderers; the route's
body is then only its own logic.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from django.conf import settings
from django.core.signals import setting_changed
from django.db import InterfaceError, OperationalError
from django.dispatch import receiver

from simulator.server.http import Call, ProviderError, api_key_of, compute, end_stream, read_body
from simulator.server.pipeline import give_back
from simulator.server.replay import answer_from_recording
from stats.recorder import recorder

logger = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[None]]
SendError = Callable[[Call, ProviderError], Awaitable[None]]

# A database that is busy (another process holds SQLite's write lock past
# LLMSIM_DB_BUSY_TIMEOUT_S) or unreachable (PostgreSQL restarting) is a moment's trouble:
# the client is told to try again, as a provider says when it is overloaded.
DATABASE_RETRY_AFTER_S = 1


def database_unavailable() -> ProviderError:
    return ProviderError(
        503,
        "The server could not reach its database in time (it is busy or unavailable). Please retry your request "
        "shortly.",
        "service_unavailable",
        headers=[
            (b"retry-after", b"%d" % DATABASE_RETRY_AFTER_S),
            (b"retry-after-ms", b"%d" % (DATABASE_RETRY_AFTER_S * 1000)),
        ],
    )


# The settings every request reads, kept here rather than read through Django's lazy
# settings each time. Tests that override them fire setting_changed, which refreshes them.
_require_api_key = True
_max_body_bytes = 0


@receiver(setting_changed)
def _settings_changed(setting: str = "", **kwargs: Any) -> None:
    global _require_api_key, _max_body_bytes
    if setting in ("LLMSIM_REQUIRE_API_KEY", "LLMSIM_MAX_BODY_BYTES", ""):
        _require_api_key = settings.LLMSIM_REQUIRE_API_KEY
        _max_body_bytes = settings.LLMSIM_MAX_BODY_BYTES


_settings_changed()


# How deep a request body may nest. The deepest real requests (a tool's JSON schema
# inside tools[].function.parameters, a function response inside a Gemini part) stay
# well under it; orjson alone lets 1,024 levels through, which the validators, walking
# the body recursively, would meet with a RecursionError.
MAX_JSON_DEPTH = 64


def parse_json_body(raw: bytes) -> Any:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProviderError(
            400,
            "We could not parse the JSON body of your request. The API expects a JSON payload, "
            f"but what was sent was not valid JSON ({exc}).",
        ) from exc
    # Fewer brackets than the limit cannot nest past it (the usual body): no walk needed.
    if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH and nested_deeper_than(body, MAX_JSON_DEPTH):
        raise ProviderError(
            400, f"The JSON body of your request nests objects and arrays deeper than {MAX_JSON_DEPTH} levels."
        )
    return body


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest in `value` more than `limit` levels deep.

    Level by level, not by recursion: the depth is what is in question.
    """
    level = [value] if isinstance(value, (dict, list)) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, (dict, list))
        ]
    return False


def endpoint(
    send_error: SendError, stream_error_event: Callable[[ProviderError], bytes], provider: str
) -> Callable[[Handler], Handler]:
    """Make a provider route: stats, API key check, JSON body, replay, and errors in the provider's format.

    A handler declared as `(call, body)` receives the parsed JSON body; `(call)` reads none.
    A request with a body that a replay scenario has a recording for is answered from it
    (simulator/server/replay.py) and does not reach the handler.
    Nothing escapes as an HTML page or a bare 500: a busy or unreachable database becomes
    the provider's 503 with retry-after, unexpected exceptions its server_error, before or
    during a stream.
    """

    def decorate(handler: Handler) -> Handler:
        wants_body = len(inspect.signature(handler).parameters) > 1

        @functools.wraps(handler)
        async def wrapper(call: Call) -> None:
            recorder.started(call)
            try:
                if _require_api_key and api_key_of(call) is None:
                    raise ProviderError(
                        401,
                        "You didn't provide an API key. Send it in an Authorization header using Bearer auth "
                        "(Authorization: Bearer YOUR_KEY).",
                        "authentication",
                    )
                if wants_body:
                    body = await compute(call, parse_json_body, await read_body(call, _max_body_bytes))
                    if not await answer_from_recording(call, provider, body):
                        await handler(call, body)
                else:
                    await handler(call)
            except ProviderError as error:
                await _answer_error(call, error, send_error, stream_error_event)
            except (asyncio.CancelledError, ConnectionAbortedError):
                raise
            except (OperationalError, InterfaceError) as exc:
                logger.warning("database unavailable answering %s %s: %s", call.method, call.path, exc)
                await _answer_error(call, database_unavailable(), send_error, stream_error_event)
            except Exception:
                logger.exception("unexpected error answering %s %s", call.method, call.path)
                error = ProviderError(500, "The server had an error while processing your request.", "server_error")
                await _answer_error(call, error, send_error, stream_error_event)
            finally:
                give_back(call)
                recorder.finished(call)

        return wrapper

    return decorate


async def _answer_error(
    call: Call, error: ProviderError, send_error: SendError, stream_error_event: Callable[[ProviderError], bytes]
) -> None:
    if not call.response_started:
        await send_error(call, error)
        call.status = error.status
    else:  # headers are gone: the error travels inside the stream, as the providers do it
        await end_stream(call, stream_error_event(error))
