"""The seed's mock file, exactly as the seed writes it: read by llmsim_import, the management
API and the admin, and answered by a running server without a restart."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time

import openai
import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from simulator.engine.rules import RequestFacts
from simulator.engine.types import CompletionRequest, Message
from simulator.models import ResponseRule, Scenario, SimulatorSettings
from simulator.portability import PortabilityError, import_data, load
from simulator.state.snapshots import build_snapshot
from tests.conftest import INSTANT, ROOT, start_server, stop_server

# Byte for byte the seed's example (issue 18), degree sign and single quotes included.
SEED_FILE = """\
mocks:
  - match:
      content_contains: "weather"
    response:
      content: "The weather is sunny and 72°F."
  - match:
      model: "gpt-4"
      system_contains: "json"
    response:
      content: '{"result": "mocked"}'
"""
WEATHER = "The weather is sunny and 72°F."
MOCKED = '{"result": "mocked"}'


def answer_of(snapshot, model: str, *messages: Message) -> str | None:
    """The text the default scenario's rules answer with, or None when no rule matches."""
    rule = snapshot.default_scenario.rules.first_match(
        CompletionRequest(model=model, messages=messages), RequestFacts()
    )
    return rule.steps[0].text if rule else None


def assert_the_seeds_rules_are_stored() -> None:
    scenario = SimulatorSettings.load().default_scenario
    assert scenario.name == "mocks"
    rules = list(scenario.rules.order_by("priority"))
    assert [(r.name, r.match_last_user, r.match_model, r.match_system) for r in rules] == [
        ("mock-1", "weather", "", ""),
        ("mock-2", "", "gpt-4", "json"),
    ]
    assert [r.action for r in rules] == [{"content": WEATHER}, {"content": MOCKED}]
    snapshot = build_snapshot()
    assert answer_of(snapshot, "my-own-model", Message("user", "How is the weather today?")) == WEATHER
    json_prompt = Message("system", "Answer in json only.")
    assert answer_of(snapshot, "gpt-4", json_prompt, Message("user", "hello")) == MOCKED
    assert answer_of(snapshot, "gpt-4o", json_prompt, Message("user", "hello")) is None


@pytest.fixture(autouse=True)
def without_shipped_examples(request):
    """Tests that count rules start from a database without migration 0013's examples."""
    if request.node.get_closest_marker("django_db"):
        request.getfixturevalue("no_shipped_examples")


# --- llmsim_import and the management API, in process -------------------------------------------


@pytest.mark.django_db
def test_llmsim_import_reads_the_seeds_file(tmp_path):
    path = tmp_path / "mocks.yaml"
    path.write_text(SEED_FILE, encoding="utf-8")
    out = io.StringIO()
    call_command("llmsim_import", str(path), stdout=out)
    assert_the_seeds_rules_are_stored()
    call_command("llmsim_import", str(path), stdout=out)  # again: nothing changes
    assert ResponseRule.objects.count() == 2


@pytest.mark.django_db
def test_the_management_api_imports_the_seeds_file():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {staff_token()}")
    response = client.post("/llmsim/api/import/", SEED_FILE.encode(), content_type="application/yaml")
    assert response.status_code == 200, response.json()
    assert response.json()["created"] == {"scenario": 1, "rule": 2}
    assert_the_seeds_rules_are_stored()


def staff_token() -> str:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username="ci", password="pw-ci-1", is_staff=True)
    return Token.objects.create(user=user).key


