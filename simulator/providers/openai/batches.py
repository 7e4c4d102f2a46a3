"""OpenAI Batches: create from a .jsonl file, retrieve, cancel and list, at /v1/batches.

Every line of the input file is a request to one endpoint (/v1/chat/completions,
/v1/embeddings or /v1/responses): each is answered when the batch is created, by the
engine and the endpoint's own renderer (simulator/providers/batches.py), and the answers
come out as the batch's timeline says they are done (simulator/engine/batch.py:
validating → in_progress → finalizing → completed, or failed, expired, cancelling →
cancelled). The first read of an ended batch writes its output and error files in
OpenAI's line format: {"id", "custom_id", "response": {"status_code", "request_id",
"body"}, "error"}. A request its endpoint refuses (a 400, an unknown model, a rule's
error) is a line of the error file; a file whose lines are not requests at all (not
JSON, another endpoint, a duplicate custom_id, another model) fails validation, as at
OpenAI, with the lines named in `errors`.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import orjson

from simulator.engine.batch import Progress, progress
from simulator.engine.ids import new_id
from simulator.providers.batches import Answer, BatchLine, answer_lines, batch_settings
from simulator.providers.openai.chat.render import completion_body
from simulator.providers.openai.chat.request import check_model_limits, parse_chat_request
from simulator.providers.openai.embeddings import embeddings_dialect, parse_embeddings_request
from simulator.providers.openai.errors import dialect, error_body, fault_error, openai_endpoint
from simulator.providers.openai.files import get_file, list_json, page_limit, reply
from simulator.providers.openai.responses.render import answer_of, summary_text
from simulator.providers.openai.responses.request import check_model_limits as check_response_limits
from simulator.providers.openai.responses.request import (
    completion_request,
    context_length_exceeded,
    parse_responses_request,
)
from simulator.providers.openai.validate import body_object, invalid_type, missing_parameter
from simulator.server.http import Call, ProviderError, compute, dump_json, query_param, quoted
from simulator.server.pipeline import scenario_for
from simulator.state import snapshots
from simulator.state.batches import (
    Batch,
    UnknownCursor,
    batch_page,
    find_batch,
    mark_cancelled,
    off_loop,
    save,
    settle_files,
)

ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings", "/v1/responses")
MAX_REQUESTS = 50_000
MAX_INPUT_BYTES = 200 * 1024 * 1024
WINDOW_S = 24 * 3600
# Batches of more requests have their lines written in a thread, off the event loop.
_INLINE_LINES = 100
# Errors a failed validation lists at most (the first ones, by line).
_MAX_ERRORS = 100


def batch_not_found(batch_id: str) -> ProviderError:
    return ProviderError(404, f"No batch found with id {quoted(batch_id)}.", "not_found", param="batch_id")


# --- the input file ------------------------------------------------------------------------


def _line_error(code: str, message: str, line: int | None, param: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


def _parse_request(endpoint: str, body: dict[str, Any], created: int) -> BatchLine:
    """A line's body as its endpoint reads it (its ProviderError when the endpoint refuses it)."""
    if endpoint == "/v1/chat/completions":
        request = parse_chat_request(body)
        legacy = body.get("functions") is not None
        return BatchLine(
            "",
            request,
            dialect=dialect(request.model, check_limits=lambda r, spec: check_model_limits(body, r, spec)),
            fault_error=partial(fault_error, model=request.model),
            render=lambda plan: completion_body(new_id("chatcmpl-", 96), created, plan, legacy),
        )
    if endpoint == "/v1/embeddings":
        parsed = parse_embeddings_request(body)
        return BatchLine(
            "",
            parsed.completion_request(),
            dialect=embeddings_dialect(parsed.model),
            fault_error=partial(fault_error, model=parsed.model),
            render=lambda plan: parsed.answer_body(),
            rules=False,
        )
    responses = parse_responses_request(body)
    if responses.previous_response_id:
        raise ProviderError(
            400, "LLMSim answers batch requests without previous_response_id.", param="previous_response_id"
        )
    request = completion_request(responses, [])
    summary = summary_text(request.messages) if responses.reasoning_summary else ""
    return BatchLine(
        "",
        request,
        dialect=dialect(request.model, context_exceeded=context_length_exceeded, check_limits=check_response_limits),
        fault_error=partial(fault_error, model=request.model),
        render=lambda plan: answer_of(responses, plan, summary)[1],
    )


