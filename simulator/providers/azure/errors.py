"""Azure OpenAI's dress over the OpenAI routes: its headers, its error bodies, its api-version.

Azure serves OpenAI's API behind its own gateway. What the gateway answers itself (a
missing key, an unknown deployment or path, an api-version it does not serve, a spent
quota) has Azure's short shape, `{"error": {"code", "message"}}`, with the code a
word or a status as a string. What the model service answers (a bad parameter, a
prompt too long) passes through in OpenAI's shape. Every answer carries
apim-request-id, x-request-id, x-ms-region and the x-ratelimit-* figures.

Wording as Azure's answers quote it (GitHub issues citing the raw bodies): 401
SciSharp/BotSharp#386, DeploymentNotFound chatboxai/chatbox#646, "API version not
supported" hotovo/aider-desk#460, 429 alex-wolf-ps/dbchatprov2#2 and
microsoft/copilot-camp#551 (its headers).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from simulator.providers.openai import errors as openai
from simulator.server.http import JSON_CONTENT_TYPE, Call, Headers, ProviderError, dump_json, query_param

API_VERSION_PARAM = "api-version"
# The region every answer names (x-ms-region); Azure's own say where the resource lives.
REGION = b"East US"
# Dated versions (2024-10-21, 2025-04-01-preview): Azure has published one every month or
# two since 2022-12-01, the first GA, and the SDKs follow; the simulator takes any from then on.
_DATED_VERSION = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(-preview)?$")
_FIRST_VERSION = "2022-12-01"
# The v1 API (/openai/v1/...) needs no version; it takes these.
V1_VERSIONS = ("v1", "preview", "latest")

ACCESS_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
    "for an active subscription and use a correct regional API endpoint for your resource."
)
DEPLOYMENT_NOT_FOUND = (
    "The API deployment for this resource does not exist. If you created the deployment within the last 5 "
    "minutes, please wait a moment and try again."
)
# Statuses the gateway answers itself, in Azure's short shape (the rest are the model service's, OpenAI's).
_GATEWAY_STATUSES = (401, 403, 404, 405, 429)


def resource_not_found() -> ProviderError:
    """What Azure answers for a path it does not serve, and for a request without api-version."""
    return ProviderError(404, "Resource not found", "not_found", code="404")


def version_not_supported() -> ProviderError:
    return ProviderError(400, "API version not supported", code="BadRequest")


def deployment_not_found() -> ProviderError:
    return ProviderError(404, DEPLOYMENT_NOT_FOUND, "not_found", code="DeploymentNotFound")


def is_supported_version(version: str) -> bool:
    """A dated api-version (YYYY-MM-DD, optionally -preview) from Azure's first one on."""
    match = _DATED_VERSION.match(version)
    if match is None:
        return False
    date = version[:10]
    month, day = int(match[2]), int(match[3])
    return date >= _FIRST_VERSION and 1 <= month <= 12 and 1 <= day <= 31


