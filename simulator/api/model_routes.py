"""GET /v1/models and /v1/models/{model_id}: one path for three providers.

OpenAI, Anthropic and Gemini's v1 all list models here; the request's headers say
whose shape the answer takes (../shared/wire-format.md §0.3): Anthropic's SDK always
sends anthropic-version, Gemini's sends x-goog-api-key (REST callers may use ?key=),
and everything else is OpenAI's.
"""

from __future__ import annotations

from . import anthropic, gemini, openai
from .http import Call, query_param
from .routes import route


def provider_of(call: Call) -> str:
    """anthropic, gemini or openai: whose client sent the request."""
    if anthropic.VERSION_HEADER in call.headers:
        return "anthropic"
    if "x-goog-api-key" in call.headers or query_param(call, "key") is not None:
        return "gemini"
    return "openai"


_LIST = {"anthropic": anthropic.list_models, "gemini": gemini.list_models, "openai": openai.list_models}
_RETRIEVE = {"anthropic": anthropic.retrieve_model, "gemini": gemini.get_model, "openai": openai.retrieve_model}


@route("GET", "/v1/models")
async def list_models(call: Call) -> None:
    await _LIST[provider_of(call)](call)


@route("GET", "/v1/models/{model_id}")
async def retrieve_model(call: Call) -> None:
    await _RETRIEVE[provider_of(call)](call)
