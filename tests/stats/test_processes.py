"""Stats that add up across processes: two servers sharing one Redis, and serve's workers.

Each process publishes its numbers every LLMSIM_STATS_PUBLISH_SECONDS (0.2 s here);
whichever process answers /llmsim/stats or /metrics adds up all of them.
"""

from __future__ import annotations

import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import conftest
from tests.conftest import INSTANT, get_json, post, start_server, stop_server
from tests.services import redis_url, unique_prefix

pytestmark = pytest.mark.live

FAST_PUBLISH = {"LLMSIM_STATS_PUBLISH_SECONDS": "0.2"}
BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}


def wait_for(server, check, timeout: float = 10) -> dict:
    """Poll /llmsim/stats until check(stats) holds."""
    deadline = time.monotonic() + timeout
    while True:
        stats = get_json(f"{server.base_url}/llmsim/stats")
        if check(stats):
            return stats
        if time.monotonic() > deadline:
            raise AssertionError(f"stats never matched: {stats['processes']} processes, {stats['requests']}")
        time.sleep(0.1)


def requests_total_in_metrics(server) -> float:
    with urllib.request.urlopen(f"{server.base_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "llmsim_requests_total"
    )


@pytest.fixture
def two_servers_on_one_redis(tmp_path):
    url = redis_url()
    shared = {
        **FAST_PUBLISH,
        "REDIS_URL": url,
        "LLMSIM_REDIS_PREFIX": unique_prefix(),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.sqlite3'}",
        "LLMSIM_ADMIN_TOKEN": "two-process-token",
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = start_server(tmp_path / "a", "serve", shared)
    try:
        second = start_server(tmp_path / "b", "runserver", shared, migrate=False)
    except Exception:
        stop_server(first)
        raise
    yield first, second
    stop_server(first)
    stop_server(second)


def test_two_processes_add_up_through_redis_and_reset_together(two_servers_on_one_redis):
    first, second = two_servers_on_one_redis
    for server, count in ((first, 3), (second, 5)):
        for _ in range(count):
            assert post(server, "/v1/chat/completions", BODY, INSTANT)[0] == 200

    def all_eight(stats: dict) -> bool:
        return stats["processes"] == 2 and stats["requests"]["total"] == 8

    for server in (first, second):
        stats = wait_for(server, all_eight)
        assert stats["aggregation"] == "redis"
        assert stats["requests"]["by_model"]["gpt-4o"] == 8
        assert stats["latency_ms"]["duration"]["count"] == 8
    # Each one answers with its own numbers live and the other's as last published.
    deadline = time.monotonic() + 5
    while not requests_total_in_metrics(first) == requests_total_in_metrics(second) == 8:
        assert time.monotonic() < deadline
        time.sleep(0.1)

    request = urllib.request.Request(
        f"{second.base_url}/llmsim/reset",
        method="POST",
        data=b"",
        headers={"Authorization": "Bearer two-process-token"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
    wait_for(first, lambda stats: stats["requests"]["total"] == 0)  # the other process's numbers are gone too

    assert post(first, "/v1/chat/completions", BODY, INSTANT)[0] == 200
    stats = wait_for(second, lambda stats: stats["requests"]["total"] == 1 and stats["processes"] == 2)
    assert stats["tokens"]["completion"] > 0


def test_serve_workers_add_up_without_redis(tmp_path, monkeypatch):
    monkeypatch.setitem(
        conftest.SERVER_COMMANDS,
        "serve-2-workers",
        lambda port: ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--no-migrate"],
    )
    server = start_server(tmp_path, "serve-2-workers", {**FAST_PUBLISH, "REDIS_URL": ""})
    try:
        for _ in range(20):  # new connections: the kernel spreads them over the workers
            assert post(server, "/v1/chat/completions", BODY, INSTANT)[0] == 200
        stats = wait_for(server, lambda stats: stats["processes"] == 2 and stats["requests"]["total"] == 20)
        assert stats["aggregation"] == "directory"
        # The worker that answers may see the other's numbers one or two publish intervals late.
        deadline = time.monotonic() + 5
        while requests_total_in_metrics(server) != 20:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        stop_server(server)