@pytest.mark.django_db
def test_the_rules_endpoint_takes_the_seeds_matcher_names():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {staff_token()}")
    Scenario.objects.create(name="checkout")
    body = {
        "scenario": "checkout",
        "name": "json",
        "model": "gpt-4",
        "content_contains": "weather",
        "system_contains": "json",
        "action": {"content": MOCKED},
    }
    response = client.post("/llmsim/api/rules/", body, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert (created["match_model"], created["match_last_user"], created["match_system"]) == ("gpt-4", "weather", "json")
    assert created["action"] == {"content": MOCKED}
    patched = client.patch(f"/llmsim/api/rules/{created['id']}/", {"content_contains": "rain"}, format="json")
    assert (patched.status_code, patched.json()["match_last_user"]) == (200, "rain")
    clash = client.patch(f"/llmsim/api/rules/{created['id']}/", {"model": "a", "match_model": "b"}, format="json")
    assert clash.status_code == 400
    assert clash.json() == {"model": ["model and match_model are the same field; give one."]}
    assert ResponseRule.objects.get().match_model == "gpt-4"


@pytest.mark.django_db
def test_the_admin_takes_content_as_the_text_of_an_action(admin_client):
    scenario = Scenario.objects.create(name="checkout")
    form = {
        "scenario": scenario.pk,
        "name": "seed",
        "priority": "1",
        "enabled": "on",
        "ignore_case": "on",
        "match_tools_present": "unknown",
        "match_last_is_tool_result": "unknown",
        "action": '{"content": "The weather is sunny and 72°F."}',
    }
    response = admin_client.post(reverse("admin:simulator_responserule_add"), form)
    assert response.status_code == 302, response.context["errors"] if response.context else ""
    rule = ResponseRule.objects.get()
    assert rule.action == {"content": WEATHER}
    page = admin_client.get(reverse("admin:simulator_responserule_changelist"))
    assert "text &#x27;The weather is sunny and 72°F.&#x27;" in page.content.decode()


# --- the seed's other names, and what is refused -------------------------------------------------


@pytest.mark.django_db
def test_it_reads_the_seeds_regex_priority_and_delay():
    import_data(
        load(
            "mocks:\n"
            "  - {match: {content_regex: '^order [0-9]+$'}, response: {content: a, delay_ms: 250}, priority: 7}\n"
            "  - {match: {regex: '^refund'}, response: {tool_calls: [{name: refund}]}}\n",
            "mocks.yaml",
        ),
        "mocks.yaml",
    )
    first, second = ResponseRule.objects.order_by("name")
    assert (first.match_last_user, first.regex, first.priority) == ("^order [0-9]+$", True, 7)
    assert first.action == {"content": "a", "latency": {"ttft_ms": 250}}
    assert (second.match_last_user, second.regex, second.priority) == ("^refund", True, 1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "text, message",
    [
        (
            "- {match: {content_contains: a, contains: b}, response: x}",
            r"mocks\[0\]\.match: content_contains and contains both set the last user message",
        ),
        (
            "- {match: {system_contains: a, system: b}, response: x}",
            r"mocks\[0\]\.match: system_contains and system both set the system prompt",
        ),
        (
            "- {match: {content_regex: '('}, response: x}",
            r"mocks\[0\]\.match\.content_regex: invalid regular expression",
        ),
        (
            "- {match: {content_regex: a, regex: false}, response: x}",
            r"mocks\[0\]\.match\.regex: content_regex is a regular",
        ),
        (
            "- {match: {system_regex: a}, response: x}",
            r"mocks\[0\]\.match: unknown field 'system_regex'; known: .*content_contains",
        ),
        ("- {match: a, response: {content: 7}}", r"mocks\[0\]\.response\.content: must be a string"),
        (
            "- {match: a, response: {content: x, text: y}}",
            r"mocks\[0\]\.response: use one of text.*not text and content",
        ),
        (
            "- {match: a, response: {content: x, delay_ms: -5}}",
            r"mocks\[0\]\.response\.delay_ms: must be a number of milliseconds",
        ),
        (
            "- {match: a, response: {content: x, delay_ms: 5, latency: {ttft_ms: 5}}}",
            r"mocks\[0\]\.response: delay_ms and latency both set the latency",
        ),
        ("- {match: a, response: x, priority: first}", r"mocks\[0\]\.priority: must be a whole number"),
    ],
)
def test_it_refuses_what_does_not_map_naming_the_place(text, message):
    with pytest.raises(PortabilityError, match=message):
        import_data(load("mocks:\n" + text, "mocks.yaml"), "mocks.yaml")
    assert not ResponseRule.objects.exists()


# --- a running server --------------------------------------------------------------------------------


def ask(sdk: openai.OpenAI, model: str, messages: list[dict]) -> str:
    answer = sdk.chat.completions.create(model=model, messages=messages, extra_headers=INSTANT)
    return answer.choices[0].message.content


@pytest.mark.live
def test_a_running_server_answers_the_seeds_file_once_llmsim_import_has_read_it(tmp_path):
    path = tmp_path / "mocks.yaml"
    path.write_text(SEED_FILE, encoding="utf-8")
    server = start_server(tmp_path, "serve")
    weather = [{"role": "user", "content": "What's the weather in Paris?"}]
    json_chat = [{"role": "system", "content": "Reply in json."}, {"role": "user", "content": "Hello"}]
    try:
        with openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="test", max_retries=0) as sdk:
            assert ask(sdk, "gpt-4o", weather) != WEATHER
            env = {**os.environ, "DATABASE_URL": f"sqlite:///{server.db_path}"}
            command = [sys.executable, "manage.py", "llmsim_import", str(path)]
            imported = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
            assert imported.returncode == 0, imported.stderr
            started = time.monotonic()
            while (answer := ask(sdk, "gpt-4o", weather)) != WEATHER:
                assert time.monotonic() - started < 2.0, f"still {answer!r} 2 s after the import"
                time.sleep(0.02)
            assert ask(sdk, "claude-sonnet-4-5", weather) == WEATHER  # any model
            assert ask(sdk, "gpt-4", json_chat) == MOCKED
            assert ask(sdk, "gpt-4o", json_chat) != MOCKED  # the second mock is for gpt-4 only
            assert ask(sdk, "gpt-4", [{"role": "user", "content": "Hello"}]) != MOCKED  # ...with a json prompt
    finally:
        stop_server(server)
