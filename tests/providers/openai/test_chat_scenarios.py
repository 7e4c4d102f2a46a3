"""Scenarios and response rules through the openai SDK on a live server."""

from __future__ import annotations

import itertools
import json
import time

import httpx2
import openai
import pytest

from tests.conftest import INSTANT, post

LIVE_SERVERS = ("serve",)  # scenarios are the pipeline's, whatever the server


@pytest.fixture
def make_scenario(llmsim_server, live_db):
    """Create a scenario with rules on the live server; every one is deleted after the test."""
    from simulator.models import ResponseRule, Scenario
    from simulator.state.snapshots import read_version

    created = []

    def make(name: str, rules: list[dict] = (), **fields):
        scenario = Scenario(name=name, **fields)
        scenario.save(using=live_db)
        created.append(scenario)
        for priority, rule in enumerate(rules):
            rule = {"name": f"rule-{priority}", "priority": priority, **rule}
            row = ResponseRule(scenario=scenario, **rule)
            row.full_clean()
            row.save(using=live_db)
        llmsim_server.wait_for_version(read_version(live_db))
        return scenario

    yield make
    for scenario in created:
        scenario.delete(using=live_db)
    llmsim_server.wait_for_version(read_version(live_db))


def client_for(server, scenario: str | None = None, retries: int = 0, **headers) -> openai.OpenAI:
    default_headers = {**INSTANT, **headers}
    if scenario:
        default_headers["x-llmsim-scenario"] = scenario
    return openai.OpenAI(
        base_url=f"{server.base_url}/v1", api_key="sk-test", max_retries=retries, default_headers=default_headers
    )


def ask(client, text: str = "hello", **kwargs):
    kwargs.setdefault("model", "gpt-4o")
    return client.chat.completions.create(messages=[{"role": "user", "content": text}], **kwargs)


def test_an_unknown_scenario_is_400_naming_it(llmsim_server, make_scenario):
    make_scenario("known-one")
    with pytest.raises(openai.BadRequestError) as raised:
        ask(client_for(llmsim_server, "nope"))
    error = raised.value.body
    assert "Unknown scenario 'nope'" in error["message"] and "known-one" in error["message"]
    assert error["param"] == "x-llmsim-scenario"


def test_a_scenario_sets_the_answer_without_touching_other_requests(llmsim_server, make_scenario):
    make_scenario("fixed-hello", generator="fixed", fixed_text="Hello from the scenario.")
    assert ask(client_for(llmsim_server, "fixed-hello")).choices[0].message.content == "Hello from the scenario."
    assert ask(client_for(llmsim_server)).choices[0].message.content != "Hello from the scenario."


def test_the_default_scenario_applies_without_a_header(llmsim_server, make_scenario, edit, live_db):
    from simulator.models import SimulatorSettings

    scenario = make_scenario("everyone", rules=[{"action": {"text": "Default scenario speaking."}}])
    edit(SimulatorSettings.load(live_db), default_scenario=scenario)
    assert ask(client_for(llmsim_server)).choices[0].message.content == "Default scenario speaking."


@pytest.mark.live_servers("serve")  # matching is the engine's; every server delivers it alike
@pytest.mark.parametrize(
    ("rule", "text", "matched"),
    [
        ({"match_model": "gpt-4*"}, "hi", True),
        ({"match_model": "o3"}, "hi", False),
        ({"match_last_user": "WEATHER"}, "what's the weather", True),
        ({"match_last_user": "weather", "ignore_case": False}, "WEATHER?", False),
        ({"match_last_user": r"order #\d+", "regex": True}, "where is order #123", True),
        ({"match_any_message": "pirate"}, "hi", True),
        ({"match_system": "pirate"}, "hi", True),
        ({"match_system": "ninja"}, "hi", False),
        ({"match_tools_present": False}, "hi", True),
        ({"match_tools_present": True}, "hi", False),
        ({"match_header": "x-test-case: checkout-*"}, "hi", True),
        ({"match_header": "x-test-case: login"}, "hi", False),
        ({"match_api_key": "sk-test"}, "hi", True),
        ({"match_api_key": "sk-other"}, "hi", False),
    ],
)
def test_each_matcher(llmsim_server, make_scenario, rule, text, matched):
    make_scenario("matchers", rules=[{**rule, "action": {"text": "MATCHED"}}])
    client = client_for(llmsim_server, "matchers", **{"x-test-case": "checkout-42"})
    messages = [{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": text}]
    content = client.chat.completions.create(model="gpt-4o", messages=messages).choices[0].message.content
    assert (content == "MATCHED") is matched


def test_tool_matchers_and_a_scripted_tool_call_then_text(llmsim_server, make_scenario):
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]
    make_scenario(
        "tool-then-text",
        rules=[
            {
                "match_tool_offered": "lookup",
                "action": {
                    "sequence": [
                        {"tool_calls": [{"name": "lookup", "arguments": {"order": 42}}]},
                        {"text": "Your order ships tomorrow."},
                    ]
                },
            }
        ],
    )
    client = client_for(llmsim_server, "tool-then-text")
    messages = [{"role": "user", "content": "Where is my order?"}]
    first = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools).choices[0]
    [call] = first.message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == ("lookup", {"order": 42})
    messages += [
        first.message.model_dump(exclude_none=True, exclude={"annotations"}),
        {"role": "tool", "tool_call_id": call.id, "content": "ships tomorrow"},
    ]
    second = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools).choices[0]
    assert second.message.content == "Your order ships tomorrow."


