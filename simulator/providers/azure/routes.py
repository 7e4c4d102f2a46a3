"""Azure OpenAI's routes: the OpenAI routes' own logic, reached through Azure's paths.

    /openai/deployments/{deployment}/chat/completions?api-version=...   (openai.AzureOpenAI)
    /openai/v1/chat/completions                                         (the v1 API: `model` names the deployment)
    /openai/v1/deployments/{deployment}/chat/completions                (AzureOpenAI with the v1 base_url)

and the same for /completions and /embeddings. A deployment is a model profile named by
its id or one of its aliases (in the admin or YAML: `aliases: [my-gpt4o-deployment]`);
an unknown one is Azure's 404 DeploymentNotFound when the models are strict, the
default profile otherwise. The answer's `model` is the profile's id, as Azure names
the model behind a deployment. The call carries an AzureVariant (Call.variant), so the
OpenAI logic answers with Azure's headers and errors (simulator.providers.azure.errors).
"""

from __future__ import annotations

from typing import Any

from simulator.providers.azure.errors import AzureVariant, deployment_not_found, variant_for
from simulator.providers.openai import embeddings, legacy_completions
from simulator.providers.openai import models as openai_models
from simulator.providers.openai.chat import routes as chat
from simulator.providers.openai.errors import openai_endpoint
from simulator.server.http import Call
from simulator.server.router import Handler
from simulator.state import snapshots


def use_deployment(call: Call, body: Any, v1: bool) -> None:
    """Answer with the deployment's profile: the body's `model` becomes the profile's id.

    The deployment is the path's, or on the v1 routes without one the body's `model`
    (without that either, the OpenAI logic refuses the body as OpenAI does).
    """
    variant: AzureVariant = call.variant
    variant.check_api_version(v1)
    if not isinstance(body, dict):
        return  # the OpenAI logic refuses it in OpenAI's words
    deployment = call.path_params.get("deployment") or body.get("model")
    if not isinstance(deployment, str) or not deployment:
        return
    variant.deployment = deployment
    snapshot = snapshots.current()
    spec = snapshot.model_for(deployment)
    if spec is None:
        raise deployment_not_found()
    # The default profile has no name of its own to show: the answer names the deployment.
    body["model"] = deployment if spec is snapshot.default_model else spec.id


def azure_route(openai_route: Handler, operation: str, v1: bool = False) -> Handler:
    """An Azure route running `openai_route`'s logic (the function its openai_endpoint wraps).

    `operation` is Azure's name for it, as its rate-limit errors say it.
    """
    logic = openai_route.__wrapped__  # type: ignore[attr-defined]  # set by functools.wraps

    @openai_endpoint
    async def answer(call: Call, body: Any) -> None:
        use_deployment(call, body, v1)
        await logic(call, body)

    async def route(call: Call) -> None:
        call.variant = variant_for(call, operation)
        await answer(call)

    route.__name__ = route.__qualname__ = f"azure_{openai_route.__name__}"
    return route


chat_completions = azure_route(chat.chat_completions, "ChatCompletions_Create")
completions = azure_route(legacy_completions.completions, "Completions_Create")
embeddings_create = azure_route(embeddings.embeddings, "Embeddings_Create")
v1_chat_completions = azure_route(chat.chat_completions, "ChatCompletions_Create", v1=True)
v1_completions = azure_route(legacy_completions.completions, "Completions_Create", v1=True)
v1_embeddings = azure_route(embeddings.embeddings, "Embeddings_Create", v1=True)


@openai_endpoint
async def _list_models(call: Call) -> None:
    call.variant.check_api_version(v1=True)
    await openai_models.list_models.__wrapped__(call)  # type: ignore[attr-defined]


async def v1_list_models(call: Call) -> None:
    """GET /openai/v1/models: the listed profiles, as OpenAI lists them, with Azure's headers."""
    call.variant = variant_for(call, "Models_List")
    await _list_models(call)
