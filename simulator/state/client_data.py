"""The rows clients' requests create, not scenario data: stored Responses API answers and
the Assistants API's assistants, threads, messages and runs. Their tables are kept within
a number of rows and of bytes (simulator/state/retention.py); `size` is a row's share.

Models of the `simulator` app (simulator/models.py imports them): their tables and
migrations are the app's.
"""

from __future__ import annotations

import json

from django.db import models
from django.utils import timezone


def stored_size(row: models.Model) -> int:
    """The bytes a row's text and JSON fields take as stored (JSON as Django writes it)."""
    size = 0
    for field in row._meta.concrete_fields:
        value = getattr(row, field.attname)
        if value is None:
            continue
        if isinstance(field, models.JSONField):
            size += len(json.dumps(value, cls=field.encoder))
        elif isinstance(value, str):
            size += len(value.encode())
        elif isinstance(value, bytes | memoryview):
            size += len(value)
    return size


class ClientData(models.Model):
    """A row that clients' requests create (not scenario data). The tables of these are kept
    within a number of rows and of bytes (simulator/state/retention.py): `size` is the row's share."""

    size = models.PositiveIntegerField(
        default=0, editable=False, help_text="Bytes of its text and JSON fields as stored; retention counts them."
    )

    class Meta:
        abstract = True
        # Retention adds up the newest rows' sizes: this index answers that without
        # reading the rows themselves (in SQLite, a large row's tail is a chain of pages).
        indexes = [models.Index(fields=["id", "size"], name="%(app_label)s_%(class)s_size")]

    def save(self, *args, **kwargs) -> None:
        self.size = stored_size(self)
        super().save(*args, **kwargs)


class StoredResponse(ClientData):
    """A Responses API answer created with `store: true`, for GET /v1/responses/{id}, its
    input items and `previous_response_id`. Written off the event loop (simulator/
    response_store.py) and pruned to the newest LLMSIM_RESPONSES_RETAIN rows within
    LLMSIM_RESPONSES_RETAIN_BYTES; not scenario data, so saving one never bumps the
    snapshot version."""

    response_id = models.CharField("response id", max_length=64, unique=True, help_text="resp_…, as clients see it.")
    created = models.DateTimeField(default=timezone.now)
    model = models.CharField(max_length=200)
    previous_response_id = models.CharField(
        max_length=64, blank=True, help_text="The response this one continues; its context was this one's too."
    )
    input_items = models.TextField(help_text="The request's input items as JSON, each with its id.")
    response = models.TextField(help_text="The response object as JSON, exactly as it was answered.")

    class Meta(ClientData.Meta):
        verbose_name = "stored response"

    def __str__(self) -> str:
        return self.response_id


# --- Assistants API (simulator/providers/openai/assistants/store.py) ------------------
# What clients of the deprecated Assistants API create through it: assistants, threads,
# their messages and runs. Not scenario data (signals.WATCHED leaves them out, so
# writing them never rebuilds the snapshot); read and written off the event loop, and
# pruned oldest first (simulator/state/assistants_retention.py).
# Each row has the id clients see (asst_…, thread_…, msg_…, run_…) next to an
# auto-increment key that orders lists the way they were created.


class Assistant(ClientData):
    public_id = models.CharField("id", max_length=64, unique=True, help_text="asst_…, as clients see it.")
    created_at = models.BigIntegerField(help_text="Unix seconds.")
    model = models.CharField(max_length=200)
    name = models.CharField(max_length=256, null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    instructions = models.TextField(null=True, blank=True)
    tools = models.JSONField(default=list, blank=True, help_text="As the client sent them.")
    tool_resources = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    temperature = models.FloatField(null=True, blank=True)
    top_p = models.FloatField(null=True, blank=True)
    response_format = models.JSONField(null=True, blank=True, help_text='Empty: "auto".')

    def __str__(self) -> str:
        return self.public_id


class Thread(ClientData):
    public_id = models.CharField("id", max_length=64, unique=True, help_text="thread_…, as clients see it.")
    created_at = models.BigIntegerField(help_text="Unix seconds.")
    metadata = models.JSONField(default=dict, blank=True)
    tool_resources = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.public_id


class ThreadMessage(ClientData):
    public_id = models.CharField("id", max_length=64, unique=True, help_text="msg_…, as clients see it.")
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    created_at = models.BigIntegerField(help_text="Unix seconds.")
    role = models.CharField(max_length=20, help_text="user or assistant.")
    content = models.JSONField(help_text="The content blocks as clients see them (text, image_url, image_file).")
    assistant_id = models.CharField(max_length=64, null=True, blank=True)
    run_id = models.CharField(max_length=64, null=True, blank=True, help_text="The run that wrote it, if one did.")
    attachments = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta(ClientData.Meta):
        verbose_name = "thread message"

    def __str__(self) -> str:
        return self.public_id


class Run(ClientData):
    """A run of an assistant on a thread. Its status follows from the clock: a step
    planned at `started_at` ends at `due_at` with `outcome`, which the first read after
    that writes down (the answer's message too)."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"  # queued or in progress: see started_at / due_at
        REQUIRES_ACTION = "requires_action"
        COMPLETED = "completed"
        INCOMPLETE = "incomplete"
        FAILED = "failed"
        CANCELLED = "cancelled"

    public_id = models.CharField("id", max_length=64, unique=True, help_text="run_…, as clients see it.")
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="runs")
    assistant_id = models.CharField(max_length=64)
    created_at = models.BigIntegerField(help_text="Unix seconds.")
    model = models.CharField(max_length=200)
    instructions = models.TextField(blank=True)
    tools = models.JSONField(default=list, blank=True)
    tool_choice = models.JSONField(null=True, blank=True)
    parallel_tool_calls = models.BooleanField(default=True)
    response_format = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    temperature = models.FloatField(null=True, blank=True)
    top_p = models.FloatField(null=True, blank=True)
    max_prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    max_completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    truncation_strategy = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.IN_PROGRESS)
    # The step under way (status in_progress): when it started and ends (Unix seconds,
    # fractional), what it ends with, and what it writes.
    started_at = models.FloatField()
    due_at = models.FloatField()
    outcome = models.CharField(max_length=20, choices=Status.choices)
    answer_text = models.TextField(blank=True, help_text="The assistant message the step writes.")
    answer_message_id = models.CharField(max_length=64, blank=True)
    tool_calls = models.JSONField(default=list, blank=True, help_text="Calls the step asks for: id, name, arguments.")
    # Earlier steps' tool calls and the outputs submitted for them, in order.
    tool_rounds = models.JSONField(default=list, blank=True)
    last_error = models.JSONField(null=True, blank=True)
    incomplete_reason = models.CharField(max_length=40, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0, help_text="Over every step, the current one included.")
    completion_tokens = models.PositiveIntegerField(default=0)
    ended_at = models.BigIntegerField(null=True, blank=True, help_text="Completed, failed or cancelled at.")

    def __str__(self) -> str:
        return self.public_id
