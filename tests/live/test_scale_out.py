"""The scale-out mode: two server processes on one PostgreSQL database and one Redis.

What a user of several replicas sees must stay one system: an admin edit reaches every
process within about a second, a scenario's rate limit is one budget for all, and a rule
sequence plays once whichever process a request reaches.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import environ
import pytest

from tests.conftest import INSTANT, LiveServer, post, start_server, stop_server
from tests.services import fresh_postgres_database, redis_url, unique_prefix

USER = [{"role": "user", "content": "hello"}]
ALIAS = "scale_out"


@pytest.fixture(scope="module")
def shared_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this module's servers, dropped afterwards."""
    from django.db import connections

    with fresh_postgres_database() as url:
        yield url
        if ALIAS in connections.settings:
            connections[ALIAS].close()


@pytest.fixture(scope="module")
def scale_env(shared_database) -> dict[str, str]:
    """What the two servers are started with: the database, Redis and a key prefix of their own."""
    return {"DATABASE_URL": shared_database, "REDIS_URL": redis_url(), "LLMSIM_REDIS_PREFIX": unique_prefix()}


@pytest.fixture(scope="module")
def two_servers(scale_env, tmp_path_factory) -> Iterator[list[LiveServer]]:
    """Two `serve` processes (one worker each) sharing the database and a Redis key prefix."""
    servers = []
    try:
        for kind in ("serve", "serve-uvicorn"):
            servers.append(start_server(tmp_path_factory.mktemp(f"scale-{kind}"), kind, scale_env, migrate=not servers))
        yield servers
    finally:
        for server in servers:
            stop_server(server)


@pytest.fixture
def shared_db(shared_database, django_db_blocker) -> Iterator[str]:
    """An ORM alias of the servers' database, unblocked for this test."""
    from django.db import connections

    connections.settings[ALIAS] = {
        **connections.settings["default"],
        "OPTIONS": {},
        **environ.Env.db_url_config(shared_database),
    }
    with django_db_blocker.unblock():
        yield ALIAS


def wait_for_all(servers: list[LiveServer], using: str) -> None:
    from simulator.state.snapshots import read_version

    version = read_version(using)
    for server in servers:
        server.wait_for_version(version)


def ask(server: LiveServer, scenario: str, key: str = "sk-shared"):
    headers = {**INSTANT, "x-llmsim-scenario": scenario, "authorization": f"Bearer {key}"}
    return post(server, "/v1/chat/completions", {"model": "gpt-4o", "messages": USER}, headers)


def test_an_edit_reaches_every_process_within_a_second(two_servers, shared_db):
    from simulator.models import ResponseRule, Scenario

    scenario = Scenario.objects.using(shared_db).create(name="hot-reload")
    rule = ResponseRule(scenario=scenario, name="say", action={"text": "version one"})
    rule.save(using=shared_db)
    wait_for_all(two_servers, shared_db)
    for server in two_servers:
        assert ask(server, "hot-reload")[2]["choices"][0]["message"]["content"] == "version one"

    rule.action = {"text": "version two"}
    rule.save(using=shared_db)
    started = time.monotonic()
    pending = set(range(len(two_servers)))
    while pending:
        for index in list(pending):
            if ask(two_servers[index], "hot-reload")[2]["choices"][0]["message"]["content"] == "version two":
                pending.discard(index)
        assert time.monotonic() - started < 1.5, "an edit took longer than a second to reach every process"
        time.sleep(0.02)


def test_two_processes_share_one_rate_limit_budget(two_servers, shared_db):
    from simulator.models import Scenario

    budget = 30
    Scenario.objects.using(shared_db).create(name="shared-budget", requests_per_minute=budget)
    wait_for_all(two_servers, shared_db)
    started = time.monotonic()
    answers = [ask(two_servers[i % 2], "shared-budget") for i in range(2 * budget)]
    elapsed = time.monotonic() - started
    granted = [a for a in answers if a[0] == 200]
    refused = [a for a in answers if a[0] == 429]
    refill = int(elapsed * budget / 60) + 1
    assert budget <= len(granted) <= budget + refill
    assert len(granted) + len(refused) == 2 * budget
    # Both processes count down the same bucket.
    remaining = [int(a[1]["x-ratelimit-remaining-requests"]) for a in granted[:4]]
    assert remaining == sorted(remaining, reverse=True) and remaining[0] == budget - 1
    assert refused[0][2]["error"]["type"] == "requests"


def test_two_processes_report_one_budget_of_a_models_default_limits(two_servers, shared_db):
    from simulator.models import ModelProfile

    ModelProfile.objects.using(shared_db).create(model_id="shared-defaults", requests_per_minute=10)
    wait_for_all(two_servers, shared_db)
    headers = {**INSTANT, "authorization": "Bearer sk-reported"}
    body = {"model": "shared-defaults", "messages": USER}
    remaining = []
    for i in range(12):
        status, answer_headers, _ = post(two_servers[i % 2], "/v1/chat/completions", body, headers)
        assert status == 200  # reported, not enforced: beyond the limit too
        remaining.append(int(answer_headers["x-ratelimit-remaining-requests"]))
        time.sleep(0.4)  # longer than a batch takes to reach Redis and come back
    # One budget: after its first request (a bucket it had not heard of: full) each
    # process counts the other's too, down to empty. (One request comes back every 6 s;
    # the 4.8 s this takes bring less than one.)
    assert remaining == [9, 9, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0]


def test_a_sequence_plays_once_across_processes(two_servers, shared_db, scale_env, settings):
    """An SDK retry that lands on the other process continues the conversation's sequence."""
    import asyncio

    from simulator.models import ResponseRule, Scenario
    from simulator.state import buckets
    from simulator.state import sequences as shared_sequences

    scenario = Scenario.objects.using(shared_db).create(name="fail-once")
    rule = ResponseRule(
        scenario=scenario,
        name="fail-once-then-answer",
        action={"sequence": [{"error": {"status": 503}}, {"text": "Answered."}, {"text": "Again."}]},
    )
    rule.save(using=shared_db)
    wait_for_all(two_servers, shared_db)
    first, second, third = (
        ask(two_servers[0], "fail-once"),
        ask(two_servers[1], "fail-once"),
        ask(two_servers[0], "fail-once"),
    )
    assert first[0] == 503
    assert (second[0], second[2]["choices"][0]["message"]["content"]) == (200, "Answered.")
    assert third[2]["choices"][0]["message"]["content"] == "Again."

    # Restarting the sequences (what POST /llmsim/api/reset-sequences/ does) restarts them for both.
    settings.REDIS_URL, settings.LLMSIM_REDIS_PREFIX = scale_env["REDIS_URL"], scale_env["LLMSIM_REDIS_PREFIX"]

    async def reset():
        try:
            return await shared_sequences.reset()
        finally:
            await buckets.close()

    assert asyncio.run(reset()) == 1
    assert ask(two_servers[1], "fail-once")[0] == 503
