"""OpenAI Assistants (deprecated, client.beta): assistants, threads, messages and runs.

As far as the SDK's basic run needs it: create/get/list/delete assistants,
create/get/delete threads, create/list/get messages, create (also with a new thread)/
get/list/cancel runs, submit_tool_outputs, and streamed runs with the `thread.*`
events the SDK's AssistantEventHandler reads. See ../shared/wire-format.md §7.

State lives in the database (simulator.models Assistant, Thread, ThreadMessage, Run),
always reached off the event loop (`off_loop`). A run's answer is planned by the same
engine as a chat request when the run is created (scenarios, rules, rate limits,
injected errors, the model's latency) and the run's status then follows from the
clock: queued when created, in progress until the plan's duration has passed, then
completed (its message written to the thread) or requires_action with the planned
tool calls. The first read after that moment writes the outcome down; no background
task has to be alive for a run to finish.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, TypeVar

from django.db import IntegrityError, close_old_connections, transaction

from simulator.engine.types import CompletionRequest, Message, Plan, ToolCall, ToolDefinition
from simulator.models import Assistant, Run, Thread, ThreadMessage
from simulator.providers.openai.chat.render import tool_call_id
from simulator.providers.openai.chat.request import parse_response_format
from simulator.providers.openai.chat.tools import parse_tool_choice
from simulator.providers.openai.errors import common_headers, dialect, model_not_found, openai_endpoint
from simulator.providers.openai.validate import (
    MAX_TOOLS,
    body_object,
    boolean_field,
    function_definition,
    integer_field,
    invalid_type,
    missing_parameter,
    number_field,
    too_long,
)
from simulator.server.http import (
    JSON_CONTENT_TYPE,
    SSE_HEADERS,
    Call,
    Headers,
    ProviderError,
    dump_json,
    new_id,
    query_param,
    quoted,
    send_bytes,
    start_stream,
    write_stream,
)
from simulator.server.pipeline import plan_answer, stream_plan
from simulator.state import snapshots
from simulator.state.assistants_retention import assistants_retention

T = TypeVar("T")
Status = Run.Status

# --- the database, off the event loop ---------------------------------------------------

_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="llmsim-assistants")


def _in_thread(work: Callable[..., T], *args: Any) -> T:
    close_old_connections()  # as Django does per request: no connection outlives its welcome
    return work(*args)


async def off_loop(work: Callable[..., T], *args: Any) -> T:
    """Run ORM work in the Assistants thread pool; the event loop goes on with other streams."""
    return await asyncio.get_running_loop().run_in_executor(_pool, partial(_in_thread, work, *args))


# --- JSON as the SDK types have it ------------------------------------------------------

TERMINAL = frozenset({"completed", "incomplete", "failed", "cancelled", "expired"})
# A run that waits for anything expires after this long (shown as expires_at).
_EXPIRES_AFTER_S = 600
# A streamed run's last event leaves at the step's deadline: a client that reads the
# run right after it must find it done, whatever the few microseconds between clocks.
_CLOCK_SLACK_S = 0.01


def text_content(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"value": text, "annotations": []}}]


def assistant_json(assistant: Assistant) -> dict[str, Any]:
    return {
        "id": assistant.public_id,
        "object": "assistant",
        "created_at": assistant.created_at,
        "name": assistant.name,
        "description": assistant.description,
        "model": assistant.model,
        "instructions": assistant.instructions,
        "tools": assistant.tools,
        "tool_resources": assistant.tool_resources,
        "metadata": assistant.metadata,
        "temperature": 1.0 if assistant.temperature is None else assistant.temperature,
        "top_p": 1.0 if assistant.top_p is None else assistant.top_p,
        "response_format": assistant.response_format or "auto",
        "reasoning_effort": None,
    }


def thread_json(thread: Thread) -> dict[str, Any]:
    return {
        "id": thread.public_id,
        "object": "thread",
        "created_at": thread.created_at,
        "metadata": thread.metadata,
        "tool_resources": thread.tool_resources,
    }


def message_json(message: ThreadMessage, thread_id: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": message.public_id,
        "object": "thread.message",
        "created_at": message.created_at,
        "thread_id": thread_id,
        "role": message.role,
        "content": message.content,
        "assistant_id": message.assistant_id,
        "run_id": message.run_id,
        "attachments": message.attachments,
        "metadata": message.metadata,
        "status": status,
        "completed_at": message.created_at if message.role == "assistant" and status == "completed" else None,
        "incomplete_at": None,
        "incomplete_details": None,
    }


def status_of(run: Run, now: float) -> str:
    """What the run's status is at `now` (a step under way is queued, then in progress)."""
    if run.status != Status.IN_PROGRESS:
        return run.status
    return "queued" if now < run.started_at else "in_progress"


