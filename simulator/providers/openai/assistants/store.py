"""The Assistants API's state in the database: the one module of the API that reads and writes it.

Assistants, threads, their messages and runs are rows of simulator.models (Assistant,
Thread, ThreadMessage, Run; the other modules take these types, and Status, from here),
always reached off the event loop: `off_loop` runs the functions here in a small thread
pool. A run's step ends by the clock: `settle` writes its outcome down the first time
anyone reads the run after it is due, so no background task has to be alive for a run
to finish. Every row written is reported to the retention bookkeeping
(simulator/state/assistants_retention.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from django.db import IntegrityError, close_old_connections, transaction

from simulator.engine.ids import new_id
from simulator.engine.types import Message, Plan, ToolCall
from simulator.models import Assistant, Run, Thread, ThreadMessage
from simulator.providers.openai.assistants.request import NewMessage, PageRequest, RunOptions, text_content, text_of
from simulator.server.http import ProviderError
from simulator.state.assistants_retention import assistants_retention

T = TypeVar("T")
Status = Run.Status

# A streamed run's last event leaves at the step's deadline: a client that reads the
# run right after it must find it done, whatever the few microseconds between clocks.
_CLOCK_SLACK_S = 0.01

_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="llmsim-assistants")


def _in_thread(work: Callable[..., T], *args: Any) -> T:
    close_old_connections()  # as Django does per request: no connection outlives its welcome
    return work(*args)


async def off_loop(work: Callable[..., T], *args: Any) -> T:
    """Run ORM work in the Assistants thread pool; the event loop goes on with other streams."""
    return await asyncio.get_running_loop().run_in_executor(_pool, partial(_in_thread, work, *args))


# --- what a run is made of ----------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class ToolOutputsDraft:
    """A run that waits for tool outputs, with them: every round so far and the conversation to plan from."""

    run: Run
    rounds: list[dict[str, Any]]
    conversation: list[Message]


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


def answer_message(run: Run, step: Step) -> ThreadMessage:
    """The message the step will write when it settles (unsaved): what its stream shows meanwhile."""
    return ThreadMessage(
        public_id=step.answer_message_id,
        created_at=int(step.started_at + step.plan.ttft_s),
        role="assistant",
        content=[],
        assistant_id=run.assistant_id,
        run_id=run.public_id,
        attachments=[],
        metadata={},
    )


def status_of(run: Run, now: float) -> str:
    """What the run's status is at `now` (a step under way is queued, then in progress)."""
    if run.status != Status.IN_PROGRESS:
        return run.status
    return "queued" if now < run.started_at else "in_progress"


# --- reading and settling -----------------------------------------------------------------


def _not_found(kind: str, public_id: str) -> ProviderError:
    return ProviderError(404, f"No {kind} found with id '{public_id}'.", "not_found")


def _active_run(thread: Thread, run: Run) -> ProviderError:
    return ProviderError(400, f"Thread {thread.public_id} already has an active run {run.public_id}.")


def _no_tool_outputs(run: Run) -> ProviderError:
    return ProviderError(400, f'Runs in status "{status_of(run, time.time())}" do not accept tool outputs.')


def get_thread(public_id: str) -> Thread:
    """The thread `public_id`, or 404."""
    try:
        return Thread.objects.get(public_id=public_id)
    except Thread.DoesNotExist:
        raise _not_found("thread", public_id) from None


def get_assistant(public_id: str) -> Assistant:
    """The assistant `public_id`, or 404."""
    try:
        return Assistant.objects.get(public_id=public_id)
    except Assistant.DoesNotExist:
        raise _not_found("assistant", public_id) from None


def get_run(thread_id: str, run_id: str) -> Run:
    """The run `run_id` of the thread, settled, or 404."""
    thread = get_thread(thread_id)
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


def create_assistant(fields: dict[str, Any]) -> Assistant:
    """A new assistant with these columns."""
    assistant = Assistant.objects.create(public_id=new_id("asst_", 96), created_at=int(time.time()), **fields)
    assistants_retention().wrote(assistant)
    return assistant


def assistant_page(page: PageRequest, render: Callable[[Assistant], dict[str, Any]]) -> dict[str, Any]:
    """A page of the assistants, each rendered by `render`."""
    return _page(Assistant.objects.all(), page, render)


def delete_assistant(public_id: str) -> None:
    """Delete the assistant `public_id`, or 404."""
    if not Assistant.objects.filter(public_id=public_id).delete()[0]:
        raise _not_found("assistant", public_id)


# --- threads and messages -----------------------------------------------------------------


def _new_thread(fields: dict[str, Any], messages: list[NewMessage]) -> Thread:
    now = int(time.time())
    thread = Thread.objects.create(public_id=new_id("thread_", 96), created_at=now, **fields)
    assistants_retention().wrote(thread)
    _add_messages(thread, messages, now)
    return thread


@transaction.atomic
def create_thread(fields: dict[str, Any], messages: list[NewMessage]) -> Thread:
    """A new thread with these columns and its first messages."""
    return _new_thread(fields, messages)


