"""The endpoint decorator (simulator.server.endpoint): the settings it reads and where a body's work runs."""

from __future__ import annotations

import asyncio
import threading

from django.test import override_settings

from simulator.server.endpoint import endpoint
from simulator.server.http import LARGE_BODY_BYTES, ProviderError, compute, new_call


def _run(body: bytes, headers: list[tuple[bytes, bytes]] = ()) -> tuple[object, list[int], dict]:
    """Answer one POST with `body` through an endpoint whose handler notes what it saw."""
    errors: list[int] = []
    seen: dict = {}

    async def send_error(call, error: ProviderError) -> None:
        errors.append(error.status)

    @endpoint(send_error, lambda error: b"", "openai")
    async def handler(call, parsed) -> None:
        seen["body"] = parsed
        seen["thread"] = await compute(call, threading.get_ident)

    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict:
        return pending.pop()

    async def send(message: dict) -> None:
        pass

    scope = {"type": "http", "method": "POST", "path": "/v1/x", "query_string": b"", "headers": list(headers)}
    call = new_call(scope, receive, send)
    asyncio.run(handler(call))
    return call, errors, seen


def test_it_reads_the_api_key_setting_as_overridden():
    with override_settings(LLMSIM_REQUIRE_API_KEY=True):
        assert _run(b"{}")[1] == [401]
        assert _run(b"{}", [(b"authorization", b"Bearer k")])[1] == []
    with override_settings(LLMSIM_REQUIRE_API_KEY=False):
        assert _run(b"{}")[1] == []


def test_it_reads_the_body_limit_setting_as_overridden():
    with override_settings(LLMSIM_REQUIRE_API_KEY=False, LLMSIM_MAX_BODY_BYTES=10):
        assert _run(b'{"a": "0123456789"}')[1] == [413]
        assert _run(b"{}")[1] == []


def test_a_usual_body_is_worked_on_in_the_event_loop_and_a_large_one_in_a_thread():
    with override_settings(LLMSIM_REQUIRE_API_KEY=False):
        _, errors, seen = _run(b'{"a": 1}')
        assert errors == [] and seen["body"] == {"a": 1}
        assert seen["thread"] == threading.get_ident()

        large = b'{"a": "' + b"x" * LARGE_BODY_BYTES + b'"}'
        _, errors, seen = _run(large)
        assert errors == [] and seen["body"] == {"a": "x" * LARGE_BODY_BYTES}
        assert seen["thread"] != threading.get_ident()
