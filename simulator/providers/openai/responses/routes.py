"""The Responses API's routes: POST /v1/responses and its stored responses.

`POST /v1/responses` is answered by the same engine as Chat Completions: the input
items (with the context of `previous_response_id`) become a neutral CompletionRequest,
and the Plan is rendered as a response object or as the typed event stream
(responses/render.py). Answers made with `store: true` (the API's default) are kept in
the database, off the event loop (simulator/state/response_store.py), for `GET`/`DELETE
/v1/responses/{id}`, `/input_items` and later `previous_response_id`.
"""

from __future__ import annotations

import asyncio
import contextlib
from functools import partial
from typing import Any

import orjson
from django.conf import settings

from simulator.engine.tokens import O200K, count_prompt
from simulator.engine.types import Message
from simulator.providers.openai.errors import common_headers, dialect, fault_error, model_not_found, openai_endpoint
from simulator.providers.openai.responses.items import ITEM_TYPES, Conversation, read_items
from simulator.providers.openai.responses.render import answer_of, summary_text
from simulator.providers.openai.responses.request import (
    check_model_limits,
    completion_request,
    context_length_exceeded,
    parse_responses_request,
)
from simulator.providers.openai.validate import invalid_value
from simulator.server.http import (
    JSON_CONTENT_TYPE,
    SSE_HEADERS,
    Call,
    ProviderError,
    compute,
    dump_json,
    query_param,
    quoted,
    send_bytes,
    start_stream,
)
from simulator.server.pipeline import plan_answer, stream_plan, wait_for_reply
from simulator.state import snapshots
from simulator.state.response_store import Record, store


def response_not_found(response_id: str) -> ProviderError:
    """404 for a response id that is not (or no longer) stored."""
    return ProviderError(404, f"No response found with id '{response_id}'.", "not_found")


async def earlier_context(previous_response_id: str) -> list[Message]:
    """The conversation up to and including the earlier response: every input and output
    along its previous_response_id chain (its instructions do not carry over)."""
    chain = await store().chain(previous_response_id) if settings.LLMSIM_RESPONSES_RETAIN > 0 else []
    if not chain:
        raise ProviderError(
            400,
            f"Previous response with id '{previous_response_id}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    context = Conversation()
    for record in chain:
        read_items(orjson.loads(record.input_items), context)
        output = orjson.loads(record.response).get("output") or []
        read_items([item for item in output if item.get("type") in ITEM_TYPES], context)
    return context.messages


def _retrieved(saving: asyncio.Future[None]) -> None:
    """Mark a failed save's exception as seen (the writer has logged it) when nobody awaits it."""
    if not saving.cancelled():
        saving.exception()


async def _until_stored(saving: asyncio.Future[None] | None) -> None:
    if saving is not None:
        with contextlib.suppress(Exception):  # not stored: logged, and the answer goes out anyway
            await saving


@openai_endpoint
async def create_response(call: Call, body: Any) -> None:
    parsed = await compute(call, parse_responses_request, body)
    earlier = await earlier_context(parsed.previous_response_id) if parsed.previous_response_id else []
    request = completion_request(parsed, earlier)
    plan = await plan_answer(
        call, request, dialect(request.model, context_exceeded=context_length_exceeded, check_limits=check_model_limits)
    )
    if plan is None:
        return
    summary = summary_text(request.messages) if parsed.reasoning_summary else ""
    # With logprobs the response can be megabytes of JSON: rendered in a thread.
    writer, final = await compute(call, answer_of, parsed, plan, summary, heavy=request.logprobs)
    saving = None
    if parsed.store and settings.LLMSIM_RESPONSES_RETAIN > 0:
        # Stored while the model "thinks"; committed before the answer is complete, so that
        # the client's next request (previous_response_id) finds it in any process.
        items = dump_json(parsed.input.items).decode()
        saving = store().save(
            Record(writer.response_id, request.model, parsed.previous_response_id or "", items, final.decode())
        )
        saving.add_done_callback(_retrieved)
    if parsed.stream:
        await start_stream(call, [*SSE_HEADERS, *common_headers(call)])
        await _until_stored(saving)
        await stream_plan(call, plan, writer.render, writer.failure)
        return
    if await wait_for_reply(call, plan, partial(fault_error, model=request.model)):
        await _until_stored(saving)
        await send_bytes(call, 200, final, [JSON_CONTENT_TYPE, *common_headers(call)])


@openai_endpoint
async def count_input_tokens(call: Call, body: Any) -> None:
    parsed = await compute(call, parse_responses_request, body, True)
    earlier = await earlier_context(parsed.previous_response_id) if parsed.previous_response_id else []
    request = completion_request(parsed, earlier)
    spec = snapshots.current().model_for(request.model) if request.model else None
    if request.model and spec is None:
        raise model_not_found(request.model)
    call.model = request.model
    tokens = await compute(call, count_prompt, request.messages, request.tools, spec.encoding if spec else O200K)
    body = dump_json({"object": "response.input_tokens", "input_tokens": tokens})
    await send_bytes(call, 200, body, [JSON_CONTENT_TYPE, *common_headers(call)])


async def _stored(response_id: str) -> Record:
    record = await store().get(response_id) if settings.LLMSIM_RESPONSES_RETAIN > 0 else None
    if record is None:
        raise response_not_found(response_id)
    return record


@openai_endpoint
async def retrieve_response(call: Call) -> None:
    if query_param(call, "stream") == "true":
        raise ProviderError(400, "Only responses created with background=true can be streamed again.", param="stream")
    record = await _stored(call.path_params["response_id"])
    call.model = record.model
    await send_bytes(call, 200, record.response.encode(), [JSON_CONTENT_TYPE, *common_headers(call)])


@openai_endpoint
async def delete_response(call: Call) -> None:
    response_id = call.path_params["response_id"]
    if settings.LLMSIM_RESPONSES_RETAIN == 0 or not await store().delete(response_id):
        raise response_not_found(response_id)
    body = dump_json({"id": response_id, "object": "response", "deleted": True})
    await send_bytes(call, 200, body, [JSON_CONTENT_TYPE, *common_headers(call)])


@openai_endpoint
async def cancel_response(call: Call) -> None:
    await _stored(call.path_params["response_id"])
    raise ProviderError(400, "Only responses created with background=true can be cancelled.", param=None)


@openai_endpoint
async def list_input_items(call: Call) -> None:
    record = await _stored(call.path_params["response_id"])
    items = orjson.loads(record.input_items)
    order = query_param(call, "order") or "desc"
    if order not in ("asc", "desc"):
        raise invalid_value("order", order, ("asc", "desc"))
    if order == "desc":
        items.reverse()
    raw_limit = query_param(call, "limit") or "20"
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
        raise ProviderError(
            400,
            f"Invalid 'limit': expected an integer between 1 and 100, but got {quoted(raw_limit)} instead.",
            param="limit",
            code="invalid_value",
        )
    after = query_param(call, "after")
    if after is not None:
        ids = [item.get("id") for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    page = items[: int(raw_limit)]
    body = {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > len(page),
    }
    await send_bytes(call, 200, dump_json(body), [JSON_CONTENT_TYPE, *common_headers(call)])