def delete_thread(public_id: str) -> None:
    """Delete the thread `public_id` (its messages and runs with it), or 404."""
    if not Thread.objects.filter(public_id=public_id).delete()[0]:
        raise _not_found("thread", public_id)


def add_message(thread_id: str, message: NewMessage) -> ThreadMessage:
    """`message`, added to the thread; 400 while a run of the thread is active."""
    thread = get_thread(thread_id)
    active = _settle_thread(thread, time.time())
    if active is not None:
        raise ProviderError(400, f"Can't add messages to {thread_id} while a run {active.public_id} is active.")
    try:
        return _add_messages(thread, [message], int(time.time()))[0]
    except IntegrityError:  # its foreign key: the thread was deleted or pruned since it was read
        raise _not_found("thread", thread_id) from None


def message_page(
    thread_id: str, run_id: str | None, page: PageRequest, render: Callable[[ThreadMessage], dict[str, Any]]
) -> dict[str, Any]:
    """A page of the thread's messages (those of the run `run_id`, when given)."""
    thread = get_thread(thread_id)
    _settle_thread(thread, time.time())  # a run that has finished by now has written its message
    rows = thread.messages.all() if run_id is None else thread.messages.filter(run_id=run_id)
    return _page(rows, page, render)


def get_message(thread_id: str, message_id: str) -> ThreadMessage:
    """The message `message_id` of the thread, or 404."""
    message = ThreadMessage.objects.filter(thread=get_thread(thread_id), public_id=message_id).first()
    if message is None:
        raise _not_found("message", message_id)
    return message


# --- runs ---------------------------------------------------------------------------------


def draft_run(thread_id: str, options: RunOptions) -> RunDraft:
    """A run of the thread, ready to plan; 400 while another run of the thread is active."""
    thread = get_thread(thread_id)
    assistant = get_assistant(options.assistant_id)
    active = _settle_thread(thread, time.time())
    if active is not None:
        raise _active_run(thread, active)
    conversation = _conversation(thread, options.additional_messages)
    return RunDraft(options, assistant, thread, new_messages=options.additional_messages, conversation=conversation)


def draft_thread_and_run(options: RunOptions, fields: dict[str, Any], messages: list[NewMessage]) -> RunDraft:
    """A run of a thread yet to be created (with these columns and messages), ready to plan."""
    assistant = get_assistant(options.assistant_id)
    return RunDraft(options, assistant, None, fields, messages, _conversation(None, messages))


def save_run(draft: RunDraft, settings: dict[str, Any], step: Step) -> Run:
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


def run_page(thread_id: str, page: PageRequest, render: Callable[[Run, str], dict[str, Any]]) -> dict[str, Any]:
    """A page of the thread's runs, settled, each rendered by `render(run, its status now)`."""
    thread = get_thread(thread_id)
    now = time.time()
    _settle_thread(thread, now)
    return _page(thread.runs.select_related("thread"), page, lambda run: render(run, status_of(run, now)))


def cancel_run(thread_id: str, run_id: str) -> Run:
    """The run, cancelled; 400 when it has ended already."""
    run = get_run(thread_id, run_id)
    active = Run.objects.filter(pk=run.pk, status=run.status, due_at=run.due_at).exclude(
        status__in=(Status.COMPLETED, Status.INCOMPLETE, Status.FAILED, Status.CANCELLED)
    )
    if not active.update(status=Status.CANCELLED, ended_at=int(time.time())):
        raise ProviderError(400, f"Cannot cancel run with status '{_reload(run).status}'.")
    return _reload(run)


def _tool_turns(rounds: list[dict[str, Any]]) -> list[Message]:
    """Earlier steps' tool calls and their outputs, as the conversation's assistant and tool turns."""
    turns = []
    for round_ in rounds:
        calls = tuple(ToolCall(c["id"], c["name"], c["arguments"]) for c in round_["calls"])
        turns.append(Message("assistant", "", tool_calls=calls))
        turns.extend(Message("tool", o["output"], tool_call_id=o["tool_call_id"]) for o in round_["outputs"])
    return turns


def draft_tool_outputs(thread_id: str, run_id: str, outputs: list[dict[str, str]]) -> ToolOutputsDraft:
    """The run that waits for these outputs, ready to plan its next step; 400 when it waits for none or others."""
    run = get_run(thread_id, run_id)
    if run.status != Status.REQUIRES_ACTION:
        raise _no_tool_outputs(run)
    expected = [c["id"] for c in run.tool_calls]
    given = [o["tool_call_id"] for o in outputs]
    if sorted(expected) != sorted(given):
        raise ProviderError(400, f"Expected tool outputs for call_ids {expected}, got {given}.", param="tool_outputs")
    rounds = [*run.tool_rounds, {"calls": run.tool_calls, "outputs": outputs}]
    return ToolOutputsDraft(run, rounds, _conversation(run.thread, []) + _tool_turns(rounds))


def save_tool_outputs(draft: ToolOutputsDraft, step: Step) -> Run:
    """The run with its tool outputs and next step; 400 when it was cancelled or another submission won."""
    run = draft.run
    usage = step.plan.usage
    changed = Run.objects.filter(pk=run.pk, status=Status.REQUIRES_ACTION).update(
        tool_rounds=draft.rounds,
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