def read_input(content: bytes, endpoint: str, created: int) -> tuple[list[BatchLine], list[dict[str, Any]]]:
    """The input file's requests, and the validation errors that fail the batch (none: it runs)."""
    if len(content) > MAX_INPUT_BYTES:
        return [], [_line_error("file_too_large", f"The input file is larger than {MAX_INPUT_BYTES} bytes.", None)]
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return [], [_line_error("invalid_file_format", "The input file is not UTF-8 text.", None)]
    lines: list[BatchLine] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    model: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        if len(lines) >= MAX_REQUESTS:
            errors.append(_line_error("too_many_tasks", f"A batch takes at most {MAX_REQUESTS} requests.", number))
            break
        try:
            item = orjson.loads(raw)
        except orjson.JSONDecodeError:
            errors.append(_line_error("invalid_json_line", "This line is not parseable as valid JSON.", number))
            continue
        custom_id = item.get("custom_id") if isinstance(item, dict) else None
        body = item.get("body") if isinstance(item, dict) else None
        if not isinstance(custom_id, str) or not custom_id:
            errors.append(_line_error("missing_required_parameter", "Missing custom_id.", number, "custom_id"))
        elif custom_id in seen:
            errors.append(
                _line_error("duplicate_custom_id", f"The custom_id {quoted(custom_id)} is used twice.", number)
            )
        elif item.get("method") != "POST":
            errors.append(_line_error("invalid_method", "The method must be POST.", number, "method"))
        elif item.get("url") != endpoint:
            message = f"The url {quoted(item.get('url'))} does not match the batch's endpoint {endpoint!r}."
            errors.append(_line_error("mismatched_endpoint", message, number, "url"))
        elif not isinstance(body, dict):
            errors.append(_line_error("invalid_request", "The body must be a JSON object.", number, "body"))
        elif model is not None and body.get("model", model) != model:  # a missing model: the endpoint's 400
            errors.append(_line_error("mismatched_model", "Every request of a batch must use the same model.", number))
        else:
            seen.add(custom_id)
            model = body.get("model") if model is None else model
            try:
                line = _parse_request(endpoint, body, created)
            except ProviderError as error:
                line = BatchLine("", refused=error)
            line.custom_id = custom_id
            lines.append(line)
        if len(errors) >= _MAX_ERRORS:
            break
    if not lines and not errors:
        errors.append(_line_error("empty_file", "The input file has no requests.", None))
    return lines, errors


def output_line(custom_id: str, answer: Answer) -> str:
    """One request's line of the output (or error) file."""
    if isinstance(answer, ProviderError):
        status, body = answer.status, error_body(answer)
    else:
        status, body = 200, answer
    response = {"status_code": status, "request_id": new_id("", 128), "body": orjson.Fragment(body)}
    return dump_json(
        {"id": new_id("batch_req_", 96), "custom_id": custom_id, "response": response, "error": None}
    ).decode()


def output_lines(lines: list[BatchLine], answers: list[Answer]) -> str:
    """Every request's line, in order (as the batch stores them)."""
    return "\n".join(output_line(line.custom_id, answer) for line, answer in zip(lines, answers, strict=True))


def _unanswered_line(custom_id: str, code: str, message: str) -> bytes:
    error = {"code": code, "message": message}
    return dump_json({"id": new_id("batch_req_", 96), "custom_id": custom_id, "response": None, "error": error})


# --- the batch object ----------------------------------------------------------------------


def _counts(batch: Batch, state: Progress) -> dict[str, int]:
    total = len(batch.custom_ids)
    failed = sum(1 for index in batch.failed if index < state.done)
    if state.status == "expired":
        failed += total - state.done  # in the error file, as batch_expired
    return {"total": total, "completed": state.done - min(failed, state.done), "failed": failed}


def batch_json(batch: Batch, state: Progress) -> dict[str, Any]:
    """The batch object as of `state`."""

    def at(moment: float | None) -> int | None:
        return None if moment is None else int(moment)

    status = state.status
    ended = at(state.ended_at)
    return {
        "id": batch.public_id,
        "object": "batch",
        "endpoint": batch.endpoint,
        "model": batch.model or None,
        "errors": {"object": "list", "data": batch.errors} if batch.errors else None,
        "input_file_id": batch.input_file_id,
        "completion_window": batch.completion_window,
        "status": status,
        "output_file_id": (batch.output_file_id or None) if state.ended else None,
        "error_file_id": (batch.error_file_id or None) if state.ended else None,
        "created_at": int(batch.created_at),
        "in_progress_at": at(state.in_progress_at),
        "expires_at": int(batch.created_at) + WINDOW_S,
        "finalizing_at": at(state.finalizing_at),
        "completed_at": ended if status == "completed" else None,
        "failed_at": ended if status == "failed" else None,
        "expired_at": ended if status == "expired" else None,
        "cancelling_at": at(batch.cancelled_at) if status in ("cancelling", "cancelled") else None,
        "cancelled_at": ended if status == "cancelled" else None,
        "request_counts": _counts(batch, state),
        "metadata": batch.metadata,
    }


def state_of(batch: Batch) -> Progress:
    return progress(
        batch.created_at, batch.duration_s, len(batch.custom_ids), batch.outcome, batch.cancelled_at, time.time()
    )


