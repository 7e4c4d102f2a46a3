"""OpenAI Assistants (deprecated, client.beta): the routes of assistants, threads, messages and runs.

As far as the SDK's basic run needs it: create/get/list/delete assistants,
create/get/delete threads, create/list/get messages, create (also with a new thread)/
get/list/cancel runs, submit_tool_outputs, and streamed runs with the `thread.*`
events the SDK's AssistantEventHandler reads (OpenAI's API reference, "Assistants").

The bodies are read by request.py, the state kept by store.py (the database, off the
event loop), the answers rendered by render.py; a run's steps are planned and
streamed by runs.py.
"""

from __future__ import annotations

import math
import time
from functools import partial
from typing import Any

from simulator.providers.openai.assistants import store
from simulator.providers.openai.assistants.render import (
    assistant_json,
    deleted_json,
    event,
    message_json,
    reply,
    run_json,
    thread_json,
)
from simulator.providers.openai.assistants.request import (
    assistant_fields,
    page_request,
    parse_message,
    parse_messages,
    parse_run_options,
    parse_tool_outputs,
    thread_fields,
)
from simulator.providers.openai.assistants.runs import plan_step, start_run, stream_step
from simulator.providers.openai.errors import openai_endpoint
from simulator.providers.openai.validate import body_object, boolean_field, invalid_type
from simulator.server.http import Call, Headers, query_param

# --- assistants ---------------------------------------------------------------------------


@openai_endpoint
async def create_assistant(call: Call, body: Any) -> None:
    fields = assistant_fields(body)
    await reply(call, assistant_json(await store.off_loop(store.create_assistant, fields)))


@openai_endpoint
async def list_assistants(call: Call) -> None:
    page = page_request(call)
    await reply(call, await store.off_loop(store.assistant_page, page, assistant_json))


@openai_endpoint
async def retrieve_assistant(call: Call) -> None:
    await reply(call, assistant_json(await store.off_loop(store.get_assistant, call.path_params["assistant_id"])))


@openai_endpoint
async def delete_assistant(call: Call) -> None:
    public_id = call.path_params["assistant_id"]
    await store.off_loop(store.delete_assistant, public_id)
    await reply(call, deleted_json(public_id, "assistant"))


# --- threads and messages -------------------------------------------------------------------


@openai_endpoint
async def create_thread(call: Call, body: Any) -> None:
    body = body_object(body)
    messages = parse_messages(body.get("messages"), "messages")
    fields = thread_fields(body)
    thread = await store.off_loop(store.create_thread, fields, messages)
    await reply(call, thread_json(thread))


@openai_endpoint
async def retrieve_thread(call: Call) -> None:
    await reply(call, thread_json(await store.off_loop(store.get_thread, call.path_params["thread_id"])))


@openai_endpoint
async def delete_thread(call: Call) -> None:
    public_id = call.path_params["thread_id"]
    await store.off_loop(store.delete_thread, public_id)
    await reply(call, deleted_json(public_id, "thread"))


@openai_endpoint
async def create_message(call: Call, body: Any) -> None:
    message = parse_message(body_object(body), "")
    thread_id = call.path_params["thread_id"]
    await reply(call, message_json(await store.off_loop(store.add_message, thread_id, message), thread_id))


@openai_endpoint
async def list_messages(call: Call) -> None:
    page = page_request(call)
    thread_id = call.path_params["thread_id"]
    run_id = query_param(call, "run_id")
    render = partial(message_json, thread_id=thread_id)
    await reply(call, await store.off_loop(store.message_page, thread_id, run_id, page, render))


@openai_endpoint
async def retrieve_message(call: Call) -> None:
    thread_id, message_id = call.path_params["thread_id"], call.path_params["message_id"]
    await reply(call, message_json(await store.off_loop(store.get_message, thread_id, message_id), thread_id))


# --- runs -------------------------------------------------------------------------------------


@openai_endpoint
async def create_run(call: Call, body: Any) -> None:
    options = parse_run_options(body_object(body))
    await start_run(call, await store.off_loop(store.draft_run, call.path_params["thread_id"], options))


@openai_endpoint
async def create_thread_and_run(call: Call, body: Any) -> None:
    body = body_object(body)
    options = parse_run_options(body)
    thread = body.get("thread")
    thread = {} if thread is None else thread
    if not isinstance(thread, dict):
        raise invalid_type("thread", "an object", thread)
    messages = parse_messages(thread.get("messages"), "thread.messages")
    fields = thread_fields(thread, "thread.")
    await start_run(call, await store.off_loop(store.draft_thread_and_run, options, fields, messages))


@openai_endpoint
async def retrieve_run(call: Call) -> None:
    run = await store.off_loop(store.get_run, call.path_params["thread_id"], call.path_params["run_id"])
    now = time.time()
    status = store.status_of(run, now)
    headers: Headers = []
    if status in ("queued", "in_progress"):
        # The SDK's poll helpers wait this long before asking again: until the step is due.
        wait_ms = min(1000, max(1, math.ceil((run.due_at - now) * 1000)))
        headers.append((b"openai-poll-after-ms", str(wait_ms).encode()))
    await reply(call, run_json(run, status), headers)


@openai_endpoint
async def list_runs(call: Call) -> None:
    page = page_request(call)
    await reply(call, await store.off_loop(store.run_page, call.path_params["thread_id"], page, run_json))


@openai_endpoint
async def cancel_run(call: Call) -> None:
    cancelled = await store.off_loop(store.cancel_run, call.path_params["thread_id"], call.path_params["run_id"])
    # OpenAI answers "cancelling"; the next read finds the run cancelled.
    await reply(call, run_json(cancelled, "cancelling"))


@openai_endpoint
async def submit_tool_outputs(call: Call, body: Any) -> None:
    body = body_object(body)
    outputs = parse_tool_outputs(body)
    stream = bool(boolean_field(body, "stream"))
    thread_id, run_id = call.path_params["thread_id"], call.path_params["run_id"]
    draft = await store.off_loop(store.draft_tool_outputs, thread_id, run_id, outputs)
    run = draft.run
    settings = {
        "tools": run.tools,
        "tool_choice": run.tool_choice,
        "parallel_tool_calls": run.parallel_tool_calls,
        "response_format": run.response_format,
    }
    budget = None if run.max_completion_tokens is None else max(1, run.max_completion_tokens - run.completion_tokens)
    step = await plan_step(call, run.model, run.instructions, draft.conversation, settings, budget, stream)
    if step is None:
        return
    saved = await store.off_loop(store.save_tool_outputs, draft, step)
    queued = run_json(saved, "queued")
    if not stream:
        await reply(call, queued)
        return
    opening = event("thread.run.queued", queued) + event("thread.run.in_progress", run_json(saved, "in_progress"))
    await stream_step(call, saved, step, opening)
