"""Anthropic's errors: the error body and its types, the headers every answer carries
(request-id, anthropic-ratelimit-*, retry-after), the `anthropic_endpoint` decorator,
injected and forced errors, and the Dialect the neutral pipeline words its failures in.

Shapes as in Anthropic's API docs ("Errors", "Rate limits", "Versions").
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any

from simulator.engine import planner
from simulator.engine.load import Overloaded
from simulator.engine.ratelimit import RateLimited, RateLimitState
from simulator.engine.snapshot import ModelSpec
from simulator.engine.types import CompletionRequest, InjectedError, StreamFault
from simulator.server.endpoint import endpoint
from simulator.server.http import (
    JSON_CONTENT_TYPE,
    Call,
    Headers,
    ProviderError,
    api_key_of,
    dump_json,
    send_bytes,
    shorten,
)
from simulator.server.pipeline import Dialect

VERSION_HEADER = "anthropic-version"

# Anthropic's error `type` for each status it answers with.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    409: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

# What Anthropic says for each status the simulator can inject or be forced to answer.
_INJECTED = {
    400: "Simulated bad request (x-llmsim-error).",
    401: "invalid x-api-key",
    403: "Your API key does not have permission to use the specified resource.",
    404: "The requested resource could not be found.",
    408: "Request timed out.",
    409: "The request conflicted with another request; please try again.",
    413: "Request exceeds the maximum allowed number of bytes.",
    422: "The request could not be processed.",
    429: "Number of requests has exceeded your per-minute rate limit (simulated by LLMSim).",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Request timed out",
    529: "Overloaded",
}


def _family(name: bytes) -> tuple[bytes, bytes, bytes]:
    """The limit, remaining and reset header names of one anthropic-ratelimit-* family."""
    prefix = b"anthropic-ratelimit-" + name
    return prefix + b"-limit", prefix + b"-remaining", prefix + b"-reset"


# The families Anthropic reports each neutral axis in. One token bucket covers input
# and output, so the three token families repeat its figures.
_REQUEST_FAMILIES = (_family(b"requests"),)
_TOKEN_FAMILIES = (_family(b"tokens"), _family(b"input-tokens"), _family(b"output-tokens"))


@functools.lru_cache(maxsize=256)
def _rfc3339(second: int) -> bytes:
    """A whole second of Unix time as Anthropic writes its resets: 2026-11-25T10:00:30Z.

    Kept: every answer within a second shows the same few texts.
    """
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)).encode()


def rfc3339_after(seconds: float) -> bytes:
    """The moment `seconds` from now (rounded up to the second), as Anthropic writes its resets."""
    return _rfc3339(math.ceil(time.time() + max(seconds, 0.0)))


def ratelimit_headers(state: RateLimitState) -> Headers:
    """The anthropic-ratelimit-* set, for the axes that have a limit."""
    headers: Headers = []
    if state.limit_requests is not None:
        headers += _axis_rows(_REQUEST_FAMILIES, state.limit_requests, state.remaining_requests, state.reset_requests_s)
    if state.limit_tokens is not None:
        headers += _axis_rows(_TOKEN_FAMILIES, state.limit_tokens, state.remaining_tokens, state.reset_tokens_s)
    return headers


def _axis_rows(families: tuple[tuple[bytes, bytes, bytes], ...], limit: int, remaining: int, reset_s: float) -> Headers:
    """One axis's figures under each of its families' names (each figure formatted once)."""
    limit_text, remaining_text, reset = b"%d" % limit, b"%d" % remaining, rfc3339_after(reset_s)
    rows: Headers = []
    for limit_name, remaining_name, reset_name in families:
        rows += ((limit_name, limit_text), (remaining_name, remaining_text), (reset_name, reset))
    return rows


def _retry_after(seconds: float | None) -> Headers:
    """retry-after in whole seconds, as Anthropic sends it, and retry-after-ms, which the SDK reads first."""
    if seconds is None:
        return []
    return [
        (b"retry-after", str(max(1, math.ceil(seconds))).encode()),
        (b"retry-after-ms", str(math.ceil(seconds * 1000)).encode()),
    ]


def common_headers(call: Call) -> Headers:
    """The headers of every Anthropic answer: request-id, the organization and the call's rate-limit figures."""
    headers = [(b"request-id", call.request_id.encode()), (b"anthropic-organization-id", b"llmsim")]
    if call.ratelimit is not None:
        headers += ratelimit_headers(call.ratelimit)
    return headers


def error_json(error: ProviderError, request_id: str | None = None) -> dict[str, Any]:
    kind = error.error_type or _ERROR_TYPES.get(error.status, "api_error" if error.status >= 500 else "")
    body: dict[str, Any] = {
        "type": "error",
        "error": {"type": kind or "invalid_request_error", "message": error.message},
    }
    if request_id:
        body["request_id"] = request_id
    return body


