"""Anthropic's routes: Messages (create, count_tokens) and Models (list, retrieve).

Each handler hands the parsed request (request.py) to the neutral pipeline and sends
the answer as render.py writes it; errors read as errors.py words them.
"""

from __future__ import annotations

from typing import Any

from simulator.engine.ids import new_id
from simulator.engine.tokens import count_prompt
from simulator.providers.anthropic.errors import (
    DIALECT,
    anthropic_endpoint,
    common_headers,
    model_not_found,
    require_version,
)
from simulator.providers.anthropic.render import model_json, reply_message, stream_message
from simulator.providers.anthropic.request import page_limit, parse_messages_request
from simulator.server.http import JSON_CONTENT_TYPE, Call, compute, dump_json, query_param, send_bytes
from simulator.server.pipeline import plan_answer
from simulator.state import snapshots


@anthropic_endpoint
async def create_message(call: Call, body: Any) -> None:
    """POST /v1/messages: one Message, or its SSE stream."""
    require_version(call)
    plan = await plan_answer(call, await compute(call, parse_messages_request, body), DIALECT)
    if plan is None:
        return
    message_id = new_id("msg_01", 96)
    if call.stream:
        await stream_message(call, plan, message_id)
    else:
        await reply_message(call, plan, message_id)


@anthropic_endpoint
async def count_tokens(call: Call, body: Any) -> None:
    """POST /v1/messages/count_tokens: {"input_tokens": N}."""
    require_version(call)
    request = await compute(call, parse_messages_request, body, True)
    spec = snapshots.current().model_for(request.model)
    if spec is None:
        raise model_not_found(request.model)
    call.model = request.model
    tokens = await compute(call, count_prompt, request.messages, request.tools, spec.encoding)
    await send_bytes(call, 200, dump_json({"input_tokens": tokens}), [JSON_CONTENT_TYPE, *common_headers(call)])


@anthropic_endpoint
async def list_models(call: Call) -> None:
    """GET /v1/models with an anthropic-version header: the Claude profiles, paged by id."""
    models = [spec for spec in snapshots.current().models if spec.listed and spec.provider == "anthropic"]
    ids = [spec.id for spec in models]
    limit = page_limit(call)
    after, before = query_param(call, "after_id"), query_param(call, "before_id")
    if before is not None:
        end = ids.index(before) if before in ids else len(ids)
        page = models[max(0, end - limit) : end]
        has_more = end - limit > 0
    else:
        start = ids.index(after) + 1 if after in ids else 0
        page = models[start : start + limit]
        has_more = start + limit < len(models)
    body = {
        "data": [model_json(spec) for spec in page],
        "has_more": has_more,
        "first_id": page[0].id if page else None,
        "last_id": page[-1].id if page else None,
    }
    await send_bytes(call, 200, dump_json(body), [JSON_CONTENT_TYPE, *common_headers(call)])


@anthropic_endpoint
async def retrieve_model(call: Call) -> None:
    """GET /v1/models/{model_id} with an anthropic-version header."""
    model_id = call.path_params["model_id"]
    spec = snapshots.current().resolve(model_id)
    if spec is None:
        raise model_not_found(model_id)
    await send_bytes(call, 200, dump_json(model_json(spec, model_id)), [JSON_CONTENT_TYPE, *common_headers(call)])
