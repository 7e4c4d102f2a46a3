"""POST /v1/chat/completions: parse, plan with the engine, answer in JSON or as a stream."""

from __future__ import annotations

import time
from typing import Any

from simulator.engine.ids import new_id
from simulator.providers.openai.chat.render import ChunkWriter, completion_body
from simulator.providers.openai.chat.request import check_model_limits, parse_chat_request
from simulator.providers.openai.errors import common_headers, dialect, fault_error, openai_endpoint, stream_error_event
from simulator.server.http import JSON_CONTENT_TYPE, SSE_HEADERS, Call, compute, send_bytes, start_stream
from simulator.server.pipeline import plan_answer, stream_plan, wait_for_reply


@openai_endpoint
async def chat_completions(call: Call, body: Any) -> None:
    request = await compute(call, parse_chat_request, body)
    model = request.model
    # Which parameter a limit names depends on the body (max_tokens or max_completion_tokens).
    wording = dialect(model, check_limits=lambda request, spec: check_model_limits(body, request, spec))
    plan = await plan_answer(call, request, wording)
    if plan is None:  # an injected error has answered
        return
    completion_id = new_id("chatcmpl-", 96)
    created = int(time.time())
    # Legacy `functions` requests get their call back as `function_call`, not `tool_calls`.
    legacy_functions = body.get("functions") is not None
    if request.stream:
        variant = call.variant
        choice_extra = b"" if variant is None else variant.stream_choice_extra()
        writer = ChunkWriter(completion_id, created, plan, request.include_usage, legacy_functions, choice_extra)
        # A variant's opening chunk (Azure's prompt filter verdicts) goes out with the first token.
        prelude = b"" if variant is None else variant.stream_prelude()
        # Headers go out at once, as from the real API; the first token follows after TTFT.
        await start_stream(call, [*SSE_HEADERS, *common_headers(call)])

        def render(first: int, end: int, last: bool) -> bytes:
            if not last:
                chunks = writer.steps(first, end)
            else:  # an answer with no steps still gets its role and finish chunks
                chunks = writer.steps(first, max(end, first + 1)) + writer.closing()
            return prelude + chunks if first == 0 and prelude else chunks

        await stream_plan(call, plan, render, lambda opening: stream_error_event(fault_error(plan.fault, model)))
    elif await wait_for_reply(call, plan, lambda fault: fault_error(fault, model)):
        # With logprobs the answer can be megabytes of JSON: rendered in a thread.
        answer = await compute(
            call, completion_body, completion_id, created, plan, legacy_functions, call.variant, heavy=request.logprobs
        )
        await send_bytes(call, 200, answer, [JSON_CONTENT_TYPE, *common_headers(call)])
