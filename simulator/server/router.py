"""The provider routes and the ASGI app that serves them ahead of Django.

Paths under the provider prefixes are answered here; everything else (admin,
dashboard, static files) goes to Django's ASGI handler.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from llmsim_project.logging import request_id
from simulator.server.http import Call, new_call

Handler = Callable[[Call], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]

# Paths owned by the simulator; the rest of the site is Django's.
PROVIDER_PREFIXES = ("/v1", "/openai/", "/health", "/llmsim/stats", "/metrics")


@dataclass(frozen=True)
class Route:
    """One provider route: `{name}` in the path captures one or more characters."""

    method: str
    path: str
    handler: Handler


class RouteTable:
    """The routes by path: exact paths in a dict, templates tried most literal first, so
    `/v1/models/{model}:generateContent` wins over `/v1/models/{model_id}` whatever the
    order they are listed in."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.exact: dict[str, dict[str, Handler]] = {}
        by_template: dict[str, dict[str, Handler]] = {}
        for route in routes:
            table = self.exact if "{" not in route.path else by_template
            methods = table.setdefault(route.path, {})
            if route.method in methods:
                raise ValueError(f"two routes for {route.method} {route.path}")
            methods[route.method] = route.handler
        templates = sorted(by_template, key=lambda path: -len(re.sub(r"\{\w+\}", "", path)))
        self.patterns = [(_template_regex(path), by_template[path], path) for path in templates]

    def find(self, path: str) -> tuple[dict[str, Handler] | None, dict[str, str], str]:
        """The handlers of the route that `path` matches, its parameters and its path template."""
        methods = self.exact.get(path)
        if methods is not None:
            return methods, {}, path
        for pattern, methods, template in self.patterns:
            match = pattern.match(path)
            if match:
                return methods, match.groupdict(), template
        return None, {}, path


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>.+)", template) + "$")


class ProviderRouter:
    """ASGI app: provider routes first, `fallback` (Channels' router, Django) for everything else.

    `unrouted(call, allowed)` answers a request no route takes, in the caller's format:
    `allowed` is empty when no route has the path, else the methods its route takes.
    """

    def __init__(
        self,
        routes: Sequence[Route],
        fallback: ASGIApp,
        unrouted: Callable[[Call, Sequence[str]], Awaitable[None]],
    ) -> None:
        self.table = RouteTable(routes)
        self.fallback = fallback
        self.unrouted = unrouted

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROVIDER_PREFIXES):
            await self.fallback(scope, receive, send)  # WebSockets, the admin, the dashboard
            return
        path = scope["path"]
        call = new_call(scope, receive, send)
        request_id.set(call.request_id)  # this request's task only: its log lines carry it
        methods, params, call.route = self.table.find(path)
        handler = None if methods is None else methods.get(scope["method"])
        if handler is None:
            await self.unrouted(call, sorted(methods or ()))
            return
        call.path_params = params
        await handler(call)
