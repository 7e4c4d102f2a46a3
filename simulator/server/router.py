"""The provider routes and the ASGI app that serves them ahead of Django.

Paths under the provider prefixes are answered here; everything else (admin,
dashboard, static files) goes to Django's ASGI handler.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from llmsim_project.logging import request_id
from simulator.server.http import Call, new_call

Handler = Callable[[Call], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]

# Paths owned by the simulator; the rest of the site is Django's.
PROVIDER_PREFIXES = ("/v1", "/health", "/llmsim/stats", "/metrics")

_exact: dict[str, dict[str, Handler]] = {}
_patterns: list[tuple[re.Pattern[str], dict[str, Handler]]] = []
_templates: dict[str, str] = {}  # a pattern's regex → the path as written, e.g. /v1/models/{model_id}


def route(method: str, path: str) -> Callable[[Handler], Handler]:
    """Register a handler; `{name}` in the path captures one or more characters.

    Templates are tried most literal first, so `/v1/models/{model}:generateContent`
    wins over `/v1/models/{model_id}` whatever the order they were registered in.
    """

    def register(handler: Handler) -> Handler:
        if "{" not in path:
            _exact.setdefault(path, {})[method] = handler
        else:
            regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>.+)", path) + "$"
            for pattern, methods in _patterns:
                if pattern.pattern == regex:
                    methods[method] = handler
                    break
            else:
                _patterns.append((re.compile(regex), {method: handler}))
                _templates[regex] = path
                _patterns.sort(key=lambda item: -_literal_length(_templates[item[0].pattern]))
        return handler

    return register


def _literal_length(template: str) -> int:
    return len(re.sub(r"\{\w+\}", "", template))


def find(path: str) -> tuple[dict[str, Handler] | None, dict[str, str], str]:
    """The handlers of the route that `path` matches, its parameters and its path template."""
    methods = _exact.get(path)
    if methods is not None:
        return methods, {}, path
    for pattern, methods in _patterns:
        match = pattern.match(path)
        if match:
            return methods, match.groupdict(), _templates[pattern.pattern]
    return None, {}, path


class ProviderRouter:
    """ASGI app: provider routes first, Django for everything else.

    `unrouted(call, allowed)` answers a request no route takes, in the caller's format:
    `allowed` is empty when no route has the path, else the methods its route takes.
    """

    def __init__(self, fallback: ASGIApp, unrouted: Callable[[Call, Sequence[str]], Awaitable[None]]) -> None:
        self.fallback = fallback
        self.unrouted = unrouted

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"]
        if scope["type"] != "http" or not path.startswith(PROVIDER_PREFIXES):
            await self.fallback(scope, receive, send)
            return
        call = new_call(scope, receive, send)
        request_id.set(call.request_id)  # this request's task only: its log lines carry it
        methods, params, call.route = find(path)
        handler = None if methods is None else methods.get(scope["method"])
        if handler is None:
            await self.unrouted(call, sorted(methods or ()))
            return
        call.path_params = params
        await handler(call)
