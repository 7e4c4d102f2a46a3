"""OpenAI's errors: the error body, its headers, and how each failure is worded.

Every OpenAI route answers its errors through `send_error` (the `openai_endpoint`
decorator does it for what a handler raises), in the shape of OpenAI's API reference
("Error codes"): `{"error": {"message", "type", "param", "code"}}`, with the
x-request-id, openai-* and x-ratelimit-* headers the real API sends.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from simulator.engine import planner
from simulator.engine.load import Overloaded
from simulator.engine.ratelimit import RateLimited, RateLimitState, duration_header, duration_text, whole_millis
from simulator.engine.snapshot import ModelSpec
from simulator.engine.types import CompletionRequest, InjectedError, StreamFault
from simulator.server.endpoint import endpoint
from simulator.server.http import JSON_CONTENT_TYPE, Call, Headers, ProviderError, dump_json, send_bytes, shorten
from simulator.server.pipeline import Dialect, SendError, no_limits

# Neutral error kind → OpenAI error `type`.
_ERROR_TYPES = {
    "invalid_request": "invalid_request_error",
    "authentication": "invalid_request_error",
    "not_found": "invalid_request_error",
    "method_not_allowed": "invalid_request_error",
    "too_large": "invalid_request_error",
    "rate_limit": "requests",
    "server_error": "server_error",
    "service_unavailable": "server_error",
    "overloaded": "server_error",
    "timeout": "timeout",
}

# What OpenAI says for each status the simulator can inject or be forced to answer.
_INJECTED = {
    400: ("invalid_request", None, "Simulated bad request (x-llmsim-error)."),
    401: ("authentication", "invalid_api_key", "Incorrect API key provided (simulated by LLMSim)."),
    403: ("invalid_request", "unsupported_country_region_territory", "Country, region, or territory not supported."),
    404: ("not_found", "model_not_found", "The model does not exist or you do not have access to it."),
    408: ("timeout", "timeout", "Request timed out."),
    409: ("invalid_request", None, "The request conflicted with another request; please try again."),
    413: ("too_large", "request_too_large", "Request body too large."),
    422: ("invalid_request", None, "The request could not be processed."),
    429: ("rate_limit", "rate_limit_exceeded", None),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("service_unavailable", None, "The engine is currently overloaded, please try again later."),
    504: ("timeout", "timeout", "Gateway timeout: the request took too long to complete."),
    529: ("overloaded", None, "The engine is currently overloaded, please try again later."),
}


def common_headers(call: Call) -> Headers:
    """The headers of every OpenAI answer: request id, version, processing time and rate-limit figures
    (a variant's own, such as Azure's, for a call that came through its routes)."""
    if call.variant is not None:
        return call.variant.common_headers(call)
    headers = [
        (b"x-request-id", call.request_id.encode()),
        (b"openai-version", b"2020-10-01"),
        (b"openai-processing-ms", str(call.elapsed_ms()).encode()),
    ]
    if call.ratelimit is not None:
        headers += ratelimit_headers(call.ratelimit)
    return headers


def ratelimit_headers(state: RateLimitState) -> Headers:
    """OpenAI's x-ratelimit-* set, for the axes that have a limit."""
    headers: Headers = []
    if state.limit_requests is not None:
        headers += (
            (b"x-ratelimit-limit-requests", b"%d" % state.limit_requests),
            (b"x-ratelimit-remaining-requests", b"%d" % state.remaining_requests),
            (b"x-ratelimit-reset-requests", duration_header(whole_millis(state.reset_requests_s))),
        )
    if state.limit_tokens is not None:
        headers += (
            (b"x-ratelimit-limit-tokens", b"%d" % state.limit_tokens),
            (b"x-ratelimit-remaining-tokens", b"%d" % state.remaining_tokens),
            (b"x-ratelimit-reset-tokens", duration_header(whole_millis(state.reset_tokens_s))),
        )
    return headers


def rate_limited_error(exc: RateLimited, model: str) -> ProviderError:
    """A scenario's spent budget as OpenAI says it: 429 with the figures, retry-after and the headers."""
    per_min = "requests per min (RPM)" if exc.which == "requests" else "tokens per min (TPM)"
    if exc.retry_after_s is None:
        message = (
            f"Request too large for {shorten(model)} in organization org-llmsim on {per_min}: Limit {exc.limit}, "
            f"Requested {exc.requested}. The input or output tokens must be reduced in order to run successfully."
        )
    else:
        message = (
            f"Rate limit reached for {shorten(model)} in organization org-llmsim on {per_min}: Limit {exc.limit}, "
            f"Used {exc.used}, Requested {exc.requested}. Please try again in {duration_text(exc.retry_after_s)}."
        )
    headers = _retry_headers(exc.retry_after_s) + ratelimit_headers(exc.state)
    error = ProviderError(429, message, "rate_limit", code="rate_limit_exceeded", headers=headers)
    error.error_type = exc.which  # OpenAI's type: "requests" or "tokens"
    return error


def error_json(error: ProviderError) -> dict[str, Any]:
    """OpenAI's error object: {message, type, param, code}."""
    return {
        "message": error.message,
        "type": error.error_type or _ERROR_TYPES.get(error.kind, "invalid_request_error"),
        "param": error.param,
        "code": error.code,
    }


