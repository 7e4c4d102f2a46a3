"""Whose client is calling: the provider format a request speaks, decided once, here.

Most errors are answered by a provider's own route (its `endpoint` decorator knows
its format). These are the ones answered before any route's handler runs: a path no
route has (404), a method its route does not take (405), and what the HTTP server
itself refuses (an oversized request head under Daphne, see simulator.server.daphne).
They too must reach the caller in the format its SDK parses.

The path says it first: Azure's (/openai/...) are Azure OpenAI's; Gemini's paths
(/v1beta/..., /v1/models/{model}:method) and Anthropic's (/v1/messages...) are theirs
alone. On paths the providers share (/v1/models) or that exist nowhere, the headers
decide, as each provider's SDK sends them: Anthropic's always sends anthropic-version
(older ones x-api-key), Gemini's x-goog-api-key (REST callers ?key=). Everything else is OpenAI's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from simulator.providers.anthropic import errors as anthropic
from simulator.providers.azure import errors as azure
from simulator.providers.gemini import errors as gemini
from simulator.providers.gemini import routes as gemini_routes
from simulator.providers.openai import errors as openai
from simulator.server.http import Call, Headers, ProviderError, query_param, send_bytes, shorten

OPENAI, ANTHROPIC, GEMINI, AZURE = "openai", "anthropic", "gemini", "azure"


def provider_of(path: str, headers: Mapping[str, str], key_in_query: bool = False) -> str:
    """openai, anthropic, gemini or azure: whose format a request to `path` with these
    (lowercase-named) headers speaks. `key_in_query`: the query string has ?key=."""
    if path.startswith("/openai/"):
        return AZURE
    if path.startswith("/v1beta/") or path == "/v1beta" or _is_gemini_method(path):
        return GEMINI
    if path == "/v1/messages" or path.startswith("/v1/messages/"):
        return ANTHROPIC
    if anthropic.VERSION_HEADER in headers:
        return ANTHROPIC
    if "x-goog-api-key" in headers or key_in_query:
        return GEMINI
    if "x-api-key" in headers:
        return ANTHROPIC
    return OPENAI


def _is_gemini_method(path: str) -> bool:
    """/v1/models/{model}:generateContent and the other Gemini methods under /v1 (an
    OpenAI fine-tuned model id has colons too, but never ends in one of these)."""
    return path.startswith("/v1/models/") and path.rpartition(":")[2] in gemini_routes.METHODS


def provider_of_call(call: Call) -> str:
    return provider_of(call.path, call.headers, query_param(call, "key") is not None)


_RESPONSES: dict[str, Callable[[Call, ProviderError], tuple[Headers, bytes]]] = {
    OPENAI: openai.error_response,
    ANTHROPIC: anthropic.error_response,
    GEMINI: gemini.error_response,
    AZURE: azure.error_response,
}


def error_response(call: Call, error: ProviderError) -> tuple[Headers, bytes]:
    """The headers and body of `error` in the caller's format (its status is error.status)."""
    return _RESPONSES[provider_of_call(call)](call, error)


async def send_error(call: Call, error: ProviderError) -> None:
    headers, body = error_response(call, error)
    await send_bytes(call, error.status, body, headers)


def unrouted_error(call: Call, allowed: Sequence[str]) -> ProviderError:
    """A request no route answers, as the caller's provider words it: 404 for a path no
    route has (`allowed` empty), 405 for a method the path's route does not take."""
    provider = provider_of_call(call)
    path = shorten(call.path)
    if provider == AZURE:
        return azure.resource_not_found()  # Azure's gateway: the same 404 for a wrong verb
    if provider == GEMINI:
        # Google's front end binds a REST method to its HTTP verb and path together: a
        # wrong verb is a method that does not exist, like a wrong path.
        return ProviderError(404, "Method not found.", "not_found")
    if not allowed:
        if provider == ANTHROPIC:
            return ProviderError(404, "Not Found", "not_found")
        return ProviderError(404, f"Invalid URL ({call.method} {path})", "not_found")
    methods = ", ".join(sorted(allowed))
    return ProviderError(
        405,
        f"Method {call.method} is not allowed on {path}; use {methods}.",
        "method_not_allowed",
        headers=[(b"allow", methods.encode())],
    )


async def answer_unrouted(call: Call, allowed: Sequence[str]) -> None:
    """Answer a request no route takes (see unrouted_error)."""
    await send_error(call, unrouted_error(call, allowed))