def _settled(batch: Batch, state: Progress) -> Batch:
    """The batch, with its output and error files written if it has ended (off the event loop)."""
    if not state.ended or batch.settled:
        return batch
    lines = batch.lines.splitlines()
    failed = set(batch.failed)
    output = [lines[i].encode() for i in range(state.done) if i not in failed]
    errors = [lines[i].encode() for i in range(state.done) if i in failed]
    if state.status in ("expired", "cancelled"):
        code, message = (
            ("batch_expired", "This request could not be executed before the completion window expired.")
            if state.status == "expired"
            else ("batch_cancelled", "This request was not executed because the batch was cancelled.")
        )
        errors += [_unanswered_line(custom_id, code, message) for custom_id in batch.custom_ids[state.done :]]
    join = b"".join
    return settle_files(
        batch, join(line + b"\n" for line in output), join(line + b"\n" for line in errors), int(time.time())
    )


def _get_batch(batch_id: str) -> Batch:
    batch = find_batch(batch_id, "openai")
    if batch is None:
        raise batch_not_found(batch_id)
    return _settled(batch, state_of(batch))


def _cancel(batch_id: str) -> Batch:
    batch = _get_batch(batch_id)
    state = state_of(batch)
    if state.ended:
        raise ProviderError(
            409, f"Cannot cancel a batch with status {state.status!r}.", param="batch_id", code="batch_not_cancellable"
        )
    return batch if batch.cancelled_at is not None else mark_cancelled(batch, time.time())


# --- routes ----------------------------------------------------------------------------------


def _metadata(raw: Any) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or len(raw) > 16:
        raise invalid_type("metadata", "an object of at most 16 string values", raw)
    for key, value in raw.items():
        if not isinstance(value, str) or len(key) > 64 or len(value) > 512:
            raise invalid_type(f"metadata.{key}", "a string of at most 512 characters", value)
    return raw


@openai_endpoint
async def create_batch(call: Call, body: Any) -> None:
    body = body_object(body)
    input_file_id = body.get("input_file_id")
    if not isinstance(input_file_id, str) or not input_file_id:
        raise missing_parameter("input_file_id")
    endpoint = body.get("endpoint")
    if endpoint not in ENDPOINTS:
        raise ProviderError(
            400,
            f"Invalid value for 'endpoint': {quoted(endpoint)}. LLMSim batches: {', '.join(ENDPOINTS)}.",
            param="endpoint",
            code="invalid_value",
        )
    if body.get("completion_window") != "24h":
        raise ProviderError(
            400,
            f"Invalid value for 'completion_window': {quoted(body.get('completion_window'))}. Supported values are: "
            "'24h'.",
            param="completion_window",
            code="invalid_value",
        )
    metadata = _metadata(body.get("metadata"))
    snapshot = snapshots.current()
    scenario = scenario_for(call, snapshot)
    duration_s, outcome = batch_settings(call, scenario)
    source = await off_loop(get_file, input_file_id)
    if source.purpose != "batch":
        raise ProviderError(
            400,
            f"The file {input_file_id} has the purpose {source.purpose!r}; a batch needs 'batch'.",
            param="input_file_id",
        )
    created = time.time()
    lines, errors = await off_loop(read_input, bytes(source.content), endpoint, int(created))
    if outcome == "failed" and not errors:
        errors = [_line_error("simulated_failure", "The batch failed validation (simulated by LLMSim).", None)]
    answers = [] if errors else await answer_lines(call, lines, snapshot, scenario, outcome)
    if errors:
        lines, outcome = [], "failed"
    batch = Batch(
        public_id=new_id("batch_", 96),
        provider="openai",
        endpoint=endpoint,
        input_file_id=input_file_id,
        metadata=metadata,
        model=(lines[0].request.model if lines and lines[0].request else ""),
        created_at=created,
        duration_s=duration_s,
        outcome=outcome,
        custom_ids=[line.custom_id for line in lines],
        lines=await compute(call, output_lines, lines, answers, heavy=len(lines) > _INLINE_LINES),
        failed=[i for i, answer in enumerate(answers) if isinstance(answer, ProviderError)],
        errors=errors or None,
    )
    await off_loop(save, batch)
    state = state_of(batch)
    if state.ended:  # no duration: its files are there at once
        batch = await off_loop(_settled, batch, state)
    await reply(call, batch_json(batch, state))


@openai_endpoint
async def retrieve_batch(call: Call) -> None:
    batch = await off_loop(_get_batch, call.path_params["batch_id"])
    await reply(call, batch_json(batch, state_of(batch)))


@openai_endpoint
async def cancel_batch(call: Call) -> None:
    batch = await off_loop(_cancel, call.path_params["batch_id"])
    await reply(call, batch_json(batch, state_of(batch)))


def _batch_page(after: str | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
    try:
        batches, has_more = batch_page("openai", after, None, limit)
    except UnknownCursor:
        raise ProviderError(400, f"Invalid 'after': no batch with id {quoted(after)}.", param="after") from None
    # An ended batch nobody has read since gets its files now (its answers are read only then).
    return [batch_json(_settled(batch, state_of(batch)), state_of(batch)) for batch in batches], has_more


@openai_endpoint
async def list_batches(call: Call) -> None:
    data, has_more = await off_loop(_batch_page, query_param(call, "after"), page_limit(call, 20, 100))
    await reply(call, list_json(data, has_more))
