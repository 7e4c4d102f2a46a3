"""Gemini's errors: the {"error": {code, message, status}} body with Google's canonical
status names, retry-after (and RetryInfo), the `gemini_endpoint` decorator, injected and
forced errors, and the Dialect the neutral pipeline words its failures in.

Shapes as in Google's Gemini API docs ("Troubleshooting", "Rate limits") and the
google.rpc.Status they follow.
"""

from __future__ import annotations

import math
from typing import Any

from simulator.engine import planner
from simulator.engine.load import Overloaded
from simulator.engine.ratelimit import RateLimited, duration_text
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

# Google's canonical status for each HTTP status.
_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    414: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    431: "INVALID_ARGUMENT",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
    529: "UNAVAILABLE",
}

# What Gemini says for each status the simulator can inject or be forced to answer.
_INJECTED = {
    400: "Simulated bad request (x-llmsim-error).",
    401: "API key not valid. Please pass a valid API key.",
    403: "The caller does not have permission.",
    404: "Requested entity was not found.",
    408: "The request timed out.",
    409: "The request conflicted with another request; please try again.",
    413: "Request payload size exceeds the limit.",
    422: "The request could not be processed.",
    429: "Resource has been exhausted (e.g. check quota). (simulated by LLMSim)",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    502: "Bad gateway.",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
    529: "The model is overloaded. Please try again later.",
}

_NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)


def gemini_error(
    status: int, message: str, retry_after_s: float | None = None, status_name: str | None = None
) -> ProviderError:
    """An error with Gemini's words; a wait goes in retry-after (and so in the body's RetryInfo)."""
    headers = [] if retry_after_s is None else [(b"retry-after", str(max(1, math.ceil(retry_after_s))).encode())]
    error = ProviderError(status, message, "injected", headers=headers)
    error.error_type = status_name
    return error


def error_json(error: ProviderError) -> dict[str, Any]:
    """The {"error": {code, message, status}} body, with RetryInfo on a 429 that says how long to wait."""
    body: dict[str, Any] = {
        "code": error.status,
        "message": error.message,
        "status": error.error_type or _STATUSES.get(error.status, "INTERNAL" if error.status >= 500 else "UNKNOWN"),
    }
    retry_after = next((value for name, value in error.headers if name == b"retry-after"), None)
    if error.status == 429 and retry_after is not None:
        body["details"] = [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_after.decode() + "s"},
        ]
    return {"error": body}


def error_response(call: Call, error: ProviderError) -> tuple[Headers, bytes]:
    """The headers and body of a Gemini error answer (its status is error.status)."""
    if error.status == 401 and api_key_of(call) is None:
        error = ProviderError(401, _NO_KEY, "authentication")
    return [JSON_CONTENT_TYPE, *error.headers], dump_json(error_json(error))


async def send_error(call: Call, error: ProviderError) -> None:
    """The one way a Gemini route answers with an error."""
    headers, body = error_response(call, error)
    await send_bytes(call, error.status, body, headers)


def error_event(error: ProviderError) -> bytes:
    """An error inside an SSE stream (the SDK raises ClientError or ServerError from its code)."""
    return b"data: " + dump_json(error_json(error)) + b"\n\n"


gemini_endpoint = endpoint(send_error, error_event, provider="gemini")


def injected_error(error: InjectedError) -> ProviderError:
    """An injected or scripted error, as Gemini words it."""
    message = error.message or _INJECTED.get(error.status, "Simulated error.")
    return gemini_error(error.status, message, error.retry_after_s, error.error_type)


def fault_error(fault: StreamFault) -> ProviderError:
    """A mid-stream error, as Gemini words it."""
    return injected_error(InjectedError(fault.status, "rule", message=fault.message))


def rate_limited_error(exc: RateLimited) -> ProviderError:
    """A scenario's spent budget as Gemini says it: 429 RESOURCE_EXHAUSTED with the wait."""
    per_minute = "requests" if exc.which == "requests" else "input and output tokens"
    message = (
        f"You exceeded your current quota of {exc.limit} {per_minute} per minute (used {exc.used}, requested "
        f"{exc.requested})."
    )
    if exc.retry_after_s is not None:
        message += f" Please retry in {duration_text(exc.retry_after_s)}."
    return gemini_error(429, message, exc.retry_after_s)


def overloaded_error(exc: Overloaded) -> ProviderError:
    """A model at capacity with a full queue: 503 UNAVAILABLE, with retry-after."""
    return gemini_error(503, _INJECTED[503], exc.retry_after_s)


def bad_request(message: str, field: str | None = None) -> ProviderError:
    """A 400 INVALID_ARGUMENT in Gemini's words; `field` is the request field it is about."""
    return ProviderError(400, message, param=field)


def model_not_found(model: str) -> ProviderError:
    """404 NOT_FOUND for a model no profile serves."""
    return ProviderError(
        404,
        f"models/{shorten(model)} is not found for API version v1beta, or is not supported for generateContent.",
        "not_found",
    )


def check_model_limits(request: CompletionRequest, spec: ModelSpec) -> None:
    """Refuses a maxOutputTokens above the model's largest output, as Gemini does."""
    if request.max_tokens is not None and request.max_tokens > spec.max_output_tokens:
        raise bad_request(
            f"Unable to submit request because it has a maxOutputTokens value of {request.max_tokens} but the "
            f"supported range is from 1 (inclusive) to {spec.max_output_tokens + 1} (exclusive). Update the value "
            "and try again.",
            "generation_config.max_output_tokens",
        )


def context_exceeded(exc: planner.ContextLengthExceeded) -> ProviderError:
    """400 for a prompt longer than the model's context window."""
    return bad_request(
        f"The input token count ({exc.prompt_tokens}) exceeds the maximum number of tokens allowed ({exc.limit}).",
        "contents",
    )


# How the neutral pipeline's failures read in Gemini's words.
DIALECT = Dialect(
    send_error=send_error,
    injected_error=injected_error,
    rate_limited=rate_limited_error,
    model_not_found=model_not_found,
    context_exceeded=context_exceeded,
    overloaded=overloaded_error,
    check_limits=check_model_limits,
)
