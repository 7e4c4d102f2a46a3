"""The admin is the product's UI: model profiles, error profiles and settings."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from simulator.models import ModelProfile, ResponseRule, Scenario, SimulatorSettings, SnapshotVersion

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


def test_an_empty_admin_password_variable_counts_as_unset(monkeypatch, capsys, tmp_path):
    from django.contrib.auth import get_user_model

    from simulator.management.commands import ensure_admin

    monkeypatch.setattr(ensure_admin, "PASSWORD_FILE", tmp_path / ".llmsim-admin-password")
    monkeypatch.setenv("LLMSIM_ADMIN_PASSWORD", "")
    call_command("ensure_admin")
    generated = (tmp_path / ".llmsim-admin-password").read_text().strip()
    assert len(generated) >= 12 and generated in capsys.readouterr().out
    assert get_user_model().objects.get(username="admin").check_password(generated)


def rule_form(scenario_id: int, rule: dict) -> dict:
    """The response rule add form, for a rule of the scenario `scenario_id`."""
    data = {
        "scenario": str(scenario_id),
        "name": "r",
        "priority": "10",
        "enabled": "on",
        "ignore_case": "on",
        "match_tools_present": "unknown",
        "match_last_is_tool_result": "unknown",
    }
    return {**data, **rule}


def make_scenario(name: str, rules: int = 3) -> Scenario:
    scenario = Scenario.objects.create(name=name, description="A scenario with rules")
    actions = [
        {"tool_calls": [{"name": "issue_refund", "arguments": {"order_id": "A-1001"}}]},
        {"sequence": [{"error": {"status": 429}, "times": 2}, {"generate": True}], "scope": "conversation"},
        {"text": "Hello from the simulated checkout assistant! How can I help you today?"},
    ]
    for index in range(rules):
        ResponseRule.objects.create(
            scenario=scenario,
            name=f"rule-{index}",
            priority=10 * (index + 1),
            match_last_user=f"refund number {index}",
            action=actions[index % len(actions)],
        )
    return scenario


def test_the_admin_adds_a_rule_on_its_own_page_and_previews_it(admin_client):
    scenario = Scenario.objects.create(name="checkout")
    before = SnapshotVersion.objects.get(pk=1).version
    data = rule_form(scenario.pk, {"match_last_user": "refund", "action": '{"text": "No refunds."}'})
    response = admin_client.post(reverse("admin:simulator_responserule_add"), data)
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
    scenario = Scenario.objects.create(name="bad")
    response = admin_client.post(reverse("admin:simulator_responserule_add"), rule_form(scenario.pk, rule))
    assert response.status_code == 200
    assert says in response.content


def test_it_shows_no_error_on_a_blank_new_rule_before_it_is_submitted(admin_client):
    scenario = make_scenario("blank-rule", rules=1)
    pages = [
        admin_client.get(reverse("admin:simulator_responserule_add")),
        admin_client.get(reverse("admin:simulator_responserule_add") + f"?scenario={scenario.pk}&from=scenario"),
        admin_client.get(reverse("admin:simulator_scenario_add")),
        admin_client.get(reverse("admin:simulator_scenario_change", args=[scenario.pk])),
    ]
    for page in pages:
        assert page.status_code == 200
        assert b"invalid" not in page.content
        assert b"must be a mapping" not in page.content
        assert b"errorlist" not in page.content
    assert pages[1].context["adminform"].form.initial["scenario"] == str(scenario.pk)


def test_the_scenario_page_lists_its_rules_one_line_each_with_links(admin_client):
    scenario = make_scenario("three-rules")
    page = admin_client.get(reverse("admin:simulator_scenario_change", args=[scenario.pk]))
    assert page.status_code == 200
    (rules,) = [formset for formset in page.context["inline_admin_formsets"] if formset.opts.model is ResponseRule]
    # Edited here: priority and enabled; the rest of a rule on its own page.
    assert {name for name in rules.formset.forms[0].fields} == {"id", "scenario", "priority", "enabled", "DELETE"}
    assert len(rules.formset.forms) == 3 and not rules.has_add_permission
    html = page.content.decode()
    assert 'name="rules-0-action"' not in html and 'name="rules-0-match_last_user"' not in html
    for rule in scenario.rules.all():
        assert f'href="{reverse("admin:simulator_responserule_change", args=[rule.pk])}?from=scenario"' in html
    assert "last user message contains &#x27;refund number 0&#x27;" in html
    assert "tool calls issue_refund" in html
    assert f"{reverse('admin:simulator_responserule_add')}?scenario={scenario.pk}&amp;from=scenario" in html


def test_the_scenario_page_changes_priority_and_enabled_in_place(admin_client):
    scenario = make_scenario("in-place", rules=2)
    first, second = scenario.rules.order_by("priority")
    page = admin_client.get(reverse("admin:simulator_scenario_change", args=[scenario.pk]))
    data = {"name": scenario.name, "description": scenario.description, "generator": "", "fixed_text": ""}
    data.update({"replay_match": "messages", "replay_speed": "1", "replay_unmatched": "generate"})
    data.update({"batch_duration_s": "10", "batch_outcome": "completed"})
    data.update({"rules-TOTAL_FORMS": "2", "rules-INITIAL_FORMS": "2", "rules-MIN_NUM_FORMS": "0"})
    data["rules-MAX_NUM_FORMS"] = "1000"
    # The recordings' list (a replay scenario's; this one has none) posts its counts too.
    data.update({"recordings-TOTAL_FORMS": "0", "recordings-INITIAL_FORMS": "0", "recordings-MIN_NUM_FORMS": "0"})
    data["recordings-MAX_NUM_FORMS"] = "1000"
    for index, rule in enumerate(page.context["inline_admin_formsets"][0].formset.forms):
        data.update({f"rules-{index}-id": str(rule.instance.pk), f"rules-{index}-scenario": str(scenario.pk)})
        data[f"rules-{index}-priority"] = "5" if rule.instance == second else str(rule.instance.priority)
        if rule.instance == first:
            data[f"rules-{index}-enabled"] = "on"
    response = admin_client.post(reverse("admin:simulator_scenario_change", args=[scenario.pk]), data)
    assert response.status_code == 302, response.context["errors"] if response.context else ""
    second.refresh_from_db()
    assert (second.priority, second.enabled) == (5, False)
    first.refresh_from_db()
    assert first.action == {"tool_calls": [{"name": "issue_refund", "arguments": {"order_id": "A-1001"}}]}


def test_saving_a_rule_opened_from_its_scenario_goes_back_to_the_scenario(admin_client):
    scenario = make_scenario("back-again", rules=1)
    rule = scenario.rules.get()
    data = rule_form(scenario.pk, {"name": rule.name, "match_model": "gpt-5*", "action": '{"text": "hi"}'})
    url = reverse("admin:simulator_responserule_change", args=[rule.pk])
    response = admin_client.post(f"{url}?from=scenario", data)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:simulator_scenario_change", args=[scenario.pk])
    rule.refresh_from_db()
    assert rule.match_model == "gpt-5*"
    # Opened from the list of rules, it goes back to that list, as everywhere in the admin.
    response = admin_client.post(url, data)
    assert response["Location"] == reverse("admin:simulator_responserule_changelist")


def test_the_model_profile_list_names_tokenizers_briefly(admin_client):
    page = admin_client.get(reverse("admin:simulator_modelprofile_changelist"))
    html = page.content.decode()
    assert '<td class="field-tokenizer">cl100k</td>' in html and '<td class="field-tokenizer">o200k</td>' in html
    assert "approximation for Claude" not in html  # the long label is the form's, not the list's
    assert '<td class="field-ttft">1000 ± 250</td>' in html  # claude-opus-4-1: mean ± std. dev.
    filtered = admin_client.get(reverse("admin:simulator_modelprofile_changelist") + "?encoding=cl100k_base")
    assert {profile.encoding for profile in filtered.context["cl"].result_list} == {"cl100k_base"}