def run_json(run: Run, status: str, ended_at: int | None = None) -> dict[str, Any]:
    """The run as the SDK's Run type has it, in `status` (ended_at: when a streamed step ends)."""
    terminal = status in TERMINAL
    ended_at = (ended_at or run.ended_at) if terminal else None
    required_action = None
    if status == "requires_action":
        calls = [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in run.tool_calls
        ]
        required_action = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}}
    usage = None
    if terminal:
        total = run.prompt_tokens + run.completion_tokens
        usage = {"prompt_tokens": run.prompt_tokens, "completion_tokens": run.completion_tokens, "total_tokens": total}
    return {
        "id": run.public_id,
        "object": "thread.run",
        "created_at": run.created_at,
        "assistant_id": run.assistant_id,
        "thread_id": run.thread.public_id,
        "status": status,
        "started_at": None if status == "queued" else int(run.started_at),
        "expires_at": None if terminal else run.created_at + _EXPIRES_AFTER_S,
        "cancelled_at": ended_at if status == "cancelled" else None,
        "failed_at": ended_at if status == "failed" else None,
        "completed_at": ended_at if status in ("completed", "incomplete") else None,
        "required_action": required_action,
        "last_error": run.last_error if status == "failed" else None,
        "incomplete_details": {"reason": run.incomplete_reason} if status == "incomplete" else None,
        "model": run.model,
        "instructions": run.instructions,
        "tools": run.tools,
        "metadata": run.metadata,
        "usage": usage,
        "temperature": 1.0 if run.temperature is None else run.temperature,
        "top_p": 1.0 if run.top_p is None else run.top_p,
        "max_prompt_tokens": run.max_prompt_tokens,
        "max_completion_tokens": run.max_completion_tokens,
        "truncation_strategy": run.truncation_strategy or {"type": "auto", "last_messages": None},
        "response_format": run.response_format or "auto",
        "tool_choice": run.tool_choice or "auto",
        "parallel_tool_calls": run.parallel_tool_calls,
        "reasoning_effort": None,
    }


async def reply(call: Call, obj: dict[str, Any], headers: Headers = ()) -> None:
    await send_bytes(call, 200, dump_json(obj), [JSON_CONTENT_TYPE, *common_headers(call), *headers])


def deleted_json(public_id: str, kind: str) -> dict[str, Any]:
    return {"id": public_id, "object": f"{kind}.deleted", "deleted": True}


# --- request validation -----------------------------------------------------------------

_BUILT_IN_TOOLS = ("code_interpreter", "file_search")


