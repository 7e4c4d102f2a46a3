"""The recordings a replay scenario answers with: imported from cassettes, read into the snapshot.

`llmsim import --cassettes DIR --scenario NAME` (import_cassettes) makes or replaces a
scenario and one Recording per cassette, with the request's match keys for each
strictness (simulator.recording.matching). The snapshot builder (replays_by_scenario)
reads them once per snapshot into a ReplayBook per scenario: the request path looks
recordings up in memory, never in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson
from django.db import models, transaction

from simulator.recording import cassettes, matching
from simulator.recording.replay import RecordedAnswer, Replay


class Recording(models.Model):
    """One recorded exchange (a cassette) that its replay scenario answers matching requests with."""

    scenario = models.ForeignKey("simulator.Scenario", on_delete=models.CASCADE, related_name="recordings")
    source = models.CharField(max_length=255, help_text="The cassette file it was imported from.")
    recorded_at = models.CharField(max_length=40, blank=True)
    provider = models.CharField(max_length=20)
    method = models.CharField(max_length=10, default="POST")
    path = models.CharField(max_length=500)
    model = models.CharField(max_length=200, blank=True)
    stream = models.BooleanField(default=False)
    key_body = models.CharField(max_length=64, db_index=True)
    key_messages = models.CharField(max_length=64, db_index=True)
    key_last_user = models.CharField(max_length=64, db_index=True)
    last_user_text = models.TextField(blank=True, help_text="Shown when a request matches no recording.")
    request = models.JSONField(default=dict, help_text="The recorded request, anonymised.")
    status = models.PositiveSmallIntegerField(default=200)
    response_headers = models.JSONField(default=dict)
    duration_ms = models.FloatField(default=0.0)
    complete = models.BooleanField(default=True, help_text="False: the upstream dropped the connection mid-answer.")
    body = models.TextField(blank=True, help_text="A whole answer, as it was sent.")
    chunks = models.JSONField(null=True, blank=True, help_text="A streamed answer: [at_ms, text] pairs.")

    class Meta:
        ordering = ["scenario", "id"]

    def __str__(self) -> str:
        return f"{self.source} ({self.provider} {self.model or self.path})"


@dataclass(frozen=True)
class Imported:
    scenario: str
    recordings: int
    skipped: tuple[str, ...]  # cassettes that are not generation requests, with the reason

    def describe(self) -> str:
        text = f"scenario {self.scenario!r}: {self.recordings} recording(s)"
        if self.skipped:
            text += f"; skipped {len(self.skipped)}: " + "; ".join(self.skipped[:5])
        return text


def import_cassettes(
    directory: Path,
    scenario_name: str,
    match: str = matching.DEFAULT_STRICTNESS,
    speed: float = 1.0,
    unmatched: str = "generate",
    redact: tuple[str, ...] = (),
    using: str = "default",
) -> Imported:
    """Make (or remake) the scenario from every cassette in `directory`, in one transaction."""
    from simulator.models import Scenario

    rows, skipped = [], []
    for path, exchange in cassettes.read_directory(directory):
        if not isinstance(exchange.request.body, dict):
            skipped.append(f"{path.name}: the request has no JSON body")
            continue
        rows.append(_recording_of(path.name, exchange))
    if not rows:
        raise cassettes.CassetteError(f"{directory}: no cassette with a JSON request to import")
    with transaction.atomic(using=using):
        scenario, _ = Scenario.objects.using(using).update_or_create(
            name=scenario_name,
            defaults={
                "replay_match": match,
                "replay_speed": speed,
                "replay_unmatched": unmatched,
                "replay_redact": "\n".join(redact),
                "description": f"Replays the {len(rows)} recording(s) imported from {directory}.",
            },
        )
        Recording.objects.using(using).filter(scenario=scenario).delete()
        for row in rows:
            row.scenario = scenario
        Recording.objects.using(using).bulk_create(rows)
        # bulk_create sends no post_save: tell the running servers to reload.
        scenario.save(using=using, update_fields=["description"])
    return Imported(scenario_name, len(rows), tuple(skipped))


def _recording_of(source: str, exchange: cassettes.Exchange) -> Recording:
    request, response = exchange.request, exchange.response
    keys = matching.exchange_keys(exchange)
    if response.chunks is not None:
        body, chunks = "", [[chunk.at_ms, chunk.text] for chunk in response.chunks]
    elif response.body_text is not None:
        body, chunks = response.body_text, None
    else:
        body, chunks = orjson.dumps(response.body).decode() if response.body is not None else "", None
    conversation = matching.conversation_of(exchange.provider, request.body)
    return Recording(
        source=source,
        recorded_at=exchange.recorded_at,
        provider=exchange.provider,
        method=request.method,
        path=request.path,
        model=cassettes.model_of(exchange),
        stream=matching.is_stream(exchange.provider, request.path, request.body),
        key_body=keys["body"],
        key_messages=keys["messages"],
        key_last_user=keys["last_user"],
        last_user_text=matching.last_user_text(conversation)[:2000],
        request={"path": request.path, "query": request.query, "headers": request.headers, "body": request.body},
        status=response.status,
        response_headers=response.headers,
        duration_ms=response.duration_ms,
        complete=response.complete,
        body=body,
        chunks=chunks,
    )


def replays_by_scenario(scenarios: list, using: str = "default") -> dict[int, Replay]:
    """The Replay of every scenario (rows) that has recordings, by scenario id."""
    entries: dict[int, list] = {}
    for row in Recording.objects.using(using).order_by("id"):
        keys = {"body": row.key_body, "messages": row.key_messages, "last_user": row.key_last_user}
        entries.setdefault(row.scenario_id, []).append((keys, answer_of(row)))
    replays = {}
    for scenario in scenarios:
        if scenario.pk in entries:
            replays[scenario.pk] = Replay(
                book=matching.ReplayBook(entries[scenario.pk], describe=_described),
                match=scenario.replay_match,
                speed=scenario.replay_speed,
                unmatched=scenario.replay_unmatched,
                redact=tuple(line for line in scenario.replay_redact.splitlines() if line.strip()),
            )
    return replays


def _described(answer: RecordedAnswer) -> tuple[str, str]:
    """What an unmatched request is compared with: the cassette's name and its last user message."""
    return answer.source, answer.last_user_text


def answer_of(row: Recording) -> RecordedAnswer:
    return RecordedAnswer(
        source=row.source,
        status=row.status,
        headers=tuple((name, str(value)) for name, value in row.response_headers.items()),
        body=row.body,
        chunks=tuple((float(at_ms), text) for at_ms, text in row.chunks) if row.chunks is not None else None,
        complete=row.complete,
        duration_ms=row.duration_ms,
        model=row.model,
        stream=row.stream,
        last_user_text=row.last_user_text,
    )