def error_body(error: ProviderError) -> bytes:
    """OpenAI's error JSON: {"error": {message, type, param, code}}."""
    return dump_json({"error": error_json(error)})


def error_response(call: Call, error: ProviderError) -> tuple[Headers, bytes]:
    """The headers and body of an OpenAI error answer (its status is error.status), in a
    variant's shape (Azure's) for a call that came through its routes."""
    if call.variant is not None:
        return call.variant.error_response(call, error)
    return [JSON_CONTENT_TYPE, *common_headers(call), *error.headers], error_body(error)


async def send_error(call: Call, error: ProviderError) -> None:
    """The one way an OpenAI route answers with an error."""
    headers, body = error_response(call, error)
    await send_bytes(call, error.status, body, headers)


def stream_error_event(error: ProviderError) -> bytes:
    """An error inside an SSE stream (the SDK raises APIError on it)."""
    return b"data: " + error_body(error) + b"\n\n"


openai_endpoint = endpoint(send_error, stream_error_event, provider="openai")


def _retry_headers(retry_after_s: float | None) -> Headers:
    if retry_after_s is None:
        return []
    return [
        (b"retry-after", str(max(1, math.ceil(retry_after_s))).encode()),
        (b"retry-after-ms", str(math.ceil(retry_after_s * 1000)).encode()),
    ]


def injected_error(error: InjectedError, model: str) -> ProviderError:
    """An injected (or rule-scripted) error status as OpenAI words it, with its retry and rate-limit headers."""
    kind, code, message = _INJECTED.get(error.status, ("server_error", None, "Simulated error."))
    headers = _retry_headers(error.retry_after_s)
    if error.kind == "rule":  # a response rule's scripted error: its own words where it gave them
        scripted = ProviderError(
            error.status, error.message or message or "Simulated error.", kind, code=code, headers=headers
        )
        scripted.error_type = error.error_type
        return scripted
    if error.status == 429:
        wait = error.retry_after_s or 1.0
        message = (
            f"Rate limit reached for {shorten(model)} on requests per min (RPM): Limit 500, Used 500, Requested 1. "
            f"Please try again in {duration_text(wait)}. (simulated by LLMSim)"
        )
        headers += [
            (b"x-ratelimit-limit-requests", b"500"),
            (b"x-ratelimit-remaining-requests", b"0"),
            (b"x-ratelimit-reset-requests", duration_text(wait).encode()),
            (b"x-ratelimit-limit-tokens", b"200000"),
            (b"x-ratelimit-remaining-tokens", b"200000"),
            (b"x-ratelimit-reset-tokens", b"0s"),
        ]
    return ProviderError(error.status, message, kind, code=code, headers=headers)


def overloaded_error(exc: Overloaded) -> ProviderError:
    """A model at capacity with a full queue: 503 "The engine is currently overloaded" (the profile's
    default) or 429, with retry-after. Type and code as the live API words it."""
    if exc.limit.overload_status == 429:
        error = ProviderError(
            429,
            "That model is currently overloaded with other requests. You can retry your request, or contact us "
            "through our help center at help.openai.com if the error persists.",
            "rate_limit",
            headers=_retry_headers(exc.retry_after_s),
        )
        error.error_type = "server_error"
        return error
    error = ProviderError(
        503,
        "The engine is currently overloaded, please try again later.",
        "service_unavailable",
        code="server_is_overloaded",
        headers=_retry_headers(exc.retry_after_s),
    )
    error.error_type = "service_unavailable_error"
    return error


def model_not_found(model: str, param: str | None = None) -> ProviderError:
    """404 model_not_found, naming the model as the client sent it."""
    return ProviderError(
        404,
        f"The model `{shorten(model)}` does not exist or you do not have access to it.",
        "not_found",
        param=param,
        code="model_not_found",
    )


def fault_error(fault: StreamFault, model: str) -> ProviderError:
    """The error a planned mid-answer fault ends the answer with."""
    return injected_error(InjectedError(fault.status, "rule", message=fault.message), model)


def context_length_exceeded(exc: planner.ContextLengthExceeded) -> ProviderError:
    """Chat Completions' words for a prompt longer than the context window (the Dialect's default)."""
    return ProviderError(
        400,
        f"This model's maximum context length is {exc.limit} tokens. However, your messages resulted in "
        f"{exc.prompt_tokens} tokens. Please reduce the length of the messages.",
        param="messages",
        code="context_length_exceeded",
    )


def dialect(
    model: str,
    *,
    context_exceeded: Callable[[planner.ContextLengthExceeded], ProviderError] = context_length_exceeded,
    check_limits: Callable[[CompletionRequest, ModelSpec], None] = no_limits,
    send_error: SendError = send_error,
) -> Dialect:
    """How the OpenAI routes word the failures of the neutral answering steps (simulator.server.pipeline).

    The messages name the requested `model`; each endpoint says "context length" in its
    own words, for its own param (`context_exceeded`), and refuses what its model refuses
    (`check_limits`).
    """
    return Dialect(
        send_error=send_error,
        injected_error=lambda error: injected_error(error, model),
        rate_limited=lambda exc: rate_limited_error(exc, model),
        model_not_found=model_not_found,
        context_exceeded=context_exceeded,
        overloaded=overloaded_error,
        check_limits=check_limits,
    )
