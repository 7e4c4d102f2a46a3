"""What a fresh install ships: the presets' default rate limits, named error profiles and example
scenarios (migrations 0012 and 0013), and the examples at work through the SDKs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import anthropic
import openai
import pytest

from simulator.models import ErrorProfile, ModelProfile, ResponseRule, Scenario, SimulatorSettings
from tests.conftest import INSTANT, ROOT

# Each provider's published Tier 1 limits (requests, tokens per minute), as the README lists them.
TIER_1 = {
    "gpt-5": (500, 500_000),
    "gpt-4o": (500, 30_000),
    "o4-mini": (1_000, 100_000),
    "gpt-3.5-turbo": (3_500, 200_000),
    "text-embedding-3-small": (3_000, 1_000_000),
    "claude-sonnet-4-5": (50, 38_000),
    "claude-haiku-4-5": (50, 60_000),
    "gemini-2.5-pro": (150, 2_000_000),
    "gemini-2.5-flash": (1_000, 1_000_000),
    "instant": (500, 500_000),
}
ERROR_PROFILES = ("flaky", "overloaded", "rate-limited", "chaos")
SCENARIOS = ("agent-loop", "fail-twice", "flaky-upstream", "tier-1-enforced")
GET_WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.mark.django_db
def test_every_preset_carries_its_providers_tier_1_limits():
    limits = {p.model_id: (p.requests_per_minute, p.tokens_per_minute) for p in ModelProfile.objects.all()}
    assert {model: limits[model] for model in TIER_1} == TIER_1
    assert all(rpm and tpm for rpm, tpm in limits.values()), limits
    assert SimulatorSettings.load().enforce_model_rate_limits is False


@pytest.mark.django_db
def test_the_named_error_profiles_are_shipped_and_valid():
    profiles = {p.name: p for p in ErrorProfile.objects.filter(name__in=ERROR_PROFILES)}
    assert sorted(profiles) == sorted(ERROR_PROFILES)
    for profile in profiles.values():
        profile.full_clean()
        assert len(profile.description) > 40
    assert 0 < profiles["flaky"].server_error_rate <= 0.05
    assert profiles["overloaded"].service_unavailable_rate >= 0.2
    assert profiles["rate-limited"].rate_limit_rate >= 0.2 and profiles["rate-limited"].retry_after_ms > 0
    chaos = profiles["chaos"]
    assert all(rate > 0 for rate in (chaos.rate_limit_rate, chaos.server_error_rate, chaos.timeout_rate))
    assert all(rate > 0 for rate in (chaos.disconnect_rate, chaos.stream_error_rate, chaos.stall_rate))


@pytest.mark.django_db
def test_the_example_scenarios_are_shipped_valid_and_none_is_the_default():
    scenarios = {s.name: s for s in Scenario.objects.filter(name__in=SCENARIOS)}
    assert sorted(scenarios) == sorted(SCENARIOS)
    for scenario in scenarios.values():
        scenario.full_clean()
        assert scenario.description
    for rule in ResponseRule.objects.filter(scenario__name__in=SCENARIOS):
        rule.full_clean()  # the action parses, as in the admin
    assert scenarios["flaky-upstream"].error_profile.name == "flaky"
    assert scenarios["tier-1-enforced"].enforce_model_rate_limits is True
    assert SimulatorSettings.load().default_scenario is None


def manage(database: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}"}
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


SNAPSHOT = """
import json
from simulator.models import ErrorProfile, Scenario
print(json.dumps({
    "profiles": dict(ErrorProfile.objects.values_list("name", "description")),
    "scenarios": dict(Scenario.objects.values_list("name", "description")),
}))
"""


MIGRATION_0012 = next(path.stem for path in (ROOT / "simulator" / "migrations").glob("0012_*.py"))


def test_the_examples_leave_rows_of_the_same_name_alone_and_roll_back(tmp_path):
    database = str(tmp_path / "db.sqlite3")
    manage(database, "migrate", "simulator", "0012", "-v0")
    manage(
        database,
        "shell",
        "-c",
        # The models as they were at 0012 (today's have columns later migrations add).
        "from django.db import connection; from django.db.migrations.loader import MigrationLoader; "
        f"apps = MigrationLoader(connection).project_state(('simulator', '{MIGRATION_0012}')).apps; "
        "apps.get_model('simulator', 'ErrorProfile').objects.create(name='flaky', description='Mine.'); "
        "apps.get_model('simulator', 'Scenario').objects.create(name='fail-twice', description='Mine too.')",
    )
    manage(database, "migrate", "-v0")
    rows = json.loads(manage(database, "shell", "-c", SNAPSHOT).splitlines()[-1])
    assert rows["profiles"]["flaky"] == "Mine."
    assert rows["scenarios"]["fail-twice"] == "Mine too."
    assert set(ERROR_PROFILES) <= set(rows["profiles"]) and set(SCENARIOS) <= set(rows["scenarios"])

    manage(database, "migrate", "simulator", "0012", "-v0")
    rows = json.loads(manage(database, "shell", "-c", SNAPSHOT).splitlines()[-1])
    assert rows == {"profiles": {"flaky": "Mine."}, "scenarios": {"fail-twice": "Mine too."}}
    manage(database, "migrate", "simulator", "0011", "-v0")  # and the columns of 0012 go too


def openai_client(server, scenario: str, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{server.base_url}/v1",
        api_key="sk-examples",
        max_retries=retries,
        default_headers={**INSTANT, "x-llmsim-scenario": scenario},
    )


def test_the_agent_loop_calls_the_tool_then_answers_with_its_result(llmsim_server):
    client = openai_client(llmsim_server, "agent-loop")
    messages = [{"role": "user", "content": f"What is the weather? ({uuid.uuid4().hex})"}]
    first = client.chat.completions.create(model="gpt-4o", messages=messages, tools=[GET_WEATHER])
    assert first.choices[0].finish_reason == "tool_calls"
    call = first.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}

    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "sunny", "celsius": 22}'},
    ]
    second = client.chat.completions.create(model="gpt-4o", messages=messages, tools=[GET_WEATHER])
    assert second.choices[0].finish_reason == "stop"
    assert "get_weather" in second.choices[0].message.content and "sunny" in second.choices[0].message.content


def test_the_agent_loop_speaks_anthropic_too(llmsim_server):
    client = anthropic.Anthropic(
        base_url=llmsim_server.base_url,
        api_key="sk-examples",
        max_retries=0,
        default_headers={**INSTANT, "x-llmsim-scenario": "agent-loop"},
    )
    tool = {"name": "get_weather", "input_schema": GET_WEATHER["function"]["parameters"]}
    messages = [{"role": "user", "content": f"Weather? ({uuid.uuid4().hex})"}]
    first = client.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=messages, tools=[tool])
    assert first.stop_reason == "tool_use"
    use = next(block for block in first.content if block.type == "tool_use")
    assert (use.name, use.input) == ("get_weather", {"city": "Paris"})
    messages += [
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 22 °C"}]},
    ]
    second = client.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=messages, tools=[tool])
    assert second.stop_reason == "end_turn" and "get_weather" in second.content[0].text


def test_fail_twice_refuses_twice_then_answers(llmsim_server):
    client = openai_client(llmsim_server, "fail-twice")
    messages = [{"role": "user", "content": f"Hello ({uuid.uuid4().hex})"}]
    for _ in range(2):
        with pytest.raises(openai.RateLimitError) as raised:
            client.chat.completions.create(model="gpt-4o", messages=messages)
        assert raised.value.response.headers["retry-after-ms"] == "200"
    assert client.chat.completions.create(model="gpt-4o", messages=messages).choices[0].message.content


def test_fail_twice_is_answered_through_the_sdks_own_retries(llmsim_server):
    client = openai_client(llmsim_server, "fail-twice", retries=2)
    messages = [{"role": "user", "content": f"Hello again ({uuid.uuid4().hex})"}]
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=messages)
    assert raw.status_code == 200 and raw.retries_taken == 2
