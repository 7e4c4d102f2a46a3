"""No request stalls the server: while one client sends a body built to make the server
work hard (quadratic splitting, backtracking regexes, huge prompts, exploding schemas),
another client's /health still answers within a second."""

from __future__ import annotations

import threading
import time

import pytest

from tests.conftest import INSTANT, post
from tests.engine.schema.examples import fanning_out

pytestmark = pytest.mark.live
LIVE_SERVERS = ("runserver", "serve")

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def chat(content: str, **extra) -> dict:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": content}], **extra}


def tool(name: str = "get_weather", parameters: dict = WEATHER) -> dict:
    return {"type": "function", "function": {"name": name, "description": "Weather", "parameters": parameters}}


LONG_NAME = "A" * 16_000
HEAVY = {
    "40 KB of capitals with a tool": (
        "/v1/chat/completions",
        chat("A" * 40_000, tools=[tool()], tool_choice="required"),
    ),
    "responses: 100 KB of capitals with a tool": (
        "/v1/responses",
        {
            "model": "gpt-4o",
            "input": "A" * 100_000,
            "store": False,
            "tools": [{"type": "function", "name": "get_weather", "parameters": WEATHER}],
            "tool_choice": "required",
        },
    ),
    "a 16,000-character property name": (
        "/v1/chat/completions",
        chat(
            "hi",
            tools=[
                tool("f", {"type": "object", "properties": {LONG_NAME: {"type": "string"}}, "required": [LONG_NAME]})
            ],
            tool_choice="required",
        ),
    ),
    "a tool schema of 10**12 values": (
        "/v1/chat/completions",
        chat("hi", tools=[tool("f", fanning_out(12, 10))], tool_choice="required"),
    ),
    "2 MB of spaces": ("/v1/chat/completions", chat(" " * 2_000_000, max_tokens=5)),
    "240,000 short messages": (
        "/v1/chat/completions",
        {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}] * 240_000, "max_tokens": 5},
    ),
    "gemini: 9 MB of text": (
        "/v1beta/models/gemini-2.5-flash:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": "lorem ipsum dolor " * 500_000}]}]},
    ),
}


def worst_health_wait(server, work) -> tuple[float, object]:
    """Run `work()` in a thread; meanwhile poll /health. The longest wait, and what work returned."""
    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.append(work()))
    worst = 0.0
    worker.start()
    while worker.is_alive():
        started = time.monotonic()
        server.health()  # its own timeout is 5 s: a longer stall fails here
        worst = max(worst, time.monotonic() - started)
        time.sleep(0.02)
    worker.join()
    return worst, outcome[0]


@pytest.mark.parametrize("case", HEAVY)
def test_a_heavy_body_does_not_stall_other_clients(llmsim_server, case):
    path, body = HEAVY[case]
    worst, (status, _, answer) = worst_health_wait(llmsim_server, lambda: post(llmsim_server, path, body, INSTANT))
    assert status in (200, 400), answer  # answered (or refused as the provider would), never a 500
    assert worst < 1.0, f"/health waited {worst:.2f} s"


def test_a_backtracking_regex_rule_does_not_stall_other_clients(llmsim_server, module_scenarios):
    module_scenarios("backtracking", rules=[{"match_last_user": "^(a+)+$", "regex": True, "action": {"text": "x"}}])
    near_miss = chat("a" * 50_000 + "!")
    headers = {**INSTANT, "x-llmsim-scenario": "backtracking"}
    worst, (status, _, answer) = worst_health_wait(
        llmsim_server, lambda: post(llmsim_server, "/v1/chat/completions", near_miss, headers)
    )
    assert status == 200, answer
    assert answer["choices"][0]["message"]["content"] != "x"
    assert worst < 1.0, f"/health waited {worst:.2f} s"