@dataclass(slots=True)
class AzureVariant:
    """One call through Azure's routes: what its headers, errors and bodies say (Call.variant)."""

    operation: str  # Azure's name of the operation, as its 429 names it (ChatCompletions_Create)
    api_version: str | None
    deployment: str = ""

    def check_api_version(self, v1: bool) -> None:
        """The deployments routes need a dated api-version; the v1 routes take none, or v1/preview/latest."""
        version = self.api_version
        if v1:
            if version is not None and version not in V1_VERSIONS:
                raise version_not_supported()
        elif version is None:
            raise resource_not_found()
        elif not is_supported_version(version):
            raise version_not_supported()

    def common_headers(self, call: Call) -> Headers:
        headers = [
            (b"apim-request-id", str(uuid.uuid4()).encode()),
            (b"x-request-id", call.request_id.encode()),
            (b"x-ms-region", REGION),
        ]
        if self.deployment:
            headers.append((b"x-ms-deployment-name", self.deployment.encode("latin-1", "replace")))
        client_request_id = call.headers.get("x-ms-client-request-id")
        if client_request_id is not None:
            headers.append((b"x-ms-client-request-id", client_request_id.encode("latin-1")))
        state = call.ratelimit
        if state is not None:
            if state.limit_requests is not None:
                headers += (
                    (b"x-ratelimit-limit-requests", b"%d" % state.limit_requests),
                    (b"x-ratelimit-remaining-requests", b"%d" % state.remaining_requests),
                )
            if state.limit_tokens is not None:
                headers += (
                    (b"x-ratelimit-limit-tokens", b"%d" % state.limit_tokens),
                    (b"x-ratelimit-remaining-tokens", b"%d" % state.remaining_tokens),
                )
        return headers

    def error_response(self, call: Call, error: ProviderError) -> tuple[Headers, bytes]:
        # Azure sends no x-ratelimit-reset-*; the figures of a refused call are the error's own.
        figures_sent = call.ratelimit is not None
        extra = [
            (name, value)
            for name, value in error.headers
            if not name.startswith(b"x-ratelimit-reset-") and not (figures_sent and name.startswith(b"x-ratelimit-"))
        ]
        return [JSON_CONTENT_TYPE, *self.common_headers(call), *extra], self.error_body(error)

    def error_body(self, error: ProviderError) -> bytes:
        if error.status not in _GATEWAY_STATUSES and error.code != "BadRequest":
            return openai.error_body(error)
        if error.status == 401:
            return _short_error("401", ACCESS_DENIED)
        if error.status == 429 and error.error_type in ("requests", "tokens"):
            return _short_error("429", self.quota_message(error))
        code = error.code if error.code in ("DeploymentNotFound", "BadRequest") else str(error.status)
        return _short_error(code, error.message)

    def quota_message(self, error: ProviderError) -> str:
        """A scenario's spent rate limit as Azure's gateway words it (seconds from retry-after)."""
        which = "call" if error.error_type == "requests" else "token"
        retry = dict(error.headers).get(b"retry-after", b"1").decode()
        return (
            f"Requests to the {self.operation} Operation under Azure OpenAI API version {self.api_version or 'v1'} "
            f"have exceeded {which} rate limit of your current OpenAI S0 pricing tier. Please retry after {retry} "
            "seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the "
            "default rate limit."
        )

    def annotate(self, answer: dict[str, Any]) -> None:
        """Azure's content-filter verdicts in a whole answer: the prompt's, and each choice's."""
        answer["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": PROMPT_FILTER_RESULTS}]
        for choice in answer.get("choices", ()):
            choice["content_filter_results"] = CHOICE_FILTER_RESULTS

    def stream_prelude(self) -> bytes:
        """The chunk Azure streams first: the prompt's filter verdicts, with no choices and empty ids."""
        return STREAM_PRELUDE

    def stream_choice_extra(self) -> bytes:
        """The filter verdicts every choice of a streamed chunk carries (JSON members, comma first)."""
        return STREAM_CHOICE_EXTRA


def _short_error(code: str, message: str) -> bytes:
    return dump_json({"error": {"code": code, "message": message}})


def variant_for(call: Call, operation: str) -> AzureVariant:
    """The Azure dress of a call (its api-version as sent, read once)."""
    return AzureVariant(operation, query_param(call, API_VERSION_PARAM))


def error_response(call: Call, error: ProviderError) -> tuple[Headers, bytes]:
    """An error in Azure's format, for a call no Azure route has dressed yet (an unknown path)."""
    variant = call.variant if isinstance(call.variant, AzureVariant) else variant_for(call, "")
    return variant.error_response(call, error)


_SAFE = {"filtered": False, "severity": "safe"}
_CATEGORIES = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
_NOT_DETECTED = {"filtered": False, "detected": False}
PROMPT_FILTER_RESULTS = {**_CATEGORIES, "jailbreak": _NOT_DETECTED}
CHOICE_FILTER_RESULTS = {
    **_CATEGORIES,
    "protected_material_code": _NOT_DETECTED,
    "protected_material_text": _NOT_DETECTED,
}
STREAM_PRELUDE = (
    b"data: "
    + dump_json(
        {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": PROMPT_FILTER_RESULTS}],
        }
    )
    + b"\n\n"
)
STREAM_CHOICE_EXTRA = b',"content_filter_results":' + dump_json(CHOICE_FILTER_RESULTS)
