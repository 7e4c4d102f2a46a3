"""Injected dropped connections, on every server kind: the client sees a broken connection,
and the server counts an injected drop — no organic error, no stream left open, nothing
logged as the application's failure."""

from __future__ import annotations

import time

import httpx2
import openai
import pytest

from tests.conftest import INSTANT, get_json
from tests.stats.test_metrics import metrics, value

pytestmark = pytest.mark.live

DROPS = {
    "drop-mid-stream": {"text": "a b c d e f g h", "fault": {"kind": "disconnect", "after_tokens": 3}},
    "drop-before-the-first-token": {"text": "a b c", "fault": {"kind": "disconnect", "after_tokens": 0}},
}


@pytest.fixture(scope="module")
def drop_scenarios(llmsim_server, module_scenarios, django_db_blocker):
    from simulator.models import ErrorProfile

    for name, action in DROPS.items():
        module_scenarios(name, rules=[{"action": action}])
    # A timeout that ends in a dropped connection: the injected-error path, not a stream fault.
    with django_db_blocker.unblock():
        profile, _ = ErrorProfile.objects.using(llmsim_server.db_alias).get_or_create(
            name="drop-on-timeout",
            defaults={
                "timeout_rate": 1.0,
                "timeout_after_ms": 10,
                "timeout_action": ErrorProfile.TimeoutAction.DISCONNECT,
            },
        )
    module_scenarios("drop-on-timeout", error_profile=profile)
    return [*DROPS, "drop-on-timeout"]


def drop(server, scenario: str, stream: bool) -> None:
    client = openai.OpenAI(
        base_url=f"{server.base_url}/v1",
        api_key="test",
        max_retries=0,
        default_headers={**INSTANT, "x-llmsim-scenario": scenario},
    )
    with pytest.raises((openai.APIConnectionError, httpx2.HTTPError)):
        answer = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=stream
        )
        if stream:
            for _ in answer:
                pass


def stats(server) -> dict:
    return get_json(f"{server.base_url}/llmsim/stats")


def test_injected_drops_are_counted_as_injected_and_leave_no_stream_open(llmsim_server, drop_scenarios):
    before = stats(llmsim_server)
    drops = 0
    for scenario in drop_scenarios:
        for stream in (True, False):
            drop(llmsim_server, scenario, stream)
            drops += 1

    deadline = time.monotonic() + 5
    while (after := stats(llmsim_server))["requests"]["active"] and time.monotonic() < deadline:
        time.sleep(0.05)  # the server may finish its side a moment after the client saw the drop
    assert after["requests"]["active"] == 0
    assert after["requests"]["streams_open"] == 0
    assert after["errors"]["organic"] == before["errors"]["organic"]
    assert after["requests"]["client_disconnects"] == before["requests"]["client_disconnects"]
    dropped = after["errors"]["by_status"]["0"]["injected"] - before["errors"]["by_status"].get("0", {}).get(
        "injected", 0
    )
    assert dropped == drops
    assert value(metrics(llmsim_server)["llmsim_streams_active"], "llmsim_streams_active") == 0

    log = llmsim_server.log()
    for failure in ("unexpected error", "Application callable raised", "Response already started", "Traceback"):
        assert failure not in log, log[-3000:]
