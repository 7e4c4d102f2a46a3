"""A batch's timeline: where it stands at a given moment, from when it was made, how long it
takes, how it ends and whether it was cancelled. Computed on every read, so no scheduler
has to outlive a restart or be shared between processes.

Over `duration_s` a batch validates (the first tenth), answers its requests one after
another (up to nine tenths), finalizes, and ends. A cancelled batch stops answering at
the cancel and is cancelling for a tenth of the duration more. Outcomes:
"completed" and "partial" (its failures are in its answers) end completed; "expired"
answers half its requests and ends expired; "failed" ends at validation, none answered.
"""

from __future__ import annotations

from dataclasses import dataclass

OUTCOMES = ("completed", "partial", "expired", "failed")
VALIDATING_SHARE = 0.1
FINALIZING_SHARE = 0.1
CANCELLING_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a batch stands: its phase, how many requests are answered, and when phases began."""

    status: str  # validating | in_progress | finalizing | cancelling | completed | failed | expired | cancelled
    done: int  # requests answered (the first `done`, in order)
    in_progress_at: float | None = None
    finalizing_at: float | None = None
    ended_at: float | None = None

    @property
    def ended(self) -> bool:
        return self.status in ("completed", "failed", "expired", "cancelled")


def progress(
    created_at: float, duration_s: float, total: int, outcome: str, cancelled_at: float | None, now: float
) -> Progress:
    """The batch's state at `now` (Unix seconds)."""
    in_progress_at = created_at + duration_s * VALIDATING_SHARE
    answering_ends = created_at + duration_s * (1 - FINALIZING_SHARE)
    end = created_at + duration_s
    if outcome == "failed":
        if now < in_progress_at and cancelled_at is None:
            return Progress("validating", 0)
        return Progress("failed", 0, ended_at=in_progress_at)
    answerable = total // 2 if outcome == "expired" else total

    def answered_by(moment: float) -> int:
        if moment < in_progress_at:
            return 0
        if moment >= answering_ends:
            return answerable
        share = (moment - in_progress_at) / (answering_ends - in_progress_at)
        return min(answerable, int(total * share))

    if cancelled_at is not None and cancelled_at < end:
        done = answered_by(cancelled_at)
        started = in_progress_at if cancelled_at >= in_progress_at else None
        cancelled = cancelled_at + duration_s * CANCELLING_SHARE
        if now < cancelled:
            return Progress("cancelling", done, started)
        return Progress("cancelled", done, started, ended_at=cancelled)
    if now < in_progress_at:
        return Progress("validating", 0)
    if now < answering_ends:
        return Progress("in_progress", answered_by(now), in_progress_at)
    if now < end:
        return Progress("finalizing", answerable, in_progress_at, answering_ends)
    return Progress("expired" if outcome == "expired" else "completed", answerable, in_progress_at, answering_ends, end)


def fails_by_outcome(outcome: str, index: int) -> bool:
    """Whether the outcome fails this request whatever it asks ("partial": every second one)."""
    return outcome == "partial" and index % 2 == 1