def _string(body: dict[str, Any], key: str, limit: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_type(key, "a string", value)
    if len(value) > limit:
        raise too_long(key, limit, len(value), "string")
    return value


def _metadata(body: dict[str, Any], key: str = "metadata") -> dict[str, str]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_type(key, "an object", value)
    if len(value) > 16:
        raise ProviderError(
            400,
            f"Invalid '{key}': too many properties. Expected at most 16 properties.",
            param=key,
            code="invalid_value",
        )
    for name, item in value.items():
        if len(name) > 64:
            raise too_long(f"{key}.{name}", 64, len(name), "string")
        if not isinstance(item, str):
            raise invalid_type(f"{key}.{name}", "a string", item)
        if len(item) > 512:
            raise too_long(f"{key}.{name}", 512, len(item), "string")
    return value


def _tools(body: dict[str, Any], key: str = "tools") -> list[dict[str, Any]] | None:
    """Tools as stored and shown: function definitions checked as for chat, built-in tools kept."""
    raw = body.get(key)
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise invalid_type(key, "an array", raw)
    if len(raw) > MAX_TOOLS:
        raise too_long(key, MAX_TOOLS, len(raw))
    tools = []
    for i, tool in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(tool, dict):
            raise invalid_type(where, "an object", tool)
        kind = tool.get("type")
        if kind in _BUILT_IN_TOOLS:
            tools.append({"type": kind})
            continue
        if kind != "function":
            raise ProviderError(
                400,
                f"Invalid value: {quoted(kind)}. "
                "Supported values are: 'code_interpreter', 'file_search', and 'function'.",
                param=f"{where}.type",
                code="invalid_value",
            )
        if tool.get("function") is None:
            raise missing_parameter(f"{where}.function")
        definition = function_definition(tool["function"], f"{where}.function")
        function = {
            "name": definition.name,
            "description": definition.description,
            "parameters": definition.parameters or {"type": "object", "properties": {}},
            "strict": definition.strict,
        }
        tools.append({"type": "function", "function": function})
    return tools


def function_tools(tools: list[dict[str, Any]]) -> tuple[ToolDefinition, ...]:
    """The functions the model may call (built-in tools are accepted, never called)."""
    return tuple(
        function_definition(tool["function"], f"tools[{i}].function")
        for i, tool in enumerate(tools)
        if tool.get("type") == "function"
    )


def _response_format(body: dict[str, Any]) -> Any:
    raw = body.get("response_format")
    if raw is None or raw == "auto":
        return None
    neutral_format(raw)  # refuses what chat refuses
    return raw


def neutral_format(raw: Any) -> dict[str, Any] | None:
    """A stored response_format in the engine's terms."""
    if raw is None or raw == "auto":
        return None
    if isinstance(raw, dict) and raw.get("type") == "json_object":
        return {"type": "json_object"}  # no "json"-in-the-messages rule for threads
    return parse_response_format(raw, ())


def neutral_tool_choice(raw: Any, tools: tuple[ToolDefinition, ...]) -> Any:
    if raw is None or (isinstance(raw, dict) and raw.get("type") in _BUILT_IN_TOOLS):
        return None
    if not tools and raw in ("auto", "none"):
        return None
    return parse_tool_choice(raw, tools)


_CONTENT_PARTS = ("text", "image_url", "image_file")
# OpenAI's limits on what one request may put in a thread.
MAX_NEW_MESSAGES = 32
MAX_MESSAGE_CHARS = 256_000


def content_blocks(raw: Any, param: str) -> list[dict[str, Any]]:
    """A message's content as the thread shows it: a string, or text and image parts."""
    if isinstance(raw, str):
        if not raw:
            raise ProviderError(
                400,
                f"Invalid '{param}': string too short. Expected a string with minimum length 1, but got an empty "
                "string instead.",
                param=param,
                code="string_below_min_length",
            )
        if len(raw) > MAX_MESSAGE_CHARS:
            raise too_long(param, MAX_MESSAGE_CHARS, len(raw), "string")
        return text_content(raw)
    if not isinstance(raw, list):
        raise invalid_type(param, "a string or an array", raw)
    if not raw:
        raise ProviderError(400, f"Invalid '{param}': empty array.", param=param, code="empty_array")
    blocks = []
    for i, part in enumerate(raw):
        where = f"{param}[{i}]"
        if not isinstance(part, dict):
            raise invalid_type(where, "an object", part)
        kind = part.get("type")
        if kind not in _CONTENT_PARTS:
            raise ProviderError(
                400,
                f"Invalid value: {quoted(kind)}. Supported values are: 'text', 'image_url', and 'image_file'.",
                param=f"{where}.type",
                code="invalid_value",
            )
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise invalid_type(f"{where}.text", "a string", text)
            if len(text) > MAX_MESSAGE_CHARS:
                raise too_long(f"{where}.text", MAX_MESSAGE_CHARS, len(text), "string")
            blocks.extend(text_content(text))
        else:
            if not isinstance(part.get(kind), dict):
                raise missing_parameter(f"{where}.{kind}")
            blocks.append({"type": kind, kind: part[kind]})
    return blocks


def text_of(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(block["text"]["value"] for block in blocks if block.get("type") == "text")


@dataclass(frozen=True, slots=True)
class NewMessage:
    role: str
    content: list[dict[str, Any]]
    attachments: list[Any]
    metadata: dict[str, str]


def parse_message(raw: Any, param: str) -> NewMessage:
    if not isinstance(raw, dict):
        raise invalid_type(param, "an object", raw)
    where = f"{param}." if param else ""
    role = raw.get("role")
    if role is None:
        raise missing_parameter(f"{where}role")
    if role not in ("user", "assistant"):
        raise ProviderError(
            400,
            f"Invalid value: {quoted(role)}. Supported values are: 'user' and 'assistant'.",
            param=f"{where}role",
            code="invalid_value",
        )
    if raw.get("content") is None:
        raise missing_parameter(f"{where}content")
    attachments = raw.get("attachments") or []
    if not isinstance(attachments, list):
        raise invalid_type(f"{where}attachments", "an array", attachments)
    return NewMessage(
        role, content_blocks(raw["content"], f"{where}content"), attachments, _metadata(raw, f"{where}metadata")
    )


def parse_messages(raw: Any, param: str) -> list[NewMessage]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid_type(param, "an array", raw)
    if len(raw) > MAX_NEW_MESSAGES:
        raise too_long(param, MAX_NEW_MESSAGES, len(raw))
    return [parse_message(item, f"{param}[{i}]") for i, item in enumerate(raw)]


def _model(body: dict[str, Any], required: bool) -> str | None:
    model = body.get("model")
    if model is None:
        if required:
            raise missing_parameter("model")
        return None
    if not isinstance(model, str) or not model:
        raise invalid_type("model", "a string", model)
    if snapshots.current().model_for(model) is None:
        raise model_not_found(model, param="model")
    return model


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What a run-creating request asks for; None: the assistant's."""

    assistant_id: str
    model: str | None
    instructions: str | None
    additional_instructions: str | None
    additional_messages: list[NewMessage]
    tools: list[dict[str, Any]] | None
    tool_choice: Any
    parallel_tool_calls: bool
    response_format: Any
    metadata: dict[str, str]
    temperature: float | None
    top_p: float | None
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: Any
    stream: bool


def parse_run_options(body: dict[str, Any], thread_messages_key: str | None = None) -> RunOptions:
    assistant_id = body.get("assistant_id")
    if assistant_id is None:
        raise missing_parameter("assistant_id")
    if not isinstance(assistant_id, str):
        raise invalid_type("assistant_id", "a string", assistant_id)
    # tool_choice is checked when the run is planned, against the tools it runs with.
    tools = _tools(body)
    truncation = body.get("truncation_strategy")
    if truncation is not None and not isinstance(truncation, dict):
        raise invalid_type("truncation_strategy", "an object", truncation)
    return RunOptions(
        assistant_id=assistant_id,
        model=_model(body, required=False),
        instructions=_string(body, "instructions", 256_000),
        additional_instructions=_string(body, "additional_instructions", 256_000),
        additional_messages=parse_messages(body.get("additional_messages"), "additional_messages"),
        tools=tools,
        tool_choice=body.get("tool_choice"),
        parallel_tool_calls=boolean_field(body, "parallel_tool_calls") is not False,
        response_format=_response_format(body),
        metadata=_metadata(body),
        temperature=number_field(body, "temperature", 0, 2),
        top_p=number_field(body, "top_p", 0, 1),
        max_prompt_tokens=integer_field(body, "max_prompt_tokens", 256),
        max_completion_tokens=integer_field(body, "max_completion_tokens", 1),
        truncation_strategy=truncation,
        stream=bool(boolean_field(body, "stream")),
    )


# --- reading and settling runs (in the thread pool) ------------------------------------------


def _not_found(kind: str, public_id: str) -> ProviderError:
    return ProviderError(404, f"No {kind} found with id '{public_id}'.", "not_found")


def _thread(public_id: str) -> Thread:
    try:
        return Thread.objects.get(public_id=public_id)
    except Thread.DoesNotExist:
        raise _not_found("thread", public_id) from None


def _assistant(public_id: str) -> Assistant:
    try:
        return Assistant.objects.get(public_id=public_id)
    except Assistant.DoesNotExist:
        raise _not_found("assistant", public_id) from None


def _run(thread_id: str, run_id: str) -> Run:
    thread = _thread(thread_id)
    try:
        run = Run.objects.select_related("thread").get(public_id=run_id, thread=thread)
    except Run.DoesNotExist:
        raise _not_found("run", run_id) from None
    return settle(run, time.time())


def _reload(run: Run) -> Run:
    # Not refresh_from_db(): it forgets the thread, which every rendering of a run needs.
    return Run.objects.select_related("thread").get(pk=run.pk)


def settle(run: Run, now: float) -> Run:
    """Write down the end of the run's step once its time has come (the first reader does it)."""
    if run.status != Status.IN_PROGRESS or now + _CLOCK_SLACK_S < run.due_at:
        return run
    with transaction.atomic():
        # Conditional: of two readers settling at once, one writes; a step planned since is not touched.
        won = Run.objects.filter(pk=run.pk, status=Status.IN_PROGRESS, due_at=run.due_at).update(
            status=run.outcome, ended_at=None if run.outcome == Status.REQUIRES_ACTION else int(run.due_at)
        )
        if won and run.answer_message_id:
            answer = ThreadMessage.objects.create(
                public_id=run.answer_message_id,
                thread_id=run.thread_id,
                created_at=int(run.due_at),
                role="assistant",
                content=text_content(run.answer_text),
                assistant_id=run.assistant_id,
                run_id=run.public_id,
            )
            assistants_retention().wrote(answer)
    return _reload(run)


def _settle_thread(thread: Thread, now: float) -> Run | None:
    """Settle the thread's runs that are due; the one still active (at most one), if any."""
    active = None
    for run in Run.objects.select_related("thread").filter(
        thread=thread, status__in=(Status.IN_PROGRESS, Status.REQUIRES_ACTION)
    ):
        run = settle(run, now)
        if run.status in (Status.IN_PROGRESS, Status.REQUIRES_ACTION):
            active = run
    return active


def _conversation(thread: Thread | None, new_messages: list[NewMessage]) -> list[Message]:
    stored = [] if thread is None else [Message(m.role, text_of(m.content)) for m in thread.messages.order_by("pk")]
    return stored + [Message(m.role, text_of(m.content)) for m in new_messages]


def _add_messages(thread: Thread, messages: list[NewMessage], created_at: int) -> list[ThreadMessage]:
    rows = [
        ThreadMessage.objects.create(
            public_id=new_id("msg_", 96),
            thread=thread,
            created_at=created_at,
            role=m.role,
            content=m.content,
            attachments=m.attachments,
            metadata=m.metadata,
        )
        for m in messages
    ]
    assistants_retention().wrote(*rows)
    return rows


# --- planning a run's step ------------------------------------------------------------------


@dataclass
class RunDraft:
    """Everything a new run needs before it is planned: settings, conversation, pending writes."""

    options: RunOptions
    assistant: Assistant
    thread: Thread | None  # None: create-and-run makes one
    new_thread: dict[str, Any] = field(default_factory=dict)
    new_messages: list[NewMessage] = field(default_factory=list)
    conversation: list[Message] = field(default_factory=list)

    @property
    def model(self) -> str:
        return self.options.model or self.assistant.model

    @property
    def instructions(self) -> str:
        base = self.options.instructions if self.options.instructions is not None else self.assistant.instructions
        extra = self.options.additional_instructions
        return "\n\n".join(part for part in (base, extra) if part)

    @property
    def tools(self) -> list[dict[str, Any]]:
        return self.options.tools if self.options.tools is not None else self.assistant.tools


@dataclass(frozen=True, slots=True)
class Step:
    """A planned step of a run: when it ends, with what, and what it writes."""

    plan: Plan
    started_at: float
    due_at: float
    outcome: str
    answer_text: str = ""
    answer_message_id: str = ""
    tool_calls: list[dict[str, str]] = field(default_factory=list)
    last_error: dict[str, str] | None = None
    incomplete_reason: str = ""


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


def _step_fields(step: Step) -> dict[str, Any]:
    return {
        "status": Status.IN_PROGRESS,
        "started_at": step.started_at,
        "due_at": step.due_at,
        "outcome": step.outcome,
        "answer_text": step.answer_text,
        "answer_message_id": step.answer_message_id,
        "tool_calls": step.tool_calls,
        "last_error": step.last_error,
        "incomplete_reason": step.incomplete_reason,
    }


# --- streaming ---------------------------------------------------------------------------


def event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + dump_json(data) + b"\n\n"


DONE = b"event: done\ndata: [DONE]\n\n"


class RunEventWriter:
    """The thread.* events of a run's step, rendered at the plan's deadlines."""

    def __init__(self, run: Run, step: Step) -> None:
        self._run = run
        self._step = step
        self._thread_id = run.thread.public_id
        self._message = ThreadMessage(
            public_id=step.answer_message_id,
            created_at=int(step.started_at + step.plan.ttft_s),
            role="assistant",
            content=[],
            assistant_id=run.assistant_id,
            run_id=run.public_id,
            attachments=[],
            metadata={},
        )
        self._pieces = step.plan.choices[0].pieces if step.answer_message_id else ()
        self._delta_head = b'{"id":' + dump_json(step.answer_message_id) + b',"object":"thread.message.delta",'

    def _opening(self) -> bytes:
        opening = message_json(self._message, self._thread_id, status="in_progress")
        return event("thread.message.created", opening) + event("thread.message.in_progress", opening)

    def _delta(self, index: int) -> bytes:
        text: dict[str, Any] = {"value": self._pieces[index]}
        if index == 0:
            text["annotations"] = []
        data = self._delta_head + b'"delta":{"content":[' + dump_json({"index": 0, "type": "text", "text": text})
        return b"event: thread.message.delta\ndata: " + data + b"]}}\n\n"

    def render(self, first: int, end: int, last: bool) -> bytes:
        """Steps first..end-1 (the message is created with its first token); with `last`, the end."""
        out = [self._opening()] if first == 0 and end > 0 and self._pieces else []
        out.extend(self._delta(index) for index in range(first, min(end, len(self._pieces))))
        if last:
            out.append(self._closing())
        return b"".join(out)

    def _closing(self) -> bytes:
        """The message completed, the run's new status (what a read will find), then done."""
        step = self._step
        out = []
        if step.answer_message_id:
            if not self._pieces:
                out.append(self._opening())
            self._message.content = text_content(step.answer_text)
            out.append(event("thread.message.completed", message_json(self._message, self._thread_id)))
        ended_at = None if step.outcome == Status.REQUIRES_ACTION else int(step.due_at)
        out.append(event(f"thread.run.{step.outcome}", run_json(self._run, step.outcome, ended_at)))
        out.append(DONE)
        return b"".join(out)


async def stream_step(call: Call, run: Run, step: Step, opening: bytes) -> None:
    """`opening` (the run's first events) at once, the message as its tokens are due, then the step's end."""
    writer = RunEventWriter(run, step)
    plan = step.plan
    if not step.answer_message_id:
        # Nothing streams (tool calls to ask for, a failure): one event when the step ends.
        plan = replace(plan, offsets_s=(step.due_at - step.started_at,), fault=None)
    await start_stream(call, [*SSE_HEADERS, *common_headers(call)])
    await write_stream(call, opening)
    # A fault here can only be a disconnect: error faults became the run's failure (plan_step).
    await stream_plan(call, plan, writer.render, lambda opening: b"")


# --- lists ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int
    descending: bool
    after: str | None
    before: str | None


def page_request(call: Call) -> PageRequest:
    """limit (1 to 100, default 20), order (desc by default, as OpenAI), after and before cursors."""
    raw_limit = query_param(call, "limit")
    limit = 20
    if raw_limit is not None:
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
            raise ProviderError(
                400,
                f"Invalid 'limit': expected an integer from 1 to 100, but got {quoted(raw_limit)} instead.",
                param="limit",
                code="invalid_value",
            )
        limit = int(raw_limit)
    order = query_param(call, "order") or "desc"
    if order not in ("asc", "desc"):
        raise ProviderError(
            400,
            f"Invalid value: {quoted(order)}. Supported values are: 'asc' and 'desc'.",
            param="order",
            code="invalid_value",
        )
    return PageRequest(limit, order == "desc", query_param(call, "after"), query_param(call, "before"))


def _page(rows: Any, page: PageRequest, render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """One page of a cursor list: {"object": "list", "data", "first_id", "last_id", "has_more"}."""

    def cursor(public_id: str, param: str) -> int:
        row = rows.filter(public_id=public_id).first()
        if row is None:
            raise ProviderError(
                400,
                f"Invalid '{param}': no object with id '{public_id}' in this list.",
                param=param,
                code="invalid_value",
            )
        return row.pk

    later, earlier = ("pk__lt", "pk__gt") if page.descending else ("pk__gt", "pk__lt")
    if page.after:
        rows = rows.filter(**{later: cursor(page.after, "after")})
    if page.before:
        rows = rows.filter(**{earlier: cursor(page.before, "before")})
    if page.before and not page.after:
        # The page just before the cursor: nearest first, then in the list's order.
        items = list(rows.order_by("pk" if page.descending else "-pk")[: page.limit + 1])
        has_more, items = len(items) > page.limit, items[: page.limit][::-1]
    else:
        items = list(rows.order_by("-pk" if page.descending else "pk")[: page.limit + 1])
        has_more, items = len(items) > page.limit, items[: page.limit]
    data = [render(item) for item in items]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


# --- assistants ---------------------------------------------------------------------------


@openai_endpoint
async def create_assistant(call: Call, body: Any) -> None:
    body = body_object(body)
    tool_resources = body.get("tool_resources") or {}
    if not isinstance(tool_resources, dict):
        raise invalid_type("tool_resources", "an object", tool_resources)
    fields = {
        "model": _model(body, required=True),
        "name": _string(body, "name", 256),
        "description": _string(body, "description", 512),
        "instructions": _string(body, "instructions", 256_000),
        "tools": _tools(body) or [],
        "tool_resources": tool_resources,
        "metadata": _metadata(body),
        "temperature": number_field(body, "temperature", 0, 2),
        "top_p": number_field(body, "top_p", 0, 1),
        "response_format": _response_format(body),
    }

    def create() -> Assistant:
        assistant = Assistant.objects.create(public_id=new_id("asst_", 96), created_at=int(time.time()), **fields)
        assistants_retention().wrote(assistant)
        return assistant

    await reply(call, assistant_json(await off_loop(create)))


@openai_endpoint
async def list_assistants(call: Call) -> None:
    page = page_request(call)
    await reply(call, await off_loop(lambda: _page(Assistant.objects.all(), page, assistant_json)))


@openai_endpoint
async def retrieve_assistant(call: Call) -> None:
    await reply(call, assistant_json(await off_loop(_assistant, call.path_params["assistant_id"])))


@openai_endpoint
async def delete_assistant(call: Call) -> None:
    public_id = call.path_params["assistant_id"]

    def delete() -> None:
        if not Assistant.objects.filter(public_id=public_id).delete()[0]:
            raise _not_found("assistant", public_id)

    await off_loop(delete)
    await reply(call, deleted_json(public_id, "assistant"))


# --- threads and messages -------------------------------------------------------------------


def _thread_fields(body: dict[str, Any], where: str = "") -> dict[str, Any]:
    tool_resources = body.get("tool_resources") or {}
    if not isinstance(tool_resources, dict):
        raise invalid_type(f"{where}tool_resources", "an object", tool_resources)
    return {"metadata": _metadata(body, f"{where}metadata"), "tool_resources": tool_resources}


def _new_thread(fields: dict[str, Any], messages: list[NewMessage]) -> Thread:
    now = int(time.time())
    thread = Thread.objects.create(public_id=new_id("thread_", 96), created_at=now, **fields)
    assistants_retention().wrote(thread)
    _add_messages(thread, messages, now)
    return thread


@openai_endpoint
async def create_thread(call: Call, body: Any) -> None:
    body = body_object(body)
    messages = parse_messages(body.get("messages"), "messages")
    fields = _thread_fields(body)
    thread = await off_loop(transaction.atomic()(_new_thread), fields, messages)
    await reply(call, thread_json(thread))


@openai_endpoint
async def retrieve_thread(call: Call) -> None:
    await reply(call, thread_json(await off_loop(_thread, call.path_params["thread_id"])))


@openai_endpoint
async def delete_thread(call: Call) -> None:
    public_id = call.path_params["thread_id"]

    def delete() -> None:
        if not Thread.objects.filter(public_id=public_id).delete()[0]:
            raise _not_found("thread", public_id)

    await off_loop(delete)
    await reply(call, deleted_json(public_id, "thread"))


def _active_run(thread: Thread, run: Run) -> ProviderError:
    return ProviderError(400, f"Thread {thread.public_id} already has an active run {run.public_id}.")


@openai_endpoint
async def create_message(call: Call, body: Any) -> None:
    message = parse_message(body_object(body), "")
    thread_id = call.path_params["thread_id"]

    def create() -> ThreadMessage:
        thread = _thread(thread_id)
        active = _settle_thread(thread, time.time())
        if active is not None:
            raise ProviderError(400, f"Can't add messages to {thread_id} while a run {active.public_id} is active.")
        try:
            return _add_messages(thread, [message], int(time.time()))[0]
        except IntegrityError:  # its foreign key: the thread was deleted or pruned since it was read
            raise _not_found("thread", thread_id) from None

    await reply(call, message_json(await off_loop(create), thread_id))


@openai_endpoint
async def list_messages(call: Call) -> None:
    page = page_request(call)
    thread_id = call.path_params["thread_id"]
    run_id = query_param(call, "run_id")

    def listing() -> dict[str, Any]:
        thread = _thread(thread_id)
        _settle_thread(thread, time.time())  # a run that has finished by now has written its message
        rows = thread.messages.all() if run_id is None else thread.messages.filter(run_id=run_id)
        return _page(rows, page, lambda message: message_json(message, thread_id))

    await reply(call, await off_loop(listing))


@openai_endpoint
async def retrieve_message(call: Call) -> None:
    thread_id, message_id = call.path_params["thread_id"], call.path_params["message_id"]

    def retrieve() -> ThreadMessage:
        message = ThreadMessage.objects.filter(thread=_thread(thread_id), public_id=message_id).first()
        if message is None:
            raise _not_found("message", message_id)
        return message

    await reply(call, message_json(await off_loop(retrieve), thread_id))


# --- runs -------------------------------------------------------------------------------------


def _draft_run(thread_id: str, options: RunOptions) -> RunDraft:
    thread = _thread(thread_id)
    assistant = _assistant(options.assistant_id)
    active = _settle_thread(thread, time.time())
    if active is not None:
        raise _active_run(thread, active)
    conversation = _conversation(thread, options.additional_messages)
    return RunDraft(options, assistant, thread, new_messages=options.additional_messages, conversation=conversation)


def _save_run(draft: RunDraft, settings: dict[str, Any], step: Step) -> Run:
    """The new run (and its new thread and messages) in one transaction."""
    try:
        return _insert_run(draft, settings, step)
    except IntegrityError:  # its foreign key: the thread was deleted or pruned since the run was drafted
        if draft.thread is None:
            raise
        raise _not_found("thread", draft.thread.public_id) from None


@transaction.atomic
def _insert_run(draft: RunDraft, settings: dict[str, Any], step: Step) -> Run:
    options, assistant = draft.options, draft.assistant
    thread = draft.thread
    if thread is None:
        thread = _new_thread(draft.new_thread, draft.new_messages)
    else:
        active = _settle_thread(thread, time.time())  # another run may have started meanwhile
        if active is not None:
            raise _active_run(thread, active)
        _add_messages(thread, draft.new_messages, int(step.started_at))
    run = Run.objects.create(
        public_id=new_id("run_", 96),
        thread=thread,
        assistant_id=assistant.public_id,
        created_at=int(step.started_at),
        model=draft.model,
        instructions=draft.instructions,
        metadata=options.metadata,
        temperature=options.temperature if options.temperature is not None else assistant.temperature,
        top_p=options.top_p if options.top_p is not None else assistant.top_p,
        max_prompt_tokens=options.max_prompt_tokens,
        max_completion_tokens=options.max_completion_tokens,
        truncation_strategy=options.truncation_strategy,
        prompt_tokens=step.plan.usage.prompt_tokens,
        completion_tokens=step.plan.usage.completion_tokens,
        **settings,
        **_step_fields(step),
    )
    assistants_retention().wrote(run)
    return run


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
    run = await off_loop(_save_run, draft, settings, step)
    queued = run_json(run, "queued")
    if not options.stream:
        await reply(call, queued)
        return
    opening = [event("thread.created", thread_json(run.thread))] if draft.thread is None else []
    opening += [event("thread.run.created", queued), event("thread.run.queued", queued)]
    opening.append(event("thread.run.in_progress", run_json(run, "in_progress")))
    await stream_step(call, run, step, b"".join(opening))


@openai_endpoint
async def create_run(call: Call, body: Any) -> None:
    options = parse_run_options(body_object(body))
    await start_run(call, await off_loop(_draft_run, call.path_params["thread_id"], options))


@openai_endpoint
async def create_thread_and_run(call: Call, body: Any) -> None:
    body = body_object(body)
    options = parse_run_options(body)
    thread = body.get("thread")
    thread = {} if thread is None else thread
    if not isinstance(thread, dict):
        raise invalid_type("thread", "an object", thread)
    messages = parse_messages(thread.get("messages"), "thread.messages")
    fields = _thread_fields(thread, "thread.")

    def draft() -> RunDraft:
        assistant = _assistant(options.assistant_id)
        return RunDraft(options, assistant, None, fields, messages, _conversation(None, messages))

    await start_run(call, await off_loop(draft))


@openai_endpoint
async def retrieve_run(call: Call) -> None:
    run = await off_loop(_run, call.path_params["thread_id"], call.path_params["run_id"])
    now = time.time()
    status = status_of(run, now)
    headers: Headers = []
    if status in ("queued", "in_progress"):
        # The SDK's poll helpers wait this long before asking again: until the step is due.
        wait_ms = min(1000, max(1, math.ceil((run.due_at - now) * 1000)))
        headers.append((b"openai-poll-after-ms", str(wait_ms).encode()))
    await reply(call, run_json(run, status), headers)


@openai_endpoint
async def list_runs(call: Call) -> None:
    page = page_request(call)
    thread_id = call.path_params["thread_id"]

    def listing() -> dict[str, Any]:
        thread = _thread(thread_id)
        now = time.time()
        _settle_thread(thread, now)
        return _page(thread.runs.select_related("thread"), page, lambda run: run_json(run, status_of(run, now)))

    await reply(call, await off_loop(listing))


@openai_endpoint
async def cancel_run(call: Call) -> None:
    thread_id, run_id = call.path_params["thread_id"], call.path_params["run_id"]

    def cancel() -> Run:
        run = _run(thread_id, run_id)
        active = Run.objects.filter(pk=run.pk, status=run.status, due_at=run.due_at).exclude(
            status__in=(Status.COMPLETED, Status.INCOMPLETE, Status.FAILED, Status.CANCELLED)
        )
        if not active.update(status=Status.CANCELLED, ended_at=int(time.time())):
            raise ProviderError(400, f"Cannot cancel run with status '{_reload(run).status}'.")
        return _reload(run)

    # OpenAI answers "cancelling"; the next read finds the run cancelled.
    await reply(call, run_json(await off_loop(cancel), "cancelling"))


def _tool_outputs(body: dict[str, Any]) -> list[dict[str, str]]:
    raw = body.get("tool_outputs")
    if raw is None:
        raise missing_parameter("tool_outputs")
    if not isinstance(raw, list):
        raise invalid_type("tool_outputs", "an array", raw)
    outputs = []
    for i, item in enumerate(raw):
        where = f"tool_outputs[{i}]"
        if not isinstance(item, dict):
            raise invalid_type(where, "an object", item)
        call_id, output = item.get("tool_call_id"), item.get("output", "")
        if not isinstance(call_id, str):
            raise missing_parameter(f"{where}.tool_call_id")
        if not isinstance(output, str):
            raise invalid_type(f"{where}.output", "a string", output)
        outputs.append({"tool_call_id": call_id, "output": output})
    return outputs


def _tool_turns(rounds: list[dict[str, Any]]) -> list[Message]:
    """Earlier steps' tool calls and their outputs, as the conversation's assistant and tool turns."""
    turns = []
    for round_ in rounds:
        calls = tuple(ToolCall(c["id"], c["name"], c["arguments"]) for c in round_["calls"])
        turns.append(Message("assistant", "", tool_calls=calls))
        turns.extend(Message("tool", o["output"], tool_call_id=o["tool_call_id"]) for o in round_["outputs"])
    return turns


def _no_tool_outputs(run: Run) -> ProviderError:
    return ProviderError(400, f'Runs in status "{status_of(run, time.time())}" do not accept tool outputs.')


@openai_endpoint
async def submit_tool_outputs(call: Call, body: Any) -> None:
    body = body_object(body)
    outputs = _tool_outputs(body)
    stream = bool(boolean_field(body, "stream"))
    thread_id, run_id = call.path_params["thread_id"], call.path_params["run_id"]

    def draft() -> tuple[Run, list[dict[str, Any]], list[Message]]:
        run = _run(thread_id, run_id)
        if run.status != Status.REQUIRES_ACTION:
            raise _no_tool_outputs(run)
        expected = [c["id"] for c in run.tool_calls]
        given = [o["tool_call_id"] for o in outputs]
        if sorted(expected) != sorted(given):
            raise ProviderError(
                400, f"Expected tool outputs for call_ids {expected}, got {given}.", param="tool_outputs"
            )
        rounds = [*run.tool_rounds, {"calls": run.tool_calls, "outputs": outputs}]
        return run, rounds, _conversation(run.thread, []) + _tool_turns(rounds)

    run, rounds, conversation = await off_loop(draft)
    settings = {
        "tools": run.tools,
        "tool_choice": run.tool_choice,
        "parallel_tool_calls": run.parallel_tool_calls,
        "response_format": run.response_format,
    }
    budget = None if run.max_completion_tokens is None else max(1, run.max_completion_tokens - run.completion_tokens)
    step = await plan_step(call, run.model, run.instructions, conversation, settings, budget, stream)
    if step is None:
        return

    def save() -> Run:
        usage = step.plan.usage
        changed = Run.objects.filter(pk=run.pk, status=Status.REQUIRES_ACTION).update(
            tool_rounds=rounds,
            prompt_tokens=run.prompt_tokens + usage.prompt_tokens,
            completion_tokens=run.completion_tokens + usage.completion_tokens,
            **_step_fields(step),
        )
        if not changed:  # cancelled, or another submission won
            raise _no_tool_outputs(_reload(run))
        saved = _reload(run)
        saved.save(update_fields=["size"])  # the tool outputs made it bigger
        assistants_retention().wrote(saved)
        return saved

    saved = await off_loop(save)
    queued = run_json(saved, "queued")
    if not stream:
        await reply(call, queued)
        return
    opening = event("thread.run.queued", queued) + event("thread.run.in_progress", run_json(saved, "in_progress"))
    await stream_step(call, saved, step, opening)
