"""The batch timeline (engine/batch.py): phases by the clock, outcomes and cancels."""

from __future__ import annotations

from simulator.engine.batch import fails_by_outcome, progress


def test_it_moves_through_the_phases_by_the_clock():
    phases = [progress(0, 10, 8, "completed", None, now) for now in (0.5, 1.0, 5.0, 9.5, 10.0)]
    assert [p.status for p in phases] == ["validating", "in_progress", "in_progress", "finalizing", "completed"]
    assert [p.done for p in phases] == [0, 0, 4, 8, 8]
    assert phases[-1].ended_at == 10 and phases[-1].in_progress_at == 1 and phases[-1].finalizing_at == 9


def test_a_batch_of_no_duration_has_ended_when_first_read():
    state = progress(100, 0, 3, "completed", None, 100)
    assert state.status == "completed" and state.done == 3


def test_an_expired_batch_answers_half_its_requests():
    assert progress(0, 10, 9, "expired", None, 5.0).status == "in_progress"
    state = progress(0, 10, 9, "expired", None, 10)
    assert (state.status, state.done, state.ended) == ("expired", 4, True)


def test_a_failed_batch_ends_at_validation_with_nothing_answered():
    assert progress(0, 10, 5, "failed", None, 0.5).status == "validating"
    state = progress(0, 10, 5, "failed", None, 1.0)
    assert (state.status, state.done, state.ended_at) == ("failed", 0, 1.0)


def test_a_cancel_stops_the_answers_and_ends_a_tenth_later():
    assert progress(0, 10, 8, "completed", 5.0, 5.5).status == "cancelling"
    state = progress(0, 10, 8, "completed", 5.0, 6.0)
    assert (state.status, state.done, state.ended_at) == ("cancelled", 4, 6.0)
    # A cancel after the end changes nothing.
    assert progress(0, 10, 8, "completed", 11.0, 12.0).status == "completed"


def test_partial_fails_every_second_request():
    assert [fails_by_outcome("partial", i) for i in range(4)] == [False, True, False, True]
    assert not any(fails_by_outcome("completed", i) for i in range(4))
