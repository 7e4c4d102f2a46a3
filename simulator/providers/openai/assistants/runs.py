"""A run's steps: planned by the engine, stored, and answered queued or as a stream.

A run's answer is planned by the same engine as a chat request when the run is created
(or given its tool outputs): scenarios, rules, rate limits, injected errors, the model's
latency. Its status then follows from the clock (store.settle): in progress until the
plan's duration has passed, then completed (its message written to the thread),
requires_action with the planned tool calls, incomplete, or failed.
"""

from __future__ import annotations

import time
from array import array
from dataclasses import replace
from typing import Any

from simulator.engine.ids import new_id
from simulator.engine.types import CompletionRequest, Message
from simulator.providers.openai.assistants.render import RunEventWriter, event, reply, run_json, thread_json
from simulator.providers.openai.assistants.request import function_tools, neutral_format, neutral_tool_choice
from simulator.providers.openai.assistants.store import Run, RunDraft, Status, Step, off_loop, save_run
from simulator.providers.openai.chat.render import tool_call_id
from simulator.providers.openai.errors import common_headers, dialect
from simulator.server.http import SSE_HEADERS, Call, start_stream, write_stream
from simulator.server.pipeline import plan_answer, stream_plan


def _wall_clock(call: Call) -> float:
    """The request's arrival on the wall clock (the plan's offsets count from call.arrival)."""
    return time.time() - (time.monotonic() - call.arrival)


async def plan_step(
    call: Call,
    model: str,
    instructions: str,
    conversation: list[Message],
    settings: dict[str, Any],
    completion_budget: int | None,
    stream: bool,
) -> Step | None:
    """Plan the run's next answer with the engine; None when an injected error answered the request."""
    tools = function_tools(settings["tools"])
    messages = ([Message("system", instructions)] if instructions else []) + conversation
    request = CompletionRequest(
        model=model,
        messages=tuple(messages),
        tools=tools,
        tool_choice=neutral_tool_choice(settings["tool_choice"], tools),
        parallel_tool_calls=settings["parallel_tool_calls"],
        response_format=neutral_format(settings["response_format"]),
        max_tokens=completion_budget,
        stream=stream,
    )
    plan = await plan_answer(call, request, dialect(model))
    if plan is None:
        return None
    start = _wall_clock(call)
    choice = plan.choices[0]
    fault = plan.fault
    if fault is not None and fault.kind == "error":
        # A run does not break off like a stream: it fails, with what the fault says.
        offsets = plan.offsets_s[: fault.after_tokens]
        message = fault.message or "Sorry, something went wrong."
        code = "rate_limit_exceeded" if fault.status == 429 else "server_error"
        due = start + (offsets[-1] if offsets else plan.ttft_s)
        return Step(plan, start, due, Status.FAILED, last_error={"code": code, "message": message})
    due = start + plan.duration_s
    if choice.tool_calls:
        calls = [{"id": tool_call_id(c), "name": c.name, "arguments": c.arguments} for c in choice.tool_calls]
        return Step(plan, start, due, Status.REQUIRES_ACTION, tool_calls=calls)
    outcome, reason = Status.COMPLETED, ""
    if choice.finish_reason == "length" and completion_budget is not None:
        outcome, reason = Status.INCOMPLETE, "max_completion_tokens"
    return Step(plan, start, due, outcome, choice.text, new_id("msg_", 96), incomplete_reason=reason)


async def stream_step(call: Call, run: Run, step: Step, opening: bytes) -> None:
    """`opening` (the run's first events) at once, the message as its tokens are due, then the step's end."""
    writer = RunEventWriter(run, step)
    plan = step.plan
    if not step.answer_message_id:
        # Nothing streams (tool calls to ask for, a failure): one event when the step ends.
        plan = replace(plan, offsets_s=array("d", [step.due_at - step.started_at]), fault=None)
    await start_stream(call, [*SSE_HEADERS, *common_headers(call)])
    await write_stream(call, opening)
    # A fault here can only be a disconnect: error faults became the run's failure (plan_step).
    await stream_plan(call, plan, writer.render, lambda opening: b"")


async def start_run(call: Call, draft: RunDraft) -> None:
    """Plan the run's first step, store the run, and answer it queued (or stream it)."""
    options = draft.options
    settings = {
        "tools": draft.tools,
        "tool_choice": options.tool_choice,
        "parallel_tool_calls": options.parallel_tool_calls,
        "response_format": options.response_format or draft.assistant.response_format,
    }
    step = await plan_step(
        call,
        draft.model,
        draft.instructions,
        draft.conversation,
        settings,
        options.max_completion_tokens,
        options.stream,
    )
    if step is None:
        return
    run = await off_loop(save_run, draft, settings, step)
    queued = run_json(run, "queued")
    if not options.stream:
        await reply(call, queued)
        return
    opening = [event("thread.created", thread_json(run.thread))] if draft.thread is None else []
    opening += [event("thread.run.created", queued), event("thread.run.queued", queued)]
    opening.append(event("thread.run.in_progress", run_json(run, "in_progress")))
    await stream_step(call, run, step, b"".join(opening))
