"""The admin is the product's UI: model profiles, error profiles and settings."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from simulator.models import ModelProfile, SimulatorSettings, SnapshotVersion

pytestmark = pytest.mark.django_db


def test_the_presets_are_loaded_by_migrations():
    ids = set(ModelProfile.objects.values_list("model_id", flat=True))
    assert {"gpt-5", "gpt-5-mini", "o3", "o4-mini", "gpt-4o", "gpt-4.1", "instant"} <= ids
    assert {"claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5", "gemini-2.5-pro", "gemini-2.5-flash"} <= ids
    instant = ModelProfile.objects.get(model_id="instant")
    assert (instant.ttft_mean_ms, instant.tbt_mean_ms) == (0, 0)
    assert ModelProfile.objects.get(model_id="gpt-4").encoding == "cl100k_base"


def test_the_admin_lists_model_profiles(admin_client):
    page = admin_client.get(reverse("admin:simulator_modelprofile_changelist"))
    assert page.status_code == 200
    assert b"gpt-5-mini" in page.content
    assert b"claude-sonnet-4-5" in page.content


def test_the_admin_edits_a_profile_and_bumps_the_snapshot_version(admin_client):
    profile = ModelProfile.objects.get(model_id="gpt-4o")
    before = SnapshotVersion.objects.get(pk=1).version
    page = admin_client.get(reverse("admin:simulator_modelprofile_change", args=[profile.pk]))
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data.update({"ttft_mean_ms": 123, "created_at_0": "2025-01-01", "created_at_1": "00:00:00"})
    data = {k: v for k, v in data.items() if not isinstance(v, bool) or v}
    response = admin_client.post(reverse("admin:simulator_modelprofile_change", args=[profile.pk]), data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    profile.refresh_from_db()
    assert profile.ttft_mean_ms == 123
    assert SnapshotVersion.objects.get(pk=1).version > before


def test_the_admin_refuses_error_rates_that_add_up_past_one(admin_client):
    response = admin_client.post(
        reverse("admin:simulator_errorprofile_add"),
        {
            "name": "too-much",
            "rate_limit_rate": 0.7,
            "server_error_rate": 0.5,
            "service_unavailable_rate": 0,
            "timeout_rate": 0,
            "timeout_after_ms": 1000,
            "timeout_action": "status_504",
            "retry_after_ms": 1000,
        },
    )
    assert response.status_code == 200
    assert b"cannot exceed 1" in response.content


def test_the_settings_page_opens(admin_client):
    settings = SimulatorSettings.load()
    page = admin_client.get(reverse("admin:simulator_simulatorsettings_change", args=[settings.pk]))
    assert page.status_code == 200
    assert b"Generator" in page.content


def test_ensure_admin_creates_one_login_without_a_prompt(monkeypatch, capsys):
    from django.contrib.auth import get_user_model

    monkeypatch.setenv("LLMSIM_ADMIN_PASSWORD", "s3cret-pass")
    call_command("ensure_admin")
    call_command("ensure_admin")
    user = get_user_model().objects.get(username="admin")
    assert user.is_superuser
    assert user.check_password("s3cret-pass")
    assert "exists already" in capsys.readouterr().out


def scenario_form(name: str, rule: dict) -> dict:
    """The scenario add form with one inline response rule."""
    data = {
        "name": name,
        "description": "",
        "generator": "",
        "fixed_text": "",
        "rules-TOTAL_FORMS": "1",
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
        "rules-0-name": "r",
        "rules-0-priority": "10",
        "rules-0-enabled": "on",
        "rules-0-ignore_case": "on",
        "rules-0-match_tools_present": "unknown",
        "rules-0-match_last_is_tool_result": "unknown",
    }
    data.update({f"rules-0-{key}": value for key, value in rule.items()})
    return data


def test_the_admin_adds_a_scenario_with_an_inline_rule_and_previews_it(admin_client):
    from simulator.models import ResponseRule

    before = SnapshotVersion.objects.get(pk=1).version
    data = scenario_form("checkout", {"match_last_user": "refund", "action": '{"text": "No refunds."}'})
    response = admin_client.post(reverse("admin:simulator_scenario_add"), data)
    assert response.status_code == 302, response.context["errors"] if response.context else ""
    rule = ResponseRule.objects.get(scenario__name="checkout")
    assert rule.action == {"text": "No refunds."}
    assert SnapshotVersion.objects.get(pk=1).version > before
    page = admin_client.get(reverse("admin:simulator_responserule_changelist"))
    assert b"last user message contains &#x27;refund&#x27;" in page.content
    assert b"text &#x27;No refunds.&#x27;" in page.content


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ({"match_last_user": "(unclosed", "regex": "on", "action": '{"text": "x"}'}, b"invalid regular expression"),
        (
            {"match_last_user": "^(?=.*x)y", "regex": "on", "action": '{"text": "x"}'},
            b"lookahead (?=\xe2\x80\xa6) is not supported (patterns are matched by RE2",
        ),
        ({"action": '{"txt": "x"}'}, b"unknown field &#x27;txt&#x27;"),
        ({"action": '{"error": {"status": 418}}'}, b"action.error.status: must be one of"),
        ({"action": "not json"}, b"Enter a valid JSON"),
    ],
)
def test_the_admin_refuses_bad_rules_with_the_reason(admin_client, rule, says):
    response = admin_client.post(reverse("admin:simulator_scenario_add"), scenario_form("bad", rule))
    assert response.status_code == 200
    assert says in response.content