def test_last_is_tool_result_matcher(llmsim_server, make_scenario):
    make_scenario("after-tools", rules=[{"match_last_is_tool_result": True, "action": {"text": "AFTER TOOLS"}}])
    client = client_for(llmsim_server, "after-tools")
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "done"},
    ]
    assert client.chat.completions.create(model="gpt-4o", messages=messages).choices[0].message.content == "AFTER TOOLS"
    assert ask(client).choices[0].message.content != "AFTER TOOLS"


def test_a_json_body_action(llmsim_server, make_scenario):
    make_scenario("json", rules=[{"action": {"json": {"status": "ok", "items": [1, 2, 3]}}}])
    content = ask(client_for(llmsim_server, "json")).choices[0].message.content
    assert json.loads(content) == {"status": "ok", "items": [1, 2, 3]}


def test_an_error_action_in_openai_format(llmsim_server, make_scenario):
    make_scenario("broken", rules=[{"action": {"error": {"status": 503, "message": "Scripted outage."}}}])
    with pytest.raises(openai.InternalServerError) as raised:
        ask(client_for(llmsim_server, "broken"))
    assert raised.value.status_code == 503
    assert raised.value.body["message"] == "Scripted outage."


def test_fail_twice_with_429_then_answer_through_the_sdks_retries(llmsim_server, make_scenario):
    make_scenario(
        "flaky",
        rules=[
            {"action": {"sequence": [{"error": {"status": 429, "retry_after_ms": 50}, "times": 2}, {"text": "ok"}]}}
        ],
    )
    started = time.monotonic()
    completion = ask(client_for(llmsim_server, "flaky", retries=2), "retry me")
    assert completion.choices[0].message.content == "ok"
    assert time.monotonic() - started >= 0.1  # the SDK waited retry-after twice
    with pytest.raises(openai.RateLimitError):
        ask(client_for(llmsim_server, "flaky", retries=0), "a new conversation")


def test_a_latency_action_sets_ttft(llmsim_server, make_scenario):
    make_scenario("slow-start", rules=[{"action": {"latency": {"ttft_ms": 400, "tbt_ms": 0}}}])
    client = openai.OpenAI(
        base_url=f"{llmsim_server.base_url}/v1",
        api_key="sk",
        max_retries=0,
        default_headers={"x-llmsim-scenario": "slow-start"},
    )
    started = time.monotonic()
    ask(client)
    assert 0.35 <= time.monotonic() - started < 3.0


def test_a_mid_stream_error_event_raises_in_the_sdk(llmsim_server, make_scenario):
    fault = {"kind": "error", "after_tokens": 5, "status": 500, "message": "Scripted mid-stream failure."}
    make_scenario("midstream-error", rules=[{"action": {"text": "one two three four five six seven", "fault": fault}}])
    stream = ask(client_for(llmsim_server, "midstream-error"), stream=True)
    received = []
    with pytest.raises(openai.APIError, match="Scripted mid-stream failure"):
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert len(received) == 5


def test_a_mid_stream_disconnect_breaks_the_stream(llmsim_server, make_scenario):
    make_scenario(
        "midstream-drop",
        rules=[{"action": {"text": "a b c d e f g h", "fault": {"kind": "disconnect", "after_tokens": 3}}}],
    )
    stream = ask(client_for(llmsim_server, "midstream-drop"), stream=True)
    received = []
    with pytest.raises((httpx2.HTTPError, openai.APIError)):
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert len(received) == 3


def test_a_stall_holds_the_stream_then_finishes(llmsim_server, make_scenario):
    make_scenario(
        "stall",
        rules=[{"action": {"text": "a b c d e f", "fault": {"kind": "stall", "after_tokens": 2, "stall_ms": 500}}}],
    )
    arrivals = []
    for chunk in ask(client_for(llmsim_server, "stall"), stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic())
    assert len(arrivals) == 6
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert max(gaps) >= 0.45 and gaps.index(max(gaps)) == 1


def test_error_profile_mid_stream_faults(llmsim_server, make_scenario, live_db):
    from simulator.models import ErrorProfile

    profile = ErrorProfile(name="stream-errors", stream_error_rate=1.0, fault_after_tokens=4)
    profile.save(using=live_db)
    try:
        make_scenario("profile-faults", error_profile=profile)
        _, _, text = post(
            llmsim_server,
            "/v1/chat/completions",
            {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True},
            {**INSTANT, "x-llmsim-scenario": "profile-faults"},
        )
        events = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
        assert "[DONE]" not in events
        assert json.loads(events[-1])["error"]["type"] == "server_error"
        assert sum('"content":"' in e for e in events[1:-1]) == 4  # events[0] is the role chunk
    finally:
        profile.delete(using=live_db)


def test_a_rule_edit_reaches_the_server_within_a_second(llmsim_server, make_scenario, live_db):
    from simulator.models import ResponseRule

    make_scenario("live-edit", rules=[{"action": {"text": "before"}}])
    assert ask(client_for(llmsim_server, "live-edit")).choices[0].message.content == "before"
    rule = ResponseRule.objects.using(live_db).get(scenario__name="live-edit")
    rule.action = {"text": "after"}
    rule.save(using=live_db)
    started = time.monotonic()
    while ask(client_for(llmsim_server, "live-edit")).choices[0].message.content != "after":
        assert time.monotonic() - started < 2.0
        time.sleep(0.05)
