"""The load model (engine.load): the stretch curve and the per-process admission."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from simulator.engine import planner
from simulator.engine.latency import LatencyProfile, slowed
from simulator.engine.load import MIN_RETRY_AFTER_S, Admission, LoadLimit, Overloaded, stretch
from simulator.engine.snapshot import ModelSpec, Scenario
from simulator.engine.types import CompletionRequest, Message

LIMIT = LoadLimit(max_concurrency=3, load_factor=3.0, queue_size=2)


def run(coroutine):
    return asyncio.run(coroutine)


# --- the stretch curve --------------------------------------------------------------------


def test_one_running_answer_runs_at_the_usual_speed_and_a_full_model_at_its_load_factor():
    assert stretch(LIMIT, 1) == 1.0
    assert stretch(LIMIT, 2) == pytest.approx(2.0)  # linear between
    assert stretch(LIMIT, 3) == pytest.approx(3.0)


def test_the_stretch_stops_at_the_load_factor_and_a_single_slot_never_slows():
    assert stretch(LIMIT, 7) == pytest.approx(3.0)
    assert stretch(LoadLimit(max_concurrency=1, load_factor=5.0), 1) == 1.0


def test_a_slowed_profile_stretches_gaps_spread_tail_stalls_and_prefill_but_not_the_ttft():
    profile = LatencyProfile(
        ttft_mean_ms=100, tbt_mean_ms=20, tbt_stddev_ms=4, tbt_p99_ms=60, stall_ms=500, prefill_ms_per_1k_tokens=50
    )
    slow = slowed(profile, 2.5)
    assert (slow.tbt_mean_ms, slow.tbt_stddev_ms, slow.tbt_p99_ms) == (50, 10, 150)
    assert (slow.stall_ms, slow.prefill_ms_per_1k_tokens, slow.ttft_mean_ms) == (1250, 125, 100)
    assert slowed(profile, 1.0) is profile


def test_the_plan_of_a_loaded_model_has_longer_gaps_and_starts_later_by_its_wait():
    spec = ModelSpec(id="m", latency=LatencyProfile(ttft_mean_ms=100, tbt_mean_ms=20))
    request = CompletionRequest(model="m", messages=(Message("user", "hi"),), seed=1)
    usual = planner.plan(request, spec, Scenario(target_tokens=10))
    loaded = planner.plan(request, spec, Scenario(target_tokens=10), stretch=3.0, waited_s=0.5)
    assert loaded.ttft_s == pytest.approx(usual.ttft_s + 0.5)
    usual_gap = usual.offsets_s[1] - usual.offsets_s[0]
    assert loaded.offsets_s[1] - loaded.offsets_s[0] == pytest.approx(3 * usual_gap)
    assert loaded.usage == usual.usage  # load slows the answer down, it does not change it


# --- admission ----------------------------------------------------------------------------


def test_up_to_max_concurrency_answers_start_at_once_each_slower_than_the_last():
    async def scenario():
        admission = Admission()
        tickets = [await admission.admit("m", LIMIT) for _ in range(3)]
        return tickets, admission.gauges()

    tickets, gauges = run(scenario())
    assert [ticket.stretch for ticket in tickets] == pytest.approx([1.0, 2.0, 3.0])
    assert all(ticket.waited_s == 0 for ticket in tickets)
    assert gauges == {"m": (3, 0)}


def test_past_capacity_requests_queue_first_in_first_out_and_a_release_wakes_the_first():
    async def scenario():
        admission = Admission()
        running = [await admission.admit("m", LIMIT) for _ in range(3)]
        order: list[int] = []

        async def wait(number: int):
            ticket = await admission.admit("m", LIMIT)
            order.append(number)
            return ticket

        first = asyncio.create_task(wait(1))
        await asyncio.sleep(0)
        second = asyncio.create_task(wait(2))
        await asyncio.sleep(0.02)
        queued = admission.gauges()["m"]
        admission.release(running[0])
        woken = await first
        assert not second.done()
        admission.release(running[1])
        await second
        return queued, order, woken

    queued, order, woken = run(scenario())
    assert queued == (3, 2)
    assert order == [1, 2]
    assert woken.waited_s >= 0.015  # its wait, to add to its time to first token
    assert woken.stretch == pytest.approx(3.0)  # it runs as the third


def test_a_full_queue_is_overloaded_with_the_time_until_the_soonest_answer_ends():
    async def scenario():
        admission = Admission()
        running = [await admission.admit("m", LIMIT) for _ in range(3)]
        admission.expect(running[0], time.monotonic() + 30.0)
        for ticket in running[1:]:
            admission.expect(ticket, time.monotonic() + 4.0)
        waiters = [asyncio.create_task(admission.admit("m", LIMIT)) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(Overloaded) as caught:
            await admission.admit("m", LIMIT)
        for waiter in waiters:
            waiter.cancel()
        return caught.value

    overloaded = run(scenario())
    assert overloaded.limit is LIMIT
    assert 3.5 < overloaded.retry_after_s <= 4.0


def test_retry_after_is_at_least_a_second():
    async def scenario():
        admission = Admission()
        with pytest.raises(Overloaded) as caught:
            await admission.admit("m", LoadLimit(max_concurrency=1))
            await admission.admit("m", LoadLimit(max_concurrency=1))
        return caught.value

    assert run(scenario()).retry_after_s == MIN_RETRY_AFTER_S


def test_a_cancelled_waiter_gives_up_its_place_in_the_queue():
    async def scenario():
        admission = Admission()
        limit = LoadLimit(max_concurrency=1, queue_size=1)
        running = await admission.admit("m", limit)
        leaving = asyncio.create_task(admission.admit("m", limit))
        await asyncio.sleep(0)
        leaving.cancel()
        await asyncio.gather(leaving, return_exceptions=True)
        staying = asyncio.create_task(admission.admit("m", limit))  # the place is free again
        await asyncio.sleep(0)
        admission.release(running)
        await staying
        return admission.gauges()

    assert run(scenario()) == {"m": (1, 0)}


def test_a_waiter_cancelled_as_its_slot_comes_passes_the_slot_on():
    async def scenario():
        admission = Admission()
        limit = LoadLimit(max_concurrency=1, queue_size=2)
        running = await admission.admit("m", limit)
        first = asyncio.create_task(admission.admit("m", limit))
        await asyncio.sleep(0)
        second = asyncio.create_task(admission.admit("m", limit))
        await asyncio.sleep(0)
        admission.release(running)  # hands the slot to `first`...
        first.cancel()  # ...which is cancelled before it resumes
        await asyncio.gather(first, return_exceptions=True)
        ticket = await asyncio.wait_for(second, 1)
        gauges = admission.gauges()
        admission.release(ticket)
        return gauges, admission.gauges()

    assert run(scenario()) == ({"m": (1, 0)}, {})


def test_nobody_takes_a_slot_promised_to_a_waiter_that_has_not_resumed_yet():
    async def scenario():
        admission = Admission()
        limit = LoadLimit(max_concurrency=1, queue_size=1)
        running = await admission.admit("m", limit)
        waiter = asyncio.create_task(admission.admit("m", limit))
        await asyncio.sleep(0)
        admission.release(running)
        late = admission.admit_at_once("m", limit)  # before the waiter runs again
        await waiter
        return late, admission.gauges()

    late, gauges = run(scenario())
    assert late is None
    assert gauges == {"m": (1, 0)}


def test_a_ticket_is_released_once_and_models_are_counted_apart():
    async def scenario():
        admission = Admission()
        one = await admission.admit("a", LoadLimit(max_concurrency=1))
        other = await admission.admit("b", LoadLimit(max_concurrency=1))
        admission.release(one)
        admission.release(one)
        return admission.gauges(), other

    gauges, _ = run(scenario())
    assert gauges == {"b": (1, 0)}


def test_a_burst_admits_capacity_queues_the_queue_and_overloads_the_rest():
    async def scenario():
        admission = Admission()
        outcomes = []

        async def request():
            try:
                ticket = await admission.admit("m", LIMIT)
            except Overloaded:
                outcomes.append("overloaded")
                return
            outcomes.append("waited" if ticket.waited_s else "ran")
            await asyncio.sleep(random.uniform(0.005, 0.01))
            admission.release(ticket)

        await asyncio.gather(*(request() for _ in range(9)))
        return sorted(outcomes), admission.gauges()

    outcomes, gauges = run(scenario())
    assert outcomes == ["overloaded"] * 4 + ["ran"] * 3 + ["waited"] * 2
    assert gauges == {}
