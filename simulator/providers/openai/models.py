"""GET /v1/models and /v1/models/{model_id} in OpenAI's shape (simulator.providers.model_routes picks it)."""

from __future__ import annotations

from typing import Any

from simulator.engine.snapshot import ModelSpec
from simulator.providers.openai.errors import common_headers, model_not_found, openai_endpoint
from simulator.server.http import JSON_CONTENT_TYPE, Call, dump_json, send_bytes
from simulator.state import snapshots


def model_json(spec: ModelSpec, model_id: str | None = None) -> dict[str, Any]:
    """A model object; `model_id`: the id the client asked for (an alias keeps its name)."""
    return {"id": model_id or spec.id, "object": "model", "created": spec.created, "owned_by": spec.owned_by}


@openai_endpoint
async def list_models(call: Call) -> None:
    """GET /v1/models from an OpenAI client (routed by model_routes)."""
    models = [model_json(spec) for spec in snapshots.current().models if spec.listed]
    body = dump_json({"object": "list", "data": models})
    await send_bytes(call, 200, body, [JSON_CONTENT_TYPE, *common_headers(call)])


@openai_endpoint
async def retrieve_model(call: Call) -> None:
    """GET /v1/models/{model_id} from an OpenAI client (routed by model_routes)."""
    model_id = call.path_params["model_id"]
    spec = snapshots.current().resolve(model_id)
    if spec is None:
        raise model_not_found(model_id, param="model")
    body = dump_json(model_json(spec, model_id))
    await send_bytes(call, 200, body, [JSON_CONTENT_TYPE, *common_headers(call)])
