"""Anthropic Message Batches: create, retrieve, list, cancel, delete and the JSONL results, at
/v1/messages/batches.

Each request's `params` is a Messages request, answered when the batch is created by the
engine and rendered as a Message (simulator/providers/batches.py), or refused as
/v1/messages would refuse it: an `errored` result. The batch's timeline
(simulator/engine/batch.py) says how many are done: processing_status in_progress,
canceling, ended; requests a cancel or the end of the window left unanswered are
`canceled` or `expired`. Shapes as in Anthropic's API reference ("Message Batches").
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson

from simulator.engine.batch import Progress, progress
from simulator.engine.ids import new_id
from simulator.engine.types import Plan
from simulator.providers.anthropic.errors import (
    DIALECT,
    anthropic_endpoint,
    bad_request,
    common_headers,
    error_json,
    fault_error,
    require_version,
)
from simulator.providers.anthropic.render import message_json
from simulator.providers.anthropic.request import page_limit, parse_messages_request
from simulator.providers.batches import Answer, BatchLine, answer_lines, batch_settings
from simulator.server.http import (
    JSON_CONTENT_TYPE,
    Call,
    ProviderError,
    compute,
    dump_json,
    query_param,
    quoted,
    send_bytes,
)
from simulator.server.pipeline import scenario_for
from simulator.state import snapshots
from simulator.state.batches import (
    Batch,
    UnknownCursor,
    batch_page,
    delete_stored_batch,
    find_batch,
    mark_cancelled,
    off_loop,
    save,
)

MAX_REQUESTS = 100_000
WINDOW_S = 24 * 3600
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def batch_not_found(batch_id: str) -> ProviderError:
    return ProviderError(404, f"No batch found with id {quoted(batch_id)[1:-1]}.", "not_found")


async def reply(call: Call, body: dict[str, Any]) -> None:
    await send_bytes(call, 200, dump_json(body), [JSON_CONTENT_TYPE, *common_headers(call)])


def _rfc3339(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- create --------------------------------------------------------------------------------


def read_requests(body: Any) -> list[BatchLine]:
    """The batch's requests; 400 for what Anthropic refuses at creation (the params are checked per request)."""
    if not isinstance(body, dict):
        raise bad_request("", "Input should be an object")
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise bad_request("requests", "Field required" if requests is None else "Input should be a non-empty list")
    if len(requests) > MAX_REQUESTS:
        raise bad_request("requests", f"List should have at most {MAX_REQUESTS} items")
    lines: list[BatchLine] = []
    seen: set[str] = set()
    for index, item in enumerate(requests):
        where = f"requests.{index}"
        if not isinstance(item, dict):
            raise bad_request(where, "Input should be an object")
        custom_id, params = item.get("custom_id"), item.get("params")
        if not isinstance(custom_id, str) or not _CUSTOM_ID.match(custom_id):
            raise bad_request(f"{where}.custom_id", "String should match pattern '^[a-zA-Z0-9_-]{1,64}$'")
        if custom_id in seen:
            raise bad_request("requests", f"Duplicate custom_id {custom_id!r}: each request needs its own.")
        if not isinstance(params, dict):
            raise bad_request(f"{where}.params", "Field required" if params is None else "Input should be an object")
        seen.add(custom_id)
        try:
            request = parse_messages_request({**params, "stream": False})
        except ProviderError as error:
            lines.append(BatchLine(custom_id, refused=error))
            continue
        render = partial(_message_body, new_id("msg_01", 96))
        lines.append(BatchLine(custom_id, request, dialect=DIALECT, fault_error=fault_error, render=render))
    return lines


def _message_body(message_id: str, plan: Plan) -> bytes:
    return dump_json(message_json(message_id, plan))


def result_line(custom_id: str, answer: Answer) -> str:
    """One request's line of the results: succeeded with its Message, or errored."""
    if isinstance(answer, ProviderError):
        result: dict[str, Any] = {"type": "errored", "error": error_json(answer)}
    else:
        result = {"type": "succeeded", "message": orjson.Fragment(answer)}
    return dump_json({"custom_id": custom_id, "result": result}).decode()


def result_lines(lines: list[BatchLine], answers: list[Answer]) -> str:
    """Every request's result line, in order (as the batch stores them)."""
    return "\n".join(result_line(line.custom_id, answer) for line, answer in zip(lines, answers, strict=True))


@anthropic_endpoint
async def create_batch(call: Call, body: Any) -> None:
    require_version(call)
    lines = await compute(call, read_requests, body, heavy=True)
    snapshot = snapshots.current()
    scenario = scenario_for(call, snapshot)
    duration_s, outcome = batch_settings(call, scenario)
    answers = await answer_lines(call, lines, snapshot, scenario, outcome)
    first = next((line.request for line in lines if line.request is not None), None)
    batch = Batch(
        public_id=new_id("msgbatch_01", 96),
        provider="anthropic",
        model=first.model if first else "",
        created_at=time.time(),
        duration_s=duration_s,
        outcome=outcome,
        custom_ids=[line.custom_id for line in lines],
        lines=await compute(call, result_lines, lines, answers, heavy=True),
        failed=[i for i, answer in enumerate(answers) if isinstance(answer, ProviderError)],
    )
    await off_loop(save, batch)
    await reply(call, batch_json(batch, state_of(batch), _base_url(call)))