def error_response(call: Call, error: ProviderError) -> tuple[Headers, bytes]:
    """The headers and body of an Anthropic error answer (its status is error.status)."""
    if error.status == 401 and api_key_of(call) is None:
        error = ProviderError(401, "x-api-key header is required", "authentication")
    headers = [JSON_CONTENT_TYPE, *common_headers(call), *error.headers]
    return headers, dump_json(error_json(error, call.request_id))


async def send_error(call: Call, error: ProviderError) -> None:
    """The one way an Anthropic route answers with an error."""
    headers, body = error_response(call, error)
    await send_bytes(call, error.status, body, headers)


def error_event(error: ProviderError) -> bytes:
    """An error inside the stream (the SDK raises APIStatusError with its type)."""
    return b"event: error\ndata: " + dump_json(error_json(error)) + b"\n\n"


anthropic_endpoint = endpoint(send_error, error_event, provider="anthropic")


def injected_error(error: InjectedError) -> ProviderError:
    """An injected or scripted error, as Anthropic words it."""
    message = error.message or _INJECTED.get(error.status, "Simulated error.")
    headers = _retry_after(error.retry_after_s)
    if error.status == 429 and error.kind != "rule":
        wait = error.retry_after_s or 1.0
        reset = rfc3339_after(wait)
        headers += [
            (b"anthropic-ratelimit-requests-limit", b"50"),
            (b"anthropic-ratelimit-requests-remaining", b"0"),
            (b"anthropic-ratelimit-requests-reset", reset),
        ]
    injected = ProviderError(error.status, message, "injected", headers=headers)
    injected.error_type = error.error_type
    return injected


def fault_error(fault: StreamFault) -> ProviderError:
    """A mid-stream error. Without words of its own it is what Anthropic's streams break
    with, overloaded_error, unless a rule names another status than the default 500."""
    if fault.status == 500 and fault.message is None:
        return ProviderError(529, "Overloaded", "overloaded")
    return injected_error(InjectedError(fault.status, "rule", message=fault.message))


def rate_limited_error(exc: RateLimited) -> ProviderError:
    """A scenario's spent budget as Anthropic says it: 429 rate_limit_error, retry-after and the headers."""
    what = "requests" if exc.which == "requests" else "input and output tokens"
    if exc.retry_after_s is None:
        message = (
            f"This request would exceed your organization's rate limit of {exc.limit} {what} per minute "
            f"(requested {exc.requested}). Please reduce the prompt length or the maximum tokens requested."
        )
    else:
        message = (
            f"This request would exceed your organization's rate limit of {exc.limit} {what} per minute "
            f"(used {exc.used}, requested {exc.requested}). Please try again in "
            f"{max(1, math.ceil(exc.retry_after_s))}s."
        )
    headers = _retry_after(exc.retry_after_s) + ratelimit_headers(exc.state)
    return ProviderError(429, message, "rate_limit", headers=headers)


def overloaded_error(exc: Overloaded) -> ProviderError:
    """A model at capacity with a full queue: 529 overloaded_error, with retry-after."""
    return ProviderError(529, "Overloaded", "overloaded", headers=_retry_after(exc.retry_after_s))


def require_version(call: Call) -> None:
    """Anthropic refuses a Messages call without the anthropic-version header."""
    if VERSION_HEADER not in call.headers:
        raise ProviderError(400, f"{VERSION_HEADER}: header is required")


def bad_request(path: str, message: str) -> ProviderError:
    """A 400 invalid_request_error about the field at `path` (dotted, as Anthropic names it; "" for the body)."""
    return ProviderError(400, f"{path}: {message}" if path else message, param=path or None)


def model_not_found(model: str) -> ProviderError:
    """404 not_found_error for a model no profile serves."""
    return ProviderError(404, f"model: {shorten(model)}", "not_found")


def check_model_limits(request: CompletionRequest, spec: ModelSpec) -> None:
    """Refuses a max_tokens above the model's largest output, as Anthropic does."""
    if request.max_tokens is not None and request.max_tokens > spec.max_output_tokens:
        raise bad_request(
            "",
            f"max_tokens: {request.max_tokens} > {spec.max_output_tokens}, which is the maximum allowed number of "
            f"output tokens for {request.model}",
        )


def context_exceeded(exc: planner.ContextLengthExceeded) -> ProviderError:
    """400 for a prompt longer than the model's context window."""
    return bad_request("", f"prompt is too long: {exc.prompt_tokens} tokens > {exc.limit} maximum")


# How the neutral pipeline's failures read in Anthropic's words.
DIALECT = Dialect(
    send_error=send_error,
    injected_error=injected_error,
    rate_limited=rate_limited_error,
    model_not_found=model_not_found,
    context_exceeded=context_exceeded,
    overloaded=overloaded_error,
    check_limits=check_model_limits,
)
