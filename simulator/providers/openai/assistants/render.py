"""The Assistants API's objects as the SDK's types have them, and a run's thread.* events.

Shapes from OpenAI's API reference ("Assistants", "Threads", "Messages", "Runs", and
the Assistants streaming events the SDK's AssistantEventHandler reads).
"""

from __future__ import annotations

from typing import Any

from simulator.providers.openai.assistants.request import text_content
from simulator.providers.openai.assistants.store import (
    Assistant,
    Run,
    Status,
    Step,
    Thread,
    ThreadMessage,
    answer_message,
)
from simulator.providers.openai.errors import common_headers
from simulator.server.http import JSON_CONTENT_TYPE, Call, Headers, dump_json, send_bytes

TERMINAL = frozenset({"completed", "incomplete", "failed", "cancelled", "expired"})
# A run that waits for anything expires after this long (shown as expires_at).
_EXPIRES_AFTER_S = 600


def assistant_json(assistant: Assistant) -> dict[str, Any]:
    """An assistant object."""
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
    """A thread object."""
    return {
        "id": thread.public_id,
        "object": "thread",
        "created_at": thread.created_at,
        "metadata": thread.metadata,
        "tool_resources": thread.tool_resources,
    }


def message_json(message: ThreadMessage, thread_id: str, status: str = "completed") -> dict[str, Any]:
    """A thread.message object, in `status`."""
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
    """Answer 200 with `obj` as JSON."""
    await send_bytes(call, 200, dump_json(obj), [JSON_CONTENT_TYPE, *common_headers(call), *headers])


def deleted_json(public_id: str, kind: str) -> dict[str, Any]:
    """The answer to a DELETE: `{kind}.deleted`."""
    return {"id": public_id, "object": f"{kind}.deleted", "deleted": True}


def event(name: str, data: dict[str, Any]) -> bytes:
    """One SSE event `name` with `data` as JSON."""
    return b"event: " + name.encode() + b"\ndata: " + dump_json(data) + b"\n\n"


DONE = b"event: done\ndata: [DONE]\n\n"


class RunEventWriter:
    """The thread.* events of a run's step, rendered at the plan's deadlines."""

    def __init__(self, run: Run, step: Step) -> None:
        self._run = run
        self._step = step
        self._thread_id = run.thread.public_id
        self._message = answer_message(run, step)
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
