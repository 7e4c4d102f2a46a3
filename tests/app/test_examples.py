"""The example scripts in examples/ run unchanged against a live server."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# The examples are client code: one server kind is enough (runserver, the one users start first).
LIVE_SERVERS = ("runserver",)


def run_example(server, name: str) -> str:
    env = {**os.environ, "LLMSIM_BASE_URL": f"{server.base_url}/v1", "LLMSIM_MODEL": "instant"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "chat_client.py",
            ["== a plain call ==", "usage:", "streamed 100 tokens", "the model calls get_weather({'city': 'Paris'})"],
        ),
        (
            "responses_client.py",
            [
                "status: completed",
                "streamed 100 tokens, response resp_",
                "the model calls get_weather({'city': 'Paris'})",
                "parsed: Forecast(city='Paris'",
            ],
        ),
    ],
)
def test_an_example_runs_against_the_server(llmsim_server, name, expected):
    output = run_example(llmsim_server, name)
    for line in expected:
        assert line in output
    assert 'final answer: Based on get_weather: {"city": "Paris"' in output
