"""GET /v1/models and /v1/models/{model_id}: one path for three providers.

OpenAI, Anthropic and Gemini's v1 all list models here; the request's headers say
whose shape the answer takes (simulator.providers.callers.provider_of).
"""

from __future__ import annotations

from simulator.providers.anthropic import routes as anthropic
from simulator.providers.callers import provider_of_call
from simulator.providers.gemini import routes as gemini
from simulator.providers.openai import models as openai
from simulator.server.http import Call

_LIST = {"anthropic": anthropic.list_models, "gemini": gemini.list_models, "openai": openai.list_models}
_RETRIEVE = {"anthropic": anthropic.retrieve_model, "gemini": gemini.get_model, "openai": openai.retrieve_model}


async def list_models(call: Call) -> None:
    await _LIST[provider_of_call(call)](call)


async def retrieve_model(call: Call) -> None:
    await _RETRIEVE[provider_of_call(call)](call)