# --- the batch object ----------------------------------------------------------------------


def state_of(batch: Batch) -> Progress:
    return progress(
        batch.created_at, batch.duration_s, len(batch.custom_ids), batch.outcome, batch.cancelled_at, time.time()
    )


def _processing_status(state: Progress) -> str:
    if state.ended:
        return "ended"
    return "canceling" if state.status == "cancelling" else "in_progress"


def _unanswered(state: Progress) -> str:
    """What the requests a batch did not answer are: canceled, or expired (the window, or failed validation)."""
    return "canceled" if state.status == "cancelled" else "expired"


def _counts(batch: Batch, state: Progress) -> dict[str, int]:
    total = len(batch.custom_ids)
    errored = sum(1 for index in batch.failed if index < state.done)
    counts = {"processing": 0, "succeeded": state.done - errored, "errored": errored, "canceled": 0, "expired": 0}
    if state.ended:
        counts[_unanswered(state)] += total - state.done
    else:
        counts["processing"] = total - state.done
    return counts


def _base_url(call: Call) -> str:
    host = call.headers.get("host") or "localhost"
    return f"{call.scope.get('scheme', 'http')}://{host}"


def batch_json(batch: Batch, state: Progress, base_url: str) -> dict[str, Any]:
    """The MessageBatch object as of `state`."""
    return {
        "id": batch.public_id,
        "type": "message_batch",
        "processing_status": _processing_status(state),
        "request_counts": _counts(batch, state),
        "ended_at": _rfc3339(state.ended_at),
        "created_at": _rfc3339(batch.created_at),
        "expires_at": _rfc3339(batch.created_at + WINDOW_S),
        "archived_at": None,
        "cancel_initiated_at": _rfc3339(batch.cancelled_at),
        "results_url": f"{base_url}/v1/messages/batches/{batch.public_id}/results" if state.ended else None,
    }


# --- read, cancel, delete --------------------------------------------------------------------


def _get(batch_id: str, with_lines: bool = False) -> Batch:
    batch = find_batch(batch_id, "anthropic", with_lines)
    if batch is None:
        raise batch_not_found(batch_id)
    return batch


def _cancel(batch_id: str) -> Batch:
    batch = _get(batch_id)
    if not state_of(batch).ended and batch.cancelled_at is None:
        return mark_cancelled(batch, time.time())
    return batch


def _delete(batch_id: str) -> None:
    batch = _get(batch_id)
    if not state_of(batch).ended:
        raise bad_request("", f"Batch {batch_id} cannot be deleted while it is processing; cancel it first.")
    delete_stored_batch(batch)


def _results(batch_id: str) -> bytes:
    batch = _get(batch_id, with_lines=True)
    state = state_of(batch)
    if not state.ended:
        raise bad_request("", f"Batch {batch_id} is still processing; its results are ready once it has ended.")
    lines = [line.encode() for line in batch.lines.splitlines()[: state.done]]
    unanswered = {"type": _unanswered(state)}
    lines += [dump_json({"custom_id": custom_id, "result": unanswered}) for custom_id in batch.custom_ids[state.done :]]
    return b"".join(line + b"\n" for line in lines)


@anthropic_endpoint
async def retrieve_batch(call: Call) -> None:
    require_version(call)
    batch = await off_loop(_get, call.path_params["batch_id"])
    await reply(call, batch_json(batch, state_of(batch), _base_url(call)))


@anthropic_endpoint
async def cancel_batch(call: Call) -> None:
    require_version(call)
    batch = await off_loop(_cancel, call.path_params["batch_id"])
    await reply(call, batch_json(batch, state_of(batch), _base_url(call)))


@anthropic_endpoint
async def delete_batch(call: Call) -> None:
    require_version(call)
    batch_id = call.path_params["batch_id"]
    await off_loop(_delete, batch_id)
    await reply(call, {"id": batch_id, "type": "message_batch_deleted"})


@anthropic_endpoint
async def batch_results(call: Call) -> None:
    require_version(call)
    body = await off_loop(_results, call.path_params["batch_id"])
    headers = [(b"content-type", b"application/binary"), *common_headers(call)]
    await send_bytes(call, 200, body, headers)


@anthropic_endpoint
async def list_batches(call: Call) -> None:
    require_version(call)
    limit = page_limit(call)
    after, before = query_param(call, "after_id"), query_param(call, "before_id")
    try:
        items, has_more = await off_loop(batch_page, "anthropic", after, before, limit)
    except UnknownCursor as exc:
        raise batch_not_found(str(exc)) from None
    base_url = _base_url(call)
    data = [batch_json(batch, state_of(batch), base_url) for batch in items]
    body = {
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
    await reply(call, body)
